"""IVR instruments: calls per flow and outcome, node visits, menu invalid/no-input, dialplan version and reloads.

Flow and node labels come from the admins' YAML, a closed set per version; node series are capped so a runaway
dialplan cannot explode the registry (visits beyond the cap count under node="other"). A call visits a node per
step, so the label children of the hot path (visits, menu inputs, calls by outcome) are looked up once per
`flow.node` and kept (prometheus_client's `labels()` takes a lock and builds a key on every call).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from switchboard.metrics.cti_metrics import CTIMetrics

OUTCOMES = ("contained", "routed", "overflow", "transferred", "voicemail", "abandoned", "fallback", "failed",
            "callback")
MAX_NODE_SERIES = 2000


class ReloadVerdict(Protocol):
    """Whether a dialplan reload went live (ivr's `ReloadResult` satisfies it structurally)."""

    @property
    def ok(self) -> bool: ...


class FlowNodes(Protocol):
    """A flow as the instruments see it: the names of its nodes (ivr's `Flow` satisfies it)."""

    @property
    def nodes(self) -> Iterable[str]: ...


class LivePlan(Protocol):
    """A dialplan version as the instruments see it: its version and flows (ivr's `Dialplan` satisfies it)."""

    @property
    def version(self) -> str: ...

    @property
    def flows(self) -> Mapping[str, FlowNodes]: ...


class IVRMetrics:
    """The instruments of the YAML flow engine, on an injected registry."""

    def __init__(self, registry: CollectorRegistry, cti: CTIMetrics | None = None) -> None:
        self.calls = Counter("switchboard_ivr_calls_total", "Calls through YAML flows by flow and outcome",
                             ["flow", "outcome"], registry=registry)
        self.visits = Counter("switchboard_ivr_node_visits_total", "Times callers entered a flow node",
                              ["flow", "node"], registry=registry)
        self.menu_events = Counter("switchboard_ivr_menu_inputs_total",
                                   "Menu inputs that were invalid or missing (timeouts)", ["flow", "node", "event"],
                                   registry=registry)
        self.info = Gauge("switchboard_dialplan_info", "The live dialplan version per flow (content hash)",
                          ["flow", "version"], registry=registry)
        self.reloads = Counter("switchboard_dialplan_reloads_total", "Dialplan reloads by result",
                               ["result"], registry=registry)
        for result in ("ok", "rejected"):
            self.reloads.labels(result)
        self.abandoned = Counter("switchboard_ivr_abandoned_total",
                                 "Callers who hung up inside the IVR (not in a queue), by the node they were at",
                                 ["flow", "node"], registry=registry)
        self._nodes: set[tuple[str, str]] = set()
        # label children by `flow.node` (and event, outcome): bounded like the series they point to
        self._visit_children: dict[str, Counter] = {}
        self._menu_children: dict[tuple[str, str], Counter] = {}
        self._call_children: dict[tuple[str, str], Counter] = {}
        self._cti = cti  # identify-and-verify results are CTI verifications

    def on_reload(self, result: ReloadVerdict, plan: LivePlan) -> None:
        """Counts the reload; a version that went live replaces the info series and pre-creates its flow series."""
        self.reloads.labels("ok" if result.ok else "rejected").inc()
        if result.ok:
            self.info.clear()
            for flow in plan.flows:
                self.info.labels(flow, plan.version).set(1)
                for outcome in OUTCOMES:  # present from the start, so rates and ratios read 0, not "no data"
                    self.calls.labels(flow, outcome)
                for node in plan.flows[flow].nodes:
                    where = self._where(f"{flow}.{node}")
                    self.abandoned.labels(*where)
                    self.visits.labels(*where)  # drop-off = abandoned / visits: increase() sees the first visit

    def _where(self, where: str) -> tuple[str, str]:
        flow, _, node = where.partition(".")
        if (flow, node) not in self._nodes:
            if len(self._nodes) >= MAX_NODE_SERIES:
                node = "other"
            else:
                self._nodes.add((flow, node))
        return flow, node

    def on_abandoned(self, where: str) -> None:
        """A caller hung up at `flow.node` before reaching anyone: the IVR drop-off panel."""
        self.abandoned.labels(*self._where(where)).inc()

    def on_event(self, event: str, where: str) -> None:
        if event.startswith("identify_"):
            if self._cti is not None:
                self._cti.verification(event[len("identify_"):])
            return
        if event == "visit":
            child = self._visit_children.get(where)
            if child is None:
                child = self.visits.labels(*self._where(where))
                if len(self._visit_children) < MAX_NODE_SERIES:
                    self._visit_children[where] = child
            child.inc()
            return
        key = (where, event)
        child = self._menu_children.get(key)
        if child is None:
            child = self.menu_events.labels(*self._where(where), event)
            if len(self._menu_children) < MAX_NODE_SERIES:
                self._menu_children[key] = child
        child.inc()

    def on_finished(self, flow: str, outcome: str) -> None:
        key = (flow, outcome)
        child = self._call_children.get(key)
        if child is None:
            child = self.calls.labels(flow, outcome if outcome in OUTCOMES else "failed")
            if len(self._call_children) < MAX_NODE_SERIES:
                self._call_children[key] = child
        child.inc()

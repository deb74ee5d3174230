"""Service-health instruments: FastAGI sessions and commands, protocol errors, rejected peers, AMI link, calls.

Built on an injected registry; label sets are closed (outcome, kind, verb from a fixed list). What the FastAGI
listener reports per call and per command is kept in plain ints and lists and exposed by collectors at scrape
time (no lock per event). The instance satisfies the FastAGI server's observer protocol structurally, and exposes
`ami_state` / `ami_reconnected` for the AMI client.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from switchboard.metrics.command_latency import CommandLatency
from switchboard.metrics.session_outcomes import SessionOutcomes

AGI_OUTCOMES = ("completed", "hangup", "error", "timeout", "no_route")
# AGI verbs we label by; anything else is counted as "other" so the label set stays closed.
AGI_VERBS = ("ANSWER", "STREAM FILE", "GET DATA", "WAIT FOR DIGIT", "SET VARIABLE", "GET VARIABLE",
             "GET FULL VARIABLE", "EXEC", "HANGUP", "VERBOSE", "CHANNEL STATUS", "NOOP", "other")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServiceMetrics:
    """The instruments describing the service itself (not the contact-centre KPIs)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.agi_sessions_active = Gauge(
            "switchboard_agi_sessions_active", "FastAGI sessions (calls) being served now", registry=registry)
        # Counted in a plain int on the event loop (two per call) and read at scrape time: a Gauge's inc/dec
        # takes a lock each time, ten times the cost (bench/agi_throughput.py, short calls).
        self._active_sessions = 0
        self.agi_sessions_active.set_function(lambda: self._active_sessions)
        # Plain ints too, turned into the counter at scrape time (metrics/session_outcomes.py).
        self._outcomes = SessionOutcomes(registry, AGI_OUTCOMES).counts
        self.agi_command_latency = CommandLatency(registry, AGI_VERBS, LATENCY_BUCKETS)
        # The listener hands over its commands' timings (seconds by verb) in bulk: bound straight to the histogram.
        self.commands_completed: Callable[[Mapping[str, Sequence[float]]], None] = \
            self.agi_command_latency.observe_many
        self._protocol_errors = Counter("switchboard_agi_protocol_errors_total",
                                        "FastAGI protocol faults (header EOF, malformed lines, timeouts)",
                                        ["kind"], registry=registry)
        self.agi_rejected_peers = Counter("switchboard_agi_rejected_peers_total",
                                          "FastAGI connections closed because the peer is not allow-listed",
                                          registry=registry)
        self.ami_connected = Gauge("switchboard_ami_connected", "1 while the AMI link is logged in and booted",
                                   registry=registry)
        self.ami_reconnects = Counter("switchboard_ami_reconnects_total", "AMI links re-opened after a loss",
                                      registry=registry)

    # --- FastAGI server observer -------------------------------------------------------------------
    def session_started(self) -> None:
        self._active_sessions += 1

    def session_ended(self, outcome: str) -> None:
        self._active_sessions -= 1
        outcomes = self._outcomes
        outcomes[outcome if outcome in outcomes else "error"] += 1

    def peer_rejected(self) -> None:
        self.agi_rejected_peers.inc()

    def protocol_error(self, kind: str) -> None:
        self._protocol_errors.labels(kind).inc()

    # --- AMI client observer -------------------------------------------------------------------------
    def ami_state(self, connected: bool) -> None:
        self.ami_connected.set(1 if connected else 0)

    def ami_reconnected(self) -> None:
        self.ami_reconnects.inc()


"""The `route` node: hands the caller to an agent with the right skills (the skills router, else an endpoint)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, cast

from switchboard.ivr import channel_variables
from switchboard.ivr.channel import CallerHungUp
from switchboard.ivr.nodes.field_checks import check_name, check_number, check_text
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.ivr.flow_model import NodeSpec, Place, node_targets
from switchboard.ivr.nodes.dialling import dial, status_after_hangup
from switchboard.ivr.nodes.kind import NODE, FieldRule, KindDefinition, Report
from switchboard.ivr.nodes.step import Next, Step
from switchboard.ivr.call_ports import RouteDesk
from switchboard.ivr.queue_announcements import AnnouncePlan, check_announce
from switchboard.ivr.queue_callback import CallbackPlan, cancel_on_reaching_agent, check_callback
from switchboard.ivr.queue_wait import (ROUTER_UNREACHABLE, CallbackOffer, RouteUnavailable, WaitingChannel,
                                        wait_and_connect)


@dataclass(frozen=True)
class RouteNode(NodeSpec):
    """The fields of a route node."""

    ENDS = True

    skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    priority: int = 0
    timeout: float = 300.0
    endpoint: str | None = None
    overflow: str = ""
    queue: str | None = None
    relaxation: str | None = None
    after: str | None = None
    announce: AnnouncePlan | None = None
    callback: CallbackPlan | None = None

    def targets(self) -> list[tuple[str, str]]:
        return node_targets(("overflow", self.overflow), ("after", self.after))

    def skills_asked(self) -> Iterable[str]:
        return self.skills

    @property
    def queue_name(self) -> str:
        """The queue this node's callers are counted in: `queue`, else the first skill asked for."""
        return self.queue or next(iter(self.skills), "")


def check_skills(value: Any, place: Place, report: Report) -> Any:
    """Skill names → minimum levels 1-10."""
    if not isinstance(value, dict) or not value:
        report(place, "expected a mapping of skills to minimum levels 1-10, e.g. {billing: 3}")
        return None
    out = {}
    for key, level in value.items():
        p = _place_of(value, key, place)
        if check_name(key, p, report) is not None and check_number(1, 10, integer=True)(level, p, report) is not None:
            out[str(key)] = int(level)
    return out


async def run(spec: RouteNode, step: Step) -> Next:
    state, channel = step.state, step.channel
    skills = {channel_variables.SKILLS: ",".join(f"{k}:{v}" for k, v in spec.skills.items())}
    desk = step.options.route_desk
    if desk is not None and not spec.endpoint:
        await step.before_connect()
        return await _route_by_skills(step, cast(WaitingChannel, channel), desk, spec, skills)
    await step.send_variables(skills)  # with the call's unsent ones (a set node's topic): one command
    await step.before_connect()
    endpoint = spec.endpoint or step.options.route_endpoint
    try:
        status = await dial(step, endpoint, int(min(spec.timeout, 600)))
    except CallerHungUp:
        status = await status_after_hangup(step)
        state.outcome = "routed" if status == "ANSWER" else "abandoned"
        raise
    if status == "ANSWER":
        state.outcome = "routed"
        return spec.after  # the agent hung up first: e.g. a survey, else the call ends
    return spec.overflow


async def _route_by_skills(step: Step, channel: WaitingChannel, desk: RouteDesk, spec: RouteNode,
                           skills: dict[str, str]) -> Next:
    state = step.state
    # SWITCHBOARD_SKILLS and the call's unsent variables travel with SWITCHBOARD_AGENT when an agent is free at once
    # (one MSet before the Dial), else as the caller starts waiting (ivr/queue_wait.py)
    variables = {**state.unsent, **skills}
    state.unsent = {}
    wanted = dict(spec.skills)
    queue = spec.queue_name
    state.destination = f"queue:{queue}"
    state.queue = queue
    callbacks = step.options.callback_desk
    offer = None
    if spec.callback is not None and callbacks is not None:
        offer = CallbackOffer(spec.callback, callbacks, state.uniqueid or "unknown", state.caller,
                              state.customer_id or "", spec.language or state.language, step.clock)
    try:
        try:
            done = await wait_and_connect(
                channel, desk, state.uniqueid or "unknown", skills=wanted,
                language=spec.language or "", segment=state.segment, customer=state.customer_id or "",
                priority=float(spec.priority or 0), relaxation=spec.relaxation, queue=queue,
                observer=step.options.queue, announce=spec.announce,
                clock=step.options.wait_clock, sleep=step.options.wait_sleep, callback=offer, variables=variables)
        finally:  # not sent (the router failed at once): they wait for the next batch (the fallback's, or the flow's end)
            state.unsent = {**variables, **state.unsent}
    except CallerHungUp:
        state.outcome = "abandoned"
        raise
    except RouteUnavailable as exc:
        step.log.error("call %s: router unavailable (%s): sent to the dialplan's fallback", state.uniqueid, exc)
        state.outcome = "fallback"
        await step.send_variables({channel_variables.FALLBACK_REASON: ROUTER_UNREACHABLE,
                                   channel_variables.STATUS: channel_variables.STATUS_FALLBACK})
        return None
    state.waited = done.waited
    if done.result == "callback":
        state.outcome = "callback"  # the request keeps the call's place; the call ends here
        state.destination = f"callback:{done.agent}"
        return None
    if done.result == "answered":
        state.outcome = "routed"
        state.destination = f"agent:{done.agent}"
        if done.wrap_up_unrecorded:
            step.log.warning("call %s: the router did not record the end of the call with %s (%s); it tries again as "
                             "the call leaves, and the agent's reservation expires otherwise", state.uniqueid,
                             done.agent, done.wrap_up_unrecorded)
        if callbacks is not None:
            await cancel_on_reaching_agent(callbacks, state.caller)
        if done.caller_hung_up:
            raise CallerHungUp("caller hung up after talking to the agent")
        return spec.after  # the agent hung up first: e.g. a survey, else the call ends
    return spec.overflow


def _cross_check(fields: Mapping[str, Any], places: Mapping[str, Place], place: Place, report: Report) -> None:
    if fields.get("callback") is not None and fields.get("endpoint"):
        report(places.get("callback", place), "callback needs the skills router: it cannot go with `endpoint`")


def _label(spec: RouteNode) -> str:
    return "\\n" + ", ".join(f"{k}>={v}" for k, v in spec.skills.items())


DEFINITION = KindDefinition(
    name="route", spec_type=RouteNode, run=run, shape="doubleoctagon", label=_label, cross_check=_cross_check,
    summary="Hands the caller to an agent with the right skills.",
    fields=(
        FieldRule("skills", check_skills, True, "mapping skill → minimum level",
                  range_doc="skills from `routing.yaml`, levels 1–10 (whole)", note="required"),
        FieldRule("language", check_text, False, "text", default_doc="none", note="only agents speaking it (router)"),
        FieldRule("priority", check_number(0, 1000, True), False, "whole number", "0–1000", "0",
                  "added to the segment's priority (router)"),
        FieldRule("timeout", check_number(1, 3600), False, "seconds", "1–3600", "300",
                  "ring time when dialling an endpoint (at most 600 is used)"),
        FieldRule("endpoint", check_text, False, "text (`PJSIP/agent3`)",
                  note="dial this endpoint instead of routing by skills"),
        FieldRule("queue", check_name, False, "name", default_doc="first skill's name",
                  note="the queue name in metrics and reports (router)"),
        FieldRule("relaxation", check_name, False, "name", range_doc="a profile of `routing.yaml`",
                  default_doc="`default`", note="how requirements widen over the wait (router)"),
        FieldRule("announce", check_announce, False, "mapping (`{position: true, estimate: true, every: 60}`)",
                  range_doc="`position`, `estimate`: true/false; `first_after`: 0–3600 s; `every`: 0 (once) or "
                            "10–3600 s; `only`: always, changed, improved",
                  default_doc="none (position, every 60 s, from entry, always, when given)",
                  note="place in line / estimated wait while waiting, in the caller's language (router)"),
        FieldRule("callback", check_callback, False,
                  "mapping (`{offer_after: 60, key: \"1\"}`)",
                  range_doc="`offer_after`: 0–3600 s; `or_when_estimate_over`: 0–86400 s (offer on entry when the "
                            "estimate is over it); `key`, `later_key`: one of 0–9, *; `confirm_number`: true/false; "
                            "`max_attempts`: 1–10; `retry_after`: 10–86400 s; `order`: agent_first, customer_first; "
                            "`timezone`: an IANA zone",
                  default_doc="none (key 1, confirm number, 3 attempts, retry after 120 s, agent first, when given)",
                  note="offers a callback that keeps the caller's place in line; the call then ends with outcome "
                       "`callback` (router)"),
        FieldRule("overflow", NODE, True, "node", note="required; where the caller goes when no agent takes the call"),
        FieldRule("after", NODE, False, "node", default_doc="none",
                  note="where the caller goes when the agent hangs up first (e.g. a `survey`); without it the call ends"),
    ))

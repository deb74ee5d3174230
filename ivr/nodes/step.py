"""What a node's runner works with while one node of a call runs: the channel, the call's state, the engine's
settings and reporters, and what a runner returns (the next node, a flow to enter, or None to end the flow)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Mapping, Union

if TYPE_CHECKING:
    from switchboard.ivr.call_ports import FlowObserver
    from switchboard.ivr.flow_engine import CallState, ConnectNotice, EngineOptions, FlowChannel


@dataclass(frozen=True)
class EnterFlow:
    """A runner's result: continue at the start of another flow (a goto node)."""

    flow: str


# A runner's result: the next node of the flow, another flow to enter, or None (the flow ends).
Next = Union[str, EnterFlow, None]


@dataclass(slots=True)
class Step:
    """The engine's run context: one per run of a flow on a call; `node` is the node running now."""

    channel: FlowChannel
    state: CallState
    options: EngineOptions
    log: logging.Logger
    clock: Callable[[], datetime]
    observer: FlowObserver  # node events (`flow.node`) for metrics
    progress: ConnectNotice | None  # the call's owner, told before anyone rings (None in the simulator)
    node: str  # the node's name

    def event(self, name: str) -> None:
        """Reports an event of this node (`invalid`, `no_input`, `identify_verified`, ...) for metrics."""
        self.observer.on_event(name, self.state.last_node or self.node)

    async def send_variables(self, pairs: Mapping[str, str] | None = None) -> None:
        """Sets `pairs` on the channel together with the call's unsent variables (set/collect nodes), in one command
        when they fit in one MSet; a value that cannot travel in an AGI line (CR, LF, NUL) is logged and skipped."""
        state = self.state
        if pairs:
            batch = {**state.unsent, **pairs}
        elif state.unsent:
            batch = state.unsent
        else:
            return
        state.unsent = {}
        refused = await self.channel.set_variables(batch)
        if refused:
            self.log.warning("call %s: channel variable(s) %s not set: value holds CR, LF or NUL", state.uniqueid,
                             ", ".join(refused))

    async def before_connect(self) -> None:
        """Before a route or transfer node rings anyone: the call's owner records what the IVR learnt so far (path,
        intents, a customer identified on the way) for the screen pop the agent gets while the phone rings."""
        if self.progress is not None:
            await self.progress.before_connect(self.state)

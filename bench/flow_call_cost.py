"""The flow engine's own CPU for one full example call, in process: nodes, metrics and opening hours, no I/O.

`bench/call_cost.py` measures the whole service (FastAGI, Redis, stores, engine) and is noisy on a shared machine;
this one isolates the part the flow engine owns. `dialplans/`'s `main` flow runs on the simulator's scripted channel
(verbs cost nothing, the route node dials its endpoint) with the service's metric instruments attached: IVR visits and
outcomes, plus the per-call queue, FCR and CTI updates the call script and router make. The caller presses 1
(English) and 1 (billing), the agent answers, the survey gets silence: the path of the full example call.

The baseline, interleaved in the same run: the same scripted channel playing the same verbs with no engine and no
metrics (what any flow runner would pay for this call's conversation). Reported: µs of CPU per call for both (the
best of the rounds, and the median) and the ratio.

    python bench/flow_call_cost.py [--calls 4000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import asyncio
from typing import Mapping
import logging
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import uvloop
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.ivr.flow_engine import CallState, EngineOptions, FlowEngine  # noqa: E402
from switchboard.ivr.flow_loader import load_dialplan  # noqa: E402
from switchboard.ivr.flow_model import Dialplan  # noqa: E402
from switchboard.ivr.flow_simulator import ScriptedChannel  # noqa: E402
from switchboard.metrics.cti_metrics import CTIMetrics  # noqa: E402
from switchboard.metrics.fcr_metrics import FCRMetrics  # noqa: E402
from switchboard.metrics.ivr_metrics import IVRMetrics  # noqa: E402
from switchboard.metrics.queue_metrics import QueueMetrics  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MONDAY_MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # open, not a holiday: the full path


def channel() -> ScriptedChannel:
    """The caller of the full example call: 1 for English, 1 for billing, agents answer."""
    return ScriptedChannel(digits=["1", "1"], agents_answer=True, hangup_after=None, clock=None)


async def full_calls(plan: Dialplan, calls: int) -> float:
    """CPU seconds for `calls` runs of `main` through the engine with the service's instruments."""
    registry = CollectorRegistry()
    cti = CTIMetrics(registry)
    ivr, queues, fcr = IVRMetrics(registry, cti), QueueMetrics(registry), FCRMetrics(registry)
    engine = FlowEngine(EngineOptions(route_endpoint="PJSIP/agent1"), logging.getLogger("flow"),
                        clock=lambda: MONDAY_MORNING, observer=ivr)
    flow = plan.flows["main"]
    started = time.process_time()
    for i in range(calls):
        state = CallState(caller="+442079460001", dialled="2000", uniqueid=f"1700000000.{i}", segment="gold",
                          known=True)
        cti.lookup("hit", 0.001)
        await engine.run(channel(), plan, flow, state)
        queues.offered("billing", "gold")
        queues.decision(0.0005, "assigned")
        queues.answered("billing", "gold", 0.1)
        queues.handled("billing", "gold", 42.0, 0.0)
        ivr.on_finished(flow.name, state.outcome or "failed")
        fcr.contact("billing", "gold", flow.name)
    return time.process_time() - started


async def verbs_only(calls: int, script: list[tuple[str, tuple[str, ...]]]) -> float:
    """CPU seconds for `calls` runs of the same channel verbs, no engine, no metrics (the baseline)."""
    started = time.process_time()
    for _ in range(calls):
        line = channel()
        for verb, args in script:
            await getattr(line, verb)(*args)
    return time.process_time() - started


def recorded_verbs(plan: Dialplan) -> list[tuple[str, tuple[str, ...]]]:
    """The verbs one full example call sends, in order (recorded from a run)."""
    sent: list[tuple[str, tuple[str, ...]]] = []

    class Recording(ScriptedChannel):
        async def answer(self) -> None:
            sent.append(("answer", ()))
            await super().answer()

        async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None:
            sent.append(("stream_file", (prompt, escape_digits)))
            return await super().stream_file(prompt, escape_digits)

        async def wait_for_digit(self, timeout_ms: int) -> str | None:
            sent.append(("wait_for_digit", (timeout_ms,)))  # type: ignore[arg-type]
            return await super().wait_for_digit(timeout_ms)

        async def set_variable(self, name: str, value: str) -> None:
            sent.append(("set_variable", (name, value)))
            await super().set_variable(name, value)

        async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]:
            sent.append(("set_variables", (dict(pairs),)))  # type: ignore[arg-type]
            return await super().set_variables(pairs)

        async def get_variable(self, name: str) -> str | None:
            sent.append(("get_variable", (name,)))
            return await super().get_variable(name)

        async def get_variables(self, *names: str) -> tuple[str | None, ...]:
            sent.append(("get_variables", names))
            return await super().get_variables(*names)

        async def exec(self, application: str, *args: str, allowance: float | None = None) -> int:
            sent.append(("exec", (application, *args)))
            return await super().exec(application, *args, allowance=allowance)

        async def hangup(self) -> None:
            sent.append(("hangup", ()))
            await super().hangup()

    engine = FlowEngine(EngineOptions(route_endpoint="PJSIP/agent1"), logging.getLogger("flow"),
                        clock=lambda: MONDAY_MORNING)
    state = CallState(caller="+442079460001", dialled="2000", uniqueid="1", segment="gold", known=True)
    asyncio.run(engine.run(Recording(digits=["1", "1"], agents_answer=True, hangup_after=None, clock=None), plan,
                           plan.flows["main"], state))
    assert state.outcome == "routed", state.outcome
    return sent


async def main(calls: int, rounds: int) -> None:
    plan = load_dialplan(REPO / "dialplans")[0]
    script = await asyncio.to_thread(recorded_verbs, plan)
    await full_calls(plan, calls // 10)  # warm-up (caches, label children)
    full: list[float] = []
    base: list[float] = []
    for _ in range(rounds):  # interleaved: a noisy neighbour hits both alike
        base.append(await verbs_only(calls, script) / calls * 1e6)
        full.append(await full_calls(plan, calls) / calls * 1e6)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    print(f"verbs per call: {len(script)}; {calls} calls × {rounds} rounds, interleaved")
    print(f"baseline (scripted verbs only)     {min(base):7.1f} µs CPU/call (median {statistics.median(base):.1f})")
    print(f"full example call (engine+metrics) {min(full):7.1f} µs CPU/call (median {statistics.median(full):.1f})")
    print(f"engine + metrics alone: {min(full) - min(base):.1f} µs/call; full ÷ baseline {min(full) / min(base):.2f}×")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.calls, args.rounds))

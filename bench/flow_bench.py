"""YAML flows: validating a 500-node flow, and the engine's per-step cost next to an AGI round trip.

* validation: `load_dialplan` on a generated 500-node flow, against a bare ruamel round-trip parse of the same
  file (the floor any YAML loader with line/column tracking pays) — reported as a ratio;
* hostile edits: the worst documents an admin (or an attacker with write access) can hand the validator — a
  1,100-node chain, a menu at the choice limit, 1,000 unknown node names, an alias bomb, a 1 MiB comment — each
  against the same 500-node validation (ratio): the reading and flow limits keep every one bounded;
* engine step: a chain of `set` nodes run on a channel whose verbs cost nothing, against one AGI command round
  trip through the real listener over loopback (both in this process, on uvloop) — reported as a ratio, which
  says how much of a call's time is the engine rather than the conversation with Asterisk.

    python bench/flow_bench.py
"""
from __future__ import annotations

import asyncio
from typing import Mapping
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uvloop
from prometheus_client import CollectorRegistry
from ruamel.yaml import YAML

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from switchboard.ivr.agi_server import AGIServer  # noqa: E402
from switchboard.ivr.channel import CallerHungUp, Channel  # noqa: E402
from switchboard.ivr.flow_engine import CallState, EngineOptions, FlowEngine  # noqa: E402
from switchboard.ivr.flow_loader import DialplanError, load_dialplan  # noqa: E402
from switchboard.metrics.service_metrics import ServiceMetrics  # noqa: E402

NODES = 500


def generate(folder: Path, nodes: int) -> Path:
    """A flow of `nodes` nodes: menus every fifth node, plays and sets between, ending in a hangup."""
    lines = ["flows:", "  big:", "    start: n0", "    nodes:"]
    for i in range(nodes - 1):
        nxt = f"n{i + 1}"
        if i % 5 == 0:
            lines += [f"      n{i}:", "        type: menu", "        prompt: [hello-world]",
                      f'        choices: {{"1": {nxt}, "2": {nxt}, "3": n{nodes - 1}}}', "        timeout: 3",
                      "        retries: 2", "        invalid_prompt: pbx-invalid", f"        on_failure: {nxt}"]
        elif i % 5 == 1:
            lines += [f"      n{i}: {{type: play, prompt: [hello-world, vm-goodbye], next: {nxt}}}"]
        else:
            lines += [f"      n{i}: {{type: set, variables: {{step: s{i}}}, next: {nxt}, intent: i{i % 7}}}"]
    lines += [f"      n{nodes - 1}: {{type: hangup, prompt: vm-goodbye}}"]
    path = folder / "main.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def median_of(runs: int, action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class FreeChannel:
    """A channel whose verbs cost nothing: what is left is the engine."""

    async def answer(self) -> None: ...
    async def stream_file(self, prompt: str, escape_digits: str = "") -> str | None: return None
    async def wait_for_digit(self, timeout_ms: int) -> str | None: return "1"
    async def set_variable(self, name: str, value: str) -> None: ...
    async def set_variables(self, pairs: Mapping[str, str]) -> tuple[str, ...]: return ()
    async def get_variable(self, name: str) -> str | None: return None
    async def get_variables(self, *names: str) -> tuple[str | None, ...]: return tuple(None for _ in names)
    async def exec(self, application: str, *args: str, allowance: float | None = None) -> int: return 0
    async def hangup(self) -> None: ...


async def engine_step_seconds(folder: Path) -> float:
    chain = ["flows:", "  chain:", "    start: s0", "    nodes:"]
    steps = 400
    for i in range(steps - 1):
        chain.append(f"      s{i}: {{type: set, variables: {{v: x{i}}}, next: s{i + 1}}}")
    chain.append(f"      s{steps - 1}: {{type: hangup}}")
    sub = folder / "chain"
    sub.mkdir()
    (sub / "main.yaml").write_text("\n".join(chain) + "\n")
    plan, _ = load_dialplan(sub)
    engine = FlowEngine(EngineOptions(), logging.getLogger("bench"))
    rounds = 50
    start = time.perf_counter()
    for _ in range(rounds):
        await engine.run(FreeChannel(), plan, plan.flows["chain"], CallState())
    return (time.perf_counter() - start) / (rounds * steps)


async def agi_round_trip_seconds() -> float:
    """One AGI command through the real listener to an in-process peer that answers at once."""
    commands = 20000
    done = asyncio.Event()

    async def flow(channel: Channel) -> None:
        try:
            for _ in range(commands):
                await channel.command("NOOP")
        except CallerHungUp:
            pass
        done.set()

    server = AGIServer(asyncio.get_running_loop(), {"bench": flow}, allowed_peers=["127.0.0.1/32"],
                       header_timeout=5, command_timeout=30, events=ServiceMetrics(CollectorRegistry()),
                       logger=logging.getLogger("bench"))
    await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"agi_network: yes\nagi_network_script: bench\n\n")
    start = time.perf_counter()
    for _ in range(commands):
        await reader.readline()
        writer.write(b"200 result=0\n")
    await reader.readline()  # SET VARIABLE SWITCHBOARD_STATUS DONE
    writer.write(b"200 result=1\n")
    await done.wait()
    elapsed = time.perf_counter() - start
    writer.close()
    await server.stop(1)
    return elapsed / commands


def hostile_documents() -> dict[str, str]:
    """The hostile cases of the reliability issue, at (or just past) the validator's limits."""
    head = "flows:\n  f:\n    start: n0\n    nodes:\n"
    chain = head + "".join(f"      n{i}: {{type: play, prompt: beep, next: n{i + 1}}}\n" for i in range(1100)) \
        + "      n1100: {type: hangup}\n"
    choices = "".join(f'          "{i:03d}": end\n' for i in range(1000))
    menu = head + "      n0:\n        type: menu\n        prompt: beep\n        on_failure: end\n" \
        + "        choices:\n" + choices + "      end: {type: hangup}\n"
    unknown = head + "".join(f"      n{i}: {{type: play, prompt: beep, next: missing{i}}}\n" for i in range(1000))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)) + "flows: {}\n"
    comment = "#" + "x" * (1 << 20) + "\n" + head + "      n0: {type: hangup}\n"
    return {"1,100-node chain": chain, "menu of 1,000 choices": menu, "1,000 unknown targets": unknown,
            "alias bomb (10^9 values)": bomb, "1 MiB comment": comment}


def hostile_seconds(folder: Path) -> dict[str, float]:
    """Median time to load (and reject, where it must) each hostile document."""
    out = {}
    for name, text in hostile_documents().items():
        case = folder / name.replace(" ", "_").replace(",", "").replace("^", "")
        case.mkdir()
        (case / "main.yaml").write_text(text)

        def load(where: Path = case) -> None:
            try:
                load_dialplan(where)
            except DialplanError:
                pass
        out[name] = median_of(3, load)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = generate(folder, NODES)
        text = path.read_text()
        parse = median_of(7, lambda: YAML(typ="rt").load(text))
        validate = median_of(7, lambda: load_dialplan(path))
        hostile = hostile_seconds(folder)
        step, round_trip = uvloop.run(_engine_and_agi(folder))
    print(f"validating a {NODES}-node flow: {validate * 1000:.1f} ms "
          f"= {validate / parse:.2f}x a bare ruamel parse of the same file ({parse * 1000:.1f} ms)")
    for name, seconds in hostile.items():
        print(f"hostile: {name}: {seconds * 1000:.1f} ms = {seconds / validate:.2f}x the 500-node validation")
    print(f"engine step: {step * 1e6:.1f} us = {step / round_trip:.3f}x one AGI round trip "
          f"({round_trip * 1e6:.1f} us, real listener over loopback, same process)")


async def _engine_and_agi(folder: Path) -> tuple[float, float]:
    return await engine_step_seconds(folder), await agi_round_trip_seconds()


if __name__ == "__main__":
    main()

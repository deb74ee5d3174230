"""FastAGI I/O cost: Switchboard's listener next to a bare asyncio.Protocol and panoramisk's fast_agi.

All three servers run in their own process on uvloop (one core each), driven by the same C load generator
(`agi_loadgen.c`, compiled here) that plays Asterisk and answers every command at once. Two workloads:

* `long calls`  — 50 connections that never end: every flow loops on `NOOP`; reports commands/s;
* `short calls` — every call runs 9 `NOOP`s and one `SET VARIABLE`, then closes; reports calls/s.

Reported as ratios against the numbers measured in the same run (machines are noisy; absolutes are not
comparable between runs). Targets (issue 2, design.md §5): Switchboard ≥ 1.5× panoramisk, and close to bare.

    python bench/agi_throughput.py [--seconds 3] [--connections 50]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import cast

HERE = Path(__file__).resolve().parent
SHORT_CALL_COMMANDS = 10
KINDS = ("bare", "switchboard", "panoramisk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def announce_ready() -> None:
    """Tells the driver the port is open (probing it with a connect would freeze panoramisk's fast_agi)."""
    print("ready", flush=True)


# --- the three servers (run as `agi_throughput.py serve KIND PORT COMMANDS_PER_CALL`) ---------------------
async def serve_bare(port: int, per_call: int) -> None:
    """The floor: a Protocol that sends the next command on each reply line, no parsing beyond newlines."""
    loop = asyncio.get_running_loop()

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t, self.header, self.sent = cast(asyncio.Transport, transport), b"", 0

        def data_received(self, data: bytes) -> None:
            if self.header is not None:
                self.header += data
                if b"\n\n" not in self.header:
                    return
                data, self.header = self.header.split(b"\n\n", 1)[1], None
                self._next()
            for _ in range(data.count(b"\n")):
                self._next()

        def _next(self) -> None:
            if per_call and self.sent >= per_call:
                self.t.close()
                return
            self.sent += 1
            self.t.write(b"SET VARIABLE SWITCHBOARD_STATUS DONE\n" if per_call and self.sent == per_call
                         else b"NOOP\n")

    server = await loop.create_server(Bare, "127.0.0.1", port)
    announce_ready()
    await server.serve_forever()


async def serve_switchboard(port: int, per_call: int) -> None:
    from prometheus_client import CollectorRegistry

    from switchboard.ivr.agi_server import AGIServer
    from switchboard.ivr.channel import CallerHungUp, Channel
    from switchboard.metrics.service_metrics import ServiceMetrics

    async def flow(channel: Channel) -> None:
        try:
            if per_call:
                for _ in range(per_call - 1):
                    await channel.command("NOOP")
                await channel.set_variable("SWITCHBOARD_STATUS", "DONE")
            else:
                while True:
                    await channel.command("NOOP")
        except CallerHungUp:
            pass

    server = AGIServer(asyncio.get_running_loop(), {"bench": flow}, allowed_peers=["127.0.0.1/32"],
                       header_timeout=5, command_timeout=30, events=ServiceMetrics(CollectorRegistry()),
                       logger=logging.getLogger("bench"))
    await server.start("127.0.0.1", port)
    announce_ready()
    await asyncio.Event().wait()


async def serve_panoramisk(port: int, per_call: int) -> None:
    from panoramisk.fast_agi import Application

    async def flow(request) -> None:  # type: ignore[no-untyped-def]
        if per_call:
            for _ in range(per_call - 1):
                await request.send_command("NOOP")
            await request.send_command("SET VARIABLE SWITCHBOARD_STATUS DONE")
        else:
            while True:
                await request.send_command("NOOP")

    app = Application()
    app.add_route("bench", flow)
    server = await asyncio.start_server(app.handler, "127.0.0.1", port)
    announce_ready()
    await server.serve_forever()


def serve(kind: str, port: int, per_call: int) -> None:
    import uvloop

    logging.basicConfig(level=logging.CRITICAL)
    sys.path.insert(0, str(HERE.parent))
    runner = {"bare": serve_bare, "switchboard": serve_switchboard, "panoramisk": serve_panoramisk}[kind]
    uvloop.run(runner(port, per_call))


# --- the driver -------------------------------------------------------------------------------------------
def build_loadgen(workdir: Path) -> Path:
    binary = workdir / "agi_loadgen"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "agi_loadgen.c")], check=True)
    return binary


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.wait()
        raise RuntimeError(f"benchmark server exited with {proc.returncode}")


def run_one(loadgen: Path, kind: str, per_call: int, connections: int, seconds: float) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    proc = subprocess.Popen([sys.executable, __file__, "serve", kind, str(port), str(per_call)], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        wait_ready(proc)
        out = subprocess.run([str(loadgen), str(port), str(connections), "1", str(seconds)], check=True,
                             capture_output=True, text=True).stdout
    finally:
        proc.kill()
        proc.wait()
    fields = dict(part.split("=") for part in out.split())
    secs = float(fields["seconds"])
    return {"commands_per_s": int(fields["commands"]) / secs, "calls_per_s": int(fields["calls"]) / secs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(Path(tmp))
        long_calls = {k: run_one(loadgen, k, 0, args.connections, args.seconds)["commands_per_s"] for k in KINDS}
        short_calls = {k: run_one(loadgen, k, SHORT_CALL_COMMANDS, args.connections, args.seconds)["calls_per_s"]
                       for k in KINDS}
    print(f"FastAGI I/O cost, {args.connections} connections, {args.seconds:.0f} s per run, uvloop, one core each")
    print(f"{'':14}{'long calls (commands/s)':>26}{'short calls (calls/s)':>24}")
    for k in KINDS:
        print(f"{k:14}{long_calls[k]:>26,.0f}{short_calls[k]:>24,.0f}")
    print("ratios (same run):")
    for label, table in (("long calls", long_calls), ("short calls", short_calls)):
        vs_pan = table["switchboard"] / table["panoramisk"]
        vs_bare = table["switchboard"] / table["bare"]
        verdict = "meets" if vs_pan >= 1.5 else "MISSES"
        print(f"  {label}: switchboard/panoramisk = {vs_pan:.2f}x ({verdict} the 1.5x target), "
              f"switchboard/bare = {vs_bare:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()

"""FastAGI I/O cost: Switchboard's listener next to a bare asyncio.Protocol and panoramisk's fast_agi.

All three servers run in their own process on uvloop (one core each), driven by the same C load generator
(`agi_loadgen.c`, compiled here) that plays Asterisk and answers every command at once. Two workloads:

* `long calls`  — 50 connections that never end: every flow loops on `NOOP`; reports commands/s;
* `short calls` — every call runs 9 `NOOP`s and one `SET VARIABLE`, then closes; reports calls/s.

The bare server does the essential work of a FastAGI server and nothing else: it decodes the header into
variables, routes by script name, and reads each reply's code and result before sending the next command.
`bare+task` is the same Protocol giving each call one asyncio task that awaits one future per command (the shape
of a flow written as a coroutine): the part of the gap that any coroutine-per-call API costs, shown for reference.
`--in-memory` measures the Python work alone: each server in its own process, driven on uvloop through an
in-memory transport that answers every command on the next loop pass (no sockets, no load generator); CPU time of
that one process per call and per command (short calls, and calls of 1,000 commands for long ones). Far less
sensitive to other load on the machine than the socket runs, whose CPU is mostly the kernel's.
`--baseline-tree DIR` adds `switchboard@base`: the listener from another checkout's source tree (e.g. a worktree of
main), measured in the same interleaved rounds, for before/after numbers from one run. `--pin` puts every server on
the second CPU and the load generator on the first (a 2-core machine shared with other work is less noisy so).

Instructions, when valgrind is installed (`--callgrind`, on by default then; `--no-callgrind` skips it): each kind
runs the in-memory driver once under `valgrind --tool=callgrind`, uninstrumented except the measured phases, which
are bracketed by callgrind's client requests (a small C library compiled here, `CALLGRIND_START_INSTRUMENTATION`,
`_ZERO_STATS`, `_DUMP_STATS`), after a warm-up, `gc.collect()` and `gc.freeze()` (so that a full collection of the
modules' objects does not land in one phase and not in another), with a fixed PYTHONHASHSEED. Counted instructions do not depend on the machine's load, so they are the figure
to trust on a shared machine. Three figures: per command (calls of 300 commands minus calls of 100, so no per-call
work is in it), per 10-command call with the header in one piece, and per 10-command call whose header arrives one
`agi_*` line per read (Asterisk writes it one line per write). The in-memory driver's own work is in every figure,
the same for every kind.

Reported as ratios against the numbers measured in the same run (machines are noisy; absolutes are not
comparable between runs). Runs are interleaved: every round runs every server once, in a rotated order, and the
medians are compared. CPU per command (or per call) is the server process's user + system CPU over the whole load
generator run (from /proc) divided by every command it answered, warm-up included. Target (issue 10): Switchboard
≥ 0.85× bare in throughput and in CPU per command, for both workloads; panoramisk is shown for reference.

    python bench/agi_throughput.py [--seconds 3] [--connections 50] [--rounds 3] [--kinds bare,switchboard]
                                   [--baseline-tree DIR] [--pin] [--in-memory] [--callgrind | --no-callgrind]
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import ctypes
import gc
import logging
import os
import socket
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, cast

HERE = Path(__file__).resolve().parent
SHORT_CALL_COMMANDS = 10
KINDS = ("bare", "switchboard", "panoramisk", "bare+task")
BASELINE = "switchboard@base"  # Switchboard's listener imported from --baseline-tree


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def announce_ready() -> None:
    """Tells the driver the port is open (probing it with a connect would freeze panoramisk's fast_agi)."""
    print("ready", flush=True)


# --- the three servers (run as `agi_throughput.py serve KIND PORT COMMANDS_PER_CALL`) ---------------------
async def serve_bare(port: int, per_call: int) -> None:
    """The floor: one Protocol doing only the essential work of a FastAGI server, no coroutine per call.

    Like Switchboard it decodes the `agi_*` header into variables and routes by `agi_network_script` (an unknown
    script is closed), splits replies into lines across fragments and reads each line's `200 result=` code and
    result before sending the next command; anything else closes the connection.
    """
    loop = asyncio.get_running_loop()
    scripts = {"bench"}

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t, self.header, self.partial, self.sent = cast(asyncio.Transport, transport), b"", b"", 0
            self.result = b""

        def data_received(self, data: bytes) -> None:
            if self.header is not None:
                self.header += data
                end = self.header.find(b"\n\n")
                if end < 0:
                    return
                block, data, self.header = self.header[:end], self.header[end + 2:], None
                env = dict(line.split(": ", 1) for line in block.decode().split("\n"))
                if env.get("agi_network_script", "").partition("?")[0].strip("/") not in scripts:
                    self.t.close()
                    return
                self._next()
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                if not line.startswith(b"200 result="):
                    self.t.close()
                    return
                self.result = line[11:]
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


async def serve_bare_task(port: int, per_call: int) -> None:
    """The bare server's header and reply work, with each call run as one task awaiting a future per command."""
    loop = asyncio.get_running_loop()
    scripts = {"bench"}

    class BareTask(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t, self.header, self.partial = cast(asyncio.Transport, transport), b"", b""
            self.pending: asyncio.Future[bytes] | None = None

        def data_received(self, data: bytes) -> None:
            if self.header is not None:
                self.header += data
                end = self.header.find(b"\n\n")
                if end < 0:
                    return
                block, data, self.header = self.header[:end], self.header[end + 2:], None
                env = dict(line.split(": ", 1) for line in block.decode().split("\n"))
                if env.get("agi_network_script", "").partition("?")[0].strip("/") not in scripts:
                    self.t.close()
                    return
                loop.create_task(self.run())
            lines = (self.partial + data).split(b"\n")
            self.partial = lines.pop()
            for line in lines:
                if not line.startswith(b"200 result=") or self.pending is None:
                    self.t.close()
                    return
                pending, self.pending = self.pending, None
                pending.set_result(line[11:])

        def command(self, line: bytes) -> asyncio.Future[bytes]:
            self.pending = loop.create_future()
            self.t.write(line)
            return self.pending

        async def run(self) -> None:
            while not per_call:
                await self.command(b"NOOP\n")
            for _ in range(per_call - 1):
                await self.command(b"NOOP\n")
            await self.command(b"SET VARIABLE SWITCHBOARD_STATUS DONE\n")
            self.t.close()

    server = await loop.create_server(BareTask, "127.0.0.1", port)
    announce_ready()
    await server.serve_forever()


def import_from_tree(tree: Path, workdir: Path) -> None:
    """Makes `import switchboard...` load another checkout's source tree: a package folder of links laid out as
    the wheel installs it (switchboard/ holding the root's modules plus ivr/, cti/, ... beside them)."""
    package = workdir / "switchboard"
    if package.exists():  # already laid out (several servers in one process)
        return
    package.mkdir()
    for entry in (tree / "switchboard").iterdir():
        (package / entry.name).symlink_to(entry)
    for sub in ("ivr", "cti", "router", "metrics", "yamldoc", "redislane"):
        if (tree / sub).is_dir():
            (package / sub).symlink_to(tree / sub)
    sys.path.insert(0, str(workdir))


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


Runner = Callable[[int, int], Awaitable[None]]


def serve(kind: str, port: int, per_call: int, links: Path) -> Runner:
    """The server function for `kind`, with `switchboard` importable from this tree or the baseline tree."""
    logging.basicConfig(level=logging.CRITICAL)
    if kind == BASELINE:
        import_from_tree(Path(os.environ["AGI_BENCH_BASELINE_TREE"]).resolve(), links)
    else:
        sys.path.insert(0, str(HERE.parent))
    runners: dict[str, Runner] = {"bare": serve_bare, "switchboard": serve_switchboard, BASELINE: serve_switchboard,
                                  "panoramisk": serve_panoramisk, "bare+task": serve_bare_task}
    return runners[kind]


# --- in memory: the Python work alone (`--in-memory`) -------------------------------------------------------
REPLY = b"200 result=0\n"


def loadgen_header() -> bytes:
    """The header agi_loadgen.c sends, read from its source so that both modes send the same bytes."""
    literal = (HERE / "agi_loadgen.c").read_text().split("HEADER[] =", 1)[1].split(";", 1)[0]
    return "".join(ast.literal_eval(line.strip()) for line in literal.strip().splitlines()).encode()


class MemoryCalls:
    """Opens `connections` calls at a time until `total` have ended; answers each write with one plain reply."""

    def __init__(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol], total: int,
                 connections: int, header_lines: bool = False) -> None:
        self.loop, self.factory, self.total, self.connections = loop, factory, total, connections
        header = loadgen_header()
        # In one piece, or one `agi_*` line per read (as Asterisk writes it: one write per line).
        self.header = header.splitlines(keepends=True) if header_lines else [header]
        self.opened = self.ended = self.commands = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def open(self) -> None:
        self.opened += 1
        protocol = self.factory()
        transport = MemoryTransport(self, protocol)
        protocol.connection_made(cast(asyncio.BaseTransport, transport))
        for piece in self.header:
            self.loop.call_soon(self._deliver, transport, piece)

    @staticmethod
    def _deliver(transport: MemoryTransport, data: bytes) -> None:
        if transport.protocol is not None and not transport.closing:
            transport.protocol.data_received(data)

    def call_ended(self) -> None:
        self.ended += 1
        if self.opened < self.total:
            self.open()
        elif self.ended == self.total:
            self.done.set_result(None)


class MemoryTransport:
    """Just enough of a transport; like uvloop's, it lets go of its protocol once the connection is lost."""

    def __init__(self, calls: MemoryCalls, protocol: asyncio.Protocol) -> None:
        self.calls, self.protocol, self.closing = calls, cast(asyncio.Protocol | None, protocol), False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.calls.commands += 1
        assert self.protocol is not None
        self.calls.loop.call_soon(self.protocol.data_received, REPLY)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.calls.loop.call_soon(self._lost)

    abort = close

    def _lost(self) -> None:
        assert self.protocol is not None
        self.protocol.connection_lost(None)
        self.protocol = None
        self.calls.call_ended()


class NoListener:
    """What the servers get instead of a listening socket in memory."""

    sockets: list[socket.socket] = []

    async def serve_forever(self) -> None:
        await asyncio.Event().wait()

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass


async def start_in_memory(runner: Runner, per_call: int) -> tuple[Callable[[], asyncio.Protocol], asyncio.Task[None]]:
    """Starts one server in memory: its protocol factory, and its task (to cancel)."""
    loop = asyncio.get_running_loop()
    factories: list[Callable[[], asyncio.Protocol]] = []

    async def listen(factory: Callable[[], asyncio.Protocol], *args: object, **kwargs: object) -> NoListener:
        factories.append(factory)
        return NoListener()

    loop.create_server = listen  # type: ignore[method-assign,assignment]
    server = loop.create_task(runner(0, per_call))
    while not factories:
        await asyncio.sleep(0)
    del loop.create_server  # type: ignore[attr-defined]
    return factories[0], server


async def drive(factory: Callable[[], asyncio.Protocol], calls: int, connections: int,
                header_lines: bool = False) -> int:
    """Runs `calls` calls, `connections` at a time, through the in-memory transport; the commands answered."""
    driver = MemoryCalls(asyncio.get_running_loop(), factory, calls, connections, header_lines)
    for _ in range(min(connections, calls)):
        driver.open()
    await driver.done
    return driver.commands


async def measure_in_memory(runner: Runner, per_call: int, calls: int, connections: int) -> tuple[float, int]:
    """CPU seconds of this process for `calls` calls of `per_call` commands, and the commands answered."""
    factory, server = await start_in_memory(runner, per_call)
    started = time.process_time()
    commands = await drive(factory, calls, connections)
    cpu = time.process_time() - started
    server.cancel()
    return cpu, commands


def in_memory(kind: str, per_call: int, calls: int, connections: int) -> None:
    """Prints `cpu_us_per_call cpu_us_per_command` for one kind (run as a process of its own)."""
    import uvloop

    with tempfile.TemporaryDirectory() as links:
        runner = serve(kind, 0, per_call, Path(links))
        globals()["announce_ready"] = lambda: None
        cpu, commands = uvloop.run(measure_in_memory(runner, per_call, calls, connections))
    print(f"{cpu / calls * 1e6:.3f} {cpu / max(commands, 1) * 1e6:.4f}")


def run_in_memory(kind: str, per_call: int, calls: int, connections: int,
                  baseline_tree: str | None) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    if baseline_tree is not None:
        env["AGI_BENCH_BASELINE_TREE"] = baseline_tree
    out = subprocess.run([sys.executable, __file__, "memory", kind, str(per_call), str(calls), str(connections)],
                         env=env, check=True, capture_output=True, text=True).stdout.split()
    return {"cpu_us_per_call": float(out[-2]), "cpu_us_per_command": float(out[-1])}


# --- instructions under callgrind (`--callgrind`) --------------------------------------------------------------
CALLGRIND_CLIENT = r"""
#include <valgrind/callgrind.h>
void measure_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void measure_stop(void) { CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION; }
"""
# (name, commands per call, calls measured, header one line per read); each phase follows a warm-up of its own
CALLGRIND_PHASES = (("long100", 100, 40, False), ("long300", 300, 40, False), ("short", 10, 400, False),
                    ("header_lines", 10, 400, True))


def build_callgrind_client(workdir: Path) -> Path:
    source, library = workdir / "callgrind_client.c", workdir / "callgrind_client.so"
    source.write_text(CALLGRIND_CLIENT)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


async def callgrind_phases(kind: str, links: Path, client: ctypes.CDLL, connections: int) -> None:
    """Every phase of CALLGRIND_PHASES, each measured once after a warm-up (run inside valgrind)."""
    for _, per_call, calls, header_lines in CALLGRIND_PHASES:
        factory, server = await start_in_memory(serve(kind, 0, per_call, links), per_call)
        await drive(factory, max(calls // 2, connections), connections, header_lines)  # caches, specialisation
        gc.collect()
        gc.freeze()  # what is alive now (modules, the loop, the servers) is never traversed by a collection again
        client.measure_start()
        await drive(factory, calls, connections, header_lines)
        client.measure_stop()
        server.cancel()


def in_callgrind(kind: str, client_path: str, connections: int) -> None:
    import uvloop

    client = ctypes.CDLL(client_path)
    with tempfile.TemporaryDirectory() as links:
        globals()["announce_ready"] = lambda: None
        uvloop.run(callgrind_phases(kind, Path(links), client, connections))


def run_callgrind(kind: str, client: Path, workdir: Path, connections: int,
                  baseline_tree: str | None) -> dict[str, float]:
    """Instructions per command, per 10-command call and per header-line call for one kind (one valgrind run)."""
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONHASHSEED="0")  # the same dict and set layouts
    if baseline_tree is not None:
        env["AGI_BENCH_BASELINE_TREE"] = baseline_tree
    out = workdir / f"callgrind.{kind.replace('@', '_').replace('+', '_')}"
    subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "callgrind", kind, str(client), str(connections)],
                   env=env, check=True, capture_output=True, text=True)
    dumps = sorted(workdir.glob(out.name + ".*"), key=lambda p: int(p.suffix[1:]))
    assert len(dumps) == len(CALLGRIND_PHASES), f"{kind}: {len(dumps)} callgrind dumps"
    counts = {}
    for (name, _, _, _), dump in zip(CALLGRIND_PHASES, dumps):
        summary = [line for line in dump.read_text().splitlines() if line.startswith("summary:")]
        counts[name] = int(summary[0].split()[1])
    long_calls = CALLGRIND_PHASES[0][2]
    short_calls = CALLGRIND_PHASES[2][2]
    return {"per_command": (counts["long300"] - counts["long100"]) / (long_calls * 200),
            "per_call": counts["short"] / short_calls, "per_header_line_call": counts["header_lines"] / short_calls}


def main_callgrind(args: argparse.Namespace, kinds: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = build_callgrind_client(Path(tmp))
        table = {k: run_callgrind(k, client, Path(tmp), args.connections, args.baseline_tree) for k in kinds}
    print(f"FastAGI instructions (valgrind --tool=callgrind, in-memory driver included, {args.connections} calls "
          "at a time, uvloop)")
    print(f"{'':18}{'per command':>14}{'per 10-cmd call':>17}{'per header-line call':>22}")
    for k in kinds:
        row = table[k]
        print(f"{k:18}{row['per_command']:>14,.0f}{row['per_call']:>17,.0f}{row['per_header_line_call']:>22,.0f}")
    print("ratios to bare (instructions: bare/kind):")
    for k in kinds:
        if k != "bare":
            print(f"  {k:17} per command {table['bare']['per_command'] / table[k]['per_command']:.2f}x  "
                  f"per call {table['bare']['per_call'] / table[k]['per_call']:.2f}x  "
                  f"header-line call {table['bare']['per_header_line_call'] / table[k]['per_header_line_call']:.2f}x")


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, from /proc (clock ticks of 1/SC_CLK_TCK s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A preexec_fn binding the child to one CPU (None: no pinning)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_one(loadgen: Path, kind: str, per_call: int, connections: int, seconds: float,
            baseline_tree: str | None = None, pin: bool = False) -> dict[str, float]:
    """One server process under the load generator: throughput in the measured window, server CPU per unit."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    if baseline_tree is not None:
        env["AGI_BENCH_BASELINE_TREE"] = baseline_tree
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, loadgen_cpu = (cpus[-1], cpus[0]) if pin and len(cpus) > 1 else (None, None)
    proc = subprocess.Popen([sys.executable, __file__, "serve", kind, str(port), str(per_call)], env=env,
                            stdout=subprocess.PIPE, text=True, preexec_fn=pinned(server_cpu))
    try:
        wait_ready(proc)
        cpu_before = cpu_seconds(proc.pid)
        out = subprocess.run([str(loadgen), str(port), str(connections), "1", str(seconds)], check=True,
                             capture_output=True, text=True, preexec_fn=pinned(loadgen_cpu)).stdout
        cpu = cpu_seconds(proc.pid) - cpu_before
    finally:
        proc.kill()
        proc.wait()
    fields = dict(part.split("=") for part in out.split())
    secs = float(fields["seconds"])
    total_commands, total_calls = int(fields["total_commands"]), int(fields["total_calls"])
    return {"commands_per_s": int(fields["commands"]) / secs, "calls_per_s": int(fields["calls"]) / secs,
            "cpu_us_per_command": cpu / max(total_commands, 1) * 1e6,
            "cpu_us_per_call": cpu / max(total_calls, 1) * 1e6}


Table = dict[str, list[dict[str, float]]]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; medians are reported (0: only the instruction counts)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    parser.add_argument("--baseline-tree", help="another checkout (e.g. a worktree of main): adds " + BASELINE)
    parser.add_argument("--in-memory", action="store_true", help="the Python work alone, without sockets")
    parser.add_argument("--pin", action="store_true", help="servers on the last CPU, the load generator on the first")
    parser.add_argument("--callgrind", action=argparse.BooleanOptionalAction, default=shutil.which("valgrind"),
                        help="also count instructions under valgrind --tool=callgrind (default: when installed)")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    if args.baseline_tree:
        kinds.append(BASELINE)
    assert "bare" in kinds and "switchboard" in kinds, "the ratio needs bare and switchboard"
    print("load average (1, 5, 15 min) before the runs: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.rounds <= 0:  # `--rounds 0 --callgrind`: instructions only
        pass
    elif args.in_memory:
        main_in_memory(args, [k for k in kinds if k != "panoramisk"])
    else:
        main_sockets(args, kinds)
    if args.callgrind:
        main_callgrind(args, [k for k in kinds if k != "panoramisk"])


def main_sockets(args: argparse.Namespace, kinds: list[str]) -> None:
    long_runs: Table = {k: [] for k in kinds}
    short_runs: Table = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        loadgen = build_loadgen(Path(tmp))
        for r in range(args.rounds):  # interleaved: every round runs every kind, in a rotated order
            order = kinds[r % len(kinds):] + kinds[:r % len(kinds)]
            for k in order:
                long_runs[k].append(run_one(loadgen, k, 0, args.connections, args.seconds, args.baseline_tree,
                                            args.pin))
                short_runs[k].append(run_one(loadgen, k, SHORT_CALL_COMMANDS, args.connections, args.seconds,
                                             args.baseline_tree, args.pin))

    def med(table: Table, kind: str, key: str) -> float:
        return median([run[key] for run in table[kind]])

    print(f"FastAGI I/O cost, {args.connections} connections, {args.seconds:.0f} s per run, {args.rounds} "
          f"interleaved rounds (medians), uvloop, server and load generator one process each, {os.cpu_count()} CPUs"
          + (", pinned to one CPU each" if args.pin else ""))
    print("load average (1, 5, 15 min) after the runs: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'':18}{'long: commands/s':>18}{'CPU us/command':>16}{'short: calls/s':>16}{'CPU us/call':>13}")
    for k in kinds:
        print(f"{k:18}{med(long_runs, k, 'commands_per_s'):>18,.0f}{med(long_runs, k, 'cpu_us_per_command'):>16.2f}"
              f"{med(short_runs, k, 'calls_per_s'):>16,.0f}{med(short_runs, k, 'cpu_us_per_call'):>13.1f}")
    print("ratios to bare (same run; throughput: switchboard/bare; CPU: bare/switchboard; target >= 0.85):")
    for label, table, rate, cpu in (("long calls ", long_runs, "commands_per_s", "cpu_us_per_command"),
                                    ("short calls", short_runs, "calls_per_s", "cpu_us_per_call")):
        for k in kinds:
            if k == "bare":
                continue
            thr = med(table, k, rate) / med(table, "bare", rate)
            eff = med(table, "bare", cpu) / med(table, k, cpu)
            verdict = "" if not k.startswith("switchboard") else ("  meets" if min(thr, eff) >= 0.85 else "  MISSES")
            print(f"  {label} {k:17} throughput {thr:.2f}x  CPU {eff:.2f}x{verdict}")


def main_in_memory(args: argparse.Namespace, kinds: list[str]) -> None:
    long_calls, short_calls = 40, 6_000
    long_runs: Table = {k: [] for k in kinds}
    short_runs: Table = {k: [] for k in kinds}
    for r in range(args.rounds):
        for k in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            long_runs[k].append(run_in_memory(k, 1000, long_calls, args.connections, args.baseline_tree))
            short_runs[k].append(run_in_memory(k, SHORT_CALL_COMMANDS, short_calls, args.connections,
                                               args.baseline_tree))

    def low(table: Table, kind: str, key: str) -> float:  # the least disturbed run
        return min(run[key] for run in table[kind])

    print(f"FastAGI Python work in memory (no sockets), uvloop, {args.connections} calls at a time, {args.rounds} "
          f"interleaved rounds (lowest), {os.cpu_count()} CPUs")
    print("load average (1, 5, 15 min) after the runs: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{'':18}{'long: CPU us/command':>22}{'short: CPU us/call':>20}")
    for k in kinds:
        print(f"{k:18}{low(long_runs, k, 'cpu_us_per_command'):>22.3f}{low(short_runs, k, 'cpu_us_per_call'):>20.2f}")
    print("ratios to bare (CPU: bare/kind):")
    for k in kinds:
        if k != "bare":
            print(f"  {k:17} long {low(long_runs, 'bare', 'cpu_us_per_command') / low(long_runs, k, 'cpu_us_per_command'):.2f}x"
                  f"  short {low(short_runs, 'bare', 'cpu_us_per_call') / low(short_runs, k, 'cpu_us_per_call'):.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        import uvloop

        with tempfile.TemporaryDirectory() as links:
            uvloop.run(serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(links))(int(sys.argv[3]),
                                                                                            int(sys.argv[4])))
    elif len(sys.argv) == 6 and sys.argv[1] == "memory":
        in_memory(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) == 5 and sys.argv[1] == "callgrind":
        in_callgrind(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()

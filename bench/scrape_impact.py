"""What a Prometheus scrape of a large registry costs the calls: FastAGI turnaround with and without scraping.

One server process runs what the service runs on its one loop (uvloop + Twisted's asyncio reactor): the FastAGI
listener (every call loops on `NOOP`) and the HTTP site of switchboard/http_site.py, whose registry holds ~40k
samples (the series cap). A driver plays Asterisk: `--connections` calls, each answering every command after
`--pause` ms (Asterisk doing its part), and measures the turnaround of each command: from the reply it sent to
the next command it reads. Each round runs a quiet phase, then one scraping phase per variant (a separate process
GETs /metrics back to back, asking for OpenMetrics like Prometheus), `--seconds` each; `--rounds` rounds, all in
the same run, so every variant is compared with the quiet baseline measured beside it.

Variants (`--variants`, comma-separated):
- `fork` / `fork+N`: the service's way (switchboard/metrics_rendering.py): each scrape renders in a forked child,
  niced by N (default: the service's default);
- `thread`: on a worker thread of the service process (the previous way: the rendering holds the GIL);
- `loop`: on the event loop (the first way).
Target (issue 10): scraping adds at most 2 ms to the p99 turnaround. Back-to-back scraping is the worst case
(Prometheus scrapes every 15 s or so).

Besides the turnarounds the server reports, per phase, its event loop's worst stall (how late a 1 ms ticker woke
up) and, for fork variants, how long each fork held the loop; the server's resident memory is printed, since the
fork's page-table copy grows with it. The load average is printed: the machine is shared, quote the ratio.

    python bench/scrape_impact.py [--variants fork,thread] [--seconds 4] [--rounds 2] [--connections 20]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the server (`scrape_impact.py serve MODE AGI_PORT HTTP_PORT SAMPLES`) --------------------------------
def big_registry(samples: int) -> tuple[Any, Any]:
    """The service's own instruments plus one labelled histogram filling the registry to ~`samples` samples."""
    from prometheus_client import CollectorRegistry, Histogram
    from prometheus_client.openmetrics.exposition import generate_latest

    from switchboard.metrics.service_metrics import ServiceMetrics
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    wait = Histogram("switchboard_bench_wait_seconds", "bench series", ["queue", "segment"], registry=registry,
                     buckets=(1, 5, 10, 20, 30, 60, 120, 300))
    per_child = 8 + 1 + 3  # buckets, +Inf, _count, _sum, _created
    for i in range(samples // per_child):
        wait.labels(f"q{i % 97}", f"s{i}").observe(i % 100)
    lines = generate_latest(registry).count(b"\n")
    print(f"registry: {lines} exposition lines", file=sys.stderr)
    return registry, metrics


async def serve(variants: list[str], agi_port: int, http_port: int, samples: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from prometheus_client.exposition import choose_encoder
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.web.resource import Resource
    from twisted.web.server import Request

    from switchboard.cti.screen_pop import AgentStreams
    from switchboard.http_monitoring import MetricsRenderer, MetricsResource
    from switchboard.http_site import HttpCollaborators, build_site
    from switchboard.ivr.agi_server import AGIServer
    from switchboard.ivr.channel import CallerHungUp, Channel
    from switchboard.metrics_rendering import ForkedRendering

    loop = asyncio.get_running_loop()
    reactor = AsyncioSelectorReactor(loop)
    registry, metrics = big_registry(samples)

    async def flow(channel: Channel) -> None:
        try:
            while True:
                await channel.command("NOOP")
        except CallerHungUp:
            pass

    agi = AGIServer(loop, {"bench": flow}, allowed_peers=["127.0.0.1/32"], header_timeout=5, command_timeout=30,
                    events=metrics, logger=logging.getLogger("bench"))
    await agi.start("127.0.0.1", agi_port)
    site = build_site(HttpCollaborators(registry=registry, token="", agent_streams=AgentStreams()), reactor)

    class OnLoop(Resource):
        """The first /metrics: rendered on the event loop."""

        isLeaf = True

        def render_GET(self, request: Request) -> bytes:  # noqa: N802
            encoder, content_type = choose_encoder(request.getHeader("accept") or "")
            request.setHeader("Content-Type", content_type)
            return encoder(registry)

    class OnThread(MetricsRenderer):
        """The previous /metrics: rendered on one worker thread of this process (shares the GIL)."""

        executor = ThreadPoolExecutor(max_workers=1)

        def render(self, accept: str) -> tuple[asyncio.Future[bytes], str]:
            encoder, content_type = choose_encoder(accept)
            return loop.run_in_executor(self.executor, encoder, registry), content_type

    forked: dict[str, ForkedRendering] = {}
    variants_page = Resource()
    for variant in variants:
        if variant == "loop":
            page: Resource = OnLoop()
        elif variant == "thread":
            page = MetricsResource(OnThread(registry))
        else:
            _, _, nice = variant.partition("+")
            renderer = MetricsRenderer(registry)
            if nice:
                renderer = MetricsRenderer(registry, rendering=ForkedRendering(registry, niceness=int(nice)))
            forked[variant] = renderer.rendering
            page = MetricsResource(renderer)
        variants_page.putChild(variant.encode(), page)  # type: ignore[no-untyped-call]
    site.resource.putChild(b"variant", variants_page)  # type: ignore[no-untyped-call]
    lag = [0.0]

    async def ticker() -> None:
        """The loop's worst stall: how late a 1 ms sleep wakes up."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lag[0] = max(lag[0], time.perf_counter() - started - 0.001)
    ticking = asyncio.create_task(ticker())

    class Stats(Resource):
        """The bench's own page: the worst loop stall and the fork times since the last read, the resident memory."""

        isLeaf = True

        def render_GET(self, request: Request) -> bytes:  # noqa: N802
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            body = {"lag_max": lag[0], "forks": [t for r in forked.values() for t in r.fork_seconds],
                    "fork_cpu": [t for r in forked.values() for t in r.fork_cpu_seconds], "rss": rss}
            lag[0] = 0.0
            for rendering in forked.values():
                rendering.fork_seconds.clear()
                rendering.fork_cpu_seconds.clear()
            return json.dumps(body).encode()
    site.resource.putChild(b"bench-stats", Stats())  # type: ignore[no-untyped-call]
    reactor.listenTCP(http_port, site, interface="127.0.0.1")  # type: ignore[arg-type]
    print("ready", flush=True)
    await asyncio.Event().wait()
    ticking.cancel()


def scrape_forever(http_port: int, variant: str) -> None:
    """The scraper process: GET the variant's /metrics back to back; prints each scrape's seconds and size (a
    failed scrape's size is its negated HTTP status, e.g. -503 for a rendering past its deadline)."""
    print("scraping", flush=True)
    try:
        while True:
            started = time.perf_counter()
            size = get_metrics(http_port, variant)
            print(f"{time.perf_counter() - started:.4f} {size}", flush=True)
    except KeyboardInterrupt:
        pass


def get_metrics(http_port: int, variant: str) -> int:
    """One OpenMetrics GET of a variant: the body's size, or minus the HTTP status of a failed scrape."""
    request = urllib.request.Request(f"http://127.0.0.1:{http_port}/variant/{variant}",
                                     headers={"Accept": OPENMETRICS})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return len(response.read())
    except urllib.error.HTTPError as error:
        return -error.code


# --- the driver -------------------------------------------------------------------------------------------
HEADER = (b"agi_network: yes\nagi_network_script: bench\nagi_request: agi://127.0.0.1/bench\n"
          b"agi_channel: PJSIP/bench-00000001\nagi_uniqueid: 1700000000.1\nagi_callerid: 100\nagi_dnid: 100\n\n")


async def one_call(port: int, pause: float, sink: list[float], stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    await reader.readline()
    while not stop.is_set():
        await asyncio.sleep(pause)
        writer.write(b"200 result=0\n")
        sent = time.perf_counter()
        await reader.readline()
        sink.append(time.perf_counter() - sent)
    writer.close()


async def phase(port: int, connections: int, pause: float, seconds: float) -> list[float]:
    sink: list[float] = []
    stop = asyncio.Event()
    calls = [asyncio.create_task(one_call(port, pause, sink, stop)) for _ in range(connections)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*calls)
    return sink


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else float("nan")


def bench_stats(http_port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/bench-stats", timeout=30) as response:
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def settle(http_port: int, variant: str) -> None:
    """Waits out the rendering the stopped scraper left under way (one more GET joins or follows it), so that it
    does not spill into the next phase (a worker-thread rendering would otherwise burden the next quiet phase)."""
    get_metrics(http_port, variant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="fork,thread", help="fork, fork+N (nice N), thread, loop")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--pause", type=float, default=2.0, help="ms before each reply")
    parser.add_argument("--samples", type=int, default=40000)
    args = parser.parse_args()
    variants = args.variants.split(",")
    import uvloop

    agi_port, http_port = free_port(), free_port()
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    server = subprocess.Popen([sys.executable, __file__, "serve", args.variants, str(agi_port), str(http_port),
                               str(args.samples)], env=env, stdout=subprocess.PIPE, text=True)
    turnarounds: dict[str, list[float]] = {name: [] for name in ["quiet", *variants]}
    scrapes: dict[str, list[str]] = {name: [] for name in variants}
    lag = dict.fromkeys(turnarounds, 0.0)
    forks: dict[str, list[float]] = {name: [] for name in variants}
    fork_cpu: dict[str, list[float]] = {name: [] for name in variants}
    per_round: dict[str, list[float]] = {name: [] for name in turnarounds}  # each round's p99
    rss = 0
    loads: list[tuple[float, float, float]] = [os.getloadavg()]
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("benchmark server did not start")
        for _ in range(args.rounds):
            bench_stats(http_port)
            quiet = uvloop.run(phase(agi_port, args.connections, args.pause / 1000, args.seconds))
            turnarounds["quiet"] += quiet
            per_round["quiet"].append(percentile(quiet, 0.99))
            lag["quiet"] = max(lag["quiet"], bench_stats(http_port)["lag_max"])
            for variant in variants:
                scraper = subprocess.Popen([sys.executable, __file__, "scrape", str(http_port), variant], env=env,
                                           stdout=subprocess.PIPE, text=True)
                assert scraper.stdout is not None
                if scraper.stdout.readline().strip() != "scraping":  # the phase starts with the first scrape
                    raise RuntimeError("scraper did not start")
                try:
                    scraped = uvloop.run(phase(agi_port, args.connections, args.pause / 1000, args.seconds))
                    turnarounds[variant] += scraped
                    per_round[variant].append(percentile(scraped, 0.99))
                finally:
                    scraper.send_signal(2)
                    out, _ = scraper.communicate()
                    scrapes[variant] += [line for line in out.split("\n") if line]
                settle(http_port, variant)
                stats = bench_stats(http_port)
                lag[variant] = max(lag[variant], stats["lag_max"])
                forks[variant] += stats["forks"]
                fork_cpu[variant] += stats["fork_cpu"]
                rss = max(rss, stats["rss"])
            loads.append(os.getloadavg())
    finally:
        server.kill()
        server.wait()
    sizes = [int(line.split()[1]) for lines in scrapes.values() for line in lines] or [0]
    print(f"FastAGI turnaround under load: {args.connections} calls, {args.pause:g} ms pause per command; "
          f"{args.rounds} rounds of a {args.seconds:g} s quiet phase + one {args.seconds:g} s phase per variant "
          f"(back-to-back OpenMetrics scrapes, {max(sizes, default=0):,} bytes), same run; server RSS "
          f"{rss / 2**20:.0f} MiB")
    quiet_p99 = percentile(turnarounds["quiet"], 0.99)
    print(f"{'':10}{'commands':>9}{'p50 ms':>8}{'p99 ms':>8}{'p99.9 ms':>9}{'max ms':>8}{'stall ms':>9}"
          f"{'+p99 ms':>8}{'ratio':>6}{'+p99/round':>11}{'scrapes':>8}{'each ms':>8}{'fork ms (med/max)':>19}"
          f"{'fork CPU ms (med/max)':>23}")
    for name, values in turnarounds.items():
        row = (f"{name:10}{len(values):>9}{percentile(values, 0.5) * 1000:>8.3f}{percentile(values, 0.99) * 1000:>8.3f}"
               f"{percentile(values, 0.999) * 1000:>9.3f}{max(values) * 1000:>8.2f}{lag[name] * 1000:>9.2f}")
        if name != "quiet":
            seconds = [float(line.split()[0]) for line in scrapes[name] if int(line.split()[1]) > 0]
            failed = [line for line in scrapes[name] if int(line.split()[1]) <= 0]
            added = (percentile(values, 0.99) - quiet_p99) * 1000
            rounds = statistics.median(v - q for v, q in zip(per_round[name], per_round["quiet"])) * 1000
            row += (f"{added:>8.3f}{percentile(values, 0.99) / quiet_p99:>6.2f}{rounds:>11.3f}{len(seconds):>8}"
                    f"{statistics.median(seconds) * 1000 if seconds else float('nan'):>8.0f}")
            if forks[name]:
                row += f"{statistics.median(forks[name]) * 1000:>11.2f} /{max(forks[name]) * 1000:>6.2f}"
                row += f"{statistics.median(fork_cpu[name]) * 1000:>15.2f} /{max(fork_cpu[name]) * 1000:>6.2f}"
            row += "   meets <= 2 ms (both)" if max(added, rounds) <= 2.0 else "   MISSES <= 2 ms (either)"
            if failed:
                row += f"; {len(failed)} scrapes failed ({', '.join(sorted({str(-int(f.split()[1])) for f in failed}))})"
        print(row)
    print("+p99 = pooled p99 minus the pooled quiet p99; +p99/round = the median over rounds of (that round's "
          "p99 minus its own quiet p99), steadier on a shared machine; stall = the loop's worst lateness; "
          "fork = wall time the fork held the loop, fork CPU = the CPU it took (without time given to others)")
    print("load average (1, 5, 15 min) at start and after each round: "
          + "  ".join(f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in loads))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "serve":
        import uvloop
        logging.basicConfig(level=logging.CRITICAL)
        uvloop.run(serve(sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))
    elif len(sys.argv) == 4 and sys.argv[1] == "scrape":
        scrape_forever(int(sys.argv[2]), sys.argv[3])
    else:
        main()

"""AMI handling cost per call: the service's AMI side next to bare parsing of the same stream.

A fake Asterisk manager (in this driver) replays a representative per-call event sequence of Asterisk 22 for an
inbound call that is routed to an agent (channels created, states, device states of the trunk and the agent, dial
begin/end, bridge, music on hold, hang-ups) for N calls. Calls start at `--rate` calls/s and each call's events are
spread over `LIFETIME` seconds, so calls overlap and their events interleave as a real Asterisk sends them (a few
per millisecond at a knee-like rate, not one burst per call). The consumer runs in its own process on uvloop.

Consumers:

* `bare`       — frames each message on the blank line and splits it into a dict; nothing else (the floor);
* `service`    — Switchboard's AMI side as `switchboard/service.py` wires it, with real stores on a real
                 redis-server: `cti.ami_client.AMIClient`, the one ordered consumer, device states fed to the real
                 `CallRouter` (`AGENTS` agents from a routing config, logged in; its Lua updates agent states),
                 dial events to `cti.screen_pop.ScreenPops` (the endpoint → agent resolver, the call record and
                 customer read through `CtiStore`, publishing for integrations and the AMI UserEvent), until every
                 screen pop is published and every agent device update applied;
* `baseline`   — the same consumer run by another checkout's code: `--baseline-tree DIR` (DIR's own .venv, e.g.
                 main's checkout) or `--baseline PYTHON` (an interpreter with a switchboard installed), wired as that
                 checkout's service wires it (its AMI read pause, device batching, screen-pop reads, whatever it
                 has): before/after in one run, interleaved.

The service consumer takes the settings' default `ami.read_pause` (0.05 s; `--read-pause` to change it, for the
checkouts that have it) and, where the checkout has it, the `RecentCalls` map the service wires: the bench's calls
were opened and recorded by this process (`open_call` with the caller's number, then the before-connect record), as
the calls of a single-instance site are.

Two streams: `filtered` is what the shipped `asterisk-conf/include/manager_switchboard.conf` lets through (its
`eventfilter(...)` include rules and `read=` classes, evaluated here), `unfiltered` what the former configuration
sent (every event of the read classes system, call, agent, user, reporting). The service's own UserEvents come
back as events only when the filter lets them.

Service CPU per call is the consumer process's CPU time (`time.process_time`, user + system, every thread; the
router's own timers included) between the first replayed event and the last applied update, divided by N. Rounds
are interleaved; medians are reported, with the ratio to bare and the load average. Target (issue 10): AMI
handling <= 0.3 ms per call.

    python bench/ami_cost.py [--calls 1000] [--rounds 3] [--rate 200] [--baseline-tree DIR] [--read-pause 0.05]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MANAGER_CONF = REPO / "asterisk-conf" / "include" / "manager_switchboard.conf"
BANNER = b"Asterisk Call Manager/9.0.0\r\n"
START, END = "BenchStart", "BenchEnd"
LIFETIME = 1.0  # seconds over which one call's events are spread (its events at equal steps)
AGENTS = 50  # agents in the routing config; call n rings agent n % AGENTS

Fields = list[tuple[str, str]]

# Classes of the events below (Asterisk 22): what `read=` must include for Asterisk to send them at all.
EVENT_CLASS = {"Newchannel": "call", "Newstate": "call", "NewCallerid": "call", "NewConnectedLine": "call",
               "DeviceStateChange": "call", "DialBegin": "call", "DialState": "call", "DialEnd": "call",
               "BridgeCreate": "call", "BridgeEnter": "call", "BridgeLeave": "call", "BridgeDestroy": "call",
               "MusicOnHoldStart": "call", "MusicOnHoldStop": "call", "SoftHangupRequest": "call",
               "HangupRequest": "call", "Hangup": "call", "UserEvent": "user", "FullyBooted": "system"}
FORMER_READ = {"system", "call", "agent", "user", "reporting"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def channel_fields(channel: str, uniqueid: str, state: str, caller: str, exten: str) -> Fields:
    return [("Channel", channel), ("ChannelState", "6" if state == "Up" else "4"), ("ChannelStateDesc", state),
            ("CallerIDNum", caller), ("CallerIDName", "<unknown>"), ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"), ("Language", "en"), ("AccountCode", ""),
            ("Context", "from-callers"), ("Exten", exten), ("Priority", "2"), ("Uniqueid", uniqueid),
            ("Linkedid", uniqueid.split("-")[0])]


def call_events(n: int) -> list[Fields]:
    """One call routed to an agent, as Asterisk 22 reports it (event names and typical headers)."""
    uid, aid = f"1700000000.{2 * n}", f"1700000000.{2 * n + 1}"
    name = f"agent{n % AGENTS}"
    caller, agent = f"PJSIP/callers-{2 * n:08x}", f"PJSIP/{name}-{2 * n + 1:08x}"
    c = lambda state: channel_fields(caller, uid, state, "+441632960123", "2000")  # noqa: E731
    a = lambda state: channel_fields(agent, aid, state, name, "s")  # noqa: E731
    dest = [(f"Dest{k}", v) for k, v in a("Ringing")]
    events: list[Fields] = [
        [("Event", "Newchannel"), *c("Ring")],
        [("Event", "DeviceStateChange"), ("Device", "PJSIP/callers"), ("State", "INUSE")],
        [("Event", "Newstate"), *c("Up")],
        [("Event", "MusicOnHoldStart"), *c("Up"), ("Class", "default")],
        [("Event", "MusicOnHoldStop"), *c("Up")],
        [("Event", "Newchannel"), *a("Down")],
        [("Event", "NewCallerid"), *a("Down"), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        [("Event", "DialBegin"), *c("Up"), *dest, ("DialString", name)],
        [("Event", "Newstate"), *a("Ringing")],
        [("Event", "DeviceStateChange"), ("Device", f"PJSIP/{name}"), ("State", "RINGING")],
        [("Event", "NewConnectedLine"), *c("Up")],
        [("Event", "Newstate"), *a("Up")],
        [("Event", "DeviceStateChange"), ("Device", f"PJSIP/{name}"), ("State", "INUSE")],
        [("Event", "DialEnd"), *c("Up"), *dest, ("DialStatus", "ANSWER")],
        [("Event", "BridgeCreate"), ("BridgeUniqueid", f"b-{n}"), ("BridgeType", "basic"),
         ("BridgeTechnology", "simple_bridge"), ("BridgeCreator", "<unknown>"), ("BridgeName", "<unknown>"),
         ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")],
        [("Event", "BridgeEnter"), ("BridgeUniqueid", f"b-{n}"), *c("Up")],
        [("Event", "BridgeEnter"), ("BridgeUniqueid", f"b-{n}"), *a("Up")],
        [("Event", "SoftHangupRequest"), *a("Up"), ("Cause", "16")],
        [("Event", "HangupRequest"), *c("Up"), ("Cause", "16")],
        [("Event", "BridgeLeave"), ("BridgeUniqueid", f"b-{n}"), *a("Up")],
        [("Event", "BridgeLeave"), ("BridgeUniqueid", f"b-{n}"), *c("Up")],
        [("Event", "BridgeDestroy"), ("BridgeUniqueid", f"b-{n}"), ("BridgeType", "basic")],
        [("Event", "Hangup"), *a("Up"), ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
        [("Event", "DeviceStateChange"), ("Device", f"PJSIP/{name}"), ("State", "NOT_INUSE")],
        [("Event", "Hangup"), *c("Up"), ("Cause", "16"), ("Cause-txt", "Normal Clearing")],
        [("Event", "DeviceStateChange"), ("Device", "PJSIP/callers"), ("State", "NOT_INUSE")],
    ]
    return events


def shipped_filter() -> tuple[set[str], list[tuple[str, str, str]]]:
    """The shipped user's `read=` classes and include rules (name, header, value) from its manager piece."""
    read: set[str] = set()
    rules: list[tuple[str, str, str]] = []
    for line in MANAGER_CONF.read_text().splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("read="):
            read = set(line[5:].split(","))
        m = re.match(r"eventfilter\((.*)\)\s*=\s*(.*)$", line)
        if m:
            criteria = dict(re.findall(r"(\w+)\(([^)]*)\)", m.group(1)))
            assert criteria.get("action", "include") == "include", "the bench evaluates include rules only"
            method = criteria.get("method", "none")
            assert method in ("none", "exact", "starts_with"), f"the bench does not evaluate method({method})"
            rules.append((criteria.get("name", ""), criteria.get("header", ""),
                          m.group(2).strip() + ("" if method == "starts_with" else "\n")))
    return read, rules


def passes(event: Fields, read: set[str], rules: list[tuple[str, str, str]]) -> bool:
    name = event[0][1]
    if dict(event).get("UserEvent") in (START, END):
        return True  # the bench's own markers
    if EVENT_CLASS.get(name, "call") not in read:
        return False
    if not rules:
        return True
    fields = dict(event)
    for rule_name, header, value in rules:
        if rule_name and rule_name != name:
            continue
        if header and not (fields.get(header, "") + "\n").startswith(value):  # value ends "\n": exact
            continue
        return True
    return False


def encode(fields: Fields) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode()


# --- the fake Asterisk manager ----------------------------------------------------------------------------------
class FakeManager:
    """Answers Login/Ping/DeviceStateList/UserEvent/Logoff and replays the stream once the consumer is ready."""

    def __init__(self, stream: list[tuple[float, bytes]], read: set[str], rules: list[tuple[str, str, str]]) -> None:
        self.stream = stream
        self.read, self.rules = read, rules
        self.ready = asyncio.Event()
        self.user_events = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in raw.decode().split("\r\n") if ": " in line)
                action, aid = fields.get("Action", ""), fields.get("ActionID", "")
                if action == "Login":
                    writer.write(encode([("Response", "Success"), ("ActionID", aid),
                                         ("Message", "Authentication accepted")]))
                    writer.write(encode([("Event", "FullyBooted"), ("Privilege", "system,all"),
                                         ("Status", "Fully Booted")]))
                elif action == "DeviceStateList":
                    writer.write(encode([("Response", "Success"), ("ActionID", aid), ("EventList", "start")]))
                    writer.write(encode([("Event", "DeviceStateChange"), ("ActionID", aid),
                                         ("Device", "PJSIP/agent0"), ("State", "NOT_INUSE")]))
                    writer.write(encode([("Event", "DeviceStateListComplete"), ("ActionID", aid),
                                         ("EventList", "Complete"), ("ListItems", "1")]))
                elif action == "UserEvent":
                    self.user_events += 1
                    writer.write(encode([("Response", "Success"), ("ActionID", aid)]))
                    echo = [("Event", "UserEvent"), ("Privilege", "user,all"),
                            *[(k, v) for k, v in fields.items() if k not in ("Action", "ActionID")]]
                    if passes(echo, self.read, self.rules):
                        writer.write(encode(echo))
                elif action == "Ping":
                    writer.write(encode([("Response", "Success"), ("ActionID", aid), ("Ping", "Pong")]))
                elif action == "Logoff":
                    writer.write(encode([("Response", "Goodbye"), ("ActionID", aid)]))
                    break
                elif action == "BenchReady":
                    self.ready.set()
                    await self.replay(writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def replay(self, writer: asyncio.StreamWriter) -> None:
        """Writes each event when it is due (every event due since the last wake-up in one write)."""
        loop = asyncio.get_running_loop()
        began, i = loop.time(), 0
        while i < len(self.stream):
            now = loop.time() - began
            j = i
            while j < len(self.stream) and self.stream[j][0] <= now:
                j += 1
            if j > i:
                writer.write(b"".join(chunk for _, chunk in self.stream[i:j]))
                await writer.drain()
                i = j
            await asyncio.sleep(0.001)  # the replay's clock: wake up each millisecond to send what is due


# --- the consumers (run as `ami_cost.py consume KIND AMI_PORT REDIS_URL CALLS`) ---------------------------------
# With AMI_COST_PROFILE=FILE the service consumer profiles (CPU time) its measured span into FILE.service.
PROFILE = cProfile.Profile(time.process_time) if os.environ.get("AMI_COST_PROFILE") else None


def cpu_seconds() -> float:
    return time.process_time()  # user + system CPU of the process, nanosecond clock (not /proc's 10 ms ticks)


async def consume_bare(port: int, calls: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"Action: Login\r\nActionID: 1\r\nUsername: switchboard\r\nSecret: x\r\n\r\n"
                 b"Action: BenchReady\r\nActionID: 2\r\n\r\n")
    started = None
    while True:
        raw = await reader.readuntil(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in raw.decode("utf-8", "replace").split("\r\n") if ": " in line)
        name = fields.get("UserEvent") if fields.get("Event") == "UserEvent" else None
        if name == START:
            started = cpu_seconds()
        elif name == END:
            assert started is not None
            print(f"cpu={cpu_seconds() - started}", flush=True)
            return


async def consume_service(port: int, redis_url: str, calls: int) -> None:
    """The service's AMI side, wired as this interpreter's `switchboard/service.py` wires it."""
    import inspect
    import logging

    from switchboard.cti.ami_client import AMIClient, AMIEvent, AMISettings
    from switchboard.cti.call_context import CallContext
    from switchboard.cti.cti_store import CtiStore
    from switchboard.cti.customer import Customer, CustomerRecord
    from switchboard.cti.screen_pop import AgentStreams, ScreenPops
    from switchboard.router.call_router import CallRouter
    from switchboard.router.route_store import RouteStore
    from switchboard.router.routing_config import AgentSeed, RoutingConfig, Segment
    from switchboard.service import shared_redis
    from switchboard.settings import RedisSettings

    logging.basicConfig(level=logging.ERROR)
    loop = asyncio.get_running_loop()
    redis = shared_redis(RedisSettings(url=redis_url, timeout=2.0))
    await redis.flushdb()
    try:  # this checkout's map of the calls it recorded, as its service wires it
        from switchboard.cti.recent_calls import RecentCalls
        recent: dict[str, object] = {"recent": RecentCalls()}
    except ImportError:
        recent = {}
    store = CtiStore(redis, **recent)  # type: ignore[arg-type]
    await store.write([CustomerRecord(Customer("c1", "Ada", "vip", "en", "A1", ("+441632960123",),
                                               recent_contacts=({"at": 1, "queue": "billing"},)))])
    for n in range(calls):  # what the IVR of this process writes: the opening record (with the look-up), the
        uid = f"1700000000.{2 * n}"  # record before ringing
        await store.open_call("+441632960123", CallContext(uid, flow="main", caller="+441632960123",
                                                           started_at=time.time()))
        await store.save_call(CallContext(uid, flow="main", caller="+441632960123", started_at=time.time(),
                                          customer_id="c1", segment="vip", confidence="ani",
                                          path=("main.welcome", "main.menu"), intents=("billing",)))
    finished = asyncio.Event()
    marks: dict[str, float] = {}
    applied = [0]

    def check_done() -> None:
        marks["progress"] = cpu_seconds()  # the CPU clock at the last pop or update (reported if some are lost)
        if "end" in marks and pops.published >= 2 * calls and applied[0] >= 3 * calls:
            finished.set()

    class CountingRouteStore(RouteStore):  # counts the agent device updates applied (one at a time or batched)
        async def device(self, agent: str, event: str, wrap_up: float, uid: str = "") -> tuple[str, str]:
            result = await super().device(agent, event, wrap_up, uid)
            applied[0] += 1
            check_done()
            return result

        async def devices(self, updates: list[tuple[str, str]], wrap_up: float) -> list[tuple[str, str] | Exception]:
            results: list[tuple[str, str] | Exception] = await super().devices(updates, wrap_up)  # type: ignore[misc]
            applied[0] += len(updates)
            check_done()
            return results

    agents = {f"agent{k}": AgentSeed(f"agent{k}", f"Agent {k}", f"PJSIP/agent{k}", {"billing": 5}, ("en",))
              for k in range(AGENTS)}
    config = RoutingConfig(skills=frozenset({"billing"}), segments={"standard": Segment(10, 0)},
                           relaxation={"default": ()}, wrap_up=0, agents=agents)
    router = CallRouter(CountingRouteStore(redis), lambda: config, loop, logging.getLogger("router"))
    from switchboard.router import call_router as router_module
    if hasattr(router_module, "fold"):  # updates folded away (they change nothing) count as applied
        plain_fold = router_module.fold

        def counting_fold(updates: list[tuple[str, str]]) -> list[tuple[str, str]]:
            folded = plain_fold(updates)
            applied[0] += len(updates) - len(folded)
            return folded
        router_module.fold = counting_fold  # type: ignore[attr-defined]
    await router.start()
    for agent in agents:
        await router.agent_action(agent, "login")

    try:  # this checkout's resolver, as its service wires it
        from switchboard.router.endpoint_map import EndpointMap
        resolver = EndpointMap(router.store, router.config)
    except ImportError:
        class RouterEndpoints:
            async def agent_for_endpoint(self, endpoint: str) -> str | None:
                return await router.store.agent_for_endpoint(endpoint)
        resolver = RouterEndpoints()  # type: ignore[assignment]

    async def resync(client: AMIClient) -> None:
        await client.send_action("DeviceStateList")

    import dataclasses
    pause = {"read_pause": float(os.environ.get("AMI_COST_READ_PAUSE", "0.05"))} \
        if "read_pause" in {f.name for f in dataclasses.fields(AMISettings)} else {}
    ami = AMIClient(AMISettings("127.0.0.1", port, "switchboard", "x", ping_interval=30, ping_timeout=10,
                                action_timeout=5, reconnect_initial=0.1, reconnect_max=1, event_queue_size=100000,
                                events_mask="system,call,user", **pause),  # type: ignore[arg-type]
                    loop=loop, resync=resync, logger=logging.getLogger("ami"), on_state=lambda up: None)

    async def user_event(fields: dict[str, str] | object) -> None:  # as switchboard/service.py wires it
        ami.post_action("UserEvent", fields)  # type: ignore[arg-type]

    extra: dict[str, object] = {"reader": store} if "reader" in inspect.signature(ScreenPops).parameters else {}
    if recent and "recent" in inspect.signature(ScreenPops).parameters:
        extra["recent"] = recent["recent"]
    if pause.get("read_pause", 0) > 0 and "batch_window" in inspect.signature(ScreenPops).parameters:
        extra["batch_window"] = 0.0  # as the service wires it: the reader's passes are the batches
    pops = ScreenPops(store, store, AgentStreams(), store.publish_screen_pop, user_event,
                      logging.getLogger("pops"), on_published=lambda kind: check_done(), resolver=resolver, **extra)
    pops.start(loop)

    def on_event(event: AMIEvent) -> None:  # switchboard/service.py `_on_event`
        if event.name == "DeviceStateChange":
            router.feed_device(event.get("Device"), event.get("State"))
        pops.on_ami_event(event.name, event.fields)
        if event.name == "UserEvent":
            name = event.get("UserEvent")
            if name == START:
                marks["start"] = cpu_seconds()
                if PROFILE is not None:
                    PROFILE.enable()
            elif name == END:
                marks["end"] = cpu_seconds()
                check_done()

    async def dispatch() -> None:
        async for event in ami.events():
            on_event(event)

    await ami.start()
    await ami.wait_connected()
    consumer = loop.create_task(dispatch())
    ami.post_action("BenchReady", {})
    while not finished.is_set():  # a pop dropped on a full queue never comes: give up 10 s after the last progress
        seen = marks.get("progress")
        try:
            await asyncio.wait_for(finished.wait(), 10)
        except asyncio.TimeoutError:
            if "end" in marks and marks.get("progress") == seen:
                break
    if PROFILE is not None:
        PROFILE.disable()
    cpu = (cpu_seconds() if finished.is_set() else marks["progress"]) - marks["start"]
    print(f"cpu={cpu} pops={pops.published} devices={applied[0]}", flush=True)
    consumer.cancel()
    await ami.stop()
    await router.stop()


def consume(kind: str, port: int, redis_url: str, calls: int) -> None:
    import uvloop

    runner = consume_bare(port, calls) if kind == "bare" else consume_service(port, redis_url, calls)
    uvloop.run(runner)
    if PROFILE is not None:
        PROFILE.dump_stats(f"{os.environ['AMI_COST_PROFILE']}.{kind}")


# --- the driver -------------------------------------------------------------------------------------------------
def build_stream(calls: int, read: set[str], rules: list[tuple[str, str, str]],
                 rate: float) -> tuple[list[tuple[float, bytes]], int]:
    """(due time in seconds, encoded event) in time order: call n starts at n / rate, its events spread over
    LIFETIME; the start and end markers first and last."""
    marker = lambda name: [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", name)]  # noqa: E731
    timed: list[tuple[float, int, bytes]] = []
    count = 0
    for n in range(calls):
        events = call_events(n)
        for k, event in enumerate(events):
            if passes(event, read, rules):
                timed.append((n / rate + LIFETIME * k / len(events), len(timed), encode(event)))
                count += 1
    timed.sort()
    last = timed[-1][0] if timed else 0.0
    return [(0.0, encode(marker(START))), *[(t, chunk) for t, _, chunk in timed],
            (last, encode(marker(END)))], count


async def run_one(kind: str, python: str, stream: list[tuple[float, bytes]], read: set[str],
                  rules: list[tuple[str, str, str]], redis_url: str, calls: int) -> float:
    fake = FakeManager(stream, read, rules)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(python, __file__, "consume", kind, str(port), redis_url,
                                                str(calls), stdout=asyncio.subprocess.PIPE,
                                                env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 300)).decode()
    finally:
        try:
            await asyncio.wait_for(proc.wait(), 20)  # it closes its links (and writes its profile) first
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
        server.close()
    fields = dict(part.split("=") for part in line.split())
    if kind != "bare" and (int(fields["pops"]) < 2 * calls or int(fields["devices"]) < 3 * calls):
        print(f"  note: a {python} run lost work: {fields['pops']} of {2 * calls} pops, {fields['devices']} of "
              f"{3 * calls} device updates (its CPU is counted to its last progress)", flush=True)
    return float(fields["cpu"]) / calls * 1e6


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def python_of(tree: Path) -> str:
    """The tree's own virtualenv's Python (its dependencies and its editable switchboard)."""
    own = tree / ".venv" / "bin" / "python"
    if not own.exists():
        raise SystemExit(f"{tree} has no .venv/bin/python (python3 -m venv .venv && .venv/bin/pip install -e .)")
    return str(own)


async def main_async(calls: int, rounds: int, rate: float, baseline: str | None, which: list[str],
                     label: str) -> None:
    read, rules = shipped_filter()
    streams = {"filtered": build_stream(calls, read, rules, rate),
               "unfiltered": build_stream(calls, FORMER_READ, [], rate)}
    streams = {name: streams[name] for name in which}
    pythons = {"bare": sys.executable, "service": sys.executable}
    if baseline:
        pythons["baseline"] = baseline
    port = free_port()
    loads: list[tuple[float, float, float]] = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                                  "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)  # waiting for a process that offers no readiness event
            url = f"redis://127.0.0.1:{port}/0"
            results: dict[tuple[str, str], list[float]] = {}
            kinds = [(kind, stream) for stream in streams for kind in pythons]
            for r in range(rounds):
                for kind, stream in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                    chunks, _ = streams[stream]
                    c_read, c_rules = (read, rules) if stream == "filtered" else (FORMER_READ, [])
                    consumer = "bare" if kind == "bare" else "service"
                    results.setdefault((kind, stream), []).append(
                        await run_one(consumer, pythons[kind], chunks, c_read, c_rules, url, calls))
                loads.append(os.getloadavg())
        finally:
            redis.kill()
            redis.wait()
    print(f"AMI handling per call, {calls} calls per run at {rate:g} calls/s ({AGENTS} agents), {rounds} "
          f"interleaved rounds (medians), uvloop, {os.cpu_count()} CPUs; read pause "
          f"{os.environ.get('AMI_COST_READ_PAUSE', '0.05')} s where the code has one; baseline = {label}")
    print("  load average (1, 5, 15 min) per round: " + "; ".join(f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in loads))
    for stream in streams:
        events = streams[stream][1] / calls
        bare = median(results[("bare", stream)])
        line = f"  {stream:10} {events:4.1f} events/call   bare parse {bare:7.1f} us/call"
        for kind in pythons:
            if kind == "bare":
                continue
            value = median(results[(kind, stream)])
            verdict = "meets" if value <= 300 else "MISSES"
            line += f"   {kind} {value:7.1f} us/call ({value / bare:.1f}x bare; {verdict} 300 us)"
        print(line)
        if "baseline" in pythons:
            ours, theirs = median(results[("service", stream)]), median(results[("baseline", stream)])
            print(f"    service / baseline: {ours / theirs:.2f}x ({ours:.1f} vs {theirs:.1f} us/call)")
        print("    runs (us/call): " + "; ".join(f"{kind} " + " ".join(f"{v:.0f}" for v in results[(kind, stream)])
                                          for kind in pythons))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=200.0, help="calls started per second")
    parser.add_argument("--baseline", help="another checkout's interpreter (its installed switchboard) to compare")
    parser.add_argument("--baseline-tree", type=Path, help="another checkout (its .venv runs its code), e.g. main's")
    parser.add_argument("--read-pause", type=float, default=0.05, help="ami.read_pause for the service consumers")
    parser.add_argument("--streams", default="filtered,unfiltered", help="which streams to replay")
    args = parser.parse_args()
    os.environ["AMI_COST_READ_PAUSE"] = str(args.read_pause)  # the consumers (child processes) read it
    baseline = python_of(args.baseline_tree.resolve()) if args.baseline_tree else args.baseline
    label = str(args.baseline_tree) if args.baseline_tree else (args.baseline or "none")
    asyncio.run(main_async(args.calls, args.rounds, args.rate, baseline, args.streams.split(","), label))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "consume":
        consume(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        main()

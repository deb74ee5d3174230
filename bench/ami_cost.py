"""AMI handling cost per call: the service's AMI side next to bare parsing of the same stream.

A fake Asterisk manager (in this driver) replays a representative per-call event sequence of Asterisk 22 for an
inbound call that is routed to an agent (channels created, states, device states, dial begin/end, bridge, music
on hold, hang-ups) for N calls. The consumer runs in its own process on uvloop.

The replay is paced at 1,000 calls/s (far above a real knee) so that the service's bounded screen-pop queue is
never the limit. Consumers:

* `bare`       — frames each message on the blank line and splits it into a dict; nothing else (the floor);
* `service`    — Switchboard's AMI side as `switchboard/service.py` wires it: `cti.ami_client.AMIClient`, the one
                 ordered consumer (device states to the router's feed — a counter here, the router's cost is its
                 own —, dial events to `cti.screen_pop.ScreenPops` reading the call record and customer through
                 the real `CtiStore` on a real redis-server, publishing for integrations and sending the AMI
                 UserEvent), until every screen pop of the N calls is published.

Two streams: `filtered` is what the shipped `asterisk-conf/include/manager_switchboard.conf` lets through (its `eventfilter(...)`
include rules and `read=` classes, evaluated here), `unfiltered` what the former configuration sent (every
event of the read classes system, call, agent, user, reporting). The service's own UserEvents come back as
events only when the filter lets them.

Service CPU per call is the consumer process's user + system CPU (from /proc) between the first replayed event
and the last published pop, divided by N. Rounds are interleaved; medians are reported, with the ratio to bare.
Target (issue 10): AMI handling <= 0.3 ms per call.

    python bench/ami_cost.py [--calls 2000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
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
PACE = 10  # calls replayed per 10 ms (1,000 calls/s: a burst would overflow the screen-pop queue by design)

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
    caller, agent = f"PJSIP/callers-{2 * n:08x}", f"PJSIP/agent1-{2 * n + 1:08x}"
    c = lambda state: channel_fields(caller, uid, state, "+441632960123", "2000")  # noqa: E731
    a = lambda state: channel_fields(agent, aid, state, "agent1", "s")  # noqa: E731
    dest = [(f"Dest{k}", v) for k, v in a("Ringing")]
    events: list[Fields] = [
        [("Event", "Newchannel"), *c("Ring")],
        [("Event", "DeviceStateChange"), ("Device", "PJSIP/callers"), ("State", "INUSE")],
        [("Event", "Newstate"), *c("Up")],
        [("Event", "MusicOnHoldStart"), *c("Up"), ("Class", "default")],
        [("Event", "MusicOnHoldStop"), *c("Up")],
        [("Event", "Newchannel"), *a("Down")],
        [("Event", "NewCallerid"), *a("Down"), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        [("Event", "DialBegin"), *c("Up"), *dest, ("DialString", "agent1")],
        [("Event", "Newstate"), *a("Ringing")],
        [("Event", "DeviceStateChange"), ("Device", "PJSIP/agent1"), ("State", "RINGING")],
        [("Event", "NewConnectedLine"), *c("Up")],
        [("Event", "Newstate"), *a("Up")],
        [("Event", "DeviceStateChange"), ("Device", "PJSIP/agent1"), ("State", "INUSE")],
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
        [("Event", "DeviceStateChange"), ("Device", "PJSIP/agent1"), ("State", "NOT_INUSE")],
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

    def __init__(self, stream: list[bytes], read: set[str], rules: list[tuple[str, str, str]]) -> None:
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
                                         ("Device", "PJSIP/agent1"), ("State", "NOT_INUSE")]))
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
                    for n, chunk in enumerate(self.stream):  # paced: PACE calls per 10 ms
                        writer.write(chunk)
                        if n % PACE == 0:
                            await writer.drain()
                            await asyncio.sleep(0.01)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


# --- the consumers (run as `ami_cost.py consume KIND AMI_PORT REDIS_URL CALLS`) ---------------------------------
def cpu_seconds() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    import logging

    from switchboard.cti.ami_client import AMIClient, AMIEvent, AMISettings
    from switchboard.cti.call_context import CallContext
    from switchboard.cti.cti_store import CtiStore
    from switchboard.cti.customer import Customer, CustomerRecord
    from switchboard.cti.screen_pop import AgentStreams, ScreenPops

    logging.basicConfig(level=logging.ERROR)
    loop = asyncio.get_running_loop()
    store = CtiStore.from_url(redis_url, 2.0)
    await store.write([CustomerRecord(Customer("c1", "Ada", "vip", "en", "A1", ("+441632960123",)))])
    for n in range(calls):  # the call records the IVR would have written
        await store.save_call(CallContext(f"1700000000.{2 * n}", flow="main", caller="+441632960123",
                                          started_at=time.time(), customer_id="c1", segment="vip",
                                          confidence="ani", path=("main.welcome", "main.menu"),
                                          intents=("billing",)))
    device_changes = 0
    finished = asyncio.Event()
    marks: dict[str, float] = {}

    async def resync(client: AMIClient) -> None:
        await client.send_action("DeviceStateList")

    ami = AMIClient(AMISettings("127.0.0.1", port, "switchboard", "x", ping_interval=30, ping_timeout=10,
                                action_timeout=5, reconnect_initial=0.1, reconnect_max=1, event_queue_size=100000,
                                events_mask="system,call,user"),
                    loop=loop, resync=resync, logger=logging.getLogger("ami"), on_state=lambda up: None)

    def published(kind: str) -> None:
        if pops.published >= 2 * calls and "end" in marks:
            finished.set()

    async def user_event(fields: dict[str, str] | object) -> None:  # as switchboard/service.py wires it
        ami.post_action("UserEvent", fields)  # type: ignore[arg-type]

    pops = ScreenPops(store, store, AgentStreams(), store.publish_screen_pop, user_event,
                      logging.getLogger("pops"), on_published=published)
    pops.start(loop)

    def on_event(event: AMIEvent) -> None:  # switchboard/service.py `_on_event`, the router's feed counted
        nonlocal device_changes
        if event.name == "DeviceStateChange":
            device_changes += 1
        pops.on_ami_event(event.name, event.fields)
        if event.name == "UserEvent":
            name = event.get("UserEvent")
            if name == START:
                marks["start"] = cpu_seconds()
            elif name == END:
                marks["end"] = cpu_seconds()
                if pops.published >= 2 * calls:
                    finished.set()

    async def dispatch() -> None:
        async for event in ami.events():
            on_event(event)

    await ami.start()
    await ami.wait_connected()
    consumer = loop.create_task(dispatch())
    ami.post_action("BenchReady", {})
    await finished.wait()
    print(f"cpu={cpu_seconds() - marks['start']} pops={pops.published} devices={device_changes}", flush=True)
    consumer.cancel()
    await ami.stop()


def consume(kind: str, port: int, redis_url: str, calls: int) -> None:
    import uvloop

    runner = consume_bare(port, calls) if kind == "bare" else consume_service(port, redis_url, calls)
    uvloop.run(runner)


# --- the driver -------------------------------------------------------------------------------------------------
def build_stream(calls: int, read: set[str], rules: list[tuple[str, str, str]]) -> tuple[list[bytes], int]:
    marker = lambda name: [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", name)]  # noqa: E731
    chunks, count = [encode(marker(START))], 0
    for n in range(calls):
        kept = [e for e in call_events(n) if passes(e, read, rules)]
        count += len(kept)
        chunks.append(b"".join(encode(e) for e in kept))
    chunks.append(encode(marker(END)))
    return chunks, count


async def run_one(kind: str, stream: list[bytes], read: set[str], rules: list[tuple[str, str, str]],
                  redis_url: str, calls: int) -> float:
    fake = FakeManager(stream, read, rules)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "consume", kind, str(port), redis_url,
                                                str(calls), stdout=asyncio.subprocess.PIPE,
                                                env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        server.close()
    fields = dict(part.split("=") for part in line.split())
    return float(fields["cpu"]) / calls * 1e6


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


async def main_async(calls: int, rounds: int) -> None:
    read, rules = shipped_filter()
    streams = {"filtered": build_stream(calls, read, rules), "unfiltered": build_stream(calls, FORMER_READ, [])}
    port = free_port()
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
            kinds = [("bare", "filtered"), ("service", "filtered"), ("bare", "unfiltered"), ("service", "unfiltered")]
            for r in range(rounds):
                for kind, stream in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                    chunks, _ = streams[stream]
                    c_read, c_rules = (read, rules) if stream == "filtered" else (FORMER_READ, [])
                    results.setdefault((kind, stream), []).append(
                        await run_one(kind, chunks, c_read, c_rules, url, calls))
        finally:
            redis.kill()
            redis.wait()
    print(f"AMI handling per call, {calls} calls per run, {rounds} interleaved rounds (medians), uvloop, "
          f"{os.cpu_count()} CPUs")
    for stream in ("filtered", "unfiltered"):
        events = streams[stream][1] / calls
        bare, service = median(results[("bare", stream)]), median(results[("service", stream)])
        verdict = "meets" if service <= 300 else "MISSES"
        print(f"  {stream:10} {events:4.1f} events/call   bare parse {bare:7.1f} us/call   "
              f"service {service:7.1f} us/call ({service / bare:.1f}x bare; {verdict} the 300 us target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main_async(args.calls, args.rounds))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "consume":
        consume(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        main()

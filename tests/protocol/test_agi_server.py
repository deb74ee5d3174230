"""Protocol tests: the FastAGI listener over loopback against a scripted fake Asterisk, one test per fault."""
from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry

from switchboard.ivr.agi_server import LISTEN_BACKLOG, AGIServer
from switchboard.ivr.channel import CallerHungUp, Channel
from switchboard.metrics.service_metrics import ServiceMetrics
from tests.protocol.fake_asterisk import WAIT, FakeAsterisk, RecordingEvents

Flow = Callable[[Channel], Awaitable[None]]


class Results:
    """What the test flows saw, awaitable by key."""

    def __init__(self) -> None:
        self.values: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self.release = asyncio.Event()  # lets the `pause` flow go on

    def put(self, key: str, value: object) -> None:
        self.values.put_nowait((key, value))

    async def get(self) -> tuple[str, object]:
        return await asyncio.wait_for(self.values.get(), WAIT)


@pytest.fixture
def results() -> Results:
    return Results()


@pytest.fixture
def events() -> RecordingEvents:
    return RecordingEvents()


def build_routes(results: Results) -> dict[str, Flow]:
    async def answer_only(channel: Channel) -> None:
        await channel.answer()
        results.put("answered", channel.env.uniqueid)

    async def hangup_aware(channel: Channel) -> None:
        await channel.answer()
        try:
            digit = await channel.stream_file("hello-world", "123")
            results.put("digit", digit)
        except CallerHungUp:
            results.put("hung_up", channel.hung_up)
            results.put("dialstatus", await channel.get_variable("DIALSTATUS"))

    async def read_var(channel: Channel) -> None:
        results.put("value", await channel.get_variable("CALLERID(name)"))

    async def unsafe(channel: Channel) -> None:
        await channel.set_variable("NAME", "Mallory\nEXEC System rm")

    async def bad_usage(channel: Channel) -> None:
        await channel.command("STREAM FILE")

    async def dial_after_hangup(channel: Channel) -> None:
        await channel.answer()
        await channel.until_hangup()
        for attempt in (lambda: channel.exec("Dial", "PJSIP/agent1", "20", "g"),
                        lambda: channel.set_variable("SWITCHBOARD_AGENT", "agent1"),
                        lambda: channel.stream_file("hello-world")):
            try:
                await attempt()
                results.put("sent", True)
            except CallerHungUp:
                results.put("refused", True)
        results.put("dialstatus", await channel.get_variable("DIALSTATUS"))

    async def pause(channel: Channel) -> None:
        await channel.answer()
        results.put("answered", channel.env.uniqueid)
        await results.release.wait()  # no command in flight meanwhile

    async def prompt(channel: Channel) -> None:
        results.put("digit", await channel.stream_file("hello-world", "1"))

    return {"answer": answer_only, "hangup": hangup_aware, "var": read_var, "unsafe": unsafe,
            "usage": bad_usage, "dead": dial_after_hangup, "pause": pause, "prompt": prompt}


@pytest.fixture
async def server(events: RecordingEvents, results: Results) -> AsyncIterator[AGIServer]:
    srv = AGIServer(asyncio.get_running_loop(), build_routes(results), allowed_peers=["127.0.0.1/32"],
                    header_timeout=0.3, command_timeout=0.3, events=events, logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.stop(1.0)


async def normal_call(server: AGIServer, results: Results, uniqueid: str = "2.2") -> None:
    """A well-behaved call to the `answer` flow, checked to the end."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("answer", uniqueid=uniqueid)
    await peer.expect("ANSWER", "200 result=0")
    assert await results.get() == ("answered", uniqueid)
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS DONE", "200 result=1")
    assert await peer.expect_eof() == b""
    peer.close()


async def test_close_mid_header_then_next_call_served(server: AGIServer, events: RecordingEvents,
                                                      results: Results) -> None:
    """A peer that closes half-way through the header is counted, and the next call is served normally."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send(b"".join(FakeAsterisk.header_lines()[:3]))
    peer.close()
    assert await events.next_error() == "header_eof"
    await normal_call(server, results)
    assert await events.next_outcome() == "completed"
    assert events.counts["started"] == 1


async def test_health_check_connect_and_close(server: AGIServer, events: RecordingEvents, results: Results) -> None:
    """A bare connect-and-close (nc -z) costs a counter and nothing else."""
    peer = await FakeAsterisk.connect(server.port)
    peer.close()
    assert await events.next_error() == "header_eof"
    await normal_call(server, results)


async def test_header_timeout(server: AGIServer, events: RecordingEvents) -> None:
    """A peer that sends half a header and stalls is closed after the header timeout."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send(FakeAsterisk.header_lines()[0])
    assert await peer.expect_eof() == b""
    assert await events.next_error() == "header_timeout"
    assert events.counts["started"] == 0


async def test_close_mid_command(server: AGIServer, events: RecordingEvents, results: Results) -> None:
    """Asterisk closing while a command waits ends that call as a hang-up; the next call is unaffected."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("answer")
    assert await peer.read_command() == "ANSWER"
    peer.close()
    assert await events.next_outcome() == "hangup"
    assert events.counts["error:command_eof"] == 1
    await normal_call(server, results)


async def test_hangup_between_replies_does_not_shift_replies(server: AGIServer, events: RecordingEvents,
                                                             results: Results) -> None:
    """An unsolicited HANGUP line is not taken as a reply: every later command gets its own reply."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("hangup")
    await peer.expect("ANSWER", "200 result=0")
    await peer.expect('STREAM FILE hello-world 123', "HANGUP", "200 result=-1 endpos=0")
    assert await results.get() == ("hung_up", True)
    await peer.expect("GET VARIABLE DIALSTATUS", "200 result=1 (ANSWER)")
    assert await results.get() == ("dialstatus", "ANSWER")
    assert await peer.expect_eof() == b""  # no DONE on a hung-up channel
    assert await events.next_outcome() == "completed"


async def test_hangup_glued_to_reply(server: AGIServer, results: Results) -> None:
    """`HANGUP200 result=-1` counts as a hang-up and as the reply to the pending command."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("hangup")
    await peer.expect("ANSWER", "200 result=0")
    await peer.expect('STREAM FILE hello-world 123', "HANGUP200 result=-1 endpos=0")
    assert await results.get() == ("hung_up", True)
    await peer.expect("GET VARIABLE DIALSTATUS", "200 result=0")
    assert await results.get() == ("dialstatus", None)
    assert await peer.expect_eof() in (b"", b"SET VARIABLE SWITCHBOARD_STATUS DONE\n")


async def test_511_after_hangup(server: AGIServer, events: RecordingEvents) -> None:
    """511 on a dead channel raises CallerHungUp in the flow; the session ends as a hang-up."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("answer")
    await peer.expect("ANSWER", "511 Command Not Permitted on a dead channel or intercept routine")
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "hangup"


async def test_no_command_after_hangup_notice_but_reading_dialstatus(server: AGIServer, events: RecordingEvents,
                                                                     results: Results) -> None:
    """After a HANGUP line, EXEC Dial and other commands are refused locally; only GET VARIABLE is still sent."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("dead")
    await peer.expect("ANSWER", "200 result=0")
    await peer.send(b"HANGUP\n")
    assert [await results.get() for _ in range(3)] == [("refused", True)] * 3
    await peer.expect("GET VARIABLE DIALSTATUS", "200 result=1 (CANCEL)")  # the next line the peer reads
    assert await results.get() == ("dialstatus", "CANCEL")
    assert await peer.expect_eof() == b""  # no SWITCHBOARD_STATUS on a hung-up channel either
    assert await events.next_outcome() == "completed"


async def test_hangup_before_first_command_sends_nothing(server: AGIServer, events: RecordingEvents) -> None:
    """A HANGUP line right after the header: the flow's first command is refused locally, nothing is sent."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send(b"".join(FakeAsterisk.header_lines("answer")) + b"HANGUP\n")
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "hangup"


async def test_multiline_520_is_one_reply(server: AGIServer, events: RecordingEvents) -> None:
    """A 520 usage block is one failed reply; the call is sent to the fallback with the next reply matched."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("usage")
    await peer.expect("STREAM FILE", "520-Invalid command syntax.  Proper usage follows:",
                      "Usage: STREAM FILE <filename> <escape digits> [sample offset]",
                      "200 result=0 is part of the usage text", "520 End of proper usage.")
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS FAILED", "200 result=1")
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "error"
    assert events.counts["error:unsolicited_reply"] == 0


async def test_100_trying_is_skipped(server: AGIServer, results: Results) -> None:
    """`100 Trying` before the real reply is skipped, not returned."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("var")
    await peer.expect('GET VARIABLE CALLERID(name)', "100 result=0 Trying...", "200 result=1 (Zo\u00eb Smith)")
    assert await results.get() == ("value", "Zo\u00eb Smith")
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS DONE", "200 result=1")
    assert await peer.expect_eof() in (b"", b"SET VARIABLE SWITCHBOARD_STATUS DONE\n")


async def test_peer_that_never_replies(server: AGIServer, events: RecordingEvents, results: Results) -> None:
    """A command with no reply times out: that connection is closed and counted; others go on."""
    silent = await FakeAsterisk.connect(server.port)
    await silent.send_header("answer", uniqueid="1.1")
    assert await silent.read_command() == "ANSWER"
    await normal_call(server, results, uniqueid="3.3")  # served while the silent call waits
    assert await events.next_outcome() == "completed"
    assert await silent.expect_eof() == b""
    assert await events.next_outcome() == "timeout"
    assert events.counts["error:command_timeout"] == 1


async def test_peer_outside_allow_list(events: RecordingEvents, results: Results) -> None:
    """A peer outside the allow-list is closed before any byte is read, counted, and runs no flow."""
    srv = AGIServer(asyncio.get_running_loop(), build_routes(results), allowed_peers=["10.0.0.0/8"],
                    header_timeout=1, command_timeout=1, events=events, logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    try:
        peer = await FakeAsterisk.connect(srv.port)
        assert await events.next_error() == "rejected"
        assert await peer.expect_eof() == b""  # closed by the service, nothing sent
        assert events.counts["started"] == 0
    finally:
        await srv.stop(1)


async def test_argument_with_newline_is_refused(server: AGIServer, events: RecordingEvents) -> None:
    """A value carrying a newline is never sent; the call goes to the fallback instead."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("unsafe")
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS FAILED", "200 result=1")
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "error"


async def test_unknown_script_goes_to_fallback(server: AGIServer, events: RecordingEvents) -> None:
    """A script no flow serves marks the call FAILED so the dialplan falls back."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send_header("nosuchflow")
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS FAILED", "200 result=1")
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "no_route"


async def test_header_and_first_reply_in_one_segment(server: AGIServer, results: Results) -> None:
    """Bytes that arrive glued to the header's blank line are read as replies, not lost."""
    peer = await FakeAsterisk.connect(server.port)
    await peer.send(b"".join(FakeAsterisk.header_lines("var")) + b"100 result=0 Trying...\n")
    await peer.expect('GET VARIABLE CALLERID(name)', "200 result=1 (x)")
    assert await results.get() == ("value", "x")
    assert await peer.expect_eof() in (b"", b"SET VARIABLE SWITCHBOARD_STATUS DONE\n")


async def test_stop_lets_active_call_finish(events: RecordingEvents, results: Results) -> None:
    """On stop, new connections are refused while an active call finishes within the grace period."""
    srv = AGIServer(asyncio.get_running_loop(), build_routes(results), allowed_peers=["127.0.0.1/32"],
                    header_timeout=1, command_timeout=5, events=events, logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    port = srv.port
    peer = await FakeAsterisk.connect(port)
    await peer.send_header("answer")
    assert await peer.read_command() == "ANSWER"
    stopping = asyncio.ensure_future(srv.stop(5))
    await asyncio.sleep(0)  # let stop() close the listening socket before the next connect
    with pytest.raises(OSError):
        await FakeAsterisk.connect(port)
    assert not stopping.done()
    await peer.send(b"200 result=0\n")
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS DONE", "200 result=1")
    await asyncio.wait_for(stopping, WAIT)
    assert await events.next_outcome() == "completed"
    assert await peer.expect_eof() == b""


async def test_stop_cuts_calls_after_grace(events: RecordingEvents, results: Results) -> None:
    """A call still running when the grace period ends is cut, and stop() returns."""
    srv = AGIServer(asyncio.get_running_loop(), build_routes(results), allowed_peers=["127.0.0.1/32"],
                    header_timeout=1, command_timeout=30, events=events, logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    peer = await FakeAsterisk.connect(srv.port)
    await peer.send_header("answer")
    assert await peer.read_command() == "ANSWER"
    await asyncio.wait_for(srv.stop(0.1), WAIT)
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "hangup"


async def test_listener_accept_queue_holds_a_burst_of_calls(server: AGIServer) -> None:
    """The listening socket's accept queue is LISTEN_BACKLOG deep (asyncio's default 100 overflowed in a burst)."""
    listing = await asyncio.create_subprocess_exec("ss", "-ltnH", f"sport = :{server.port}",
                                                   stdout=asyncio.subprocess.PIPE)
    out, _ = await listing.communicate()
    send_q = [int(line.split()[2]) for line in out.decode().splitlines() if line.strip()]
    assert send_q == [min(LISTEN_BACKLOG, int(open("/proc/sys/net/core/somaxconn").read()))]


@pytest.fixture
async def patient_server(events: RecordingEvents, results: Results) -> AsyncIterator[AGIServer]:
    """A server whose timeouts (30 s) are far beyond any test: only the test's own `overdue()` calls fail anything."""
    srv = AGIServer(asyncio.get_running_loop(), build_routes(results), allowed_peers=["127.0.0.1/32"],
                    header_timeout=30, command_timeout=30, events=events, logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.stop(1.0)


async def test_overdue_sweep_fails_only_the_command_past_its_deadline(patient_server: AGIServer,
                                                                      events: RecordingEvents,
                                                                      results: Results) -> None:
    """A sweep fails the call whose command is past its deadline (closed with no DONE: the dialplan's fallback);
    a call whose command was answered in time is untouched and ends DONE."""
    slow = await FakeAsterisk.connect(patient_server.port)
    await slow.send_header("answer", uniqueid="1.1")
    assert await slow.read_command() == "ANSWER"  # never answered
    fast = await FakeAsterisk.connect(patient_server.port)
    await fast.send_header("pause", uniqueid="2.2")
    await fast.expect("ANSWER", "200 result=0")
    assert await results.get() == ("answered", "2.2")
    assert patient_server.overdue(perf_counter() + 1) == 0  # nothing is due yet
    assert patient_server.overdue(perf_counter() + 31) == 1  # the slow call's ANSWER only
    assert await slow.expect_eof() == b""  # no SWITCHBOARD_STATUS=DONE: Asterisk takes the fallback
    assert await events.next_outcome() == "timeout"
    assert events.counts["error:command_timeout"] == 1
    results.release.set()
    await fast.expect("SET VARIABLE SWITCHBOARD_STATUS DONE", "200 result=1")
    assert await fast.expect_eof() == b""
    assert await events.next_outcome() == "completed"


async def test_overdue_sweep_gives_a_prompt_its_allowance(patient_server: AGIServer, events: RecordingEvents,
                                                          results: Results) -> None:
    """A prompt's deadline includes its allowance: a sweep past the command timeout leaves it playing."""
    peer = await FakeAsterisk.connect(patient_server.port)
    await peer.send_header("prompt")
    assert await peer.read_command() == "STREAM FILE hello-world 1"
    assert patient_server.overdue(perf_counter() + 31) == 0
    await peer.send(b"200 result=49 endpos=100\n")
    assert await results.get() == ("digit", "1")
    await peer.expect("SET VARIABLE SWITCHBOARD_STATUS DONE", "200 result=1")
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "completed"


async def test_overdue_sweep_fails_a_stalled_status_reply(patient_server: AGIServer, events: RecordingEvents,
                                                          results: Results) -> None:
    """The listener's own SWITCHBOARD_STATUS command has a deadline too: unanswered, the call ends as a timeout."""
    peer = await FakeAsterisk.connect(patient_server.port)
    await peer.send_header("answer")
    await peer.expect("ANSWER", "200 result=0")
    assert await results.get() == ("answered", "1700000000.1")
    assert await peer.read_command() == "SET VARIABLE SWITCHBOARD_STATUS DONE"
    assert patient_server.overdue(perf_counter() + 31) == 1
    assert await peer.expect_eof() == b""
    assert await events.next_outcome() == "timeout"


async def test_command_timings_fold_into_the_histogram(results: Results) -> None:
    """Each command of each call is in the latency histogram once the listener folds its timings (in bulk)."""
    registry = CollectorRegistry()
    srv = AGIServer(asyncio.get_running_loop(), build_routes(results), allowed_peers=["127.0.0.1/32"],
                    header_timeout=30, command_timeout=30, events=ServiceMetrics(registry),
                    logger=logging.getLogger("agi-test"))
    await srv.start("127.0.0.1", 0)
    try:
        for n in range(5):
            await normal_call(srv, results, uniqueid=f"{n}.1")  # ANSWER, then SET VARIABLE SWITCHBOARD_STATUS
        srv.fold_timings()
        assert all(seconds == [] for seconds in srv.timings.values())
        count = "switchboard_agi_command_duration_seconds_count"
        assert registry.get_sample_value(count, {"command": "ANSWER"}) == 5
        assert registry.get_sample_value(count, {"command": "SET VARIABLE"}) == 5
        assert registry.get_sample_value("switchboard_agi_sessions_total", {"outcome": "completed"}) == 5
        assert registry.get_sample_value("switchboard_agi_sessions_active") == 0
    finally:
        await srv.stop(1.0)

"""Protocol tests: the AMI client over loopback against a scripted fake Asterisk manager, one test per behaviour."""
from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import replace
from typing import AsyncIterator, Awaitable, Callable, TypeVar

import pytest

from switchboard.cti.ami_client import (AMIActionFailed, AMIActionTimeout, AMIClient, AMIError, AMIEvent, AMINotConnected,
                            AMISettings, UnsafeAMIValue, backoff_delays)
from tests.protocol.fake_ami import WAIT, FakeAMI, encode

SECRET = "s3cret-Do-Not-Log-7f3a"
T = TypeVar("T")


async def waited(aw: Awaitable[T], timeout: float = WAIT) -> T:
    return await asyncio.wait_for(aw, timeout)


class Harness:
    """One client wired to recording collaborators: resync calls, state edges and backoff delays are awaitable."""

    def __init__(self, settings: AMISettings, random: Callable[[], float] = lambda: 1.0,
                 resync: Callable[[AMIClient], Awaitable[None]] | None = None) -> None:
        self.states: asyncio.Queue[bool] = asyncio.Queue()
        self.resyncs: asyncio.Queue[int] = asyncio.Queue()
        self.delays: asyncio.Queue[float] = asyncio.Queue()
        self.resync_count = 0
        self.extra_resync = resync
        self.logger = logging.getLogger("test.ami")
        self.client = AMIClient(settings, loop=asyncio.get_running_loop(), resync=self._resync,
                                logger=self.logger, on_state=self.states.put_nowait, random=random,
                                sleep=self._sleep)
        self._events: AsyncIterator[AMIEvent] = self.client.events()

    async def _resync(self, client: AMIClient) -> None:
        self.resync_count += 1
        if self.extra_resync is not None:
            await self.extra_resync(client)
        self.resyncs.put_nowait(self.resync_count)

    async def _sleep(self, delay: float) -> None:
        self.delays.put_nowait(delay)
        await asyncio.sleep(0.001)

    async def next_state(self) -> bool:
        return await asyncio.wait_for(self.states.get(), WAIT)

    async def next_event(self, skip_booted: bool = True) -> AMIEvent:
        while True:
            event = await asyncio.wait_for(self._events.__anext__(), WAIT)
            if not (skip_booted and event.name == "FullyBooted"):
                return event

    async def up(self) -> None:
        """Starts the client and waits for the up edge (after resync)."""
        await self.client.start()
        assert await self.next_state() is True


def make_settings(port: int, **overrides: object) -> AMISettings:
    base = AMISettings(host="127.0.0.1", port=port, username="switchboard", secret=SECRET,
                       ping_interval=0.05, ping_timeout=0.05, action_timeout=1.0, reconnect_initial=0.01,
                       reconnect_max=0.04, event_queue_size=1000, events_mask="call,agent,user")
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAMI]:
    server = FakeAMI(secret=SECRET)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def harness(fake: FakeAMI) -> AsyncIterator[Harness]:
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    yield h
    await waited(h.client.stop())


async def test_connected_only_after_fully_booted(fake: FakeAMI) -> None:
    """After a good login the client stays disconnected until FullyBooted, then resyncs and reports up."""
    fake.auto_boot = False
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    await h.client.start()
    await fake.wait_until(lambda: fake.logins == 1 and bool(fake.live))
    await fake.push_event("Marker")
    assert (await h.next_event()).name == "Marker"  # the login response was processed before this event
    assert not h.client.connected
    assert h.resync_count == 0 and h.states.empty()
    await fake.send_fully_booted()
    await waited(h.client.wait_connected())
    assert await h.next_state() is True
    assert h.resync_count == 1
    login = fake.received("Login")[0]
    assert login["Username"] == "switchboard" and login["Events"] == "system,call,agent,user"  # system added: FullyBooted
    await waited(h.client.stop())
    assert await h.next_state() is False
    assert len(fake.received("Logoff")) == 1


async def test_resync_after_every_reconnect_and_state_edges(fake: FakeAMI, harness: Harness) -> None:
    """Each (re)connect runs resync before on_state(True); each loss reports on_state(False) once."""
    await harness.up()
    assert harness.resync_count == 1
    fake.drop_connections()
    assert await harness.next_state() is False
    assert not harness.client.connected
    assert await harness.next_state() is True
    assert harness.resync_count == 2 and fake.logins == 2
    assert harness.client.connected


async def test_resync_can_send_actions_and_failure_is_survived(fake: FakeAMI) -> None:
    """resync may use send_action (list actions return their entries); a raising resync is logged, not fatal."""
    seen: list[tuple[str, ...]] = []

    async def resync(client: AMIClient) -> None:
        response = await client.send_action("DeviceStateList")
        seen.append(tuple(f"{e.get('Device')}={e.get('State')}" for e in response.events))
        raise RuntimeError("resync blew up")

    h = Harness(make_settings(fake.port, ping_interval=1.0), resync=resync)
    await h.client.start()
    assert await h.next_state() is True
    assert seen == [("PJSIP/agent1=NOT_INUSE", "PJSIP/agent2=INUSE")]
    assert h.client.connected
    await waited(h.client.stop())


async def test_list_action_response_excludes_complete_event(fake: FakeAMI, harness: Harness) -> None:
    """DeviceStateList returns the response fields and its entries, without the *Complete event."""
    await harness.up()
    response = await waited(harness.client.send_action("DeviceStateList"))
    assert response.success
    assert [e.name for e in response.events] == ["DeviceStateChange"] * 2
    assert response.fields["EventList"] == "start"


async def test_events_arrive_in_order(fake: FakeAMI, harness: Harness) -> None:
    """200 pushed events come out of the one queue in arrival order."""
    await harness.up()
    for i in range(200):
        await fake.push_event("UserEvent", {"UserEvent": "Seq", "Seq": str(i)})
    got = [int((await harness.next_event()).get("Seq")) for _ in range(200)]
    assert got == list(range(200))
    assert harness.client.dropped_events == 0


async def test_utf8_values_decoded_even_when_split_across_reads(fake: FakeAMI, harness: Harness) -> None:
    """A UTF-8 value ("Zoë") survives intact, also when written one byte at a time."""
    await harness.up()
    await fake.push_event("Newchannel", {"CallerIDName": "Zoë"})
    await fake.push_event("Newchannel", {"CallerIDName": "Zoë Ångström"}, chunk=1)
    first, second = await harness.next_event(), await harness.next_event()
    assert first.get("CallerIDName") == "Zoë"
    assert second.get("calleridname") == "Zoë Ångström"
    assert isinstance(first.fields["Event"], str)


async def test_unanswered_ping_means_half_open_and_reconnects(fake: FakeAMI,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A Ping left unanswered past ping_timeout closes the link and logs in again."""
    h = Harness(make_settings(fake.port))
    await h.up()
    fake.stop_answering_pings()
    assert await h.next_state() is False
    assert await h.next_state() is True
    assert fake.logins == 2 and h.resync_count == 2
    assert fake.connections_made == 2
    assert any("half-open" in r.getMessage() for r in caplog.records)
    await waited(h.client.stop())


async def test_silent_link_detected_by_watchdog(fake: FakeAMI) -> None:
    """A link that swallows everything (half-open) is detected and replaced."""
    h = Harness(make_settings(fake.port))
    await h.up()
    fake.go_silent()
    assert await h.next_state() is False
    assert await h.next_state() is True
    assert fake.logins == 2
    await waited(h.client.stop())


def test_backoff_schedule_doubles_caps_and_jitters() -> None:
    """Equal jitter: base doubles from initial to the cap; random 1.0 gives the base, 0.0 half of it."""
    assert list(itertools.islice(backoff_delays(1.0, 30.0, lambda: 1.0), 7)) == [1, 2, 4, 8, 16, 30, 30]
    assert list(itertools.islice(backoff_delays(1.0, 30.0, lambda: 0.0), 7)) == [0.5, 1, 2, 4, 8, 15, 15]
    assert list(itertools.islice(backoff_delays(2.0, 10.0, lambda: 0.5), 4)) == [1.5, 3.0, 6.0, 7.5]
    assert next(backoff_delays(1.0, 30.0, lambda: 7.0)) == 1.0  # out-of-range random is clamped


@pytest.mark.parametrize("rnd, expected", [(1.0, [0.01, 0.02, 0.04, 0.04, 0.04]),
                                           (0.0, [0.005, 0.01, 0.02, 0.02, 0.02])])
async def test_reconnect_backoff_schedule_and_reset(fake: FakeAMI, rnd: float, expected: list[float]) -> None:
    """While Asterisk is down, delays follow the jittered doubling schedule; a good login resets it."""
    h = Harness(make_settings(fake.port, ping_interval=1.0), random=lambda: rnd)
    await h.up()
    await fake.stop_listening()
    assert await h.next_state() is False
    delays = [await asyncio.wait_for(h.delays.get(), WAIT) for _ in range(5)]
    assert delays == pytest.approx(expected)
    await fake.start()
    assert await h.next_state() is True
    assert fake.logins == 2
    while not h.delays.empty():
        h.delays.get_nowait()
    fake.drop_connections()
    assert await h.next_state() is False
    assert await asyncio.wait_for(h.delays.get(), WAIT) == pytest.approx(expected[0])
    assert await h.next_state() is True
    await waited(h.client.stop())


async def test_action_timeout(fake: FakeAMI, harness: Harness) -> None:
    """An action left unanswered raises AMIActionTimeout; the link stays up."""
    await harness.up()
    fake.silent_actions.add("originate")
    with pytest.raises(AMIActionTimeout):
        await waited(harness.client.send_action("Originate", {"Channel": "PJSIP/100"}, timeout=0.05))
    assert harness.client.connected
    pong = await waited(harness.client.send_action("Ping"))
    assert pong.fields["Ping"] == "Pong"


async def test_error_response_raises_action_failed(fake: FakeAMI, harness: Harness) -> None:
    """Response: Error raises AMIActionFailed carrying the response."""
    await harness.up()
    with pytest.raises(AMIActionFailed) as info:
        await waited(harness.client.send_action("NoSuchAction"))
    assert info.value.response.message == "Invalid/unknown command"
    assert isinstance(info.value, AMIError)


async def test_in_flight_action_fails_on_drop_and_is_never_resent(fake: FakeAMI, harness: Harness) -> None:
    """An action pending when the link drops fails with AMINotConnected and is not re-sent after reconnect."""
    await harness.up()
    fake.silent_actions.add("originate")
    sent = asyncio.ensure_future(harness.client.send_action("Originate", {"Channel": "PJSIP/100"}, timeout=3.0))
    await fake.wait_until(lambda: len(fake.received("Originate")) == 1)
    fake.drop_connections()
    with pytest.raises(AMINotConnected):
        await waited(sent)
    assert await harness.next_state() is False
    assert await harness.next_state() is True
    await waited(harness.client.send_action("Ping"))  # everything sent after reconnect has reached the fake
    assert len(fake.received("Originate")) == 1
    assert [a["Action"] for a in fake.actions].count("Login") == 2


@pytest.mark.parametrize("fields", [{"Channel": "PJSIP/100\r\nAction: Command"}, {"Channel": "a\nb"},
                                    {"Channel": "a\rb"}, {"Channel": "a\0b"}, {"Chan\r\nnel": "x"},
                                    {"Chan\0nel": "x"}, {"Channel: x": "y"}])
async def test_unsafe_values_rejected_before_sending(fake: FakeAMI, harness: Harness,
                                                     fields: dict[str, str]) -> None:
    """CR, LF or NUL in a key or value (or ':' in a key) raises UnsafeAMIValue and nothing is sent."""
    await harness.up()
    before = len(fake.actions)
    with pytest.raises(UnsafeAMIValue) as info:
        await harness.client.send_action("Originate", fields)
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsafeAMIValue):
        await harness.client.send_action("Originate\r\nX")
    await waited(harness.client.send_action("Ping"))
    assert [a["Action"] for a in fake.actions[before:]] == ["Ping"]
    assert not fake.received("Command")


async def test_wrong_secret_retries_and_never_logs_secret(fake: FakeAMI, caplog: pytest.LogCaptureFixture) -> None:
    """A rejected login leaves the client disconnected, is logged clearly without the secret, and is retried."""
    caplog.set_level(logging.DEBUG)
    fake.secret = "the-right-one"
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    await h.client.start()
    await fake.wait_until(lambda: fake.login_attempts >= 3)
    assert not h.client.connected and fake.logins == 0
    assert h.states.empty() and h.resync_count == 0
    assert any("login rejected" in r.getMessage() and r.levelno >= logging.ERROR for r in caplog.records)
    await waited(h.client.stop())
    assert SECRET not in caplog.text
    assert all(SECRET not in r.getMessage() and SECRET not in str(r.args) for r in caplog.records)
    assert SECRET not in repr(make_settings(fake.port))


async def test_secret_not_logged_in_normal_operation(fake: FakeAMI, caplog: pytest.LogCaptureFixture) -> None:
    """A full connect/ping/reconnect/stop cycle at DEBUG never logs the secret."""
    caplog.set_level(logging.DEBUG)
    h = Harness(make_settings(fake.port))
    await h.up()
    fake.drop_connections()
    assert await h.next_state() is False
    assert await h.next_state() is True
    await waited(h.client.stop())
    assert SECRET not in caplog.text


async def test_send_action_while_disconnected(fake: FakeAMI) -> None:
    """send_action raises AMINotConnected at once before start, while Asterisk is down, and after stop."""
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    with pytest.raises(AMINotConnected):
        await waited(h.client.send_action("Ping"), 0.5)
    await h.up()
    await fake.stop_listening()
    assert await h.next_state() is False
    with pytest.raises(AMINotConnected):
        await waited(h.client.send_action("Ping"), 0.5)
    await waited(h.client.stop())
    with pytest.raises(AMINotConnected):
        await waited(h.client.send_action("Ping"), 0.5)


async def test_start_returns_while_asterisk_down(fake: FakeAMI) -> None:
    """start() returns promptly with Asterisk down; the client connects once Asterisk comes up."""
    await fake.stop_listening()
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    await waited(h.client.start(), 0.5)
    assert not h.client.connected
    await asyncio.wait_for(h.delays.get(), WAIT)  # at least one failed attempt
    await fake.start()
    await waited(h.client.wait_connected())
    assert await h.next_state() is True
    await waited(h.client.stop())


async def test_bounded_queue_drops_oldest_and_counts(fake: FakeAMI, caplog: pytest.LogCaptureFixture) -> None:
    """With the queue full the oldest events are dropped, counted, and warned about once (rate-limited)."""
    h = Harness(make_settings(fake.port, ping_interval=1.0, event_queue_size=5))
    await h.up()
    await waited(h.client.send_action("Ping"))
    with caplog.at_level(logging.WARNING, logger="test.ami"):
        for i in range(20):
            await fake.push_event("UserEvent", {"Seq": str(i)})
        await waited(h.client.send_action("Ping"))  # answered after all 20 events were dispatched
    # the queue held FullyBooted plus 20 events: 16 dropped, the newest 5 kept
    assert h.client.dropped_events == 16
    assert [(await h.next_event()).get("Seq") for _ in range(5)] == ["15", "16", "17", "18", "19"]
    warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 1
    await waited(h.client.stop())


async def test_events_iterator_ends_after_stop(fake: FakeAMI) -> None:
    """stop() ends a consumer's `async for` over events()."""
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    await h.up()
    seen: list[str] = []

    async def consume() -> None:
        async for event in h.client.events():
            seen.append(event.name)

    consumer = asyncio.ensure_future(consume())
    await fake.push_event("Marker")
    await waited(h.client.stop())
    await waited(consumer)
    assert "FullyBooted" in seen


async def test_post_action_sends_without_waiting_and_drops_its_answer(fake: FakeAMI, harness: Harness,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """post_action writes the action at once, returns True, and its answer (here an Error) is discarded quietly."""
    await harness.up()
    caplog.set_level(logging.DEBUG)
    assert harness.client.post_action("UserEvent", {"UserEvent": "SwitchboardScreenPop", "Agent": "agent1"})
    await fake.wait_until(lambda: len(fake.received("UserEvent")) == 1)
    assert fake.received("UserEvent")[0]["Agent"] == "agent1"
    await waited(harness.client.send_action("Ping"))  # the answer to the posted action arrived before this one
    assert "unknown or expired action" not in caplog.text
    assert harness.client.dropped_actions == 0


async def test_post_action_when_down_is_dropped_and_counted(fake: FakeAMI, harness: Harness) -> None:
    """With no link, post_action sends nothing, returns False and counts the drop; unsafe values still raise."""
    assert harness.client.post_action("UserEvent", {"UserEvent": "x"}) is False
    assert harness.client.dropped_actions == 1
    with pytest.raises(UnsafeAMIValue):
        harness.client.post_action("UserEvent", {"UserEvent": "x\r\nAction: Hangup"})


async def test_event_with_repeated_key_and_colons_in_values(fake: FakeAMI, harness: Harness) -> None:
    """An event keeps the first value of a repeated key and values holding ': ' whole (the fast event parser)."""
    await harness.up()
    await fake.push_raw(encode([("Event", "UserEvent"), ("UserEvent", "Probe"), ("Note", "a: b: c"),
                                ("Note", "second")]))
    event = await harness.next_event()
    assert event.name == "UserEvent"
    assert event.get("Note") == "a: b: c"


async def test_read_pause_keeps_events_in_order(fake: FakeAMI) -> None:
    """With a read pause, events sent while the reader rests (one at a time, some split mid-message) still come out
    whole and in the order Asterisk sent them."""
    h = Harness(make_settings(fake.port, ping_interval=1.0, read_pause=0.05))
    await h.up()
    for i in range(60):
        await fake.push_event("UserEvent", {"Seq": str(i), "Name": "café"}, chunk=7 if i % 10 == 3 else 0)
    assert [(await h.next_event()).get("Seq") for _ in range(60)] == [str(i) for i in range(60)]
    await waited(h.client.stop())


async def test_read_pause_never_holds_an_action_answer_past_its_deadline(fake: FakeAMI) -> None:
    """An action sent while the reader rests ends the rest: its answer is read at once, well inside a timeout far
    shorter than the pause (and the watchdog's Pings keep the link up), and events before it still come first."""
    h = Harness(make_settings(fake.port, ping_interval=0.05, ping_timeout=2.0, action_timeout=2.0, read_pause=8.0))
    try:
        async with asyncio.timeout(20):  # without the early end of the rest the link flaps: fail, not hang
            await h.up()
            await fake.push_event("UserEvent", {"Seq": "1"})
            assert (await h.next_event()).get("Seq") == "1"  # read: the reader now rests (8 s unless an action comes)
            await fake.push_event("UserEvent", {"Seq": "2"})
            response = await waited(h.client.send_action("Ping", timeout=2.0))
            assert response.fields.get("Ping") == "Pong"
            assert (await h.next_event()).get("Seq") == "2"
            await fake.wait_until(lambda: len(fake.received("Ping")) >= 4)  # the watchdog's Pings answered in time
            assert fake.logins == 1 and h.client.connected
    finally:
        await waited(h.client.stop(), 10)


async def test_posted_actions_of_one_loop_pass_go_out_in_one_write(fake: FakeAMI, harness: Harness,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Fifty UserEvents posted in one pass of the loop leave in one write, in the order posted, and reach
    Asterisk whole; an action sent right after them follows them on the wire."""
    await harness.up()
    writes: list[bytes] = []
    plain_write = asyncio.StreamWriter.write

    def counting(self: asyncio.StreamWriter, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).startswith(b"Action: UserEvent"):
            writes.append(bytes(data))
        plain_write(self, data)
    monkeypatch.setattr(asyncio.StreamWriter, "write", counting)
    for i in range(50):
        assert harness.client.post_action("UserEvent", {"UserEvent": "SwitchboardScreenPop", "Seq": str(i)})
    await waited(harness.client.send_action("Ping"))
    await fake.wait_until(lambda: len(fake.received("UserEvent")) == 50)
    assert len(writes) == 1 and writes[0].count(b"Action: UserEvent") == 50
    assert [a["Seq"] for a in fake.received("UserEvent")] == [str(i) for i in range(50)]
    names = [a.get("Action") for a in fake.actions]
    assert names.index("Ping", names.index("UserEvent")) > max(i for i, n in enumerate(names) if n == "UserEvent")
    assert harness.client.dropped_actions == 0


async def test_posted_actions_stay_bounded_within_one_loop_pass(fake: FakeAMI, harness: Harness) -> None:
    """Posts waiting for their write count toward the backlog bound: past 256 KiB in one pass the rest are
    refused (False) and counted, and those accepted all arrive."""
    await harness.up()
    accepted = [harness.client.post_action("UserEvent", {"UserEvent": "Big", "Seq": str(i), "Pad": "x" * 10_000})
                for i in range(40)]
    assert accepted[0] and not accepted[-1] and accepted == sorted(accepted, reverse=True)
    assert harness.client.dropped_actions == accepted.count(False) > 0
    await fake.wait_until(lambda: len(fake.received("UserEvent")) == accepted.count(True))

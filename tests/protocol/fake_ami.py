"""A scripted fake of Asterisk's manager interface (AMI), for protocol tests of the AMI client over loopback.

`FakeAMI` listens on 127.0.0.1 (a free port), greets with the real banner, checks Login against one secret, sends
`FullyBooted` after a good login (unless told to hold it back), answers Ping, DeviceStateList and Logoff, answers
unknown actions with `Response: Error` and leaves the actions named in `silent_actions` unanswered. Tests push
events, make the current links half-open (pings or everything unanswered), drop connections, stop and restart the
listener, and read what was received: every action is recorded, so a test can prove an action was not re-sent.
Every change notifies one condition, so tests await `wait_until(...)` instead of sleeping.
"""
from __future__ import annotations

import asyncio
from typing import Callable, Mapping

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
WAIT = 5.0


def encode(fields: Mapping[str, str] | list[tuple[str, str]]) -> bytes:
    """One AMI message: `Key: Value` lines and a blank line, UTF-8."""
    items = list(fields.items()) if isinstance(fields, Mapping) else fields
    return ("".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n").encode("utf-8")


def decode(raw: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        if ": " in line:
            key, value = line.split(": ", 1)
            fields.setdefault(key, value)
    return fields


class FakeConnection:
    """Asterisk's end of one AMI connection."""

    def __init__(self, server: FakeAMI, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.answer_pings = True
        self.answer_anything = True

    async def send(self, raw: bytes, chunk: int = 0) -> None:
        if self.writer.is_closing():
            return
        if chunk <= 0:
            self.writer.write(raw)
        else:
            for i in range(0, len(raw), chunk):
                self.writer.write(raw[i:i + chunk])
                await self.writer.drain()
        try:
            await self.writer.drain()
        except ConnectionError:
            pass

    async def serve(self) -> None:
        await self.send(BANNER)
        while True:
            try:
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            action = decode(raw)
            self.server.record(action)
            if self.answer_anything:
                await self.answer(action)

    async def answer(self, action: dict[str, str]) -> None:
        name = action.get("Action", "").lower()
        reply: dict[str, str] = {}
        if "ActionID" in action:
            reply["ActionID"] = action["ActionID"]
        srv = self.server
        if name == "login":
            srv.login_attempts += 1
            if action.get("Username") == srv.username and action.get("Secret") == srv.secret:
                self.logged_in = True
                srv.logins += 1
                await self.send(encode({"Response": "Success", **reply, "Message": "Authentication accepted"}))
                if srv.auto_boot:
                    await self.send(encode({"Event": "FullyBooted", "Privilege": "system,all",
                                            "Status": "Fully Booted"}))
            else:
                await self.send(encode({"Response": "Error", **reply, "Message": "Authentication failed"}))
            srv.changed()
        elif name in srv.silent_actions:
            return
        elif name == "ping":
            if self.answer_pings:
                await self.send(encode({"Response": "Success", **reply, "Ping": "Pong",
                                        "Timestamp": "1700000000.000000"}))
        elif name == "devicestatelist":
            out = encode({"Response": "Success", **reply, "EventList": "start",
                          "Message": "Device State Changes will follow"})
            for device, state in srv.device_states:
                out += encode({"Event": "DeviceStateChange", **reply, "Device": device, "State": state})
            out += encode({"Event": "DeviceStateListComplete", **reply, "EventList": "Complete",
                           "ListItems": str(len(srv.device_states))})
            await self.send(out)
        elif name == "logoff":
            await self.send(encode({"Response": "Goodbye", **reply, "Message": "Thanks for all the fish."}))
            self.writer.close()
        else:
            await self.send(encode({"Response": "Error", **reply, "Message": "Invalid/unknown command"}))


class FakeAMI:
    """The scripted AMI server: shared state across connections, plus controls for the test."""

    def __init__(self, *, username: str = "switchboard", secret: str = "s3cret", auto_boot: bool = True) -> None:
        self.username = username
        self.secret = secret
        self.auto_boot = auto_boot
        self.silent_actions: set[str] = set()  # lower-case action names recorded but never answered
        self.device_states: list[tuple[str, str]] = [("PJSIP/agent1", "NOT_INUSE"), ("PJSIP/agent2", "INUSE")]
        self.actions: list[dict[str, str]] = []
        self.logins = 0
        self.login_attempts = 0
        self.connections_made = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._conns: list[FakeConnection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> int:
        """Listens (on the same port again after `stop_listening`); returns the port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop_listening(self) -> None:
        """Closes the listener and every connection: the client's reconnects are refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self.drop_connections()

    async def close(self) -> None:
        await self.stop_listening()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FakeConnection(self, reader, writer)
        self._conns.append(conn)
        self.connections_made += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await conn.serve()
        finally:
            self._tasks.discard(task)
            writer.close()
            if conn in self._conns:
                self._conns.remove(conn)
            self.changed()

    # -- controls ---------------------------------------------------------------------------------------------

    @property
    def live(self) -> list[FakeConnection]:
        return [c for c in self._conns if c.logged_in and not c.writer.is_closing()]

    def drop_connections(self) -> None:
        """Closes every open connection (the listener stays up unless stopped)."""
        for conn in self._conns:
            conn.writer.close()
        self._conns.clear()

    def stop_answering_pings(self) -> None:
        """Half-open simulation: current connections stay open but never answer Ping again."""
        for conn in self._conns:
            conn.answer_pings = False

    def go_silent(self) -> None:
        """Half-open simulation: current connections record but never answer anything again."""
        for conn in self._conns:
            conn.answer_anything = False

    async def push_event(self, name: str, fields: Mapping[str, str] | None = None, chunk: int = 0) -> None:
        """Sends one event to every logged-in connection (`chunk` > 0 writes it that many bytes at a time)."""
        await self.push_raw(encode({"Event": name, **(fields or {})}), chunk)

    async def push_raw(self, raw: bytes, chunk: int = 0) -> None:
        for conn in self.live:
            await conn.send(raw, chunk)

    async def send_fully_booted(self) -> None:
        await self.push_event("FullyBooted", {"Privilege": "system,all", "Status": "Fully Booted"})

    # -- observation ------------------------------------------------------------------------------------------

    def record(self, action: dict[str, str]) -> None:
        self.actions.append(action)
        self.changed()

    def received(self, name: str) -> list[dict[str, str]]:
        """Every recorded action with this name (case-insensitive)."""
        return [a for a in self.actions if a.get("Action", "").lower() == name.lower()]

    def changed(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        """Returns once `predicate()` holds (checked after every change); fails after `timeout`."""
        async def wait() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)
        await asyncio.wait_for(wait(), timeout)

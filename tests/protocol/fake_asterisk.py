"""A scripted fake of Asterisk's side of FastAGI, for protocol tests of the listener over loopback.

Each `FakeAsterisk` is one connection: it sends the `agi_*` environment the way Asterisk does (one write per line,
then a blank line), reads the commands the service sends and answers whatever the test scripts, including the
faults real Asterisk produces (HANGUP lines, 511 on a dead channel, 520 usage blocks, 100 Trying, silence, EOF).
`RecordingEvents` is the listener's observer, with awaitable session outcomes so tests never sleep.
"""
from __future__ import annotations

import asyncio
from collections import Counter
from typing import Mapping, Sequence

WAIT = 5.0


class FakeAsterisk:
    """Asterisk's end of one FastAGI connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> FakeAsterisk:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    @staticmethod
    def header_lines(script: str = "inbound", uniqueid: str = "1700000000.1",
                     extra: Mapping[str, str] | None = None) -> list[bytes]:
        fields = {"agi_network": "yes", "agi_network_script": script,
                  "agi_request": f"agi://127.0.0.1/{script}", "agi_channel": "PJSIP/callers-00000001",
                  "agi_language": "en", "agi_uniqueid": uniqueid, "agi_callerid": "+441632960123",
                  "agi_dnid": "100", **(extra or {})}
        return [f"{k}: {v}\n".encode() for k, v in fields.items()] + [b"\n"]

    async def send_header(self, script: str = "inbound", uniqueid: str = "1700000000.1",
                          extra: Mapping[str, str] | None = None) -> None:
        for line in self.header_lines(script, uniqueid, extra):
            self.writer.write(line)
            await self.writer.drain()

    async def send(self, raw: bytes) -> None:
        self.writer.write(raw)
        await self.writer.drain()

    async def read_command(self) -> str:
        """The next command line the service sent (without its newline); fails on EOF."""
        line = await asyncio.wait_for(self.reader.readline(), WAIT)
        if not line.endswith(b"\n"):
            raise ConnectionError(f"service closed the connection (got {line!r})")
        return line[:-1].decode()

    async def expect(self, command: str, *replies: str) -> None:
        """Reads one command, checks it, and answers with the given reply lines."""
        got = await self.read_command()
        assert got == command, f"expected {command!r}, service sent {got!r}"
        if replies:
            await self.send("".join(f"{r}\n" for r in replies).encode())

    async def expect_eof(self) -> bytes:
        """Waits for the service to close the connection; returns what it sent before closing."""
        rest = await asyncio.wait_for(self.reader.read(), WAIT)
        self.close()
        return rest

    def close(self) -> None:
        self.writer.close()


class RecordingEvents:
    """The listener's observer: counts everything and lets tests await session outcomes."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.outcomes: asyncio.Queue[str] = asyncio.Queue()
        self.errors: asyncio.Queue[str] = asyncio.Queue()
        self.verbs: list[str] = []

    def session_started(self) -> None:
        self.counts["started"] += 1

    def session_ended(self, outcome: str) -> None:
        self.counts[f"ended:{outcome}"] += 1
        self.outcomes.put_nowait(outcome)

    def peer_rejected(self) -> None:
        self.counts["rejected"] += 1
        self.errors.put_nowait("rejected")

    def protocol_error(self, kind: str) -> None:
        self.counts[f"error:{kind}"] += 1
        self.errors.put_nowait(kind)

    def commands_completed(self, timings: Mapping[str, Sequence[float]]) -> None:
        for verb, seconds in timings.items():
            self.verbs.extend([verb] * len(seconds))

    async def next_outcome(self) -> str:
        return await asyncio.wait_for(self.outcomes.get(), WAIT)

    async def next_error(self) -> str:
        return await asyncio.wait_for(self.errors.get(), WAIT)

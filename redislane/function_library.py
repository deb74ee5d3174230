"""A store's Lua as one Redis Functions library (Redis >= 7.0): its source, its name, and how a function of it is
called (FCALL), with the library loaded again when Redis lacks it. The router's stores load theirs so
(router/route_store.py); which scripts and keys are the store's own, this module knows nothing of.

Why a library and not one script per step: every router script carried its own compiled copy of the prelude and
created its ~36 functions again on every run; a library is compiled once at `FUNCTION LOAD`, its top-level locals
(the key prefix, the prelude's functions) are created once and shared by every function's closure, so the live Lua
heap is one prelude, not one per script, and a run makes only its own garbage (docs/router-indexes.md).

The source is `#!lua name=<library>`, then a head (the key prefix and the prelude), then one
`redis.register_function` per script whose callback takes `(KEYS, ARGV)` and runs the script's body unchanged. The
library's name and every function's name end in a hash of the source, so instances running different versions of
the Lua share one Redis (a rolling upgrade): each calls its own. A function Redis does not know (Redis restarted
empty, a new Redis, `FUNCTION FLUSH`) is loaded with `FUNCTION LOAD REPLACE` and called again once, as a NOSCRIPT
was handled for scripts. Loading runs the head with only `redis` in reach (no `setmetatable`, `pcall`...): the head
may define locals and functions, not call Lua's library.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from switchboard.redislane.trip_lane import Command

MISSING = "Function not found"  # Redis's error reply to an FCALL of a function it does not know
HASH_CHARS = 12


def missing(reply: Any) -> bool:
    """Is this reply Redis saying it does not know the function (so nothing ran)?"""
    return isinstance(reply, ResponseError) and str(reply).startswith(MISSING)


def _plain_body(name: str, body: str) -> str:
    return body


@dataclass(frozen=True)
class Function:
    """One function of a library, as called: its registered name, the library that registers it, and the client
    whose pool runs it when it is called directly (trips send `fcall` on their own lane)."""

    name: str
    library: FunctionLibrary
    client: Redis

    def fcall(self, keys: Sequence[Any], args: Sequence[Any]) -> Command:
        """The FCALL command that runs it."""
        return ("FCALL", self.name, len(keys), *keys, *args)

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        """Runs it on the client's pool (off the trip lane); a function Redis lacks is loaded and run again once."""
        try:
            return await self.client.fcall(self.name, len(keys), *keys, *args)
        except ResponseError as exc:
            if not missing(exc):
                raise
        await self.client.execute_command(*self.library.load())
        return await self.client.fcall(self.name, len(keys), *keys, *args)


class FunctionLibrary:
    """The scripts `bodies` (name → Lua body reading KEYS and ARGV) as one library after `head`. `read_only`: the
    scripts that never write (flagged `no-writes`: Redis may run them on a replica or when out of memory; a write
    inside one fails). `wrap(name, body)` may put lines around each body (the benchmark counts commands so)."""

    def __init__(self, stem: str, head: str, bodies: Mapping[str, str], read_only: Iterable[str] = (),
                 wrap: Callable[[str, str], str] = _plain_body) -> None:
        quiet = frozenset(read_only)
        parts = [head.rstrip("\n")]
        for name, body in bodies.items():
            flags = "{'no-writes'}" if name in quiet else "{}"
            parts.append(f"redis.register_function{{function_name = '{name}_@HASH@', flags = {flags}, "
                         f"callback = function(KEYS, ARGV)\n{wrap(name, body).rstrip(chr(10))}\nend}}")
        text = "\n".join(parts) + "\n"
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:HASH_CHARS]
        self.name = f"{stem}_{digest}"
        self.source = f"#!lua name={self.name}\n" + text.replace("@HASH@", digest)
        self._digest = digest
        self._names = tuple(bodies)

    def function_name(self, script: str) -> str:
        """The name script `script` is registered under (FCALL's first argument)."""
        if script not in self._names:
            raise KeyError(script)
        return f"{script}_{self._digest}"

    def function(self, script: str, client: Redis) -> Function:
        """The function running script `script`, called directly on `client`."""
        return Function(self.function_name(script), self, client)

    def load(self) -> Command:
        """The command that loads (or loads again) the library."""
        return ("FUNCTION", "LOAD", "REPLACE", self.source)

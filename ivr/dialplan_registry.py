"""The live dialplan version and its safe reload: validate first, then swap atomically, else keep the last good.

A call takes `registry.current` once when it starts and runs on that object to the end, so a reload never changes
a flow under a caller. Reloads come from a file watcher (fingerprints of the folder's files, checked every
`watch_interval`), SIGHUP, `switchboard reload` and the HTTP control endpoint; they all end up in `reload()`,
which validates in a worker thread (a large folder must not stall calls) and reports through `on_result`.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from switchboard.ivr.flow_loader import DialplanError, load_dialplan
from switchboard.yamldoc.problems import Problem
from switchboard.ivr.flow_model import Dialplan


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: `ok` with the version now live, or rejected with the problems found."""

    ok: bool
    version: str
    changed: bool
    problems: tuple[Problem | str, ...]

    def summary(self) -> str:
        if self.ok:
            return f"dialplan version {self.version} {'now live' if self.changed else 'unchanged'}"
        errors = [str(p) for p in self.problems if getattr(p, "severity", "error") == "error"]
        return f"rejected ({len(errors)} error(s)); version {self.version} keeps serving:\n" + "\n".join(errors)


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of the YAML files: cheap to compare on every watch tick."""
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else [folder]
    out = []
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        out.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


class DialplanRegistry:
    """Holds the current dialplan; `reload()` replaces it only with a version that passed validation."""

    def __init__(self, folder: Path, sounds_dir: Path | None, logger: logging.Logger,
                 on_result: Callable[[ReloadResult, Dialplan], None],
                 companion: Callable[[Path], Any] | None = None) -> None:
        """`companion` reads what other parts keep in the same folder (the router's routing.yaml): it raises
        ValueError with `.problems` for an invalid edit, which rejects the whole reload; its value is kept in
        `companion_value`, swapped together with the flows."""
        self.folder = folder
        self.sounds_dir = sounds_dir
        self.log = logger
        self._on_result = on_result
        self._companion = companion
        self._fingerprint = fingerprint(folder)
        plan, warnings = load_dialplan(folder, sounds_dir)  # start-up: errors propagate and stop the service
        self.companion_value: Any = companion(folder) if companion is not None else None
        for warning in warnings:
            self.log.warning("%s", warning)
        self.current: Dialplan = plan
        self._lock = asyncio.Lock()
        self._watch: asyncio.TimerHandle | None = None
        on_result(ReloadResult(True, plan.version, True, tuple(warnings)), plan)

    async def reload(self, reason: str) -> ReloadResult:
        """Validates the folder and swaps it in if it is valid; never raises: an invalid edit, and even a failure of
        the validator itself, is a rejected reload with its problems."""
        async with self._lock:
            self._fingerprint = fingerprint(self.folder)
            loop = asyncio.get_running_loop()
            try:
                plan, warnings = await loop.run_in_executor(None, load_dialplan, self.folder, self.sounds_dir)
                companion = (await loop.run_in_executor(None, self._companion, self.folder)
                             if self._companion is not None else None)
            except (DialplanError, ValueError) as exc:
                problems = tuple(getattr(exc, "problems", None) or [str(exc)])
                result = ReloadResult(False, self.current.version, False, problems)
                self.log.error("dialplan reload (%s) %s", reason, result.summary())
                self._on_result(result, self.current)
                return result
            except Exception as exc:  # a validator bug must still answer: the reload is refused, logged in full
                self.log.exception("dialplan reload (%s): the validator failed", reason)
                problems = (f"{self.folder}: the validator failed ({type(exc).__name__}: {str(exc)[:200]}); "
                            "the edit was not applied; please report this with the file",)
                result = ReloadResult(False, self.current.version, False, problems)
                self.log.error("dialplan reload (%s) %s", reason, result.summary())
                self._on_result(result, self.current)
                return result
            changed = plan.version != self.current.version
            self.current = plan
            self.companion_value = companion
            for warning in warnings:
                self.log.warning("%s", warning)
            result = ReloadResult(True, plan.version, changed, tuple(warnings))
            self.log.info("dialplan reload (%s): %s", reason, result.summary())
            self._on_result(result, plan)
            return result

    def watch(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        """Checks the folder every `interval` seconds and reloads when a file changed."""
        def tick() -> None:
            if fingerprint(self.folder) != self._fingerprint:
                loop.create_task(self.reload("file change"))
            self._watch = loop.call_later(interval, tick)
        self._watch = loop.call_later(interval, tick)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()

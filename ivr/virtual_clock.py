"""Simulated time for waits in line: `switchboard simulate` (and tests) run minutes of waiting in no time.

`sleep(d)` parks the caller until the clock reaches now + d; `drive(task)` lets every coroutine run until they all
wait on the clock, then jumps to the earliest wake-up, and repeats until `task` is done. Everything that waits
must wait on this clock (or on something it wakes), as in the simulator, where no real I/O happens.
"""
from __future__ import annotations

import asyncio
import heapq
from typing import Awaitable, TypeVar

T = TypeVar("T")
SETTLE_ROUNDS = 50  # event-loop turns given to the coroutines before the clock moves on
STUCK_ROUNDS = 100_000  # turns with nobody waiting on the clock before a simulation is declared stuck


class VirtualClock:
    """A clock that only moves when everything waits on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Returns when the clock has moved `seconds` on."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._count, future))
        await future

    async def drive(self, work: Awaitable[T]) -> T:
        """Runs `work` to its end, moving the clock whenever everything waits on it."""
        task = asyncio.ensure_future(work)
        idle = 0
        while not task.done():
            for _ in range(SETTLE_ROUNDS):
                await asyncio.sleep(0)  # let every runnable coroutine reach its next wait
                if task.done():
                    break
            if task.done():
                break
            while self._sleepers and self._sleepers[0][2].done():  # cancelled sleeps
                heapq.heappop(self._sleepers)
            if not self._sleepers:  # still busy (a long flow), or stuck on something the clock cannot wake
                idle += SETTLE_ROUNDS
                if idle >= STUCK_ROUNDS:
                    task.cancel()
                    raise RuntimeError("simulated call waits on something other than the clock")
                continue
            idle = 0
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)
        return task.result()

"""Estimated wait of a call in line: the model, and the rolling window of recent handle times it reads.

Model (position × recent handle time / eligible agents): a call at position p (1 = next) is answered when p of
the N agents who could take it have freed up. With agents busy for a mean handle time H (ring + talk + wrap-up,
the time an agent is kept from the line) and memoryless service, the next of N busy agents frees after H / N on
average, so the p-th frees after p × H / N. This is the mean of Erlang C's waiting time once the caller's place
is known, without Erlang C's assumptions about arrivals (the router knows the line, it does not need to guess it).

"Unknown" (seconds None) when the router has too little data: no eligible agent logged in, or fewer than
`MIN_SAMPLES` handle times seen in the queue's window. Pure logic: no I/O, no clock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

WINDOW = 20       # handle times kept per queue (the most recent ones)
MIN_SAMPLES = 3   # fewer than this: the estimate is unknown
MAX_QUEUES = 500  # queues remembered (the same cap as the metrics' label sets)


@dataclass(frozen=True)
class WaitEstimate:
    """A call's place in line (1 = next) and its estimated wait in seconds (None: unknown, too little data)."""

    position: int
    seconds: float | None
    agents: int = 0
    samples: int = 0


class HandleTimes:
    """The most recent handle times per queue (a bounded window each, a bounded number of queues)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._window = window
        self._by_queue: dict[str, deque[float]] = {}

    def record(self, queue: str, seconds: float) -> None:
        """One finished call's handle time (negative or absurd values are ignored)."""
        if not 0.0 < seconds < 86400.0:
            return
        times = self._by_queue.get(queue)
        if times is None:
            if len(self._by_queue) >= MAX_QUEUES:
                return
            times = self._by_queue[queue] = deque(maxlen=self._window)
        times.append(seconds)

    def recent(self, queue: str) -> tuple[float, ...]:
        return tuple(self._by_queue.get(queue, ()))


def estimate_wait(position: int, agents: int, handle_times: Iterable[float],
                  min_samples: int = MIN_SAMPLES) -> WaitEstimate:
    """The estimate for a call at `position` (1 = next) with `agents` eligible agents and their recent handle
    times; seconds None when there is too little data."""
    samples = tuple(handle_times)
    position = max(1, position)
    if agents <= 0 or not samples or len(samples) < min_samples:
        return WaitEstimate(position, None, max(0, agents), len(samples))
    mean = sum(samples) / len(samples)
    return WaitEstimate(position, position * mean / agents, agents, len(samples))

"""Estimated wait of a call in line: the model, and the rolling window of recent handle times it reads.

Model: a call at position p (1 = next) is answered when p of the N agents who could take it have freed up. Each
agent is kept from the line for a handle time S (ring + talk + wrap-up) with mean H. Once the first agent frees,
the next ones free every H / N on average, so the wait is (R + (p − 1) × H) / N, where R is what is left of the
calls in progress when the caller arrives: renewal theory's mean residual time E[S²] / (2 E[S]), read from the
same window (H / 2 for steady handle times, H for memoryless ones). R is capped at H: with handle times more
variable than memoryless ones a few very long calls would dominate the window's second moment, and the model
falls back to a full handle time per busy agent (p × H / N, Erlang C's mean wait once the place is known).

The window is the last `WINDOW` handle times of the queue. A short window runs high exactly when the line is
long: the long calls that built the line have just finished and fill it (issue 15: with 20 handle times, the
estimate ran 8–27 s high on average in bench/wait_estimate_accuracy.py; charging a full handle time for calls
already in progress made up the rest).

"Unknown" (seconds None) when the router has too little data: no eligible agent logged in, or fewer than
`MIN_SAMPLES` handle times seen in the queue's window. Pure logic: no I/O, no clock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

WINDOW = 100      # handle times kept per queue (the most recent ones)
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


def residual_time(handle_times: tuple[float, ...]) -> float:
    """The mean time left of a call in progress seen at a random moment, E[S²] / (2 E[S]), capped at the mean."""
    mean = sum(handle_times) / len(handle_times)
    return min(mean, sum(s * s for s in handle_times) / len(handle_times) / (2.0 * mean))


def estimate_wait(position: int, agents: int, handle_times: Iterable[float],
                  min_samples: int = MIN_SAMPLES) -> WaitEstimate:
    """The estimate for a call at `position` (1 = next) with `agents` eligible agents and their recent handle
    times; seconds None when there is too little data."""
    samples = tuple(handle_times)
    position = max(1, position)
    if agents <= 0 or not samples or len(samples) < min_samples:
        return WaitEstimate(position, None, max(0, agents), len(samples))
    mean = sum(samples) / len(samples)
    seconds = (residual_time(samples) + (position - 1) * mean) / agents
    return WaitEstimate(position, seconds, agents, len(samples))

"""The AGI command-latency histogram, kept as plain counters on the event loop and exposed at scrape time.

Every AGI command is timed, so this is the hottest instrument in the service. prometheus-client's Histogram takes
a lock and walks its buckets per observation. Here the listener only appends each command's seconds to a plain
list of its verb, and hands the lists over in bulk (`observe_many`, every quarter second and when a list grows
long): one `bisect` and one addition per command, no call per command. A scrape (rendered in a forked child) copies
each series first: it never sees a count go down, and never blocks the loop. The exposition is a normal Prometheus
histogram (`_bucket`, `_sum`, `_count`) with a closed `command` label.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry


class _Series:
    __slots__ = ("counts", "total")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * (buckets + 1)  # the last slot is +Inf
        self.total = 0.0


class CommandLatency(Collector):
    """`switchboard_agi_command_duration_seconds{command}`: seconds from sending a command to its reply."""

    name = "switchboard_agi_command_duration_seconds"

    def __init__(self, registry: CollectorRegistry, verbs: Iterable[str], buckets: Sequence[float]) -> None:
        self._bounds = tuple(sorted(buckets))
        self._series = {verb: _Series(len(self._bounds)) for verb in verbs}
        self._other = self._series.setdefault("other", _Series(len(self._bounds)))
        registry.register(self)

    def observe(self, verb: str, seconds: float) -> None:
        """One command's round trip (the listener folds them in bulk with `observe_many`)."""
        self.observe_many({verb: (seconds,)})

    def observe_many(self, timings: Mapping[str, Sequence[float]]) -> None:
        """Folds in the round trips of many commands, by verb; a verb outside the closed set counts as "other"."""
        series_of, other, bounds = self._series.get, self._other, self._bounds
        for verb, seconds in timings.items():
            if not seconds:
                continue
            series = series_of(verb) or other
            counts = series.counts
            for value in seconds:
                counts[bisect_left(bounds, value)] += 1
            series.total += sum(seconds)

    def count(self, verb: str) -> int:
        """Observations so far for one verb (for tests and benchmarks)."""
        return sum(self._series[verb].counts)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, "Time from sending an AGI command to its reply "
                                       "(includes prompts and caller input)", labels=["command"])
        for verb, series in list(self._series.items()):
            counts, total = list(series.counts), series.total  # one copy: the loop may observe meanwhile
            cumulative, buckets = 0, []
            for bound, count in zip(self._bounds, counts):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            buckets.append(("+Inf", cumulative + counts[-1]))
            family.add_metric([verb], buckets, total)
        yield family

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self.name, "", labels=["command"])


def _le(bound: float) -> str:
    return repr(float(bound))

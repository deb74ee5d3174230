"""The dialplan-fallback instrument: calls Asterisk's dialplan sent to its fallback, by reason.

The reason comes from the `SwitchboardFallback` UserEvent the dialplan raises (`SWITCHBOARD_REASON` when the
service set one, e.g. `router-unreachable` for a caller in line whose router went away, else the status); the label set is closed
(`FALLBACK_REASONS`), anything else counts as "other". Children are created up front, so every reason reads 0.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

FALLBACK_REASONS = ("agi-FAILURE", "agi-NOTFOUND", "agi-HANGUP", "FAILED", "INCOMPLETE", "FALLBACK",
                    "router-unreachable", "other")


class FallbackMetrics:
    """`switchboard_fallback_calls_total{reason}` on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        calls = Counter("switchboard_fallback_calls_total",
                        "Calls the dialplan sent to its fallback (service down, flow failure or flow's choice)",
                        ["reason"], registry=registry)
        self._calls = {r: calls.labels(r) for r in FALLBACK_REASONS}

    def fallback(self, reason: str) -> None:
        """One call sent to the fallback; a reason outside FALLBACK_REASONS counts as "other"."""
        self._calls.get(reason, self._calls["other"]).inc()

"""CTI instruments: caller lookups by result and their latency, identify & verify results, screen pops."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# The closed label set of lookup results (what cti's recognition reports); anything else counts as "error".
LOOKUP_RESULTS = ("hit", "miss", "anonymous", "ambiguous", "timeout", "error")
LOOKUP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
VERIFY_RESULTS = ("verified", "wrong_secret", "unknown_account", "failed")


class CTIMetrics:
    """The instruments of recognition and verification, on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        lookups = Counter("switchboard_cti_lookups_total", "Caller-ID lookups by result", ["result"],
                          registry=registry)
        self._lookups = {r: lookups.labels(r) for r in LOOKUP_RESULTS}
        self._latency = Histogram("switchboard_cti_lookup_duration_seconds", "Time to recognise a caller",
                                  buckets=LOOKUP_BUCKETS, registry=registry)
        verifications = Counter("switchboard_cti_verifications_total", "Identify & verify steps by result",
                                ["result"], registry=registry)
        self._verifications = {r: verifications.labels(r) for r in VERIFY_RESULTS}
        self.screen_pops = Counter("switchboard_cti_screen_pops_total", "Screen pops published", ["event"],
                                   registry=registry)

    def lookup(self, result: str, seconds: float) -> None:
        self._lookups.get(result, self._lookups["error"]).inc()
        self._latency.observe(seconds)

    def verification(self, result: str) -> None:
        self._verifications.get(result, self._verifications["failed"]).inc()

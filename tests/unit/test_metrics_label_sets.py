"""Unit tests of the metrics that used to import ivr/cti: closed label sets, structural ports, the fallback counter."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import switchboard.metrics.ivr_metrics as ivr_metrics

from switchboard.cti.recognition import RESULTS
from switchboard.ivr.dialplan_registry import DialplanRegistry
from switchboard.metrics.cti_metrics import LOOKUP_RESULTS, CTIMetrics
from switchboard.metrics.fallback_metrics import FALLBACK_REASONS, FallbackMetrics
from switchboard.metrics.ivr_metrics import IVRMetrics

FLOW = """flows:
  main:
    start: menu
    nodes:
      menu:
        type: menu
        prompt: hello-world
        choices: {"1": bye}
        on_failure: bye
      bye: {type: hangup}
"""


def _value(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


def test_lookup_label_set_matches_what_recognition_reports() -> None:
    """metrics' own lookup results are exactly cti's, so no recognition result folds into "error" by accident."""
    assert LOOKUP_RESULTS == RESULTS


def test_unknown_lookup_result_counts_as_error() -> None:
    """A lookup result outside the closed set counts as error; every known result exists at 0."""
    registry = CollectorRegistry()
    CTIMetrics(registry).lookup("something-new", 0.002)
    assert _value(registry, "switchboard_cti_lookups_total", {"result": "error"}) == 1
    assert all(_value(registry, "switchboard_cti_lookups_total", {"result": r}) is not None for r in LOOKUP_RESULTS)


def test_ivr_metrics_take_the_registrys_reload_result_and_plan(tmp_path: Path) -> None:
    """ivr's ReloadResult and Dialplan fit the metrics' ports structurally: a live version sets info and series."""
    (tmp_path / "main.yaml").write_text(FLOW)
    registry = CollectorRegistry()
    metrics = IVRMetrics(registry)
    plans = DialplanRegistry(tmp_path, None, logging.getLogger("test"), metrics.on_reload)
    version = plans.current.version
    assert _value(registry, "switchboard_dialplan_reloads_total", {"result": "ok"}) == 1
    assert _value(registry, "switchboard_dialplan_info", {"flow": "main", "version": version}) == 1
    assert _value(registry, "switchboard_ivr_node_visits_total", {"flow": "main", "node": "menu"}) == 0
    assert _value(registry, "switchboard_ivr_calls_total", {"flow": "main", "outcome": "routed"}) == 0


def test_fallback_reasons_are_closed_and_start_at_zero() -> None:
    """Every fallback reason exists at 0; a known reason counts under itself and an unknown one under other."""
    registry = CollectorRegistry()
    fallbacks = FallbackMetrics(registry)
    assert all(_value(registry, "switchboard_fallback_calls_total", {"reason": r}) == 0 for r in FALLBACK_REASONS)
    fallbacks.fallback("agi-HANGUP")
    fallbacks.fallback("made-up")
    assert _value(registry, "switchboard_fallback_calls_total", {"reason": "agi-HANGUP"}) == 1
    assert _value(registry, "switchboard_fallback_calls_total", {"reason": "other"}) == 1
    assert _value(registry, "switchboard_fallback_calls_total", {"reason": "made-up"}) is None


def test_ivr_hot_path_children_keep_counting_their_series(monkeypatch: pytest.MonkeyPatch) -> None:
    """Visits, menu inputs and outcomes count on cached children exactly as labels() would, and past the node cap
    new nodes still fold into node="other"."""
    monkeypatch.setattr(ivr_metrics, "MAX_NODE_SERIES", 2)
    registry = CollectorRegistry()
    metrics = IVRMetrics(registry)
    for where in ("main.a", "main.a", "main.b", "main.c", "main.d", "main.c"):
        metrics.on_event("visit", where)
    for event in ("invalid", "invalid", "no_input"):
        metrics.on_event(event, "main.a")
    metrics.on_finished("main", "routed")
    metrics.on_finished("main", "routed")
    metrics.on_finished("main", "something-new")
    visits = "switchboard_ivr_node_visits_total"
    assert _value(registry, visits, {"flow": "main", "node": "a"}) == 2
    assert _value(registry, visits, {"flow": "main", "node": "b"}) == 1
    assert _value(registry, visits, {"flow": "main", "node": "other"}) == 3
    assert _value(registry, visits, {"flow": "main", "node": "c"}) is None
    menu = "switchboard_ivr_menu_inputs_total"
    assert _value(registry, menu, {"flow": "main", "node": "a", "event": "invalid"}) == 2
    assert _value(registry, menu, {"flow": "main", "node": "a", "event": "no_input"}) == 1
    assert _value(registry, "switchboard_ivr_calls_total", {"flow": "main", "outcome": "routed"}) == 2
    assert _value(registry, "switchboard_ivr_calls_total", {"flow": "main", "outcome": "failed"}) == 1

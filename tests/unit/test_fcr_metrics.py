"""First-contact resolution and survey instruments, read back from their registry."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

import switchboard.metrics.fcr_metrics as fcr_metrics
from switchboard.metrics.fcr_metrics import FCRMetrics

MAIN = {"queue": "billing", "segment": "gold", "flow": "main"}


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _answers(registry: CollectorRegistry, flow: str) -> dict[tuple[str, str], float]:
    return {(s.labels["question"], s.labels["answer"]): s.value for metric in registry.collect()
            for s in metric.samples if s.name == "switchboard_survey_answers_total" and s.labels["flow"] == flow}


def test_contacts_and_repeats_count_by_labels() -> None:
    """Two contacts and one repeat in billing/gold/main: FCR from the counters is 1 − 1/2."""
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    fcr.contact("billing", "gold", "main")
    fcr.contact("billing", "gold", "main")
    fcr.repeat("billing", "gold", "main")
    contacts = _value(registry, "switchboard_fcr_contacts_total", **MAIN)
    repeats = _value(registry, "switchboard_fcr_repeat_contacts_total", **MAIN)
    assert (contacts, repeats) == (2, 1)
    assert 1 - repeats / contacts == 0.5


def test_repeat_series_exists_at_zero_after_the_first_contact() -> None:
    """After a contact the repeat series reads 0 (FCR 100 %), not "no data"."""
    registry = CollectorRegistry()
    FCRMetrics(registry).contact("billing", "gold", "main")
    assert registry.get_sample_value("switchboard_fcr_repeat_contacts_total", MAIN) == 0


def test_a_repeat_counts_against_the_first_contacts_labels() -> None:
    """A repeat arriving in support is counted with billing's labels (the queue that failed to resolve it)."""
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    fcr.contact("billing", "gold", "main")   # first contact
    fcr.contact("support", "gold", "main")   # the caller is back, routed elsewhere
    fcr.repeat("billing", "gold", "main")    # the caller passes the first contact's labels
    assert _value(registry, "switchboard_fcr_repeat_contacts_total", **MAIN) == 1
    assert _value(registry, "switchboard_fcr_repeat_contacts_total", queue="support", segment="gold", flow="main") == 0
    assert _value(registry, "switchboard_fcr_contacts_total", queue="support", segment="gold", flow="main") == 1


def test_prepare_creates_contact_repeat_and_survey_series_at_zero() -> None:
    """prepare() makes every contact, repeat and survey-answer series exist at 0 before the first call."""
    registry = CollectorRegistry()
    FCRMetrics(registry).prepare(["billing"], ["gold", "standard"], ["main"])
    for segment in ("gold", "standard"):
        labels = {**MAIN, "segment": segment}
        assert registry.get_sample_value("switchboard_fcr_contacts_total", labels) == 0
        assert registry.get_sample_value("switchboard_fcr_repeat_contacts_total", labels) == 0
    assert _answers(registry, "main") == {("resolved", "yes"): 0, ("resolved", "no"): 0,
                                          **{("csat", str(n)): 0 for n in range(1, 6)}}


def test_prepare_accepts_one_shot_iterables() -> None:
    """Segments and flows given as generators still reach every queue."""
    registry = CollectorRegistry()
    FCRMetrics(registry).prepare(["billing", "support"], (s for s in ("gold",)), (f for f in ("main",)))
    labels = {**MAIN, "queue": "support"}
    assert registry.get_sample_value("switchboard_fcr_contacts_total", labels) == 0


def test_survey_answers_count_and_their_siblings_exist() -> None:
    """A survey answer counts once, and the question's other answers exist at 0 (ratios read 0, not no data)."""
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    fcr.survey("main", "resolved", "yes")
    fcr.survey("main", "csat", "5")
    fcr.survey("main", "csat", "4")
    fcr.survey("main", "csat", "2")
    answers = _answers(registry, "main")
    assert answers[("resolved", "yes")] == 1 and answers[("resolved", "no")] == 0
    assert [answers[("csat", str(n))] for n in range(1, 6)] == [0, 1, 0, 1, 1]
    csat = (answers[("csat", "4")] + answers[("csat", "5")]) / sum(v for (q, _), v in answers.items() if q == "csat")
    assert csat == pytest.approx(2 / 3)


@pytest.mark.parametrize(("question", "answer"), [
    ("resolved", "maybe"), ("resolved", "1"), ("resolved", "YES"), ("csat", "0"), ("csat", "6"), ("csat", "4.5"),
    ("csat", "yes"), ("csat", ""), ("nps", "9"), ("", "yes"),
])
def test_survey_refuses_answers_outside_the_scale(question: str, answer: str) -> None:
    """resolved takes yes/no, csat 1-5, no other question exists; anything else is a ValueError and no series."""
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    with pytest.raises(ValueError):
        fcr.survey("main", question, answer)
    assert _answers(registry, "main") == {}


def test_empty_labels_get_placeholders() -> None:
    """A contact without a queue, segment or flow is counted under none/unknown/none, never an empty label."""
    registry = CollectorRegistry()
    FCRMetrics(registry).contact("", "", "")
    assert _value(registry, "switchboard_fcr_contacts_total", queue="none", segment="unknown", flow="none") == 1


def test_series_beyond_the_cap_fold_into_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_SERIES label sets, new queues and flows count as "other" (the label set stays bounded)."""
    monkeypatch.setattr(fcr_metrics, "MAX_SERIES", 1)
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    fcr.contact("billing", "gold", "main")
    fcr.contact("support", "gold", "sales")
    assert _value(registry, "switchboard_fcr_contacts_total", queue="other", segment="gold", flow="other") == 1
    assert registry.get_sample_value("switchboard_fcr_contacts_total",
                                     {"queue": "support", "segment": "gold", "flow": "sales"}) is None


def test_contacts_on_cached_children_keep_the_placeholders_and_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """A contact's children are looked up once; empty labels still count under none/unknown and past the cap
    under other."""
    monkeypatch.setattr(fcr_metrics, "MAX_SERIES", 1)
    registry = CollectorRegistry()
    fcr = FCRMetrics(registry)
    for _ in range(2):
        fcr.contact("", "", "")
        fcr.contact("billing", "gold", "main")
    assert _value(registry, "switchboard_fcr_contacts_total", queue="none", segment="unknown", flow="none") == 2
    assert _value(registry, "switchboard_fcr_contacts_total", queue="other", segment="gold", flow="other") == 2
    assert registry.get_sample_value("switchboard_fcr_repeat_contacts_total",
                                     {"queue": "other", "segment": "gold", "flow": "other"}) == 0

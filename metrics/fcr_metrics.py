"""First-contact resolution and satisfaction instruments (the formulas are in docs/metrics.md).

Repeat-contact method: every counted contact increments `switchboard_fcr_contacts_total`; a repeat increments
`switchboard_fcr_repeat_contacts_total` with the labels of the FIRST contact (the one that was not resolved), so
FCR per queue = 1 - increase(repeats) / increase(contacts) over any window of at least N days.
Survey method: `switchboard_survey_answers_total{flow,question,answer}` — question `resolved` (yes/no) and `csat`
(1-5); FCR by survey = yes / all resolved answers, CSAT = answers 4 and 5 / all csat answers.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client import CollectorRegistry, Counter

ANSWERS = {"resolved": ("yes", "no"), "csat": ("1", "2", "3", "4", "5")}
MAX_SERIES = 1000


class FCRMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["queue", "segment", "flow"]
        self._contacts = Counter("switchboard_fcr_contacts_total", "Contacts counted for first-contact resolution",
                                 labels, registry=registry)
        self._repeats = Counter("switchboard_fcr_repeat_contacts_total",
                                "Contacts repeated within the FCR window, by the first contact's labels", labels,
                                registry=registry)
        self._survey = Counter("switchboard_survey_answers_total", "Survey answers after the agent leg",
                               ["flow", "question", "answer"], registry=registry)
        self._seen: set[tuple[str, str, str]] = set()
        # (contacts, repeats) children by the labels as callers pass them: one lookup per contact, not two
        self._children: dict[tuple[str, str, str], tuple[Counter, Counter]] = {}

    def _key(self, queue: str, segment: str, flow: str) -> tuple[str, str, str]:
        key = (queue or "none", segment or "unknown", flow or "none")
        if key not in self._seen:
            if len(self._seen) >= MAX_SERIES:
                return ("other", key[1], "other")
            self._seen.add(key)
        return key

    def prepare(self, queues: Iterable[str], segments: Iterable[str], flows: Iterable[str]) -> None:
        """Creates the contact, repeat and survey series at 0 before the first call (increase() then counts it)."""
        segments, flows = list(segments), list(flows)  # iterated once per queue (and segment)
        for queue in queues:
            for segment in segments:
                for flow in flows:
                    key = self._key(queue, segment, flow)
                    self._contacts.labels(*key)
                    self._repeats.labels(*key)
        for flow in flows:
            for question, answers in ANSWERS.items():
                for answer in answers:
                    self._survey.labels(flow, question, answer)

    def contact(self, queue: str, segment: str, flow: str) -> None:
        given = (queue, segment, flow)
        children = self._children.get(given)
        if children is None:
            key = self._key(queue, segment, flow)
            # the repeats series is present at 0 from the first contact: FCR reads 100 %, not "no data"
            children = (self._contacts.labels(*key), self._repeats.labels(*key))
            if len(self._children) < MAX_SERIES:
                self._children[given] = children
        children[0].inc()

    def repeat(self, queue: str, segment: str, flow: str) -> None:
        self._repeats.labels(*self._key(queue, segment, flow)).inc()

    def survey(self, flow: str, question: str, answer: str) -> None:
        if answer not in ANSWERS.get(question, ()):
            raise ValueError(f"survey {question!r} has no answer {answer!r}")
        for other in ANSWERS[question]:
            self._survey.labels(flow or "none", question, other)
        self._survey.labels(flow or "none", question, answer).inc()

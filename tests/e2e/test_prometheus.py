"""End to end: a real Prometheus scrapes the service during real calls; dashboard queries and FCR figures check out."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import (REPO, AsteriskSandbox, PrometheusServer, RedisServer, SwitchboardProcess,
                               wait_until)
from tests.e2e.sipp import Agent, Caller, SippFactory

PEPPER = "e2e-pepper-not-a-real-secret"
ROUTING = """\
skills: [billing]
segments: {gold: {priority: 50, aging: 0.5}, standard: {priority: 10, aging: 0.5}}
wrap_up: 0
agents:
  agent1: {name: Ada, endpoint: PJSIP/agent1, skills: {billing: 5}, languages: [en]}
"""
FLOWS = """\
flows:
  fcr:
    start: billing
    nodes:
      billing: {type: route, skills: {billing: 1}, queue: billing, overflow: bye, after: resolved, intent: billing}
      resolved: {type: survey, question: resolved, prompt: beep, timeout: 4, retries: 0, next: rating}
      rating: {type: survey, question: csat, prompt: beep, timeout: 4, retries: 0, next: bye}
      bye: {type: hangup, prompt: beep}
"""
REPEATER, ONCE = "+442079460601", "+442079460602"
# (caller, resolved answer, rating): the repeater calls three times (two repeats), another customer once
SEQUENCE = ((REPEATER, "1", "5"), (REPEATER, "2", "4"), (ONCE, "1", "2"), (REPEATER, "2", "1"))


@pytest.fixture
def scraped_service(asterisk: AsteriskSandbox, redis_server: RedisServer,
                    tmp_path: Path) -> Iterator[tuple[SwitchboardProcess, PrometheusServer]]:
    redis_server.command("flushall")
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text("numbers: {}\ndefault: fcr\n")
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    service = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                                 extra_env={"SWITCHBOARD_CTI_PEPPER": PEPPER},
                                 extra_settings=f"ivr:\n  dialplans: {folder}\n").start()
    done = service.import_customers([{"id": "c-rep", "name": "Rita Repeat", "phones": [REPEATER], "segment": "gold"},
                                     {"id": "c-one", "name": "Otto Once", "phones": [ONCE], "segment": "gold"}])
    assert done.returncode == 0, done.stderr
    assert service.post("/agents/agent1/login")[0] == 200
    prometheus = PrometheusServer(tmp_path / "prometheus", f"127.0.0.1:{service.http_port}").start()
    # calls start only once Prometheus has scraped the zeros: increase() needs a sample before the first call
    wait_until(lambda: _value(prometheus, 'up{job="switchboard"}') == 1, 30, "the first scrape")
    yield service, prometheus
    prometheus.stop()
    service.stop()


def _value(prometheus: PrometheusServer, expr: str) -> float | None:
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if result else None


def test_dashboard_queries_and_fcr_through_prometheus(scraped_service: tuple[SwitchboardProcess, PrometheusServer],
                                                      sipp: SippFactory) -> None:
    """Four real calls (one customer calls three times): FCR, survey FCR and CSAT match; every panel has data."""
    service, prometheus = scraped_service
    agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300, talk_ms=1500), calls=len(SEQUENCE))
    for caller_id, resolved, rating in SEQUENCE:
        # the agent hangs up after 1.5 s (about 2.6 s into the call); the caller stays for the two survey
        # questions (4 s each to answer: the first key at 4.5 s sits mid-window), then the goodbye
        run = sipp.caller(Caller(caller_id=caller_id, dialled="5000", digits=((4500, resolved), (1500, rating)),
                                 hangup_after_ms=None))
        assert run.wait(60) == 0, run.errors()
    assert agent.wait(20) == 0, agent.errors()
    wait_until(lambda: _value(prometheus, "sum(switchboard_fcr_contacts_total)") == 4, 30,
               "four contacts scraped")
    wait_until(lambda: _value(prometheus, "sum(switchboard_survey_answers_total)") == 8, 30,
               "eight survey answers scraped")
    # 4 contacts, 2 repeats (the 2nd and 4th calls repeat the 1st and 2nd): FCR = 1 - 2/4, exactly, from the
    # counters; the 7-day recording rules use increase(), which Prometheus extrapolates over a window longer than
    # the data, so on a two-minute-old server they are close to, not exactly, the same figures
    assert _value(prometheus, "1 - sum(switchboard_fcr_repeat_contacts_total)"
                              " / sum(switchboard_fcr_contacts_total)") == 0.5
    assert _value(prometheus, 'sum(switchboard_survey_answers_total{question="resolved",answer="yes"})'
                              ' / sum(switchboard_survey_answers_total{question="resolved"})') == 0.5
    assert _value(prometheus, 'sum(switchboard_survey_answers_total{question="csat",answer=~"4|5"})'
                              ' / sum(switchboard_survey_answers_total{question="csat"})') == 0.5
    for rule in ('queue:switchboard_fcr_repeat_contact:ratio_7d{queue="billing"}', "switchboard_fcr_survey:ratio_7d",
                 "switchboard_csat:ratio_7d"):
        # the rule is evaluated every second: wait for the evaluation after the last scrape
        wait_until(lambda: _value(prometheus, rule) == pytest.approx(0.5, abs=0.05), 20, f"{rule} near 0.5")
    assert _value(prometheus, 'sum(switchboard_queue_answered_total{queue="billing"})') == 4
    dashboard = json.loads((REPO / "metrics" / "grafana" / "switchboard.json").read_text())
    empty = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$queue", ".*").replace("$instance", ".*")
            if not prometheus.query(expr):
                empty.append(f"{panel['title']}: {expr}")
    assert empty == [], empty

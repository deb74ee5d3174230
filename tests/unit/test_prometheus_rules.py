"""The Prometheus rules and the Grafana dashboard: promtool checks and unit tests, and every query names real series."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "metrics" / "prometheus"
DASHBOARD = REPO / "metrics" / "grafana" / "switchboard.json"
RECORDING_FILES = ("recording.yml", "resolution.yml")
RULE_FILES = (*RECORDING_FILES, "alerts.yml")
SERIES = re.compile(r"\b([a-z_]+:)?switchboard_[a-z0-9_]+(:[a-z0-9_]+)?\b")
# a "switchboard_..." literal and what it is handed to: Counter("x_total", ...), or `name = "x"` for collectors
LITERAL = re.compile(r'(?:(\w+)\(\s*|(\w+)\s*=\s*)"(switchboard_[a-z0-9_]+)"')
EXPOSED = {
    "Counter": ("_total",), "CounterMetricFamily": ("_total",),
    "Histogram": ("_bucket", "_sum", "_count"), "HistogramMetricFamily": ("_bucket", "_sum", "_count"),
    "Summary": ("", "_sum", "_count"), "SummaryMetricFamily": ("", "_sum", "_count"),
    "Gauge": ("",), "GaugeMetricFamily": ("",), "Info": ("_info",), "InfoMetricFamily": ("_info",),
}
DS = {"type": "prometheus", "uid": "${datasource}"}


def _promtool() -> str:
    exe = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI: apt-get install prometheus (scripts/install_dependencies.sh)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return exe


def _exposed(kind: str, name: str) -> set[str]:
    """The series names an instrument of this kind exposes (a counter's `_total` is added once, not twice)."""
    base = name[: -len("_total")] if kind.startswith("Counter") and name.endswith("_total") else name
    return {base + suffix for suffix in EXPOSED[kind]}


def _defined_metrics() -> set[str]:
    """Every series name the code exports: the "switchboard_..." literals of metrics/*.py, expanded by type."""
    names: set[str] = set()
    for source in sorted((REPO / "metrics").glob("*.py")):
        text = source.read_text()
        for match in LITERAL.finditer(text):
            kind, attribute, name = match.groups()
            if attribute is not None:  # `name = "..."` of a collector: typed by the family built from self.<attribute>
                used = re.search(rf"(\w+)\(self\.{attribute}\b", text)
                kind = used.group(1) if used else None
            assert kind in EXPOSED, f"{source.name}: cannot tell the type of {name} (given to {kind or attribute})"
            names |= _exposed(kind, name)
    return names


def _rules(*files: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yaml = YAML(typ="safe")
    for name in files:
        for group in yaml.load((RULES / name).read_text())["groups"]:
            for rule in group["rules"]:
                yield name, rule


def _recorded() -> set[str]:
    return {rule["record"] for _, rule in _rules(*RECORDING_FILES)}


def _used(expr: str) -> set[str]:
    return {m.group(0) for m in SERIES.finditer(expr)}


def test_rule_files_are_all_checked() -> None:
    """Every rule file and promtool test in metrics/prometheus/ is one these tests run (none forgotten)."""
    assert {p.name for p in RULES.glob("*.yml")} == set(RULE_FILES)
    assert len(list((RULES / "tests").glob("*.yml"))) >= 2


def test_promtool_checks_the_rule_files() -> None:
    """promtool accepts the recording and alerting rules."""
    done = subprocess.run([_promtool(), "check", "rules", *(str(RULES / f) for f in RULE_FILES)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    """The scripted series give the expected KPIs and fire (or hold) the expected alerts."""
    tests = sorted(p.name for p in (RULES / "tests").glob("*.yml"))
    done = subprocess.run([_promtool(), "test", "rules", *tests], cwd=RULES / "tests", capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_defined_metrics_expand_by_type() -> None:
    """The name scan knows each instrument's type: histograms expose _bucket/_sum/_count, counters _total, once."""
    names = _defined_metrics()
    assert {"switchboard_queue_answered_wait_seconds_bucket", "switchboard_agi_command_duration_seconds_bucket",
            "switchboard_queue_offered_total", "switchboard_agents", "switchboard_ami_connected"} <= names
    assert not {"switchboard_queue_offered_total_total", "switchboard_agents_total", "switchboard_agents_bucket",
                "switchboard_queue_offered_total_bucket"} & names


def test_rules_only_use_series_the_code_exports() -> None:
    """Every series a rule reads is exported by metrics/ or recorded by another rule (no typo'd names)."""
    known = _defined_metrics() | _recorded()
    for name, rule in _rules(*RULE_FILES):
        used = _used(rule["expr"])
        assert used and used <= known, f"{name}: {rule.get('record') or rule.get('alert')}: {used - known}"


def test_recording_rules_follow_the_naming_convention() -> None:
    """Recorded names are level:metric:operations (Prometheus convention) and live gauges are aggregated with max."""
    for name, rule in _rules(*RECORDING_FILES):
        assert re.fullmatch(r"([a-z_]+:)?switchboard_[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]
        live = {"switchboard_queue_waiting_calls", "switchboard_queue_longest_wait_seconds", "switchboard_agents"}
        if _used(rule["expr"]) & live:
            assert rule["expr"].startswith("max by"), f"{name}: {rule['record']} must aggregate live gauges with max"


def test_alerts_have_severity_and_annotations() -> None:
    """Every alert carries a severity (warning or critical), a summary and a description."""
    alerts = [rule for _, rule in _rules("alerts.yml")]
    assert {a["alert"] for a in alerts} >= {"SwitchboardServiceLevelLow", "SwitchboardAMIDown",
                                             "SwitchboardNoAgentLoggedIn", "SwitchboardAbandonmentSpike",
                                             "SwitchboardDialplanReloadRejected"}
    for alert in alerts:
        assert alert["labels"]["severity"] in ("warning", "critical"), alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    """The dashboard parses; its data source is a template variable (so UI import and file provisioning both work,
    no `${DS_...}` import input); instance and queue variables query through it."""
    text = DASHBOARD.read_text()
    dashboard = json.loads(text)
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert "__inputs" not in dashboard and "__requires" not in dashboard and "${DS_" not in text
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["datasource", "instance", "queue"]
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == ("datasource", "prometheus")
    for name in ("instance", "queue"):
        assert variables[name]["datasource"] == DS and variables[name]["includeAll"] and variables[name]["multi"]
        assert variables[name]["allValue"] == ".*", name
    assert 'instance=~"$instance"' in variables["queue"]["query"]["query"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"] == DS, panel["title"]
        assert all(target["datasource"] == DS for target in panel["targets"]), panel["title"]


def test_dashboard_panels_have_units_and_thresholds() -> None:
    """Every panel states its unit and absolute thresholds: a base colour, then rising values."""
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), panel["title"]
        thresholds = defaults["thresholds"]
        assert thresholds["mode"] == "absolute", panel["title"]
        steps = thresholds["steps"]
        assert steps[0]["value"] is None and all(step["color"] for step in steps), panel["title"]
        values = [step["value"] for step in steps[1:]]
        assert values == sorted(values), panel["title"]
    by_title = {panel["title"]: panel for panel in dashboard["panels"]}
    service_level = next(p for t, p in by_title.items() if t.startswith("Service level"))
    # the dashboard turns green where the SwitchboardServiceLevelLow alert stops firing
    assert [s["value"] for s in service_level["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 0.8]


def test_dashboard_variables_query_known_series() -> None:
    """The instance and queue variables list label values of series the code exports."""
    dashboard = json.loads(DASHBOARD.read_text())
    known = _defined_metrics()
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            used = _used(variable["query"]["query"])
            assert used and used <= known, f"{variable['name']}: {used - known}"


def test_dashboard_panels_query_known_series() -> None:
    """Every panel has a query, every query names exported or recorded series, and the required panels exist."""
    dashboard = json.loads(DASHBOARD.read_text())
    known = _defined_metrics() | _recorded()
    titles = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        titles.add(panel["title"])
        for target in panel["targets"]:
            used = _used(target["expr"])
            assert used and used <= known, f"{panel['title']}: {used - known}"
            if any(name.startswith("queue:") for name in used):
                assert 'queue=~"$queue"' in target["expr"], f"{panel['title']}: not filtered by $queue"
            if any(":" not in name for name in used):  # raw series keep their instance label
                assert 'instance=~"$instance"' in target["expr"], f"{panel['title']}: not filtered by $instance"
    for needed in ("Service level", "ASA", "Abandonment", "Calls waiting", "Longest", "Agents by state", "AHT",
                   "FCR, repeat", "FCR, survey", "CSAT", "IVR containment", "IVR drop-off", "CTI hit", "AGI",
                   "AMI", "Routing decision", "Active calls"):
        assert any(t.startswith(needed) for t in titles), needed


def test_every_kpi_is_shown_or_alerted_on() -> None:
    """No recording rule is dead: each one is read by a dashboard panel or an alert."""
    dashboard = json.loads(DASHBOARD.read_text())
    read = {name for panel in dashboard["panels"] for target in panel["targets"] for name in _used(target["expr"])}
    read |= {name for _, rule in _rules("alerts.yml") for name in _used(rule["expr"])}
    assert _recorded() - read == set()


def test_dashboard_queue_list_leaves_out_self_service() -> None:
    """The dashboard's queue variable lists route nodes' queues, not the self-service pseudo-queue (issue 14, #11)."""
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    assert 'queue!="self-service"' in variables["queue"]["query"]["query"]

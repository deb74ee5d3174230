"""The Prometheus rules and the Grafana dashboard: promtool checks and unit tests, and every query names real series."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "metrics" / "prometheus"
DASHBOARD = REPO / "metrics" / "grafana" / "switchboard.json"
RULE_FILES = ("recording.yml", "resolution.yml", "alerts.yml")
SERIES = re.compile(r"\b([a-z_]+:)?switchboard_[a-z0-9_]+(:[a-z0-9_]+)?\b")


def _promtool() -> str:
    exe = shutil.which("promtool")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI: apt-get install prometheus (scripts/install_dependencies.sh)")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return exe


def _defined_metrics() -> set[str]:
    """Every series name the code exports: literal names in metrics/*.py, histograms and counters expanded."""
    names: set[str] = set()
    for source in (REPO / "metrics").glob("*.py"):
        for name in re.findall(r'"(switchboard_[a-z0-9_]+)"', source.read_text()):
            names.update({name, f"{name}_total", f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def _recorded() -> set[str]:
    yaml = YAML(typ="safe")
    return {rule["record"] for name in ("recording.yml", "resolution.yml")
            for group in yaml.load((RULES / name).read_text())["groups"] for rule in group["rules"]}


def test_promtool_checks_the_rule_files() -> None:
    """promtool accepts the recording and alerting rules."""
    done = subprocess.run([_promtool(), "check", "rules", *(str(RULES / f) for f in RULE_FILES)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass() -> None:
    """The scripted series give the expected KPIs and fire (or hold) the expected alerts."""
    done = subprocess.run([_promtool(), "test", "rules", "rules_test.yml", "resolution_test.yml"], cwd=RULES / "tests",
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_only_use_series_the_code_exports() -> None:
    """Every series a rule reads is exported by metrics/ or recorded by another rule (no typo'd names)."""
    known = _defined_metrics() | _recorded()
    yaml = YAML(typ="safe")
    for name in RULE_FILES:
        for group in yaml.load((RULES / name).read_text())["groups"]:
            for rule in group["rules"]:
                used = {m.group(0) for m in SERIES.finditer(rule["expr"])}
                assert used <= known, f"{name}: {rule.get('record') or rule.get('alert')}: {used - known}"


def test_dashboard_panels_query_known_series() -> None:
    """The dashboard parses, every panel has a query, and every query names exported or recorded series."""
    dashboard = json.loads(DASHBOARD.read_text())
    known = _defined_metrics() | _recorded()
    titles = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        titles.add(panel["title"])
        for target in panel["targets"]:
            used = {m.group(0) for m in SERIES.finditer(target["expr"])}
            assert used and used <= known, f"{panel['title']}: {used - known}"
    for needed in ("Service level", "ASA", "Abandonment", "Calls waiting", "Longest", "Agents by state", "AHT",
                   "FCR, repeat", "FCR, survey", "CSAT", "IVR containment", "IVR drop-off", "CTI hit", "AGI",
                   "AMI"):
        assert any(t.startswith(needed) for t in titles), needed

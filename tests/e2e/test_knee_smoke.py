"""The knee bench (bench/knee.py) runs end to end on the real parts: one short low-rate step of each scenario.

It starts its own Asterisk (bench agents, extensions and an observer user) on the fixed ports, so the session's
sandbox is stopped while it runs and started again after, like the stock-configuration tests. No timing is asserted:
only that each scenario's calls completed by Asterisk's own count and that the table and knees were printed.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import REPO, AsteriskSandbox, python_exe


@pytest.fixture
def ports_free(asterisk: AsteriskSandbox) -> Iterator[None]:
    """Stops the session's Asterisk (the bench needs its ports) and starts it again after."""
    asterisk.stop()
    yield
    asterisk.start()


def test_knee_bench_places_each_scenario_and_prints_the_table(ports_free: None, tmp_path: Path) -> None:
    """At 2 calls/s for 3 s every scenario's calls complete (Asterisk's count), the full calls are recognised, and
    the table with the knees and the ratio is printed."""
    out = tmp_path / "steps.json"
    # --no-lock: e2e runs already hold /tmp/switchboard-asterisk.lock (taking it again here would wait forever)
    done = subprocess.run([python_exe(), str(REPO / "bench" / "knee.py"), "--rates", "2", "--step-seconds", "3",
                           "--agents", "20", "--no-lock", "--work", str(tmp_path / "work"), "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = {step["scenario"]: step for step in json.loads(out.read_text())}
    assert set(steps) == {"trivial", "trivial+agent", "full"}
    for scenario, step in steps.items():
        assert step["attempted"] == 6, (scenario, step)
        assert step["completed"] == step["attempted"], (scenario, step)
    assert steps["full"]["lookup_hits"] == steps["full"]["attempted"]
    assert "rate/s" in done.stdout and "verdict" in done.stdout
    assert "knee full" in done.stdout and "full ÷ trivial-with-agent" in done.stdout
    assert "main.main_menu" in done.stdout  # one full call's path: the menus were walked

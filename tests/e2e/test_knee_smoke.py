"""The knee bench (bench/knee.py) runs end to end on the real parts: one short low-rate step of each scenario, on
Asterisk tuned and untuned (`--untuned`: the same run restarts Asterisk without the µ-law prompts and stasis.conf).

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
    """At 2 calls/s for 3 s every scenario's calls complete (Asterisk's count) on Asterisk tuned and untuned (one
    restart between), the full calls are recognised, and the tables with the knees, the ratio and each step's count of
    Redis commands over 2 ms (its SLOWLOG, Redis under SCHED_FIFO) are printed."""
    out = tmp_path / "steps.json"
    # --no-lock: e2e runs already hold /tmp/switchboard-asterisk.lock (taking it again here would wait forever)
    done = subprocess.run([python_exe(), str(REPO / "bench" / "knee.py"), "--rates", "2", "--step-seconds", "3",
                           "--agents", "20", "--untuned", "--no-lock", "--work", str(tmp_path / "work"),
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = {(step["asterisk"], step["scenario"]): step for step in json.loads(out.read_text())}
    assert set(steps) == {(config, scenario) for config in ("tuned", "untuned")
                          for scenario in ("trivial", "trivial+agent", "full")}
    for kind, step in steps.items():
        assert step["attempted"] == 6, (kind, step)
        assert step["completed"] == step["attempted"], (kind, step)
        assert step["cpu_ms"]["asterisk"] > 0, (kind, step)
    for config in ("tuned", "untuned"):
        assert steps[(config, "full")]["lookup_hits"] == steps[(config, "full")]["attempted"]
    assert "rate/s" in done.stdout and "verdict" in done.stdout
    assert "knee full" in done.stdout and "full ÷ trivial-with-agent at the knee, untuned" in done.stdout
    assert "Asterisk CPU per call, tuned vs untuned, full" in done.stdout
    assert "main.main_menu" in done.stdout  # one full call's path: the menus were walked
    assert "Redis scheduled fifo" in done.stdout and "redis >2ms" in done.stdout
    assert all(step["redis_slow"] >= 0 and (step["redis_slow"] == 0) == (step["redis_longest"] == "")
               for step in steps.values())  # the SLOWLOG was read for every step

"""`switchboard agents` against a real Redis before the service has ever run (issue 14, defect 6)."""
from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.cli import main as cli
from tests.e2e.sandbox import RedisServer

DIALPLANS = Path(__file__).parents[2] / "dialplans"


def test_login_before_serve_knows_the_agents_of_routing_yaml(redis_server: RedisServer,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`agents login agent1` on an empty Redis takes the agent from routing.yaml instead of "no such agent"."""
    monkeypatch.delenv("SWITCHBOARD_AMI_SECRET", raising=False)
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    monkeypatch.setenv("SWITCHBOARD_REDIS__URL", redis_server.url)
    monkeypatch.setenv("SWITCHBOARD_IVR__DIALPLANS", str(DIALPLANS))
    assert cli(["agents", "login", "agent1", "--config", "/dev/null"]) == 0
    assert capsys.readouterr().out.startswith("agent1: ")
    assert cli(["agents", "list", "--config", "/dev/null"]) == 0
    assert "agent1" in capsys.readouterr().out
    assert cli(["agents", "login", "nobody", "--config", "/dev/null"]) == 1
    assert "no agent 'nobody'" in capsys.readouterr().err

"""Fixtures of the e2e tier: one Asterisk sandbox and one Redis per session, a fresh service per test.

The tier needs root (chroot), sipp and redis-server. Outside CI a missing part skips the tier with the reason;
in CI (CI=true) it fails instead, because an e2e test that skips in CI is a failure.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.sandbox import AsteriskSandbox, RedisServer, SandboxError, SwitchboardProcess
from tests.e2e.sipp import SippFactory


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root for the Asterisk chroot"
    for tool in ("sipp", "redis-server", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def asterisk(e2e_dir: Path) -> Iterator[AsteriskSandbox]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"e2e tier cannot run in CI: {missing}")
        pytest.skip(missing)
    sandbox = AsteriskSandbox(name="e2e")
    try:
        sandbox.start()
    except SandboxError as exc:
        pytest.fail(str(exc))
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def redis_server(e2e_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(e2e_dir / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def service(asterisk: AsteriskSandbox, redis_server: RedisServer, tmp_path: Path) -> Iterator[SwitchboardProcess]:
    """The service running the first flow (examples/first-flow: greet, one key, agent1)."""
    first_flow = Path(__file__).resolve().parents[2] / "examples" / "first-flow"
    proc = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                              extra_settings=f"ivr:\n  dialplans: {first_flow}\n").start()
    yield proc
    proc.stop()


@pytest.fixture
def sipp(asterisk: AsteriskSandbox, tmp_path: Path) -> Iterator[SippFactory]:
    factory = SippFactory(tmp_path / "sipp")
    yield factory
    factory.stop_all()
    asterisk.quiesce()

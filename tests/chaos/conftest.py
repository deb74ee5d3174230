"""Fixtures of the chaos tier: its own Asterisk sandbox (with a read-only observer AMI user), Redis and the counts
table printed at the end of the run.

Like the e2e tier it needs root, sipp and redis-server; outside CI a missing part skips with the reason, in CI
(CI=true) it fails. It runs in its own pytest session (`./run-tests` starts it after the other tiers), because it
stops and restarts Asterisk on the fixed ports.
"""
from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.chaos.observer import FaultCounts, table
from tests.e2e.sandbox import AsteriskSandbox, SandboxError

ROWS = pytest.StashKey[list[FaultCounts]]()
OBSERVER = "chaos-observer"


class ChaosAsterisk(AsteriskSandbox):
    """The sandbox plus a read-only AMI user for the witness, so the service's own session can be told apart."""

    observer_secret: str = secrets.token_hex(16)

    def _write_config(self) -> None:
        super()._write_config()
        conf = self.outer / "etc" / "manager.conf"
        conf.write_text(conf.read_text() + f"\n[{OBSERVER}]\nsecret={self.observer_secret}\n"
                        "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\nwritetimeout=1000\n"
                        "read=system,call,user\nwrite=\n")


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root for the Asterisk chroot"
    for tool in ("sipp", "redis-server", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


@pytest.fixture(scope="session")
def asterisk() -> Iterator[ChaosAsterisk]:
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"chaos tier cannot run in CI: {missing}")
        pytest.skip(missing)
    sandbox = ChaosAsterisk(name="chaos")
    try:
        sandbox.start()
    except SandboxError as exc:
        pytest.fail(str(exc))
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def chaos_rows(request: pytest.FixtureRequest) -> list[FaultCounts]:
    rows: list[FaultCounts] = []
    request.config.stash[ROWS] = rows
    return rows


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(ROWS, [])
    if rows:
        terminalreporter.section("chaos: counts per fault (from Asterisk's own AMI events)")
        terminalreporter.write_line(table(rows))

"""Beside an existing PBX: Debian's stock /etc/asterisk plus only what README "Beside your Asterisk" adds
(tests/e2e/beside_stock.py) takes a call through the first flow to an agent, and `switchboard check-asterisk` finds
every piece there (with callbacks on, also the callback context and the originate user); on the untouched stock
configuration it reports each missing piece with the line to add."""
from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.e2e.beside_stock import add_callbacks, add_switchboard
from tests.e2e.sandbox import REPO, AsteriskSandbox, RedisServer, SandboxError, SwitchboardProcess, python_exe
from tests.e2e.sipp import Agent, Caller, SippFactory

FIRST_FLOW = REPO / "examples" / "first-flow"
ADMIN_SECRET = secrets.token_hex(12)
ORIGINATE_SECRET = secrets.token_hex(12)
CALLBACKS_ON = "callbacks:\n  enabled: true\n"


def _with_readme_additions(etc: Path) -> None:
    """Every step of README "Beside your Asterisk", callbacks (step 7) included."""
    add_switchboard(etc)
    add_callbacks(etc, ORIGINATE_SECRET)


def _with_admin(etc: Path) -> None:
    """An operator's own AMI admin (not Switchboard's): lets check-asterisk inspect a PBX without our user."""
    (etc / "manager.d" / "site-admin.conf").write_text(
        f"[site-admin]\nsecret={ADMIN_SECRET}\ndeny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\n"
        "read=all\nwrite=all\n")


@pytest.fixture
def stock_asterisk(asterisk: AsteriskSandbox) -> Iterator[Callable[[Callable[[Path], None]], AsteriskSandbox]]:
    """Starts a stock-configured Asterisk in place of the session's (same fixed ports), restarting that one after."""
    asterisk.stop()
    started: list[AsteriskSandbox] = []

    def start(additions: Callable[[Path], None]) -> AsteriskSandbox:
        sandbox = AsteriskSandbox(name="stock", ami_secret=asterisk.ami_secret, stock_additions=additions)
        started.append(sandbox)
        try:
            return sandbox.start()
        except SandboxError as exc:
            pytest.fail(str(exc))
    yield start
    for sandbox in started:
        sandbox.stop()
    asterisk.start()


def _check_asterisk(service_dir: Path, secret: str, *extra: str, settings: str = "") -> subprocess.CompletedProcess[str]:
    service_dir.mkdir(parents=True, exist_ok=True)
    config = service_dir / "settings.yaml"
    config.write_text(f"ivr:\n  dialplans: {FIRST_FLOW}\n" + settings)
    env = dict(os.environ, SWITCHBOARD_AMI_SECRET=secret, SWITCHBOARD_AMI_ADMIN_SECRET=ADMIN_SECRET,
               SWITCHBOARD_AMI_ORIGINATE_SECRET=ORIGINATE_SECRET)
    return subprocess.run([python_exe(), "-m", "switchboard.cli", "check-asterisk", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=60, env=env, cwd=REPO)


def test_stock_plus_readme_additions_takes_a_call_to_an_agent(stock_asterisk: Callable[..., AsteriskSandbox],
                                                               redis_server: RedisServer, tmp_path: Path) -> None:
    """Stock config + the README's additions: check-asterisk finds everything (the callback pieces too when
    callbacks are on, skipped when off), and a caller reaches agent1."""
    pbx = stock_asterisk(_with_readme_additions)
    checked = _check_asterisk(tmp_path / "check", pbx.ami_secret)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "MISSING" not in checked.stdout and "all 10 checks passed (1 skipped)" in checked.stdout, checked.stdout
    assert "skipped callbacks: not checked (callbacks.enabled is off)" in checked.stdout, checked.stdout
    with_callbacks = _check_asterisk(tmp_path / "check-callbacks", pbx.ami_secret, settings=CALLBACKS_ON)
    out = with_callbacks.stdout
    assert with_callbacks.returncode == 0, out + with_callbacks.stderr
    assert "MISSING" not in out and "skipped" not in out and "all 16 checks passed" in out, out
    assert "ok      callback context [switchboard-callback] with its Dial()" in out, out
    assert "ok      originate user 'switchboard-originate' may Originate into [switchboard-callback]" in out, out
    for action in ("Command", "GetConfig", "Setvar"):
        assert f"ok      originate user 'switchboard-originate' is refused {action}" in out, out
    service = SwitchboardProcess(tmp_path / "service", redis_server.url, pbx.ami_secret,
                                 extra_settings=f"ivr:\n  dialplans: {FIRST_FLOW}\n").start()
    sipp = SippFactory(tmp_path / "sipp")
    try:
        agent = sipp.agent(Agent(name="agent1", port=5071, ring_ms=300))
        caller = sipp.caller(Caller(caller_id="+441632960125", digits=((600, "2"),), hangup_after_ms=1500))
        assert caller.wait(40) == 0, caller.errors()
        assert agent.wait(20) == 0, agent.errors()
    finally:
        sipp.stop_all()
        pbx.quiesce()
        service.stop()
    lines = [line for line in service.log_file.read_text().splitlines() if " ended: " in line]
    assert len(lines) == 1 and "flow=first outcome=routed" in lines[0] and "agent=PJSIP/agent1" in lines[0], lines


def test_check_asterisk_reports_each_missing_piece_on_stock(stock_asterisk: Callable[..., AsteriskSandbox],
                                                            tmp_path: Path) -> None:
    """On the untouched stock config (plus a site admin login) every Switchboard piece is reported missing, the
    callback pieces too when callbacks are on."""
    pbx = stock_asterisk(_with_admin)
    checked = _check_asterisk(tmp_path / "check", pbx.ami_secret, "--admin-user", "site-admin", settings=CALLBACKS_ON)
    out = checked.stdout
    assert checked.returncode == 1, out + checked.stderr
    assert "MISSING manager user 'switchboard' logs in" in out and "manager.d/switchboard.conf" in out, out
    assert "MISSING dialplan context [from-callers]" in out, out
    assert "MISSING fallback context [switchboard-fallback]" in out, out
    assert "#include extensions_switchboard.conf" in out, out
    assert "MISSING agent endpoint PJSIP/agent1" in out and "#include pjsip_switchboard_agents.conf" in out, out
    assert "MISSING callback context [switchboard-callback] with its Dial()" in out, out
    assert "MISSING originate user 'switchboard-originate' logs in" in out, out
    assert "switchboard-ami-originate-secret.conf" in out and "skipped" not in out, out
    # without the admin login the service user's refusal is all it can say, and it says what would help
    alone = _check_asterisk(tmp_path / "alone", pbx.ami_secret)
    assert alone.returncode == 1 and "--admin-user" in alone.stdout, alone.stdout


def test_check_asterisk_reports_a_wrong_agi_port(stock_asterisk: Callable[..., AsteriskSandbox],
                                                 tmp_path: Path) -> None:
    """A service listening on another FastAGI port than the dialplan reaches is reported with the line to add."""
    pbx = stock_asterisk(add_switchboard)
    checked = _check_asterisk(tmp_path / "check", pbx.ami_secret, settings="agi:\n  port: 4999\n")
    assert checked.returncode == 1, checked.stdout
    assert "MISSING FastAGI port 4999" in checked.stdout and "SWITCHBOARD_AGI=agi://" in checked.stdout, checked.stdout

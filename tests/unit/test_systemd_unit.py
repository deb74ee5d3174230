"""The systemd unit in packaging/systemd/: systemd itself accepts it, and it keeps its hardening."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "packaging" / "systemd" / "switchboard.service"
INSTALLED = "/opt/switchboard/bin/switchboard"  # where the unit expects the venv's script (README)


def _systemd_analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze missing in CI: apt-get install systemd (scripts/install_dependencies.sh)")
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    return exe


def _directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` reports nothing: no unknown key, no bad value (ExecStart aimed at this venv's script)."""
    script = Path(sys.executable).parent / "switchboard"
    assert script.is_file(), "the switchboard script is not installed in this venv"
    text = UNIT.read_text()
    assert INSTALLED in text
    unit = tmp_path / "switchboard.service"
    unit.write_text(text.replace(INSTALLED, str(script)))
    done = subprocess.run([_systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_the_unit_is_hardened() -> None:
    """Own user, read-only system, no new privileges, private /tmp, a file limit, restarts, reload via the CLI."""
    unit = _directives()
    expected = {"User": "switchboard", "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes",
                "PrivateTmp": "yes", "Restart": "on-failure", "CapabilityBoundingSet": ""}
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    assert int(unit["LimitNOFILE"][0]) >= 65536
    assert unit["ExecStart"] == [f"{INSTALLED} serve"]
    assert unit["ExecReload"] == [f"{INSTALLED} reload"]
    assert "DynamicUser" not in unit and "User" in unit


def test_sysusers_file_creates_the_unit_user() -> None:
    """The sysusers.d file creates the user the unit runs as."""
    lines = [line.split() for line in (UNIT.parent / "switchboard.sysusers.conf").read_text().splitlines()
             if line and not line.startswith("#")]
    assert [fields[:2] for fields in lines] == [["u", "switchboard"]]

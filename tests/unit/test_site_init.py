"""`switchboard init DIR`: a new site's files from the package data, settings pointed at them, nothing overwritten."""
from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.cli import main
from switchboard.settings import config_path, load_settings
from switchboard.site_init import site_files

REPO = Path(__file__).resolve().parents[2]
SECRET = {"SWITCHBOARD_AMI_SECRET": "not-a-real-secret"}


def test_init_lays_out_every_piece_of_a_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Dialplans, first flow, Asterisk pieces, rules, dashboard, unit and settings land under DIR, byte for byte."""
    site = tmp_path / "site"
    assert main(["init", str(site)]) == 0
    assert "laid out a new site" in capsys.readouterr().out
    pairs = {"dialplans": REPO / "dialplans", "first-flow": REPO / "examples" / "first-flow",
             "asterisk": REPO / "asterisk-conf", "prometheus": REPO / "metrics" / "prometheus",
             "grafana": REPO / "metrics" / "grafana", "systemd": REPO / "packaging" / "systemd"}
    for target, source in pairs.items():
        found = source.rglob("*") if target == "asterisk" else source.glob("*")  # rules' promtool tests stay
        shipped = sorted(p.relative_to(source) for p in found if p.is_file())
        laid = sorted(p.relative_to(site / target) for p in (site / target).rglob("*") if p.is_file())
        assert laid == shipped, target
        assert all((site / target / f).read_bytes() == (source / f).read_bytes() for f in laid), target


def test_init_settings_point_at_the_site_and_load(tmp_path: Path) -> None:
    """settings.yaml is the example with ivr.dialplans = DIR/dialplans (absolute), and it loads as it is."""
    site = tmp_path / "site"
    assert main(["init", str(site)]) == 0
    settings = load_settings(site / "settings.yaml", SECRET)
    assert settings.ivr.dialplans == str((site / "dialplans").resolve())
    example = (REPO / "settings.example.yaml").read_text().splitlines()
    laid = (site / "settings.yaml").read_text().splitlines()
    assert [a == b for a, b in zip(example, laid)].count(False) == 1 and len(example) == len(laid)


def test_init_laid_out_dialplans_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The laid-out dialplans and first flow pass `switchboard validate`."""
    site = tmp_path / "site"
    assert main(["init", str(site)]) == 0
    assert main(["validate", str(site / "dialplans")]) == 0
    assert main(["validate", str(site / "first-flow")]) == 0
    assert capsys.readouterr().out.count(": OK:") == 2


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One existing file stops init: it is named, left as it was, and no other file is written."""
    site = tmp_path / "site"
    (site / "dialplans").mkdir(parents=True)
    (site / "dialplans" / "main.yaml").write_text("mine\n")
    assert main(["init", str(site)]) == 1
    err = capsys.readouterr().err
    assert "init refused" in err and str(site / "dialplans" / "main.yaml") in err
    assert (site / "dialplans" / "main.yaml").read_text() == "mine\n"
    assert [p for p in site.rglob("*") if p.is_file()] == [site / "dialplans" / "main.yaml"]


def test_init_into_an_empty_existing_folder(tmp_path: Path) -> None:
    """An existing empty folder (e.g. /etc/switchboard made by a package) is fine."""
    assert main(["init", str(tmp_path)]) == 0
    assert set(site_files(tmp_path)) <= {p for p in tmp_path.rglob("*") if p.is_file()}


def test_config_path_precedence(tmp_path: Path) -> None:
    """--config wins, then SWITCHBOARD_CONFIG, then the default path if it exists, else no file."""
    default = tmp_path / "default.yaml"
    given, named = tmp_path / "given.yaml", tmp_path / "named.yaml"
    env = {"SWITCHBOARD_CONFIG": str(named)}
    assert config_path(given, env, default) == given
    assert config_path(None, env, default) == named
    assert config_path(None, {}, default) is None
    default.write_text("log:\n  level: INFO\n")
    assert config_path(None, {}, default) == default
    assert config_path(None, {"SWITCHBOARD_CONFIG": ""}, default) == default


def test_commands_find_settings_through_switchboard_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`check-settings` without --config reads the file SWITCHBOARD_CONFIG names (a bad one is reported)."""
    bad = tmp_path / "settings.yaml"
    bad.write_text("agi:\n  port: 99999\n")
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(bad))
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", "x")
    assert main(["check-settings"]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    bad.write_text("agi:\n  port: 4574\n")
    assert main(["check-settings"]) == 0


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """`switchboard --version` prints the installed distribution's version."""
    from importlib.metadata import version
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"switchboard {version('switchboard')}"

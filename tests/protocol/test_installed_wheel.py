"""The wheel as an operator gets it: built from this tree, installed into a fresh venv outside the repository, its
`switchboard` script runs `--version`, `init`, `validate` and `check-settings` from the files the wheel ships.

The fresh venv holds only the wheel (`pip install --no-deps --no-index`); the dependencies it imports are this
project venv's, made visible through a .pth file (offline and fast; only path entries, so the editable install's
import hook is not carried over). `pip check` then proves the wheel's declared requirements are all met.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _source_copy(target: Path) -> None:
    """The work tree's tracked and new files (not the ignored build/, .venv/ ...), symlinks kept as links; outside
    git, the tree less its venv, build, sandbox and cache folders (as scripts/check_structure.sh does)."""
    listed = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO) \
        if shutil.which("git") else None
    if listed is None or listed.returncode != 0:
        shutil.copytree(REPO, target, symlinks=True, ignore=shutil.ignore_patterns(
            ".venv", "build", ".sandbox", "*.egg-info", ".mypy_cache", "__pycache__", ".pytest_cache", ".git"))
        return
    for name in filter(None, listed.stdout.split("\0")):
        source = REPO / name
        if not (source.exists() or source.is_symlink()):
            continue  # deleted in the work tree, not yet committed
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (outside the repository) with the freshly built wheel installed; returns its bin/ folder."""
    work = tmp_path_factory.mktemp("wheel")
    _source_copy(work / "src")
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", work / "src", cwd=work)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((work / "dist").glob("switchboard-*.whl"))
    venv = work / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=work)
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib.stdout.strip()) / "project-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    done = _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel,
                cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


def test_the_installed_package_is_the_wheel_not_the_repository(installed: Path, tmp_path: Path) -> None:
    """`import switchboard` in the fresh venv loads the wheel's copy, and the wheel's requirements are met."""
    where = _run(installed / "python", "-c", "import switchboard.ivr, switchboard.site_files as s; print(s.__file__)",
                 cwd=tmp_path, env=_env())
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    assert not Path(where.stdout.strip()).is_relative_to(REPO)
    check = _run(sys.executable, "-m", "pip", "--python", installed / "python", "check", cwd=tmp_path, env=_env())
    assert check.returncode == 0, check.stdout + check.stderr


def test_version_init_validate_from_another_folder(installed: Path, tmp_path: Path) -> None:
    """From a folder outside the repo: --version, init lays out the shipped files, they validate and load."""
    from importlib.metadata import version
    shown = _run(installed / "switchboard", "--version", cwd=tmp_path, env=_env())
    assert shown.returncode == 0 and shown.stdout.strip() == f"switchboard {version('switchboard')}", shown
    laid = _run(installed / "switchboard", "init", "site", cwd=tmp_path, env=_env())
    assert laid.returncode == 0, laid.stdout + laid.stderr
    site = tmp_path / "site"
    for name in ("dialplans/main.yaml", "dialplans/routing.yaml", "first-flow/first.yaml", "asterisk/extensions.conf",
                 "asterisk/include/extensions_switchboard.conf", "asterisk/include/manager_switchboard.conf",
                 "prometheus/alerts.yml", "grafana/switchboard.json", "systemd/switchboard.service"):
        assert (site / name).is_file(), name
    assert (site / "dialplans" / "main.yaml").read_bytes() == (REPO / "dialplans" / "main.yaml").read_bytes()
    checked = _run(installed / "switchboard", "validate", "site/dialplans", cwd=tmp_path, env=_env())
    assert checked.returncode == 0 and ": OK:" in checked.stdout, checked.stdout + checked.stderr
    again = _run(installed / "switchboard", "init", "site", cwd=tmp_path, env=_env())
    assert again.returncode == 1 and "init refused" in again.stderr
    settings = _run(installed / "switchboard", "check-settings", cwd=tmp_path,
                    env=_env(SWITCHBOARD_CONFIG=str(site / "settings.yaml"), SWITCHBOARD_AMI_SECRET="x"))
    assert settings.returncode == 0 and "settings OK" in settings.stdout, settings.stdout + settings.stderr

"""The dependency rules that keep metrics a leaf and cti and metrics free of the web framework (read with `ast`)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUR_PACKAGES = ("ivr", "cti", "router", "metrics")


def _imports(source: str, folder: str) -> list[str]:
    """Every module a file of `folder` imports, relative imports resolved against its package."""
    package = ["switchboard", folder] if folder in OUR_PACKAGES else ["switchboard"]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.extend([module] if node.module else [f"{module}.{alias.name}" for alias in node.names])
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _ours_outside_metrics(module: str) -> bool:
    parts = module.split(".")
    if parts[0] in ("ivr", "cti", "router"):  # the folders' old top-level names
        return True
    return parts[0] == "switchboard" and (len(parts) == 1 or parts[1] != "metrics")


@pytest.mark.parametrize("path", _modules("metrics"), ids=lambda p: p.name)
def test_metrics_imports_no_other_package_of_ours(path: Path) -> None:
    """No module under metrics/ imports switchboard.ivr, .cti, .router or the composition root."""
    assert [m for m in _imports(path.read_text(), path.parent.name) if _ours_outside_metrics(m)] == []


@pytest.mark.parametrize("path", _modules("cti") + _modules("metrics"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cti_and_metrics_do_not_import_twisted(path: Path) -> None:
    """cti/ and metrics/ never import twisted: every web resource lives in the composition root."""
    assert [m for m in _imports(path.read_text(), path.parent.name) if m.split(".")[0] == "twisted"] == []


def test_the_import_reader_sees_every_form() -> None:
    """The reader catches plain, from- and relative imports, so the rules above cannot pass by blindness."""
    source = "import twisted.web\nfrom switchboard.ivr import x\nfrom ..cti import y\nfrom . import z\n"
    assert _imports(source, "metrics") == ["twisted.web", "switchboard.ivr", "switchboard.cti",
                                           "switchboard.metrics.z"]
    assert [m for m in _imports(source, "metrics") if _ours_outside_metrics(m)] == ["switchboard.ivr",
                                                                                   "switchboard.cti"]

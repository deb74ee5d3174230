"""`switchboard init DIR`: lays out a new site from the files the package ships (never overwriting one).

DIR/settings.yaml        the settings example, its `ivr.dialplans` pointing at DIR/dialplans
DIR/dialplans/           the example call flows, numbers and routing (edit, then `switchboard validate`)
DIR/first-flow/          the smallest dialplans folder: greet, one key, one agent
DIR/asterisk/include/    the pieces an existing Asterisk includes (README "Beside your Asterisk")
DIR/asterisk/            the complete configuration built from them (asterisk-conf/ in the repository)
DIR/prometheus/          recording and alerting rules
DIR/grafana/             the dashboard (data source chosen in Grafana; import it or provision it from a file)
DIR/systemd/             the unit and its sysusers.d file
"""
from __future__ import annotations

import re
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from ruamel.yaml import YAML

SETTINGS = "settings.yaml"
# `  dialplans: value   # comment` -> indent+key, value, spaces, the comment (if any)
_DIALPLANS = re.compile(r"^(\s+dialplans:\s*)(\S*)(\s*)(#.*)?$")
# (package, folder or file inside it, where it goes under DIR)
LAYOUT = (
    ("switchboard.site_files", "dialplans", "dialplans"),
    ("switchboard.site_files", "first-flow", "first-flow"),
    ("switchboard.site_files", "asterisk-conf", "asterisk"),
    ("switchboard.metrics", "prometheus", "prometheus"),
    ("switchboard.metrics", "grafana", "grafana"),
    ("switchboard.site_files", "systemd", "systemd"),
)


def _walk(node: Traversable, relative: Path) -> list[tuple[Path, Traversable]]:
    if node.is_file():
        return [(relative, node)]
    found: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name not in ("__pycache__", "tests") and not child.name.endswith((".py", ".pyc")):
            found += _walk(child, relative / child.name)
    return found


def site_files(directory: Path) -> dict[Path, bytes]:
    """Every file of a new site under `directory`, with its content (settings.yaml already pointed at it)."""
    out: dict[Path, bytes] = {}
    for package, source, target in LAYOUT:
        for relative, node in _walk(files(package) / source, Path(target)):
            out[directory / relative] = node.read_bytes()
    example = (files("switchboard.site_files") / "settings.example.yaml").read_text(encoding="utf-8")
    out[directory / SETTINGS] = _settings_for(example, directory.resolve() / "dialplans").encode()
    return out


def _settings_for(example: str, dialplans: Path) -> str:
    """The example settings, comments and layout kept, with `ivr.dialplans` set to the site's dialplans folder."""
    lines = example.splitlines(keepends=True)
    section = ""
    for number, line in enumerate(lines):
        if line[:1].isalpha():
            section = line.split(":", 1)[0]
        match = _DIALPLANS.match(line)
        if section == "ivr" and match:
            value = _quoted(str(dialplans))
            pad = max(1, len(match.group(2)) - len(value) + len(match.group(3)))
            comment = f"{' ' * pad}{match.group(4)}" if match.group(4) else ""
            lines[number] = f"{match.group(1)}{value}{comment}\n"
            break
    text = "".join(lines)
    loaded = YAML(typ="safe").load(text)
    if loaded["ivr"]["dialplans"] != str(dialplans):  # the example's layout changed: say so, never write it wrong
        raise RuntimeError("settings.example.yaml: cannot find ivr.dialplans to point it at the new site")
    return text


def _quoted(value: str) -> str:
    """A YAML scalar for a path: plain when safe, else single-quoted."""
    plain = all(c.isalnum() or c in "/._-" for c in value)
    return value if plain else "'" + value.replace("'", "''") + "'"


def init_site(directory: Path) -> int:
    """Write the site's files; refuse (exit 1, nothing written) if any of them exists already."""
    planned = site_files(directory)
    existing = sorted(str(path) for path in planned if path.exists() or path.is_symlink())
    if existing:
        print(f"switchboard: init refused, {len(existing)} file(s) exist already (nothing was written):",
              file=sys.stderr)
        for name in existing:
            print(f"  {name}", file=sys.stderr)
        return 1
    try:
        for path, content in planned.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("xb") as out:  # exclusive: never replaces a file that appeared meanwhile
                out.write(content)
    except OSError as exc:
        print(f"switchboard: init failed: {exc}", file=sys.stderr)
        return 1
    print(f"laid out a new site in {directory} ({len(planned)} files):")
    for name in ("settings.yaml", "dialplans/", "first-flow/", "asterisk/", "prometheus/", "grafana/", "systemd/"):
        print(f"  {directory / name}")
    print(f"next: edit {directory / SETTINGS}, then `switchboard validate {directory / 'dialplans'}` and "
          f"`switchboard check-settings --config {directory / SETTINGS}`")
    return 0

"""The per-kind field tables of docs/dialplans.md, generated from the kind definitions.

    python -m switchboard.ivr.nodes.reference                          # prints every kind's table
    python -m switchboard.ivr.nodes.reference --write docs/dialplans.md  # replaces the tables in the docs

In the docs, a kind's table is the first Markdown table after its `### <kind>` heading; the prose around it is
the docs' own. A unit test fails when the docs' tables differ from these.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from switchboard.ivr.nodes.kind import KindDefinition


def _row(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def table(definition: KindDefinition[Any]) -> str:
    """The Markdown table of one kind's fields (with Range and Default columns when any field has them)."""
    full = any(rule.range_doc or rule.default_doc for rule in definition.fields)
    header = ["Field", "Type", "Range", "Default", ""] if full else ["Field", "Type", ""]
    lines = [_row(header), "|" + "|".join("---" for _ in header) + "|"]
    for rule in definition.fields:
        cells = [f"`{rule.name}`", rule.type_doc]
        if full:
            cells += [rule.range_doc, rule.default_doc]
        lines.append(_row(cells + [rule.note]))
    return "\n".join(lines)


def rewrite(markdown: str, kinds: Mapping[str, KindDefinition[Any]]) -> str:
    """`markdown` with the first table after each `### <kind>` heading replaced by the generated one."""
    lines = markdown.split("\n")
    out: list[str] = []
    kind: str | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("### "):
            kind = line[4:].strip() if line[4:].strip() in kinds else None
        if kind is not None and line.startswith("|"):
            while index < len(lines) and lines[index].startswith("|"):
                index += 1
            out.extend(table(kinds[kind]).split("\n"))
            kind = None
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--write", type=Path, metavar="MARKDOWN", help="replace the tables in this file")
    args = parser.parse_args(argv)
    from switchboard.ivr.nodes.registry import KINDS
    if args.write is not None:
        args.write.write_text(rewrite(args.write.read_text(encoding="utf-8"), KINDS), encoding="utf-8")
        print(f"wrote {args.write}")
        return 0
    for name, definition in KINDS.items():
        sys.stdout.write(f"### {name}\n\n{table(definition)}\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

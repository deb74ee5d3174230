"""Random edits of the example dialplans never crash or stall the validator (issue 12 item 5).

Hypothesis mutates the parsed `dialplans/` documents (deletes, duplicates and renames keys, swaps value types,
nests deeply, grows huge lists, inserts aliases and odd scalars), writes them back as YAML text and loads the
folder: the only outcomes allowed are a plan or a DialplanError, each bounded by the reading and flow limits (time is measured by bench/flow_bench.py, not asserted).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from switchboard.ivr.flow_loader import DialplanError, load_dialplan

EXAMPLES = Path(__file__).parents[2] / "dialplans"
ODD_SCALARS: list[object] = [None, True, False, 0, -1, 10 ** 40, 1e308, float("nan"), "", " ", "\t", "é", "*",
                             "#", "0800", "2026-02-30", "x" * 300, [], {}, "!!float 'x'", "&a", "*a"]
ODD_TEXT = ["!!float 'x'", "9" * 5000, "&a [1, 2]", "*nowhere", "? {x: [1]}\n  : 2", "[" * 60 + "]" * 60,
            "{a: &b [x, x], c: [*b, *b, *b]}", "!!binary 'not base64!'", "!!set {a, b}", "!!omap [a, b]",
            "2026-13-01", "0o99", "0x", ".nan", "~", "'''", "- - -", "{{}}: 1"]


def _documents() -> dict[str, Any]:
    yaml = YAML(typ="rt")
    return {path.name: yaml.load(path.read_bytes()) for path in sorted(EXAMPLES.glob("*.yaml"))}


def _containers(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, (dict, list)):
        found.append(value)
        for child in (value.values() if isinstance(value, dict) else value):
            _containers(child, found)
    return found


Mutation = Callable[[Any, st.DataObject], None]


def _keys(container: Any) -> list[Any]:
    return list(container) if isinstance(container, dict) else list(range(len(container)))


def _delete(container: Any, data: st.DataObject) -> None:
    keys = _keys(container)
    if keys:
        del container[data.draw(st.sampled_from(keys))]


def _duplicate(container: Any, data: st.DataObject) -> None:
    keys = _keys(container)
    if not keys:
        return
    key = data.draw(st.sampled_from(keys))
    if isinstance(container, dict):
        container[f"{key}_copy"] = container[key]
    else:
        container.append(container[key])


def _rename(container: Any, data: st.DataObject) -> None:
    if isinstance(container, dict) and container:
        key = data.draw(st.sampled_from(list(container)))
        new = data.draw(st.sampled_from([f"{key}x", str(key)[:-1] or "k", "type", "next", 1, True, None, "*"]))
        container[new] = container.pop(key)


def _swap(container: Any, data: st.DataObject) -> None:
    keys = _keys(container)
    if keys:
        container[data.draw(st.sampled_from(keys))] = data.draw(st.sampled_from(ODD_SCALARS))


def _nest(container: Any, data: st.DataObject) -> None:
    keys = _keys(container)
    if keys:
        key = data.draw(st.sampled_from(keys))
        value = container[key]
        for _ in range(data.draw(st.integers(1, 60))):
            value = [value] if data.draw(st.booleans()) else {"k": value}
        container[key] = value


def _grow(container: Any, data: st.DataObject) -> None:
    keys = _keys(container)
    if keys:
        key = data.draw(st.sampled_from(keys))
        size = data.draw(st.sampled_from([50, 1100]))
        container[key] = [container[key]] * size if data.draw(st.booleans()) else \
            {f"k{i}": container[key] for i in range(size)}


MUTATIONS: list[Mutation] = [_delete, _duplicate, _rename, _swap, _nest, _grow]


def _text_mutation(text: str, data: st.DataObject) -> str:
    """Edits of the text itself: an odd YAML snippet in place of a value, or a line removed or repeated."""
    lines = text.splitlines()
    if not lines:
        return text
    index = data.draw(st.integers(0, len(lines) - 1))
    choice = data.draw(st.integers(0, 2))
    if choice == 0 and ":" in lines[index]:
        head = lines[index].split(":", 1)[0]
        lines[index] = f"{head}: {data.draw(st.sampled_from(ODD_TEXT))}"
    elif choice == 1:
        del lines[index]
    else:
        lines.insert(index, lines[index])
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_mutated_dialplans_load_or_fail_cleanly(data: st.DataObject) -> None:
    """Any random edit of the example dialplans loads or is a DialplanError; never another exception, never slow."""
    documents = _documents()
    name = data.draw(st.sampled_from(sorted(documents)))
    document = documents[name]
    for _ in range(data.draw(st.integers(1, 4))):
        containers = _containers(document, [])
        target = data.draw(st.sampled_from(containers))
        data.draw(st.sampled_from(MUTATIONS))(target, data)
    folder = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        yaml = YAML(typ="rt")
        for other, doc in documents.items():
            with (folder / other).open("w", encoding="utf-8") as out:
                yaml.dump(doc, out)
        if data.draw(st.booleans()):
            path = folder / name
            path.write_text(_text_mutation(path.read_text(encoding="utf-8"), data), encoding="utf-8")
        try:
            load_dialplan(folder)
        except DialplanError as exc:
            assert all(len(str(p)) < 2000 for p in exc.problems)
    finally:
        shutil.rmtree(folder)

"""Drawing a flow: Graphviz DOT text for one flow (and the sub-flows it reaches), rendered with `dot`.

Nodes are shaped by kind (menus as boxes with their keys on the edges, ends as double octagons, hours and
branches as diamonds) so an admin can look at a flow instead of reading it. Shapes, extra label text, targets and
edge labels come from the kind definitions of `switchboard.ivr.nodes`.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from switchboard.ivr.flow_model import Dialplan, Flow, Node
from switchboard.ivr.nodes.registry import KINDS


def _id(flow: Flow, node: str) -> str:
    return '"' + f"{flow.name}.{node}".replace('"', "'") + '"'


def _label(node: Node) -> str:
    extra = KINDS[node.kind].label(node.spec)
    intent = f"\\nintent: {node.intent}" if node.intent else ""
    return f"{node.name}\\n[{node.kind}]{extra}{intent}".replace('"', "'")


def to_dot(plan: Dialplan, flow_name: str) -> str:
    """DOT for `flow_name` and every flow reachable from it through goto nodes."""
    todo, seen = [flow_name], []
    while todo:
        name = todo.pop()
        if name in seen or name not in plan.flows:
            continue
        seen.append(name)
        todo.extend(entered for n in plan.flows[name].nodes.values() if (entered := n.spec.entered_flow()))
    lines = [f'digraph "{flow_name}" {{', "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for name in seen:
        flow = plan.flows[name]
        lines.append(f'  subgraph "cluster_{name}" {{ label="flow {name}";')
        lines.append(f'    {_id(flow, "__start")} [shape=point];')
        lines.append(f'    {_id(flow, "__start")} -> {_id(flow, flow.start)};')
        for node in flow.nodes.values():
            lines.append(f'    {_id(flow, node.name)} [shape={KINDS[node.kind].shape}, '
                         f'label="{_label(node)}"];')
            for key, target in node.targets():
                label = node.spec.edge_label(key, target)
                lines.append(f'    {_id(flow, node.name)} -> {_id(flow, target)} [label="{label}"];')
        lines.append("  }")
        for node in flow.nodes.values():
            entered = node.spec.entered_flow()
            if entered is not None and entered in plan.flows:
                lines.append(f'  {_id(flow, node.name)} -> {_id(plan.flows[entered], "__start")} [style=dashed];')
    lines.append("}")
    return "\n".join(lines) + "\n"


FORMATS = ("svg", "png", "pdf", "dot")


def render(plan: Dialplan, flow_name: str, output: Path) -> None:
    """Writes DOT (`.dot`) or asks Graphviz to render by the output's suffix (`.svg`, `.png`, `.pdf`).

    Raises ValueError for a suffix that is no format or a folder that does not exist, RuntimeError when Graphviz
    is missing or fails (with its message), OSError when the file cannot be written."""
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot draw {output.name}: the suffix picks the format, one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    if not output.parent.is_dir():
        raise ValueError(f"cannot write {output}: the folder {output.parent} does not exist")
    dot = to_dot(plan, flow_name)
    if fmt == "dot":
        output.write_text(dot)
        return
    binary = shutil.which("dot")
    if binary is None:
        raise RuntimeError("Graphviz `dot` is not installed (apt install graphviz); or write a .dot file")
    done = subprocess.run([binary, f"-T{fmt}", "-o", str(output)], input=dot.encode(), capture_output=True,
                          check=False)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise RuntimeError(f"Graphviz could not write {output}: {reason}")

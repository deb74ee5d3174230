"""Reading and validating `dialplans/`: the files, the generic field checkers and every check across nodes.

Files: `numbers.yaml` (dialled number → flow, plus `default`), `routing.yaml` (the closed list of skills) and any
other `*.yaml` holding `flows:`. YAML is read with ruamel so every message names `file:line:column`, says what is
wrong and what would fix it. Errors stop a load (the last good version keeps serving); warnings do not.

Each node is validated through its kind's definition (`switchboard.ivr.nodes.registry.KINDS`: which keys, which
checker, required or optional), built from the generic checkers of `ivr.nodes.field_checks`.
Checks: wrong types and out-of-range numbers, unknown keys (with a "did you mean"), duplicate keys, duplicate menu
digits, targets that do not exist (nodes, flows), unreachable nodes (warning), cycles that never wait for the caller,
route skills the routing config does not define, prompts missing from the sounds folder when one is given.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from switchboard.ivr.flow_model import Dialplan, Flow, Node, Place, Prompts
from switchboard.ivr.nodes.field_checks import check_name
from switchboard.ivr.nodes.kind import FLOW, NODE
from switchboard.ivr.nodes.registry import KINDS
from switchboard.yamldoc.parsing import parse
from switchboard.yamldoc.positions import place_of as _place_of
from switchboard.yamldoc.positions import written_key as _written
from switchboard.yamldoc.problems import DocumentError, Problem
from switchboard.yamldoc.problems import show as _show
from switchboard.yamldoc.problems import suggest as _suggest



class DialplanError(DocumentError):
    """The dialplans folder has errors; `problems` lists every finding (errors and warnings)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, "dialplans")


COMMON = {"type", "intent"}
MAX_NODES = 2_000  # nodes in one flow: checks and messages stay fast; a bigger flow reads better split (goto)
MAX_PROBLEMS = 500  # findings listed; beyond them only a count (a runaway edit must not flood the answer)
# routing.yaml belongs to the router (which validates the rest); flows only need its closed list of skills.
ROUTING_KEYS = ("skills", "segments", "relaxation", "wrap_up", "ring_no_answer", "last_agent_days", "agents",
                "pause_reasons")


# --- loading --------------------------------------------------------------------------------------------------
class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # defined but rejected (already reported): references to them are not reported again as unknown
        self.broken_flows: set[str] = set()
        self.broken_nodes: set[tuple[str, str]] = set()

        self.unlisted = 0

    def error(self, place: Place, message: str) -> None:
        self._add(Problem(place, message))

    def warning(self, place: Place, message: str) -> None:
        self._add(Problem(place, message, "warning"))

    def suggest(self, word: str, choices: Iterable[object]) -> str:
        """A did-you-mean for a message, skipped once the findings are too many to list (it is the slow part)."""
        return _suggest(word, choices) if len(self.problems) < MAX_PROBLEMS else ""

    def _add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.unlisted += 1

    def finish(self, folder: Path) -> list[Problem]:
        """The findings, ending with how many were left out (an error) when there were too many to list."""
        if self.unlisted:
            self.problems.append(Problem(Place(str(folder)), f"{self.unlisted} more problem(s) not listed; fix the "
                                         "ones above and validate again"))
            self.unlisted = 0
        return self.problems


def load_dialplan(folder: Path, sounds_dir: Path | None = None) -> tuple[Dialplan, list[Problem]]:
    """Loads and checks a dialplans folder; raises DialplanError on any error, returns warnings otherwise."""
    found = _Collector()
    sources: dict[str, bytes] = {}
    documents: dict[str, Any] = {}
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else [folder]
    beside = folder.parent / "routing.yaml"
    if not folder.is_dir() and folder.name != "routing.yaml" and beside.is_file():
        files.append(beside)  # one flow file: its skills are the ones routing.yaml beside it defines
    if not files:
        found.error(Place(str(folder), 1, 1), "no *.yaml files here: add a flow file such as main.yaml")
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:  # e.g. an editor replaced the file between the listing and the read
            found.error(Place(str(path), 1, 1), f"cannot read the file ({exc.strerror or exc})")
            continue
        sources[path.name] = raw
        documents[str(path)] = _parse(path, raw, found)
    numbers: dict[str, str] = {}
    default_flow: str | None = None
    skills: set[str] = set()
    flows: dict[str, Flow] = {}
    number_places: dict[str, Place] = {}
    default_place: Place | None = None
    for path_text, doc in documents.items():
        if doc is None:
            continue
        name = Path(path_text).name
        top = Place(path_text, 1, 1)
        if not isinstance(doc, dict):
            found.error(top, "expected a mapping at the top of the file")
            continue
        allowed = {"numbers.yaml": ("numbers", "default"), "routing.yaml": ROUTING_KEYS}.get(name, ("flows",))
        for key in doc:
            if key not in allowed:
                found.error(_place_of(doc, key, top), f"unknown top-level key {_show(key)}"
                            f"{found.suggest(str(key), allowed)}; this file may hold: {', '.join(allowed)}")
        if name == "numbers.yaml":
            table = doc.get("numbers") or {}
            if not isinstance(table, dict):
                found.error(_place_of(doc, "numbers", top), "expected {dialled number: flow name}")
                table = {}
            for number, flow in table.items():
                where = _place_of(table, number, top)
                written = _written(sources[name], where)
                if not isinstance(number, str) and written and written != str(number):
                    # YAML reads 0800123 as 800123 and +4420... as 4420...: the call would never match
                    found.error(where, f"number {written} is read as {number!r} without quotes; "
                                       f"write it quoted: \"{written}\": {flow}")
                    continue
                numbers[str(number)] = str(flow)
                number_places[str(number)] = where
            if "default" in doc:
                default_flow = str(doc["default"])
                default_place = _place_of(doc, "default", top)
        elif name == "routing.yaml":
            listed = doc.get("skills") or []
            if not isinstance(listed, list):
                found.error(_place_of(doc, "skills", top), "expected a list of skill names")
                listed = []
            for index, skill in enumerate(listed):
                if check_name(skill, _place_of(listed, index, top), found.error) is not None:
                    skills.add(skill)
        else:
            table = doc.get("flows")
            if not isinstance(table, dict):
                found.error(_place_of(doc, "flows", top) if "flows" in doc else top,
                            "expected `flows:` mapping flow names to {start, nodes}")
                continue
            for flow_name, body in table.items():
                place = _place_of(table, flow_name, top)
                if str(flow_name) in flows:
                    found.error(place, f"flow {flow_name!r} is defined twice (also at {flows[str(flow_name)].place})")
                    continue
                flow = _flow(str(flow_name), body, place, found)
                if flow is not None:
                    flows[flow.name] = flow
                else:
                    found.broken_flows.add(str(flow_name))
    _check_references(flows, numbers, number_places, default_flow, default_place, skills, found)
    if sounds_dir is not None:
        _check_sounds(flows, sounds_dir, found)
    plan = Dialplan(flows=flows, numbers=numbers, default_flow=default_flow, skills=frozenset(skills),
                    sources=sources)
    problems = found.finish(folder)
    if any(p.severity == "error" for p in problems):
        raise DialplanError(problems)
    return plan, problems


def _parse(path: Path, raw: bytes, found: _Collector) -> Any:
    try:
        return parse(raw, str(path))
    except DocumentError as exc:
        found.problems.extend(exc.problems)
        return None


def _flow(name: str, body: Any, place: Place, found: _Collector) -> Flow | None:
    if check_name(name, place, found.error) is None:
        return None
    if not isinstance(body, dict):
        found.error(place, "a flow is {start: node, nodes: {...}}")
        return None
    for key in body:
        if key not in ("start", "nodes"):
            found.error(_place_of(body, key, place), f"unknown flow key {_show(key)}"
                        f"{found.suggest(str(key), ('start', 'nodes'))}")
    nodes_map = body.get("nodes")
    if not isinstance(nodes_map, dict) or not nodes_map:
        found.error(_place_of(body, "nodes", place) if "nodes" in body else place,
                    "a flow needs `nodes:` with at least one node")
        return None
    if len(nodes_map) > MAX_NODES:
        found.error(_place_of(body, "nodes", place), f"flow {name!r} has {len(nodes_map)} nodes; the limit is "
                    f"{MAX_NODES}: split it into several flows joined by goto nodes")
        return None
    nodes: dict[str, Node] = {}
    for node_name, spec in nodes_map.items():
        node = _node(str(node_name), spec, _place_of(nodes_map, node_name, place), found)
        if node is not None:
            nodes[node.name] = node
        else:
            found.broken_nodes.add((name, str(node_name)))
    start = body.get("start")
    start_place = _place_of(body, "start", place) if "start" in body else place
    if not isinstance(start, str):
        found.error(start_place, "a flow needs `start:` naming its first node")
        return None
    return Flow(name=name, start=start, nodes=nodes, place=start_place)


def _node(name: str, spec: Any, place: Place, found: _Collector) -> Node | None:
    if check_name(name, place, found.error) is None:
        return None
    if not isinstance(spec, dict):
        found.error(place, f"node {name!r} must be a mapping with a `type`")
        return None
    kind = spec.get("type")
    if kind not in KINDS:
        if "type" in spec:
            found.error(_place_of(spec, "type", place), f"node {name!r}: unknown type {_show(kind)}"
                        f"{found.suggest(str(kind), KINDS)}; use one of {', '.join(KINDS)}")
        else:
            found.error(place, f"node {name!r} needs a `type`: one of {', '.join(KINDS)}")
        return None
    definition = KINDS[str(kind)]
    schema = definition.schema
    fields: dict[str, Any] = {}
    places: dict[str, Place] = {}
    for key, value in spec.items():
        p = _place_of(spec, key, place)
        places[str(key)] = p
        if isinstance(value, dict):  # e.g. menu choices: a wrong target is reported at its own choice
            for sub, target in value.items():
                if isinstance(target, str):
                    places.setdefault(f"{key}:{target}", _place_of(value, sub, p))
        if key in COMMON:
            continue
        if key not in schema:
            found.error(p, f"{kind} node {name!r}: unknown key {_show(key)}"
                        f"{found.suggest(str(key), list(schema) + list(COMMON))}")
            continue
        checker = schema[key].check
        if checker == NODE or checker == FLOW:
            if not isinstance(value, str):
                found.error(p, f"`{key}` must name a {checker}, got {_show(value)}")
                continue
            fields[key] = value
        elif callable(checker):
            checked = checker(value, p, found.error)
            if checked is not None:
                fields[key] = checked
    for key, rule in schema.items():
        if rule.required and key not in spec:
            found.error(place, f"{kind} node {name!r} needs `{key}`")
    definition.cross_check(fields, places, place, found.error)
    intent = spec.get("intent")
    if intent is not None and check_name(intent, places["intent"], found.error) is None:
        intent = None
    return Node(name=name, kind=definition.name, spec=definition.build(fields), place=place, places=places, intent=intent)


def _check_references(flows: Mapping[str, Flow], numbers: Mapping[str, str], number_places: Mapping[str, Place],
                      default_flow: str | None, default_place: Place | None, skills: set[str],
                      found: _Collector) -> None:
    for number, wanted in numbers.items():
        if wanted not in flows and wanted not in found.broken_flows:
            found.error(number_places[number], f"number {number} goes to unknown flow {wanted!r}"
                        f"{found.suggest(wanted, flows)}")
    if default_flow is not None and default_flow not in flows and default_flow not in found.broken_flows \
            and default_place is not None:
        found.error(default_place, f"default flow {default_flow!r} does not exist{found.suggest(default_flow, flows)}")
    for flow in flows.values():
        if flow.start not in flow.nodes:
            if (flow.name, flow.start) in found.broken_nodes:
                continue
            found.error(flow.place, f"flow {flow.name!r} starts at unknown node {flow.start!r}"
                        f"{found.suggest(flow.start, flow.nodes)}")
            continue
        for node in flow.nodes.values():
            for key, target in node.targets():
                if target not in flow.nodes and (flow.name, target) not in found.broken_nodes:
                    found.error(node.places.get(f"{key}:{target}") or node.places.get(key, node.place),
                                f"node {node.name!r}: `{key}` goes to unknown node {target!r}"
                                f"{found.suggest(target, flow.nodes)}")
            entered = node.spec.entered_flow()
            if entered is not None and entered not in flows and entered not in found.broken_flows:
                found.error(node.places.get("flow", node.place), f"node {node.name!r} goes to unknown flow "
                            f"{entered!r}{found.suggest(entered, flows)}")
            for skill in node.spec.skills_asked():
                if skill not in skills:
                    found.error(node.places.get("skills", node.place),
                                f"node {node.name!r} asks for skill {skill!r}, which routing.yaml does not "
                                f"define{found.suggest(skill, skills)}; add it to `skills:` there")
        reachable = _reachable(flow)
        for node in flow.nodes.values():
            if node.name not in reachable:
                found.warning(node.place, f"node {node.name!r} is never reached from {flow.start!r}; "
                              "link it or delete it")
    _check_spin_cycles(flows, found)


def _reachable(flow: Flow) -> set[str]:
    seen: set[str] = set()
    todo = [flow.start]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.nodes:
            continue
        seen.add(name)
        todo.extend(t for _, t in flow.nodes[name].targets())
    return seen


def _check_spin_cycles(flows: Mapping[str, Flow], found: _Collector) -> None:
    """A cycle made only of nodes that never wait for the caller would spin for ever: an error."""
    def successors(flow: Flow, node: Node) -> Iterable[tuple[Flow, Node]]:
        entered = node.spec.entered_flow()
        if entered is not None:
            target = flows.get(entered)
            if target is not None and target.start in target.nodes:
                yield target, target.nodes[target.start]
            return
        for _, name in node.targets():
            if name in flow.nodes:
                yield flow, flow.nodes[name]

    state: dict[tuple[str, str], int] = {}  # 1 = on the stack, 2 = done
    reported: set[tuple[str, str]] = set()

    def visit(flow: Flow, node: Node) -> None:
        """Depth-first from one node, with an explicit stack (a chain of thousands of nodes must not recurse)."""
        path: list[tuple[Flow, Node]] = [(flow, node)]
        on_path: dict[tuple[str, str], int] = {(flow.name, node.name): 0}
        pending: list[Iterator[tuple[Flow, Node]]] = [iter(successors(flow, node))]
        state[(flow.name, node.name)] = 1
        while pending:
            step = next(pending[-1], None)
            if step is None:
                done_flow, done_node = path.pop()
                pending.pop()
                del on_path[(done_flow.name, done_node.name)]
                state[(done_flow.name, done_node.name)] = 2
                continue
            nflow, nnode = step
            if nnode.spec.WAITS:
                continue
            nkey = (nflow.name, nnode.name)
            if state.get(nkey) == 1 and nkey not in reported:
                cycle = [f"{f.name}.{n.name}" for f, n in path[on_path[nkey]:]]
                reported.add(nkey)
                found.error(nnode.place, "these nodes loop without ever waiting for the caller: "
                            f"{' -> '.join(cycle + [cycle[0]])}; put a menu or collect node in the loop")
            elif nkey not in state:
                state[nkey] = 1
                on_path[nkey] = len(path)
                path.append((nflow, nnode))
                pending.append(iter(successors(nflow, nnode)))

    for flow in flows.values():
        for node in flow.nodes.values():
            if not node.spec.WAITS and (flow.name, node.name) not in state:
                visit(flow, node)


def sound_names(sounds_dir: Path) -> set[str]:
    """The sounds under a folder, each without its extension as `lang/name` and (in a language folder) `name`;
    raises OSError when the folder or one below it cannot be listed (then no name can be said to be missing)."""
    present: set[str] = set()
    seen: set[str] = set()  # real folders already listed: a symlink loop is listed once

    def unreadable(exc: OSError) -> None:
        raise exc
    for top, folders, files in os.walk(sounds_dir, onerror=unreadable, followlinks=True):
        seen.add(os.path.realpath(top))
        folders[:] = [f for f in folders if os.path.realpath(os.path.join(top, f)) not in seen]
        here = Path(top).relative_to(sounds_dir)
        for name in files:
            rel = (here / name).with_suffix("")
            present.add(str(rel))
            if len(rel.parts) > 1:
                present.add(str(Path(*rel.parts[1:])))  # sounds/<lang>/name
    return present


def _check_sounds(flows: Mapping[str, Flow], sounds_dir: Path, found: _Collector) -> None:
    """Each prompt missing from the sounds folder is an error at its place; a folder that is not there or cannot
    be read is one error, and no prompt is checked."""
    if not sounds_dir.is_dir():
        found.error(Place(str(sounds_dir)), f"sounds folder {sounds_dir} is not a folder; prompts were not checked")
        return
    try:
        present = sound_names(sounds_dir)
    except OSError as exc:
        found.error(Place(str(sounds_dir)), f"sounds folder {exc.filename or sounds_dir} cannot be read "
                                            f"({exc.strerror}); prompts were not checked")
        return
    for flow in flows.values():
        for node in flow.nodes.values():
            for key in node.places:  # the prompt fields, in the order they are written
                value = getattr(node.spec, key, None)
                if isinstance(value, Prompts):
                    for lang, prompts in value.by_language.items():
                        for prompt in prompts:
                            if prompt not in present and f"{lang}/{prompt}" not in present:
                                found.error(node.places.get(key, node.place),
                                            f"prompt {prompt!r} is not in {sounds_dir}; record it or fix the name"
                                            f"{found.suggest(prompt, present)}")

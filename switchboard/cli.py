"""The `switchboard` command: `serve`, `check-settings`, and the admin's tools for YAML flows.

`customers import|export FILE` loads or dumps the customer store; `agents credential ID` and `supervisor credential
NAME` issue the secret someone signs in with on /agent or /wallboard (printed once, stored hashed); `validate [PATH]` checks a dialplans folder (exit 1 on errors, warnings printed apart); `simulate FLOW` runs a
flow against a scripted caller; `graph FLOW -o flow.svg` draws it; `reload` asks a running service to reload.

`init DIR` lays out a new site from the files the package ships. Commands reading settings take `--config FILE`,
else `SWITCHBOARD_CONFIG`, else /etc/switchboard/settings.yaml when it exists.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from switchboard.settings import CTISettings, SettingsError, config_path, load_settings

SHOWN_ROWS = 20  # refused rows listed one by one; the rest are counted by reason

CONFIG_HELP = ("settings YAML (see settings.example.yaml); default: $SWITCHBOARD_CONFIG, else "
               "/etc/switchboard/settings.yaml when it exists")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("switchboard")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"

if TYPE_CHECKING:
    from switchboard.ivr.flow_simulator import AgentPicker
    from switchboard.router.route_store import RouteStore


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _raise_open_file_limit(log: logging.Logger) -> None:
    """Raises the open-file soft limit to the hard limit where allowed (calls and HTTP connections are files)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft >= hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("open-file limit stays %d (%s)", soft, exc)
        return
    log.info("open-file limit raised from %d to %d", soft, hard)


GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest generation (Python's default: 700)


def settle_heap() -> None:
    """Once the service has started: what start-up built (modules, dialplans, routing, metrics) leaves the garbage
    collector's reach for good (`gc.freeze`: never traversed again by a full collection), and the youngest generation
    is collected every GC_YOUNG_THRESHOLD allocations instead of 700. A call allocates a few thousand objects (tasks,
    futures, records), nearly all freed at once by reference counting; collecting every 700 traversed the calls in
    progress several times per call (~3 % of the service's CPU in bench/call_cost.py)."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def serve(config: Path | None) -> int:
    """Run the service until SIGTERM/SIGINT; return the process exit code."""
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    from switchboard.log_output import configure_logging
    configure_logging(settings.log.level, settings.log.format, sys.stderr, os.environ)
    log = logging.getLogger("switchboard")
    _raise_open_file_limit(log)
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    # What twisted.internet.asyncioreactor.install(loop) does, spelled out so the reactor keeps its real type.
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor
    from twisted.internet.defer import Deferred
    from twisted.internet.main import installReactor
    from twisted.python.failure import Failure
    reactor = AsyncioSelectorReactor(loop)
    installReactor(reactor)  # type: ignore[no-untyped-call]  # Twisted leaves installReactor unannotated

    from switchboard.service import Service

    service = Service(settings, loop, reactor, log)
    exit_code = 0

    def failed(failure: Failure) -> None:
        nonlocal exit_code
        exit_code = 1
        log.error("start-up failed: %s", failure.getErrorMessage())
        reactor.stop()  # type: ignore[no-untyped-call]  # Twisted leaves AsyncioSelectorReactor.stop unannotated

    async def start() -> None:
        await service.start()
        settle_heap()

    def begin() -> None:
        Deferred.fromFuture(loop.create_task(start())).addErrback(failed)

    reactor.callWhenRunning(begin)
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromFuture(loop.create_task(service.stop())))
    reactor.run()  # type: ignore[no-untyped-call]  # Twisted leaves AsyncioSelectorReactor.run unannotated
    log.info("stopped")
    return exit_code


def check_settings(config: Path | None) -> int:
    try:
        load_settings(config)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    print("settings OK")
    return 0


def validate(path: Path, sounds: Path | None) -> int:
    from switchboard.ivr.flow_loader import DialplanError, load_dialplan
    from switchboard.router.routing_config import RoutingConfigError, check_route_nodes, load_routing
    try:
        plan, warnings = load_dialplan(path, sounds)
    except DialplanError as exc:
        problems = list(exc.problems)
        try:  # routing.yaml's own checks too: a typo the loader found must not hide its other errors
            load_routing(path)
        except RoutingConfigError as more:
            seen = {str(p.place) for p in problems}
            problems += [p for p in more.problems if str(p.place) not in seen]
        for problem in problems:
            print(problem, file=sys.stderr)
        errors = sum(1 for p in problems if p.severity == "error")
        print(f"{path}: {errors} error(s), {len(problems) - errors} warning(s)", file=sys.stderr)
        return 1
    from switchboard.ivr.nodes.route import RouteNode
    from switchboard.yamldoc import Problem
    try:
        routing = load_routing(path)
    except RoutingConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} error(s) in routing.yaml", file=sys.stderr)
        return 1
    if routing is not None:
        named = [(node.places.get("relaxation", node.place), str(node.spec.relaxation))
                 for flow in plan.flows.values() for node in flow.nodes.values()
                 if isinstance(node.spec, RouteNode) and node.spec.relaxation]
        bad: list[Problem] = []
        check_route_nodes(routing, named, bad.append)
        for line in bad:
            print(line, file=sys.stderr)
        if bad:
            return 1
    for warning in warnings:
        print(warning, file=sys.stderr)
    nodes = sum(len(f.nodes) for f in plan.flows.values())
    print(f"{path}: OK: {len(plan.flows)} flow(s), {nodes} node(s), {len(warnings)} warning(s), "
          f"version {plan.version}")
    return 0


def _moment(text: str) -> datetime:
    """`--at`: an ISO 8601 time, refused by argparse (not a traceback) when it is not one."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-12-25T10:00+00:00")


def _keys(text: str) -> list[str]:
    """`--digits`: comma-separated tokens, each DTMF keys (0-9 * # A-D) or `-` for no input."""
    tokens = [d.strip() for d in text.split(",") if d.strip()]
    for token in tokens:
        if token != "-" and not re.fullmatch(r"[0-9*#A-Da-d]+", token):
            raise argparse.ArgumentTypeError(f"{token!r} is not keys (0-9 * # A-D) or - for no input")
    return tokens


def _dialled(text: str) -> bool:
    """Whether a `simulate` target is a dialled number (digits, `+`, `*`, `#`) rather than a flow name."""
    return bool(re.fullmatch(r"\+?[0-9*#]+", text))


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def simulate(args: argparse.Namespace) -> int:
    from switchboard.ivr.flow_loader import DialplanError, load_dialplan
    from switchboard.ivr.flow_simulator import simulate as run
    try:
        plan, _ = load_dialplan(args.dialplans)
    except DialplanError as exc:
        print(exc, file=sys.stderr)
        return 1
    flow = args.flow
    if flow not in plan.flows:  # a dialled number works too; one numbers.yaml does not list takes its `default:`
        flow = plan.numbers.get(flow) or (plan.default_flow if _dialled(flow) else None) or flow
    if flow not in plan.flows:
        print(f"switchboard: no flow or number {args.flow!r}; flows: {', '.join(sorted(plan.flows))}",
              file=sys.stderr)
        return 2
    agents = _route_preview(args)
    if isinstance(agents, int):
        return agents
    result = run(plan, flow, digits=args.digits or [], caller=args.caller, at=args.at, segment=args.segment,
                 known=args.known, language=args.language, agents_answer=not args.no_answer,
                 hangup_after=args.hangup_after, agents=agents)
    if args.verbose:
        for event in result.events:
            print(f"  . {event}")
    print(result.report())
    return 0


def _route_preview(args: argparse.Namespace) -> AgentPicker | None | int:
    """The agents of routing.yaml beside the flows, choosing as the router would (all logged in and idle, except
    `--away`); None without a routing.yaml; an exit status after printing what is wrong."""
    from switchboard.router.route_preview import RoutePreview
    from switchboard.router.routing_config import RoutingConfigError, parse_routing
    folder: Path = args.dialplans
    path = (folder if folder.is_dir() else folder.parent) / "routing.yaml"
    away = [name for name in (args.away or "").split(",") if name.strip()]
    if not path.is_file():
        if away:
            print(f"switchboard: --away needs the agents of {path}, which does not exist", file=sys.stderr)
            return 2
        return None
    try:
        config = parse_routing(path)
    except RoutingConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    unknown = [name for name in away if name.strip() not in config.agents]
    if unknown:
        print(f"switchboard: --away: no agent {', '.join(unknown)} in {path}; agents: "
              f"{', '.join(config.agents) or 'none'}", file=sys.stderr)
        return 2
    return RoutePreview(config, away={name.strip() for name in away})


def graph(args: argparse.Namespace) -> int:
    from switchboard.ivr.flow_graph import render
    from switchboard.ivr.flow_loader import DialplanError, load_dialplan
    try:
        plan, _ = load_dialplan(args.dialplans)
    except DialplanError as exc:
        print(exc, file=sys.stderr)
        return 1
    flow = args.flow if args.flow in plan.flows else (  # or a dialled number, as simulate takes
        plan.numbers.get(args.flow) or (plan.default_flow if _dialled(args.flow) else None) or args.flow)
    if flow not in plan.flows:
        print(f"switchboard: no flow or number {args.flow!r}; flows: {', '.join(sorted(plan.flows))}",
              file=sys.stderr)
        return 2
    try:
        render(plan, flow, args.output)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def reload(config: Path | None) -> int:
    """POSTs /dialplans/reload to the running service named by the settings (token from the environment)."""
    import json
    import urllib.error
    import urllib.request
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::") else settings.http.host
    request = urllib.request.Request(f"http://{host}:{settings.http.port}/dialplans/reload", method="POST")
    if settings.http_token:
        request.add_header("Authorization", f"Bearer {settings.http_token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            print("switchboard: rejected: unauthorised (401): the service wants its token; set "
                  "SWITCHBOARD_HTTP_TOKEN or http.token_file to the service's", file=sys.stderr)
            return 1
        try:
            body = json.load(exc)
        except ValueError:
            print(f"switchboard: rejected: HTTP {exc.code} {exc.reason}", file=sys.stderr)
            return 1
    except OSError as exc:
        print(f"switchboard: service not reachable at {host}:{settings.http.port} ({exc})", file=sys.stderr)
        return 2
    for problem in body.get("problems", []):
        print(problem, file=sys.stderr)
    print(f"{'reloaded' if body.get('ok') else 'rejected'}: version {body.get('version')}")
    return 0 if body.get("ok") else 1


def customers(args: argparse.Namespace) -> int:
    """`customers import FILE` / `customers export FILE` against the configured Redis."""

    from switchboard.cti.caller_id import CallerIdNormaliser
    from switchboard.cti.customer_import import RowRules, export_file, import_file
    from switchboard.cti.cti_store import CtiStore, StoreUnavailable
    try:
        settings = load_settings(args.config, redis_only=True)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    normaliser = CallerIdNormaliser(default_region=settings.cti.default_region)
    rules = RowRules(segments=frozenset(settings.cti.segments), normalise=lambda raw: normaliser.normalise(raw).key,
                     pepper=settings.cti_pepper.encode())

    async def run() -> int:
        store = CtiStore.from_url(settings.redis.url, max(settings.redis.timeout, 5.0),
                                  settings.cti_pepper.encode())
        try:
            started = time.perf_counter()
            if args.action == "export":
                count = await export_file(args.file, store)
                print(f"exported {count} customer(s) to {args.file}")
                return 0
            def progress(imported: int) -> None:
                if sys.stderr.isatty():
                    print(f"\r{imported} imported...", end="", file=sys.stderr, flush=True)
            report = await import_file(args.file, store, rules, dry_run=args.dry_run, progress=progress)
            if sys.stderr.isatty() and report.imported and not args.dry_run:
                print(file=sys.stderr)
            for problem in report.problems[:SHOWN_ROWS]:
                print(problem, file=sys.stderr)
            if len(report.problems) > SHOWN_ROWS:
                print(f"... and {len(report.problems) - SHOWN_ROWS} more refused row(s)", file=sys.stderr)
            for reason, count in report.reasons().items():
                print(f"  {count:>7} x {reason}", file=sys.stderr)
            for shared in report.shared_phones[:SHOWN_ROWS]:
                print(f"{shared} (warning: imported; a call from it matches several customers)", file=sys.stderr)
            if len(report.shared_phones) > SHOWN_ROWS:
                print(f"... and {len(report.shared_phones) - SHOWN_ROWS} more shared phone(s)", file=sys.stderr)
            print(f"{'would import' if args.dry_run else 'imported'} {report.imported} customer(s), refused "
                  f"{len(report.problems)} row(s), {len(report.shared_phones)} shared phone(s) "
                  f"in {time.perf_counter() - started:.1f}s" + (" (dry run: nothing written)" if args.dry_run else ""))
            return 1 if report.problems else 0
        except (ValueError, OSError, StoreUnavailable) as exc:
            print(f"switchboard: {exc}", file=sys.stderr)
            return 2
        finally:
            await store.close()
    return asyncio.run(run())


def agents(args: argparse.Namespace) -> int:
    """`agents list` / `agents login|logout|pause|resume|credential ID`, `supervisor credential NAME` and
    `route explain UNIQUEID`, straight on Redis."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from switchboard.router.route_store import RouteStore
    try:
        settings = load_settings(args.config, redis_only=True)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        redis = Redis.from_url(settings.redis.url, socket_timeout=max(settings.redis.timeout, 5.0))
        store = RouteStore(redis)
        try:
            agent_id = args.agent if args.command == "agents" else None
            if agent_id and await store.agent(agent_id) is None:
                await _seed_from_routing(store, Path(settings.ivr.dialplans), agent_id)
            if args.command == "supervisor" or (args.command == "agents" and args.action == "credential"):
                return await issue_credential(store, "supervisor" if args.command == "supervisor" else "agent",
                                              args.name if args.command == "supervisor" else args.agent)
            if args.command == "route":
                lines = await store.explain(args.uniqueid)
                for line in lines:
                    stamp, _, text = line.partition(" ")
                    print(f"{time.strftime('%H:%M:%S', time.localtime(int(stamp) / 1000))} {text}")
                if not lines:
                    print(f"no routing decisions recorded for {args.uniqueid}", file=sys.stderr)
                return 0 if lines else 1
            if args.action == "list":
                for r in await store.agents():
                    reason = f" ({r.reason})" if r.reason else ""
                    print(f"{r.id:<12} {r.state + reason:<24} {r.endpoint:<18} {r.skills} [{r.languages}]")
                return 0
            if not args.agent:
                print(f"switchboard: agents {args.action} needs an agent id", file=sys.stderr)
                return 2
            state, uid = await store.action(args.agent, args.action, args.reason or "")
            if state == "unknown":
                print(f"switchboard: no agent {args.agent!r} (agents come from routing.yaml)", file=sys.stderr)
                return 1
            if state.startswith(("busy:", "refused:")):
                print(f"switchboard: {args.action} refused: agent is {state.split(':', 1)[1]}", file=sys.stderr)
                return 1
            print(f"{args.agent}: {state}" + (f" (offered waiting call {uid})" if uid else ""))
            return 0
        except (RedisError, OSError, ValueError) as exc:
            print(f"switchboard: {exc}", file=sys.stderr)
            return 2
        finally:
            await redis.aclose()
    return asyncio.run(run())


async def _seed_from_routing(store: RouteStore, dialplans: Path, agent_id: str) -> None:
    """An agent routing.yaml lists but Redis does not know yet (the service has not run): add their profile, so
    `agents login` works before `serve` (the service's own seeding keeps the state this sets)."""
    from switchboard.router.routing_config import RoutingConfigError, load_routing
    try:
        routing = load_routing(dialplans) if dialplans.exists() else None
    except RoutingConfigError:
        return  # `validate` names the problems; the command then says there is no such agent
    if routing is not None and agent_id in routing.agents:
        await store.upsert_agent(routing.agents[agent_id])


async def issue_credential(store: RouteStore, role: str, name: str | None) -> int:
    """A new sign-in secret for an agent (who must be in routing.yaml) or a supervisor; printed once, stored
    hashed, replacing any earlier one."""
    import re

    from switchboard.credentials import hash_secret, issue
    if not name or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", name):
        print(f"switchboard: {role} credential needs a name (letters, digits, . _ -)", file=sys.stderr)
        return 2
    if role == "agent" and await store.agent(name) is None:
        print(f"switchboard: no agent {name!r} (agents come from routing.yaml; start the service once)",
              file=sys.stderr)
        return 1
    secret = issue()
    await store.set_credential(role, name, hash_secret(secret))
    print(f"{role} {name}: sign in with this secret (shown once; issuing again replaces it):\n{secret}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"switchboard {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
    p_serve = command("serve", "run the service (FastAGI, AMI, HTTP) until SIGTERM")
    p_serve.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_check = command("check-settings", "validate a settings file and the environment overrides")
    p_check.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_validate = command("validate", "check a dialplans folder (or one file)")
    p_validate.add_argument("path", type=Path, nargs="?", default=Path("dialplans"),
                            help="a dialplans folder or one flow file (default: ./dialplans)")
    p_validate.add_argument("--sounds", type=Path, help="Asterisk sounds folder: report prompts missing from it")
    p_sim = command("simulate", "run a flow against a scripted caller and print what happened")
    p_sim.add_argument("flow", help="flow name or dialled number")
    p_sim.add_argument("--dialplans", type=Path, default=Path("dialplans"),
                       help="the dialplans folder (default: ./dialplans)")
    p_sim.add_argument("--caller", help="caller ID, e.g. +441632960123")
    p_sim.add_argument("--digits", type=_keys,
                       help="keys at each input, comma-separated; - for no input, e.g. 1,4,#")
    p_sim.add_argument("--at", type=_moment,
                       help="when the call happens (ISO 8601, e.g. 2026-12-25T10:00+00:00)")
    p_sim.add_argument("--segment", default="standard", choices=CTISettings().segments,
                       help="the caller's customer segment (cti.segments; default: standard)")
    p_sim.add_argument("--known", action="store_true", help="the caller is a recognised customer")
    p_sim.add_argument("--language", default="en", help="the caller's language (default: en)")
    p_sim.add_argument("--no-answer", action="store_true", help="agents and transfers do not answer")
    p_sim.add_argument("--away", metavar="AGENT,...",
                       help="agents of routing.yaml not available (the others are logged in and idle)")
    p_sim.add_argument("--hangup-after", type=_positive_int, metavar="N",
                       help="the caller hangs up at the Nth chance to press a key")
    p_sim.add_argument("-v", "--verbose", action="store_true", help="print every channel event")
    p_graph = command("graph", "draw a flow with Graphviz")
    p_graph.add_argument("flow", help="flow name or dialled number")
    p_graph.add_argument("-o", "--output", type=Path, required=True, help="flow.svg, flow.png or flow.dot")
    p_graph.add_argument("--dialplans", type=Path, default=Path("dialplans"),
                         help="the dialplans folder (default: ./dialplans)")
    p_reload = command("reload", "ask the running service to validate and reload dialplans")
    p_reload.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_customers = command("customers", "import or export customers (CSV or JSON)")
    p_customers.add_argument("action", choices=("import", "export"), help="load FILE into Redis, or dump it to FILE")
    p_customers.add_argument("file", type=Path, help="customers.csv or customers.json")
    p_customers.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_customers.add_argument("--dry-run", action="store_true", help="import: check every row, write nothing")
    p_agents = command("agents", "list agents, or log one in/out, pause or resume")
    p_agents.add_argument("action", choices=("list", "login", "logout", "pause", "resume", "credential"),
                          help="what to do; credential issues the agent's /agent sign-in secret")
    p_agents.add_argument("agent", nargs="?", help="agent id (from routing.yaml)")
    p_agents.add_argument("--reason", help="pause reason, e.g. lunch")
    p_agents.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_super = command("supervisor", "issue a supervisor's wallboard credential")
    p_super.add_argument("action", choices=("credential",), help="issue (or replace) the sign-in secret")
    p_super.add_argument("name", help="the supervisor's sign-in name")
    p_super.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_route = command("route", "show the routing decisions recorded for a call")
    p_route.add_argument("what", choices=("explain",), help="explain: the routing decisions recorded for a call")
    p_route.add_argument("uniqueid", help="the call's Asterisk uniqueid")
    p_route.add_argument("--config", type=Path, help=CONFIG_HELP)
    p_init = command("init", "lay out a new site: dialplans, settings, Asterisk pieces, rules, dashboard")
    p_init.add_argument("directory", type=Path, help="a new or empty folder, e.g. /etc/switchboard")
    p_ast = sub.add_parser("check-asterisk", help="ask Asterisk over AMI which Switchboard pieces are missing",
                           description="Logs in with the service's AMI settings and reports the manager user's "
                           "privileges, the AGI context and port, the fallback context and the agents' endpoints, and with "
                           "callbacks enabled the callback context and the originate-only user, each missing one "
                           "with the line to add (README \"Beside your Asterisk\").")
    p_ast.add_argument("--config", type=Path, help="settings YAML (see settings.example.yaml)")
    p_ast.add_argument("--admin-user", help="an AMI admin user for the checks the service user cannot run "
                       "(its secret in SWITCHBOARD_AMI_ADMIN_SECRET)")
    p_ast.add_argument("--endpoint", action="append", default=[],
                       help="an agent endpoint to check, e.g. PJSIP/agent1 (repeatable; default: routing.yaml's)")
    args = parser.parse_args(argv)
    if "config" in args:  # --config, else SWITCHBOARD_CONFIG, else /etc/switchboard/settings.yaml if it exists
        args.config = config_path(args.config)
    if args.command == "check-asterisk":
        from switchboard.asterisk_check import run
        return run(args.config, args.admin_user, args.endpoint, os.environ)
    if args.command == "init":
        from switchboard.site_init import init_site
        return init_site(args.directory)
    if args.command in ("agents", "route", "supervisor"):
        return agents(args)
    if args.command == "customers":
        return customers(args)
    if args.command == "serve":
        return serve(args.config)
    if args.command == "validate":
        return validate(args.path, args.sounds)
    if args.command == "simulate":
        return simulate(args)
    if args.command == "graph":
        return graph(args)
    if args.command == "reload":
        return reload(args.config)
    return check_settings(args.config)


if __name__ == "__main__":
    sys.exit(main())

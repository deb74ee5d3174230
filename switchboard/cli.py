"""The `switchboard` command: `serve` runs the service; `check-settings` validates a settings file."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from switchboard.settings import SettingsError, load_settings


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(config: Path | None) -> int:
    """Run the service until SIGTERM/SIGINT; return the process exit code."""
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log.level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("switchboard")
    loop = _new_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor
    asyncioreactor.install(loop)
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from switchboard.service import Service

    service = Service(settings, loop, reactor, log)  # type: ignore[arg-type]
    exit_code = 0

    def failed(failure) -> None:  # type: ignore[no-untyped-def]
        nonlocal exit_code
        exit_code = 1
        log.error("start-up failed: %s", failure.getErrorMessage())
        reactor.stop()  # type: ignore[attr-defined]

    def begin() -> None:
        Deferred.fromFuture(loop.create_task(service.start())).addErrback(failed)

    reactor.callWhenRunning(begin)  # type: ignore[attr-defined]
    reactor.addSystemEventTrigger(  # type: ignore[attr-defined]
        "before", "shutdown", lambda: Deferred.fromFuture(loop.create_task(service.stop())))
    reactor.run()  # type: ignore[attr-defined]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the service (FastAGI, AMI, HTTP) until SIGTERM")
    p_serve.add_argument("--config", type=Path, help="settings YAML (see settings.example.yaml)")
    p_check = sub.add_parser("check-settings", help="validate a settings file and the environment overrides")
    p_check.add_argument("--config", type=Path)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.config)
    return check_settings(args.config)


if __name__ == "__main__":
    sys.exit(main())

"""`switchboard serve` as a process: its log lines are JSON with `log.format: json`, and journald's form (priority
prefix, no timestamp) when JOURNAL_STREAM names its stderr."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.e2e.sandbox import RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]


def _serve(redis_server: RedisServer, tmp_path: Path, journal: bool, **settings: str) -> list[str]:
    """Start the service, wait for its start-up line, stop it with SIGTERM; return its stderr lines."""
    read_end, write_end = os.pipe()
    status = os.fstat(read_end)  # both ends of a pipe are one inode: what systemd would name in JOURNAL_STREAM
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "JOURNAL_STREAM"))}
    env.update({"SWITCHBOARD_AMI__ENABLED": "false", "SWITCHBOARD_REDIS__URL": redis_server.url,
                "SWITCHBOARD_AGI__PORT": str(free_port()), "SWITCHBOARD_HTTP__PORT": "0",
                "SWITCHBOARD_IVR__DIALPLANS": str(REPO / "dialplans"), **settings})
    if journal:
        env["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
    process = subprocess.Popen([sys.executable, "-m", "switchboard", "serve"], cwd=tmp_path, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=write_end)
    os.close(write_end)
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        with os.fdopen(read_end, encoding="utf-8") as stream:
            for line in stream:
                lines.append(line.rstrip("\n"))
                if "serving FastAGI" in line:
                    started.set()
        started.set()  # the process ended (a failed start-up shows in the lines)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(30), lines
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(10)
    return lines


def test_json_log_lines(redis_server: RedisServer, tmp_path: Path) -> None:
    """log.format json: every line of a start and stop is one JSON object with time, level, logger and message."""
    lines = _serve(redis_server, tmp_path, journal=False, SWITCHBOARD_LOG__FORMAT="json")
    parsed = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in parsed)
    messages = [line["message"] for line in parsed]
    assert any(m.startswith("serving FastAGI") for m in messages) and messages[-1] == "stopped"


def test_plain_log_lines_under_journald(redis_server: RedisServer, tmp_path: Path) -> None:
    """Plain logs to the journal stream: `<6>INFO switchboard: ...`, no timestamp of our own."""
    lines = _serve(redis_server, tmp_path, journal=True)
    assert lines and all(line.startswith(("<6>INFO ", "<4>WARNING ", "<7>DEBUG ", "<3>ERROR ")) for line in lines)
    assert "<6>INFO switchboard: stopped" in lines

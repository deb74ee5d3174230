"""Log lines: timestamped plain text on a terminal, journald's form under systemd, JSON with the event's fields."""
from __future__ import annotations

import io
import json
import logging
import os
import re
from pathlib import Path

import pytest

from switchboard.log_output import JournalFormatter, JSONFormatter, configure_logging, formatter_for, under_journald
from switchboard.settings import SettingsError, load_settings

SECRET = {"SWITCHBOARD_AMI_SECRET": "not-a-real-secret"}


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("switchboard.ivr", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_journal_stream_is_recognised_only_for_the_stream_it_names(tmp_path: Path) -> None:
    """JOURNAL_STREAM counts only when its device:inode is the stream's (a child writing elsewhere is not)."""
    with (tmp_path / "out").open("w") as stream, (tmp_path / "other").open("w") as other:
        status = os.fstat(stream.fileno())
        env = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        assert under_journald(stream, env)
        assert not under_journald(other, env)
        assert not under_journald(stream, {})
        assert not under_journald(stream, {"JOURNAL_STREAM": "junk"})
    assert not under_journald(io.StringIO(), env)  # no file descriptor at all


def test_plain_format_has_a_timestamp_except_under_journald(tmp_path: Path) -> None:
    """A terminal gets `date time LEVEL logger: text`; journald gets `<6>INFO logger: text` (it stamps the time)."""
    with (tmp_path / "out").open("w") as stream:
        status = os.fstat(stream.fileno())
        journal = {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"}
        terminal = formatter_for("plain", stream, {}).format(_record("serving"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO switchboard\.ivr: serving", terminal)
        assert isinstance(formatter_for("plain", stream, journal), JournalFormatter)
        assert isinstance(formatter_for("json", stream, journal), JSONFormatter)


def test_journal_lines_carry_the_syslog_priority_on_every_line() -> None:
    """Priorities follow the level (err=3, warning=4, info=6); a traceback's lines keep the error priority."""
    formatter = JournalFormatter()
    assert formatter.format(_record("up")) == "<6>INFO switchboard.ivr: up"
    assert formatter.format(_record("slow", logging.WARNING)) == "<4>WARNING switchboard.ivr: slow"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys
        record = _record("failed", logging.ERROR)
        record.exc_info = sys.exc_info()
    lines = formatter.format(record).splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)


def test_json_lines_have_time_level_logger_message_and_extras() -> None:
    """One object per line; `extra=` fields become keys; an exception is one string."""
    line = json.loads(JSONFormatter().format(_record("call 1.2 ended", uniqueid="1.2", flow="main", wait=None)))
    assert set(line) == {"time", "level", "logger", "message", "uniqueid", "flow", "wait"}
    assert (line["level"], line["logger"], line["message"], line["uniqueid"], line["wait"]) == (
        "INFO", "switchboard.ivr", "call 1.2 ended", "1.2", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


def test_configure_logging_replaces_handlers_and_sets_the_level() -> None:
    """The service's logging writes JSON lines to the given stream at the given level, once (no duplicate handler)."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("warning", "json", stream, {})
        configure_logging("warning", "json", stream, {})
        logging.getLogger("switchboard").info("hidden")
        logging.getLogger("switchboard").warning("shown")
        assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["shown"]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_log_format_setting_is_checked() -> None:
    """log.format takes plain or json; anything else is refused with the choices."""
    assert load_settings(None, {**SECRET, "SWITCHBOARD_LOG__FORMAT": "json"}).log.format == "json"
    assert load_settings(None, SECRET).log.format == "plain"
    with pytest.raises(SettingsError, match="log.format: must be one of plain, json"):
        load_settings(None, {**SECRET, "SWITCHBOARD_LOG__FORMAT": "logfmt"})

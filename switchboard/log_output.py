"""What the service's log lines look like: plain text (timestamped on a terminal; under systemd without a
timestamp, with a syslog priority prefix, as journald adds both), or one JSON object per line (`log.format: json`).

Fields passed to a log call with `extra=` (e.g. the per-call line's uniqueid, flow, outcome) become keys of the
JSON object; the plain format shows only the message, which carries them as text.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Mapping, TextIO

# Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# syslog priorities for journald's level prefix (sd-daemon(3)): "<3>text" is logged at priority err.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def under_journald(stream: TextIO, env: Mapping[str, str]) -> bool:
    """True when `stream` is the journal stream systemd connected (JOURNAL_STREAM names its device:inode)."""
    device, _, inode = env.get("JOURNAL_STREAM", "").partition(":")
    try:
        status = os.fstat(stream.fileno())
        return (int(device), int(inode)) == (status.st_dev, status.st_ino)
    except (ValueError, OSError):  # not set, malformed, or a stream without a file descriptor
        return False


class JournalFormatter(logging.Formatter):
    """`<6>INFO switchboard.ivr: text`: journald reads the priority from the prefix and stamps the time itself."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        # every line of a multi-line message (a traceback) carries the prefix, or journald logs it at info
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the `extra=` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {"time": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname,
                                   "logger": record.name, "message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def formatter_for(log_format: str, stream: TextIO, env: Mapping[str, str]) -> logging.Formatter:
    """The formatter for `log.format` ("plain" or "json") writing to `stream`."""
    if log_format == "json":
        return JSONFormatter()
    if under_journald(stream, env):
        return JournalFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(level: str, log_format: str, stream: TextIO, env: Mapping[str, str]) -> None:
    """Send the root logger's records at `level` and above to `stream` in `log_format` (replacing any handler)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_for(log_format, stream, env))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())

"""The FastAGI wire format, sans I/O: the `agi_*` environment, command lines and replies.

Nothing here touches a socket or a clock (except the caller's own), so every rule of the protocol is unit-tested
on byte strings. The facts it follows (Asterisk 22 `res/res_agi.c`):

* the environment is `agi_<name>: <value>` lines, one write per line, ended by a blank line; it arrives in
  arbitrary fragments and is bounded here in lines and bytes (the caller bounds it in time);
* `agi_network_script` is the path after the host in `agi://host/script?query`, arguments come as `agi_arg_N`;
* a reply is `200 result=N [(data)] [endpos=N]`, `100 result=0 Trying...` precedes the real reply of some
  commands, `510` is an unknown command, `511` a command not permitted on a dead channel, `520-` starts a multi-line
  usage text that ends with `520 End of proper usage.`;
* after the caller hangs up Asterisk writes an unsolicited `HANGUP` line, which older versions glued in front of
  the next reply (`HANGUP200 result=-1`): it is reported apart and never shifts the replies that follow;
* a command is one line; an argument with a space, quote or backslash is quoted and escaped; a CR, LF or NUL in
  any argument would inject a second command, so it is refused before anything is encoded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Union
from urllib.parse import parse_qsl, unquote

MAX_HEADER_LINES = 256
MAX_HEADER_BYTES = 32 * 1024
MAX_LINE_BYTES = 8 * 1024  # Asterisk's AGI line buffer
MAX_PENDING_REPLY_BYTES = 64 * 1024
MAX_SHARED_REPLIES = 512  # plain replies kept for reuse: result=0/1/-1, digits, small numbers

_UNSAFE = re.compile("[\r\n\0]")
_NEEDS_QUOTES = re.compile(r'[\s"\\]')
_SPECIAL = re.compile(r'[\s"\\\0]')  # anything that needs quoting or is refused (\s covers CR and LF)
_HEADER_LINE = re.compile(r"^(agi_[^:\n]*): ?(.*)$", re.MULTILINE)  # LF-only lines (Asterisk's)
_HEADER_LINE_CR = re.compile(r"^(agi_[^:\n]*): ?([^\n]*?)\r*$", re.MULTILINE)  # CR before LF tolerated
_NO_QUERY: Mapping[str, str] = MappingProxyType({})  # shared by every environment without a query (read-only)
_NOT_COLON_OR_LF = bytes(b for b in range(256) if b not in b":\n")  # deleted to check a header's lines in C
_VERB = re.compile(r"^[A-Z]+( [A-Z]+)*$")
_REPLY_200 = re.compile(r"^200 result=(?P<result>-?\w*)(?: \((?P<data>.*)\))?(?: endpos=(?P<endpos>-?\d+))?\s*$",
                        re.DOTALL)


class AGIProtocolError(Exception):
    """The peer broke the FastAGI protocol; `kind` is a short, closed label for metrics."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class UnsafeArgument(ValueError):
    """A command argument carries CR, LF or NUL (it would inject a second command); nothing was sent."""


class CommandTooLong(ValueError):
    """An encoded command exceeds Asterisk's 8 KiB line buffer; nothing was sent."""


class AGIEnvironment:
    """What Asterisk tells about the call before the first command (read-only).

    From a header in Asterisk's own form (LF lines, each checked to be `agi_<name>: <value>`) it keeps the text
    as it came and looks a variable up where it stands, in C, when asked for: the listener reads only the script,
    a flow a handful of the twenty-odd variables, so a call costs a decode and a check of its header instead of a
    dict of forty-odd new strings (bench/agi_throughput.py). `variables` (the whole mapping) and `args` are built
    on first use. From a mapping (`from_variables`, or a CRLF header) it reads the mapping.
    """

    __slots__ = ("script", "query", "_lines", "_variables", "_args")

    def __init__(self, lines: str | None, variables: dict[str, str] | None) -> None:
        """`lines`: LF + the checked header text, each line ended by LF, and its blank line; else `variables`
        (kept, not copied)."""
        self._lines = lines
        self._variables = variables
        self._args: tuple[str, ...] | None = None
        self.query: Mapping[str, str] = _NO_QUERY
        raw = self._find("\nagi_network_script:")
        if raw is None:
            self.script = ""
        elif "?" in raw or "/" in raw or "%" in raw:  # agi://host/path?query as Asterisk passes it
            path, _, query = raw.partition("?")
            path = path.strip("/")
            self.script = unquote(path) if "%" in path else path
            if query:
                self.query = dict(parse_qsl(query, keep_blank_values=True))
        else:  # the usual script: a bare name
            self.script = raw

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> AGIEnvironment:
        """Split `agi_network_script` into script and query, and collect `agi_arg_N` in order."""
        return cls(None, dict(variables))

    def _find(self, needle: str) -> str | None:
        """The value of a variable, as Asterisk sent it (None when absent); `needle` is LF + its name + ':', the
        name holding neither (the properties' names are constants: no string is built per look-up)."""
        lines = self._lines
        if lines is None:
            return self.variables.get(needle[1:-1])
        at = lines.find(needle)  # the first line of that name wins (Asterisk sends each once), as in `variables`
        if at < 0:
            return None
        start = at + len(needle)
        if lines[start] == " ":  # the text ends with LF: `start` is within it
            start += 1
        return lines[start:lines.find("\n", start)]

    @property
    def variables(self) -> Mapping[str, str]:
        """Every `agi_*` variable of the header, by name."""
        variables = self._variables
        if variables is None:
            assert self._lines is not None
            variables = self._variables = _first_wins(_HEADER_LINE.findall(self._lines))
        return variables

    @property
    def args(self) -> tuple[str, ...]:
        """The `agi_arg_N` values, in the order of N."""
        args = self._args
        if args is None:
            numbered: list[tuple[int, str]] = []
            if self._lines is None or "\nagi_arg_" in self._lines:
                for key, value in self.variables.items():
                    if key.startswith("agi_arg_") and key[8:].isdigit():
                        numbered.append((int(key[8:]), value))
            args = self._args = tuple([v for _, v in sorted(numbered)])
        return args

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AGIEnvironment):
            return NotImplemented
        return self.variables == other.variables  # script, query and args follow from them

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:  # no variables: they hold the caller's number
        return f"AGIEnvironment(script={self.script!r})"

    def get(self, name: str) -> str | None:
        """An `agi_<name>` value, None when absent or Asterisk's `unknown`."""
        if self._lines is None or ":" in name or "\n" in name:  # not a needle: the mapping answers
            return _known(self.variables.get("agi_" + name))
        return _known(self._find("\nagi_" + name + ":"))

    @property
    def uniqueid(self) -> str | None:
        return _known(self._find("\nagi_uniqueid:"))

    @property
    def caller_id(self) -> str | None:
        return _known(self._find("\nagi_callerid:"))

    @property
    def caller_name(self) -> str | None:
        return _known(self._find("\nagi_calleridname:"))

    @property
    def dnid(self) -> str | None:
        return _known(self._find("\nagi_dnid:"))

    @property
    def extension(self) -> str | None:
        return _known(self._find("\nagi_extension:"))

    @property
    def channel(self) -> str | None:
        return _known(self._find("\nagi_channel:"))

    @property
    def language(self) -> str | None:
        return _known(self._find("\nagi_language:"))


def _known(value: str | None) -> str | None:
    """None for a value that says nothing: absent, empty, or Asterisk's `unknown`."""
    return None if value is None or value == "" or value == "unknown" else value


def _checked_environment(raw: bytes | bytearray, end: int, max_lines: int) -> AGIEnvironment | None:
    """The environment of the LF-only header `raw[:end]` (`raw[end:end + 2]` is the LF of its last line and the
    blank line) when every line is `agi_<name>:...` and there are at most `max_lines`; None otherwise (the caller
    decides what is wrong).

    Checked with C calls over the bytes, no regex and nothing per line: deleting every byte but ':' and LF leaves
    one run of colons per line, so a line without a colon shows as a leading LF or two LFs in a row before the
    blank line's; the lines that start with `agi_` are counted."""
    if len(raw) != end + 2:  # bytes after the blank line (rare): left out
        raw = raw[:end + 2]
    marks = raw.translate(None, _NOT_COLON_OR_LF)
    lines = marks.count(b"\n") - 1
    if (lines > max_lines or marks[0] == 10 or marks.find(b"\n\n") != len(marks) - 2 or not raw.startswith(b"agi_")
            or raw.count(b"\nagi_", 0, end) != lines - 1):
        return None
    return AGIEnvironment("\n" + raw.decode("utf-8", errors="replace"), None)


class HeaderDecoder:
    """Accumulates fragments until the blank line; bytes after it are kept in `remainder`.

    One pass, linear in the header's size whatever the fragmentation, and no work per line while it arrives:
    fragments are appended to one buffer, only the new bytes are searched for the blank line, and only the first
    line is checked early (so an HTTP probe is refused at once). The header is decoded and split once, when
    complete, which is where any other malformed line is found and the lines are counted exactly; until then it is
    bounded in bytes, in lines as far as fragments end lines (Asterisk writes one line per write, so a header
    often arrives as many fragments: each costs a few C calls here) and, by the listener, in time.
    """

    __slots__ = ("_max_lines", "_max_bytes", "_buffer", "_lines", "_crlf", "_lean", "_try_whole", "remainder")

    def __init__(self, max_lines: int = MAX_HEADER_LINES, max_bytes: int = MAX_HEADER_BYTES, *,
                 first_piece_read: bool = False) -> None:
        """`first_piece_read`: the caller has already tried the first fragment with `whole_header` (which found
        no whole header in it), so `feed` does not try again."""
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._lines = 0  # line ends seen so far
        self._crlf = False  # a CR seen: the blank line may be CRLF
        self._lean = False  # the first line ended and was checked, and no CR seen: `feed`'s lean path applies
        self._try_whole = not first_piece_read
        self.remainder = b""

    def feed(self, data: bytes) -> AGIEnvironment | None:
        """Returns the environment once complete; raises AGIProtocolError on an oversized or malformed header."""
        buffer = self._buffer
        searched = len(buffer)
        # A later LF fragment once the first line was checked: the usual case while a header arrives, kept lean.
        # (`13 in data`, not `b"\r" in data`: for a bytes operand, CPython first tries it as an integer and builds
        # and drops a TypeError, several times the cost of the search itself.)
        if self._lean and data and 13 not in data:
            buffer += data
            end = buffer.find(b"\n\n", searched - 1)
            if end >= 0:
                return self._complete(end, end + 2)
            if data[-1] == 10:  # a line ended: Asterisk writes one per write (the exact count is checked at the end)
                lines = self._lines = self._lines + 1
                if lines > self._max_lines:
                    raise self._too_large()
            if len(buffer) > self._max_bytes:
                raise self._too_large()
            return None
        if not data:
            return None
        if not searched and self._try_whole:
            env = self._whole(data)
            if env is not None:
                return env
        buffer += data
        if searched < 2 and (buffer.startswith(b"\n") or buffer.startswith(b"\r\n")):  # the blank line first
            return self._complete(0, 1 if buffer.startswith(b"\n") else 2)
        if 13 in data:
            self._crlf = True
            self._lean = False
        start = searched - 2 if searched > 1 else 0
        end = buffer.find(b"\n\n", start)
        after = end + 2
        if self._crlf:
            crlf = buffer.find(b"\n\r\n", start, len(buffer) if end < 0 else end)
            if crlf >= 0:
                end, after = crlf, crlf + 3
        if end >= 0:
            return self._complete(end, after)
        lines = self._lines
        self._lines = lines + data.count(b"\n")
        if self._lines > self._max_lines or len(buffer) > self._max_bytes:
            raise self._too_large()
        if not lines and self._lines:
            self._check_first_line(buffer)
            self._lean = not self._crlf
        return None

    def _complete(self, end: int, after: int) -> AGIEnvironment:
        """The header ends at `end` (its blank line) and what follows starts at `after`: decoded and split once."""
        buffer = self._buffer
        if after > self._max_bytes:
            raise self._too_large()
        self.remainder = bytes(buffer[after:])
        self._buffer = bytearray()
        if not end:
            return AGIEnvironment(None, {})
        if not self._crlf:
            env = _checked_environment(buffer, end, self._max_lines)
            if env is not None:
                return env
        text = buffer[:end].decode("utf-8", errors="replace")
        return AGIEnvironment(None, _header_variables(text, self._max_lines))

    def _too_large(self) -> AGIProtocolError:
        if self._lines > self._max_lines:
            return AGIProtocolError("header_too_large", f"AGI header exceeds {self._max_lines} lines")
        return AGIProtocolError("header_too_large", f"AGI header exceeds {self._max_bytes} bytes")

    def _whole(self, data: bytes) -> AGIEnvironment | None:
        whole = whole_header(data, self._max_lines, self._max_bytes)
        if whole is None:
            return None
        env, self.remainder = whole
        return env

    def _check_first_line(self, buffer: bytearray) -> None:
        """The first line must look like `agi_<name>:` (an HTTP probe or a stray client is refused at once)."""
        end = buffer.find(b"\n")
        if not buffer.startswith(b"agi_") or buffer.find(b":", 0, end) < 0:
            raise _malformed(1, bytes(buffer[:end]).rstrip(b"\r").decode("utf-8", errors="replace"))


def whole_header(data: bytes, max_lines: int = MAX_HEADER_LINES,
                 max_bytes: int = MAX_HEADER_BYTES) -> tuple[AGIEnvironment, bytes] | None:
    """(environment, bytes after the blank line) when `data` holds a whole header in Asterisk's own form (LF only,
    every line `agi_<name>: <value>`) within the bounds; None otherwise. Nothing is kept: on None, feed the same
    bytes to a `HeaderDecoder`, which decides and raises what it must. How a listener reads the usual header
    (it comes in one piece) without building a decoder for it."""
    end = data.find(b"\n\n")
    if end <= 0 or end + 2 > max_bytes or 13 in data:  # a CR anywhere: the decoder's job
        return None
    env = _checked_environment(data, end, max_lines)
    if env is None:
        return None
    return env, (b"" if len(data) == end + 2 else data[end + 2:])


def _header_variables(text: str, max_lines: int) -> dict[str, str]:
    """The variables of a complete header's text (without its blank line), in one regex pass; the first line that
    is not `agi_<name>: <value>` is named in the error."""
    lines = text.count("\n") + 1
    if lines > max_lines:
        raise AGIProtocolError("header_too_large", f"AGI header exceeds {max_lines} lines")
    pattern = _HEADER_LINE_CR if "\r" in text else _HEADER_LINE
    pairs = pattern.findall(text)  # one pass in C; a line it does not match is found below
    if len(pairs) != lines:
        _raise_malformed(pattern, text)
    return _first_wins(pairs)


def _first_wins(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The header's variables by name; a name sent twice keeps its first value (as a look-up in the text does)."""
    variables = dict(pairs)
    if len(variables) != len(pairs):
        variables.clear()
        for name, value in pairs:
            variables.setdefault(name, value)
    return variables


def _raise_malformed(pattern: re.Pattern[str], text: str) -> None:
    """Names the first line of a complete header that is not `agi_<name>: <value>`."""
    for number, line in enumerate(text.split("\n"), 1):
        if pattern.fullmatch(line) is None:
            raise _malformed(number, line.rstrip("\r"))


def _malformed(number: int, text: str) -> AGIProtocolError:
    return AGIProtocolError("header_malformed", f"AGI header line {number} is not 'agi_<name>: <value>': {text[:80]!r}")


@dataclass(frozen=True, slots=True)
class AGIReply:
    """One complete reply to one command. Frozen, so the decoder can hand out one shared instance per common
    plain reply (`200 result=0`, `200 result=1`, a digit) instead of building one per command."""

    code: int
    result: str = ""
    data: str | None = None
    endpos: int | None = None
    text: str = ""

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None


@dataclass(frozen=True)
class HangupNotice:
    """Asterisk's unsolicited `HANGUP` line: the caller has gone; it answers no command."""


ReplyEvent = Union[AGIReply, HangupNotice]


_plain_replies: dict[bytes, AGIReply] = {}  # exact line bytes -> its (immutable) reply
_answers: dict[bytes, AGIReply] = {}  # the same, for the replies that answer a command as they are (not -1)
# The shared reply when `data` is exactly a plain `200 result=N` line seen before whose result is not -1 (which
# means a hang-up), else None: a dict lookup made in C, the listener's first look at every reply.
known_answer: Callable[[bytes], AGIReply | None] = _answers.get


def plain_reply(data: bytes) -> AGIReply | None:
    """The reply when `data` is exactly one plain `200 result=N` line (no data, no endpos), else None. Stateless:
    valid while no partial line or usage block is pending, so a listener needs no `ReplyDecoder` until a reply
    that is not plain arrives. Common replies are shared instances (`AGIReply` is immutable)."""
    reply = _plain_replies.get(data)
    if reply is not None:
        return reply
    if data.startswith(b"200 result=") and data.find(b"\n") == len(data) - 1 and data.find(b" ", 11) < 0:
        line = data[:-1].rstrip(b"\r").decode("utf-8", errors="replace")
        reply = AGIReply(200, line[11:], None, None, line)
        if len(_plain_replies) < MAX_SHARED_REPLIES:
            _plain_replies[data] = reply
            if reply.result != "-1":
                _answers[data] = reply
        return reply
    return None


@dataclass
class ReplyDecoder:
    """Turns reply bytes into `AGIReply` and `HangupNotice` events, in order, from arbitrary fragments."""

    _buffer: bytes = b""
    _usage: list[str] | None = field(default=None)

    def plain(self, data: bytes) -> AGIReply | None:
        """The hot path: when `data` is exactly one plain `200 result=N` line (no data, no endpos) and nothing is
        buffered, its reply; otherwise None, and nothing was consumed (call `feed`)."""
        if self._buffer or self._usage is not None:
            return None
        return plain_reply(data)

    def feed(self, data: bytes) -> list[ReplyEvent]:
        """Every event completed by `data`, in order (a partial line is kept for the next call)."""
        reply = self.plain(data)
        if reply is not None:
            return [reply]
        events: list[ReplyEvent] = []
        if not self._buffer and data.find(b"\n") == len(data) - 1:  # the common case: exactly one line
            self._line(data[:-1].rstrip(b"\r").decode("utf-8", errors="replace"), events)
            return events
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise AGIProtocolError("reply_too_long", f"AGI reply line exceeds {MAX_LINE_BYTES} bytes")
                return events
            raw = self._buffer[:end].rstrip(b"\r")
            self._buffer = self._buffer[end + 1:]
            self._line(raw.decode("utf-8", errors="replace"), events)

    def _line(self, line: str, events: list[ReplyEvent]) -> None:
        if self._usage is None and line.startswith("200 result=") and line.find(" ", 11) < 0:
            events.append(AGIReply(200, line[11:], None, None, line))  # the common case, first and cheapest
            return
        if self._usage is not None:  # inside a 520- usage block: everything up to "520 " belongs to it
            if line.startswith("520 "):
                self._usage.append(line[4:])
                events.append(AGIReply(code=520, text="\n".join(self._usage)))
                self._usage = None
            else:
                self._usage.append(line)
                if sum(len(x) for x in self._usage) > MAX_PENDING_REPLY_BYTES:
                    raise AGIProtocolError("reply_too_long", "AGI 520 usage text exceeds 64 KiB")
            return
        while line.startswith("HANGUP"):
            events.append(HangupNotice())
            line = line[6:]
        if not line:
            return
        code_text = line[:3]
        if not code_text.isdigit():
            raise AGIProtocolError("reply_malformed", f"AGI reply is not '<code> ...': {line[:80]!r}")
        code = int(code_text)
        if code == 100:  # "100 result=0 Trying..." — the real reply follows
            return
        if code == 200:
            m = _REPLY_200.match(line)
            if m is None:
                result = line[4:].split(" ", 1)[0].removeprefix("result=")
                events.append(AGIReply(code=200, result=result, text=line))
            else:
                endpos = m.group("endpos")
                events.append(AGIReply(code=200, result=m.group("result"), data=m.group("data"),
                                       endpos=int(endpos) if endpos is not None else None, text=line))
            return
        if code == 520 and line[3:4] == "-":
            self._usage = [line[4:]]
            return
        events.append(AGIReply(code=code, text=line[4:]))


def quote_argument(value: str) -> str:
    """One argument as Asterisk's parser reads it back: quoted when needed, `\\` and `"` escaped."""
    if value and _SPECIAL.search(value) is None:  # the common case: one search, nothing to quote or refuse
        return value
    unsafe = _UNSAFE.search(value)
    if unsafe is not None:
        where = unsafe.start()
        raise UnsafeArgument(f"argument contains {value[where]!r} at position {where}; "
                             "CR, LF and NUL are refused because they would start a second AGI command")
    if value and not _NEEDS_QUOTES.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_checked_verbs: set[str] = set()
# (verb, arguments) -> the encoded line, for lines already checked: a flow sends the same prompts and variables on
# every call. Bounded: emptied when full, so values that differ per call (a customer id) cannot grow it.
_encoded_lines: dict[tuple[str, tuple[str, ...]], bytes] = {}
MAX_ENCODED_LINES = 1024
# The line of a command already encoded and checked, by (verb, arguments), else None (then: `format_command`). A
# dict lookup made in C: how a channel sends a command it has sent before without a Python call into the codec.
encoded_line: Callable[[tuple[str, tuple[str, ...]]], bytes | None] = _encoded_lines.get


def format_command(verb: str, *args: str) -> bytes:
    """Encodes one command line; raises UnsafeArgument or CommandTooLong before anything could be sent."""
    key = (verb, args)
    encoded = _encoded_lines.get(key)
    if encoded is not None:
        return encoded
    if verb not in _checked_verbs:
        if not _VERB.match(verb):
            raise UnsafeArgument(f"AGI verb {verb!r} must be upper-case words separated by single spaces")
        if len(_checked_verbs) < 256:  # a cache of the verbs seen; AGI has about 50
            _checked_verbs.add(verb)
    line = verb + " " + " ".join([quote_argument(a) for a in args]) if args else verb
    encoded = (line + "\n").encode("utf-8")
    if len(encoded) > MAX_LINE_BYTES:
        raise CommandTooLong(f"{verb} command is {len(encoded)} bytes; Asterisk reads at most {MAX_LINE_BYTES}")
    if verb in _checked_verbs:  # only lines whose verb is in the (bounded) set of checked verbs are kept
        if len(_encoded_lines) >= MAX_ENCODED_LINES:
            _encoded_lines.clear()
        _encoded_lines[key] = encoded
    return encoded

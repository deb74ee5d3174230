"""Unit tests of the FastAGI codec: environment, replies and command encoding, on byte strings only."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchboard.ivr import agi_codec
from switchboard.ivr.agi_codec import (
    AGIEnvironment,
    AGIProtocolError,
    AGIReply,
    CommandTooLong,
    HangupNotice,
    HeaderDecoder,
    ReplyDecoder,
    UnsafeArgument,
    format_command,
    plain_reply,
    quote_argument,
    whole_header,
)

HEADER = (
    b"agi_network: yes\n"
    b"agi_network_script: inbound?lang=en&vip=1\n"
    b"agi_request: agi://127.0.0.1:4573/inbound?lang=en&vip=1\n"
    b"agi_channel: PJSIP/callers-00000001\n"
    b"agi_language: en\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_callerid: +441632960123\n"
    b"agi_calleridname: unknown\n"
    b"agi_dnid: 100\n"
    b"agi_extension: 100\n"
    b"agi_arg_1: first arg\n"
    b"agi_arg_2: second\n"
    b"\n"
)


def test_header_from_single_bytes() -> None:
    """The environment decodes the same when it arrives one byte at a time."""
    decoder = HeaderDecoder()
    env = None
    for i in range(len(HEADER)):
        assert env is None
        env = decoder.feed(HEADER[i:i + 1])
    assert env is not None
    assert env.script == "inbound"
    assert env.query == {"lang": "en", "vip": "1"}
    assert env.args == ("first arg", "second")
    assert env.uniqueid == "1700000000.1"
    assert env.caller_id == "+441632960123"
    assert env.caller_name is None  # Asterisk's "unknown" means absent
    assert env.dnid == "100"


def test_header_keeps_bytes_after_blank_line() -> None:
    """Bytes that follow the blank line (a reply sent early) are kept, not lost."""
    decoder = HeaderDecoder()
    env = decoder.feed(HEADER + b"200 result=0\n")
    assert env is not None
    assert decoder.remainder == b"200 result=0\n"


def test_header_whole_and_in_fragments_decode_alike() -> None:
    """A header arriving in one piece (the one-split path) gives the same environment as one fed line by line."""
    whole = HeaderDecoder().feed(HEADER)
    pieces = HeaderDecoder()
    env = None
    for line in HEADER.splitlines(keepends=True):
        env = pieces.feed(line)
    assert whole is not None and env is not None
    assert whole == env
    assert whole.variables["agi_calleridname"] == "unknown" and whole.args == ("first arg", "second")


def test_header_value_holding_colon_space_in_one_piece() -> None:
    """A value holding ': ' (a caller name) is kept whole when the header arrives in one piece."""
    env = HeaderDecoder().feed(b"agi_network_script: x\nagi_calleridname: Dr: Who\nagi_accountcode: \n\n")
    assert env is not None
    assert env.variables["agi_calleridname"] == "Dr: Who" and env.variables["agi_accountcode"] == ""


def test_header_line_without_separator_is_refused_in_one_piece() -> None:
    """A line without ': ' is refused even when another line's ': ' in a value would balance the count."""
    with pytest.raises(AGIProtocolError) as err:
        HeaderDecoder().feed(b"agi_a: 1\nagi_b\nagi_c: agi_d: 2\n\n")
    assert err.value.kind == "header_malformed"


_NAMES = st.sampled_from(["network_script", "uniqueid", "callerid", "calleridname", "dnid", "extension",
                          "channel", "language", "arg_1", "arg_2", "x"])
_VALUES = st.text(alphabet=st.sampled_from(list("ab1: /?=&%_unknow")), max_size=12)


@given(st.lists(st.tuples(_NAMES, _VALUES, st.booleans()), max_size=12))
def test_header_looked_up_in_place_agrees_with_the_mapping(lines: list[tuple[str, str, bool]]) -> None:
    """Variables read where they stand in the header (one piece or line by line) equal the decoded mapping's,
    duplicates (the first wins), values holding ': ', empty values and a missing space after the colon included."""
    raw = b"".join(f"agi_{name}:{' ' if spaced else ''}{value}\n".encode() for name, value, spaced in lines) + b"\n"
    first: dict[str, str] = {}
    for name, value, spaced in lines:
        first.setdefault(f"agi_{name}", value if spaced else value.removeprefix(" "))
    expected = AGIEnvironment.from_variables(first)
    whole = HeaderDecoder().feed(raw) if lines else None
    pieces = HeaderDecoder()
    for line in raw.splitlines(keepends=True):
        pieces_env = pieces.feed(line)
    for env in (whole, pieces_env if lines else None):
        if env is None:
            continue
        for name in ("network_script", "uniqueid", "callerid", "calleridname", "dnid", "extension", "channel",
                     "language", "arg_1", "x", "nothere", "a:b", "x\nagi_x"):
            assert env.get(name) == expected.get(name), name
        assert (env.uniqueid, env.caller_id, env.caller_name, env.dnid, env.extension, env.channel,
                env.language) == (expected.uniqueid, expected.caller_id, expected.caller_name, expected.dnid,
                                  expected.extension, expected.channel, expected.language)
        assert (env.script, env.query, env.args) == (expected.script, expected.query, expected.args)
        assert env == expected and env.variables == expected.variables


def test_header_args_sorted_numerically() -> None:
    """agi_arg_10 comes after agi_arg_2."""
    lines = b"".join(f"agi_arg_{n}: a{n}\n".encode() for n in (10, 2, 1)) + b"agi_network_script: x\n\n"
    env = HeaderDecoder().feed(lines)
    assert env is not None and env.args == ("a1", "a2", "a10")


def test_header_crlf_lines() -> None:
    """CRLF line ends are accepted."""
    env = HeaderDecoder().feed(b"agi_network_script: /menu\r\nagi_uniqueid: 1.2\r\n\r\n")
    assert env is not None and env.script == "menu" and env.uniqueid == "1.2"


def test_header_line_bound() -> None:
    """More header lines than the bound is a protocol error."""
    decoder = HeaderDecoder(max_lines=3)
    with pytest.raises(AGIProtocolError) as err:
        decoder.feed(b"agi_a: 1\nagi_b: 2\nagi_c: 3\nagi_d: 4\n")
    assert err.value.kind == "header_too_large"


def test_header_byte_bound_without_newline() -> None:
    """An endless line without a newline is refused once it passes the byte bound."""
    decoder = HeaderDecoder(max_bytes=100)
    assert decoder.feed(b"agi_x: " + b"a" * 50) is None
    with pytest.raises(AGIProtocolError) as err:
        decoder.feed(b"a" * 60)
    assert err.value.kind == "header_too_large"


def test_header_rejects_non_agi_line() -> None:
    """A line that is not `agi_name: value` (e.g. an HTTP request) is refused with its line number."""
    with pytest.raises(AGIProtocolError, match="line 1") as err:
        HeaderDecoder().feed(b"GET / HTTP/1.0\r\n")
    assert err.value.kind == "header_malformed"


def test_header_crlf_in_fragments_with_the_blank_line_split() -> None:
    """CRLF lines fed in fragments that split the blank line decode as the whole header does, remainder kept."""
    raw = b"agi_network_script: /menu\r\nagi_uniqueid: 1.2\r\n\r\n200 result=0\n"
    for cut in range(1, len(raw)):
        decoder = HeaderDecoder()
        first = decoder.feed(raw[:cut])
        env = first if first is not None else decoder.feed(raw[cut:])
        assert env is not None and env.script == "menu" and env.uniqueid == "1.2", cut
        assert (decoder.remainder if first is None else decoder.remainder + raw[cut:]) == b"200 result=0\n", cut


def test_header_fragments_refuse_a_bad_line_when_complete() -> None:
    """A malformed line after a good first line is refused once the header is complete, naming its line."""
    decoder = HeaderDecoder()
    for line in (b"agi_network_script: x\n", b"agi_uniqueid: 1.2\n", b"oops\n"):
        assert decoder.feed(line) is None  # only line 1 is checked early; the rest costs a count
    with pytest.raises(AGIProtocolError, match="line 3") as err:
        decoder.feed(b"\n")
    assert err.value.kind == "header_malformed"


def test_header_fragments_refuse_a_probe_at_its_first_line() -> None:
    """A first line that is not `agi_...:` is refused as soon as it ends, before any more arrives."""
    decoder = HeaderDecoder()
    assert decoder.feed(b"GET / HT") is None
    with pytest.raises(AGIProtocolError, match="line 1") as err:
        decoder.feed(b"TP/1.1\r\nHost: x\r\n")
    assert err.value.kind == "header_malformed"


def test_header_fragments_check_a_first_line_that_arrives_in_pieces() -> None:
    """A first line split before its LF is still checked as soon as it ends."""
    decoder = HeaderDecoder()
    assert decoder.feed(b"GE") is None
    with pytest.raises(AGIProtocolError, match="line 1") as err:
        decoder.feed(b"T / HTTP/1.0\nagi_x: 1\n")
    assert err.value.kind == "header_malformed"


def test_header_line_bound_across_fragments() -> None:
    """The line bound counts lines across fragments, before the header is complete."""
    decoder = HeaderDecoder(max_lines=3)
    for line in (b"agi_a: 1\n", b"", b"agi_b: 2\n", b"agi_c: 3\n"):  # an empty read changes nothing
        assert decoder.feed(line) is None
    with pytest.raises(AGIProtocolError) as err:
        decoder.feed(b"agi_d: 4\n")
    assert err.value.kind == "header_too_large"


def test_empty_header_in_fragments() -> None:
    """A blank line first (no variables) is an empty environment, also when its CR and LF come apart."""
    decoder = HeaderDecoder()
    assert decoder.feed(b"\r") is None
    env = decoder.feed(b"\n200 result=0\n")
    assert env is not None and env.variables == {} and env.script == ""
    assert decoder.remainder == b"200 result=0\n"


def test_reply_200_with_data_and_endpos() -> None:
    """result, data in parentheses (which may hold parentheses) and endpos are parsed."""
    [reply] = ReplyDecoder().feed(b"200 result=1 (a (b) c) endpos=1234\n")
    assert reply == AGIReply(code=200, result="1", data="a (b) c", endpos=1234,
                             text="200 result=1 (a (b) c) endpos=1234")


def test_reply_fragments_and_trying() -> None:
    """`100 Trying` is skipped and a reply split across fragments is delivered once."""
    decoder = ReplyDecoder()
    assert decoder.feed(b"100 result=0 Trying...\n200 res") == []
    [reply] = decoder.feed(b"ult=0 endpos=0\n")
    assert isinstance(reply, AGIReply) and reply.result == "0" and reply.endpos == 0


def test_hangup_line_then_reply() -> None:
    """An unsolicited HANGUP line is its own event; the reply after it stays a reply."""
    events = ReplyDecoder().feed(b"HANGUP\n200 result=-1\n")
    assert events == [HangupNotice(), AGIReply(code=200, result="-1", text="200 result=-1")]


def test_hangup_glued_to_reply() -> None:
    """`HANGUP200 result=-1` (out-of-band era) yields a hangup notice and the reply."""
    events = ReplyDecoder().feed(b"HANGUP200 result=-1\n")
    assert events == [HangupNotice(), AGIReply(code=200, result="-1", text="200 result=-1")]


def test_510_and_511() -> None:
    """510 and 511 carry their code and text."""
    events = ReplyDecoder().feed(b"510 Invalid or unknown command\n"
                                 b"511 Command Not Permitted on a dead channel or intercept routine\n")
    assert [(e.code, e.text) for e in events if isinstance(e, AGIReply)] == [
        (510, "Invalid or unknown command"),
        (511, "Command Not Permitted on a dead channel or intercept routine")]


def test_520_multiline_is_one_reply() -> None:
    """A 520- usage block, even holding lines that look like replies, is one reply."""
    events = ReplyDecoder().feed(b"520-Invalid command syntax.  Proper usage follows:\n"
                                 b"Usage: STREAM FILE <filename> <escape digits>\n"
                                 b"200 result=0 looks like a reply\n"
                                 b"520 End of proper usage.\n"
                                 b"200 result=1\n")
    assert len(events) == 2
    usage, after = events
    assert isinstance(usage, AGIReply) and usage.code == 520 and "Usage: STREAM FILE" in usage.text
    assert isinstance(after, AGIReply) and after.result == "1"


def test_malformed_reply() -> None:
    """A line that is not a reply is a protocol error."""
    with pytest.raises(AGIProtocolError) as err:
        ReplyDecoder().feed(b"hello\n")
    assert err.value.kind == "reply_malformed"


def test_format_quotes_and_escapes() -> None:
    """Arguments with spaces, quotes or backslashes are quoted and escaped; empty ones are `\"\"`."""
    assert format_command("STREAM FILE", "hello-world", "") == b'STREAM FILE hello-world ""\n'
    assert format_command("SET VARIABLE", "NAME", 'Zo\u00eb "the" \\boss') == (
        'SET VARIABLE NAME "Zo\u00eb \\"the\\" \\\\boss"\n'.encode())


@pytest.mark.parametrize("bad", ["a\nHANGUP", "a\r", "a\0b"])
def test_format_refuses_line_breaks_and_nul(bad: str) -> None:
    """CR, LF and NUL in any argument are refused before anything is encoded."""
    with pytest.raises(UnsafeArgument):
        format_command("SET VARIABLE", "X", bad)


def test_format_refuses_odd_verb_and_long_lines() -> None:
    """A verb with odd characters, or a line over Asterisk's 8 KiB buffer, is refused."""
    with pytest.raises(UnsafeArgument):
        format_command("ANSWER\nHANGUP")
    with pytest.raises(CommandTooLong):
        format_command("VERBOSE", "x" * 9000)


def _unquote(text: str) -> list[str]:
    """Reads arguments back the way res_agi.c's parse_args does (quotes toggle, backslash escapes)."""
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = started = True
        elif ch == '"':
            quoted = not quoted
            started = True
        elif ch.isspace() and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",))),
                min_size=1, max_size=4))
def test_quoting_round_trips(values: list[str]) -> None:
    """Whatever the argument, Asterisk's parser reads back exactly what was quoted."""
    line = " ".join(quote_argument(v) for v in values)
    assert _unquote(line) == values


def test_encoded_lines_are_kept_bounded_and_never_skip_the_checks() -> None:
    """A repeated command is encoded once; the kept lines stay bounded; an unsafe argument is still refused."""
    first = format_command("SET VARIABLE", "SWITCHBOARD_STATUS", "DONE")
    assert format_command("SET VARIABLE", "SWITCHBOARD_STATUS", "DONE") is first
    assert first == b"SET VARIABLE SWITCHBOARD_STATUS DONE\n"
    with pytest.raises(UnsafeArgument):
        format_command("SET VARIABLE", "SWITCHBOARD_STATUS", "DONE\n")
    for n in range(agi_codec.MAX_ENCODED_LINES + 10):
        assert format_command("SET VARIABLE", "ID", str(n)) == f"SET VARIABLE ID {n}\n".encode()
    assert len(agi_codec._encoded_lines) <= agi_codec.MAX_ENCODED_LINES


def test_stateless_header_and_plain_reply_readers() -> None:
    """whole_header reads a one-piece header (None for anything else); plain_reply reads only plain 200 lines."""
    whole = whole_header(HEADER + b"200 result=0\n")
    assert whole is not None
    env, rest = whole
    assert env.script == "inbound" and rest == b"200 result=0\n"
    assert whole_header(HEADER[:40]) is None
    assert whole_header(b"agi_network_script: x\r\n\r\n") is None  # CRLF: the decoder's job
    assert plain_reply(b"200 result=1\n") == AGIReply(200, "1", None, None, "200 result=1")
    assert plain_reply(b"200 result=1 (timeout)\n") is None
    assert plain_reply(b"200 result=1\n200 result=0\n") is None

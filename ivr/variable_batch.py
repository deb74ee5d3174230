"""Several channel variables in one AGI command, both ways: the MSet argument for writes, the combined read.

Every AGI command costs Asterisk a round trip and a dialplan lookup, so variables that are set or read together
travel together (what `Channel.set_variables` / `Channel.get_variables` send):

* Writing: `EXEC MSet name1=value1,name2=value2` (Asterisk's MSet application, main/pbx_variables.c). MSet splits its
  argument twice: first on `,` (honouring `(...)`, `[...]` and `"..."`, and removing one level of `\\` escapes and
  the quotes), then each pair on its first `=` (the name only; the value is taken as it is). So a value goes through
  exactly one unescaping: `\\`, `"`, `,`, `(`, `)`, `[` and `]` are escaped with a backslash; `=` needs nothing. A
  name ending in `)` is a dialplan function (`CHANNEL(language)`), written like SET VARIABLE writes it. At most 98
  pairs per MSet (its parser keeps 99, the last one raw); longer batches are split.
* Not in a batch, sent with their own SET VARIABLE (as before): a name that is not a plain identifier or
  `FUNCTION(identifier)`, and a value holding `$`, because Asterisk substitutes `${...}` in EXEC arguments when the
  channel sets AGIEXECFULL (SET VARIABLE never substitutes). A value holding CR, LF or NUL is never sent (it would
  end the AGI line): it is refused, and the caller is told its name.
* Reading: `GET FULL VARIABLE ${A}|${B}`: Asterisk substitutes the expression and answers `200 result=1 (va|vb)`.
  The answer splits into exactly as many parts as names unless a value itself held `|`; then the split is
  ambiguous and the caller reads each variable on its own. Empty and unset both read as None (GET FULL VARIABLE
  does not tell them apart). Used for DIALSTATUS (a word) and ANSWEREDTIME (a number), which never hold `|`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

# AST_APP_ARG(pair)[99] in pbx_builtin_setvar_multiple, but the 99th slot takes the rest of the argument raw (its
# escapes not removed): 98 pairs are parsed properly
MSET_MAX_PAIRS = 98
MSET_MAX_CHARS = 3000  # one MSet argument, well inside the 8 KiB AGI line even after the codec's quoting
SEPARATOR = "|"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\([A-Za-z0-9_-]*\))?")
_ESCAPED = re.compile(r'([\\",()\[\]])')
_UNSENDABLE = re.compile(r"[\r\n\x00]")
_NOT_PLAIN = re.compile(r'[\\",()\[\]$\r\n\x00]')  # a value with none of these goes into MSet as it is
_plain_names: set[str] = set()  # names seen to be plain (a call sends the same few names again and again)
MAX_PLAIN_NAMES = 1024


@dataclass(frozen=True)
class VariableWrites:
    """How a set of variables is sent: MSet batches (each the argument list of one `EXEC MSet`), pairs that go by
    their own SET VARIABLE, and the names refused (values that cannot travel in an AGI line)."""

    batches: tuple[tuple[str, ...], ...]
    singles: tuple[tuple[str, str], ...]
    refused: tuple[str, ...]


def mset_pair(name: str, value: str) -> str:
    """One `name=value` of an MSet argument, the value escaped for MSet's single unescaping pass."""
    return name + "=" + _ESCAPED.sub(r"\\\1", value)


def batchable(name: str, value: str) -> bool:
    """True when the pair can travel in an MSet (a plain name, no `$` in the value)."""
    return _NAME.fullmatch(name) is not None and "$" not in value


def plan_writes(pairs: Mapping[str, str]) -> VariableWrites:
    """The fewest commands for `pairs`: one MSet per 98 pairs (or per MSET_MAX_CHARS), SET VARIABLE for a lone pair
    and for pairs that cannot be batched; values with CR, LF or NUL refused."""
    if 1 < len(pairs) <= MSET_MAX_PAIRS:  # the common case: plain names and values, one MSet, nothing to escape
        batch = []
        size = 0
        for name, value in pairs.items():
            if _NOT_PLAIN.search(value) is not None or name not in _plain_names and not _plain_name(name):
                break
            batch.append(name + "=" + value)
            size += len(batch[-1]) + 1
        else:
            if size <= MSET_MAX_CHARS:
                return VariableWrites((tuple(batch),), (), ())
    return _plan_any(pairs)


def _plain_name(name: str) -> bool:
    if _NAME.fullmatch(name) is None:
        return False
    if len(_plain_names) >= MAX_PLAIN_NAMES:  # bounded: names from YAML, but never let them grow it for ever
        _plain_names.clear()
    _plain_names.add(name)
    return True


def _plan_any(pairs: Mapping[str, str]) -> VariableWrites:
    """plan_writes for any pairs: escaping, singles and refusals."""
    refused = tuple(name for name, value in pairs.items() if _UNSENDABLE.search(value) or _UNSENDABLE.search(name))
    sendable = [(n, v) for n, v in pairs.items() if n not in refused]
    grouped = [(n, v) for n, v in sendable if batchable(n, v)]
    singles = [(n, v) for n, v in sendable if not batchable(n, v)]
    chunks: list[list[tuple[str, str]]] = []
    size = 0
    for name, value in grouped:
        length = len(name) + len(value) * 2 + 2  # at most every character escaped, plus `=` and `,`
        if not chunks or len(chunks[-1]) == MSET_MAX_PAIRS or size + length > MSET_MAX_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append((name, value))
        size += length
    batches = tuple(tuple(mset_pair(n, v) for n, v in chunk) for chunk in chunks if len(chunk) > 1)
    lone = [chunk[0] for chunk in chunks if len(chunk) == 1]  # one pair: SET VARIABLE is the plainer command
    return VariableWrites(batches, tuple(lone + singles), refused)


def read_expression(names: Sequence[str]) -> str:
    """The GET FULL VARIABLE expression reading `names` at once (`${DIALSTATUS}|${ANSWEREDTIME}`)."""
    for name in names:
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"{name!r} cannot be read in a combined GET FULL VARIABLE")
    return SEPARATOR.join(f"${{{name}}}" for name in names)


def split_values(data: str | None, count: int) -> tuple[str | None, ...] | None:
    """The values of a combined read (empty → None); None when the answer does not split into `count` parts (a
    value held the separator, or Asterisk answered result=0): the caller then reads each on its own."""
    if data is None:
        return None
    parts = data.split(SEPARATOR)
    if len(parts) != count:
        return None
    return tuple(part or None for part in parts)

"""Asterisk 22's argument parsing, modelled for tests: how an AGI line splits into words (res_agi.c parse_args) and
how MSet splits its argument into pairs (main/app.c __ast_app_separate_args with remove_chars, called by
pbx_builtin_setvar_multiple in main/pbx_variables.c). Written from reading those functions, so that tests can check
what Asterisk would set from the bytes the service sends, without an Asterisk."""
from __future__ import annotations

MSET_PAIRS = 99  # AST_APP_ARG(pair)[99]


def agi_words(line: str) -> list[str]:
    """The words of one AGI command line: split on unquoted, unescaped blanks; `"` toggles quoting (and starts a
    word); `\\` makes the next character literal."""
    words: list[str] = []
    current: str | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = ""
            continue
        if ch in " \t" and not quoted and not escaped:
            if current is not None:
                words.append(current)
                current = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        current = (current or "") + ch
        escaped = False
    if current is not None:
        words.append(current)
    return words


def separate(text: str, delim: str, limit: int) -> list[str]:
    """Asterisk's argument separation with `remove_chars`: `(...)`, `[...]` and quotes hide the delimiter, quotes are
    removed, `\\` is removed and its next character kept literally; past `limit - 1` arguments the rest is kept
    raw as the last one; a trailing delimiter gives a last, empty argument."""
    chars = list(text)
    args: list[str] = []
    scan = paren = bracket = 0
    quote = False
    after_delim = False
    while scan < len(chars) and len(args) < limit - 1:
        start = scan
        after_delim = False
        while scan < len(chars):
            ch = chars[scan]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(0, paren - 1)
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = max(0, bracket - 1)
            elif ch == '"' and delim != '"':
                quote = not quote
                del chars[scan]
                continue
            elif ch == "\\":
                del chars[scan]  # the next character is now at `scan`: kept, and stepped over below
            elif ch == delim and not paren and not quote and not bracket:
                break
            scan += 1
        args.append("".join(chars[start:scan]))
        if scan < len(chars):  # stopped on a delimiter
            scan += 1
            after_delim = True
    if scan < len(chars) or after_delim:
        args.append("".join(chars[scan:]))
    return args


def mset(data: str) -> dict[str, str]:
    """What `MSet(data)` sets: each `,`-separated pair split at its first `=` (the value kept as it is after the
    first pass); entries without `=` are ignored, as Asterisk ignores them (with a warning)."""
    out: dict[str, str] = {}
    for pair in separate(data, ",", MSET_PAIRS):
        parts = separate(pair, "=", 2)
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out

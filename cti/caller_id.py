"""Caller IDs as Asterisk reports them, turned into E.164 numbers (or a clear reason why there is none).

Asterisk hands over whatever the trunk sent: `+44...`, national `020 ...`, `0044...`, `011 44...`, a SIP or tel
URI, `anonymous`, `unknown`, or garbage. `phonenumbers` (Google's libphonenumber) does the numbering-plan work;
this module strips the wrappers, classifies the rest and keeps the raw value out of anything printable.

Kinds: `e164` (a valid number), `withheld` (the caller hid it), `unknown` (nothing was sent), `invalid` (something
that is not a valid subscriber number: garbage, too short, short codes such as 999/112, or numbers in ranges
libphonenumber knows are unassigned, like Ofcom's drama range 01632 960xxx).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

MAX_INPUT = 64      # longest number part (after any URI wrapper is removed) worth parsing
MAX_RAW = 256       # longest raw value looked at all (a URI with a display name and a long host fits)
WITHHELD = frozenset({"anonymous", "restricted", "private", "withheld", "unavailable", "blocked",
                      "privatenumber", "unknown caller", "anon"})
UNKNOWN = frozenset({"", "unknown", "asterisk", "none", "null", "<unknown>"})
_URI = re.compile(r"^(?:\"[^\"]*\"\s*)?<?(?:sips?|tel):([^@;>]*)", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s\-.()/]")
_TYPES = {getattr(PhoneNumberType, n): n.lower() for n in dir(PhoneNumberType) if n.isupper()}


@dataclass(frozen=True)
class CallerNumber:
    """A classified caller ID; `key` is what lookups and repeat-contact counting use."""

    kind: str
    e164: str | None = None
    region: str | None = None
    number_type: str | None = None
    raw: str = field(default="", repr=False, compare=False)

    @property
    def key(self) -> str | None:
        return self.e164 if self.kind == "e164" else None

    def __str__(self) -> str:
        return self.e164 if self.kind == "e164" and self.e164 else self.kind


@dataclass(frozen=True)
class CallerIdNormaliser:
    """Normalises caller IDs with national numbers read in `default_region` (ISO 3166, e.g. GB)."""

    default_region: str = "GB"

    def normalise(self, raw: str | None, name: str | None = None, region: str | None = None) -> CallerNumber:
        text = (raw or "").strip()
        if len(text) > MAX_RAW:
            return CallerNumber("invalid", raw=text[:MAX_INPUT])
        match = _URI.match(text)
        if match:
            text = match.group(1)
        text = text.split(";", 1)[0].strip()
        if len(text) > MAX_INPUT:
            return CallerNumber("invalid", raw=text[:MAX_INPUT])
        lowered = text.lower()
        if lowered in WITHHELD:
            return CallerNumber("withheld", raw=text)
        if lowered in UNKNOWN:
            hidden = (name or "").strip().lower() in WITHHELD
            return CallerNumber("withheld" if hidden else "unknown", raw=text)
        digits = _SEPARATORS.sub("", text)
        if not re.fullmatch(r"\+?[0-9]{3,20}", digits):
            return CallerNumber("invalid", raw=text)
        home = region or self.default_region
        try:
            parsed = phonenumbers.parse(digits, None if digits.startswith("+") else home)
        except NumberParseException:
            return CallerNumber("invalid", raw=text)
        # number_type is UNKNOWN exactly when is_valid_number is false; asking once saves two of the costly
        # region look-ups (+44 alone is shared by GB, GG, IM and JE) per call
        kind = phonenumbers.number_type(parsed)
        if kind == PhoneNumberType.UNKNOWN:
            return CallerNumber("invalid", raw=text)
        return CallerNumber("e164", phonenumbers.format_number(parsed, PhoneNumberFormat.E164),
                            phonenumbers.region_code_for_number(parsed), _TYPES.get(kind, "unknown"), raw=text)

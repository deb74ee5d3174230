"""Caller-ID normalisation (`cti.caller_id`): a table of real-world formats and hypothesis properties.

Owns the contract of `CallerIdNormaliser.normalise`: what each format Asterisk can hand over is classified as
(`e164`, `withheld`, `unknown`, `invalid`), the E.164 form of valid numbers, their region and number type, and
that the raw value never reaches anything printable. Every number the table calls valid was checked with
`phonenumbers.is_valid_number` (and `test_table_agrees_with_libphonenumber` keeps checking it).
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType

from switchboard.cti.caller_id import CallerIdNormaliser, CallerNumber

KINDS = ("e164", "withheld", "unknown", "invalid")
GB = CallerIdNormaliser("GB")
US = CallerIdNormaliser("US")


class Expected(NamedTuple):
    """Every public field of the CallerNumber a row must produce."""

    kind: str
    e164: str | None = None
    region: str | None = None
    number_type: str | None = None


def valid(e164: str, region: str, number_type: str) -> Expected:
    """What a valid number must produce."""
    return Expected("e164", e164, region, number_type)


WITHHELD = Expected("withheld")
UNKNOWN = Expected("unknown")
INVALID = Expected("invalid")
LONDON = valid("+442079460123", "GB", "fixed_line")
PARIS = valid("+33142685300", "FR", "fixed_line")
US_NJ = valid("+12015550123", "US", "fixed_line_or_mobile")   # NANP: fixed and mobile share ranges


def case(raw: str | None, expected: Expected, id: str, *, default: CallerIdNormaliser = GB,
         name: str | None = None, region: str | None = None) -> Any:
    """One table row: the normaliser (default region), the raw caller ID, its name, the region argument."""
    return pytest.param(default, raw, name, region, expected, id=id)


TABLE = [
    # GB national numbers, read in the default region
    case("020 7946 0123", LONDON, "gb-national-london"),
    case("(020) 7946-0123", LONDON, "gb-national-punctuated"),
    case(" 020\t7946\u00a00123 ", LONDON, "gb-national-odd-whitespace"),
    case("07400 100000", valid("+447400100000", "GB", "mobile"), "gb-mobile"),
    case("07911 123456", valid("+447911123456", "GG", "mobile"), "gb-plan-guernsey-mobile"),
    case("0117 496 0123", valid("+441174960123", "GB", "fixed_line"), "gb-national-bristol"),
    case("03069 990123", valid("+443069990123", "GB", "uan"), "gb-03-non-geographic"),
    # Ofcom drama ranges: libphonenumber knows they are never assigned, so they are not callers' numbers
    case("07700 900123", INVALID, "gb-drama-mobile-range"),
    case("01632 960123", INVALID, "gb-drama-fixed-range"),
    # international forms of the same number
    case("+44 20 7946 0123", LONDON, "intl-plus-spaced"),
    case("+442079460123", LONDON, "intl-e164"),
    case("0044 20 7946 0123", LONDON, "intl-00-prefix-from-gb"),
    case("+44 (0) 20 7946 0123", LONDON, "intl-with-bracketed-trunk-zero"),
    case("0044 20 7946 0123", INVALID, "intl-00-means-nothing-in-us", default=US),
    # North America
    case("+1 (201) 555-0123", US_NJ, "us-intl-punctuated"),
    case("+1 201-555-0123", US_NJ, "us-intl-dashed"),
    case("(201) 555-0123", US_NJ, "us-national-in-us", default=US),
    case("1 201 555 0123", US_NJ, "us-national-with-trunk-1", default=US),
    case("011 44 20 7946 0123", LONDON, "us-011-to-gb", default=US),
    case("011 33 1 42 68 53 00", PARIS, "us-011-to-fr", default=US),
    case("011 44 20 7946 0123", INVALID, "011-means-nothing-in-gb"),
    # France and Germany dialled from GB with the 00 prefix
    case("0033 1 42 68 53 00", PARIS, "fr-00-prefix"),
    case("+33 (0)1 42 68 53 00", PARIS, "fr-intl-with-trunk-zero"),
    case("0049 30 901820", valid("+4930901820", "DE", "fixed_line"), "de-00-prefix-berlin"),
    case("0049 1512 3456789", valid("+4915123456789", "DE", "mobile"), "de-00-prefix-mobile"),
    # national numbers read in another region than the default (region=)
    case("01 42 68 53 00", PARIS, "fr-national-region-arg", region="FR"),
    case("030 901820", valid("+4930901820", "DE", "fixed_line"), "de-national-region-arg", region="DE"),
    case("020 7946 0123", LONDON, "gb-national-region-arg-on-us", default=US, region="GB"),
    case("+1 201 555 0123", US_NJ, "region-arg-ignored-for-plus", region="FR"),
    # SIP and tel URIs
    case("sip:+442079460123@host;user=phone", LONDON, "sip-uri-e164-user-phone"),
    case("SIP:02079460123@10.0.0.1", LONDON, "sip-uri-national-uppercase-scheme"),
    case('"Name" <sip:02079460123@host>', LONDON, "sip-name-addr-national"),
    case("<sips:+442079460123@host:5061;transport=tls>", LONDON, "sips-uri-in-brackets"),
    case("tel:+44-20-7946-0123", LONDON, "tel-uri-visual-separators"),
    case("tel:+44-20-7946-0123;phone-context=example.com", LONDON, "tel-uri-with-parameter"),
    case('"Ada Lovelace" <sip:+442079460123@sbc01.trunk-provider.example.net;user=phone>', LONDON,
         "sip-name-addr-longer-than-64"),
    case('"Anonymous" <sip:anonymous@anonymous.invalid>', WITHHELD, "sip-anonymous-rfc3323"),
    # withheld
    case("anonymous", WITHHELD, "withheld-anonymous"),
    case("Anonymous", WITHHELD, "withheld-anonymous-capitalised"),
    case("Restricted", WITHHELD, "withheld-restricted"),
    case("private", WITHHELD, "withheld-private"),
    case("withheld", WITHHELD, "withheld-withheld"),
    case("unavailable", WITHHELD, "withheld-unavailable"),
    case("", WITHHELD, "withheld-by-name-empty-number", name="Anonymous"),
    case(None, WITHHELD, "withheld-by-name-no-number", name="Restricted"),
    case("020 7946 0123", LONDON, "number-beats-anonymous-name", name="Anonymous"),
    # unknown: nothing was sent
    case("", UNKNOWN, "unknown-empty"),
    case(None, UNKNOWN, "unknown-none"),
    case("   ", UNKNOWN, "unknown-blank"),
    case("unknown", UNKNOWN, "unknown-literal"),
    case("", UNKNOWN, "unknown-with-ordinary-name", name="Ada Lovelace"),
    # garbage and short codes
    case("abc", INVALID, "garbage-letters"),
    case("12", INVALID, "garbage-two-digits"),
    case("+", INVALID, "garbage-plus"),
    case("9" * 100, INVALID, "garbage-100-digits"),
    case("x" * 100, INVALID, "garbage-100-letters"),
    case("sip:" + "1" * 300 + "@host", INVALID, "garbage-huge-uri"),
    case("999", INVALID, "emergency-999"),
    case("112", INVALID, "emergency-112"),
    case("911", INVALID, "emergency-911-in-us", default=US),
    case("+44 20 7946 0123\r\nX-Evil: 1", INVALID, "header-injection"),
    case("+44 20 7946 0123 ext. 12", INVALID, "extension-suffix"),
]


@pytest.mark.parametrize("normaliser, raw, name, region, expected", TABLE)
def test_real_world_formats(normaliser: CallerIdNormaliser, raw: str | None, name: str | None,
                            region: str | None, expected: Expected) -> None:
    """Each format Asterisk can hand over gets the expected kind, E.164 form, region and number type."""
    result = normaliser.normalise(raw, name=name, region=region)
    assert Expected(result.kind, result.e164, result.region, result.number_type) == expected
    assert result.key == expected.e164
    assert str(result) == (expected.e164 or expected.kind)


@pytest.mark.parametrize("e164", sorted({p.values[4].e164 for p in TABLE if p.values[4].e164}))
def test_table_agrees_with_libphonenumber(e164: str) -> None:
    """Every number the table calls valid is valid per libphonenumber itself (no invented numbers)."""
    assert phonenumbers.is_valid_number(phonenumbers.parse(e164))


# property tests ------------------------------------------------------------------------------------------------

ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cc", "Cf", "Zs"]),
                     st.sampled_from("0123456789+ -()<>@;:\"'"))
RAW = st.one_of(st.none(), st.text(ANY_CHAR, max_size=300),
                st.from_regex(r"(\"[^\"]*\" ?<)?(sips?|tel):\+?[0-9 ()\-.]{0,30}(@[a-z0-9.]{0,20})?(;.*)?>?",
                              fullmatch=True))


@settings(max_examples=500, deadline=None)
@given(RAW, st.one_of(st.none(), st.text(ANY_CHAR, max_size=30)),
       st.sampled_from([None, "GB", "US", "FR", "DE", "JP", "XX", ""]))
def test_never_raises_on_arbitrary_text(raw: str | None, name: str | None, region: str | None) -> None:
    """Any text at all (control characters included) gives one of the four kinds, never an exception."""
    result = GB.normalise(raw, name, region)
    assert result.kind in KINDS
    assert (result.e164 is not None) == (result.kind == "e164") == (result.key is not None)
    if result.e164 is not None:
        assert result.e164.startswith("+") and result.e164[1:].isdigit()


ALL_TYPES = [getattr(PhoneNumberType, n) for n in dir(PhoneNumberType) if n.isupper()]
EXAMPLES: list[tuple[str, PhoneNumber]] = [
    (region, number)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in ALL_TYPES
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    and phonenumbers.is_valid_number(number)]


def test_example_sample_is_broad() -> None:
    """The property tests below draw from example numbers of most regions and many number types."""
    assert len({region for region, _ in EXAMPLES}) > 200
    assert len({phonenumbers.number_type(n) for _, n in EXAMPLES}) >= 8


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLES), st.sampled_from([PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164,
                                                   PhoneNumberFormat.NATIONAL]))
def test_valid_numbers_in_any_format_give_their_e164(example: tuple[str, PhoneNumber], fmt: int) -> None:
    """A valid number written internationally, in E.164, or nationally (with its region) gives its E.164 form."""
    region, number = example
    expected = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, fmt)
    result = GB.normalise(written, region=region if fmt == PhoneNumberFormat.NATIONAL else None)
    assert (result.kind, result.e164, result.key) == ("e164", expected, expected)
    assert result.region == phonenumbers.region_code_for_number(number)


SEPARATED_FORMATS = [PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.RFC3966]   # "+44 20 ..." and "tel:+44-20-..."


@st.composite
def near_examples(draw: st.DrawFn, formats: list[int] = SEPARATED_FORMATS + [PhoneNumberFormat.E164]) -> str:
    """An example number with its last digits replaced, written in one of `formats` (valid or not)."""
    _, number = draw(st.sampled_from(EXAMPLES))
    national = str(number.national_number)
    width = min(4, len(national))
    tail = draw(st.integers(0, 10 ** width - 1))
    changed = PhoneNumber(country_code=number.country_code, italian_leading_zero=number.italian_leading_zero,
                          number_of_leading_zeros=number.number_of_leading_zeros,
                          national_number=int(national[:-width] + f"{tail:0{width}d}"))
    return phonenumbers.format_number(changed, draw(st.sampled_from(formats)))


@settings(max_examples=400, deadline=None)
@given(st.one_of(near_examples(), RAW))
def test_normalisation_is_idempotent(raw: str | None) -> None:
    """Normalising an E.164 result again gives the same number, region and type."""
    first = GB.normalise(raw)
    if first.kind == "e164":
        assert first.e164 is not None
        again = GB.normalise(first.e164)
        assert (again.kind, again.e164, again.region, again.number_type) == \
            ("e164", first.e164, first.region, first.number_type)
        assert US.normalise(first.e164).e164 == first.e164   # an E.164 number does not depend on the region


@settings(max_examples=300, deadline=None)
@given(RAW, st.one_of(st.none(), st.text(ANY_CHAR, max_size=30)))
def test_raw_value_has_no_effect_on_printable_forms(raw: str | None, name: str | None) -> None:
    """repr and str are the same as for a result with no raw value at all: the raw value is never printed."""
    result = GB.normalise(raw, name)
    blank = dataclasses.replace(result, raw="")
    assert (repr(result), str(result)) == (repr(blank), str(blank))
    assert result == blank


# Written forms that cannot be a substring of any CallerNumber repr by coincidence: each holds a separator or
# a scheme that never sits next to a digit in a repr. (A caller ID sent already in E.164 is, by design, printed
# as the canonical number: that is the `e164` field, not the raw value.)
WRITTEN = st.one_of(near_examples(SEPARATED_FORMATS),
                    st.from_regex(r"\+?[0-9]{1,4}[ ()\-.][0-9 ()\-.]{2,20}[0-9]", fullmatch=True),
                    st.from_regex(r"[a-zA-Z]{3,10}[ :][0-9+]{3,15}", fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(WRITTEN)
def test_raw_value_never_appears_in_repr(raw: str) -> None:
    """A caller ID as sent (formatted, wrapped or garbage) is not in repr or str of the result (no PII in logs)."""
    result = GB.normalise(raw)
    assert isinstance(result, CallerNumber)
    assert raw not in repr(result)
    assert raw not in str(result)
    assert raw not in f"{result!r} {result}"

"""Caller ID normalisation (cti.caller_id): a table of real-world formats, and properties over arbitrary input."""
from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from cti.caller_id import CallerIdNormaliser, CallerNumber

GB = CallerIdNormaliser("GB")
US = CallerIdNormaliser("US")


@pytest.mark.parametrize("raw, kind, e164", [
    ("+442079460123", "e164", "+442079460123"),                  # E.164 as trunks send it
    ("+44 20 7946 0123", "e164", "+442079460123"),               # international, spaced
    ("020 7946 0123", "e164", "+442079460123"),                  # national, default region GB
    ("(020) 7946-0123", "e164", "+442079460123"),                # national with punctuation
    ("00442079460123", "e164", "+442079460123"),                 # 00 international prefix
    ("07911 123456", "e164", "+447911123456"),                   # GB mobile
    ("0033 1 42 68 53 00", "e164", "+33142685300"),              # France via 00
    ("+49 30 901820", "e164", "+4930901820"),                    # Germany, short subscriber number
    ("sip:+442079460123@trunk.example;user=phone", "e164", "+442079460123"),   # SIP URI with parameters
    ('"Ada" <sip:02079460123@10.0.0.1>', "e164", "+442079460123"),             # display name + URI
    ("tel:+44-20-7946-0123", "e164", "+442079460123"),           # tel URI
    ("anonymous", "withheld", None),
    ("Anonymous", "withheld", None),
    ("Restricted", "withheld", None),
    ("private", "withheld", None),
    ("withheld", "withheld", None),
    ("unavailable", "withheld", None),
    ("sip:anonymous@anonymous.invalid", "withheld", None),
    ("", "unknown", None),
    (None, "unknown", None),
    ("unknown", "unknown", None),
    ("abc", "invalid", None),
    ("12", "invalid", None),
    ("+", "invalid", None),
    ("9" * 100, "invalid", None),                                # over-long input
    ("999", "invalid", None),                                    # emergency short code: not a caller
    ("112", "invalid", None),
    ("01632 960123", "invalid", None),                           # Ofcom drama range: not assigned
    ("+44 20 7946 0123\r\nX-Evil: 1", "invalid", None),          # header injection attempt
])
def test_real_world_formats(raw: str | None, kind: str, e164: str | None) -> None:
    """Each format Asterisk can hand over is classified, and valid numbers come out in E.164."""
    result = GB.normalise(raw)
    assert (result.kind, result.e164) == (kind, e164)
    assert result.key == e164


def test_withheld_by_display_name_and_regions() -> None:
    """An empty number with a withheld name is withheld; national numbers follow the region in force."""
    assert GB.normalise("", name="Anonymous").kind == "withheld"
    assert US.normalise("(201) 555-0123").e164 == "+12015550123"
    assert US.normalise("011 44 20 7946 0123").e164 == "+442079460123"   # US international prefix
    assert GB.normalise("01 42 68 53 00", region="FR").e164 == "+33142685300"
    found = GB.normalise("+442079460123")
    assert (found.region, found.number_type) == ("GB", "fixed_line")
    assert GB.normalise("07911123456").number_type == "mobile"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=80)), st.one_of(st.none(), st.text(max_size=20)))
def test_never_raises_on_arbitrary_input(raw: str | None, name: str | None) -> None:
    """Any text at all (control characters included) gives one of the four kinds, never an exception."""
    result = GB.normalise(raw, name)
    assert result.kind in ("e164", "withheld", "unknown", "invalid")
    assert (result.e164 is not None) == (result.kind == "e164")
    if result.e164 is not None:
        assert result.e164.startswith("+") and result.e164[1:].isdigit()


EXAMPLES = [(region, kind, number)
            for region in ("GB", "US", "FR", "DE", "IE", "AU", "IN", "BR", "JP", "ZA")
            for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE)
            if (number := phonenumbers.example_number_for_type(region, kind)) is not None]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXAMPLES), st.sampled_from([PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164,
                                                   PhoneNumberFormat.NATIONAL]))
def test_valid_numbers_in_any_format_normalise_to_their_e164(example: tuple, fmt: int) -> None:
    """A valid number written internationally, in E.164 or nationally (with its region) gives its E.164 form."""
    region, _, number = example
    expected = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, fmt)
    result = GB.normalise(written, region=region)
    assert result.e164 == expected
    assert GB.normalise(result.e164).e164 == expected  # idempotent


@given(st.text(alphabet="0123456789 +-()", min_size=1, max_size=25))
def test_raw_value_stays_out_of_repr(raw: str) -> None:
    """What the caller sent is never in the printable form of the result (no caller PII in logs)."""
    result = GB.normalise("x" + raw)
    assert ("x" + raw) not in repr(result)
    assert isinstance(result, CallerNumber)

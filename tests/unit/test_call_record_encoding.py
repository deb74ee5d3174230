"""The call record's hash fields as cti_store writes them: the list fields are exactly json.dumps's text (other
readers parse them), whatever the node names and intents hold."""
from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import _encode_call, _json_list


@given(st.lists(st.text(), max_size=8).map(tuple))
def test_list_fields_are_json_dumps_text(items: tuple[str, ...]) -> None:
    """Any texts (quotes, backslashes, control characters, non-ASCII, lone surrogates): the same as json.dumps."""
    assert _json_list(items) == json.dumps(list(items), ensure_ascii=False)


def test_the_record_is_written_as_field_value_pairs() -> None:
    """Every field of the record, in pairs, None as "", started_at exact, path and intents as JSON lists."""
    ctx = CallContext(uniqueid="1.2", flow="main", started_at=1700000000.25, customer_id=None,
                      path=("main.menu", "main.billing"), intents=("billing",), queue="billing")
    fields = _encode_call(ctx)
    pairs = dict(zip(fields[::2], fields[1::2]))
    assert len(fields) == 2 * len(pairs) == 36
    assert pairs["started_at"] == "1700000000.25" and pairs["customer_id"] == "" and pairs["agent"] == ""
    assert json.loads(pairs["path"]) == ["main.menu", "main.billing"] and pairs["intents"] == '["billing"]'

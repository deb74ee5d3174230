"""The call journal: the call script's `CallSnapshot` kept as cti's typed call-context record.

The call script (ivr) and the context store (cti) each keep their own words; where they meet, the translation is
written here, in the composition root, once.
"""
from __future__ import annotations

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import CtiStore
from switchboard.ivr.call_ports import CallSnapshot


class ContextJournal:
    """The call journal port, kept in cti's store (one round trip per write; the whole record each time)."""

    def __init__(self, store: CtiStore) -> None:
        self._store = store

    async def write(self, call: CallSnapshot) -> None:
        await self._store.save_call(CallContext(
            uniqueid=call.uniqueid, state="ended" if call.state == "ended" else "ivr", flow=call.flow,
            dialplan_version=call.dialplan_version, caller=call.caller, dnid=call.dnid, started_at=call.started_at,
            recognition=call.recognition, customer_id=call.customer_id, segment=call.segment,
            confidence=call.confidence, last_node=call.last_node, path=call.path, intents=call.intents,
            language=call.language, queue=call.queue, outcome=call.outcome, destination=call.destination))

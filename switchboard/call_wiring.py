"""Adapters between the call script's ports (`ivr.call_ports`) and the cti objects that serve them.

The ports are ivr's words; cti keeps its own. Where the two differ in shape, the translation is written here, in
the composition root, once: the call journal (a `CallSnapshot` into cti's call-context record) and the contact
ledger (a contact into cti's repeat-contact bookkeeping).
"""
from __future__ import annotations

from switchboard.cti.call_context_store import CallContextStore
from switchboard.cti.repeat_contacts import FirstContact, RepeatContacts
from switchboard.ivr.call_ports import CallSnapshot


class ContextJournal:
    """The call journal port, kept in cti's call-context store."""

    def __init__(self, store: CallContextStore) -> None:
        self._store = store

    async def write(self, call: CallSnapshot) -> None:
        await self._store.record(call.uniqueid, {
            "state": call.state, "flow": call.flow, "dialplan_version": call.dialplan_version,
            "caller": call.caller, "dnid": call.dnid, "started_at": f"{call.started_at:.3f}",
            "recognition": call.recognition, "customer_id": call.customer_id or "", "segment": call.segment,
            "confidence": call.confidence, "language": call.language, "last_node": call.last_node,
            "path": " > ".join(call.path), "intents": ",".join(call.intents), "queue": call.queue or "",
            "outcome": call.outcome or "", "destination": call.destination or ""})


class RepeatContactLedger:
    """The contact ledger port, kept by cti's repeat-contact bookkeeping."""

    def __init__(self, repeats: RepeatContacts) -> None:
        self._repeats = repeats

    async def record_contact(self, *, customer_id: str | None, number: str | None, uniqueid: str, started: float,
                             queue: str, segment: str, flow: str, intent: str) -> FirstContact | None:
        key = RepeatContacts.caller_key(customer_id, number)
        if key is None:
            return None
        return await self._repeats.record(key, uniqueid, started, queue=queue, segment=segment, flow=flow,
                                          intent=intent)

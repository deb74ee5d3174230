"""The call's ports kept by cti: the call script's `CallSnapshot` as cti's typed call-context record, its start and
end as the CTI store's one-round-trip operations, and the route desk that carries a call's before-connect record in the
round trip of its offer.

The call script (ivr) and the context store (cti) each keep their own words; where they meet, the translation is
written here, in the composition root, once.
"""
from __future__ import annotations

from switchboard.cti.call_context import CallContext
from switchboard.cti.cti_store import CtiStore, HistoryEntry
from switchboard.cti.recognition import CallerRecognizer, Recognition
from switchboard.cti.repeat_contacts import FirstContact, RepeatContacts
from switchboard.ivr.call_ports import CallEnd, CallSnapshot
from switchboard.router.call_router import CallRouter, Ticket

MAX_HANDED_OVER = 10_000  # before-connect records waiting for their route request (oldest dropped beyond)


def call_context(call: CallSnapshot) -> CallContext:
    """The call script's snapshot as cti's call-context record."""
    return CallContext(
        uniqueid=call.uniqueid, state="ended" if call.state == "ended" else "ivr", flow=call.flow,
        dialplan_version=call.dialplan_version, caller=call.caller, dnid=call.dnid, started_at=call.started_at,
        recognition=call.recognition, customer_id=call.customer_id, segment=call.segment,
        confidence=call.confidence, last_node=call.last_node, path=call.path, intents=call.intents,
        language=call.language, queue=call.queue, outcome=call.outcome, destination=call.destination)


class CallerStart:
    """The caller directory port: recognition (its budget, the CRM) with the opening record in the same trip."""

    def __init__(self, recognizer: CallerRecognizer) -> None:
        self._recognizer = recognizer

    async def begin_call(self, call: CallSnapshot, caller_id: str | None, caller_name: str | None) -> Recognition:
        return await self._recognizer.recognise(caller_id, caller_name, opening=call_context(call))


class ContextJournal:
    """The call journal port, kept in cti's store: one round trip per write (the whole record each time) and one
    for a call's end (record, self-service history and FCR contact together)."""

    def __init__(self, store: CtiStore, repeats: RepeatContacts | None = None) -> None:
        self._store = store
        self._repeats = repeats

    async def write(self, call: CallSnapshot) -> None:
        await self._store.save_call(call_context(call))

    async def finish(self, call: CallSnapshot, end: CallEnd) -> FirstContact | None:
        history = None
        if end.self_service is not None and call.customer_id:
            history = HistoryEntry(call.customer_id, end.self_service, "self_service")
        contact = None
        if end.contact is not None and self._repeats is not None:
            c = end.contact
            contact = self._repeats.entry(customer_id=c.customer_id, number=c.number, uniqueid=call.uniqueid,
                                          started=call.started_at, queue=c.queue, segment=c.segment, flow=c.flow,
                                          intent=c.intent)
        found = await self._store.close_call(call_context(call), history, contact)
        return FirstContact(*found) if found is not None else None


class RecordedDesk:
    """The route desk port (the router) that is also the call script's `ConnectRecord`: a route node's record
    before ringing is handed over (no I/O) and sent by the router in the same pipeline as the call's offer, ahead
    of it, so it is in Redis before any agent is reserved for the call, hence before any screen pop reads it."""

    def __init__(self, router: CallRouter, store: CtiStore) -> None:
        self._router = router
        self._store = store
        self._handed: dict[str, CallContext] = {}

    def hand_over(self, call: CallSnapshot) -> None:
        self._handed[call.uniqueid] = call_context(call)
        while len(self._handed) > MAX_HANDED_OVER:
            self._handed.pop(next(iter(self._handed)))

    async def request(self, uid: str, *, skills: dict[str, int], language: str, segment: str, customer: str,
                      priority: float, relaxation: str | None, queue: str) -> Ticket:
        record = self._handed.pop(uid, None)
        along = [self._store.save_call_step(record)] if record is not None else []
        return await self._router.request(uid, skills=skills, language=language, segment=segment,
                                          customer=customer, priority=priority, relaxation=relaxation, queue=queue,
                                          along=along)

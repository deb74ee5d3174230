"""The ports of a call: what the call script and the flow engine need from the rest of Switchboard.

ivr defines these Protocols; cti (caller directory, customer directory, contact ledger), router (route desk) and
metrics (observers) implement them structurally, without importing ivr, and the composition root wires the
implementations in. `CallSnapshot` is what the call script hands the call journal: the call's context as ivr
knows it (the journal — cti's context store, behind an adapter in the composition root — decides how it is kept).
Nothing here does I/O.

The ports are cut so that a call costs few round trips to the stores behind them: the caller directory recognises
the caller and records the call's opening snapshot together (`begin_call`), the journal records progress before
an agent rings (`write`; or, when the route desk will offer the call, the snapshot is handed over to travel with
the offer: `ConnectRecord`) and takes everything a call leaves at its end in one go (`finish`: the final snapshot, a
known customer's self-service entry, the first-contact-resolution contact).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Mapping, Protocol


# --- caller recognition and customers (implemented by cti) --------------------------------------------------
class CustomerLike(Protocol):
    """A customer record as the IVR sees it."""

    @property
    def id(self) -> str: ...

    @property
    def segment(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def account(self) -> str: ...


class RecognitionLike(Protocol):
    """The outcome of looking up the caller ID: who it is, how sure, which segment."""

    @property
    def result(self) -> str: ...

    @property
    def number(self) -> str | None: ...

    @property
    def segment(self) -> str: ...

    @property
    def confidence(self) -> str: ...

    @property
    def customer(self) -> CustomerLike | None: ...


class CallerDirectory(Protocol):
    """Caller ID (and name) → customer, segment and confidence, within a time budget, with the call's opening
    snapshot recorded on the way (one round trip); never raises."""

    async def begin_call(self, call: CallSnapshot, caller_id: str | None,
                         caller_name: str | None) -> RecognitionLike: ...


class CustomerDirectory(Protocol):
    """What identify-and-verify needs."""

    async def find_by_account(self, account: str) -> CustomerLike | None: ...

    async def verify(self, customer_id: str, secret: str) -> bool: ...


class EarlierContactLike(Protocol):
    """The earlier contact a repeat was counted against (labels from closed sets only)."""

    @property
    def queue(self) -> str: ...

    @property
    def segment(self) -> str: ...

    @property
    def flow(self) -> str: ...


# --- the call journal (cti's call-context store, through the composition root) ------------------------------
@dataclass(frozen=True)
class CallSnapshot:
    """The call's context at one moment: written when the IVR starts, before an agent rings, and at the end."""

    uniqueid: str
    state: str                     # "ivr" while the call is in Switchboard's hands, "ended" after
    flow: str
    dialplan_version: str
    caller: str
    dnid: str
    started_at: float
    recognition: str               # the caller-ID lookup's result ("off": no directory wired; "pending": not yet)
    customer_id: str | None
    segment: str
    confidence: str                # none, ani (caller-ID match), verified (identify node)
    language: str
    last_node: str
    path: tuple[str, ...]
    intents: tuple[str, ...]
    queue: str | None
    outcome: str | None
    destination: str | None


@dataclass(frozen=True)
class ContactFacts:
    """A finished call as a first-contact-resolution contact: who called (customer id, else E.164) and labels."""

    customer_id: str | None
    number: str | None
    queue: str
    segment: str
    flow: str
    intent: str


@dataclass(frozen=True)
class CallEnd:
    """What a finished call leaves besides its final snapshot."""

    self_service: Mapping[str, object] | None  # a known customer's self-service history entry (None: nothing to add)
    contact: ContactFacts | None               # the FCR contact (None: nobody to match, or FCR not counted)


class CallJournal(Protocol):
    """Keeps each call's context where screen pops and reports read it, and what a call leaves at its end."""

    async def write(self, call: CallSnapshot) -> None: ...

    async def finish(self, call: CallSnapshot, end: CallEnd) -> EarlierContactLike | None:
        """The final snapshot, the self-service entry and the contact, together; returns the earlier contact this
        one repeats (None when it repeats none, or no contact was given). Raises when the store fails."""
        ...


class ConnectRecord(Protocol):
    """Takes a call's before-connect snapshot to the route desk, which writes it in the round trip of the call's
    offer (before any agent can ring, so the screen pop reads it), instead of a trip of its own."""

    def hand_over(self, call: CallSnapshot) -> None: ...


# --- routing (implemented by router) -------------------------------------------------------------------------
class OfferLike(Protocol):
    """An agent reserved for the call."""

    @property
    def agent(self) -> str: ...

    @property
    def endpoint(self) -> str: ...


class WaitEstimateLike(Protocol):
    """A waiting call's place in line (1 = next) and its estimated wait in seconds (None: unknown)."""

    @property
    def position(self) -> int: ...

    @property
    def seconds(self) -> float | None: ...


class RouteTicket(Protocol):
    """A call's place in line."""

    @property
    def ring_timeout(self) -> float: ...

    @property
    def wrap_up(self) -> float: ...

    @property
    def ready(self) -> bool: ...

    async def wait(self) -> OfferLike | None: ...

    async def hold(self, agent: str) -> None: ...

    async def not_answered(self, agent: str) -> None: ...

    async def finished(self, agent: str) -> None: ...

    def leave(self) -> Awaitable[None]:
        """Out of routing (hung up, overflowed or connected); may be an awaitable already done."""
        ...

    async def estimate(self) -> WaitEstimateLike | None:
        """The call's place and estimated wait while it waits in line; None once it is not waiting."""
        ...

    async def unreachable(self) -> str:
        """Returns a reason once the router gave the call up (unreachable past its deadline, or its state lost)."""
        ...


class RouteDesk(Protocol):
    """Puts a call in line for agents with the skills it needs."""

    async def request(self, uid: str, *, skills: dict[str, int], language: str, segment: str, customer: str,
                      priority: float, relaxation: str | None, queue: str) -> RouteTicket: ...


# --- observers (implemented by metrics) ----------------------------------------------------------------------
class FlowObserver(Protocol):
    """What happens in the IVR: node visits and inputs, where callers hang up, how calls end."""

    def on_event(self, event: str, where: str) -> None: ...

    def on_abandoned(self, where: str) -> None: ...

    def on_finished(self, flow: str, outcome: str) -> None: ...


class QueueObserver(Protocol):
    """What happens in line: offered, answered (with wait), abandoned (with wait), handled, transferred."""

    def offered(self, queue: str, segment: str) -> None: ...

    def answered(self, queue: str, segment: str, wait_seconds: float) -> None: ...

    def abandoned(self, queue: str, segment: str, wait_seconds: float) -> None: ...

    def handled(self, queue: str, segment: str, talk_seconds: float, wrap_up_seconds: float = 0.0) -> None: ...

    def transferred(self, queue: str) -> None: ...

    def estimated(self, queue: str, seconds: float | None) -> None:
        """The wait estimate a caller got on entering the line (None: unknown)."""
        ...

    def estimate_error(self, queue: str, error_seconds: float) -> None:
        """An answered caller's actual wait minus the estimate at entry (negative: answered sooner)."""
        ...


class ResolutionObserver(Protocol):
    """First-contact resolution and satisfaction: contacts, repeats and survey answers."""

    def contact(self, queue: str, segment: str, flow: str) -> None: ...

    def repeat(self, queue: str, segment: str, flow: str) -> None: ...

    def survey(self, flow: str, question: str, answer: str) -> None: ...


class QuietFlow:
    """A FlowObserver that observes nothing (simulator, tests)."""

    def on_event(self, event: str, where: str) -> None:
        """Ignores a node event."""

    def on_abandoned(self, where: str) -> None:
        """Ignores an IVR hang-up."""

    def on_finished(self, flow: str, outcome: str) -> None:
        """Ignores a call's end."""


class QuietQueue:
    """A QueueObserver that observes nothing (simulator, tests)."""

    def offered(self, queue: str, segment: str) -> None:
        """Ignores an offer."""

    def answered(self, queue: str, segment: str, wait_seconds: float) -> None:
        """Ignores an answer."""

    def abandoned(self, queue: str, segment: str, wait_seconds: float) -> None:
        """Ignores an abandon."""

    def handled(self, queue: str, segment: str, talk_seconds: float, wrap_up_seconds: float = 0.0) -> None:
        """Ignores a handled call."""

    def transferred(self, queue: str) -> None:
        """Ignores a transfer."""

    def estimated(self, queue: str, seconds: float | None) -> None:
        """Ignores a wait estimate."""

    def estimate_error(self, queue: str, error_seconds: float) -> None:
        """Ignores an estimate's error."""


class QuietResolution:
    """A ResolutionObserver that observes nothing (simulator, tests)."""

    def contact(self, queue: str, segment: str, flow: str) -> None:
        """Ignores a contact."""

    def repeat(self, queue: str, segment: str, flow: str) -> None:
        """Ignores a repeat."""

    def survey(self, flow: str, question: str, answer: str) -> None:
        """Ignores a survey answer."""

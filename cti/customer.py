"""A customer as the rest of the code sees it, what makes one valid, what an import writes, how secrets are hashed.

`check_customer` is the one rule for customer fields from outside (an import row, a CRM answer): a value that reaches
a channel variable (language, account) must be safe there, whichever source it came from.

No I/O here: the customer directory in Redis is kept by `cti.cti_store`, which reads and writes these types.

Verification secrets are short digit strings: no amount of key stretching protects 10^6 possibilities from an
offline guesser, so the hash is an HMAC-SHA256 keyed with a pepper that lives outside Redis (a file or the
environment), over a per-customer salt and the secret. Stealing Redis alone reveals nothing; online guessing is
limited by the verify node's attempts.
"""
from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

LIST_FIELDS = ("open_cases", "recent_contacts", "self_service")
MAX_RECENT = 20
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LANG = re.compile(r"^[a-z]{2}(_[A-Z]{2})?$")


@dataclass(frozen=True)
class Customer:
    """One customer as the rest of the code sees it (no secret material)."""

    id: str
    name: str
    segment: str
    language: str = ""
    account: str = ""
    phones: tuple[str, ...] = ()
    open_cases: tuple[Any, ...] = ()
    recent_contacts: tuple[Any, ...] = ()
    self_service: tuple[Any, ...] = ()

    def summary(self) -> dict[str, Any]:
        """What a screen pop shows about the customer."""
        return {"id": self.id, "name": self.name, "segment": self.segment, "language": self.language,
                "account": self.account, "open_cases": list(self.open_cases),
                "recent_contacts": list(self.recent_contacts)[-5:]}


def check_customer(values: Mapping[str, Any], segments: frozenset[str], phones: tuple[str, ...]) -> Customer | str:
    """The customer described by `values` (id, name, segment, language?, account?, open_cases?) with `phones`
    (already normalised), or the reason it is refused (no personal data in it)."""
    cid = str(values.get("id") or "").strip()
    if not _ID.match(cid):
        return "id must be 1-64 letters, digits, '.', '_' or '-'"
    segment = str(values.get("segment") or "").strip()
    if segment not in segments:
        return f"segment {segment[:40]!r} is not one of {', '.join(sorted(segments))} (cti.segments)"
    language = str(values.get("language") or "").strip()
    if language and not _LANG.match(language):
        return "language must be a code such as en or fr_CA"
    account = str(values.get("account") or "").strip()
    if account and not (account.isascii() and account.isdigit()):
        return "account must be digits (callers key it on the phone)"
    cases: object = values.get("open_cases") or []
    if isinstance(cases, str):
        try:
            cases = json.loads(cases) if cases.strip() else []
        except json.JSONDecodeError:
            return "open_cases must be a JSON list"
    if not isinstance(cases, list):
        return "open_cases must be a list"
    name = str(values.get("name") or "").strip()
    if any(c in name for c in "\r\n\0"):
        return "name must be one line"
    return Customer(id=cid, name=name, segment=segment, language=language, account=account,
                    phones=tuple(dict.fromkeys(phones)), open_cases=tuple(cases))


@dataclass(frozen=True)
class CustomerRecord:
    """A customer to write: the customer plus the hashed secret (or none)."""

    customer: Customer
    secret_hash: str | None = None


def hash_secret(secret: str, pepper: bytes, salt: bytes | None = None) -> str:
    """`v1$<salt hex>$<HMAC-SHA256(pepper, salt + secret) hex>`; a fresh random salt unless one is given."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    mac = hmac.new(pepper, salt + secret.encode(), "sha256").hexdigest()
    return f"v1${salt.hex()}${mac}"


def check_secret(secret: str, stored: str, pepper: bytes) -> bool:
    """True when `secret` hashes to `stored` under this pepper (constant-time comparison)."""
    try:
        version, salt_hex, _ = stored.split("$")
    except ValueError:
        return False
    if version != "v1":
        return False
    return hmac.compare_digest(hash_secret(secret, pepper, bytes.fromhex(salt_hex)), stored)


def chunks(items: Iterable[CustomerRecord], size: int) -> Iterable[list[CustomerRecord]]:
    """The records in lists of at most `size` (one pipelined write each)."""
    batch: list[CustomerRecord] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch

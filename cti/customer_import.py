"""Customer import and export: CSV or JSON files, every row validated, good rows written, bad rows reported.

Each bad row is reported with its file, line (CSV line or JSON array index) and the reason, and none of it is
written; the good rows are written in batches, one transaction each, so every customer lands whole. Reports never
contain the row's personal data, only where it is and what is wrong with it.

Columns / keys: id, name, phones (E.164 or national numbers; `;` or `|` between several), segment, language,
account, secret (digits; hashed on import, never stored), open_cases (JSON list, optional).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Protocol, Sequence

from switchboard.cti.customer import Customer, CustomerRecord, check_customer, chunks, hash_secret

FIELDS = ("id", "name", "phones", "segment", "language", "account", "secret", "open_cases")
REQUIRED = ("id", "name", "phones", "segment")
BATCH = 1000


class CustomerDirectory(Protocol):
    """Where customers are written and read back for export (cti.cti_store.CtiStore)."""

    async def write(self, records: Sequence[CustomerRecord]) -> None: ...

    def scan(self, batch: int = 1000) -> AsyncIterator[tuple[Customer, str | None]]: ...


@dataclass(frozen=True)
class RowProblem:
    """Where a bad row is and why (no personal data)."""

    place: str
    reason: str

    def __str__(self) -> str:
        return f"{self.place}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did (or, dry run, would do): rows imported, rows refused, phones shared by customers."""

    imported: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    shared_phones: list[RowProblem] = field(default_factory=list)  # imported, but a screen pop will be ambiguous

    def reasons(self) -> dict[str, int]:
        """Refused rows counted by reason (row-specific parts such as the earlier row's place left out)."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            reason = problem.reason.split(" the row at ")[0]
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))


@dataclass(frozen=True)
class RowRules:
    """What a valid row is: the closed list of segments, how phones normalise, the pepper for secrets."""

    segments: frozenset[str]
    normalise: Callable[[str], str | None]
    pepper: bytes


FORMATS = (".csv", ".json")
SPREADSHEETS = (".xlsx", ".xls", ".ods")  # refused with the way to a CSV: what an admin most often has at hand


def check_format(path: Path) -> None:
    """Raises ValueError unless the file's suffix is a format this module reads and writes (.csv, .json)."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: {path.suffix or 'no suffix'} is not a customer file format; use "
                         f"{' or '.join(FORMATS)}")


def check_import_format(path: Path) -> None:
    """Like `check_format`, and a spreadsheet is refused with how to turn it into a file that imports."""
    if path.suffix.lower() in SPREADSHEETS:
        raise ValueError(f"{path}: a {path.suffix} spreadsheet cannot be imported; save it as \"CSV UTF-8\" from "
                         "the spreadsheet program and import that .csv (nothing was imported)")
    check_format(path)


def read_rows(path: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(place, row) for every row of a .csv or .json file.

    Raises ValueError naming the file and line when the file cannot be read as a whole (another format, bytes that
    are not UTF-8, unknown columns, JSON that is not a list): nothing of it is imported."""
    check_import_format(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8 "
                         "and import again (nothing was imported)") from exc
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        rows = data.get("customers") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of customers (or {{\"customers\": [...]}})")
        for index, row in enumerate(rows):
            yield f"{path}:[{index}]", row if isinstance(row, dict) else {}
        return
    reader = csv.DictReader(io.StringIO(text))
    unknown = [c for c in reader.fieldnames or () if c not in FIELDS]
    if unknown:
        raise ValueError(f"{path}:1: unknown column(s) {', '.join(unknown)}; columns are {', '.join(FIELDS)}")
    for row in reader:
        yield f"{path}:{reader.line_num}", row


def check_row(row: Mapping[str, Any], rules: RowRules) -> CustomerRecord | str:
    """A record to write, or the reason the row is refused."""
    values = {k: ("" if v is None else v) for k, v in row.items()}
    missing = [f for f in REQUIRED if not str(values.get(f, "")).strip()]
    if missing:
        return f"missing {', '.join(missing)}"
    unknown = [k for k in values if k not in FIELDS]
    if unknown:
        return f"unknown field(s) {', '.join(sorted(unknown))}"
    customer = check_customer(values, rules.segments, ())  # the rules a CRM answer follows too
    if isinstance(customer, str):
        return customer
    raw_phones = values["phones"] if isinstance(values["phones"], list) else re.split(r"[;|]", str(values["phones"]))
    phones = []
    for position, raw in enumerate(raw_phones, 1):
        e164 = rules.normalise(str(raw).strip())
        if e164 is None:
            return f"phone {position} is not a valid number"
        phones.append(e164)
    secret = str(values.get("secret", "")).strip()
    if secret and not (secret.isdigit() and 4 <= len(secret) <= 12):
        return "secret must be 4-12 digits"
    if secret and not rules.pepper:
        return "secret given but no pepper configured (cti.pepper_file or SWITCHBOARD_CTI_PEPPER)"
    customer = replace(customer, phones=tuple(dict.fromkeys(phones)))
    return CustomerRecord(customer, hash_secret(secret, rules.pepper) if secret else None)


async def import_file(path: Path, store: CustomerDirectory, rules: RowRules, dry_run: bool = False,
                      progress: Callable[[int], None] = lambda imported: None) -> ImportReport:
    """Validates every row, writes the good ones (a batch per round trip, each customer atomic), reports the bad
    ones and phones several customers share; `dry_run` writes nothing; `progress` hears the count after each
    batch."""
    report = ImportReport()
    seen: dict[str, str] = {}
    phone_owner: dict[str, str] = {}
    good: list[CustomerRecord] = []
    for place, row in read_rows(path):
        checked = check_row(row, rules)
        if isinstance(checked, str):
            report.problems.append(RowProblem(place, checked))
            continue
        if checked.customer.id in seen:
            report.problems.append(RowProblem(place, f"id repeats the row at {seen[checked.customer.id]}"))
            continue
        seen[checked.customer.id] = place
        good.append(checked)
        for position, phone in enumerate(checked.customer.phones, 1):
            owner = phone_owner.setdefault(phone, checked.customer.id)
            if owner != checked.customer.id:
                report.shared_phones.append(RowProblem(place, f"phone {position} is also customer {owner}'s "
                                                              f"(row at {seen[owner]})"))
    if dry_run:
        report.imported = len(good)
        return report
    for batch in chunks(good, BATCH):
        await store.write(batch)
        report.imported += len(batch)
        progress(report.imported)
    return report


async def export_file(path: Path, store: CustomerDirectory) -> int:
    """Writes every customer to .json or .csv (secrets stay hashed and are not exported); ValueError for any
    other suffix, before reading anything."""
    check_format(path)
    customers = [c async for c, _ in store.scan()]
    customers.sort(key=lambda c: c.id)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"customers": [
            {"id": c.id, "name": c.name, "phones": list(c.phones), "segment": c.segment, "language": c.language,
             "account": c.account, "open_cases": list(c.open_cases)} for c in customers]}, indent=1))
        return len(customers)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=[f for f in FIELDS if f != "secret"])
        writer.writeheader()
        for c in customers:
            writer.writerow({"id": c.id, "name": c.name, "phones": ";".join(c.phones), "segment": c.segment,
                             "language": c.language, "account": c.account,
                             "open_cases": json.dumps(list(c.open_cases))})
    return len(customers)

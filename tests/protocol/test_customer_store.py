"""The CTI store's customer directory and its import/export against a real redis-server on a free loopback port."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest
from redis.asyncio import Redis

from switchboard.cti.customer_import import RowRules, export_file, import_file
from switchboard.cti.cti_store import CtiStore, StoreUnavailable, customer_key
from switchboard.cti.customer import Customer, CustomerRecord, hash_secret
from switchboard.cli import main as cli
from tests.e2e.sandbox import RedisServer, free_port

PEPPER = b"test-pepper-not-a-secret"
SEGMENTS = frozenset({"vip", "gold", "standard", "at-risk"})


def _normalise(raw: str) -> str | None:
    """A stand-in normaliser: digits with a leading + are E.164, anything else is refused."""
    return raw if raw.startswith("+") and raw[1:].isdigit() and 8 <= len(raw) <= 16 else None


RULES = RowRules(segments=SEGMENTS, normalise=_normalise, pepper=PEPPER)


@pytest.fixture
async def store(redis_server: RedisServer, redis: Redis) -> AsyncIterator[CtiStore]:
    s = CtiStore.from_url(redis_server.url, 1.0, PEPPER)  # `redis` has flushed the database
    yield s
    await s.close()


def _record(cid: str, phones: tuple[str, ...], account: str = "", secret: str | None = None) -> CustomerRecord:
    customer = Customer(id=cid, name=f"Customer {cid}", segment="gold", phones=phones, account=account)
    return CustomerRecord(customer, hash_secret(secret, PEPPER) if secret else None)


async def test_lookup_by_phone_account_and_ambiguity(store: CtiStore) -> None:
    """A number maps to its customer; a number shared by two customers returns both (ambiguous)."""
    await store.write([_record("c1", ("+442079460001",), account="1001"),
                       _record("c2", ("+442079460002", "+442079460009")),
                       _record("c3", ("+442079460009",))])
    [one] = await store.find_by_phone("+442079460001")
    assert one.id == "c1" and one.segment == "gold"
    assert {c.id for c in await store.find_by_phone("+442079460009")} == {"c2", "c3"}
    assert await store.find_by_phone("+442079460404") == []
    found = await store.find_by_account("1001")
    assert found is not None and found.id == "c1"


async def test_rewrite_removes_stale_indexes(store: CtiStore) -> None:
    """Re-writing a customer with a new number and account drops the old index entries."""
    await store.write([_record("c1", ("+442079460001",), account="1001")])
    await store.write([_record("c1", ("+442079460005",), account="2002")])
    assert await store.find_by_phone("+442079460001") == []
    assert await store.find_by_account("1001") is None
    assert [c.id for c in await store.find_by_phone("+442079460005")] == ["c1"]


async def test_reimport_keeps_history_and_another_customers_account(store: CtiStore) -> None:
    """A re-import keeps the contact history it does not carry, and never drops an account index now owned by
    another customer."""
    await store.write([_record("c1", ("+442079460001",), account="1001")])
    await store.add_contact("c1", {"at": 1, "flow": "main"}, "self_service")
    await store.write([_record("c2", ("+442079460002",), account="1001")])  # the account moved to c2
    await store.write([_record("c1", ("+442079460001",), account="3003")])  # c1 re-imported with a new one
    found = await store.get("c1")
    assert found is not None and len(found.self_service) == 1
    moved = await store.find_by_account("1001")
    assert moved is not None and moved.id == "c2"


async def test_secret_is_stored_hashed_and_verifies(store: CtiStore, redis_server: RedisServer, redis: Redis) -> None:
    """Only a salted, peppered hash is stored; the right secret verifies, a wrong one does not."""
    await store.write([_record("c1", ("+442079460001",), secret="4321")])
    stored = redis_server.command("hget", "sb:{cust}:customer:c1", "secret").strip()
    assert stored.startswith("v1$") and "4321" not in stored
    assert await store.verify("c1", "4321")
    assert not await store.verify("c1", "1234")
    assert customer_key("c1") == "sb:{cust}:customer:c1"
    other_pepper = CtiStore(redis, b"another-pepper")
    assert not await other_pepper.verify("c1", "4321")


async def test_recent_contacts_are_appended_and_capped(store: CtiStore) -> None:
    """Contacts append in order and only the newest 20 are kept."""
    await store.write([_record("c1", ("+442079460001",))])
    for n in range(25):
        await store.add_contact("c1", {"n": n})
    customer = await store.get("c1")
    assert customer is not None
    assert [c["n"] for c in customer.recent_contacts] == list(range(5, 25))


async def test_import_reports_bad_rows_and_writes_good_ones(store: CtiStore, tmp_path: Path) -> None:
    """Bad rows are reported with their line and reason (no personal data); good rows are imported whole."""
    path = tmp_path / "customers.csv"
    path.write_text("id,name,phones,segment,language,account,secret\n"
                    "c1,Ada Lovelace,+442079460001;+447700900001,vip,en,1001,4321\n"
                    "c2,Bad Segment,+442079460002,platinum,en,,\n"
                    "c3,Bad Phone,020 7946,gold,en,,\n"
                    ",No Id,+442079460004,gold,en,,\n"
                    "c5,Short Secret,+442079460005,gold,en,,12\n"
                    "c1,Duplicate,+442079460006,gold,en,,\n"
                    "c7,Grace Hopper,+442079460007,at-risk,fr,,\n")
    report = await import_file(path, store, RULES)
    assert report.imported == 2
    assert [str(p) for p in report.problems] == [
        f"{path}:3: segment 'platinum' is not one of at-risk, gold, standard, vip (cti.segments)",
        f"{path}:4: phone 1 is not a valid number",
        f"{path}:5: missing id",
        f"{path}:6: secret must be 4-12 digits",
        f"{path}:7: id repeats the row at {path}:2",
    ]
    assert all("Lovelace" not in str(p) and "+4420" not in str(p) for p in report.problems)
    [ada] = await store.find_by_phone("+447700900001")
    assert ada.name == "Ada Lovelace" and ada.segment == "vip"
    assert await store.verify("c1", "4321")
    assert await store.get("c2") is None


async def test_a_non_utf8_byte_refuses_the_file_at_its_line(store: CtiStore, tmp_path: Path) -> None:
    """One byte that is not UTF-8 refuses the whole file with its line; nothing of the file is written."""
    path = tmp_path / "customers.csv"
    path.write_bytes(b"id,name,phones,segment\n"
                     b"c1,Ada,+442079460001,vip\n"
                     b"c2,Ren\xe9e,+442079460002,gold\n")
    with pytest.raises(ValueError) as refused:
        await import_file(path, store, RULES)
    assert str(refused.value) == (f"{path}:3: not valid UTF-8 (byte 0xe9); save the file as UTF-8 and import again "
                                  "(nothing was imported)")
    assert await store.get("c1") is None


async def test_export_then_import_round_trips(store: CtiStore, redis: Redis, tmp_path: Path) -> None:
    """Exported customers import back to the same data (secrets are never exported)."""
    await store.write([_record("c1", ("+442079460001",), account="1001", secret="4321"),
                       _record("c2", ("+442079460002",))])
    out = tmp_path / "out.json"
    assert await export_file(out, store) == 2
    data = json.loads(out.read_text())
    assert [c["id"] for c in data["customers"]] == ["c1", "c2"]
    assert "secret" not in out.read_text()
    await redis.flushdb()
    report = await import_file(out, store, RULES)
    assert report.imported == 2 and report.problems == []
    found = await store.find_by_account("1001")
    assert found is not None and found.phones == ("+442079460001",)


async def test_unreachable_redis_raises_store_unavailable() -> None:
    """With nothing listening, every call raises StoreUnavailable (callers then go on as unknown)."""
    dead = CtiStore.from_url(f"redis://127.0.0.1:{free_port()}/0", 0.2, PEPPER)
    with pytest.raises(StoreUnavailable):
        await dead.find_by_phone("+442079460001")
    await dead.close()


async def test_dry_run_writes_nothing_and_shared_phones_are_flagged(store: CtiStore, tmp_path: Path) -> None:
    """A dry run checks every row and writes nothing; a phone two customers share is flagged (issue 14, #13)."""
    path = tmp_path / "customers.csv"
    path.write_text("id,name,phones,segment\n"
                    "c1,Ada,+442079460001,vip\n"
                    "c2,Ren,+442079460002;+442079460001,gold\n")
    report = await import_file(path, store, RULES, dry_run=True)
    assert report.imported == 2 and report.problems == []
    assert [str(p) for p in report.shared_phones] == [f"{path}:3: phone 2 is also customer c1's (row at {path}:2)"]
    assert await store.get("c1") is None


async def test_export_to_an_unknown_format_is_refused(store: CtiStore, tmp_path: Path) -> None:
    """`export out.xlsx` is refused instead of silently writing CSV into it (issue 14, #13)."""
    with pytest.raises(ValueError) as refused:
        await export_file(tmp_path / "out.xlsx", store)
    assert "is not a customer file format" in str(refused.value)
    assert not (tmp_path / "out.xlsx").exists()


class TerminalStream(io.StringIO):
    """A stderr that says it is a terminal, as an admin's shell is."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_cli_import_shows_progress_on_a_terminal_only(redis_server: RedisServer, tmp_path: Path, terminal: bool,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """issue 14, defect 13: `customers import` on a terminal counts the customers written after each batch on one
    line; into a pipe or a log it prints no progress, only the summary."""
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    monkeypatch.delenv("SWITCHBOARD_CTI_PEPPER", raising=False)
    monkeypatch.setenv("SWITCHBOARD_REDIS__URL", redis_server.url)
    path = tmp_path / "customers.csv"
    path.write_text("id,name,phones,segment\n" + "".join(f"c{i},N,+4420794{i:05d},gold\n" for i in range(2500)))
    stderr = TerminalStream() if terminal else None
    if stderr is not None:
        monkeypatch.setattr(sys, "stderr", stderr)
    assert cli(["customers", "import", str(path), "--config", "/dev/null"]) == 0
    captured = capsys.readouterr()
    err = stderr.getvalue() if stderr is not None else captured.err
    assert captured.out.startswith("imported 2500 customer(s), refused 0 row(s), 0 shared phone(s)")
    if terminal:
        assert err == "\r1000 imported...\r2000 imported...\r2500 imported...\n"
    else:
        assert err == ""

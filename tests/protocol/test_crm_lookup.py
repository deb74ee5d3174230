"""The CRM lookup against a local HTTP server: hits, misses, caching, timeouts and garbage."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from switchboard.cti.crm_lookup import CRMLookup


class CRM(BaseHTTPRequestHandler):
    """Knows one number; `/slow` numbers never answer in time; `/garbage` answers non-JSON."""

    release = threading.Event()
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        number = self.path.rsplit("=", 1)[-1]
        CRM.hits.append(number)
        if number == "%2B442079460777":
            CRM.release.wait(5)  # held until the test is over: the client must give up first
        if number == "%2B442079460001":
            body = json.dumps({"id": "crm-1", "name": "Ada", "segment": "gold", "open_cases": [{"id": "K-9"}]})
            self.send_response(200)
        elif number == "%2B442079460555":  # a CRM answer that would reach SET VARIABLE CHANNEL(language)
            body = json.dumps({"id": "crm-5", "name": "Eve", "segment": "gold", "language": "../../../etc/x"})
            self.send_response(200)
        elif number == "%2B442079460666":
            body = "<html>oops</html>"
            self.send_response(200)
        else:
            body = "{}"
            self.send_response(404)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def crm_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), CRM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/lookup?number={{number}}"
    CRM.release.set()
    server.shutdown()


def _lookup(url: str, clock: list[float]) -> CRMLookup:
    return CRMLookup(url, timeout=0.3, cache_seconds=60, segments=frozenset({"vip", "gold", "standard"}),
                     default_segment="standard", logger=logging.getLogger("test"), clock=lambda: clock[0])


async def test_hit_is_parsed_and_cached(crm_url: str) -> None:
    """A known number comes back as a customer, and a second lookup within the cache time asks nothing."""
    clock = [0.0]
    crm = _lookup(crm_url, clock)
    first = await crm("+442079460001")
    assert first is not None and (first.id, first.segment, first.open_cases[0]["id"]) == ("crm-1", "gold", "K-9")
    assert await crm("+442079460001") == first and crm.requests == 1
    clock[0] = 61.0
    await crm("+442079460001")
    assert crm.requests == 2


async def test_miss_is_cached_errors_are_not(crm_url: str) -> None:
    """404 is a cached miss; a timeout or an unusable body returns nothing and is asked again next time."""
    crm = _lookup(crm_url, [0.0])
    assert await crm("+442079460002") is None
    assert await crm("+442079460002") is None and crm.requests == 1
    assert await crm("+442079460777") is None  # times out after 0.3 s
    assert await crm("+442079460666") is None  # garbage
    assert await crm("+442079460666") is None and crm.requests == 4


async def test_an_answer_breaking_the_import_rules_is_no_customer(crm_url: str) -> None:
    """A CRM answer is checked like an import row: a path as `language` is refused, not passed to the channel."""
    crm = _lookup(crm_url, [0.0])
    assert await crm("+442079460555") is None
    assert await crm("+442079460001") is not None  # a valid answer still is a customer

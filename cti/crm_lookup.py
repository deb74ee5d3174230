"""Optional CRM lookup over HTTP: GET a URL with the caller's E.164 number, read one customer as JSON.

Used when the customer store has no match. The request runs with the standard library's HTTP client in a worker
thread (the event loop never waits on it) and is abandoned after `timeout`; hits and misses are cached for `cache_seconds` so a busy number does not hammer the CRM. A CRM that is
slow, down or returns garbage counts as "no customer" and is logged without the number; an answer is checked
with the rules of an import row (`cti.customer.check_customer`): a `language: ../../etc/x` never reaches a channel.

Expected answer: 200 with {"id", "name", "segment", "language"?, "account"?, "open_cases"?}; 404 means unknown.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Callable
import urllib.error
import urllib.request
from urllib.parse import quote

from switchboard.cti.customer import Customer, check_customer


class CRMLookup:
    """`await lookup(e164)` → Customer or None."""

    def __init__(self, url: str, timeout: float, cache_seconds: float,
                 segments: frozenset[str], default_segment: str, logger: logging.Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._timeout = timeout
        self._ttl = cache_seconds
        self._segments = segments
        self._default_segment = default_segment
        self._log = logger
        self._clock = clock
        self._cache: dict[str, tuple[float, Customer | None]] = {}
        self.requests = 0

    async def __call__(self, e164: str) -> Customer | None:
        now = self._clock()
        cached = self._cache.get(e164)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        customer, answered = await self._fetch(e164)
        if answered:  # errors and timeouts are not cached: the next call asks again
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[e164] = (now, customer)
        return customer

    def _get(self, url: str) -> tuple[int, bytes]:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return response.status, response.read(1_000_000)
        except urllib.error.HTTPError as exc:
            return exc.code, b""

    async def _fetch(self, e164: str) -> tuple[Customer | None, bool]:
        self.requests += 1
        url = self._url.replace("{number}", quote(e164, safe=""))
        loop = asyncio.get_running_loop()
        try:
            code, body = await asyncio.wait_for(loop.run_in_executor(None, self._get, url), self._timeout)
        except Exception as exc:
            self._log.warning("CRM lookup failed (%s)", type(exc).__name__)
            return None, False
        if code == 404:
            return None, True
        if code != 200:
            self._log.warning("CRM lookup answered HTTP %d", code)
            return None, False
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self._log.warning("CRM lookup returned an unusable body")
            return None, False
        segment = str(data.get("segment") or self._default_segment)
        values = {**data, "segment": segment if segment in self._segments else self._default_segment}
        customer = check_customer(values, self._segments | {self._default_segment}, (e164,))  # an import row's rules
        if isinstance(customer, str):
            self._log.warning("CRM lookup returned an invalid customer: %s", customer)
            return None, False
        return customer, True

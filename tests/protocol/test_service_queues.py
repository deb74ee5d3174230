"""The running service's live queue list: every route node's queue is in the live gauges from start-up and after a
reload, before any call has been in it (issue 14, defect 11)."""
from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import AsyncIterator

import pytest
from prometheus_client import generate_latest
from twisted.internet.asyncioreactor import AsyncioSelectorReactor

from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.nodes.route import RouteNode
from switchboard.service import Service
from switchboard.settings import load_settings
from tests.e2e.sandbox import RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]


def route_queues(folder: Path) -> set[str]:
    """The queue names of the route nodes in a dialplans folder, read with the loader the service uses."""
    plan, _ = load_dialplan(folder)
    return {n.spec.queue_name for f in plan.flows.values() for n in f.nodes.values() if isinstance(n.spec, RouteNode)}


def waiting_gauge_queues(service: Service) -> set[str]:
    """The queues `switchboard_queue_waiting_calls` has a series for in the service's /metrics text."""
    text = generate_latest(service.registry).decode()
    prefix = 'switchboard_queue_waiting_calls{queue="'
    return {line[len(prefix):].split('"', 1)[0] for line in text.splitlines() if line.startswith(prefix)}


@pytest.fixture
async def service(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Service]:
    """The service as `switchboard serve` builds it (AMI off), on a copy of the example dialplans, not yet called."""
    folder = tmp_path / "dialplans"
    shutil.copytree(REPO / "dialplans", folder)
    settings = load_settings(None, {
        "SWITCHBOARD_AMI__ENABLED": "false", "SWITCHBOARD_REDIS__URL": redis_server.url,
        "SWITCHBOARD_AGI__PORT": str(free_port()), "SWITCHBOARD_HTTP__PORT": "0",
        "SWITCHBOARD_IVR__DIALPLANS": str(folder), "SWITCHBOARD_IVR__WATCH_INTERVAL": "3600"})
    loop = asyncio.get_running_loop()
    running = Service(settings, loop, AsyncioSelectorReactor(loop), logging.getLogger("test"))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def test_route_queues_are_live_before_the_first_call(service: Service) -> None:
    """issue 14, defect 11: right after start-up the live gauges list every route node's queue, before any call."""
    expected = route_queues(Path(service.settings.ivr.dialplans))
    assert {"billing", "sales", "support", "vip"} <= expected
    assert service.router is not None
    assert service.router.queues == expected
    await service.router.refresh_snapshot()
    assert waiting_gauge_queues(service) == expected


async def test_a_queue_added_by_a_reload_is_live_before_its_first_call(service: Service) -> None:
    """issue 14, defect 11: a route node's queue that a dialplans reload brings in is listed at once."""
    folder = Path(service.settings.ivr.dialplans)
    main = folder / "main.yaml"
    main.write_text(main.read_text().replace("queue: sales", "queue: sales-new"))
    assert service.dialplans is not None and service.router is not None
    assert (await service.dialplans.reload("test")).ok
    assert "sales-new" in service.router.queues
    await service.router.refresh_snapshot()
    assert "sales-new" in waiting_gauge_queues(service)

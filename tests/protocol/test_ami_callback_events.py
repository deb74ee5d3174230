"""The AMI client's two needs of callbacks, against the fake AMI over loopback: an event that carries a `Response`
field (OriginateResponse) is delivered as an event, and a user that reads no events (the originate-only user)
counts as up once its login is accepted."""
from __future__ import annotations

from typing import AsyncIterator

import pytest

from tests.protocol.fake_ami import FakeAMI
from tests.protocol.test_ami_client import SECRET, Harness, make_settings, waited


@pytest.fixture
async def fake() -> AsyncIterator[FakeAMI]:
    server = FakeAMI(secret=SECRET)
    await server.start()
    yield server
    await server.close()


async def test_originate_response_is_an_event_not_a_stray_response(fake: FakeAMI) -> None:
    """OriginateResponse (with `Response: Success` and another session's ActionID) reaches the event queue."""
    h = Harness(make_settings(fake.port, ping_interval=1.0))
    await h.up()
    await fake.push_event("OriginateResponse", {"ActionID": "sb-other-1", "Response": "Success",
                                                "Exten": "cb-1.2", "Reason": "4"})
    event = await h.next_event()
    assert (event.name, event.get("Exten"), event.get("Response")) == ("OriginateResponse", "cb-1.2", "Success")
    await waited(h.client.stop())


async def test_a_user_reading_no_events_is_up_after_login(fake: FakeAMI) -> None:
    """Without FullyBooted ever coming (no read rights), `await_fully_booted=False` counts the login as up, and
    actions can be sent."""
    fake.auto_boot = False
    h = Harness(make_settings(fake.port, ping_interval=1.0, await_fully_booted=False))
    await h.client.start()
    await waited(h.client.wait_connected())
    assert await h.next_state() is True
    response = await waited(h.client.send_action("DeviceStateList"))
    assert response.success
    await waited(h.client.stop())

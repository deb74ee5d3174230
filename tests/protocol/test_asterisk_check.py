"""`switchboard check-asterisk` over a real loopback AMI link to the scripted fake: what it reports when AMI is
unreachable, when the service user is refused, and which endpoints it finds in DeviceStateList."""
from __future__ import annotations

import socket

from switchboard.asterisk_check import check, report
from tests.protocol.fake_ami import FakeAMI


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_ami_says_how_to_enable_it() -> None:
    """No manager listening: one finding, naming manager.conf's [general] lines."""
    port = _closed_port()
    found = await check("127.0.0.1", port, "switchboard", "x", 4573, ["PJSIP/agent1"], timeout=2)
    assert len(found) == 1 and not found[0].ok
    assert "enabled=yes" in found[0].fix and f"port={port}" in found[0].fix


async def test_refused_service_user_names_the_manager_piece_and_the_admin_option() -> None:
    """A wrong secret (or no such user): the manager piece and secret file to add, and nothing else checked."""
    fake = FakeAMI(secret="right")
    port = await fake.start()
    try:
        found = await check("127.0.0.1", port, "switchboard", "wrong", 4573, ["PJSIP/agent1"], timeout=2)
    finally:
        await fake.close()
    text = report(found)
    assert "MISSING manager user 'switchboard' logs in" in text
    assert "manager.d/switchboard.conf" in text and "switchboard-ami-secret.conf" in text
    assert "--admin-user" in text and "2 missing of 2 checks" in text


async def test_endpoints_come_from_device_state_list() -> None:
    """Endpoints DeviceStateList lists are found; others are reported with the pjsip include to add."""
    fake = FakeAMI(secret="s3cret")
    port = await fake.start()
    try:
        found = await check("127.0.0.1", port, "switchboard", "s3cret", 4573, ["PJSIP/agent1", "PJSIP/agent9"],
                            timeout=2)
    finally:
        await fake.close()
    by_what = {f.what: f for f in found}
    assert by_what["agent endpoint PJSIP/agent1"].ok
    missing = by_what["agent endpoint PJSIP/agent9"]
    assert not missing.ok and "#include pjsip_switchboard_agents.conf" in missing.fix and "[agent9]" in missing.fix
    # the fake answers Hangup with "Invalid/unknown command", not "Permission denied": not proven refused
    assert not by_what["manager user 'switchboard' is refused Hangup (class call)"].ok
    assert not by_what["dialplan context [from-callers] with its AGI() line"].ok


async def test_callbacks_off_skips_their_checks_and_says_so() -> None:
    """Without an originate user (callbacks off) no second login is tried and the report says what was skipped."""
    fake = FakeAMI(secret="s3cret")
    port = await fake.start()
    try:
        found = await check("127.0.0.1", port, "switchboard", "s3cret", 4573, ["PJSIP/agent1"], timeout=2)
    finally:
        await fake.close()
    assert fake.login_attempts == 1 and not fake.received("Originate")
    assert found[-1].skipped and "skipped callbacks: not checked (callbacks.enabled is off)" in report(found)


async def test_callbacks_on_check_the_context_and_the_originate_login() -> None:
    """With callbacks on, the callback context is looked up and a refused originate login names its secret file."""
    fake = FakeAMI(secret="s3cret")
    port = await fake.start()
    try:
        found = await check("127.0.0.1", port, "switchboard", "s3cret", 4573, ["PJSIP/agent1"], timeout=2,
                            originate=("switchboard-originate", "other"))
    finally:
        await fake.close()
    text = report(found)
    assert fake.login_attempts == 2 and not any(f.skipped for f in found)
    assert fake.received("ShowDialPlan")[-1]["Context"] == "switchboard-callback"
    assert "MISSING callback context [switchboard-callback] with its Dial()" in text
    assert "MISSING originate user 'switchboard-originate' logs in" in text
    assert "switchboard-ami-originate-secret.conf" in text and "SWITCHBOARD_AMI_ORIGINATE_SECRET" in text
    assert not fake.received("Originate")  # never originates without its own user's login

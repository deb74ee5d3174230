"""AMI least privilege, proven on the real Asterisk: the shipped `switchboard` manager user can do what the
service does (UserEvent, DeviceStateList, Ping) and nothing that steers calls or reads the configuration.

The observer is pyst2's `asterisk.manager` (not the service's own client), logged in with the shipped
`asterisk-conf/include/manager_switchboard.conf` user and the secret the sandbox wrote beside it.
"""
from __future__ import annotations

from typing import Iterator

import pytest
from asterisk.manager import Manager, ManagerMsg, ManagerSocketException

from tests.e2e.sandbox import AsteriskSandbox

PERMISSION_DENIED = "Permission denied"

# Each action the user must NOT be able to run, with arguments that would succeed for a privileged user
# (or fail for a reason other than permission), so a "Permission denied" can only mean the class is missing.
DENIED_ACTIONS = {
    "Setvar": {"Variable": "FALLBACK_DIAL", "Value": "PJSIP/attacker"},
    "Redirect": {"Channel": "PJSIP/callers-00000001", "Context": "from-callers", "Exten": "s", "Priority": "1"},
    "Hangup": {"Channel": "PJSIP/callers-00000001"},
    "Originate": {"Channel": "PJSIP/agent1", "Application": "Playback", "Data": "beep", "Async": "true"},
    "Command": {"Command": "core show version"},
    "GetConfig": {"Filename": "manager.conf"},
}


@pytest.fixture
def manager(asterisk: AsteriskSandbox) -> Iterator[Manager]:
    ami = Manager()
    ami.connect("127.0.0.1", 5038)
    ami.login("switchboard", asterisk.ami_secret)
    ami.send_action({"Action": "Events", "EventMask": "off"})  # replies only: pyst2's reader stays simple
    yield ami
    try:
        ami.close()
    except (ValueError, ManagerSocketException):  # pyst2 logs off on a socket Asterisk may have closed already
        pass


def _send(ami: Manager, action: str, fields: dict[str, str]) -> ManagerMsg:
    return ami.send_action({"Action": action, **fields})


@pytest.mark.parametrize("action", sorted(DENIED_ACTIONS))
def test_call_steering_and_config_actions_are_denied(manager: Manager, action: str) -> None:
    """Setvar, Redirect, Hangup, Originate, Command and GetConfig answer `Permission denied` for the service user."""
    reply = _send(manager, action, DENIED_ACTIONS[action])
    assert reply.get_header("Response") == "Error"
    assert reply.get_header("Message") == PERMISSION_DENIED


def test_global_fallback_variable_is_untouched(manager: Manager, asterisk: AsteriskSandbox) -> None:
    """The denied Setvar really changed nothing: FALLBACK_DIAL is still the dialplan's own value."""
    _send(manager, "Setvar", DENIED_ACTIONS["Setvar"])
    assert "PJSIP/attacker" not in asterisk.cli("dialplan show globals")


def test_actions_the_service_uses_are_allowed(manager: Manager) -> None:
    """UserEvent, DeviceStateList and Ping succeed for the service user."""
    user_event = _send(manager, "UserEvent", {"UserEvent": "SwitchboardPrivilegeProbe", "Probe": "1"})
    assert user_event.get_header("Response") == "Success", user_event.get_header("Message")
    device_states = _send(manager, "DeviceStateList", {})
    assert device_states.get_header("Response") == "Success", device_states.get_header("Message")
    ping = _send(manager, "Ping", {})
    assert ping.get_header("Response") == "Success"
    assert ping.get_header("Ping") == "Pong"

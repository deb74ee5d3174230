"""asterisk-conf/stasis.conf declines only Stasis messages nobody reads: none behind an AMI event the service's
manager user or the tests' observers use, and none Asterisk's AMI layer needs to load."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "asterisk-conf"

# The Stasis message type (Asterisk 22) each AMI event we read is made from; events raised directly by the manager
# (FullyBooted, OriginateResponse, Shutdown) have none.
EVENT_SOURCES = {
    "DialBegin": "ast_channel_dial_type", "DialEnd": "ast_channel_dial_type",
    "DeviceStateChange": "ast_device_state_message_type", "UserEvent": "ast_multi_user_event_type",
    "Newchannel": "ast_channel_snapshot_type", "Hangup": "ast_channel_snapshot_type",
    "MusicOnHoldStart": "ast_channel_moh_start_type", "MusicOnHoldStop": "ast_channel_moh_stop_type",
    "FullyBooted": "", "OriginateResponse": "", "Shutdown": "",
}
# manager_channels.c routes these at start-up; a declined one makes the AMI layer fail to load
AMI_NEEDS = {"ast_channel_snapshot_type", "ast_channel_dial_type", "ast_channel_dtmf_begin_type",
             "ast_channel_dtmf_end_type", "ast_channel_hangup_request_type"}
# what the chaos observer and bench/knee.py's observer read (tests/chaos/observer.py, KneeAsterisk's eventfilters)
OBSERVED = {"Newchannel", "Hangup", "DialBegin", "DialEnd", "MusicOnHoldStart", "MusicOnHoldStop", "UserEvent",
            "Shutdown"}


def _declined() -> set[str]:
    return set(re.findall(r"(?m)^decline=(\w+)\s*$", (CONF / "stasis.conf").read_text()))


def _service_events() -> set[str]:
    piece = (CONF / "include" / "manager_switchboard.conf").read_text()
    return set(re.findall(r"(?m)^eventfilter\(action\(include\),name\((\w+)\)", piece))


def test_declines_the_unused_messages() -> None:
    """AGI exec, VarSet and RTCP messages are declined (the per-call ones this file exists for)."""
    assert {"agi_exec_start_type", "agi_exec_end_type", "ast_channel_varset_type", "ast_rtp_rtcp_sent_type",
            "ast_rtp_rtcp_received_type"} <= _declined()


def test_no_event_the_service_or_the_observers_read_is_declined() -> None:
    """The message behind every event the service's manager user includes, and the observers read, is created."""
    events = _service_events() | OBSERVED
    assert events <= set(EVENT_SOURCES), events - set(EVENT_SOURCES)  # a new event: name its message type above
    sources = {EVENT_SOURCES[event] for event in events} - {""}
    assert not sources & _declined(), sources & _declined()


def test_nothing_the_ami_layer_needs_is_declined() -> None:
    """DTMF, hang-up requests, dial and channel snapshots stay (declining them stops manager_channels loading)."""
    assert not AMI_NEEDS & _declined()

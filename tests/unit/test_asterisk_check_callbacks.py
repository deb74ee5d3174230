"""check-asterisk's callback checks (the [switchboard-callback] context and the originate user's privileges)
against a scripted in-memory AMI session: what passes, what is reported missing with the line to add, and that the
Originate probe rings nobody."""
from __future__ import annotations

import asyncio
from typing import Mapping

from switchboard.asterisk_check import (CALLBACK_CONTEXT, PERMISSION_DENIED, Finding, Reply, callback_context,
                                        callbacks, originate_privileges, report)

DENIED = Reply({"Response": "Error", "Message": PERMISSION_DENIED})
CALLBACK_DIALPLAN = Reply({"Response": "Success", "EventList": "start"}, (
    {"Context": CALLBACK_CONTEXT, "Extension": "_cb-.", "Priority": "1", "Application": "NoOp"},
    {"Context": CALLBACK_CONTEXT, "Extension": "_cb-.", "Priority": "4", "Application": "Dial"},
))


class ScriptedAMI:
    """A logged-in AMI session that answers each action from a script (unscripted: `Invalid/unknown command`)."""

    def __init__(self, answers: Mapping[str, Reply]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def action(self, name: str, fields: dict[str, str] | None = None) -> Reply:
        self.sent.append((name, dict(fields or {})))
        return self.answers.get(name, Reply({"Response": "Error", "Message": f"Invalid/unknown command: {name}"}))


def _least_privileged() -> ScriptedAMI:
    """The originate user as manager_switchboard.conf defines it: Originate runs (the probe fails), the rest denied."""
    return ScriptedAMI({"Originate": Reply({"Response": "Error", "Message": "Originate failed"}),
                        "Command": DENIED, "GetConfig": DENIED, "Setvar": DENIED})


def test_least_privileged_originate_user_passes_every_check() -> None:
    """Originate allowed (its probe fails harmlessly), Command, GetConfig and Setvar refused: all ok."""
    found = asyncio.run(originate_privileges(_least_privileged(), "switchboard-originate"))
    assert [f.ok for f in found] == [True, True, True, True], found
    assert [f.what.split(" is refused ")[-1] for f in found[1:]] == [
        "Command (class command)", "GetConfig (class config)", "Setvar (class call)"]


def test_originate_probe_rings_nobody() -> None:
    """The probe is synchronous, into the callback context, to a Local channel of an extension nothing matches."""
    ami = _least_privileged()
    asyncio.run(originate_privileges(ami, "switchboard-originate"))
    name, fields = ami.sent[0]
    assert name == "Originate" and fields["Async"] == "false" and fields["Context"] == CALLBACK_CONTEXT
    assert fields["Channel"] == f"Local/{fields['Exten']}@{CALLBACK_CONTEXT}"
    assert not fields["Exten"].startswith("cb-")  # the callback context only has _cb-. (and h)
    assert "Application" not in fields and "Data" not in fields
    assert all("PJSIP/" not in v or "no-such" in v for _, f in ami.sent for v in f.values())


def test_originate_refused_is_reported_with_the_write_line() -> None:
    """An originate user without `write=originate`: its Originate is reported missing with the line to add."""
    ami = ScriptedAMI({"Originate": DENIED, "Command": DENIED, "GetConfig": DENIED, "Setvar": DENIED})
    found = asyncio.run(originate_privileges(ami, "cb-user"))
    assert not found[0].ok and "in [cb-user] of manager_switchboard.conf: `write=originate`" in found[0].fix
    assert all(f.ok for f in found[1:])


def test_over_privileged_originate_user_is_reported_per_action() -> None:
    """Each allowed non-originate action (Command, GetConfig, Setvar) is reported with the least-privilege lines."""
    ami = ScriptedAMI({"Originate": Reply({"Response": "Error", "Message": "Originate failed"}),
                       "Command": Reply({"Response": "Success", "Message": "Command output follows"}),
                       "GetConfig": Reply({"Response": "Error", "Message": "Config file not found"}),
                       "Setvar": Reply({"Response": "Error", "Message": "Channel not found"})})
    found = asyncio.run(originate_privileges(ami, "switchboard-originate"))
    assert found[0].ok and not any(f.ok for f in found[1:]), found
    for finding, action in zip(found[1:], ("Command", "GetConfig", "Setvar")):
        assert "`write=originate` only and no `read=`" in finding.fix and f"now {action} is allowed" in finding.fix


def test_unknown_originate_answer_is_not_taken_for_allowed() -> None:
    """An AMI that does not know Originate (e.g. not Asterisk's) does not pass the originate check."""
    ami = ScriptedAMI({"Command": DENIED, "GetConfig": DENIED, "Setvar": DENIED})
    found = asyncio.run(originate_privileges(ami, "switchboard-originate"))
    assert not found[0].ok


def test_callback_context_found_by_its_dial() -> None:
    """ShowDialPlan of [switchboard-callback] with a Dial() line: ok; missing: the dialplan include to add."""
    there = asyncio.run(callback_context(ScriptedAMI({"ShowDialPlan": CALLBACK_DIALPLAN})))
    assert there == [Finding(f"callback context [{CALLBACK_CONTEXT}] with its Dial()", True)]
    absent = ScriptedAMI({"ShowDialPlan": Reply({"Response": "Error", "Message": "Did not find context"})})
    missing = asyncio.run(callback_context(absent))
    assert not missing[0].ok and "#include extensions_switchboard.conf" in missing[0].fix
    assert absent.sent == [("ShowDialPlan", {"Context": CALLBACK_CONTEXT})]


def test_callback_context_refused_says_who_may_look() -> None:
    """A user that may not run ShowDialPlan: the class to give it or --admin-user."""
    found = asyncio.run(callback_context(ScriptedAMI({"ShowDialPlan": DENIED})))
    assert not found[0].ok and "--admin-user" in found[0].fix


def test_callbacks_off_are_skipped_and_say_so() -> None:
    """Callbacks disabled: nothing is sent, one skipped line that the summary does not count."""
    ami = ScriptedAMI({})
    found = asyncio.run(callbacks("127.0.0.1", 1, None, None, 1.0))
    assert ami.sent == [] and len(found) == 1 and found[0].skipped and "callbacks.enabled is off" in found[0].what
    text = report([Finding("manager user 'switchboard' logs in", True), *found])
    assert text.splitlines()[1].startswith("skipped callbacks: not checked")
    assert text.endswith("all 1 checks passed (1 skipped)")


def test_report_counts_missing_callback_pieces() -> None:
    """Missing callback pieces count as missing with their line to add; the summary counts only what was checked."""
    text = report([Finding("a", True), Finding("originate user 'x' logs in", False, "the [x] user ...")])
    assert "MISSING originate user 'x' logs in\n        add: the [x] user ..." in text
    assert text.endswith("1 missing of 2 checks")

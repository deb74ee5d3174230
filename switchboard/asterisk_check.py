"""`switchboard check-asterisk`: asks a running Asterisk over AMI whether Switchboard's pieces are in place.

It logs in with the service's own AMI settings (the least-privilege user of manager_switchboard.conf) and reports,
each with the line to add (README "Beside your Asterisk"):
- the manager user: it logs in, may run what the service runs (UserEvent, DeviceStateList) and is refused the
  call-steering, configuration and command actions (Hangup, GetConfig, Command answer `Permission denied`);
- the AGI context `from-callers` (ShowDialPlan, allowed by the user's `reporting` class) and the FastAGI port its
  AGI() line reaches, compared with the service's `agi.port`;
- the fallback context `switchboard-fallback`;
- the agents' endpoints (DeviceStateList lists every PJSIP endpoint Asterisk has);
- with `callbacks.enabled` (docs/callbacks.md), the callback context `switchboard-callback` and the originate user
  (`callbacks.ami_username`): it logs in, may Originate into that context (a synchronous probe to a Local channel of
  an extension that does not exist: it rings nobody) and is refused Command, GetConfig and Setvar. With callbacks
  off these checks are skipped, and the report says so.
When the service user cannot log in (e.g. not added yet), an admin AMI login (`--admin-user`, secret in
SWITCHBOARD_AMI_ADMIN_SECRET) lets the other checks run. A global SWITCHBOARD_AGI override is read (Getvar) only with
that admin login; the service user cannot read variables.

A small AMI exchange of its own (one action at a time, `Events: off`): a diagnosis needs the exact refusal
messages, which the service's self-healing client (cti/ami_client.py) turns into reconnect attempts.
"""
from __future__ import annotations

import asyncio
import itertools
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

AGI_CONTEXT = "from-callers"
FALLBACK_CONTEXT = "switchboard-fallback"
CALLBACK_CONTEXT = "switchboard-callback"
PERMISSION_DENIED = "Permission denied"
ADMIN_SECRET_ENV = "SWITCHBOARD_AMI_ADMIN_SECRET"
_ADD_MANAGER = ("copy manager_switchboard.conf to /etc/asterisk/manager.d/switchboard.conf (or add "
                "`#include manager_switchboard.conf` to manager.conf), put `secret=<the service's AMI secret>` in "
                "/etc/asterisk/switchboard-ami-secret.conf (mode 0600), then `asterisk -rx 'manager reload'`")
_ADD_DIALPLAN = ("add `#include extensions_switchboard.conf` to extensions.conf (the file beside it), then "
                 "`asterisk -rx 'dialplan reload'`")
# (action, fields, the class it needs): each must answer Permission denied for the least-privilege user; the
# fields name nothing that exists, so even a wrongly allowed action changes nothing.
_DENIED = (
    ("Hangup", {"Channel": "PJSIP/switchboard-check-no-such-channel"}, "call"),
    ("GetConfig", {"Filename": "switchboard-check-no-such-file.conf"}, "config"),
    ("Command", {"Command": "core show version"}, "command"),
)
# The originate user's probes. Originate: synchronous, to a Local channel of an extension no context has (the
# callback context only matches `_cb-.`), so Asterisk answers `Originate failed` when allowed and rings nobody.
_PROBE_EXTEN = "switchboard-check-no-such-extension"
_ORIGINATE_PROBE = {"Channel": f"Local/{_PROBE_EXTEN}@{CALLBACK_CONTEXT}", "Context": CALLBACK_CONTEXT,
                    "Exten": _PROBE_EXTEN, "Priority": "1", "Async": "false", "Timeout": "2000"}
# each must answer Permission denied for the originate user (fields name nothing that exists, as _DENIED's)
_ORIGINATE_DENIED = (
    ("Command", {"Command": "core show version"}, "command"),
    ("GetConfig", {"Filename": "switchboard-check-no-such-file.conf"}, "config"),
    ("Setvar", {"Channel": "PJSIP/switchboard-check-no-such-channel", "Variable": "SWITCHBOARD_CHECK_PROBE",
                "Value": "1"}, "call"),
)
_UNKNOWN_ACTION = "Invalid/unknown command"
_AGI_URL = re.compile(r"agi://([^/:]+)(?::(\d+))?")


@dataclass(frozen=True)
class Finding:
    """One check: what was checked, whether it is in place, and (when not) the line or step to add."""

    what: str
    ok: bool
    fix: str = ""
    skipped: bool = False  # not checked on purpose (e.g. callbacks off): neither passed nor missing


@dataclass(frozen=True)
class Reply:
    """An action's response fields and, for a list action, its entries (events)."""

    fields: dict[str, str]
    events: tuple[dict[str, str], ...] = ()

    @property
    def success(self) -> bool:
        return self.fields.get("Response", "").lower() in ("success", "goodbye")

    @property
    def message(self) -> str:
        return self.fields.get("Message", "")


class AMIRefused(Exception):
    """Asterisk closed the link or refused the login; the message says which."""


class ActionSession(Protocol):
    """What the checks need of a logged-in AMI connection: one action, its reply."""

    async def action(self, name: str, fields: dict[str, str] | None = None) -> Reply: ...


class AMISession:
    """One logged-in AMI connection, one action at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self._ids = itertools.count(1)

    @classmethod
    async def login(cls, host: str, port: int, username: str, secret: str, timeout: float) -> AMISession:
        """Connects and logs in (no events); raises OSError when unreachable, AMIRefused when refused."""
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            banner = await reader.readline()
        session = cls(reader, writer, timeout)
        if not banner.startswith(b"Asterisk Call Manager/"):
            await session.close()
            raise AMIRefused(f"{host}:{port} is not an Asterisk manager interface ({banner[:40]!r})")
        reply = await session.action("Login", {"Username": username, "Secret": secret, "Events": "off"})
        if not reply.success:
            await session.close()
            raise AMIRefused(f"login as {username!r} refused: {reply.message or 'no reason given'}")
        return session

    async def _message(self) -> dict[str, str]:
        raw = await self._reader.readuntil(b"\r\n\r\n")
        fields: dict[str, str] = {}
        for line in raw.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep and key not in fields:
                fields[key.strip()] = value.strip()
        return fields

    async def action(self, name: str, fields: dict[str, str] | None = None) -> Reply:
        """Sends one action; returns its response with a list action's entries (up to its *Complete event)."""
        action_id = f"sb-check-{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"] + [f"{k}: {v}" for k, v in (fields or {}).items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            async with asyncio.timeout(self._timeout):
                await self._writer.drain()
                response = await self._message()
                while response.get("ActionID") != action_id or "Response" not in response:
                    response = await self._message()
                events: list[dict[str, str]] = []
                if response.get("EventList", "").lower() == "start":
                    while True:
                        event = await self._message()
                        if event.get("ActionID") != action_id:
                            continue
                        if event.get("EventList", "").lower() == "complete":
                            break
                        events.append(event)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise AMIRefused(f"Asterisk closed the link during {name}") from exc
        return Reply(response, tuple(events))

    async def close(self) -> None:
        try:
            self._writer.write(b"Action: Logoff\r\n\r\n")
            self._writer.close()
            await self._writer.wait_closed()
        except (OSError, RuntimeError):
            pass  # already gone


async def privileges(session: AMISession, username: str) -> list[Finding]:
    """The service user may run what the service runs and nothing that steers calls or reads the configuration."""
    found = []
    for action, fields in (("UserEvent", {"UserEvent": "SwitchboardCheck"}), ("DeviceStateList", {})):
        reply = await session.action(action, fields)
        found.append(Finding(f"manager user {username!r} may run {action}", reply.success,
                             "" if reply.success else f"in [{username}] of manager_switchboard.conf: "
                             "`write=user,reporting` (then `manager reload`)"))
    for action, fields, klass in _DENIED:
        reply = await session.action(action, fields)
        denied = not reply.success and reply.message == PERMISSION_DENIED
        found.append(Finding(f"manager user {username!r} is refused {action} (class {klass})", denied,
                             "" if denied else f"in [{username}]: `read=system,call,user` and `write=user,reporting` "
                             f"only, as manager_switchboard.conf (now {action} is allowed)"))
    return found


def _agi_ports(entries: Sequence[dict[str, str]]) -> list[tuple[str, int]]:
    """The agi:// hosts and ports named in a context's AGI() and Set(SWITCHBOARD_AGI=...) lines."""
    found = []
    for entry in entries:
        if entry.get("Application", "").lower() in ("agi", "set"):
            for match in _AGI_URL.finditer(entry.get("AppData", "")):
                found.append((match.group(1), int(match.group(2) or 4573)))
    return found


async def dialplan(session: AMISession, agi_port: int, admin: bool) -> list[Finding]:
    """The AGI context (its AGI() line and the port it reaches) and the fallback context."""
    found = []
    reply = await session.action("ShowDialPlan", {"Context": AGI_CONTEXT})
    if reply.message == PERMISSION_DENIED:
        return [Finding(f"dialplan context [{AGI_CONTEXT}]", False,
                        "this AMI user may not run ShowDialPlan: give it `write=user,reporting` or pass --admin-user")]
    has_agi = reply.success and any(e.get("Application", "").lower() == "agi" for e in reply.events)
    found.append(Finding(f"dialplan context [{AGI_CONTEXT}] with its AGI() line", has_agi,
                         "" if has_agi else _ADD_DIALPLAN))
    if has_agi:
        urls = _agi_ports(reply.events)
        if admin:
            value = await session.action("Getvar", {"Variable": "SWITCHBOARD_AGI"})
            if value.success and value.fields.get("Value"):
                urls = _agi_ports([{"Application": "Set", "AppData": value.fields["Value"]}])
        ports = sorted({port for _, port in urls})
        right = agi_port in ports
        where = ", ".join(f"{h}:{p}" for h, p in urls) or "no agi:// URL"
        note = "" if admin else " (a SWITCHBOARD_AGI in [globals] is not visible to this user; --admin-user reads it)"
        found.append(Finding(f"FastAGI port {agi_port} (agi.port) reached by [{AGI_CONTEXT}]: {where}{note}", right,
                             "" if right else f"in extensions.conf [globals]: `SWITCHBOARD_AGI=agi://<switchboard "
                             f"host>:{agi_port}`, then `dialplan reload`"))
    reply = await session.action("ShowDialPlan", {"Context": FALLBACK_CONTEXT})
    has_dial = reply.success and any(e.get("Application", "").lower() == "dial" for e in reply.events)
    found.append(Finding(f"fallback context [{FALLBACK_CONTEXT}] with its Dial()", has_dial,
                         "" if has_dial else _ADD_DIALPLAN))
    return found


async def endpoints(session: AMISession, wanted: Sequence[str]) -> list[Finding]:
    """Each agent's endpoint is a device Asterisk knows (DeviceStateList lists every PJSIP endpoint)."""
    reply = await session.action("DeviceStateList")
    if not reply.success:
        return [Finding("agents' endpoints", False, f"DeviceStateList refused ({reply.message}): the AMI user needs "
                        "`write=user,reporting`")]
    known = {e.get("Device", "").lower() for e in reply.events}
    found = []
    for endpoint in wanted:
        ok = endpoint.lower() in known
        name = endpoint.split("/", 1)[-1]
        found.append(Finding(f"agent endpoint {endpoint}", ok, "" if ok else (
            f"add `#include pjsip_switchboard_agents.conf` to pjsip.conf (an endpoint + AOR [{name}] per agent, "
            "from the [switchboard-agent] template), then `asterisk -rx 'module reload res_pjsip.so'`")))
    return found


def _add_originate_user(username: str) -> str:
    return (f"the [{username}] user is in manager_switchboard.conf (copied in step 1 as "
            "/etc/asterisk/manager.d/switchboard.conf); put `secret=<the service's originate secret>` in "
            "/etc/asterisk/switchboard-ami-originate-secret.conf (mode 0600), the same value in "
            "SWITCHBOARD_AMI_ORIGINATE_SECRET or callbacks.secret_file, then `asterisk -rx 'manager reload'`")


async def callback_context(session: ActionSession) -> list[Finding]:
    """The callback context (the only one the service originates into) and its Dial() of the second leg."""
    reply = await session.action("ShowDialPlan", {"Context": CALLBACK_CONTEXT})
    if reply.message == PERMISSION_DENIED:
        return [Finding(f"dialplan context [{CALLBACK_CONTEXT}]", False,
                        "this AMI user may not run ShowDialPlan: give it `write=user,reporting` or pass --admin-user")]
    has_dial = reply.success and any(e.get("Application", "").lower() == "dial" for e in reply.events)
    return [Finding(f"callback context [{CALLBACK_CONTEXT}] with its Dial()", has_dial,
                    "" if has_dial else _ADD_DIALPLAN)]


async def originate_privileges(session: ActionSession, username: str) -> list[Finding]:
    """The originate user may Originate into the callback context and nothing else (write=originate only)."""
    reply = await session.action("Originate", dict(_ORIGINATE_PROBE))
    allowed = reply.message != PERMISSION_DENIED and not reply.message.startswith(_UNKNOWN_ACTION)
    found = [Finding(f"originate user {username!r} may Originate into [{CALLBACK_CONTEXT}] (a probe to a Local "
                     "channel of no extension: rings nobody)", allowed,
                     "" if allowed else f"in [{username}] of manager_switchboard.conf: `write=originate` (then "
                     f"`manager reload`; now: {reply.message or 'no reason given'})")]
    for action, fields, klass in _ORIGINATE_DENIED:
        reply = await session.action(action, dict(fields))
        denied = not reply.success and reply.message == PERMISSION_DENIED
        found.append(Finding(f"originate user {username!r} is refused {action} (class {klass})", denied,
                             "" if denied else f"in [{username}]: `write=originate` only and no `read=`, as "
                             f"manager_switchboard.conf (now {action} is allowed)"))
    return found


async def callbacks(host: str, port: int, originate: tuple[str, str] | None, inspector: AMISession | None,
                    timeout: float) -> list[Finding]:
    """With callbacks on (`originate` = their AMI user and secret): the callback context (seen by the inspector)
    and the originate user's login and privileges; with callbacks off, one skipped line saying so."""
    if originate is None:
        return [Finding(f"callbacks: not checked (callbacks.enabled is off): the originate user and the "
                        f"[{CALLBACK_CONTEXT}] context are needed only with callbacks", True, skipped=True)]
    username, secret = originate
    found = await callback_context(inspector) if inspector is not None else []
    try:
        session = await AMISession.login(host, port, username, secret, timeout)
    except (OSError, TimeoutError, AMIRefused) as exc:
        return found + [Finding(f"originate user {username!r} logs in", False,
                                f"{_add_originate_user(username)} ({exc})")]
    try:
        return found + [Finding(f"originate user {username!r} logs in", True)] + \
            await originate_privileges(session, username)
    finally:
        await session.close()


async def check(host: str, port: int, username: str, secret: str, agi_port: int, wanted_endpoints: Sequence[str],
                admin: tuple[str, str] | None = None, timeout: float = 5.0,
                originate: tuple[str, str] | None = None) -> list[Finding]:
    """Every finding, in the order the README adds the pieces; `originate` (the callback AMI user and its secret)
    only when callbacks are enabled, else their checks are skipped."""
    try:
        service = await AMISession.login(host, port, username, secret, timeout)
    except (OSError, TimeoutError) as exc:
        return [Finding(f"AMI reachable at {host}:{port}", False,
                        f"in manager.conf [general]: `enabled=yes`, `port={port}`, `bindaddr=127.0.0.1` ({exc})")]
    except AMIRefused as exc:
        service = None
        found = [Finding(f"manager user {username!r} logs in", False, f"{_ADD_MANAGER} ({exc})")]
    else:
        found = [Finding(f"manager user {username!r} logs in", True)]
    inspector = service
    try:
        if service is not None:
            found += await privileges(service, username)
        if admin is not None:
            try:
                inspector = await AMISession.login(host, port, admin[0], admin[1], timeout)
            except (OSError, TimeoutError, AMIRefused) as exc:
                found.append(Finding(f"admin AMI login {admin[0]!r} (for the checks below)", False,
                                     f"check --admin-user and SWITCHBOARD_AMI_ADMIN_SECRET ({exc})"))
                inspector = service
        if inspector is None:
            found.append(Finding("dialplan and endpoints", False, "not checked: no AMI login works; add the manager "
                                 "user (above) or pass --admin-user with SWITCHBOARD_AMI_ADMIN_SECRET"))
            return found + await callbacks(host, port, originate, None, timeout)
        is_admin = inspector is not service
        found += await dialplan(inspector, agi_port, is_admin)
        found += await endpoints(inspector, wanted_endpoints)
        found += await callbacks(host, port, originate, inspector, timeout)
        return found
    finally:
        for session in {s for s in (service, inspector) if s is not None}:
            await session.close()


def report(findings: Sequence[Finding]) -> str:
    """One line per check; under each missing one, the line to add; skipped checks say so and are not counted."""
    lines = []
    for finding in findings:
        lines.append(f"{'skipped' if finding.skipped else 'ok     ' if finding.ok else 'MISSING'} {finding.what}")
        if not finding.ok:
            lines.append(f"        add: {finding.fix}")
    checked = [f for f in findings if not f.skipped]
    missing = sum(not f.ok for f in checked)
    skipped = len(findings) - len(checked)
    lines.append((f"{missing} missing of {len(checked)} checks" if missing else f"all {len(checked)} checks passed")
                 + (f" ({skipped} skipped)" if skipped else ""))
    return "\n".join(lines)


def agent_endpoints(dialplans: Path, fallback: str) -> list[str]:
    """The endpoints of routing.yaml's agents in the dialplans folder, else the settings' `ivr.agent_endpoint`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    try:
        loaded = YAML(typ="safe").load((dialplans / "routing.yaml").read_text(encoding="utf-8"))
    except (OSError, YAMLError):
        return [fallback]
    agents = loaded.get("agents") if isinstance(loaded, dict) else None
    found = [str(a["endpoint"]) for a in (agents or {}).values() if isinstance(a, dict) and a.get("endpoint")]
    return found or [fallback]


def run(config: Path | None, admin_user: str | None, wanted: Sequence[str], env: Mapping[str, str]) -> int:
    """The command: 0 when every piece is in place, 1 when something is missing, 2 on unusable settings."""
    from switchboard.settings import SettingsError, load_settings
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    admin = None
    if admin_user:
        admin_secret = env.get(ADMIN_SECRET_ENV, "")
        if not admin_secret:
            print(f"switchboard: --admin-user needs its secret in {ADMIN_SECRET_ENV}", file=sys.stderr)
            return 2
        admin = (admin_user, admin_secret)
    endpoints = list(wanted) or agent_endpoints(Path(settings.ivr.dialplans), settings.ivr.agent_endpoint)
    originate = ((settings.callbacks.ami_username, settings.originate_secret) if settings.callbacks.enabled
                 else None)
    findings = asyncio.run(check(settings.ami.host, settings.ami.port, settings.ami.username, settings.ami_secret,
                                 settings.agi.port, endpoints, admin, originate=originate))
    print(report(findings))
    return 0 if all(f.ok for f in findings) else 1

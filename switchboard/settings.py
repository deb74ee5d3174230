"""Service settings: one YAML file plus environment overrides, every key typed, defaulted and checked.

The schema is the set of dataclasses below; `settings.example.yaml` documents each key with its default (a unit
test keeps the two in step). An unknown or invalid key stops start-up with an error naming its place
(`file:line:column`, or the environment variable) and what would fix it.

Environment overrides: `SWITCHBOARD_<SECTION>__<KEY>=value`, e.g. `SWITCHBOARD_AGI__PORT=4574`; values are parsed
as YAML scalars or flow lists (`SWITCHBOARD_AGI__ALLOWED_PEERS=[127.0.0.1/32, 10.0.0.0/8]`).
The AMI secret is never in the file: `SWITCHBOARD_AMI_SECRET`, or `ami.secret_file` (one line, or the Asterisk-side
`secret=...` include itself).

Which file: `--config FILE`, else `SWITCHBOARD_CONFIG`, else /etc/switchboard/settings.yaml when it exists, else
none (built-in defaults plus the environment); see `config_path`.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from switchboard.yamldoc import DocumentError, Place, Problem, parse, place_of, show, suggest

ENV_PREFIX = "SWITCHBOARD_"
SECRET_ENV = "SWITCHBOARD_AMI_SECRET"
TOKEN_ENV = "SWITCHBOARD_HTTP_TOKEN"
PEPPER_ENV = "SWITCHBOARD_CTI_PEPPER"
CONFIG_ENV = "SWITCHBOARD_CONFIG"
DEFAULT_CONFIG = Path("/etc/switchboard/settings.yaml")
LOG_FORMATS = ("plain", "json")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
ORIGINATE_SECRET_ENV = "SWITCHBOARD_AMI_ORIGINATE_SECRET"
MAX_READ_PAUSE = 0.2  # ami.read_pause's bound: events wait at most this long in the socket before they are read
SECRET_FIELDS = ("ami_secret", "http_token", "cti_pepper", "originate_secret")
FIX = "fix"  # a field's metadata key: what to write when its value is missing or empty
DIALPLANS_FIX = ("set ivr.dialplans to the folder of your call flows, e.g. /etc/switchboard/dialplans "
                 "(`switchboard init DIR` lays one out)")


class SettingsError(DocumentError):
    """Settings that cannot be used; `problems` lists each one with its place (`file:line:column`, or the
    environment variable, or the section a missing value belongs to)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, "settings")


@dataclass(frozen=True)
class AGISettings:
    """The FastAGI listener."""

    host: str = "127.0.0.1"
    port: int = 4573
    allowed_peers: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    header_timeout: float = 5.0
    command_timeout: float = 30.0
    stop_grace: float = 30.0

    def check(self) -> list[tuple[str, str]]:
        out = _port("port", self.port) + _positive(self, "header_timeout", "command_timeout")
        if self.stop_grace < 0:
            out.append(("stop_grace", "must be 0 or more seconds"))
        for peer in self.allowed_peers:
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError:
                out.append(("allowed_peers", f"{peer!r} is not an address or network (e.g. 127.0.0.1/32)"))
        return out


@dataclass(frozen=True)
class AMISettings:
    """The Asterisk Manager Interface connection."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "switchboard"
    secret_file: str | None = None
    ping_interval: float = 10.0
    ping_timeout: float = 5.0
    action_timeout: float = 5.0
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    event_queue_size: int = 10000
    events: str = "system,call,user"
    read_pause: float = 0.05  # seconds the reader waits after each read so the next one takes many events

    def check(self) -> list[tuple[str, str]]:
        out = _port("port", self.port) + _positive(self, "ping_interval", "ping_timeout", "action_timeout",
                                                   "reconnect_initial", "reconnect_max", "event_queue_size")
        if self.ping_interval + self.ping_timeout > 30:
            out.append(("ping_interval", "ping_interval + ping_timeout must be at most 30 s so a dead link is seen"))
        if not 0 <= self.read_pause <= MAX_READ_PAUSE:
            out.append(("read_pause", f"must be 0 to {MAX_READ_PAUSE:g} seconds (0 reads every event as it arrives)"))
        return out


@dataclass(frozen=True)
class RedisSettings:
    """The shared Redis store."""

    url: str = "redis://127.0.0.1:6379/0"
    timeout: float = 0.5            # socket timeout: the longest any one Redis reply may take
    max_connections: int = 256      # the one shared client's pool (blocking: a full pool waits, it does not fail)
    pool_timeout: float = 1.0       # seconds a command may wait for a free connection before it fails

    def check(self) -> list[tuple[str, str]]:
        out = _positive(self, "timeout", "max_connections", "pool_timeout")
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            out.append(("url", "must start with redis://, rediss:// or unix://"))
        return out


@dataclass(frozen=True)
class HTTPSettings:
    """The HTTP side: /metrics, /healthz, /readyz, the agent API and screen-pop streams, and its limits."""

    host: str = "127.0.0.1"
    port: int = 8080
    token_file: str | None = None
    idle_timeout: float = 30.0
    max_connections: int = 256
    max_body_bytes: int = 1048576
    max_streams: int = 200
    max_streams_per_agent: int = 4
    descriptor_reserve: int = 512

    def check(self) -> list[tuple[str, str]]:
        out = _port("port", self.port, allow_zero=True)
        out += _positive(self, "idle_timeout", "max_connections", "max_body_bytes", "max_streams",
                         "max_streams_per_agent", "descriptor_reserve")
        if self.max_streams > self.max_connections:
            out.append(("max_streams", "must be at most http.max_connections (each stream holds a connection)"))
        if self.token_file is not None and not Path(self.token_file).is_file():
            what = "a folder" if Path(self.token_file).is_dir() else "missing"
            out.append(("token_file", f"{self.token_file} is {what}; point it at a file holding the token "
                                      f"(one line), or set {TOKEN_ENV}"))
        return out


@dataclass(frozen=True)
class IVRSettings:
    """The YAML call flows (dialplans/)."""

    dialplans: str = field(default="dialplans", metadata={FIX: DIALPLANS_FIX})
    sounds_dir: str | None = None
    watch_interval: float = 2.0
    agent_endpoint: str = "PJSIP/agent1"  # route nodes dial it when there is no skills router and no `endpoint`

    def check(self) -> list[tuple[str, str]]:
        out = _positive(self, "watch_interval")
        if not self.agent_endpoint or any(c in self.agent_endpoint for c in "\r\n\0,|"):
            out.append(("agent_endpoint", "must be non-empty and contain no comma, |, CR, LF or NUL"))
        if not self.dialplans:
            out.append(("dialplans", f"is empty; {DIALPLANS_FIX}"))
        elif not Path(self.dialplans).exists():
            out.append(("dialplans", f"{self.dialplans} does not exist (a relative path starts in the current "
                                     f"folder, {Path.cwd()}); {DIALPLANS_FIX}"))
        if self.sounds_dir is not None and not Path(self.sounds_dir).is_dir():
            out.append(("sounds_dir", f"{self.sounds_dir} is not a folder"))
        return out


@dataclass(frozen=True)
class CTISettings:
    """Caller recognition, the customer store and screen pops."""

    default_region: str = "GB"
    segments: tuple[str, ...] = ("vip", "gold", "standard", "at-risk")
    default_segment: str = "standard"
    lookup_budget: float = 0.3
    pepper_file: str | None = None
    crm_url: str | None = None
    crm_timeout: float = 0.3
    crm_cache_seconds: float = 60.0

    def check(self) -> list[tuple[str, str]]:
        out = _positive(self, "lookup_budget", "crm_timeout")
        if self.crm_cache_seconds < 0:
            out.append(("crm_cache_seconds", "must be 0 or more seconds"))
        if self.default_segment not in self.segments:
            out.append(("default_segment", f"{self.default_segment!r} is not in cti.segments"))
        if len(self.default_region) != 2 or not self.default_region.isupper():
            out.append(("default_region", "must be an ISO 3166 country code such as GB or US"))
        if self.pepper_file is not None and not Path(self.pepper_file).is_file():
            out.append(("pepper_file", f"{self.pepper_file} is not a readable file"))
        if self.crm_url is not None and not self.crm_url.startswith(("http://", "https://")):
            out.append(("crm_url", "must start with http:// or https:// and contain {number}"))
        elif self.crm_url is not None and "{number}" not in self.crm_url:
            out.append(("crm_url", "must contain {number}, replaced by the caller's E.164 number"))
        return out


@dataclass(frozen=True)
class MetricsSettings:
    """KPI thresholds and first-contact resolution (docs/metrics.md)."""

    service_level_thresholds: tuple[float, ...] = (10.0, 20.0, 30.0, 60.0)
    short_abandon_seconds: float = 5.0
    fcr_window_days: float = 7.0
    fcr_same_intent: bool = False

    def check(self) -> list[tuple[str, str]]:
        out = _positive(self, "fcr_window_days")
        if self.short_abandon_seconds < 0:
            out.append(("short_abandon_seconds", "must be 0 or more seconds"))
        if not self.service_level_thresholds or any(t <= 0 for t in self.service_level_thresholds):
            out.append(("service_level_thresholds", "must list positive seconds, e.g. [10, 20, 30, 60]"))
        return out


@dataclass(frozen=True)
class LogSettings:
    """Logging."""

    level: str = "INFO"
    format: str = "plain"  # plain (timestamped, without one under journald) or json (one object per line)

    def check(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if self.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            out.append(("level", "must be one of DEBUG, INFO, WARNING, ERROR"))
        if self.format not in LOG_FORMATS:
            out.append(("format", f"must be one of {', '.join(LOG_FORMATS)}"))
        return out


@dataclass(frozen=True)
class RouterSettings:
    """The skills router's life in the shared Redis: who owns waiting calls, and when callers in line give up."""

    instance_id: str = ""  # empty: random per process start; set it to clean up this instance's calls at restart
    lease: float = 5.0  # seconds an instance's calls outlive its last heartbeat before any live instance frees them
    heartbeat: float = 1.0  # seconds between lease renewals (and reaps of dead instances' calls)
    unreachable_deadline: float = 5.0  # seconds without Redis before callers in line go to the dialplan fallback

    def check(self) -> list[tuple[str, str]]:
        out = _positive(self, "lease", "heartbeat", "unreachable_deadline")
        if self.heartbeat > 0 and self.lease < 2 * self.heartbeat:
            out.append(("lease", "must be at least twice router.heartbeat (one lost beat must not kill the lease)"))
        if any(c in self.instance_id for c in " \t\r\n\0"):
            out.append(("instance_id", "must not contain spaces or control characters"))
        return out


@dataclass(frozen=True)
class CallbackSettings:
    """In-queue callbacks (docs/callbacks.md): the desk that owns the requests, and the AMI user that originates
    them (only `write=originate`; its secret from SWITCHBOARD_AMI_ORIGINATE_SECRET or `secret_file`)."""

    enabled: bool = False  # route nodes offer `callback` only when this is on (and the router and AMI are)
    ami_username: str = "switchboard-originate"
    secret_file: str | None = None
    trunk: str = "switchboard_callback"  # the PJSIP endpoint customers are called through (letters, digits, _ .)
    caller_id: str = ""  # what the called customer sees (empty: their own number's callback, Asterisk's default)
    desk_id: str = "callback-desk"  # the desk's owner id in the router (one desk per Redis; instances take turns)
    lease: float = 5.0  # seconds the desk's requests in line outlive its holder before another instance takes over
    beat: float = 1.0  # seconds between lease renewals (and looks for scheduled requests and retries now due)

    def check(self) -> list[tuple[str, str]]:
        out = _positive(self, "lease", "beat")
        if self.beat > 0 and self.lease < 2 * self.beat:
            out.append(("lease", "must be at least twice callbacks.beat"))
        if not self.trunk or not all(c.isalnum() or c in "_." for c in self.trunk):
            out.append(("trunk", "must be a PJSIP endpoint name of letters, digits, _ and . (the dialplan filters "
                                 "every other character)"))
        for name in ("ami_username", "desk_id", "caller_id"):
            if any(c in getattr(self, name) for c in "\r\n\0,"):
                out.append((name, "must not contain CR, LF, NUL or commas"))
        if self.secret_file is not None and not Path(self.secret_file).is_file():
            out.append(("secret_file", f"{self.secret_file} is not a file"))
        return out


@dataclass(frozen=True)
class Settings:
    """All settings of one Switchboard process."""

    agi: AGISettings = field(default_factory=AGISettings)
    ami: AMISettings = field(default_factory=AMISettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HTTPSettings = field(default_factory=HTTPSettings)
    ivr: IVRSettings = field(default_factory=IVRSettings)
    cti: CTISettings = field(default_factory=CTISettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    ami_secret: str = field(default="", repr=False)
    http_token: str = field(default="", repr=False)
    cti_pepper: str = field(default="", repr=False)
    originate_secret: str = field(default="", repr=False)


def _port(name: str, value: int, allow_zero: bool = False) -> list[tuple[str, str]]:
    low = 0 if allow_zero else 1
    return [] if low <= value <= 65535 else [(name, f"must be a TCP port {low}-65535")]


def _positive(section: Any, *names: str) -> list[tuple[str, str]]:
    return [(n, "must be greater than 0") for n in names if getattr(section, n) <= 0]


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings) if f.name not in SECRET_FIELDS}


def _coerce(value: Any, hint: Any) -> Any:
    """Convert a YAML value to the field's type, or raise ValueError saying what was expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0])
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("expected a list")
        return tuple(_coerce(v, typing.get_args(hint)[0]) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError("expected true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        return float(value)
    if hint is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError("expected a text value")
        return str(value)
    raise ValueError(f"unsupported type {hint}")


Found = dict[str, tuple[Any, Place]]  # 'section.key' -> (value, where it was given)


def _refusal(section: str, f: dataclasses.Field[Any], value: Any, exc: ValueError) -> str:
    """What is wrong with a value that does not have its field's type; an empty one says what to write."""
    if value is None:
        fix = f.metadata.get(FIX) or f"give it a value, or remove the line to take the default {show(f.default)}"
        return f"{section}.{f.name} is empty; {fix}"
    return f"{section}.{f.name}: {exc}, got {show(value)}"


def _read_file(path: Path, problems: list[Problem], section_places: dict[str, Place]) -> Found:
    """Return {'section.key': (value, place)} from the YAML file; `section_places` gets where each section is."""
    found: Found = {}
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(Place(str(path)), f"cannot read settings file ({exc.strerror}); pass --config "
                                                  "with an existing file"))
        return found
    try:
        doc = parse(raw, str(path))
    except DocumentError as exc:
        problems.extend(exc.problems)
        return found
    if doc is None:
        return found
    top = Place(str(path), 1, 1)
    if not isinstance(doc, CommentedMap):
        problems.append(Problem(top, "the settings file must be a mapping of sections (agi:, ami:, ...)"))
        return found
    sections = _sections()
    for section, body in doc.items():
        where = place_of(doc, section, top)
        section_places[str(section)] = where
        if section not in sections:
            problems.append(Problem(where, f"unknown section {show(section)}"
                                           f"{suggest(str(section), sections, list_choices=True)}"))
            continue
        if body is None:
            continue
        if not isinstance(body, CommentedMap):
            problems.append(Problem(where, f"section {section!r} must be a mapping of keys"))
            continue
        keys = [f.name for f in dataclasses.fields(sections[section])]
        for key, value in body.items():
            if key not in keys:
                problems.append(Problem(place_of(body, key, where), f"unknown key {section}.{key}"
                                                                    f"{suggest(str(key), keys, list_choices=True)}"))
                continue
            found[f"{section}.{key}"] = (value, place_of(body, key, where))
    return found


def _read_env(env: Mapping[str, str], problems: list[Problem]) -> Found:
    found: Found = {}
    sections = _sections()
    yaml = YAML(typ="safe")
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name in (SECRET_ENV, TOKEN_ENV, PEPPER_ENV):
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        where = Place(f"environment {name}")
        if section not in sections:
            problems.append(Problem(where, f"unknown section {section!r}"
                                           f"{suggest(section, sections, list_choices=True)}"))
            continue
        keys = [f.name for f in dataclasses.fields(sections[section])]
        if key not in keys:
            problems.append(Problem(where, f"unknown key {section}.{key}{suggest(key, keys, list_choices=True)}"))
            continue
        try:
            value = yaml.load(raw) if raw.strip() else ""
        except MarkedYAMLError:
            value = raw
        found[f"{section}.{key}"] = (value, where)
    return found


def config_path(given: Path | None, env: Mapping[str, str] | None = None,
                default: Path = DEFAULT_CONFIG) -> Path | None:
    """The settings file to read: the one given (`--config`), else `SWITCHBOARD_CONFIG`, else `default` when it
    exists; None means no file (built-in defaults plus the environment)."""
    env = os.environ if env is None else env
    if given is not None:
        return given
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return default if default.is_file() else None


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None,
                  redis_only: bool = False) -> Settings:
    """Read the settings file (if any), apply environment overrides, check everything; raise SettingsError.

    `redis_only=True` is for commands that only use Redis: a missing AMI secret or a dialplans folder that does not
    exist is then no problem (a value of the wrong type still is)."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    section_places: dict[str, Place] = {}
    values = _read_file(path, problems, section_places) if path is not None else {}
    values.update(_read_env(env, problems))
    built: dict[str, Any] = {}
    for section, cls in _sections().items():
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        places: dict[str, Place] = {}
        refused: set[str] = set()
        for f in dataclasses.fields(cls):
            if f"{section}.{f.name}" not in values:
                continue
            value, place = values[f"{section}.{f.name}"]
            places[f.name] = place
            try:
                kwargs[f.name] = _coerce(value, hints[f.name])
            except ValueError as exc:
                refused.add(f.name)
                problems.append(Problem(place, _refusal(section, f, value, exc)))
        obj = cls(**kwargs)
        unset = section_places.get(section, Place(str(path), 1, 1) if path is not None else Place("default"))
        for key, message in obj.check():
            if key in refused:
                continue  # already reported at its place; the default it fell back to would only confuse
            if redis_only and (section, key) == ("ivr", "dialplans") and obj.dialplans:
                continue  # Redis-only commands read no flows (agents read routing.yaml only when it is there)
            name = f"{section}.{key}" if key in places else f"{section}.{key} (not set)"
            problems.append(Problem(places.get(key, unset), f"{name}: {message}"))
        built[section] = obj
    given = {name: place for name, (_, place) in values.items()}
    secret = _ami_secret(built["ami"], env, given.get("ami.secret_file", Place("ami.secret_file")), problems,
                         not redis_only)
    token = env.get(TOKEN_ENV) or _http_token(built["http"], given.get("http.token_file", Place("http.token_file")),
                                              problems)
    if not token and built["http"].host not in LOOPBACK:
        problems.append(Problem(given.get("http.host", Place("http.host")),
                                f"http.host is {built['http'].host}: state-changing endpoints need a token when "
                                f"exposed; set {TOKEN_ENV} or http.token_file, or keep http.host on 127.0.0.1"))
    originate = _originate_secret(built["callbacks"], built["ami"], env,
                                  given.get("callbacks.secret_file", Place("callbacks.secret_file")), problems)
    if problems:
        raise SettingsError(problems)
    pepper = env.get(PEPPER_ENV) or (Path(built["cti"].pepper_file).read_text(encoding="utf-8").strip()
                                     if built["cti"].pepper_file else "")
    return Settings(**built, ami_secret=secret, http_token=token, cti_pepper=pepper, originate_secret=originate)


def _originate_secret(callbacks: CallbackSettings, ami: AMISettings, env: Mapping[str, str], place: Place,
                      problems: list[Problem]) -> str:
    """The callback AMI user's secret (only needed when callbacks are on and AMI is)."""
    if not callbacks.enabled or not ami.enabled:
        return ""
    if env.get(ORIGINATE_SECRET_ENV):
        return env[ORIGINATE_SECRET_ENV]
    if callbacks.secret_file and Path(callbacks.secret_file).is_file():
        secret = secret_in_file(Path(callbacks.secret_file).read_text(encoding="utf-8"))
        if secret:
            return secret
    problems.append(Problem(place, f"callbacks are enabled but their AMI user has no secret: set "
                                   f"{ORIGINATE_SECRET_ENV} or callbacks.secret_file"))
    return ""


def _http_token(http: HTTPSettings, token_file_place: Place, problems: list[Problem]) -> str:
    """The token from `http.token_file`; a file that cannot be read is a problem at its place (check() has
    already named a missing file or a folder)."""
    if http.token_file is None or not Path(http.token_file).is_file():
        return ""
    try:
        return Path(http.token_file).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        problems.append(Problem(token_file_place, f"http.token_file: cannot read {http.token_file} ({reason})"))
        return ""


def _ami_secret(ami: AMISettings, env: Mapping[str, str], secret_file_place: Place,
                problems: list[Problem], needed: bool = True) -> str:
    if env.get(SECRET_ENV):
        return env[SECRET_ENV]
    if ami.secret_file:
        try:
            text = Path(ami.secret_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            problems.append(Problem(secret_file_place, f"ami.secret_file: cannot read {ami.secret_file} "
                                                       f"({reason})"))
            return ""
        secret = secret_in_file(text)
        if not secret:
            problems.append(Problem(secret_file_place, f"ami.secret_file: {ami.secret_file} holds no secret "
                                                       "(one line: the secret, or Asterisk's `secret=...`)"))
        return secret
    if ami.enabled and needed:
        problems.append(Problem(Place("ami"), f"no secret: set {SECRET_ENV} or ami.secret_file "
                                              "(or ami.enabled: false)"))
    return ""


def secret_in_file(text: str) -> str:
    """The AMI secret in a secret file: its one line, or the value of the `secret=...` line of the
    Asterisk-side include (`switchboard-ami-secret.conf`, `;` comments allowed) so both sides can share one file."""
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(";")]
    for line in lines:
        key, equals, value = line.partition("=")
        if equals and key.strip().lower() == "secret":
            return value.strip()
    return lines[0] if lines else ""

"""The real-component sandbox: Asterisk 22 in a cached chroot, Redis and the Switchboard service as processes.

Owns starting and stopping each real part with the project's own configuration (`asterisk-conf/`), and
waiting for each to be ready by asking it (never by sleeping). Used by the e2e fixtures and by the demo.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import asterisk.manager

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = REPO / "asterisk-conf"
PIECES_DIR = CONF_DIR / "include"  # what operators add to their own PBX; the full files above #include them
DEFAULT_ROOT = Path(os.environ.get("SANDBOX_DIR", REPO / ".sandbox" / "asterisk-root"))
PROVISION = REPO / "tests" / "e2e" / "provision_asterisk.sh"


class SandboxError(RuntimeError):
    """A real component could not be provisioned or started; the message says which and what to do."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `check` (a readiness probe against a real process) until it returns true or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, subprocess.SubprocessError) as exc:
            last = exc
        time.sleep(interval)  # polling an external process that offers no event to await
    raise SandboxError(f"{what} not ready after {timeout:.0f}s ({last})")


def provision(root: Path = DEFAULT_ROOT) -> Path:
    """Build (or reuse) the Asterisk chroot; return its path."""
    env = dict(os.environ, SANDBOX_DIR=str(root))
    result = subprocess.run(["bash", str(PROVISION)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SandboxError(f"provisioning the Asterisk sandbox failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return root


@dataclass
class RedisServer:
    """A private redis-server on a free loopback port, without persistence."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            raise SandboxError("redis-server not found: apt-get install redis-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._pong, 10, "redis-server")
        return self

    def _pong(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def command(self, *words: str) -> str:
        """Run one redis-cli command against this server (used by tests to look at state)."""
        return subprocess.run(["redis-cli", "-p", str(self.port), *words], capture_output=True, text=True,
                              check=True).stdout

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class AsteriskSandbox:
    """Asterisk 22 running in the chroot with `asterisk-conf/`, its own run/log/spool folders and AMI secret."""

    root: Path = DEFAULT_ROOT
    name: str = "e2e"
    agi_url: str = "agi://127.0.0.1:4573"
    process: subprocess.Popen | None = None
    ami_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    # When set: start from Debian's stock /etc/asterisk (the chroot's own) and let this add to it (the folder given
    # is the sandbox's etc), instead of the project's complete configuration.
    stock_additions: Callable[[Path], None] | None = None
    # Stasis message types asterisk-conf/stasis.conf declines that this sandbox lets Asterisk create after all
    # (e.g. agi_exec_start_type for a test that reads AGIExecStart events); read at start-up.
    keep_messages: tuple[str, ...] = ()

    @property
    def inner(self) -> Path:
        """The sandbox's own folder as seen from inside the chroot."""
        return Path("/switchboard") / self.name

    @property
    def outer(self) -> Path:
        return self.root / self.inner.relative_to("/")

    @property
    def log_file(self) -> Path:
        return self.outer / "log" / "messages.log"

    def _write_config(self) -> None:
        if self.outer.exists():
            shutil.rmtree(self.outer)
        etc = self.outer / "etc"
        for sub in ("etc", "run", "log", "spool", "db"):
            (self.outer / sub).mkdir(parents=True)
        if self.stock_additions is not None:
            shutil.rmtree(etc)
            shutil.copytree(self.root / "etc" / "asterisk", etc, symlinks=True)
            self.stock_additions(etc)
        else:
            # the complete files #include the operator's pieces, copied beside them as an operator would
            for conf in [*CONF_DIR.glob("*.conf"), *PIECES_DIR.glob("*.conf")]:
                shutil.copy(conf, etc / conf.name)
            stasis = etc / "stasis.conf"
            stasis.write_text("".join(line for line in stasis.read_text().splitlines(keepends=True)
                                      if line.strip() not in {f"decline={name}" for name in self.keep_messages}))
            ext = etc / "extensions.conf"
            ext.write_text(ext.read_text().replace("SWITCHBOARD_AGI=agi://127.0.0.1:4573",
                                                   f"SWITCHBOARD_AGI={self.agi_url}"))
        secret_file = etc / "switchboard-ami-secret.conf"
        secret_file.write_text(f"secret={self.ami_secret}\n")
        secret_file.chmod(0o600)
        d = self.inner
        (etc / "asterisk.conf").write_text(
            "[directories]\n"
            f"astetcdir => {d}/etc\nastmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules\n"
            f"astvarlibdir => /var/lib/asterisk\nastdbdir => {d}/db\nastkeydir => /var/lib/asterisk\n"
            f"astdatadir => /usr/share/asterisk\nastagidir => /usr/share/asterisk/agi-bin\n"
            f"astspooldir => {d}/spool\nastrundir => {d}/run\nastlogdir => {d}/log\nastsbindir => /usr/sbin\n"
            f"astcachedir => {d}/run\n"
            "[options]\nnofork = yes\nhideconnect = yes\ntransmit_silence = yes\n"
            "maxcalls = 2000\nmaxload = 0\n")

    def cli(self, command: str, timeout: float = 15) -> str:
        """Run an Asterisk CLI command through the remote console socket."""
        result = subprocess.run(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", f"{self.inner}/etc/asterisk.conf", "-rx", command],
            capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise subprocess.SubprocessError(result.stderr or result.stdout)
        return result.stdout

    def quiesce(self, timeout: float = 15) -> None:
        """Hang up every channel a test left behind and wait until Asterisk has none, so no ring reaches the next test."""
        self.cli("channel request hangup all")
        wait_until(lambda: self.cli("core show channels count").lstrip().startswith("0 active channels"),
                   timeout, "Asterisk without channels")

    def start(self) -> "AsteriskSandbox":
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (chroot)")
        provision(self.root)
        hosts = self.root / "etc" / "hosts"
        hosts.write_text(f"127.0.0.1 localhost {socket.gethostname()}\n::1 localhost\n")
        self._write_config()
        self.process = subprocess.Popen(
            ["chroot", str(self.root), "/usr/sbin/asterisk", "-f", "-C", f"{self.inner}/etc/asterisk.conf"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: (self._still_running() and "fully booted" in self.cli("core waitfullybooted").lower()),
                   60, "Asterisk")
        return self

    def _still_running(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise SandboxError(f"Asterisk exited with {self.process.returncode}; see {self.log_file}")
        return True

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.cli("core stop now", timeout=10)
            self.process.wait(15)
        except (subprocess.SubprocessError, OSError):
            self.process.kill()
            self.process.wait(10)


def python_exe() -> str:
    return sys.executable


def http_get(url: str, timeout: float = 2) -> tuple[int, str]:
    """GET a URL; return (status, body) also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class AMIWatcher:
    """A second AMI session on the sandbox that records events, so tests check what Asterisk itself reported.

    It is pyst2's `asterisk.manager` (threads and blocking sockets): a client that shares no code with Switchboard's
    own AMI client (cti/ami_client.py over panoramisk), so a bug there cannot hide in what the tests observe. Its
    dispatch thread hands each event here as a dict; `wait_for` blocks on a condition variable until a matching
    event arrives (no polling).
    """

    def __init__(self, secret: str, port: int = 5038) -> None:
        self.events: list[dict[str, str]] = []
        self._changed = threading.Condition()
        self._manager = asterisk.manager.Manager()
        self._manager.register_event("*", self._record)
        self._manager.connect("127.0.0.1", port)
        # pyst2's login() cannot ask for event classes: the same Login action, with `Events: call`
        reply = self._manager.send_action({"Action": "Login", "Username": "switchboard", "Secret": secret,
                                           "Events": "call"})
        if reply.get_header("Response") != "Success":
            self._manager.close()
            raise SandboxError(f"AMI observer login refused: {reply.get_header('Message')}")

    def _record(self, event: asterisk.manager.Event, manager: asterisk.manager.Manager) -> None:
        with self._changed:
            self.events.append(dict(event.headers))
            self._changed.notify_all()

    def wait_for(self, match: Callable[[dict[str, str]], bool], timeout: float, what: str) -> dict[str, str]:
        with self._changed:
            found = self._changed.wait_for(lambda: next((e for e in self.events if match(e)), None), timeout)
        if not found:
            raise SandboxError(f"no AMI event: {what} (within {timeout:.0f}s)")
        return found

    def close(self) -> None:
        try:
            self._manager.close()  # Logoff, then its threads end when Asterisk closes the connection
        except (asterisk.manager.ManagerException, OSError, ValueError):
            pass  # the connection is gone already (Asterisk stopped or dropped it): pyst2 writes to a closed file


@dataclass
class PrometheusServer:
    """A private Prometheus (Debian package) scraping one target every second, with the repo's rules loaded.

    The rule groups' own `interval`s (30 s, 5 min) are set to 1 s in its copy, so recorded KPIs exist within
    seconds of the first scrape; the expressions are exactly the shipped ones.
    """

    workdir: Path
    target: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "PrometheusServer":
        exe = shutil.which("prometheus")
        if exe is None:
            raise SandboxError("prometheus not found: apt-get install prometheus")
        self.workdir.mkdir(parents=True, exist_ok=True)
        rule_files = []
        for name in ("recording.yml", "resolution.yml", "alerts.yml"):
            text = (REPO / "metrics" / "prometheus" / name).read_text()
            text = re.sub(r"(?m)^(\s+)interval: \S+$", r"\1interval: 1s", text)
            (self.workdir / name).write_text(text)
            rule_files.append(str(self.workdir / name))
        config = self.workdir / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                          f"rule_files: {json.dumps(rule_files)}\n"
                          "scrape_configs:\n  - job_name: switchboard\n"
                          f"    static_configs: [{{targets: ['{self.target}']}}]\n")
        with (self.workdir / "prometheus.log").open("ab") as out:
            self.process = subprocess.Popen(
                [exe, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: http_get(f"{self.url}/-/ready")[0] == 200, 30, "prometheus")
        return self

    def query(self, expr: str) -> list[dict]:
        """Instant query through the HTTP API; the result vector."""
        status, body = http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        if status != 200:
            raise SandboxError(f"prometheus query {expr!r}: HTTP {status}: {body[:300]}")
        return json.loads(body)["data"]["result"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


@dataclass
class SwitchboardProcess:
    """The Switchboard service run as its own process (`switchboard serve`) against the sandbox."""

    workdir: Path
    redis_url: str
    ami_secret: str
    agi_port: int = 4573
    http_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_settings: str = ""  # YAML appended to the settings file (whole sections)
    process: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.workdir / "switchboard.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/metrics"

    def start(self, ready_timeout: float = 30) -> "SwitchboardProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "settings.yaml"
        config.write_text(
            f"agi:\n  port: {self.agi_port}\n  stop_grace: 10\n"
            f"redis:\n  url: {self.redis_url}\n"
            f"http:\n  port: {self.http_port}\n"
            "ami:\n  ping_interval: 5\n  ping_timeout: 3\n" + self.extra_settings)
        env = dict(os.environ, SWITCHBOARD_AMI_SECRET=self.ami_secret, **self.extra_env)
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen([python_exe(), "-m", "switchboard.cli", "serve", "--config", str(config)],
                                            env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT)
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise SandboxError(f"switchboard exited with {self.process.returncode}:\n"
                                   f"{self.log_file.read_text()[-3000:]}")
            return http_get(f"http://127.0.0.1:{self.http_port}/readyz")[0] == 200
        try:
            wait_until(ready, ready_timeout, "switchboard /readyz")
        except SandboxError as exc:
            self.stop()  # never leave a half-started service holding the ports for the next test
            raise SandboxError(f"{exc}\n--- switchboard log ---\n{self.log_file.read_text()[-3000:]}") from None
        return self

    def import_customers(self, rows: list[dict]) -> subprocess.CompletedProcess[str]:
        """Runs `switchboard customers import` with this service's settings and secrets on `rows` (as JSON)."""
        path = self.workdir / "customers.json"
        path.write_text(json.dumps(rows))
        return subprocess.run([python_exe(), "-m", "switchboard.cli", "customers", "import", str(path), "--config",
                               str(self.workdir / "settings.yaml")], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, SWITCHBOARD_AMI_SECRET=self.ami_secret, **self.extra_env))

    def cli(self, *words: str) -> subprocess.CompletedProcess[str]:
        """Runs `switchboard WORDS --config <this service's settings>` with its secrets (e.g. issuing credentials)."""
        return subprocess.run([python_exe(), "-m", "switchboard.cli", *words, "--config",
                               str(self.workdir / "settings.yaml")], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, SWITCHBOARD_AMI_SECRET=self.ami_secret, **self.extra_env))

    def credential(self, *words: str) -> str:
        """Issues a sign-in credential with the real CLI (`agents credential ID`, `supervisor credential NAME`);
        returns the secret it prints."""
        done = self.cli(*words)
        if done.returncode != 0:
            raise SandboxError(f"switchboard {' '.join(words)} failed: {done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def post(self, path: str) -> tuple[int, str]:
        """POST to the service's HTTP side (the control endpoints)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str, labels: str = "") -> float:
        """Read one sample from /metrics (0 when absent)."""
        _, body = http_get(self.metrics_url)
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in body.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self, timeout: float = 20) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

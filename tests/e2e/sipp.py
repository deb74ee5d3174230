"""sipp callers and agents for the e2e tier and the demo: scenario XML built per call, and the sipp processes.

A caller has a caller ID, sends DTMF digits through SIP INFO at given moments and hangs up at a chosen moment (or
waits for the far end to hang up). An agent answers after a ring delay and talks until the caller hangs up, hangs up
itself after a talk time, or never answers.
"""
from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""


def _cdata(text: str) -> str:
    return "<![CDATA[\n" + text.strip("\n") + "\n\n]]>"


def _invite(caller_id: str, dialled: str) -> str:
    user = escape(caller_id) if caller_id else "anonymous"
    return f"""INVITE sip:{dialled}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialled}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

""" + SDP


def _in_dialog(method: str, dialled: str, body: str = "", content_type: str = "") -> str:
    ctype = f"Content-Type: {content_type}\n" if content_type else ""
    return f"""{method} [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{dialled}@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: [cseq] {method}
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
{ctype}Content-Length: [len]

{body}"""


@dataclass(frozen=True)
class Caller:
    """One scripted caller: who calls, what they press and when, and how the call ends."""

    caller_id: str = "+441632960001"
    dialled: str = "1000"
    digits: tuple[tuple[int, str], ...] = ()   # (milliseconds to wait before, digit), in order
    hangup_after_ms: int | None = 3000        # after the last digit; None = wait for the far end's BYE
    expect_answer: bool = True

    def scenario(self) -> str:
        steps = [f'<send retrans="500"> {_cdata(_invite(self.caller_id, self.dialled))} </send>',
                 '<recv response="100" optional="true"/>',
                 '<recv response="180" optional="true"/>',
                 '<recv response="183" optional="true"/>',
                 '<recv response="200" rrs="true"/>',
                 f'<send> {_cdata(_in_dialog("ACK", self.dialled).replace("CSeq: [cseq] ACK", "CSeq: 1 ACK"))} </send>']
        for wait_ms, digit in self.digits:
            signal = {"*": "10", "#": "11"}.get(digit, digit)
            steps.append(f'<pause milliseconds="{wait_ms}"/>')
            info = _in_dialog("INFO", self.dialled, f"Signal={signal}\nDuration=160\n", "application/dtmf-relay")
            steps.append(f"<send> {_cdata(info)} </send>")
            steps.append('<recv response="200"/>')
        if self.hangup_after_ms is None:
            steps.append('<recv request="BYE"/>')
            steps.append(f'<send> {_cdata(_answer_bye())} </send>')
        else:
            steps.append(f'<pause milliseconds="{self.hangup_after_ms}"/>')
            steps.append(f'<send retrans="500"> {_cdata(_in_dialog("BYE", self.dialled))} </send>')
            steps.append('<recv response="200" crlf="true"/>')
        return _document("switchboard caller", steps)


def _answer_bye() -> str:
    return """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
"""


def _reply(code: str, with_sdp: bool = False) -> str:
    head = f"""SIP/2.0 {code}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
"""
    if with_sdp:
        return head + "Content-Type: application/sdp\nContent-Length: [len]\n\n" + SDP
    return head + "Content-Length: 0\n"


@dataclass(frozen=True)
class Agent:
    """One agent phone: rings for `ring_ms`, then answers (or never does), then talks."""

    name: str = "agent1"
    port: int = 5071
    ring_ms: int = 300
    answers: bool = True
    talk_ms: int | None = None   # None: stay on the call until the caller hangs up

    def scenario(self) -> str:
        invite = '<recv request="INVITE" crlf="true"/>'
        if self.answers and self.talk_ms is not None:  # sipp refuses variables that are set but never used
            invite = ('<recv request="INVITE" crlf="true"><action><ereg regexp="sip:[^>;]*" search_in="hdr" '
                      'header="Contact:" check_it="true" assign_to="peer"/></action></recv>')
        steps = [invite,
                 f'<send> {_cdata(_reply("100 Trying"))} </send>',
                 f'<send> {_cdata(_reply("180 Ringing"))} </send>']
        if not self.answers:
            # The 487 answers the INVITE: same CSeq number as the CANCEL, method INVITE.
            terminated = _reply("487 Request Terminated").replace("[last_CSeq:]", "CSeq: [$cseq] INVITE")
            steps += ['<recv request="CANCEL"><action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" '
                      'assign_to="cseq"/></action></recv>',
                      f'<send> {_cdata(_reply("200 OK"))} </send>',
                      f'<send> {_cdata(terminated)} </send>',
                      '<recv request="ACK"/>']
            return _document(f"switchboard agent {self.name} (never answers)", steps)
        steps += [f'<pause milliseconds="{self.ring_ms}"/>',
                  f'<send retrans="500"> {_cdata(_reply("200 OK", with_sdp=True))} </send>']
        if self.talk_ms is None:
            steps += ['<recv request="ACK" rtd="true" crlf="true"/>',
                      '<recv request="BYE"/>', f'<send> {_cdata(_answer_bye())} </send>']
        else:
            # The agent hangs up: its BYE goes From our side of the dialog (the ACK's To, with our tag) To
            # Asterisk's side (the ACK's From), at the Contact Asterisk gave in its INVITE.
            steps.append('<recv request="ACK" rtd="true" crlf="true"><action>'
                         '<ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="theirs"/>'
                         '<ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="ours"/>'
                         '</action></recv>')
            bye = """BYE [$peer] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$ours]
To: [$theirs]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
"""
            steps += [f'<pause milliseconds="{self.talk_ms}"/>', f'<send retrans="500"> {_cdata(bye)} </send>',
                      '<recv response="200"/>']
        return _document(f"switchboard agent {self.name}", steps)


def _document(name: str, steps: list[str]) -> str:
    body = "\n  ".join(steps)
    return (f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<scenario name="{escape(name)}">\n  {body}\n</scenario>\n')


@dataclass
class SippRun:
    """A running sipp process playing one scenario `calls` times; `wait()` returns its exit code."""

    role: str
    workdir: Path
    process: subprocess.Popen
    log: Path

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def errors(self) -> str:
        err = sorted(self.workdir.glob("*_errors.log"))
        text = err[0].read_text()[-3000:] if err else ""
        return text + (self.log.read_text()[-2000:] if self.log.exists() else "")

    def statistics(self) -> dict[str, str]:
        """sipp's own cumulative counters (the last row of `stats.csv`, written by a `SippFactory.load` run):
        e.g. `TotalCallCreated`, `SuccessfulCall(C)`, `FailedCall(C)`; empty when sipp wrote none."""
        path = self.workdir / "stats.csv"
        if not path.exists():
            return {}
        rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
        return {k: v for k, v in rows[-1].items() if k} if rows else {}


@dataclass
class SippFactory:
    """Starts sipp processes against Asterisk's SIP port on loopback, each in its own folder."""

    workdir: Path
    asterisk_sip: str = "127.0.0.1:5060"
    _count: int = field(default=0)
    runs: list[SippRun] = field(default_factory=list)

    def stop_all(self) -> None:
        """Stops every sipp still running (a failed test must not leave phones bound to their ports)."""
        for run in self.runs:
            run.stop()

    def _start(self, role: str, xml: str, args: list[str]) -> SippRun:
        exe = shutil.which("sipp")
        if exe is None:
            raise RuntimeError("sipp not found: apt-get install sip-tester")
        self._count += 1
        folder = self.workdir / f"{self._count:03d}-{role}"
        folder.mkdir(parents=True)
        (folder / "scenario.xml").write_text(xml)
        log = folder / "sipp.out"
        cmd = [exe, "-sf", "scenario.xml", "-i", "127.0.0.1", "-nostdin", "-trace_err", *args]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=folder, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        run = SippRun(role, folder, proc, log)
        self.runs.append(run)
        return run

    def caller(self, caller: Caller, calls: int = 1, rate: float = 1.0, timeout_s: int = 60) -> SippRun:
        return self._start("caller", caller.scenario(),
                           [self.asterisk_sip, "-p", "0", "-m", str(calls), "-r", str(rate), "-l", str(calls),
                            "-timeout", f"{timeout_s}s", "-timeout_error", "-recv_timeout", "30s"])

    def load(self, caller: Caller, calls: int, rate: float, caller_ids: Sequence[str] = (),
             timeout_s: int = 120) -> SippRun:
        """A load step: `calls` calls placed at `rate` per second, without a limit on simultaneous calls. With
        `caller_ids` the calls take them in turn (sipp's injection file; the Caller's own caller ID is not used).
        sipp writes its statistics for `SippRun.statistics()`."""
        args = [self.asterisk_sip, "-p", "0", "-m", str(calls), "-r", f"{rate:g}", "-l", str(max(calls, 1)),
                "-timeout", f"{timeout_s}s", "-timeout_error", "-recv_timeout", "30s",
                "-trace_stat", "-stf", "stats.csv", "-fd", "1"]
        if caller_ids:
            self._count += 1  # the injection file gets a name of its own beside the run folders
            numbers = self.workdir / f"{self._count:03d}-caller-ids.csv"
            numbers.parent.mkdir(parents=True, exist_ok=True)
            numbers.write_text("SEQUENTIAL\n" + "".join(f"{number};\n" for number in caller_ids))
            caller = replace(caller, caller_id="[field0]")
            args += ["-inf", str(numbers)]
        return self._start("caller", caller.scenario(), args)

    def agent(self, agent: Agent, calls: int = 1) -> SippRun:
        return self._start(agent.name, agent.scenario(), ["-p", str(agent.port), "-m", str(calls)])

"""The `switchboard` admin commands answer bad input and refusals with one clear line, never a traceback
(issue 14, defects 3, 4, 5 and 14)."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from switchboard.cli import main as cli

DIALPLANS = Path(__file__).parents[2] / "dialplans"


def test_simulate_refuses_a_time_that_is_not_iso(capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate main --at tomorrow` is a usage error naming the format, not a ValueError traceback."""
    with pytest.raises(SystemExit) as exit_:
        cli(["simulate", "main", "--dialplans", str(DIALPLANS), "--at", "tomorrow"])
    assert exit_.value.code == 2
    assert "'tomorrow' is not an ISO 8601 time" in capsys.readouterr().err


@pytest.mark.parametrize("output, message", [("/nonexistent/x.svg", "folder /nonexistent does not exist"),
                                             ("x.foo", "the suffix picks the format")])
def test_graph_bad_output_is_one_line(output: str, message: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`graph -o` into a missing folder or with an unknown suffix says so (exit 1), no CalledProcessError."""
    target = output if output.startswith("/") else str(tmp_path / output)
    assert cli(["graph", "main", "--dialplans", str(DIALPLANS), "-o", target]) == 1
    assert message in capsys.readouterr().err


def test_graph_takes_a_dialled_number(tmp_path: Path) -> None:
    """`graph 2000` draws the flow numbers.yaml gives 2000, as simulate does."""
    assert cli(["graph", "2000", "--dialplans", str(DIALPLANS), "-o", str(tmp_path / "g.dot")]) == 0
    assert 'digraph "main"' in (tmp_path / "g.dot").read_text()


@pytest.mark.parametrize("option, value, message", [("--segment", "platinum", "invalid choice: 'platinum'"),
                                                    ("--digits", "x,y", "'x' is not keys")])
def test_simulate_refuses_unknown_segment_and_keys(option: str, value: str, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A segment outside the closed list and digits that are no keys are usage errors, not silently accepted."""
    with pytest.raises(SystemExit) as exit_:
        cli(["simulate", "main", "--dialplans", str(DIALPLANS), option, value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_every_command_and_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Each subcommand has a description and every option and argument (including --config) a help text."""
    import argparse
    seen: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *a: object, **k: object) -> argparse.Namespace:
        seen.append(self)
        raise SystemExit(0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", capture)
        with pytest.raises(SystemExit):
            cli(["--help"])
    assert seen
    commands = next(a for a in seen[0]._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in commands.choices.items():
        assert parser.description, name
        for action in parser._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"


@pytest.fixture
def refusing_service() -> Iterator[int]:
    """An HTTP server answering every POST with 401, as the service does without the bearer token."""
    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = b'{"error": "missing or wrong bearer token"}\n'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_reload_without_token_says_unauthorised(refusing_service: int, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`reload` refused with 401 says unauthorised and how to give the token, not `rejected: version None`."""
    monkeypatch.setenv("SWITCHBOARD_AMI_SECRET", "x")
    monkeypatch.setenv("SWITCHBOARD_HTTP__PORT", str(refusing_service))
    monkeypatch.delenv("SWITCHBOARD_HTTP_TOKEN", raising=False)
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    assert cli(["reload", "--config", "/dev/null"]) == 1
    out = capsys.readouterr()
    assert "unauthorised (401)" in out.err and "SWITCHBOARD_HTTP_TOKEN" in out.err
    assert "version None" not in out.out + out.err


@pytest.mark.parametrize("argv", [["agents", "list"], ["route", "explain", "1234.5"],
                                  ["customers", "export", "out.csv"]])
def test_redis_only_commands_do_not_ask_for_the_ami_secret(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    """agents, route and customers only use Redis: with no AMI secret they reach Redis (here: none listening)."""
    monkeypatch.delenv("SWITCHBOARD_AMI_SECRET", raising=False)
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    monkeypatch.setenv("SWITCHBOARD_REDIS__URL", "redis://127.0.0.1:1/0")
    monkeypatch.chdir(tmp_path)
    assert cli([*argv, "--config", "/dev/null"]) == 2
    err = capsys.readouterr().err
    assert "no secret" not in err and "SWITCHBOARD_AMI_SECRET" not in err


def test_simulate_an_unlisted_number_takes_the_default_flow(capsys: pytest.CaptureFixture[str]) -> None:
    """`simulate 9999` runs numbers.yaml's `default:` flow as a live call would (issue 14, defect 2)."""
    assert cli(["simulate", "9999", "--dialplans", str(DIALPLANS), "--digits", "-"]) == 0
    assert capsys.readouterr().out.startswith("flow main ")


def test_simulate_can_script_a_caller_hang_up(capsys: pytest.CaptureFixture[str]) -> None:
    """`--hangup-after 1` makes the caller hang up at the first chance to press a key (issue 14, defect 2)."""
    argv = ["simulate", "main", "--dialplans", str(DIALPLANS), "--at", "2026-11-23T10:00+00:00", "--hangup-after", "1"]
    assert cli(argv) == 0
    assert "outcome:     abandoned" in capsys.readouterr().out


def test_simulate_rings_the_agent_routing_yaml_would_pick(capsys: pytest.CaptureFixture[str]) -> None:
    """Menu 3 (sales) rings agent3, the agent routing.yaml's rules pick, not always PJSIP/agent1, and says why;
    with agent3 away the caller waits for the relaxation to add `general` (issue 14, defect 2)."""
    argv = ["simulate", "main", "--dialplans", str(DIALPLANS), "--at", "2026-11-23T10:00+00:00", "--digits=-,3"]
    assert cli(argv) == 0
    out = capsys.readouterr().out
    assert "destination: agent:agent3" in out
    assert "routing:     sales: agent3 (PJSIP/agent3): sales 6 (needs sales>=2), the only agent who fits" in out
    assert cli([*argv, "--away", "agent3"]) == 0
    out = capsys.readouterr().out
    assert "destination: agent:agent1" in out
    assert ("routing:     sales: at first no agent fits sales>=2 (agent1 no sales; agent2 no sales; agent3 away); "
            "after 20 s in line (relaxation fast: level>=1, +general): agent1 (PJSIP/agent1): general 5") in out


def test_simulate_away_names_agents_of_routing_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    """`--away agent9` is refused, naming the agents routing.yaml has."""
    assert cli(["simulate", "main", "--dialplans", str(DIALPLANS), "--away", "agent9"]) == 2
    assert "no agent agent9" in capsys.readouterr().err


def test_simulate_with_a_routing_yaml_without_agents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A routing.yaml listing no agents: nobody takes the call, which overflows at the default profile's step."""
    (tmp_path / "routing.yaml").write_text("skills: [billing]\nrelaxation: {default: [{after: 45, overflow: true}]}\n")
    (tmp_path / "main.yaml").write_text(
        "flows:\n  main:\n    start: queue\n    nodes:\n"
        "      queue: {type: route, skills: {billing: 5}, overflow: bye}\n      bye: {type: hangup}\n")
    assert cli(["simulate", "main", "--dialplans", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "path:        main.queue -> main.bye" in out
    assert ("routing:     billing: no agent fits billing>=5 (routing.yaml lists no agents); relaxation default "
            "overflows after 45 s in line") in out


def test_import_lists_some_bad_rows_then_counts_them_by_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A file of bad phones prints a few rows and a summary by reason, not one line per row (issue 14, #13)."""
    monkeypatch.delenv("SWITCHBOARD_AMI_SECRET", raising=False)
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    monkeypatch.setenv("SWITCHBOARD_REDIS__URL", "redis://127.0.0.1:1/0")  # a dry run never connects
    path = tmp_path / "customers.csv"
    path.write_text("id,name,phones,segment\n" + "".join(f"c{i},N,12,gold\n" for i in range(500)))
    assert cli(["customers", "import", str(path), "--dry-run", "--config", "/dev/null"]) == 1
    out = capsys.readouterr()
    assert len(out.err.splitlines()) < 30
    assert "500 x phone 1 is not a valid number" in out.err and "... and 480 more refused row(s)" in out.err
    assert "would import 0 customer(s), refused 500 row(s)" in out.out and "dry run" in out.out


def test_import_refuses_a_spreadsheet_with_the_way_to_a_csv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """issue 14, defect 13: `customers import people.xlsx` is one clear error saying to save it as CSV, before
    Redis is asked anything."""
    monkeypatch.delenv("SWITCHBOARD_CONFIG", raising=False)
    monkeypatch.setenv("SWITCHBOARD_REDIS__URL", "redis://127.0.0.1:1/0")  # nothing listens: a try would say so
    path = tmp_path / "people.xlsx"
    path.write_bytes(b"PK\x03\x04 a zip, as .xlsx files are")
    assert cli(["customers", "import", str(path), "--config", "/dev/null"]) == 2
    out = capsys.readouterr()
    assert out.err.splitlines() == [f"switchboard: {path}: a .xlsx spreadsheet cannot be imported; save it as "
                                    "\"CSV UTF-8\" from the spreadsheet program and import that .csv "
                                    "(nothing was imported)"]
    assert out.out == ""


def test_graph_labels_branch_edges_with_their_conditions(tmp_path: Path) -> None:
    """A branch's edges say which condition leads where, not just "conditions" (issue 14, #14)."""
    assert cli(["graph", "main", "--dialplans", str(DIALPLANS), "-o", str(tmp_path / "g.dot")]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert '"main.recognised" -> "main.retention_agents" [label="segment: at-risk & known: true"]' in dot
    assert 'label="conditions"' not in dot

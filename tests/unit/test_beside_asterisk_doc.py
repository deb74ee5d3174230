"""README "Beside your Asterisk" and the e2e test that follows it (tests/e2e/beside_stock.py) say the same steps;
the pieces they name exist; the sandbox's complete files include them with the same lines."""
from __future__ import annotations

from pathlib import Path

from switchboard.asterisk_check import _agi_ports, agent_endpoints
from tests.e2e.beside_stock import APPENDED, COPIED, ORIGINATE_SECRET_FILE, PIECES

REPO = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Beside your Asterisk")
    return text[start:text.index("\n## ", start + 1)]


def test_every_line_the_e2e_adds_is_in_the_readme_section() -> None:
    """Each appended line and each copy the stock e2e test makes is written in the README section."""
    section = _section()
    for name, lines in APPENDED:
        assert f"`{name}`" in section, name
        for line in lines:
            assert f"\n   {line}\n" in section, line
    for piece, target in COPIED:
        assert (PIECES / piece).is_file(), piece
        assert piece in section and Path(target).name in section, target
    assert f"/etc/asterisk/{ORIGINATE_SECRET_FILE}" in section  # step 7, as beside_stock.add_callbacks writes it


def test_complete_files_include_the_pieces_as_operators_do() -> None:
    """The sandbox's complete extensions/pjsip/manager.conf #include the pieces with the README's lines."""
    conf = REPO / "asterisk-conf"
    assert "#include extensions_switchboard.conf" in (conf / "extensions.conf").read_text()
    pjsip = (conf / "pjsip.conf").read_text()
    assert "#include pjsip_switchboard_callers.conf" in pjsip and "#include pjsip_switchboard_agents.conf" in pjsip
    assert "#include manager_switchboard.conf" in (conf / "manager.conf").read_text()
    assert "[switchboard]" not in (conf / "manager.conf").read_text()  # the user lives only in the piece


def test_agi_ports_read_from_dialplan_lines() -> None:
    """The agi:// URLs in AGI() and Set() lines give host and port (4573 when none is written)."""
    entries = [{"Application": "Set", "AppData": "SWITCHBOARD_AGI=agi://127.0.0.1:4573"},
               {"Application": "AGI", "AppData": "agi://10.0.0.5/inbound"},
               {"Application": "NoOp", "AppData": "agi://ignored:1"}]
    assert _agi_ports(entries) == [("127.0.0.1", 4573), ("10.0.0.5", 4573)]


def test_agent_endpoints_from_routing_else_the_settings_endpoint(tmp_path: Path) -> None:
    """routing.yaml's agents' endpoints are checked; without agents, the settings' ivr.agent_endpoint."""
    assert agent_endpoints(REPO / "dialplans", "PJSIP/x") == ["PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"]
    assert agent_endpoints(REPO / "examples" / "first-flow", "PJSIP/agent1") == ["PJSIP/agent1"]
    assert agent_endpoints(tmp_path, "PJSIP/agent7") == ["PJSIP/agent7"]

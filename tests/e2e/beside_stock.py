"""What README "Beside your Asterisk" adds to an Asterisk with Debian's stock /etc/asterisk, applied to a sandbox.

Each step here is one step of that README section, with the same file names and lines (tests/unit/
test_beside_asterisk_doc.py checks every line below appears in the section, so the two cannot drift apart).
"""
from __future__ import annotations

import shutil
from pathlib import Path

PIECES = Path(__file__).resolve().parents[2] / "asterisk-conf" / "include"

# (file under /etc/asterisk, the lines the README says to append to it)
APPENDED = (
    ("extensions.conf", ("#include extensions_switchboard.conf",)),
    ("pjsip.conf", ("[transport-udp]", "type=transport", "protocol=udp", "bind=127.0.0.1:5060",
                    "#include pjsip_switchboard_callers.conf", "#include pjsip_switchboard_agents.conf")),
    ("rtp.conf", ("[general](+)", "icesupport=no")),
)
# (piece in asterisk-conf/include, where the README copies it under /etc/asterisk)
COPIED = (
    ("extensions_switchboard.conf", "extensions_switchboard.conf"),
    ("pjsip_switchboard_callers.conf", "pjsip_switchboard_callers.conf"),
    ("pjsip_switchboard_agents.conf", "pjsip_switchboard_agents.conf"),
    ("manager_switchboard.conf", "manager.d/switchboard.conf"),
)


# README step 7 (callbacks): the originate user's secret file, beside the service user's
ORIGINATE_SECRET_FILE = "switchboard-ami-originate-secret.conf"


def add_switchboard(etc: Path) -> None:
    """Copies the pieces and appends the lines, as an operator following the README does (the secret file is
    written by the sandbox itself, as for the complete configuration)."""
    for piece, target in COPIED:
        shutil.copy(PIECES / piece, etc / target)
    for name, lines in APPENDED:
        with (etc / name).open("a") as out:
            out.write("\n" + "\n".join(lines) + "\n")


def add_callbacks(etc: Path, originate_secret: str) -> None:
    """README step 7 on top of the others: the [switchboard-originate] user (in the manager piece already copied)
    gets its secret file; the [switchboard-callback] context came with the dialplan piece."""
    secret_file = etc / ORIGINATE_SECRET_FILE
    secret_file.write_text(f"secret={originate_secret}\n")
    secret_file.chmod(0o600)

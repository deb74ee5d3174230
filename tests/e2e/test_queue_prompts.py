"""Asterisk has every fixed prompt a caller in line can hear (the announcements and the callback conversation) in
every language the example dialplans use, as Asterisk itself indexes its sounds (`core show sound NAME`)."""
from __future__ import annotations

from pathlib import Path

from switchboard.ivr import queue_announcements, queue_callback
from switchboard.ivr.flow_loader import load_dialplan
from switchboard.ivr.flow_model import Prompts
from switchboard.ivr.nodes.language import LanguageNode
from switchboard.ivr.nodes.route import RouteNode
from tests.e2e.sandbox import AsteriskSandbox

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = (REPO / "dialplans", REPO / "examples" / "first-flow")
FIXED = sorted(queue_announcements.PROMPTS | queue_callback.PROMPTS)


def dialplan_languages(folder: Path) -> set[str]:
    """The languages a dialplans folder's callers can be in: Asterisk's default (en), those a language node offers,
    those prompts are given in, and those route nodes ask agents to speak."""
    plan, _ = load_dialplan(folder)
    languages = {"en"}
    for flow in plan.flows.values():
        for node in flow.nodes.values():
            spec = node.spec
            if isinstance(spec, LanguageNode):
                languages |= set(spec.choices.values())
            if isinstance(spec, RouteNode) and spec.language:
                languages.add(spec.language)
            for value in vars(spec).values():
                if isinstance(value, Prompts):
                    languages |= {lang for lang in value.by_language if lang}
    return languages


def indexed_languages(asterisk: AsteriskSandbox, name: str) -> set[str]:
    """The languages Asterisk's sound index has `name` in, with at least one format."""
    out = asterisk.cli(f"core show sound {name}")
    languages: set[str] = set()
    current = None
    for line in out.splitlines():
        text = line.strip()
        if text.startswith("Language ") and text.endswith(":"):
            current = text[len("Language "):-1]
        elif text.startswith("Format: ") and current is not None:
            languages.add(current)
    return languages


def test_every_fixed_queue_prompt_is_in_asterisks_sounds_in_every_example_language(
        asterisk: AsteriskSandbox) -> None:
    """issue 15: each announcement and callback prompt exists in Asterisk's sounds in every language the example
    dialplans use (not only through Asterisk's fallback to English)."""
    languages = set().union(*(dialplan_languages(folder) for folder in EXAMPLES))
    assert {"en", "fr"} <= languages
    missing = {name: sorted(languages - indexed_languages(asterisk, name)) for name in FIXED}
    assert {name: langs for name, langs in missing.items() if langs} == {}

"""Whether a sounds folder has the fixed prompts a caller in line can hear, in each language the flows use.

A route node's `announce` and `callback` play fixed core-sound names (`queue_announcements.PROMPTS`,
`queue_callback.PROMPTS`) in the channel's language. Asterisk looks a prompt up in that language (fr_CA, then fr),
then in English: a prompt missing in a language callers can be in is heard in English (a warning: install that
language's core sounds), one missing in English too is not heard at all (an error). The validator runs this when
it is given a sounds folder (`validate --sounds`, `ivr.sounds_dir`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from switchboard.ivr import queue_announcements, queue_callback
from switchboard.ivr.flow_model import Flow, Prompts
from switchboard.ivr.nodes.language import LanguageNode
from switchboard.ivr.nodes.route import RouteNode
from switchboard.yamldoc.problems import Problem

FALLBACK = "en"  # Asterisk's default language: where a prompt missing in the channel's language is looked up last
SHOWN = 4  # names listed in one finding; the rest are counted


def languages_used(flows: Mapping[str, Flow]) -> set[str]:
    """The languages callers of these flows can be in: Asterisk's default (en), those a language node offers,
    those prompts are written in, and those route nodes ask agents to speak."""
    languages = {FALLBACK}
    for flow in flows.values():
        for node in flow.nodes.values():
            spec = node.spec
            if isinstance(spec, LanguageNode):
                languages |= set(spec.choices.values())
            if isinstance(spec, RouteNode) and spec.language:
                languages.add(spec.language)
            languages |= {lang for value in vars(spec).values() if isinstance(value, Prompts)
                          for lang in value.by_language if lang}
    return languages


def queue_prompts(spec: RouteNode) -> frozenset[str]:
    """The fixed prompts a caller waiting at this route node can hear."""
    names: frozenset[str] = frozenset()
    if spec.announce is not None:
        names |= queue_announcements.PROMPTS
    if spec.callback is not None:
        names |= queue_callback.PROMPTS
    return names


def _in(present: set[str], language: str, name: str) -> bool:
    """Whether Asterisk finds `name` for a channel in `language` before falling back (fr_CA, then fr)."""
    parts = language.split("_")
    return any(f"{'_'.join(parts[:n])}/{name}" in present for n in range(len(parts), 0, -1))


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown if len(names) <= SHOWN else f"{shown} and {len(names) - SHOWN} more"


def queue_sound_problems(flows: Mapping[str, Flow], sounds_dir: Path, present: set[str]) -> list[Problem]:
    """Each route node's fixed prompts missing from the sounds folder: per language when the folder holds language
    folders (sounds/en, sounds/fr), else (one language's folder) by name. `present` is the folder's sound names
    (`flow_loader.sound_names`)."""
    languages = sorted(languages_used(flows))
    by_language = any((sounds_dir / lang).is_dir() for lang in languages)
    out: list[Problem] = []
    for flow in flows.values():
        for node in flow.nodes.values():
            if not isinstance(node.spec, RouteNode) or not queue_prompts(node.spec):
                continue
            names = sorted(queue_prompts(node.spec))
            where = node.places.get("announce" if node.spec.announce is not None else "callback", node.place)
            if not by_language:
                absent = [n for n in names if n not in present]
                if absent:
                    out.append(Problem(where, f"node {node.name!r}: callers in line would not hear "
                                              f"{_listed(absent)}: not in {sounds_dir} (install Asterisk's core "
                                              "sounds)"))
                continue
            for lang in languages:
                lacking = [n for n in names if not _in(present, lang, n)]
                english = [n for n in lacking if _in(present, FALLBACK, n)]
                unheard = [n for n in lacking if n not in english]
                if unheard:
                    out.append(Problem(where, f"node {node.name!r}: callers in {lang} would not hear "
                                              f"{_listed(unheard)}: in {sounds_dir} neither in {lang} nor in "
                                              f"{FALLBACK} (install Asterisk's {lang} core sounds)"))
                if english and lang != FALLBACK:
                    out.append(Problem(where, f"node {node.name!r}: callers in {lang} hear {_listed(english)} "
                                              f"in English: {sounds_dir / lang} lacks them (install Asterisk's "
                                              f"{lang} core sounds)", "warning"))
    return out

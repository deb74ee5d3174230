"""YAML documents an admin edits, read with positions: every finding names `file:line:column`.

A leaf package: it imports only ruamel and the standard library, so ivr, cti, router and switchboard may all use
it. `parsing` turns bytes into ruamel's position-keeping document (duplicate keys, impossible dates, scanner and
reader errors become positioned problems); `positions` says where a key or item is; `problems` shapes a finding
and the words in it (did-you-mean, how a wrong value is named).
"""
from __future__ import annotations

from switchboard.yamldoc.parsing import parse
from switchboard.yamldoc.positions import Place, place_of, written_key
from switchboard.yamldoc.problems import DocumentError, Problem, Severity, show, suggest

__all__ = ["DocumentError", "Place", "Problem", "Severity", "parse", "place_of", "show", "suggest", "written_key"]

"""Lua lives in .lua files that the store modules load; no Python file under the packages holds Lua."""
from __future__ import annotations

from pathlib import Path

from switchboard.cti import cti_store
from switchboard.router import callback_store, route_store

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "cti", "router", "metrics", "switchboard")


def test_every_router_lua_file_is_part_of_a_script() -> None:
    """Each file in router/lua/ is the prelude or a script body, and every built script holds the prelude."""
    files = {p.stem for p in (ROOT / "router" / "lua").glob("*.lua")}
    assert files == {"prelude", *route_store.SCRIPTS, *callback_store.SCRIPTS}
    prelude = route_store.lua_source("prelude")
    for name, source in route_store.build_scripts().items():
        assert source.startswith(f"local P = '{route_store.PREFIX}'\n") and prelude in source
        assert source.endswith(route_store.lua_source(name))


def test_every_cti_lua_file_is_part_of_a_script() -> None:
    """Each file in cti/lua/ is loaded as one of the CTI store's scripts."""
    files = {p.stem for p in (ROOT / "cti" / "lua").glob("*.lua")}
    assert files == set(cti_store.SCRIPTS)
    for name, source in cti_store.build_scripts().items():
        assert source.endswith(cti_store.lua_source(name))


def test_no_python_module_holds_lua() -> None:
    """No .py file under the packages contains `redis.call(` (Lua belongs in .lua files)."""
    offenders = [str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")
                 if "redis.call(" in p.read_text(encoding="utf-8")]
    assert offenders == []

"""Lua lives in .lua files that the store modules load; no Python file under the packages holds Lua."""
from __future__ import annotations

from pathlib import Path

from switchboard.cti import cti_store
from switchboard.router import callback_store, route_store
from switchboard.redislane.function_library import FunctionLibrary

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ivr", "cti", "router", "metrics", "switchboard")


def test_every_router_lua_file_is_part_of_the_library() -> None:
    """Each file in router/lua/ is the prelude or a script body; the library holds the prelude once, at its top,
    and every body once, as a function whose name carries the library's hash."""
    files = {p.stem for p in (ROOT / "router" / "lua").glob("*.lua")}
    assert files == {"prelude", *route_store.SCRIPTS, *callback_store.SCRIPTS}
    library = route_store.build_library()
    prelude = route_store.lua_source("prelude")
    assert library.source.startswith(f"#!lua name={library.name}\nlocal P = '{route_store.PREFIX}'\n" + prelude)
    assert library.source.count(prelude) == 1
    digest = library.name.rsplit("_", 1)[1]
    for name in (*route_store.SCRIPTS, *callback_store.SCRIPTS):
        assert library.source.count(route_store.lua_source(name)) == 1
        assert library.function_name(name) == f"{name}_{digest}"


def test_the_library_name_follows_its_source() -> None:
    """Another version of the Lua is another library with other function names (rolling upgrades share Redis)."""
    same = route_store.build_library()
    other = FunctionLibrary(route_store.LIBRARY, "local P = 'other'\n", {"offer_call": "return 1"})
    assert same.name == route_store.build_library().name and same.source == route_store.build_library().source
    assert other.name != same.name and other.function_name("offer_call") != same.function_name("offer_call")
    assert "flags = {'no-writes'}" in same.source.split("function_name = 'line_position_")[1].split("\n")[0]
    assert "no-writes" not in same.source.split("function_name = 'offer_call_")[1].split("\n")[0]


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

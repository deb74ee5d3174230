"""The router's Lua as one Redis Functions library, against a real redis-server: loaded when Redis lacks it (on the
trip lane and on direct calls), one prelude for every function, versions side by side, flags as declared."""
from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from switchboard.redislane.function_library import FunctionLibrary
from switchboard.router.callback_store import CallbackStore
from switchboard.router.route_store import RouteStore, build_library
from switchboard.router.routing_config import AgentSeed


async def _library_names(redis: Redis) -> set[str]:
    listed = await redis.execute_command("FUNCTION", "LIST")
    return {entry[b"library_name"].decode() for entry in listed}


async def test_a_store_loads_the_library_once_for_all_its_scripts(redis: Redis) -> None:
    """After FUNCTION FLUSH the first direct call and the first trip load the one library; every router and
    callback script is then a function of it."""
    await redis.function_flush()
    store, desk = RouteStore(redis), CallbackStore(redis)
    assert await store.upsert_agent(AgentSeed("a1", "A1", "PJSIP/a1", {"billing": 5}, ("en",))) == "logged_out"
    assert await _library_names(redis) == {build_library().name}
    await redis.function_flush()
    assert (await store.offer("u1", {"billing": 1}, (), "", 10, 0, "", "", "q", "standard")).status == "queued"
    assert await desk.claim("desk", "me", 5)
    listed = await redis.execute_command("FUNCTION", "LIST", "LIBRARYNAME", build_library().name)
    flags = {f[b"name"].decode().rsplit("_", 1)[0]: f[b"flags"] for f in listed[0][b"functions"]}
    assert len(flags) == 20 and flags["line_position"] == [b"no-writes"] and flags["offer_call"] == []


async def test_two_versions_of_the_lua_share_one_redis(redis: Redis) -> None:
    """A rolling upgrade: an instance with other Lua loads its own library beside this one; each calls its own."""
    await redis.function_flush()
    store = RouteStore(redis)
    await store.upsert_agent(AgentSeed("a1", "A1", "PJSIP/a1", {"billing": 5}, ("en",)))
    other = FunctionLibrary("sb_router", "local P = 'x'\n", {"agent_action": "return {'other', P}"})
    assert await other.function("agent_action", redis)(args=["a1"]) == [b"other", b"x"]
    assert await _library_names(redis) == {build_library().name, other.name}
    assert await store.action("a1", "login") == ("available", "")


async def test_only_the_read_only_script_is_flagged_no_writes(redis: Redis) -> None:
    """line_position never writes and may run as FCALL_RO; a script that writes is refused there."""
    store = RouteStore(redis)
    await store.upsert_agent(AgentSeed("a1", "A1", "PJSIP/a1", {"billing": 5}, ("en",)))  # (loads the library)
    library = build_library()
    assert await redis.execute_command("FCALL_RO", library.function_name("line_position"), 0, "u1") == [0, 0]
    with pytest.raises(ResponseError):
        await redis.execute_command("FCALL_RO", library.function_name("own_call"), 0, "me", "u1")


async def test_a_function_error_is_raised_not_reloaded(redis: Redis) -> None:
    """An error reply other than a missing function is the caller's (nothing is loaded and run again)."""
    broken = FunctionLibrary("sb_test", "", {"fails": "return redis.error_reply('boom')"})
    with pytest.raises(ResponseError, match="boom"):
        await broken.function("fails", redis)()

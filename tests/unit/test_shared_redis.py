"""The process's one Redis client (switchboard.service.shared_redis): what its pool's connections are made with."""
from __future__ import annotations

import pytest
from redis.driver_info import DriverInfo

from switchboard.service import shared_redis
from switchboard.settings import RedisSettings


def test_new_connections_do_not_read_package_metadata_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name and version given to Redis are read once for the client; a connection made later reads no metadata."""
    client = shared_redis(RedisSettings(url="redis://127.0.0.1:1/0", max_connections=4))
    info = client.connection_pool.connection_kwargs["driver_info"]
    assert isinstance(info, DriverInfo) and info.lib_version and info.formatted_name == "redis-py"

    def no_metadata(name: str) -> str:
        raise AssertionError(f"package metadata read for {name} on a new connection")

    monkeypatch.setattr("importlib.metadata.version", no_metadata)
    connection = client.connection_pool.make_connection()
    assert connection.driver_info is info

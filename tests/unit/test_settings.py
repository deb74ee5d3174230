"""Unit tests of the settings loader: file + environment, errors with their place, the documented example."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from switchboard.settings import SECRET_FIELDS, Settings, SettingsError, load_settings

SECRET = {"SWITCHBOARD_AMI_SECRET": "not-a-real-secret"}
REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file() -> None:
    """With no file and only the secret, every section takes its defaults."""
    settings = load_settings(None, SECRET)
    assert settings.agi.host == "127.0.0.1" and settings.agi.port == 4573
    assert settings.ami_secret == "not-a-real-secret"


def test_example_file_documents_every_key_with_its_default() -> None:
    """settings.example.yaml names every key of every section, with the default the code uses."""
    example = YAML(typ="safe").load((REPO / "settings.example.yaml").read_text())
    defaults = Settings()
    for section in dataclasses.fields(Settings):
        if section.name in SECRET_FIELDS:
            continue
        obj = getattr(defaults, section.name)
        documented = example[section.name]
        for f in dataclasses.fields(obj):
            assert f.name in documented, f"{section.name}.{f.name} missing from settings.example.yaml"
            value = getattr(obj, f.name)
            shown = documented[f.name]
            assert (tuple(shown) if isinstance(value, tuple) else shown) == value, f"{section.name}.{f.name}"
    assert load_settings(REPO / "settings.example.yaml", SECRET) == dataclasses.replace(
        defaults, ami_secret=SECRET["SWITCHBOARD_AMI_SECRET"])


def test_unknown_key_is_named_with_position_and_suggestion(tmp_path: Path) -> None:
    """A misspelt key stops start-up with file:line:column and a did-you-mean."""
    path = _write(tmp_path, "agi:\n  host: 127.0.0.1\n  prot: 4574\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:3:3: error: unknown key agi.prot (did you mean 'port'?)"]


def test_unknown_section_is_named(tmp_path: Path) -> None:
    """An unknown section is reported at its position."""
    path = _write(tmp_path, "agj:\n  port: 1\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:1:1: error: unknown section 'agj' (did you mean 'agi'?)"]


def test_wrong_type_and_range_are_reported_together(tmp_path: Path) -> None:
    """Every invalid value is reported at once, each with its place and the expectation."""
    path = _write(tmp_path, "agi:\n  port: seventy\n  header_timeout: -1\nhttp:\n  port: 70000\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:2:3: error: agi.port: expected a whole number, got 'seventy'",
        f"{path}:3:3: error: agi.header_timeout: must be greater than 0",
        f"{path}:5:3: error: http.port: must be a TCP port 0-65535",
    ]


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    """A key given twice is refused at the second one, naming the key, rather than silently taking the last."""
    path = _write(tmp_path, "agi:\n  port: 1\n  port: 2\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:3:3: error: duplicate key 'port': YAML keeps only one; remove or rename the other"]


def test_environment_overrides_file(tmp_path: Path) -> None:
    """SWITCHBOARD_<SECTION>__<KEY> wins over the file, lists parse as YAML flow lists."""
    path = _write(tmp_path, "agi:\n  port: 4574\n")
    env = dict(SECRET, SWITCHBOARD_AGI__PORT="4575", SWITCHBOARD_AGI__ALLOWED_PEERS="[10.1.0.0/16, ::1/128]")
    settings = load_settings(path, env)
    assert settings.agi.port == 4575
    assert settings.agi.allowed_peers == ("10.1.0.0/16", "::1/128")


def test_unknown_environment_key_is_named() -> None:
    """A misspelt override names the variable."""
    with pytest.raises(SettingsError) as err:
        load_settings(None, dict(SECRET, SWITCHBOARD_REDIS__URI="redis://x"))
    assert [str(p) for p in err.value.problems] == [
        "environment SWITCHBOARD_REDIS__URI: error: unknown key redis.uri (did you mean 'url'?)"]


def test_bad_allowed_peer_is_refused() -> None:
    """An allow-list entry that is not a network is refused with an example of a good one."""
    with pytest.raises(SettingsError) as err:
        load_settings(None, dict(SECRET, SWITCHBOARD_AGI__ALLOWED_PEERS="[localhost]"))
    assert "agi.allowed_peers: 'localhost' is not an address or network" in str(err.value.problems[0])


def test_secret_from_file_and_missing_secret(tmp_path: Path) -> None:
    """The AMI secret comes from the environment or a secret file; neither is an error while AMI is enabled."""
    secret = tmp_path / "ami.secret"
    secret.write_text("from-file\n")
    assert load_settings(None, {"SWITCHBOARD_AMI__SECRET_FILE": str(secret)}).ami_secret == "from-file"
    with pytest.raises(SettingsError) as err:
        load_settings(None, {})
    assert "no secret" in str(err.value.problems[0])
    assert load_settings(None, {"SWITCHBOARD_AMI__ENABLED": "false"}).ami_secret == ""


def test_invalid_yaml_names_position(tmp_path: Path) -> None:
    """Broken YAML is reported with its line and column and what the parser expected."""
    path = _write(tmp_path, "agi:\n  port: [1\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:3:1: error: not valid YAML: expected ',' or ']', but got '<stream end>'"]


def test_exposed_http_needs_a_token() -> None:
    """Binding HTTP beyond loopback without a token stops start-up, naming the setting and the fix."""
    env = {**SECRET, "SWITCHBOARD_HTTP__HOST": "0.0.0.0"}
    with pytest.raises(SettingsError, match="need a token when exposed"):
        load_settings(None, env)
    assert load_settings(None, {**env, "SWITCHBOARD_HTTP_TOKEN": "t0ken"}).http_token == "t0ken"


@pytest.mark.parametrize(("kind", "said"), [("missing", "missing"), ("folder", "a folder")])
def test_bad_http_token_file_is_a_positioned_error(tmp_path: Path, kind: str, said: str) -> None:
    """A missing or folder `http.token_file` is a settings error at its line and column, not a traceback."""
    target = tmp_path / "token"
    if kind == "folder":
        target.mkdir()
    path = _write(tmp_path, f"http:\n  token_file: {target}\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:2:3: error: http.token_file: {target} is {said}; point it at a file holding the token (one line), "
        "or set SWITCHBOARD_HTTP_TOKEN"]


def test_http_limits_are_checked() -> None:
    """HTTP limits must be positive, and the SSE cap cannot exceed the connection cap."""
    env = {**SECRET, "SWITCHBOARD_HTTP__MAX_CONNECTIONS": "10", "SWITCHBOARD_HTTP__MAX_STREAMS": "20",
           "SWITCHBOARD_HTTP__IDLE_TIMEOUT": "0"}
    with pytest.raises(SettingsError) as err:
        load_settings(None, env)
    assert [str(p) for p in err.value.problems] == [
        "environment SWITCHBOARD_HTTP__IDLE_TIMEOUT: error: http.idle_timeout: must be greater than 0",
        "environment SWITCHBOARD_HTTP__MAX_STREAMS: error: http.max_streams: must be at most http.max_connections "
        "(each stream holds a connection)"]


def test_settings_file_not_utf8_names_position(tmp_path: Path) -> None:
    """A settings file saved as Latin-1 is a positioned error saying to save it as UTF-8, not a crash."""
    path = tmp_path / "settings.yaml"
    path.write_bytes(b"agi:\n  host: caf\xe9\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:2:12: error: not valid UTF-8 (byte 0xe9: invalid continuation byte); save the file as UTF-8"]


def test_router_lease_must_survive_a_lost_heartbeat(tmp_path: Path) -> None:
    """A lease shorter than two heartbeats would let one late beat free a live instance's calls: refused."""
    path = _write(tmp_path, "router:\n  lease: 1.5\n  heartbeat: 1\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert "router.lease: must be at least twice router.heartbeat" in str(err.value.problems[0])


def test_redis_pool_settings_are_read_and_checked() -> None:
    """The shared client's pool size and wait come from settings; a pool of 0 or a wait of 0 is refused."""
    settings = load_settings(None, dict(SECRET, SWITCHBOARD_REDIS__MAX_CONNECTIONS="16",
                                        SWITCHBOARD_REDIS__POOL_TIMEOUT="2.5"))
    assert (settings.redis.max_connections, settings.redis.pool_timeout) == (16, 2.5)
    with pytest.raises(SettingsError) as err:
        load_settings(None, dict(SECRET, SWITCHBOARD_REDIS__MAX_CONNECTIONS="0", SWITCHBOARD_REDIS__POOL_TIMEOUT="0"))
    assert len(err.value.problems) == 2


def test_secret_file_in_asterisk_form(tmp_path: Path) -> None:
    """`ami.secret_file` may be the Asterisk-side `secret=...` include: the value is the secret (issue 14, defect 7)."""
    secret = tmp_path / "switchboard-ami-secret.conf"
    secret.write_text("; written by the README's step\nsecret = 0a1b2c3d\n")
    assert load_settings(None, {"SWITCHBOARD_AMI__SECRET_FILE": str(secret)}).ami_secret == "0a1b2c3d"
    secret.write_text("\n")
    with pytest.raises(SettingsError) as err:
        load_settings(None, {"SWITCHBOARD_AMI__SECRET_FILE": str(secret)})
    assert "holds no secret" in str(err.value.problems[0])


def test_redis_only_commands_do_not_need_the_ami_secret() -> None:
    """Settings for a Redis-only command load without an AMI secret (issue 14, defect 5)."""
    assert load_settings(None, {}, redis_only=True).ami_secret == ""


def test_redis_only_commands_do_not_need_a_dialplans_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis-only command loads settings in a folder with no ./dialplans; the service's own check still refuses it."""
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, SECRET, redis_only=True).ivr.dialplans == "dialplans"
    with pytest.raises(SettingsError) as err:
        load_settings(None, SECRET)
    assert "ivr.dialplans (not set): dialplans does not exist" in str(err.value.problems[0])


@pytest.mark.parametrize(("text", "where"), [
    ("ivr:\n  sounds_dir: null\n  dialplans: null\n", "3:3"),
    ("ivr:\n  dialplans:\n", "2:3"),
    ("ivr:\n  watch_interval: 2.0\n", "1:1"),
    ("agi:\n  port: 4573\n", "1:1"),
], ids=["null", "empty", "missing-key", "missing-section"])
def test_null_or_missing_dialplans_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      text: str, where: str) -> None:
    """issue 14, defect 8: a null or missing `ivr.dialplans` is refused with one error at its place saying what to do."""
    monkeypatch.chdir(tmp_path)  # no ./dialplans here, so the default cannot stand in
    path = _write(tmp_path, text)
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert len(err.value.problems) == 1
    said = str(err.value.problems[0])
    assert said.startswith(f"{path}:{where}: error: ivr.dialplans")
    assert "set ivr.dialplans to the folder of your call flows" in said


def test_a_value_of_the_wrong_type_is_not_also_checked_as_its_default(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused value is reported once, not again through the default it fell back to (here a missing folder)."""
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, "ivr:\n  dialplans: [a, b]\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path, SECRET)
    assert [str(p) for p in err.value.problems] == [
        f"{path}:2:3: error: ivr.dialplans: expected a text value, got ['a', 'b'] (list)"]


def test_ami_read_pause_is_read_and_bounded() -> None:
    """ami.read_pause comes from settings (0 turns it off); a negative pause or one over 0.2 s is refused by name."""
    assert load_settings(None, dict(SECRET, SWITCHBOARD_AMI__READ_PAUSE="0")).ami.read_pause == 0
    with pytest.raises(SettingsError) as err:
        load_settings(None, dict(SECRET, SWITCHBOARD_AMI__READ_PAUSE="0.5"))
    assert [str(p) for p in err.value.problems] == [
        "environment SWITCHBOARD_AMI__READ_PAUSE: error: ami.read_pause: must be 0 to 0.2 seconds "
        "(0 reads every event as it arrives)"]
    with pytest.raises(SettingsError):
        load_settings(None, dict(SECRET, SWITCHBOARD_AMI__READ_PAUSE="-0.01"))

"""End to end in a real browser: the agent desktop and the wallboard on real Asterisk 22 + sipp + Redis.

Osman's id differs from his phone's endpoint (`osman` sits at PJSIP/agent1): the pop must reach *his* page.
Screenshots of each page are saved under the pytest basetemp (paths printed) as test artifacts.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.e2e import browser
from tests.e2e.sandbox import AMIWatcher, AsteriskSandbox, RedisServer, SwitchboardProcess
from tests.e2e.sipp import Agent, Caller, SippFactory

NUMBERS = 'numbers: {"3000": desk}\ndefault: desk\n'
ROUTING = """\
skills: [billing]
segments: {vip: {priority: 100, aging: 1}, standard: {priority: 10, aging: 0.5}}
wrap_up: 4
pause_reasons: [break, lunch, coaching]
agents:
  osman: {name: Osman, endpoint: PJSIP/agent1, skills: {billing: 8}, languages: [en]}
  ada: {name: Ada, endpoint: PJSIP/agent2, skills: {billing: 5}, languages: [en]}
"""
FLOWS = """\
flows:
  desk:
    start: billing
    nodes:
      billing: {type: route, skills: {billing: 1}, queue: billing, overflow: bye, intent: billing}
      bye: {type: hangup, prompt: vm-goodbye}
"""
VIP = "+442079460501"
CUSTOMERS = [{"id": "c-grace", "name": "Grace Hopper", "phones": [VIP], "segment": "vip", "language": "en",
              "open_cases": ["case-42"]}]


@pytest.fixture(scope="module")
def no_browser() -> None:
    reason = browser.missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"pages e2e cannot run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def desk_service(no_browser: None, asterisk: AsteriskSandbox, redis_server: RedisServer,
                 tmp_path: Path) -> Iterator[SwitchboardProcess]:
    redis_server.command("flushall")
    folder = tmp_path / "dialplans"
    folder.mkdir()
    (folder / "numbers.yaml").write_text(NUMBERS)
    (folder / "routing.yaml").write_text(ROUTING)
    (folder / "main.yaml").write_text(FLOWS)
    proc = SwitchboardProcess(tmp_path / "service", redis_server.url, asterisk.ami_secret,
                              extra_settings=f"ivr:\n  dialplans: {folder}\n").start()
    done = proc.import_customers(CUSTOMERS)
    assert done.returncode == 0, done.stderr
    yield proc
    proc.stop()


@pytest.fixture
def ami_events(asterisk: AsteriskSandbox) -> Iterator[AMIWatcher]:
    watcher = AMIWatcher(asterisk.ami_secret)
    yield watcher
    watcher.close()


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Opens headless Chromium instances (each its own profile, so its own cookies); all closed at the end."""
    opened: list[Any] = []

    def open_one(name: str) -> Any:
        driver = browser.chromium(tmp_path / "profiles" / name)
        opened.append(driver)
        return driver
    yield open_one
    for driver in opened:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _sign_in(driver: Any, url: str, name: str, secret: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 10).until(ec.visibility_of_element_located((By.ID, "signin-name"))).send_keys(name)
    driver.find_element(By.ID, "signin-secret").send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    WebDriverWait(driver, 10).until(ec.visibility_of_element_located((By.ID, "signout")))


def _until(driver: Any, check: Callable[[Any], Any], timeout: float, what: str) -> Any:
    """Waits for `check` in the page (the page redraws live: an element found a moment ago may be replaced)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(check, message=what)


def _state(driver: Any) -> str:
    from selenium.webdriver.common.by import By
    return str(driver.find_element(By.ID, "state").get_attribute("data-state"))


def _shot(driver: Any, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_desktop_pops_the_caller_and_pause_skips_the_agent(desk_service: SwitchboardProcess, sipp: SippFactory,
                                                           ami_events: AMIWatcher, browsers: Callable[[str], Any],
                                                           screenshots: Path) -> None:
    """A VIP call rings Osman (PJSIP/agent1): his page pops Grace within 1 s, Ada's shows nothing; paused, he is
    skipped and the next call rings Ada."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = f"http://127.0.0.1:{desk_service.http_port}"
    osman, ada = browsers("osman"), browsers("ada")
    _sign_in(osman, base + "/agent", "osman", desk_service.credential("agents", "credential", "osman"))
    _sign_in(ada, base + "/agent", "ada", desk_service.credential("agents", "credential", "ada"))
    for driver in (osman, ada):
        _until(driver, lambda d: _state(d) == "logged_out", 10, "state shown")
        driver.find_element(By.ID, "btn-available").click()
        _until(driver, lambda d: _state(d) == "available", 10, "available after the button")
    _shot(ada, screenshots, "agent-desktop-available")

    phone = sipp.agent(Agent(name="agent1", port=5071, ring_ms=1500))
    caller = sipp.caller(Caller(caller_id=VIP, dialled="3000", hangup_after_ms=2500))
    try:
        ami_events.wait_for(lambda e: e.get("Event") == "DialBegin" and e.get("CallerIDNum") == VIP
                            and e.get("DestChannel", "").startswith("PJSIP/agent1-"), 20, "DialBegin VIP -> osman")
    except Exception:
        print([(e.get("Event"), e.get("CallerIDNum"), e.get("DestChannel")) for e in ami_events.events])
        print(desk_service.log_file.read_text()[-3000:])
        raise
    rang = time.monotonic()
    _until(osman, lambda d: d.find_element(By.ID, "pop-body").is_displayed(), 1.0, "the pop within 1 s of the ring")
    popped = time.monotonic() - rang
    assert osman.find_element(By.ID, "pop-name").text == "Grace Hopper"
    assert osman.find_element(By.ID, "pop-segment").text == "vip"
    assert "case-42" in osman.find_element(By.ID, "pop-cases").text
    print(f"pop shown {popped:.2f} s after Asterisk's DialBegin")
    _shot(osman, screenshots, "agent-desktop-ringing")
    assert not ada.find_element(By.ID, "pop-body").is_displayed()
    assert ada.find_element(By.ID, "pop-empty").is_displayed() and "Grace" not in ada.page_source

    assert caller.wait(40) == 0, caller.errors()
    assert phone.wait(20) == 0, phone.errors()
    _until(osman, lambda d: _state(d) == "wrap_up" and d.find_element(By.ID, "wrapup").is_displayed(), 10,
           "wrap-up countdown")
    _shot(osman, screenshots, "agent-desktop-wrap-up")
    _until(osman, lambda d: _state(d) == "available", 15, "available after wrap-up")
    assert "Grace Hopper" in osman.find_element(By.ID, "calls").text  # his own calls today

    Select(osman.find_element(By.ID, "pause-reason")).select_by_value("lunch")
    osman.find_element(By.ID, "btn-pause").click()
    _until(osman, lambda d: _state(d) == "paused", 10, "paused after the button")
    assert "lunch" in osman.find_element(By.ID, "state-reason").text
    _shot(osman, screenshots, "agent-desktop-paused")

    backup = sipp.agent(Agent(name="agent2", port=5072, ring_ms=300))
    second = sipp.caller(Caller(caller_id="+442079460502", dialled="3000", hangup_after_ms=1500))
    ami_events.wait_for(lambda e: e.get("Event") == "DialBegin" and e.get("CallerIDNum") == "+442079460502"
                        and e.get("DestChannel", "").startswith("PJSIP/agent2-"), 20, "DialBegin -> ada")
    _until(ada, lambda d: d.find_element(By.ID, "pop-body").is_displayed(), 2.0, "Ada's pop")
    assert second.wait(40) == 0, second.errors()
    assert backup.wait(20) == 0, backup.errors()
    assert not [e for e in ami_events.events if e.get("Event") == "DialBegin"
                and e.get("CallerIDNum") == "+442079460502" and e.get("DestChannel", "").startswith("PJSIP/agent1-")]
    assert _state(osman) == "paused"


def test_wallboard_waiting_count_follows_a_queued_call(desk_service: SwitchboardProcess, sipp: SippFactory,
                                                       browsers: Callable[[str], Any], screenshots: Path) -> None:
    """With nobody available a real call waits: the wallboard's billing row goes to 1 waiting, then back to 0."""
    from selenium.webdriver.common.by import By

    code, body = desk_service.post("/agents/ada/login")
    assert code == 200, body
    code, body = desk_service.post("/agents/ada/pause?reason=break")
    assert code == 200, body
    board = browsers("supervisor")
    _sign_in(board, f"http://127.0.0.1:{desk_service.http_port}/wallboard", "sam",
             desk_service.credential("supervisor", "credential", "sam"))

    def waiting(driver: Any) -> str:
        rows = driver.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue=billing]")
        return str(rows[0].get_attribute("data-waiting")) if rows else ""
    _until(board, lambda d: waiting(d) == "0", 15, "billing row with nobody waiting")
    caller = sipp.caller(Caller(caller_id="+442079460511", dialled="3000", hangup_after_ms=7000,
                                expect_answer=True))
    _until(board, lambda d: waiting(d) == "1", 10, "one caller waiting on the board")
    _until(board, lambda d: d.execute_script(
        "return document.querySelector('#agents tr[data-agent=ada]').dataset.state") == "paused", 5,
        "Ada paused on the board")
    _shot(board, screenshots, "wallboard-one-waiting")
    assert caller.wait(40) == 0, caller.errors()
    _until(board, lambda d: waiting(d) == "0", 10, "the caller gone from the board")
    _until(board, lambda d: d.execute_script(  # waited 7 s: past the short-abandon threshold, so it counts
        "return document.querySelector('#queues tr[data-queue=billing] td:nth-child(6)').textContent") == "1", 5,
        "the abandoned call counted today")

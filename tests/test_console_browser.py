"""The web console in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

The server runs as a separate process (`budgetbot serve`), with no channel credentials.
Chromium comes from scripts/install-browser; `playwright install` is never used (no browser downloads).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import ServerProcess, base_env, running_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
THAI = re.compile(r"[\u0E00-\u0E7F]")
QUESTION = "แผนงานบูรณาการรัฐบาลดิจิทัลคืออะไร"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser (Debian's chromium package)")
    tmp = tmp_path_factory.mktemp("console-server")
    with running_server(base_env(tmp), tmp) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser (Debian's chromium package)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # a busy CI machine can be slower than the 5 s default
    with sync_playwright() as p:
        # launch() gives each run a fresh temporary profile (user-data dir) and removes it afterwards.
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, server: ServerProcess) -> Iterator[Page]:
    context = browser.new_context(locale="th-TH", viewport={"width": 900, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(f"{server.base_url}/")
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def wait_for_answers(page: Page, count: int) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("answer")).to_have_count(count)
    expect(page.get_by_test_id("typing")).to_have_count(0)


def test_chat_in_thai_with_sources_and_suggestions(page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    expect(page.locator("html")).to_have_attribute("lang", "th")
    # The welcome comes from the API (a greeting from the knowledge base), with example questions.
    wait_for_answers(page, 1)
    welcome = page.get_by_test_id("answer").first
    expect(welcome).to_contain_text(THAI)
    # A page load is not a question: no conversation is started until the user asks.
    assert page.evaluate("() => sessionStorage.getItem('budgetbot.session')") is None

    page.get_by_test_id("question-input").fill(QUESTION)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("question").last).to_have_text(QUESTION)
    wait_for_answers(page, 2)
    session = page.evaluate("() => sessionStorage.getItem('budgetbot.session')")
    assert session and re.fullmatch(r"[A-Za-z0-9_-]{1,128}", session)
    answer = page.get_by_test_id("answer").nth(1)
    expect(answer.locator(".text")).to_contain_text(THAI)
    sources = answer.get_by_test_id("sources")
    expect(sources).to_be_visible()
    expect(sources).to_contain_text(THAI)
    expect(page.get_by_test_id("question-input")).to_have_value("")

    suggestion = answer.get_by_test_id("suggestion").first
    expect(suggestion).to_be_visible()
    suggested = suggestion.inner_text()
    suggestion.click()
    expect(page.get_by_test_id("question").last).to_have_text(suggested)
    wait_for_answers(page, 3)
    expect(page.get_by_test_id("answer").nth(2).locator(".text")).to_contain_text(THAI)
    # One conversation: the page kept its session across the questions.
    assert page.evaluate("() => sessionStorage.getItem('budgetbot.session')") == session

    page.screenshot(path=str(tmp_path / "console.png"), full_page=True)


def test_enter_sends_and_text_is_never_html(page: Page) -> None:
    from playwright.sync_api import expect

    wait_for_answers(page, 1)
    tricky = '<img src=x onerror="window.hacked=1"><b>ตัวหนา</b> & บรรทัดสอง'
    box = page.get_by_test_id("question-input")
    box.fill(tricky)
    box.press("Enter")
    wait_for_answers(page, 2)
    bubble = page.get_by_test_id("question").last
    expect(bubble).to_have_text(tricky)  # shown literally, as typed
    assert bubble.locator("img, b").count() == 0
    assert page.evaluate("() => window.hacked") is None


def test_waiting_indicator_then_answer(page: Page) -> None:
    from playwright.sync_api import expect

    wait_for_answers(page, 1)

    held: list[Route] = []
    # A slow network: the request waits until the test lets it through.
    page.route("**/api/ask", lambda route: held.append(route))
    page.get_by_test_id("question-input").fill(QUESTION)
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("typing")).to_have_text("กำลังตอบ...")
    expect(page.get_by_test_id("send")).to_be_disabled()
    for _ in range(100):  # the route handler runs when Playwright next dispatches events
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].fulfill(response=held[0].fetch())  # the real server's answer
    wait_for_answers(page, 2)
    expect(page.get_by_test_id("send")).to_be_enabled()


def test_errors_are_shown_politely(page: Page) -> None:
    from playwright.sync_api import expect

    wait_for_answers(page, 1)
    page.route("**/api/ask", lambda route: route.fulfill(status=500, body="Internal Server Error"))
    page.get_by_test_id("question-input").fill(QUESTION)
    page.get_by_test_id("send").click()
    error = page.get_by_test_id("error")
    expect(error).to_contain_text("ขออภัย")
    expect(error).not_to_contain_text("Internal Server Error")
    expect(page.get_by_test_id("typing")).to_have_count(0)

    page.route("**/api/ask", lambda route: route.abort("connectionrefused"))
    page.get_by_test_id("send").click()  # the input is empty now: nothing is sent
    expect(error).to_have_count(1)
    page.get_by_test_id("question-input").fill("อีกครั้ง")
    page.get_by_test_id("send").click()
    expect(error).to_have_count(2)
    expect(error.last).to_contain_text("เชื่อมต่อ")

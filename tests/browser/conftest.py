"""Headless Chromium (Debian's, never a downloaded one) driven by Playwright's sync API.

The browser talks to pytest-django's live_server, which runs in a thread of
this process: the same database, the same fake encoder and the same in-memory
indexes as the test body.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in a greenlet; Django would take the ORM
# calls in the test body (factories, images_embed) for calls from async code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CBIR_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
# Pages the tests open on purpose (a 404 for an outsider, a 400 for a rejected
# upload) make Chromium log "Failed to load resource"; those are not script errors.
_EXPECTED_HTTP_ERROR = re.compile(r"Failed to load resource: .*status of 4\d\d")


@dataclass
class ScriptErrors:
    """Uncaught exceptions, console errors and 5xx responses seen by one page."""

    messages: list[str] = field(default_factory=list)

    def console(self, message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error" and not _EXPECTED_HTTP_ERROR.search(message.text):
            self.messages.append(f"console: {message.text}")

    def page_error(self, error) -> None:  # type: ignore[no-untyped-def]
        self.messages.append(f"uncaught: {error}")

    def response(self, response) -> None:  # type: ignore[no-untyped-def]
        if response.status >= 500:
            self.messages.append(f"HTTP {response.status}: {response.url}")


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def script_errors() -> ScriptErrors:
    return ScriptErrors()


@pytest.fixture
def page(browser, script_errors, transactional_db) -> Iterator:  # type: ignore[no-untyped-def]
    """A fresh browser context per test; fails the test on any script error."""
    yield from _watched_page(browser, script_errors, viewport={"width": 1280, "height": 900})


@pytest.fixture
def login(page, live_server):  # type: ignore[no-untyped-def]
    """Sign `user` in through the real login form; the page lands on the gallery list."""
    from tests.factories import PASSWORD

    def sign_in(user) -> None:  # type: ignore[no-untyped-def]
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/accounts/login/'] button[type=submit]")
        page.wait_for_url(f"{live_server.url}/galleries/")
        assert page.locator(".account .user-name").text_content() == user.username

    return sign_in


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# axe-core from npm (`npm pack axe-core`), kept here with its licence so the tests need no network.
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
GATED_IMPACTS = ("serious", "critical")


def axe_violations(page, impacts=GATED_IMPACTS) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's violations of the given impacts on the page as it is now, one line each.

    Injected through the DevTools protocol (page.evaluate), which the page's script
    policy does not govern: the page itself still runs under its strict CSP.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async (impacts) => {
          const result = await axe.run(document, { resultTypes: ["violations"] });
          return result.violations.filter(v => impacts.includes(v.impact)).map(v =>
            `${v.impact} ${v.id}: ${v.help} -> ` +
            v.nodes.slice(0, 4).map(n => n.target.join(" ")).join(" | "));
        }""",
        list(impacts),
    )
    return list(found)


@pytest.fixture
def phone(browser, script_errors, transactional_db) -> Iterator:  # type: ignore[no-untyped-def]
    """Like `page`, at a phone's size (390 x 844, touch, mobile layout)."""
    yield from _watched_page(browser, script_errors, viewport=PHONE, has_touch=True, is_mobile=True)


def _watched_page(browser, script_errors, **context_options) -> Iterator:  # type: ignore[no-untyped-def]
    """A page in a fresh context whose script errors fail the test once it is done."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("console", script_errors.console)
    page.on("pageerror", script_errors.page_error)
    page.on("response", script_errors.response)
    yield page
    context.close()
    assert script_errors.messages == [], "the page reported errors:\n" + "\n".join(
        script_errors.messages
    )


def sign_in(page, live_server, user) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the login form on any page fixture (the phone's too)."""
    from tests.factories import PASSWORD

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/accounts/login/'] button[type=submit]")
    page.wait_for_url(f"{live_server.url}/galleries/")

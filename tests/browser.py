"""Shared helpers for tests that drive Debian's chromium through Playwright against the live
server: launching the browser, a page that records Content-Security-Policy violations, logging
in, the language switch at the bottom of every page, a form POST the page does not offer, and
screenshots for docs/screenshots/."""

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.formats import date_format

from conftest import PASSWORD, totp_code

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
# The two widths issue 18's pages are tried at: a desktop and a phone.
WIDTHS = {"desktop": VIEWPORT, "phone": {"width": 390, "height": 844}}
TIMEOUT_MS = 10_000  # a page of this app answers in milliseconds; fail fast, not after 30 s

# Submits a form the page does not offer, as a hand-made request (or a tampered page) would:
# the same session, the same CSRF token, only the fields the test names.
_POST_JS = """
({action, fields}) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  for (const [name, value] of fields) {
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}
"""


@contextmanager
def chromium() -> Iterator:
    """One headless chromium (for a module's tests: launching costs a second)."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async guard must stand aside.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page in its own browser context (its own cookies: one person), and what the browser
    complained about while it was open."""

    context: object
    page: object
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.context.close()

    def assert_clean(self) -> None:
        """No page of the journey broke under the Content-Security-Policy or threw."""
        assert not self.csp_violations, f"CSP violations: {self.csp_violations}"
        assert not self.page_errors, f"JavaScript errors: {self.page_errors}"


def open_tab(browser, base_url: str, *, locale: str = "en-US") -> Tab:
    context = browser.new_context(base_url=base_url, locale=locale, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    tab = Tab(context=context, page=page)

    def on_console(message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            tab.csp_violations.append(f"{page.url}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.page_errors.append(f"{page.url}: {error}"))
    return tab


def switch_language(page, language: str) -> None:
    """Press the language's button in the footer (a form posting to /i18n/setlang/)."""
    button = page.locator(f"form.langswitch button[name=language][value={language}]")
    with page.expect_navigation():
        button.click()
    assert page.locator("html").get_attribute("lang") == language


def open_tab_at(browser, base_url: str, *, language: str, width: str) -> Tab:
    """A tab in ``language``'s locale ("en" or "de") at one of WIDTHS ("desktop", "phone")."""
    tab = open_tab(browser, base_url, locale="de-DE" if language == "de" else "en-US")
    tab.page.set_viewport_size(WIDTHS[width])
    return tab


def login(page, user, *, language: str = "en") -> None:
    """The login page, the language chosen in its footer first, then the credentials."""
    page.goto("/login/")
    switch_language(page, language)
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main form [type=submit]")
    if "/login/two-factor/" in page.url:  # support staff, and whoever has 2FA: the app's code
        page.fill("#id_code", totp_code(user))
        with page.expect_navigation():
            page.click("main form [type=submit]")
    assert "/login/" not in page.url, page.inner_text("main")


def click_and_wait(page, target) -> None:
    """Click a link or submit button (a selector or a locator) and wait for the new page."""
    locator = page.locator(target) if isinstance(target, str) else target
    with page.expect_navigation():
        locator.click()


def post_unoffered(page, action: str, fields: list[tuple[str, str]]):
    """POST ``fields`` to ``action`` from the current page, with its CSRF token, although the
    page offers no such form; returns the answer (after redirects: the page it lands on)."""
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    with page.expect_navigation() as navigation:
        page.evaluate(
            _POST_JS, {"action": action, "fields": [["csrfmiddlewaretoken", token], *fields]}
        )
    return navigation.value


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def tr(language: str, message: str, *args, **params) -> str:
    """``message`` as the server says it in ``language`` (``args``: ngettext's plural and
    count; ``params``: %-interpolation)."""
    with translation.override(language):
        if args:
            plural, count = args
            text = translation.ngettext(message, plural, count)
        else:
            text = translation.gettext(message)
    return text % params if params else text


def shown_time(language: str, moment: datetime, time_zone: str, fmt: str) -> str:
    """A moment as a page in ``language`` writes it in the account's time zone."""
    with translation.override(language):
        return date_format(moment.astimezone(ZoneInfo(time_zone)), fmt)


# How each language writes a day (config/formats): Mar 14, 2025 and 14. Mär 2025.
DAY_PATTERNS = {
    "en": re.compile(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4}\b"),
    "de": re.compile(r"\b\d{1,2}\. [A-ZÄÖÜ][a-zäöü]{2} \d{4}\b"),
}


def assert_times_localized(page, selector: str, language: str, time_zone: str) -> int:
    """Every ``<time datetime=...>`` under ``selector`` reads as that moment in the account's
    zone, in the language's short date-time (or date) format. Returns how many there were."""
    times = page.locator(f"{selector} time").evaluate_all(
        "els => els.map(e => [e.getAttribute('datetime'), e.textContent.trim()])"
    )
    for iso, text in times:
        moment = datetime.fromisoformat(iso)
        expected = {
            shown_time(language, moment, time_zone, "SHORT_DATETIME_FORMAT"),
            shown_time(language, moment, time_zone, "SHORT_DATE_FORMAT"),
        }
        assert text in expected, (iso, text, expected)
        assert DAY_PATTERNS[language].search(text), text
    return len(times)


def assert_fits(page) -> None:
    """No sideways scroll: the page is no wider than the window (issue 18, phones)."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url}: {width} px wide"

"""A real browser (Debian's chromium, driven by Playwright) against the live server."""

import os
from pathlib import Path

import pytest
from django.conf import settings

from conftest import PASSWORD
from crm.models import Company

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture(scope="module")
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async guard must stand aside.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    yield page
    context.close()


def test_admin_logs_in_creates_a_company_and_sees_it_in_the_list(page, admin_user):
    page.goto("/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main form [type=submit]")
    page.wait_for_url("**/crm/")

    page.goto("/companies/new/")
    page.fill("#id_title", "Browser Test GmbH")
    page.fill("#id_email", "hello@browser-test.example")
    page.click("main form [type=submit]")
    page.wait_for_load_state()

    company = Company.objects.get(title="Browser Test GmbH")
    assert company.account_id == admin_user.account_id
    assert company.created_by_id == admin_user.pk

    page.goto("/companies/")
    row = page.locator("table tbody tr", has_text="Browser Test GmbH")
    assert row.count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "company-list.png"), full_page=True)


def test_wrong_password_is_refused(page, admin_user):
    page.goto("/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "not the password")
    page.click("main form [type=submit]")
    assert "/login/" in page.url
    assert page.locator(".errorlist, .form-errors, [role=alert]").count() >= 1

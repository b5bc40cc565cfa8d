"""A real browser (Debian's chromium, driven by Playwright) against the live server."""

import os
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from conftest import PASSWORD
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company, Deal
from crm.tests.factories import CompanyFactory, LeadFactory

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


def _deleted_days_ago(days: int, record, actor) -> None:
    """Delete ``record`` as if it happened ``days`` ago (so the history's chart has a past)."""
    moment = timezone.now() - timedelta(days=days)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        crm_services.record_delete(record=record, actor=actor)


def _some_past_deletions(account, admin_user, employee) -> None:
    """A few weeks of ordinary deletions and one mass deletion, as a real account has."""
    for days in (19, 15, 12, 9, 6, 4, 2):
        if days == 4:
            for lead in LeadFactory.create_batch(12, account=account):
                _deleted_days_ago(days, lead, employee)
        else:
            actor = admin_user if days % 2 else employee
            _deleted_days_ago(days, CompanyFactory(account=account), actor)


def test_admin_deletes_a_deal_finds_it_in_the_history_and_restores_it_from_the_bin(
    page, account, admin_user, employee
):
    _some_past_deletions(account, admin_user, employee)
    deal = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["deal"],
        data={"title": "Rollout Hamburg", "amount": "48000.00"},
    )
    for subject, kind in (("Kick-off call", "call"), ("Send the contract", "email")):
        crm_services.record_create(
            account=account,
            actor=admin_user,
            entity=ENTITIES["activity"],
            data={"subject": subject, "type": kind, "deal": deal},
        )

    page.goto("/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main form [type=submit]")
    page.wait_for_url("**/crm/")

    # Delete the deal through its page: the confirmation says where it goes.
    page.goto(f"/deals/{deal.pk}/")
    page.click("main .actions >> text=Delete")
    page.wait_for_url(f"**/deals/{deal.pk}/delete/")
    assert "2 activities go into the recycle bin with it." in page.inner_text("main")
    page.click("main form [type=submit]")
    page.wait_for_url("**/deals/")
    assert "was moved to the recycle bin" in page.inner_text(".messages")
    assert Deal.objects.get(pk=deal.pk).bin_entry_id is not None

    # CRM – History, filtered to deletions: who deleted it, and when.
    page.click("nav.mainnav >> text=History")
    page.wait_for_url("**/history/")
    page.check("input[name=event_type][value=delete]")
    page.click("form.filterform button[type=submit]")
    page.wait_for_url("**/history/?*event_type=delete*")
    assert page.locator(".activefilters .chip").count() == 1
    row = page.locator("table.history tbody tr", has_text="Rollout Hamburg")
    assert row.count() == 1
    assert admin_user.username in row.inner_text()
    assert "Delete" in row.inner_text()
    when = datetime.fromisoformat(row.locator("time").get_attribute("datetime"))
    assert abs(timezone.now() - when) < timedelta(minutes=5)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "history.png"), full_page=True)

    # The recycle bin: restore it.
    page.click("nav.mainnav >> text=Recycle bin")
    page.wait_for_url("**/recyclebin/")
    bin_row = page.locator("table.bin tbody tr", has_text="Rollout Hamburg")
    assert bin_row.count() == 1
    assert "with 2 activities" in bin_row.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "bin.png"), full_page=True)
    bin_row.locator("button", has_text="Restore").click()
    page.wait_for_url("**/recyclebin/")
    assert "was restored with its 2 activities" in page.inner_text(".messages")
    assert page.locator("table.bin tbody tr", has_text="Rollout Hamburg").count() == 0

    # The deal is back, with both activities.
    page.click(".messages >> text=Rollout Hamburg")
    page.wait_for_url(f"**/deals/{deal.pk}/")
    main = page.inner_text("main")
    assert "Kick-off call" in main
    assert "Send the contract" in main

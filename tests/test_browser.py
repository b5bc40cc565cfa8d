"""A real browser (Debian's chromium, driven by Playwright) against the live server."""

import base64
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone
from django_otp.oath import totp

from accounts.enrollment import enrollment_link_issue
from accounts.services import user_create
from conftest import PASSWORD, browser_login, csp_violations
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company, Deal
from crm.tests.factories import CompanyFactory, LeadFactory
from tests.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, live_server):
    """A page of a fresh browser; every test fails on a Content-Security-Policy violation."""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    violations = csp_violations(page)
    yield page
    context.close()
    assert violations == [], "the pages must work under the CSP (config/settings/base.py)"


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


def test_pages_work_under_the_content_security_policy(page, account, admin_user, support_user):
    """The pages, the 2FA set-up (its QR code is inline SVG) and the API docs (Swagger UI) run
    under the CSP: the browser reports no violation, and the JavaScript still works."""
    violations = csp_violations(page)  # the fixture checks too; this test says it out loud
    CompanyFactory(account=account, title="Policy GmbH")
    browser_login(page, admin_user)
    pages = [
        "/crm/",
        "/companies/",
        "/companies/new/",
        "/history/",
        "/recyclebin/",
        "/backups/",
        "/support/requests/",
        "/support/requests/new/",
        "/notifications/",
        "/security/",
        "/pricing/",
    ]
    for path in pages:
        response = page.goto(path)
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")

    # The recycle bin's "select all" is JavaScript from a file: it works.
    crm_services.record_delete(record=Company.objects.get(title="Policy GmbH"), actor=admin_user)
    page.goto("/recyclebin/")
    select_all = page.locator("input[data-select-all]")
    if select_all.count():
        select_all.first.check()
        assert page.locator("table.bin tbody input[type=checkbox]:checked").count() >= 1

    # Setting up two-factor authentication: the QR code is drawn.
    page.goto("/security/two-factor/")
    qr = page.locator(".twofactor__qr svg")
    assert qr.bounding_box()["width"] > 100

    # Swagger UI renders the schema with its script in a file of its own.
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "CRM API" in page.inner_text(".swagger-ui .info .title")

    # Support staff: the code after the password, then the console.
    page.goto("/crm/")
    with page.expect_navigation():
        page.click("header form[action='/logout/'] button")
    browser_login(page, support_user)
    assert page.url.endswith("/console/")
    page.goto("/notifications/")
    page.wait_for_load_state("networkidle")

    assert violations == [], violations


def test_support_staff_set_up_two_factor_through_their_enrolment_link(page, db):
    user = user_create(username="new-support", password=None, account=None, is_support=True)
    key = enrollment_link_issue(user=user)
    page.goto(f"/enroll/{key}/")
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    with page.expect_navigation():
        page.click("main form [type=submit]")
    assert "/security/two-factor/" in page.url
    assert "Support staff can roll back any customer's account" in page.inner_text("main")

    # What an authenticator app does with the key it was given.
    page.click("summary")
    secret = page.inner_text(".twofactor__secret").replace(" ", "")
    code = f"{totp(base64.b32decode(secret)):06d}"
    page.fill("#id_code", code)
    with page.expect_navigation():
        page.click("main form.twofactor__form [type=submit]")

    assert "/security/recovery-codes/" in page.url
    codes = page.locator(".recoverycodes code").all_inner_texts()
    assert len(codes) == 10
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "recovery-codes.png"), full_page=True)
    with page.expect_navigation():
        page.click("text=I have saved them: continue")
    page.wait_for_url("**/console/")
    assert user.totpdevice_set.get().confirmed


def test_a_locked_out_login_says_why(page, admin_user):
    for _ in range(5):
        page.goto("/login/")
        page.fill("#id_username", admin_user.username)
        page.fill("#id_password", "not the password")
        with page.expect_navigation():
            page.click("main form [type=submit]")
    alert = page.inner_text("[role=alert]")
    assert "Too many failed logins for this username from your address" in alert
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("main form [type=submit]")
    assert "/login/" in page.url
    assert "Too many failed logins" in page.inner_text("[role=alert]")


def test_an_admin_takes_a_snapshot_on_demand(page, admin_user, worker_start, snapshot_dir):
    """Professional admin, Backups page, "Take a snapshot now": a real worker takes it, the page
    shows it finished, and the button waits for the next hour."""
    from backups.models import Snapshot
    from conftest import wait_for

    worker_start(SNAPSHOT_DIR=str(snapshot_dir))
    browser_login(page, admin_user)
    page.goto("/backups/")
    with page.expect_navigation():
        page.click("[data-action=take-snapshot]")

    assert "The snapshot is being taken" in page.content()
    assert page.locator("button[disabled]", has_text="Take a snapshot now").count() == 1
    assert wait_for(lambda: Snapshot.objects.filter(status="succeeded").exists(), timeout=90)
    page.reload()
    row = page.locator("tr[data-snapshot]")
    assert row.count() == 1
    assert "Succeeded" in row.inner_text() and "on demand" in row.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "backups-on-demand.png"), full_page=True)

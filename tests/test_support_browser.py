"""The whole restore-request story in a real browser, two people at once: an account admin
(one browser context) and support staff (another), against the live server, with a real Celery
worker process running the restore (DESIGN.md, "Support"; the customer's help article).

Records are deleted and purged (truly lost, not in the recycle bin) after last night's snapshot;
the admin files a request, support proposes the snapshot in the console, the admin confirms
after the preview, support approves, the admin watches the progress bar reach the end, and the
records are back. Screenshots of each step go to docs/screenshots/support-*.png."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_delete, snapshot_take
from config.celery import app
from conftest import PASSWORD, browser_login, csp_violations
from crm.models import Company, Contact
from crm.tests.factories import CompanyFactory, ContactFactory
from recyclebin import services as bin_services
from support.models import RestoreRequest
from tests.browser import SCREENSHOTS, VIEWPORT, chromium

# DESIGN.md: messages, proposals and status changes appear on both sides within seconds; the
# issue's bar is 3 seconds.
LIVE_MS = 3_000

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def snapshots_cleaned():
    """The worker and this process share the default snapshot folder; leave nothing behind."""
    yield
    for snapshot in Snapshot.objects.all():
        snapshot_delete(snapshot=snapshot)


def _login(context, user, violations: list[str]):
    """A page of ``context``, logged in as ``user`` (support staff: with the authenticator
    app's code); the CSP violations it reports go to ``violations``."""
    page = context.new_page()
    csp_violations(page, violations)
    browser_login(page, user, PASSWORD)
    return page


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_a_lost_company_comes_back_through_a_restore_request(
    browser, live_server, account, admin_user, support_user, worker_start, snapshots_cleaned
):
    # Yesterday's data, last night's snapshot (three hours ago) ...
    mueller = CompanyFactory(account=account, title="Müller Maschinenbau GmbH")
    contacts = [
        ContactFactory(account=account, first_name=name, last_name="Müller", company=mueller)
        for name in ("Anna", "Jonas")
    ]
    CompanyFactory(account=account, title="Schmidt Logistik AG")
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_at=timezone.now() - timedelta(hours=3))
    # ... then, an hour ago, the company was deleted and the recycle bin emptied: truly lost.
    for contact in contacts:
        bin_services.bin_purge(
            account=account,
            entry_ids=[bin_services.bin_delete(record=contact, actor=admin_user).pk],
            actor=admin_user,
        )
    entry = bin_services.bin_delete(record=mueller, actor=admin_user)
    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)
    assert not Company.objects.filter(pk=mueller.pk).exists()
    app.control.purge()  # tasks other runs left in the test broker are not this story's

    admin_context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORT)
    support_context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport=VIEWPORT
    )
    violations: list[str] = []  # of the Content-Security-Policy, by either browser
    try:
        # 1. The admin files the request: when, which kind, what happened.
        admin = _login(admin_context, admin_user, violations)
        admin.click("nav.mainnav >> text=Restore requests")
        admin.wait_for_url("**/support/requests/")
        admin.click("main >> text=New restore request")
        admin.wait_for_url("**/support/requests/new/")
        assert "all work of all employees after the chosen time is lost" in admin.inner_text("main")
        lost_at = timezone.localtime(
            timezone.now() - timedelta(hours=1), ZoneInfo(account.time_zone)
        )
        admin.fill("#id_lost_at", lost_at.strftime("%Y-%m-%dT%H:%M"))
        admin.check("#kind-recover")
        admin.fill(
            "#id_message",
            "Our trainee deleted Müller Maschinenbau GmbH with its contacts and then emptied "
            "the recycle bin. We need the company and both contacts back.",
        )
        _shot(admin, "support-1-file.png")
        with admin.expect_navigation():
            admin.click("main form.requestform [type=submit]")
        restore_request = RestoreRequest.objects.get(account=account)
        assert restore_request.status == RestoreRequest.Status.OPEN
        assert "was sent" in admin.inner_text(".messages")

        # 2. Support lands on the console, opens it, checks the preview and proposes.
        support = _login(support_context, support_user, violations)
        support.wait_for_url("**/console/")
        row = support.locator("table.requests tbody tr", has_text=account.name)
        assert row.count() == 1
        row.locator("a.rowlink").click()
        support.wait_for_url(f"**/console/requests/{restore_request.pk}/")
        checked = support.locator("input[name=snapshot]:checked")
        assert checked.get_attribute("value") == str(snapshot.pk)  # newest before the loss
        preview = support.locator("#preview table.preview")
        assert "Companies" in preview.inner_text()
        company_row = preview.locator("tr[data-entity-type=company]")
        restored = company_row.locator("td[data-bucket=restored]")
        assert restored.locator("strong").inner_text() == "1"  # comes back
        assert "Müller Maschinenbau GmbH" in restored.inner_text()  # named, where sampled
        support.fill("#chat textarea", "Found it in last night's snapshot. Proposing a recover.")
        with support.expect_navigation():
            support.click("#chat button[type=submit]")
        # Live (issue 18): the admin's open page shows support's message within 3 seconds,
        # no reload (tests/test_live_browser.py: the unread badges).
        admin.locator("#chat", has_text="Found it in last night's snapshot").wait_for(
            timeout=LIVE_MS
        )
        _shot(support, "support-2-propose.png")
        with support.expect_navigation():
            support.click("text=Propose this to the admin")
        assert "Proposed." in support.inner_text(".messages")

        # 3. The admin's page shows the proposal by itself (the preview and the confirm
        # form), the status and steps with it; the admin acknowledges and confirms.
        admin.locator("#preview table.preview").wait_for(timeout=LIVE_MS)
        assert "Proposed" in admin.inner_text("[data-live=head] .status")
        assert admin.locator("[data-live=steps] [aria-current=step]").count() == 1
        confirm = admin.locator("form.confirmform button[type=submit]")
        admin.check("form.confirmform input[name=acknowledge]")
        _shot(admin, "support-3-confirm.png")
        with admin.expect_navigation():
            confirm.click()
        assert "Confirmed." in admin.inner_text(".messages")

        # 4. Support's page offers the approval by itself; the restore waits in the queue.
        support.locator("text=Approve and run the restore").wait_for(timeout=LIVE_MS)
        assert "confirmed the proposed recover" in support.inner_text("#chat")
        with support.expect_navigation():
            support.click("text=Approve and run the restore")
        restore_request.refresh_from_db()
        assert restore_request.status == RestoreRequest.Status.QUEUED

        # 5. The admin's page shows the progress bar by itself; a worker starts and runs it;
        # the page follows without a reload and then shows the outcome.
        bar = admin.locator("progress[data-progress-bar]")
        bar.wait_for(timeout=LIVE_MS)
        assert admin.locator("[data-live=steps] [aria-current=step]").count() == 1
        assert "Waiting for a worker" in admin.inner_text("[data-progress-step]")
        _shot(admin, "support-4-progress.png")
        worker = worker_start()
        admin.wait_for_selector(".callout--success h2", timeout=90_000)
        assert worker.poll() is None, "the worker died"
        restore_request.refresh_from_db()
        assert restore_request.status == RestoreRequest.Status.COMPLETED
        assert restore_request.progress == 100
        assert admin.locator("progress[data-progress-bar]").count() == 0
        _shot(admin, "support-5-completed.png")
        outcome = admin.inner_text(".callout--success")
        assert "The restore is complete" in outcome
        assert "brought back" in outcome.lower()
        _shot(admin, "support-5-completed.png")

        # The company, its contacts and its deal are back, in the CRM.
        assert Company.objects.for_account(account).filter(pk=mueller.pk).exists()
        assert Contact.objects.for_account(account).filter(company=mueller.pk).count() == 2
        admin.goto("/companies/")
        assert "Müller Maschinenbau GmbH" in admin.inner_text("main")
        admin.goto("/notifications/")
        assert f"Restore request #{restore_request.pk} completed" in admin.inner_text("main")
        assert violations == [], "the pages must work under the CSP (config/settings/base.py)"
    finally:
        admin_context.close()
        support_context.close()

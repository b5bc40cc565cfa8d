"""An export request in a real browser (Playwright, Debian's chromium, the live server), two
people at once: the account's admin files it, support proposes it in the console (which the
account's history then shows as "Viewed by support"), the admin confirms, support approves, and
the admin downloads the ZIP from the request's page. No worker: nothing runs for an export."""

import zipfile
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connections
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from crm.tests.factories import CompanyFactory
from support.models import RestoreRequest
from tests.browser import chromium, click_and_wait, login, open_tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def snapshot(account) -> Snapshot:
    CompanyFactory(account=account, title="Müller GmbH")
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.NIGHTLY)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    Snapshot.objects.filter(pk=snapshot.pk).update(taken_at=timezone.now() - timedelta(hours=3))
    return snapshot


def test_an_export_from_filing_to_download(
    live_server, account, admin_user, support_user, snapshot, tmp_path
):
    lost_at = timezone.localtime(
        timezone.now() - timedelta(hours=1), ZoneInfo(account.time_zone)
    ).strftime("%Y-%m-%dT%H:%M")
    with chromium() as browser:
        try:
            _journey(browser, live_server, admin_user, support_user, lost_at, tmp_path)
        finally:
            # Playwright's loop gave the test its own database connection: close it, or the
            # test database cannot be dropped at the end (as conftest's ``tab`` does).
            connections.close_all()


def _journey(browser, live_server, admin_user, support_user, lost_at, tmp_path) -> None:
    """Both people, step by step (in the browser's loop: its ORM connection is closed after)."""
    admin_tab = open_tab(browser, live_server.url)
    support_tab = open_tab(browser, live_server.url)
    admin, support = admin_tab.page, support_tab.page
    login(admin, admin_user)
    login(support, support_user)

    admin.goto("/support/requests/new/")
    admin.fill("#id_lost_at", lost_at)
    admin.check("#kind-export")
    admin.fill("#id_message", "We need last night's contacts in a spreadsheet.")
    click_and_wait(admin, "main form [type=submit]")
    request = RestoreRequest.objects.get()
    assert request.kind == "export"

    support.goto(f"/console/requests/{request.pk}/")
    assert "The ZIP of CSV files holds:" in support.inner_text("#preview")
    click_and_wait(support, support.get_by_role("button", name="Propose this to the admin"))
    assert "Proposed." in support.inner_text("main")

    admin.goto(f"/support/requests/{request.pk}/")
    admin.check("input[name=acknowledge]")
    click_and_wait(admin, admin.get_by_role("button", name="Confirm the export"))

    support.goto(f"/console/requests/{request.pk}/")
    click_and_wait(support, support.get_by_role("button", name="Approve the export"))
    assert "The export is ready" in support.inner_text("main")

    admin.goto(f"/support/requests/{request.pk}/")
    assert "The export is ready" in admin.inner_text("main")
    with admin.expect_download() as download:
        admin.get_by_role("link", name="Download the ZIP of CSV files").click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name.endswith(".zip")
    assert "companies.csv" in zipfile.ZipFile(path).namelist()

    admin.goto("/history/?event_type=support_access")
    history = admin.inner_text("main")
    assert "Viewed by support" in history and "support" in history
    admin.goto("/history/?event_type=export")
    assert "Snapshot exported" in admin.inner_text("main")

    admin_tab.assert_clean()
    support_tab.assert_clean()
    admin_tab.close()
    support_tab.close()

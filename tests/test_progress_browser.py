"""static/js/progress.js, the one poller behind both live progress bars, in a real browser
under the Content-Security-Policy: a recycle bin restore job (templates/recyclebin/_job.html)
and a restore request (templates/support/_progress.html). The job or request moves on in the
database while the page is open; the page follows without a reload (bar, percent, text,
status), and at the end opens the job's done URL or reloads to show the outcome."""

import pytest
from django.utils import timezone

from recyclebin import services
from recyclebin.models import RestoreJob
from recyclebin.tests.factories import entries_bulk_make
from support.models import RestoreRequest
from support.tests.factories import request_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _bar_value(page) -> float:
    return page.locator("[data-progress-bar]").evaluate("bar => bar.value")


def test_the_bin_job_bar_follows_the_job_then_opens_the_outcome(
    tab, account, admin_user, settings, monkeypatch
):
    from tests.browser import login

    settings.BIN_RESTORE_JOB_THRESHOLD = 5
    monkeypatch.setattr(services, "restore_job_send", lambda **kwargs: None)  # no worker
    entries = entries_bulk_make(account=account, actor=admin_user, count=9)
    job = services.restore_job_create(
        account=account, entry_ids=[e.pk for e in entries], actor=admin_user
    )
    page = tab.page
    login(page, admin_user)
    page.goto(f"/recyclebin/?job={job.pk}")
    assert page.inner_text("[data-progress-summary]") == "0 of 9 entries done"

    RestoreJob.objects.filter(pk=job.pk).update(status="running", done=4, restored=4)
    page.locator("[data-progress-summary]", has_text="4 of 9 entries done").wait_for()
    assert page.inner_text("[data-progress-percent]") == "44%"
    assert _bar_value(page) == 44
    assert page.inner_text("[data-progress-status]") == "Running"

    RestoreJob.objects.filter(pk=job.pk).update(
        status="completed", done=9, restored=9, finished_at=timezone.now()
    )
    page.wait_for_selector("text=The restore is finished")
    assert page.url.endswith(f"/recyclebin/?job={job.pk}")  # the done URL
    assert page.locator("[data-progress-url]").count() == 0
    tab.assert_clean()


def test_the_request_bar_follows_the_restore_then_reloads(tab, account, admin_user):
    from tests.browser import login

    restore_request = request_make(account, status="queued")
    page = tab.page
    login(page, admin_user)
    page.goto(f"/support/requests/{restore_request.pk}/")
    assert page.inner_text("[data-progress-step]") == "Waiting for a worker"

    RestoreRequest.objects.filter(pk=restore_request.pk).update(
        status="running", progress=60, step="apply"
    )
    page.locator("[data-progress-percent]", has_text="60%").wait_for()
    assert _bar_value(page) == 60
    assert page.inner_text("[data-progress-step]") == "Restoring the data"
    assert page.inner_text("[data-progress-status]") == "Running"

    RestoreRequest.objects.filter(pk=restore_request.pk).update(
        status="failed", error="The snapshot file is damaged."
    )
    page.locator("[data-progress-url]").wait_for(state="detached")  # reloaded: no bar now
    assert page.url.endswith(f"/support/requests/{restore_request.pk}/")
    assert "The snapshot file is damaged." in page.inner_text("main")
    tab.assert_clean()

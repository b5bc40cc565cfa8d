"""Issue 18's last points in the browser, at desktop and phone width, in English and German:
an admin takes a finished recover back with an ``undo`` request (filed in the browser, its
preview, the confirmation, the completion line arriving live), support staff looking at the
request are one history line with a view count, and a snapshot's preview says which fields of
a changed record go back."""

import pytest

from backups.services import snapshot_take
from backups.tests.factories import live_rows
from crm.models import Company, Deal
from crm.tests.factories import CompanyFactory, DealFactory
from history.models import Event
from recyclebin import services as bin_services
from support import services, tasks
from support.models import RestoreRequest, SupportAccess
from support.tests.factories import recover_run
from tests.browser import WIDTHS, assert_fits, click_and_wait, login, open_tab, open_tab_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_MS = 3_000  # issue 18: what the other side does shows within 3 seconds
TEXT = {
    "en": {
        "sent": "was sent",
        "confirmed": "Confirmed.",
        "done": "The undo completed",
        "viewed": "Viewed by support",
        "views": "({} views)",
        "amount": "Amount",
    },
    "de": {
        "sent": "wurde gesendet",
        "confirmed": "Bestätigt.",
        "done": "Das Rückgängigmachen ist abgeschlossen",
        "viewed": "Vom Support eingesehen",
        "views": "({} Aufrufe)",
        "amount": "Betrag",
    },
}


@pytest.fixture(autouse=True)
def no_task_sent(monkeypatch):
    """The restores run here, through the task's body, when the test says so."""
    monkeypatch.setattr(services.run, "task_send", lambda request_id: None)


def _recovered(account, admin_user, support_user) -> tuple[dict, int]:
    """Two companies purged, then brought back by a finished recover: the account's rows
    before the recover, and how many companies it brought back."""
    for title in ("Initech", "Globex", "Umbrella"):
        CompanyFactory(account=account, title=title)
    kept = snapshot_take(account=account, kind="manual")
    for company in Company.objects.filter(account=account, title__in=("Globex", "Umbrella")):
        entry = bin_services.bin_delete(record=company, actor=admin_user)
        bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)
    before = live_rows(account)
    recover_run(admin_user=admin_user, support_user=support_user, snapshot=kept)
    assert live_rows(account) != before
    return before, 2


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", ["en", "de"])
def test_an_undo_takes_a_recover_back_from_the_browser(
    browser, live_server, account, admin_user, support_user, snapshot_dir, language, width
):
    words = TEXT[language]
    before, brought_back = _recovered(account, admin_user, support_user)
    admin = open_tab_at(browser, live_server.url, language=language, width=width)
    support = open_tab(browser, live_server.url)
    page = admin.page
    try:
        # The admin asks for an undo (the last restore is what it takes back).
        login(page, admin_user, language=language)
        page.goto("/support/requests/new/")
        page.check("#kind-undo")
        page.fill("#id_message", "We did not want these two back after all.")
        assert_fits(page)
        click_and_wait(page, "main form.requestform [type=submit]")
        assert words["sent"] in page.inner_text(".messages")
        undo = RestoreRequest.objects.get(account=account, kind="undo")

        # Support opens it three times within the hour: one line in the account's history.
        login(support.page, support_user)
        for _ in range(3):
            support.page.goto(f"/console/requests/{undo.pk}/")
        services.request_propose(request=undo, user=support_user)

        # The admin's open page shows the proposal by itself: the preview of what goes away.
        page.goto(f"/support/requests/{undo.pk}/")
        preview = page.locator("#preview table.preview")
        preview.wait_for(timeout=LIVE_MS)
        removed = preview.locator("tr[data-entity-type=company] td[data-bucket=removed] strong")
        assert removed.inner_text() == str(brought_back)
        page.check("form.confirmform input[name=acknowledge]")
        assert_fits(page)
        click_and_wait(page, "form.confirmform button[type=submit]")
        assert words["confirmed"] in page.inner_text(".messages")

        # Support approves; the task runs it; the admin's page says so without a reload.
        services.request_approve(request=RestoreRequest.objects.get(pk=undo.pk), user=support_user)
        assert tasks.restore_request_run.apply(args=[undo.pk]).get() == "completed"
        page.locator("#chat", has_text=words["done"]).wait_for(timeout=LIVE_MS)
        assert live_rows(account) == before

        accesses = Event.objects.filter(
            account=account, event_type="support_access", entity_id=undo.pk
        )
        assert accesses.count() == 1
        page.goto(f"/history/?event_type=support_access&entity_id={undo.pk}")
        row = page.locator("table.history tbody tr")
        assert row.count() == 1
        [tally] = SupportAccess.objects.filter(request=undo, user=support_user)
        assert tally.views >= 3  # the three page loads, and what they fetched
        assert words["viewed"] in row.inner_text()
        assert words["views"].format(tally.views) in row.inner_text()
        assert_fits(page)
        admin.assert_clean()
        support.assert_clean()
    finally:
        admin.close()
        support.close()


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", ["en", "de"])
def test_a_snapshot_preview_says_which_fields_go_back(
    browser, live_server, account, admin_user, snapshot_dir, language, width
):
    deal = DealFactory(account=account, title="Licence", amount="2300.00")
    snapshot = snapshot_take(account=account, kind="manual")
    Deal.objects.filter(pk=deal.pk).update(amount="99999.00")
    tab = open_tab_at(browser, live_server.url, language=language, width=width)
    page = tab.page
    try:
        login(page, admin_user, language=language)
        page.goto(f"/backups/{snapshot.pk}/preview/?kind=full")
        change = page.locator(
            f"[data-record='{deal.pk}'] li[data-field={TEXT[language]['amount']}]"
        )
        assert change.locator(".changes__old").inner_text() == "99999.00"
        assert change.locator(".changes__new").inner_text() == "2300.00"
        assert_fits(page)
        tab.assert_clean()
    finally:
        tab.close()

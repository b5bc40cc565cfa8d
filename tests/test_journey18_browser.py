"""Issue 18's points a user meets in the browser, at desktop and phone width, in English and
German: Undo in the message after a delete, the bulk restore's confirmation and the selection
count, a link to a record in the bin, what a restore request may ask for now, and asking to
upgrade. (The live chat: tests/test_live_browser.py and tests/test_support_browser.py; every
page on a phone: tests/test_phone_browser.py; axe-core: tests/test_accessibility_browser.py.)"""

import pytest
from django.utils import timezone

from backups.services import snapshot_take
from crm.models import Company
from crm.tests.factories import CompanyFactory
from recyclebin import services as bin_services
from support import services
from support.models import RestoreRequest
from tests.browser import (
    DAY_PATTERNS,
    WIDTHS,
    assert_fits,
    click_and_wait,
    login,
    open_tab_at,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "en": {
        "undo": "Undo",
        "restored": "2 entries were restored",
        "in_bin": "This company is in the recycle bin",
        "possible": "What you can ask for now",
        "upgrade": "Ask to upgrade to Standard",
        "asked": "Upgrade asked for on",
    },
    "de": {
        "undo": "Rückgängig",
        "restored": "2 Einträge wurden wiederhergestellt",
        "in_bin": "ist im Papierkorb",
        "possible": "Was Sie jetzt anfragen können",
        "upgrade": "Wechsel zu Standard anfragen",
        "asked": "Tarifwechsel angefragt am",
    },
}


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", ["en", "de"])
def test_the_journeys_points(browser, live_server, account, admin_user, language, width):
    words = TEXT[language]
    account.plan = "basic"
    account.save()
    initech = CompanyFactory(account=account, title="Initech")
    tab = open_tab_at(browser, live_server.url, language=language, width=width)
    page = tab.page
    try:
        login(page, admin_user, language=language)

        # Delete, then Undo from the message in one click.
        page.goto(f"/companies/{initech.pk}/delete/")
        click_and_wait(page, "main form [type=submit]")
        undo = page.locator(".messages .message__undo button")
        assert undo.inner_text() == words["undo"]
        assert_fits(page)
        click_and_wait(page, undo)
        assert Company.objects.for_account(account).filter(pk=initech.pk).exists()

        # A link to a record in the bin says where it is, and Restore brings it back.
        bin_services.bin_delete(record=Company.objects.get(pk=initech.pk), actor=admin_user)
        page.goto(f"/companies/{initech.pk}/")
        assert words["in_bin"] in page.inner_text("main")
        assert_fits(page)
        click_and_wait(page, page.locator("[data-testid=in-bin] button[type=submit]"))
        assert page.url.endswith(f"/companies/{initech.pk}/")

        # Two ticked in the bin: the bar counts them; Restore asks first, naming them.
        for name in ("Globex", "Umbrella"):
            gone = CompanyFactory(account=account, title=name)
            bin_services.bin_delete(record=gone, actor=admin_user)
        page.goto("/recyclebin/")
        for box in page.locator("table.bin tbody input[name=ids]").all():
            box.check()
        assert page.locator("output[data-selected-count=ids]").inner_text() == "2"
        click_and_wait(page, page.locator(".bulkbar__actions button").first)
        named = page.inner_text("[data-testid=restore-named]")
        assert "Globex" in named and "Umbrella" in named
        assert_fits(page)
        click_and_wait(page, page.locator("main form button[type=submit]"))
        assert words["restored"] in page.inner_text(".messages")

        # Restore requests need a higher plan: the pricing page asks for it.
        page.goto("/pricing/")
        assert_fits(page)
        click_and_wait(page, page.get_by_role("button", name=words["upgrade"]))
        assert words["asked"] in page.inner_text("main")

        # On a plan with restore requests, the list says what is possible before filing.
        account.plan = "standard"
        account.save()
        page.goto("/support/requests/")
        assert words["possible"] in page.inner_text("[data-testid=possible]")
        assert_fits(page)
        tab.assert_clean()
    finally:
        tab.close()


HISTORY_TEXT = {
    "en": {"matches": "events match", "system": "System", "done": "2 records brought back"},
    "de": {"matches": "Einträge passen", "system": "System", "done": "2 Datensätze zurückgeholt"},
}


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("language", ["en", "de"])
def test_a_finished_recover_reads_right(
    browser, live_server, account, admin_user, support_user, snapshot_dir, language, width
):
    """The stepper has one current step while a request runs; a recover's last chat line says
    what it did, in the reader's language; the history counts its matches and offers System
    and support staff as users; times read the language's one way."""
    CompanyFactory(account=account, title="Initech")
    snapshot = snapshot_take(account=account, kind="manual")
    request = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="recover", message="Two are gone."
    )
    services.request_propose(request=request, user=support_user, snapshot=snapshot)
    RestoreRequest.objects.filter(pk=request.pk).update(status="running")
    words = HISTORY_TEXT[language]
    tab = open_tab_at(browser, live_server.url, language=language, width=width)
    page = tab.page
    try:
        login(page, admin_user, language=language)
        page.goto(f"/support/requests/{request.pk}/")
        assert page.locator("[data-live=steps] [aria-current=step]").count() == 1
        assert_fits(page)
        # It completes (as the task writes it): the page shows the kind's own words by itself.
        request.refresh_from_db()
        services.run._completed(
            request,
            outcome={
                "kind": "recover",
                "snapshot_id": snapshot.pk,
                "counts": {"crm_company": {"inserted": 2, "updated": 0, "deleted": 0}},
            },
        )
        page.locator("#chat", has_text=words["done"]).wait_for(timeout=3_000)
        assert DAY_PATTERNS[language].search(page.inner_text("#chat time >> nth=0"))
        page.goto("/history/")
        assert words["matches"] in page.inner_text("[data-testid=matches]")
        options = page.locator("#f-actor option").all_inner_texts()
        assert words["system"] in options and any(
            "(support)" in o or "(Support)" in o for o in options
        )
        assert_fits(page)
        tab.assert_clean()
    finally:
        tab.close()

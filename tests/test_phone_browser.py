"""Every page on a phone (issue 18, item 10; DESIGN.md "Interfaces": usable 390 px wide): the
page never scrolls sideways (a wide table scrolls inside its own box), the header wraps with
"Log out" on screen, and the bin's actions can be reached. In English and German, for an
account admin and for support staff. Screenshots of a few go to docs/screenshots/phone-*.png."""

import pytest
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from crm.tests.factories import CompanyFactory, ContactFactory, DealFactory
from recyclebin import services as bin_services
from support import services
from tests.browser import SCREENSHOTS, login, open_tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def data(account, admin_user, support_user, snapshot_dir):
    company = CompanyFactory(
        account=account, title="Müller Maschinenbau GmbH mit einem sehr langen Namen"
    )
    ContactFactory(account=account, first_name="Anna", last_name="Müller", company=company)
    deal = DealFactory(account=account, title="Wartungsvertrag 2027", company=company)
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    for n in range(3):
        gone = CompanyFactory(account=account, title=f"Gelöschte Firma Nummer {n} GmbH & Co. KG")
        bin_services.bin_delete(record=gone, actor=admin_user)
    request = services.request_file(
        user=admin_user,
        lost_at=timezone.now(),
        kind="recover",
        message="Drei Firmen fehlen.",
    )
    services.message_post(request=request, user=support_user, body="Wir schauen nach.")
    return {"company": company, "deal": deal, "snapshot": snapshot, "request": request}


def _admin_pages(data) -> list[str]:
    return [
        "/crm/",
        "/companies/",
        f"/companies/{data['company'].pk}/",
        f"/deals/{data['deal'].pk}/edit/",
        "/recyclebin/",
        "/history/",
        "/backups/",
        f"/backups/{data['snapshot'].pk}/preview/",
        "/support/requests/",
        "/support/requests/new/",
        f"/support/requests/{data['request'].pk}/",
        "/notifications/",
        "/security/",
        "/pricing/",
    ]


def _fits(page, path: str) -> None:
    """No sideways scroll of the page, and the header's "Log out" on screen."""
    width = page.evaluate("() => document.documentElement.scrollWidth")
    if width > PHONE["width"]:  # name what sticks out, to fix it
        wide = page.evaluate(
            """() => Array.from(document.querySelectorAll("body *"))
                .filter((e) => e.getBoundingClientRect().right > 391)
                .slice(0, 8)
                .map((e) => `${e.tagName}.${e.className} ${e.getBoundingClientRect().right}`)"""
        )
        raise AssertionError(f"{path}: the page is {width} px wide: {wide}")
    logout = page.locator("header form[action='/logout/'] button").bounding_box()
    assert logout is not None and logout["x"] + logout["width"] <= PHONE["width"], path


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_admin_page_fits_a_phone(browser, live_server, admin_user, data, language):
    tab = open_tab(browser, live_server.url, locale="de-DE" if language == "de" else "en-US")
    tab.page.set_viewport_size(PHONE)
    missing: list[str] = []  # anything a page asks for and does not get (the favicon was)
    tab.page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    try:
        login(tab.page, admin_user, language=language)
        for path in _admin_pages(data):
            response = tab.page.goto(path)
            assert response.status == 200, path
            _fits(tab.page, path)
        tab.page.goto("/recyclebin/")
        if language == "en":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            tab.page.screenshot(path=str(SCREENSHOTS / "phone-recyclebin.png"), full_page=True)
        # Each entry's Restore button can be reached (scrolled to inside its box) and works.
        restore = tab.page.locator("table.bin tbody tr").first.locator(
            "button[formaction$='/recyclebin/restore/']"
        )
        restore.scroll_into_view_if_needed()
        box = restore.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        _fits(tab.page, "/recyclebin/ (scrolled)")
        with tab.page.expect_navigation():
            restore.click()
        assert tab.page.locator(".messages").count() == 1
        assert missing == []
        tab.assert_clean()
    finally:
        tab.close()


def test_the_support_console_fits_a_phone(browser, live_server, support_user, data):
    tab = open_tab(browser, live_server.url)
    tab.page.set_viewport_size(PHONE)
    try:
        login(tab.page, support_user)
        for path in ("/console/", "/notifications/", f"/console/requests/{data['request'].pk}/"):
            assert tab.page.goto(path).status == 200, path
            _fits(tab.page, path)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the request's page, last
        tab.page.screenshot(path=str(SCREENSHOTS / "phone-console.png"), full_page=True)
        tab.assert_clean()
    finally:
        tab.close()

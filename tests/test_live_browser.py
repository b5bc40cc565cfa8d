"""Live updates in a real browser (issue 18, item 2; DESIGN.md "Interfaces"): the unread
badge in the header follows within 3 seconds on any page, on both sides, at desktop and phone
width; a request's chat line arrives while the reader is typing a reply, and what they typed
stays. The whole request story without a reload is tests/test_support_browser.py."""

import pytest
from django.utils import timezone

from backups.models import Snapshot
from backups.services import snapshot_take
from support import services
from support.models import Notification
from tests.browser import login, open_tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_MS = 3_000


@pytest.fixture
def filed(account, admin_user, snapshot_dir):
    snapshot = snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    assert snapshot.status == Snapshot.Status.SUCCEEDED
    return services.request_file(
        user=admin_user,
        lost_at=timezone.now(),
        kind="recover",
        message="Two contacts are gone.",
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_the_unread_badge_follows_on_any_page(
    browser, live_server, admin_user, support_user, filed, width
):
    tab = open_tab(browser, live_server.url)
    tab.page.set_viewport_size({"width": width, "height": 800})
    try:
        login(tab.page, admin_user)
        tab.page.goto("/companies/")
        badge = tab.page.locator(".notiflink [data-unread]")
        assert badge.count() == 0
        services.message_post(request=filed, user=support_user, body="Looking into it.")
        badge.wait_for(timeout=LIVE_MS)
        assert badge.inner_text() == "1"
        assert "1 unread notification" in tab.page.get_attribute(".notiflink", "title")
        services.message_post(request=filed, user=support_user, body="Found it.")
        tab.page.locator(".notiflink [data-unread='2']").wait_for(timeout=LIVE_MS)
        tab.assert_clean()
    finally:
        tab.close()


def test_supports_badge_follows_the_admins_steps(
    browser, live_server, admin_user, support_user, filed
):
    tab = open_tab(browser, live_server.url)
    try:
        login(tab.page, support_user)
        tab.page.goto("/console/")
        Notification.objects.filter(recipient=support_user).update(read_at=timezone.now())
        tab.page.reload()
        badge = tab.page.locator(".notiflink [data-unread]")
        assert badge.count() == 0
        services.message_post(request=filed, user=admin_user, body="Any news?")
        badge.wait_for(timeout=LIVE_MS)
        tab.assert_clean()
    finally:
        tab.close()


def test_a_reply_being_typed_survives_a_new_line(
    browser, live_server, admin_user, support_user, filed
):
    tab = open_tab(browser, live_server.url, locale="de-DE")
    try:
        login(tab.page, admin_user, language="de")
        tab.page.goto(f"/support/requests/{filed.pk}/")
        tab.page.fill("#chat textarea", "Wir brauchen vor allem")
        services.message_post(request=filed, user=support_user, body="Welche Kontakte genau?")
        tab.page.locator("#chat", has_text="Welche Kontakte genau?").wait_for(timeout=LIVE_MS)
        assert tab.page.input_value("#chat textarea") == "Wir brauchen vor allem"
        # Only the new line was added: the first lines are the same elements as before.
        assert tab.page.locator("ol.chat > li").count() == 2
        tab.assert_clean()
    finally:
        tab.close()

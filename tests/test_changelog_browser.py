"""The 14:00 story in a real browser (issue 16): an employee's mass update of 500 deals raises
an alert the admin sees, is undone from the history page in two clicks, and the edits others
made since survive."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from changelog import alerts
from conftest import browser_login
from crm import services as crm_services
from crm.models import Deal
from crm.tests.factories import records_bulk
from tests.browser import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BURST = 500
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_an_employees_mass_update_is_undone_in_two_clicks(page, account, admin_user, employee):
    deals = records_bulk("deal", account=account, count=BURST, amount=Decimal("2300.00"))
    for deal in deals:  # 14:00: the import overwrites every amount
        crm_services.record_update(record=deal, actor=employee, data={"amount": Decimal("1")})
    # Later, the admin renames one deal and corrects another's amount by hand.
    renamed, corrected = deals[0], deals[1]
    crm_services.record_update(
        record=Deal.objects.get(pk=renamed.pk), actor=admin_user, data={"title": "Renamed"}
    )
    crm_services.record_update(
        record=Deal.objects.get(pk=corrected.pk), actor=admin_user, data={"amount": Decimal("7")}
    )

    # The detector (every minute in production) saw one user change 500 deals at once.
    (alert,) = alerts.alerts_detect()
    assert (alert.kind, alert.count, alert.actor) == ("mass_update", BURST, employee)

    browser_login(page, admin_user)
    assert f"{employee.username} changed {BURST} records at once." in page.inner_text(
        ".alertbanner"
    )
    page.goto("/history/")
    page.select_option("#f-actor", str(employee.pk))
    page.click("form.filterform button[type=submit]")
    page.wait_for_url(f"**/history/?*actor={employee.pk}*")

    page.click(f"text=Undo these {BURST} changes…")  # 1
    page.wait_for_url("**/history/revert/?*")
    main = page.inner_text("main")
    assert f"{BURST - 1} records go back to how they were before." in main
    assert "1 change is a conflict" in main
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "revert-preview.png"), full_page=True)
    page.click("[data-revert-confirm]")  # 2
    page.wait_for_url("**/history/?*event_type=revert*")
    assert f"Undone: {BURST - 1} records changed." in page.inner_text(".messages")

    amounts = dict(Deal.objects.filter(account=account).values_list("pk", "amount"))
    assert amounts.pop(corrected.pk) == Decimal("7.00")  # the later correction survives
    assert set(amounts.values()) == {Decimal("2300.00")}
    assert Deal.objects.get(pk=renamed.pk).title == "Renamed"

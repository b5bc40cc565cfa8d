"""The revert in the browser's pages: "Undo these N changes…" and "Undo this change" on the
history page, the preview with its conflicts, the confirmation, a big one's progress page, and
every refusal as a page that changes nothing (plan, someone else's change, another account)."""

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Account
from changelog import jobs
from changelog.models import RevertJob
from changelog.tests.factories import amounts, deals_edited
from conftest import login_client
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Deal
from history.models import Event

pytestmark = pytest.mark.django_db


def test_undo_a_users_burst_from_the_history_page(account, admin_user, employee):
    deals = deals_edited(account, admin_user, employee)
    browser = login_client(admin_user)
    page = browser.get(f"/history/?actor={employee.pk}")
    assert "Undo these 3 changes…" in page.text
    undo_url = page.context["undo_all"]["url"]

    preview = browser.get(undo_url)
    assert preview.status_code == 200
    assert "Undo 3 changes?" in preview.text
    assert "Deal 0" in preview.text and "0.01" in preview.text and "10.00" in preview.text
    assert amounts(deals) == {Decimal("0.01")}  # a preview changes nothing

    hidden = {"actor": str(employee.pk)}
    done = browser.post("/history/revert/", hidden, follow=True)
    assert done.redirect_chain[-1][0].startswith("/history/?")
    assert "Undone: 3 records changed." in done.text
    assert amounts(deals) == {Decimal("10.00")}


def test_more_changes_than_counted_are_offered_without_a_number(
    account, admin_user, employee, monkeypatch
):
    """Beyond the count's cap the page says "more than" and the button names no number (the
    preview counts them all)."""
    monkeypatch.setattr("history.views.UNDO_COUNT_MAX", 2)
    deals_edited(account, admin_user, employee)

    page = login_client(admin_user).get(f"/history/?actor={employee.pk}")

    assert page.context["undo_all"]["more"] is True
    assert "More than 2 of these events are changes of records." in page.text
    assert "Undo all these changes…" in page.text
    assert "Undo these 3 changes…" not in page.text


def test_conflicts_are_shown_and_forced_only_by_admins(account, admin_user, employee):
    deals = deals_edited(account, admin_user, employee, count=1)
    crm_services.record_update(
        record=Deal.objects.get(pk=deals[0].pk), actor=admin_user, data={"amount": Decimal("5")}
    )
    mine = Event.objects.get(event_type="update", actor=employee)
    as_employee = login_client(employee).get(f"/history/revert/?events={mine.pk}")
    assert "1 change is a conflict" in as_employee.text
    assert 'name="force"' not in as_employee.text
    as_admin = login_client(admin_user)
    assert 'name="force"' in as_admin.get(f"/history/revert/?events={mine.pk}").text
    as_admin.post("/history/revert/", {"events": mine.pk, "force": "1"})
    assert amounts(deals) == {Decimal("10.00")}


def test_employees_get_undo_on_their_own_rows_only(account, admin_user, employee):
    deals_edited(account, admin_user, employee, count=1)
    page = login_client(employee).get("/history/")
    rows = {row.event.event_type: row.undoable for row in page.context["rows"]}
    assert rows == {"update": True, "create": False}
    assert page.context["undo_all"] is None  # not filtered to their own
    own = login_client(employee).get(f"/history/?actor={employee.pk}")
    assert own.context["undo_all"]["count"] == 1


def test_someone_elses_change_is_refused_and_nothing_changes(account, admin_user, employee):
    deals = deals_edited(account, employee, admin_user, count=1)
    theirs = Event.objects.get(event_type="update")
    browser = login_client(employee)
    page = browser.get(f"/history/revert/?events={theirs.pk}")
    assert page.status_code == 403
    assert "You can undo only your own changes" in page.text
    browser.post("/history/revert/", {"events": theirs.pk})
    assert amounts(deals) == {Decimal("0.01")}


def test_another_accounts_event_is_not_found(account, admin_user, other_account, other_admin):
    deals = deals_edited(other_account, other_admin, other_admin, count=1)
    theirs = Event.objects.get(event_type="update")
    browser = login_client(admin_user)
    assert browser.get(f"/history/revert/?events={theirs.pk}").status_code == 404
    browser.post("/history/revert/", {"events": theirs.pk})
    assert amounts(deals) == {Decimal("0.01")}


def test_the_free_plan_offers_no_undo(account, admin_user, employee):
    deals_edited(account, admin_user, employee, count=1)
    Account.objects.filter(pk=account.pk).update(plan="free")
    browser = login_client(admin_user)
    page = browser.get(f"/history/?actor={employee.pk}")
    assert page.context["undo_all"] is None
    assert "Undo this change" not in page.text
    assert browser.get("/history/revert/?event_type=update").status_code == 403


def test_a_big_undo_shows_its_progress(account, admin_user, settings):
    settings.REVERT_JOB_THRESHOLD = 1
    deals = deals_edited(account, admin_user, admin_user, count=2)
    browser = login_client(admin_user)
    answer = browser.post("/history/revert/", {"event_type": "update"})
    job = RevertJob.objects.get()
    assert answer["Location"] == f"/history/revert/jobs/{job.pk}/"
    running = browser.get(answer["Location"])
    assert "data-progress-url" in running.text
    assert browser.get(f"/history/revert/jobs/{job.pk}/progress/").json()["status"] == "queued"
    jobs.revert_job_run(job_id=job.pk)
    assert "The changes are undone" in browser.get(answer["Location"]).text
    assert amounts(deals) == {Decimal("10.00")}


def test_a_record_goes_back_to_how_it_was_at_a_moment(account, admin_user):
    deal = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["deal"],
        data={"title": "Before", "amount": Decimal("10.00")},
    )
    moment = timezone.now()
    for title in ("Second", "Third"):
        crm_services.record_update(record=deal, actor=admin_user, data={"title": title})
    browser = login_client(admin_user)
    page = browser.get(f"/deals/{deal.pk}/")
    assert "Restore this record as it was at" in page.text
    local = moment.astimezone(ZoneInfo(account.time_zone)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    query = {"entity_type": "deal", "entity_id": deal.pk, "occurred_after": local}
    preview = browser.get("/history/revert/", query)
    assert preview.context["summary"]["events"] == 2  # the create is before the moment
    browser.post("/history/revert/", query)
    assert Deal.objects.get(pk=deal.pk).title == "Before"

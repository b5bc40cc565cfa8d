"""Mass-change alerts (changelog.alerts): a burst of deletions or changes by one user raises one
alert (extended while it goes on), with an ``alert`` history event, an email to the admins
linking to the revert preview of exactly those events, a banner and an alerts page; below the
threshold, within the account's usual, on a smaller plan or switched off: nothing. And the API:
list, acknowledge, thresholds, admins only, per account."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Account
from changelog import alerts
from changelog.models import Alert, AlertSettings
from conftest import login_client
from crm.models import Company
from crm.tests.factories import records_bulk
from history.models import Event, EventType
from history.services import history_event, history_record_many
from recyclebin import services as bin_services

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts/"


@pytest.fixture(autouse=True)
def admin_email(admin_user):
    admin_user.email = "admin@acme.example"
    admin_user.save(update_fields=["email"])


def thresholds(account, *, threshold=20, factor=5, enabled=True):
    AlertSettings.objects.update_or_create(
        account=account, defaults={"threshold": threshold, "factor": factor, "enabled": enabled}
    )


def deletes(account, user, count) -> list[Company]:
    companies = records_bulk("company", account=account, count=count)
    for company in companies:
        bin_services.bin_delete(record=company, actor=user)
    return companies


def detect(capture) -> list[Alert]:
    with capture(execute=True):
        return alerts.alerts_detect()


def test_a_mass_deletion_raises_one_alert_with_the_changes_ready_to_undo(
    account, admin_user, employee, api, django_capture_on_commit_callbacks
):
    thresholds(account)
    companies = deletes(account, employee, 25)

    (alert,) = detect(django_capture_on_commit_callbacks)
    assert (alert.kind, alert.count, alert.actor) == ("mass_delete", 25, employee)
    event = Event.objects.get(event_type=EventType.ALERT)
    assert event.details["alert"] == alert.pk and event.actor is None
    (email,) = mail.outbox
    assert email.to == [admin_user.email]
    assert "deleted 25 records" in email.subject
    assert "/history/revert/?" in email.body

    # Its history filter selects exactly those 25 deletions, and undoes them.
    history_filter = api.get(f"{URL}{alert.pk}/").json()["history_filter"]
    preview = api.post(
        "/api/v1/history/revert/", {"filter": history_filter, "dry_run": True}, format="json"
    )
    assert preview.json()["events"] == 25
    api.post("/api/v1/history/revert/", {"filter": history_filter}, format="json")
    assert (
        Company.objects.for_account(account).filter(pk__in=[c.pk for c in companies]).count() == 25
    )


def test_a_burst_that_goes_on_extends_its_alert(
    account, employee, django_capture_on_commit_callbacks
):
    thresholds(account)
    deletes(account, employee, 25)
    (alert,) = detect(django_capture_on_commit_callbacks)
    deletes(account, employee, 5)
    assert detect(django_capture_on_commit_callbacks) == []
    alert.refresh_from_db()
    assert alert.count == 30
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1


def test_a_mass_update_is_alerted_too(account, employee, django_capture_on_commit_callbacks):
    from crm import services as crm_services

    thresholds(account)
    for company in records_bulk("company", account=account, count=21):
        crm_services.record_update(record=company, actor=employee, data={"industry": "X"})
    (alert,) = detect(django_capture_on_commit_callbacks)
    assert (alert.kind, alert.count) == ("mass_update", 21)


def test_no_alert_below_the_threshold_within_the_usual_off_or_on_a_smaller_plan(
    account, employee, settings, django_capture_on_commit_callbacks
):
    thresholds(account, threshold=30)
    deletes(account, employee, 25)
    assert detect(django_capture_on_commit_callbacks) == []  # below the threshold

    thresholds(account, threshold=20, enabled=False)
    assert detect(django_capture_on_commit_callbacks) == []  # switched off

    thresholds(account, threshold=20)
    Account.objects.filter(pk=account.pk).update(plan="standard")
    assert detect(django_capture_on_commit_callbacks) == []  # not professional
    Account.objects.filter(pk=account.pk).update(plan="professional")

    # This account deletes 10 every ten minutes on a normal day: 25 is not 5 times that.
    settings.ALERT_USUAL_DAYS = 1
    start = timezone.now() - timedelta(minutes=15)
    history_record_many(
        history_event(
            account=account,
            actor=employee,
            event_type=EventType.DELETE,
            entity_type="company",
            entity_id=10_000 + n,
            occurred_at=start - timedelta(minutes=n * 10 / 10),
        )
        for n in range(1440)
    )
    assert detect(django_capture_on_commit_callbacks) == []
    assert not mail.outbox


def test_the_api_is_for_admins_of_the_account(
    account, admin_user, employee, api, api_as, other_admin, django_capture_on_commit_callbacks
):
    thresholds(account)
    deletes(account, employee, 25)
    (alert,) = detect(django_capture_on_commit_callbacks)

    listed = api.get(URL).json()["results"]
    assert [each["id"] for each in listed] == [alert.pk]
    assert listed[0]["actor"] == {"id": employee.pk, "username": employee.username}
    assert listed[0]["acknowledged_at"] is None
    assert api_as(employee).get(URL).json()["code"] == "admin_only"
    assert api_as(other_admin).get(URL).json()["results"] == []
    theirs = api_as(other_admin).post(f"{URL}{alert.pk}/acknowledge/")
    assert theirs.status_code == 404

    done = api.post(f"{URL}{alert.pk}/acknowledge/")
    assert done.status_code == 200 and done.json()["acknowledged_at"]

    assert api.get(f"{URL}settings/").json() == {"enabled": True, "threshold": 20, "factor": 5}
    bad = api.put(f"{URL}settings/", {"enabled": True, "threshold": 0, "factor": 5}, format="json")
    assert bad.status_code == 400
    good = {"enabled": True, "threshold": 500, "factor": 3}
    assert api.put(f"{URL}settings/", good, format="json").json() == good
    assert api_as(employee).put(f"{URL}settings/", good, format="json").status_code == 403


def test_the_banner_and_the_alerts_page(
    account, admin_user, employee, django_capture_on_commit_callbacks
):
    thresholds(account)
    deletes(account, employee, 25)
    (alert,) = detect(django_capture_on_commit_callbacks)
    browser = login_client(admin_user)
    assert f"{employee.username} deleted 25 records at once." in browser.get("/crm/").text
    assert "deleted 25 records at once" not in login_client(employee).get("/crm/").text
    page = browser.get("/alerts/")
    assert alerts.revert_path(alert).replace("&", "&amp;") in page.text
    browser.post("/alerts/", {"acknowledge": alert.pk})
    assert "at once." not in browser.get("/crm/").text
    assert login_client(employee).get("/alerts/").status_code == 403

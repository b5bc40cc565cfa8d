"""A restore request's steps in the account's history: event types the filters, the API and the
page know, with labels in English and German, a short note, and a link for admins."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from history.display import event_rows
from history.models import Event
from history.subjects import event_type_choices, subject_choices
from support import services
from support.subjects import RESTORE_REQUEST, RequestEvent
from support.tests.factories import snapshot_kept

pytestmark = pytest.mark.django_db

STEPS = [
    "request_filed",
    "request_proposed",
    "request_confirmed",
    "request_approved",
    "request_completed",
    "request_failed",
    "request_rejected",
    "request_cancelled",
]


@pytest.fixture
def rejected(account, admin_user, support_user):
    kept = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=1))
    request = services.request_file(
        user=admin_user, lost_at=timezone.now(), kind="recover", message="Gone."
    )
    services.request_propose(request=request, user=support_user, snapshot=kept)
    services.request_reject(request=request, user=support_user, reason="Nothing is missing.")
    return request


def test_every_step_has_an_event_type_that_fits_the_column():
    field = Event._meta.get_field("event_type")
    for step in STEPS:
        assert step in RequestEvent.values  # support's own event types, registered
        assert step in dict(event_type_choices())
        assert len(step) <= field.max_length
    assert (RESTORE_REQUEST, "Restore request") in [(k, str(v)) for k, v in subject_choices()]


def test_the_history_api_filters_the_steps(api, rejected):
    response = api.get("/api/v1/history/", {"event_type": "request_filed,request_rejected"})
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["event_type"] for row in rows] == ["request_rejected", "request_filed"]
    assert {row["entity_type"] for row in rows} == {RESTORE_REQUEST}
    assert {row["entity_id"] for row in rows} == {rejected.pk}

    by_type = api.get("/api/v1/history/", {"entity_type": RESTORE_REQUEST}).json()["results"]
    assert len(by_type) == 3


def test_rows_read_well_and_link_for_admins(account, rejected):
    events = Event.objects.for_account(account).filter(entity_type=RESTORE_REQUEST)
    rows = {row.event.event_type: row for row in event_rows(account=account, events=events)}

    assert rows["request_rejected"].note == "Nothing is missing."
    assert rows["request_proposed"].note.startswith("Recover restore from snapshot #")
    assert rows["request_filed"].note == "Recover restore"
    assert all(row.record_url is None for row in rows.values())  # not unless asked
    linked = event_rows(account=account, events=events, request_links=True)
    try:
        url = reverse("support:request_detail", args=[rejected.pk])
    except NoReverseMatch:
        url = None  # the browser pages are not routed (yet)
    assert {row.record_url for row in linked} == {url}


def test_labels_in_german():
    english = {value: str(label) for value, label in event_type_choices()}
    with translation.override("de"):
        labels = {value: str(label) for value, label in event_type_choices()}
        subjects = {value: str(label) for value, label in subject_choices()}
    for step in STEPS:
        assert labels[step] != english[step], step
    assert labels["request_filed"] == "Wiederherstellungsanfrage gestellt"
    assert subjects[RESTORE_REQUEST] == "Wiederherstellungsanfrage"


def test_the_history_page_shows_the_steps_to_admins_only(admin_user, employee, rejected):
    client = Client()
    client.force_login(admin_user)
    response = client.get(reverse("history:list"), {"event_type": "request_rejected"})
    assert response.status_code == 200
    assert b"Nothing is missing." in response.content
    assert b"Restore request rejected" in response.content
    # Issue 18: request, support and alert events are for admins; employees see the records'.
    client.force_login(employee)
    response = client.get(reverse("history:list"), {"event_type": "request_rejected"})
    assert response.status_code == 200 and response.context["rows"] == []
    assert b"Nothing is missing." not in response.content
    api = APIClient()
    api.force_authenticate(employee)
    assert api.get("/api/v1/history/", {"event_type": "request_rejected"}).json()["results"] == []
    assert api.get("/api/v1/history/", {"entity_type": "restore_request"}).json()["results"] == []

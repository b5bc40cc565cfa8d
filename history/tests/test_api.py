"""The history's REST API as API.md ("History") promises it: the event fields, every filter,
newest first with cursor pages, read-only (405 for any write), each role, and the schema."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import User
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.tests.factories import (
    API_PATHS,
    CompanyFactory,
    DealFactory,
    LeadFactory,
    assert_error,
    detail_path,
)
from history.models import Event, EventType
from history.services import history_record
from history.subjects import event_type_choices
from recyclebin import services as bin_services
from recyclebin.tests.factories import bin_state, entries_expire

pytestmark = pytest.mark.django_db

API_ROOT = "/api/v1/history/"
EVENT_FIELDS = {
    "id",
    "event_type",
    "entity_type",
    "entity_id",
    "entity_title",
    "actor",
    "occurred_at",
    "changes",
    "details",
}


@pytest.fixture
def client_for(api_as, admin_user, employee, other_admin, support_user):
    users = {
        "admin": admin_user,
        "employee": employee,
        "other_admin": other_admin,
        "support": support_user,
        "anonymous": None,
    }
    return lambda role: api_as(users[role])


def list_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def create(account, actor, entity_type="company", **data):
    data = data or {ENTITIES[entity_type].search_fields[0]: "Initech"}
    return crm_services.record_create(
        account=account, actor=actor, entity=ENTITIES[entity_type], data=data
    )


def event_at(account, *, event_type=EventType.CREATE, when, **kwargs) -> Event:
    return history_record(
        account=account, actor=None, event_type=event_type, occurred_at=when, **kwargs
    )


# --- Roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("admin", 200, None),
        ("employee", 200, None),
        ("other_admin", 404, "not_found"),
        ("support", 403, "account_required"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_each_role_reads_the_history_of_its_own_account_only(
    client_for, account, admin_user, role, status, code
):
    company = create(account, admin_user)
    event = Event.objects.get(entity_id=company.pk)
    client = client_for(role)

    listing = client.get(API_ROOT)
    detail = client.get(f"{API_ROOT}{event.pk}/")

    if role == "other_admin":
        assert list_ids(listing) == []
        assert_error(detail, 404, "not_found")
    elif code is not None:
        assert_error(listing, status, code)
        assert_error(detail, status, code)
    else:
        assert list_ids(listing) == [event.pk]
        assert detail.json()["id"] == event.pk


def test_another_accounts_event_looks_exactly_like_a_missing_one(client_for, account, admin_user):
    create(account, admin_user)
    event = Event.objects.get()
    client = client_for("other_admin")

    foreign = client.get(f"{API_ROOT}{event.pk}/")
    missing = client.get(f"{API_ROOT}{event.pk + 1000}/")

    assert assert_error(foreign, 404) == assert_error(missing, 404)


@pytest.mark.parametrize("role", ["admin", "employee"])
@pytest.mark.parametrize(
    ("method", "on_detail"),
    [("post", False), ("put", True), ("patch", True), ("delete", True), ("post", True)],
)
def test_every_write_answers_405_and_changes_nothing(
    client_for, account, admin_user, role, method, on_detail
):
    create(account, admin_user)
    event = Event.objects.get()
    before = bin_state()
    path = f"{API_ROOT}{event.pk}/" if on_detail else API_ROOT
    body = {"event_type": "delete", "entity_title": "forged"}

    response = getattr(client_for(role), method)(path, body, format="json")

    assert_error(response, 405, "method_not_allowed")
    assert bin_state() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_writes_on_the_list_answer_405_too(client_for, account, admin_user, method):
    create(account, admin_user)
    before = bin_state()

    assert_error(getattr(client_for("admin"), method)(API_ROOT, {}, format="json"), 405)
    assert bin_state() == before


def test_refused_callers_change_nothing_either(client_for, account, admin_user):
    create(account, admin_user)
    event = Event.objects.get()
    before = bin_state()

    assert_error(client_for("anonymous").post(API_ROOT, {}, format="json"), 401)
    assert_error(client_for("support").delete(f"{API_ROOT}{event.pk}/"), 403, "account_required")
    assert_error(client_for("other_admin").delete(f"{API_ROOT}{event.pk}/"), 405)
    assert bin_state() == before


# --- The event ------------------------------------------------------------------------------


def test_an_event_has_exactly_the_contract_fields(client_for, account, employee):
    deal = create(account, employee, "deal", title="Licence", amount=Decimal("10.00"))
    crm_services.record_update(
        record=deal, actor=employee, data={"amount": Decimal("12.50"), "title": "Licence+"}
    )

    row = client_for("admin").get(API_ROOT).json()["results"][0]

    assert set(row) == EVENT_FIELDS
    assert row["event_type"] == "update"
    assert (row["entity_type"], row["entity_id"]) == ("deal", deal.pk)
    assert row["entity_title"] == "Licence+"
    assert row["actor"] == {"id": employee.pk, "username": employee.username}
    assert datetime.fromisoformat(row["occurred_at"]).tzinfo is not None
    assert row["changes"] == {"amount": ["10.00", "12.50"], "title": ["Licence", "Licence+"]}


def test_update_changes_show_links_by_id_and_dates_as_strings(client_for, account, admin_user):
    deal = DealFactory(account=account, close_date=None, linked=True)
    company = CompanyFactory(account=account)
    client = client_for("admin")

    response = client.patch(
        detail_path("deal", deal.pk),
        {"company": company.pk, "close_date": "2030-06-30"},
        format="json",
    )
    assert response.status_code == 200, response.content

    row = client.get(API_ROOT, {"event_type": "update"}).json()["results"][0]
    assert row["changes"] == {
        "company": [deal.company_id, company.pk],
        "close_date": [None, "2030-06-30"],
    }


def test_the_actor_is_read_from_the_event_not_the_user_table(client_for, account, employee):
    create(account, employee)
    employee_id, username = employee.pk, employee.username
    User.objects.filter(pk=employee_id).delete()

    row = client_for("admin").get(API_ROOT).json()["results"][0]

    assert row["actor"] == {"id": employee_id, "username": username}


def test_system_events_have_no_actor(client_for, account, admin_user):
    entry = bin_services.bin_delete(record=LeadFactory(account=account), actor=admin_user)
    entries_expire(entry)
    bin_services.bin_purge_expired()

    row = client_for("admin").get(API_ROOT, {"event_type": "purge"}).json()["results"][0]

    assert row["actor"] is None
    assert row["details"] == {"bin_entries": [entry.pk]}


def test_the_trail_of_a_record_reads_after_its_purge(client_for, account, admin_user):
    client = client_for("admin")
    created = client.post(API_PATHS["lead"], {"title": "Ephemeral"}, format="json").json()
    assert client.delete(detail_path("lead", created["id"])).status_code == 204
    entry_id = client.get("/api/v1/recyclebin/").json()["results"][0]["id"]
    assert client.delete(f"/api/v1/recyclebin/{entry_id}/").status_code == 204

    rows = client.get(API_ROOT, {"entity_type": "lead", "entity_id": created["id"]}).json()

    assert [(r["event_type"], r["entity_title"]) for r in rows["results"]] == [
        ("purge", "Ephemeral"),
        ("delete", "Ephemeral"),
        ("create", "Ephemeral"),
    ]


def test_delete_and_restore_through_the_api_are_in_the_history(client_for, account, employee):
    lead = LeadFactory(account=account, title="Back again")
    client = client_for("employee")
    client.delete(detail_path("lead", lead.pk))
    entry_id = client.get("/api/v1/recyclebin/").json()["results"][0]["id"]
    client.post(f"/api/v1/recyclebin/{entry_id}/restore/")

    rows = client.get(API_ROOT, {"event_type": "delete,restore"}).json()["results"]

    assert [(r["event_type"], r["entity_id"], r["actor"]["id"]) for r in rows] == [
        ("restore", lead.pk, employee.pk),
        ("delete", lead.pk, employee.pk),
    ]


# --- Filters --------------------------------------------------------------------------------


@pytest.fixture
def trail(account, admin_user, employee):
    """create, update, delete and restore events by two users, on a company and a lead."""
    company = create(account, admin_user, "company", title="Initech")
    lead = create(account, employee, "lead", title="Webshop relaunch")
    crm_services.record_update(record=lead, actor=employee, data={"title": "Webshop 2"})
    entry = crm_services.record_delete(record=company, actor=employee)
    bin_services.bin_restore(account=account, entry_ids=[entry.pk], actor=admin_user)
    return {"company": company, "lead": lead}


def ids_of(**filters) -> list[int]:
    return list(Event.objects.filter(**filters).order_by("-pk").values_list("pk", flat=True))


def test_filter_by_event_type_takes_a_comma_list(client_for, trail):
    client = client_for("admin")

    assert list_ids(client.get(API_ROOT, {"event_type": "delete"})) == ids_of(event_type="delete")
    assert list_ids(client.get(API_ROOT, {"event_type": "delete,restore"})) == ids_of(
        event_type__in=["delete", "restore"]
    )
    assert list_ids(client.get(f"{API_ROOT}?event_type=create&event_type=update")) == ids_of(
        event_type__in=["create", "update"]
    )
    assert list_ids(client.get(API_ROOT, {"event_type": "purge"})) == []


def test_filter_by_entity_type_id_and_actor(client_for, trail, admin_user, employee):
    client = client_for("admin")
    lead = trail["lead"]

    assert list_ids(client.get(API_ROOT, {"entity_type": "lead"})) == ids_of(entity_type="lead")
    assert list_ids(client.get(API_ROOT, {"entity_type": "lead", "entity_id": lead.pk})) == ids_of(
        entity_type="lead", entity_id=lead.pk
    )
    assert list_ids(client.get(API_ROOT, {"actor": employee.pk})) == ids_of(actor_id=employee.pk)
    assert list_ids(
        client.get(API_ROOT, {"actor": admin_user.pk, "event_type": "restore"})
    ) == ids_of(actor_id=admin_user.pk, event_type="restore")
    assert len(ids_of(actor_id=employee.pk)) == 3


def test_filter_by_time_range(client_for, account):
    now = timezone.now()
    old = event_at(account, when=now - timedelta(days=10), title="old")
    middle = event_at(account, when=now - timedelta(days=5), title="middle")
    new = event_at(account, when=now, title="new")
    client = client_for("admin")
    six_days_ago = (now - timedelta(days=6)).isoformat()
    one_day_ago = (now - timedelta(days=1)).isoformat()

    assert list_ids(client.get(API_ROOT, {"occurred_after": six_days_ago})) == [new.pk, middle.pk]
    assert list_ids(client.get(API_ROOT, {"occurred_before": six_days_ago})) == [old.pk]
    assert list_ids(
        client.get(API_ROOT, {"occurred_after": six_days_ago, "occurred_before": one_day_ago})
    ) == [middle.pk]


def test_search_finds_titles_and_usernames(client_for, trail, employee):
    client = client_for("admin")

    assert list_ids(client.get(API_ROOT, {"search": "WEBSHOP"})) == ids_of(
        entity_title__icontains="webshop"
    )
    assert list_ids(client.get(API_ROOT, {"search": employee.username})) == ids_of(
        actor_username=employee.username
    )
    assert list_ids(client.get(API_ROOT, {"search": "nothing like it"})) == []
    assert_error(client.get(API_ROOT, {"search": "a\x00"}), 400)  # refused, not a 500


def test_filters_never_reach_another_account(client_for, account, other_account, other_admin):
    create(other_account, other_admin, "company", title="Secret")
    client = client_for("admin")

    for params in (
        {"search": "Secret"},
        {"actor": other_admin.pk},
        {"entity_type": "company"},
        {"event_type": "create"},
    ):
        assert list_ids(client.get(API_ROOT, params)) == [], params


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event_type": "erase"}, "event_type"),
        ({"event_type": "delete,erase"}, "event_type"),
        ({"entity_type": "invoice"}, "entity_type"),
        ({"actor": "me"}, "actor"),
        ({"actor": "1.5"}, "actor"),
        ({"entity_id": "0"}, "entity_id"),
        ({"entity_id": str(10**30)}, "entity_id"),
        ({"occurred_after": "last week"}, "occurred_after"),
        ({"occurred_before": "2030-02-30T00:00:00Z"}, "occurred_before"),
    ],
)
def test_invalid_filter_values_answer_400(client_for, trail, params, field):
    body = assert_error(client_for("admin").get(API_ROOT, params), 400)

    assert field in body["errors"]


# --- Order and pages ------------------------------------------------------------------------


def test_newest_first_with_the_list_envelope(client_for, account):
    events = [event_at(account, when=timezone.now(), title=f"e{i}") for i in range(5)]
    client = client_for("admin")

    body = client.get(API_ROOT, {"page_size": 2}).json()

    assert set(body) == {"results", "next", "previous"}
    assert body["previous"] is None
    assert [r["id"] for r in body["results"]] == [events[4].pk, events[3].pk]
    seen, url = [], f"{API_ROOT}?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert seen == [e.pk for e in reversed(events)]
    back = client.get(client.get(body["next"]).json()["previous"]).json()
    assert [r["id"] for r in back["results"]] == [events[4].pk, events[3].pk]


def test_ordering_by_time(client_for, account):
    now = timezone.now()
    late = event_at(account, when=now, title="late")
    early = event_at(account, when=now - timedelta(days=1), title="early")
    client = client_for("admin")

    assert list_ids(client.get(API_ROOT)) == [early.pk, late.pk]
    assert list_ids(client.get(API_ROOT, {"ordering": "-occurred_at"})) == [late.pk, early.pk]
    assert list_ids(client.get(API_ROOT, {"ordering": "occurred_at"})) == [early.pk, late.pk]
    assert list_ids(client.get(API_ROOT, {"ordering": "id"})) == [late.pk, early.pk]


def test_page_size_goes_up_to_200(client_for, account):
    for i in range(205):
        event_at(account, when=timezone.now(), title=str(i))
    client = client_for("admin")

    body = client.get(API_ROOT, {"page_size": 200}).json()

    assert len(body["results"]) == 200 and body["next"]
    assert_error(client.get(API_ROOT, {"page_size": 1000}), 400, "invalid")


@pytest.mark.parametrize("event_id", ["abc", "0", "-1", str(10**30)])
def test_odd_ids_answer_404(client_for, account, admin_user, event_id):
    create(account, admin_user)

    assert_error(client_for("admin").get(f"{API_ROOT}{event_id}/"), 404, "not_found")


def test_the_list_costs_the_same_queries_however_many_users(
    client_for, account, django_assert_max_num_queries
):
    for i in range(30):
        history_record(
            account=account,
            actor=User.objects.create(username=f"u{i}", account=account, role="employee"),
            event_type=EventType.CREATE,
        )
    client = client_for("admin")

    with django_assert_max_num_queries(3):
        assert len(list_ids(client.get(API_ROOT))) == 30


# --- Schema ---------------------------------------------------------------------------------


def test_schema_documents_the_history_as_read_only(client_for, db):
    response = client_for("anonymous").get(
        "/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
    )
    schema = response.json()
    paths, components = schema["paths"], schema["components"]["schemas"]

    assert set(paths["/api/v1/history/"]) == {"get"}
    assert set(paths["/api/v1/history/{id}/"]) == {"get"}
    assert paths["/api/v1/history/{id}/"]["get"]["parameters"][0]["schema"]["type"] == "integer"
    event = components["Event"]["properties"]
    assert set(event) >= EVENT_FIELDS
    assert event["actor"]["nullable"] is True
    assert event["entity_id"]["nullable"] is True
    params = {p["name"] for p in paths["/api/v1/history/"]["get"]["parameters"]}
    assert params >= {
        "event_type",
        "entity_type",
        "actor",
        "entity_id",
        "occurred_after",
        "occurred_before",
        "search",
        "cursor",
        "page_size",
    }
    assert [*components["EventTypeEnum"]["enum"]] == [value for value, _ in event_type_choices()]

"""Every API call acts inside the caller's own account (API.md "Conventions"): another account's
record answers 404 exactly like a missing one, is never listed or found, and stays unchanged.
Members of the same account, admins and employees alike, work on its records."""

import re

import pytest

from accounts.models import User
from accounts.services import user_create
from conftest import PASSWORD
from crm.entities import ENTITIES
from crm.tests.factories import (
    API_PATHS,
    ENTITY_TYPES,
    MODELS,
    TITLE_FIELDS,
    ActivityFactory,
    DealFactory,
    api_payload,
    detail_path,
    record_make,
    row_counts,
    row_snapshot,
)
from history.models import Event
from recyclebin import services as bin_services
from recyclebin.models import BinEntry
from recyclebin.tests.factories import bin_state, entry_make

pytestmark = pytest.mark.django_db

BIN = "/api/v1/recyclebin/"
HISTORY = "/api/v1/history/"

METHODS = ["get", "put", "patch", "delete"]


def request_body(method: str, entity_type: str, account) -> dict | None:
    """A body the caller could legitimately send for ``method`` (links to its own records)."""
    if method == "put":
        return api_payload(entity_type, account=account, variant=1)
    if method == "patch":
        return {TITLE_FIELDS[entity_type]: "Taken over"}
    return None


def assert_not_found(response) -> dict:
    assert response.status_code == 404, response.content
    body = response.json()
    assert body["code"] == "not_found"
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def list_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_another_accounts_record_answers_404_and_stays_unchanged(
    api_as, account, other_account, other_admin, entity_type, method
):
    record = record_make(entity_type, account=account)
    body = request_body(method, entity_type, other_account)
    before, counts = row_snapshot(record), row_counts()

    response = getattr(api_as(other_admin), method)(
        detail_path(entity_type, record.id), body, format="json"
    )

    assert_not_found(response)
    assert row_snapshot(record) == before
    assert row_counts() == counts


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_another_accounts_record_looks_exactly_like_a_missing_one(
    api_as, account, other_account, other_admin, entity_type, method
):
    record = record_make(entity_type, account=account)
    missing_id = MODELS[entity_type].objects.order_by("-pk").first().pk + 1000
    client = api_as(other_admin)

    foreign = getattr(client, method)(
        detail_path(entity_type, record.id),
        request_body(method, entity_type, other_account),
        format="json",
    )
    missing = getattr(client, method)(
        detail_path(entity_type, missing_id),
        request_body(method, entity_type, other_account),
        format="json",
    )

    assert assert_not_found(foreign) == assert_not_found(missing)
    assert foreign.headers.keys() == missing.headers.keys()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_an_employee_cannot_reach_another_account_either(
    api_as, account, other_account, employee, entity_type, method
):
    record = record_make(entity_type, account=other_account)
    before = row_snapshot(record)

    response = getattr(api_as(employee), method)(
        detail_path(entity_type, record.id),
        request_body(method, entity_type, account),
        format="json",
    )

    assert_not_found(response)
    assert row_snapshot(record) == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_lists_never_contain_another_accounts_rows(
    api_as, account, other_account, other_admin, entity_type
):
    for _ in range(3):
        record_make(entity_type, account=account)
    theirs = [record_make(entity_type, account=other_account).id for _ in range(2)]

    ids = list_ids(api_as(other_admin).get(API_PATHS[entity_type], {"page_size": 200}))

    assert sorted(ids) == sorted(theirs)


@pytest.mark.parametrize(
    ("entity_type", "field"),
    [(t, field) for t, entity in ENTITIES.items() for field in entity.search_fields],
)
def test_search_never_finds_another_accounts_rows(
    api, api_as, account, other_account, other_admin, entity_type, field
):
    value = "zqxsecret@acme.example" if field == "email" else "Zqxsecret Acme"
    mine = record_make(entity_type, account=account, **{field: value})
    record_make(entity_type, account=other_account)

    assert list_ids(api_as(other_admin).get(API_PATHS[entity_type], {"search": "zqxsecret"})) == []
    assert list_ids(api.get(API_PATHS[entity_type], {"search": "zqxsecret"})) == [mine.id]


@pytest.mark.parametrize(
    ("entity_type", "field"),
    [
        ("contact", "company"),
        ("deal", "company"),
        ("deal", "contact"),
        ("activity", "lead"),
        ("activity", "deal"),
        ("activity", "contact"),
        ("activity", "company"),
    ],
)
def test_filtering_by_another_accounts_id_finds_nothing(
    api_as, account, other_account, other_admin, entity_type, field
):
    target = record_make(field, account=account)
    if entity_type == "activity":
        ActivityFactory(account=account, **{"company": None, field: target})
    else:
        record_make(entity_type, account=account, **{field: target})

    response = api_as(other_admin).get(API_PATHS[entity_type], {field: target.id})

    assert list_ids(response) == []


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_ordering_and_cursors_stay_inside_the_account(api, account, other_account, entity_type):
    for _ in range(4):
        record_make(entity_type, account=other_account)
    mine = {record_make(entity_type, account=account).id for _ in range(5)}
    url = f"{API_PATHS[entity_type]}?page_size=2&ordering=-created_at"

    seen = []
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert sorted(seen) == sorted(mine)


def test_a_foreign_deal_stays_out_of_a_new_activity(api_as, account, other_account, other_admin):
    deal = DealFactory(account=account)
    before = row_counts()

    response = api_as(other_admin).post(
        API_PATHS["activity"], {"subject": "Spy", "type": "call", "deal": deal.id}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["errors"]["deal"]
    assert row_counts() == before


# --- Members of the same account ------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_an_employee_can_create_read_update_and_delete(api_as, account, employee, entity_type):
    client = api_as(employee)
    path = API_PATHS[entity_type]

    created = client.post(path, api_payload(entity_type, account=account), format="json")
    assert created.status_code == 201, created.content
    record_id = created.json()["id"]
    assert MODELS[entity_type].objects.get(pk=record_id).created_by_id == employee.id

    assert client.get(detail_path(entity_type, record_id)).status_code == 200
    assert record_id in list_ids(client.get(path))

    title_field = TITLE_FIELDS[entity_type]
    patched = client.patch(detail_path(entity_type, record_id), {title_field: "By employee"})
    assert patched.status_code == 200, patched.content
    assert patched.json()[title_field] == "By employee"

    replacement = api_payload(entity_type, account=account, variant=1)
    if entity_type == "activity":
        replacement["deal"] = None
        replacement["lead"] = record_make("lead", account=account).id
    put = client.put(detail_path(entity_type, record_id), replacement, format="json")
    assert put.status_code == 200, put.content

    assert client.delete(detail_path(entity_type, record_id)).status_code == 204
    # Into the bin: hidden from every read, kept with the employee's entry...
    assert client.get(detail_path(entity_type, record_id)).status_code == 404
    assert record_id not in list_ids(client.get(path, {"page_size": 200}))
    entry = BinEntry.objects.get(entity_type=entity_type, entity_id=record_id)
    assert entry.deleted_by_id == employee.id
    assert MODELS[entity_type].objects.get(pk=record_id).bin_entry_id == entry.id
    # ... which the employee sees, and restores to the same id.
    assert list_ids(client.get(BIN)) == [entry.id]
    restored = client.post(f"{BIN}{entry.id}/restore/")
    assert restored.status_code == 200, restored.content
    after = client.get(detail_path(entity_type, record_id))
    assert after.status_code == 200
    assert after.json()[title_field] == put.json()[title_field]
    assert not BinEntry.objects.exists()


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_an_employee_works_on_records_the_admin_made(
    api_as, account, admin_user, employee, entity_type
):
    record = record_make(entity_type, account=account, created_by=admin_user)
    client = api_as(employee)

    assert client.get(detail_path(entity_type, record.id)).status_code == 200
    response = client.patch(
        detail_path(entity_type, record.id), {TITLE_FIELDS[entity_type]: "Edited"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert client.delete(detail_path(entity_type, record.id)).status_code == 204
    assert client.get(detail_path(entity_type, record.id)).status_code == 404
    assert BinEntry.objects.get().deleted_by_id == employee.id


def test_an_employee_deleting_a_company_keeps_its_contacts_live_and_restore_relinks(
    api_as, account, employee
):
    deal = DealFactory(account=account, linked=True)
    activity = ActivityFactory(account=account, company=deal.company)
    client = api_as(employee)

    assert client.delete(detail_path("company", deal.company_id)).status_code == 204

    assert client.get(detail_path("activity", activity.id)).status_code == 404
    assert client.get(detail_path("contact", deal.contact_id)).json()["company"] is None
    assert client.get(detail_path("deal", deal.id)).json()["company"] is None
    (entry,) = client.get(BIN).json()["results"]
    assert entry["item_count"] == 2  # the company and its activity, one entry
    assert MODELS["activity"].objects.get(pk=activity.id).bin_entry_id == entry["id"]

    assert client.post(f"{BIN}{entry['id']}/restore/").status_code == 200
    assert client.get(detail_path("contact", deal.contact_id)).json()["company"] == deal.company_id
    assert client.get(detail_path("deal", deal.id)).json()["company"] == deal.company_id
    assert client.get(detail_path("activity", activity.id)).status_code == 200


# --- Recycle bin and history ----------------------------------------------------------------

BIN_CALLS = {
    "retrieve": lambda c, entry_id: c.get(f"{BIN}{entry_id}/"),
    "destroy": lambda c, entry_id: c.delete(f"{BIN}{entry_id}/"),
    "restore": lambda c, entry_id: c.post(f"{BIN}{entry_id}/restore/"),
    "bulk_restore": lambda c, entry_id: c.post(
        f"{BIN}restore/", {"ids": [entry_id]}, format="json"
    ),
    "bulk_purge": lambda c, entry_id: c.post(f"{BIN}purge/", {"ids": [entry_id]}, format="json"),
}


@pytest.fixture
def other_employee(other_account):
    return user_create(
        username="globex-employee",
        password=PASSWORD,
        account=other_account,
        role=User.Role.EMPLOYEE,
        check_password=False,
    )


@pytest.mark.parametrize("call", BIN_CALLS)
@pytest.mark.parametrize("role", ["other_admin", "other_employee"])
def test_another_accounts_bin_entry_answers_404_and_stays(
    api_as, account, admin_user, other_admin, other_employee, call, role
):
    entry = entry_make("company", account=account, actor=admin_user, activities=1)
    client = api_as(other_admin if role == "other_admin" else other_employee)
    before = bin_state()

    response = BIN_CALLS[call](client, entry.id)

    if (role, call) == ("other_employee", "bulk_purge"):
        # Purging is refused to employees whatever the ids: no id is looked at.
        assert response.status_code == 403 and response.json()["code"] == "admin_only"
        assert BIN_CALLS[call](client, entry.id + 1000).json() == response.json()
    else:
        assert_not_found(response)
    assert bin_state() == before


@pytest.mark.parametrize("call", BIN_CALLS)
def test_another_accounts_bin_entry_looks_exactly_like_a_missing_one(
    api_as, account, admin_user, other_admin, call
):
    entry = entry_make("lead", account=account, actor=admin_user)
    missing_id = entry.id + 1000
    client = api_as(other_admin)

    foreign = assert_not_found(BIN_CALLS[call](client, entry.id))
    missing = assert_not_found(BIN_CALLS[call](client, missing_id))

    assert foreign == {
        **missing,
        "detail": missing["detail"].replace(str(missing_id), str(entry.id)),
    }


def test_bin_lists_and_filters_never_show_another_accounts_entries(
    api_as, account, admin_user, other_account, other_admin
):
    mine = entry_make("company", account=account, actor=admin_user, title="Zqxsecret")
    theirs = entry_make("company", account=other_account, actor=other_admin)
    client = api_as(other_admin)

    assert list_ids(client.get(BIN)) == [theirs.id]
    for params in (
        {"search": "zqxsecret"},
        {"deleted_by": admin_user.id},
        {"id": mine.id},
        {"entity_type": "company", "ordering": "title"},
    ):
        assert mine.id not in list_ids(client.get(BIN, params)), params


def test_bulk_restore_by_filter_never_reaches_another_account(
    api_as, account, admin_user, other_admin
):
    mine = entry_make("company", account=account, actor=admin_user)
    before = bin_state()

    response = api_as(other_admin).post(
        f"{BIN}restore/", {"filter": {"id": mine.id}}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "no_match"
    assert bin_state() == before


def test_a_bulk_call_mixing_own_and_foreign_ids_changes_nothing(
    api_as, account, admin_user, other_account, other_admin
):
    mine = entry_make("company", account=account, actor=admin_user)
    theirs = entry_make("company", account=other_account, actor=other_admin)
    before = bin_state()

    for path in ("restore/", "purge/"):
        response = api_as(other_admin).post(
            f"{BIN}{path}", {"ids": [theirs.id, mine.id]}, format="json"
        )
        body = assert_not_found(response)
        assert re.findall(r"\d+", body["detail"]) == [str(mine.id)]

    assert bin_state() == before


def test_emptying_the_bin_leaves_other_accounts_alone(
    api_as, account, admin_user, other_account, other_admin
):
    mine = entry_make("deal", account=account, actor=admin_user, activities=2)
    entry_make("deal", account=other_account, actor=other_admin)

    response = api_as(other_admin).post(f"{BIN}empty/")

    assert response.json() == {"purged": 1}
    assert list(BinEntry.objects.values_list("id", flat=True)) == [mine.id]


def test_history_never_shows_another_accounts_events(
    api, api_as, account, admin_user, other_account, other_admin
):
    company = record_make("company", account=account, title="Zqxsecret")
    bin_services.bin_delete(record=company, actor=admin_user)
    event = Event.objects.get(account=account)
    client = api_as(other_admin)

    assert list_ids(client.get(HISTORY)) == []
    for params in (
        {"search": "zqxsecret"},
        {"actor": admin_user.id},
        {"entity_type": "company", "entity_id": company.id},
        {"event_type": "delete"},
    ):
        assert list_ids(client.get(HISTORY, params)) == [], params
    foreign = assert_not_found(client.get(f"{HISTORY}{event.id}/"))
    assert foreign == assert_not_found(client.get(f"{HISTORY}{event.id + 1000}/"))
    assert list_ids(api.get(HISTORY)) == [event.id]

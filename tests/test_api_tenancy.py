"""Every API call acts inside the caller's own account (API.md "Conventions"): another account's
record answers 404 exactly like a missing one, is never listed or found, and stays unchanged.
Members of the same account, admins and employees alike, work on its records."""

import pytest

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

pytestmark = pytest.mark.django_db

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
    assert not MODELS[entity_type].objects.filter(pk=record_id).exists()


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

"""The recycle bin's REST API as API.md ("Recycle bin") promises it: every endpoint for every
role and plan, the entry fields, filters, ordering, cursor pages, bulk calls that are all or
nothing, and the schema. Every refused call also checks that nothing changed."""

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from crm.models import Activity, Company
from crm.tests.factories import (
    ENTITY_TYPES,
    MODELS,
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    LeadFactory,
    assert_error,
    detail_path,
    record_make,
)
from history.models import Event, EventType
from recyclebin import services
from recyclebin.models import BinEntry
from recyclebin.serializers import MAX_BULK, MAX_RESTORE
from recyclebin.tests.factories import (
    API_ROOT,
    bin_state,
    entry_make,
    entry_path,
    live,
    stored,
)

pytestmark = pytest.mark.django_db

ENTRY_FIELDS = {
    "id",
    "entity_type",
    "entity_id",
    "title",
    "deleted_by",
    "deleted_at",
    "purge_after",
    "item_count",
}
ROLES = ("admin", "employee", "other_admin", "support", "anonymous")


@pytest.fixture
def client_for(api_as, admin_user, employee, other_admin, support_user):
    """``client_for(role)``: an API client acting as that role, its user loaded afresh (so the
    account's plan and maintenance flag are as stored now)."""
    users = {
        "admin": admin_user,
        "employee": employee,
        "other_admin": other_admin,
        "support": support_user,
        "anonymous": None,
    }

    def make(role: str):
        user = users[role]
        if user is not None:
            user = User.objects.select_related("account").get(pk=user.pk)
        return api_as(user)

    return make


def list_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def named_ids(body: dict) -> list[int]:
    """The entry ids a 404's sentence names."""
    return [int(number) for number in re.findall(r"\d+", body["detail"])]


def walk(client, url: str) -> list[int]:
    ids: list[int] = []
    while url:
        response = client.get(url)
        ids += list_ids(response)
        assert len(ids) < 10_000, "the cursor never ends"
        url = response.json()["next"]
    return ids


def set_plan(account, plan: str) -> None:
    account.plan = plan
    account.save()


# --- Every endpoint x every role ------------------------------------------------------------
# The entry acted on was deleted by the employee, so the employee may see it; "admins" is one
# the admin deleted, which the employee cannot see.

CALLS = {
    "list": lambda c, own, admins: c.get(API_ROOT),
    "retrieve": lambda c, own, admins: c.get(entry_path(own.pk)),
    "retrieve_admins": lambda c, own, admins: c.get(entry_path(admins.pk)),
    "restore": lambda c, own, admins: c.post(f"{entry_path(own.pk)}restore/", {}, format="json"),
    "restore_admins": lambda c, own, admins: c.post(
        f"{entry_path(admins.pk)}restore/", {}, format="json"
    ),
    "destroy": lambda c, own, admins: c.delete(entry_path(own.pk)),
    "destroy_admins": lambda c, own, admins: c.delete(entry_path(admins.pk)),
    "bulk_restore": lambda c, own, admins: c.post(
        f"{API_ROOT}restore/", {"ids": [own.pk]}, format="json"
    ),
    "bulk_restore_admins": lambda c, own, admins: c.post(
        f"{API_ROOT}restore/", {"ids": [own.pk, admins.pk]}, format="json"
    ),
    "bulk_restore_filter": lambda c, own, admins: c.post(
        f"{API_ROOT}restore/", {"filter": {"entity_type": "lead"}}, format="json"
    ),
    "bulk_purge": lambda c, own, admins: c.post(
        f"{API_ROOT}purge/", {"ids": [own.pk]}, format="json"
    ),
    "empty": lambda c, own, admins: c.post(f"{API_ROOT}empty/", format="json"),
}
ANONYMOUS = (401, "not_authenticated")
SUPPORT = (403, "account_required")
# (call, role) -> (status, error code or None); None: answered, and it changed something
# (writes) or nothing (reads; the other account's admin emptying their own empty bin).
EXPECTED = {
    **{(call, "anonymous"): ANONYMOUS for call in CALLS},
    **{(call, "support"): SUPPORT for call in CALLS},
    ("list", "admin"): (200, None),
    ("list", "employee"): (200, None),
    ("list", "other_admin"): (200, None),
    ("retrieve", "admin"): (200, None),
    ("retrieve", "employee"): (200, None),
    ("retrieve", "other_admin"): (404, "not_found"),
    ("retrieve_admins", "admin"): (200, None),
    ("retrieve_admins", "employee"): (404, "not_found"),
    ("retrieve_admins", "other_admin"): (404, "not_found"),
    ("restore", "admin"): (200, None),
    ("restore", "employee"): (200, None),
    ("restore", "other_admin"): (404, "not_found"),
    ("restore_admins", "admin"): (200, None),
    ("restore_admins", "employee"): (404, "not_found"),
    ("restore_admins", "other_admin"): (404, "not_found"),
    ("destroy", "admin"): (204, None),
    ("destroy", "employee"): (403, "admin_only"),
    ("destroy", "other_admin"): (404, "not_found"),
    ("destroy_admins", "admin"): (204, None),
    ("destroy_admins", "employee"): (404, "not_found"),
    ("destroy_admins", "other_admin"): (404, "not_found"),
    ("bulk_restore", "admin"): (200, None),
    ("bulk_restore", "employee"): (200, None),
    ("bulk_restore", "other_admin"): (404, "not_found"),
    ("bulk_restore_admins", "admin"): (200, None),
    ("bulk_restore_admins", "employee"): (404, "not_found"),
    ("bulk_restore_admins", "other_admin"): (404, "not_found"),
    ("bulk_restore_filter", "admin"): (200, None),
    ("bulk_restore_filter", "employee"): (200, None),
    ("bulk_restore_filter", "other_admin"): (400, "no_match"),
    ("bulk_purge", "admin"): (200, None),
    ("bulk_purge", "employee"): (403, "admin_only"),
    ("bulk_purge", "other_admin"): (404, "not_found"),
    ("empty", "admin"): (200, None),
    ("empty", "employee"): (403, "admin_only"),
    ("empty", "other_admin"): (200, None),
}
READS = {"list", "retrieve", "retrieve_admins"}


def test_the_table_covers_every_call_and_role():
    assert set(EXPECTED) == {(call, role) for call in CALLS for role in ROLES}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", CALLS)
def test_every_endpoint_answers_each_role_as_expected(
    client_for, account, admin_user, employee, other_account, other_admin, call, role
):
    own = entry_make("lead", account=account, actor=employee, activities=1)
    admins = entry_make("company", account=account, actor=admin_user)
    before = bin_state()

    response = CALLS[call](client_for(role), own, admins)

    status, code = EXPECTED[(call, role)]
    if code is not None:
        assert_error(response, status, code)
        assert bin_state() == before
        return
    assert response.status_code == status, response.content
    changes = call not in READS and role != "other_admin"
    assert (bin_state() != before) == changes


def test_anonymous_callers_are_asked_to_authenticate(client_for, account, employee):
    response = client_for("anonymous").get(API_ROOT)

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")


# --- The list -------------------------------------------------------------------------------


def test_list_entries_have_exactly_the_contract_fields(client_for, account, employee, settings):
    settings.BIN_RETENTION_DAYS = 30
    company = CompanyFactory(account=account, title="Initech")
    ActivityFactory.create_batch(2, account=account, company=company)
    entry = services.bin_delete(record=company, actor=employee)

    body = client_for("admin").get(API_ROOT).json()

    (row,) = body["results"]
    assert set(row) == ENTRY_FIELDS
    assert row == {
        "id": entry.pk,
        "entity_type": "company",
        "entity_id": company.pk,
        "title": "Initech",
        "deleted_by": {"id": employee.pk, "username": employee.username},
        "deleted_at": row["deleted_at"],
        "purge_after": row["purge_after"],
        "item_count": 3,
    }
    deleted_at = datetime.fromisoformat(row["deleted_at"])
    purge_after = datetime.fromisoformat(row["purge_after"])
    assert deleted_at.tzinfo is not None and purge_after.tzinfo is not None
    assert deleted_at == entry.deleted_at
    assert purge_after - deleted_at == timedelta(days=30)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_entries_name_their_type_and_title(client_for, account, admin_user, entity_type):
    entry = entry_make(entity_type, account=account, actor=admin_user)
    record = MODELS[entity_type].objects.get(pk=entry.entity_id)

    row = client_for("admin").get(entry_path(entry.pk)).json()

    assert (row["entity_type"], row["entity_id"]) == (entity_type, record.pk)
    assert row["title"] == record.title_text


def test_deleted_by_is_null_once_the_user_is_gone(client_for, account, employee):
    entry = entry_make("lead", account=account, actor=employee)
    User.objects.filter(pk=employee.pk).delete()

    row = client_for("admin").get(entry_path(entry.pk)).json()

    assert row["deleted_by"] is None


def test_admins_see_every_entry_and_employees_their_own(client_for, account, admin_user, employee):
    by_admin = entry_make("lead", account=account, actor=admin_user)
    by_employee = entry_make("lead", account=account, actor=employee)
    by_nobody = entry_make("lead", account=account, actor=None)

    assert list_ids(client_for("admin").get(API_ROOT)) == [
        by_nobody.pk,
        by_employee.pk,
        by_admin.pk,
    ]
    assert list_ids(client_for("employee").get(API_ROOT)) == [by_employee.pk]
    assert list_ids(client_for("other_admin").get(API_ROOT)) == []


def test_the_list_envelope_and_pages(client_for, account, admin_user):
    ids = [entry_make("lead", account=account, actor=admin_user).pk for _ in range(5)]
    client = client_for("admin")

    body = client.get(API_ROOT, {"page_size": 2}).json()

    assert set(body) == {"results", "next", "previous"}
    assert [row["id"] for row in body["results"]] == sorted(ids, reverse=True)[:2]
    assert body["previous"] is None and body["next"]
    assert walk(client, f"{API_ROOT}?page_size=2") == sorted(ids, reverse=True)
    previous = client.get(body["next"]).json()["previous"]
    assert list_ids(client.get(previous)) == sorted(ids, reverse=True)[:2]


def test_page_size_goes_up_to_200(client_for, account, admin_user):
    for _ in range(201):
        entry_make("activity", account=account, actor=admin_user)
    client = client_for("admin")

    body = client.get(API_ROOT, {"page_size": 200}).json()

    assert len(body["results"]) == 200
    assert body["next"]
    assert_error(client.get(API_ROOT, {"page_size": 500}), 400, "invalid")


@pytest.mark.parametrize("field", ["deleted_at", "title", "purge_after", "item_count", "id"])
def test_ordering_sorts_both_ways_and_pages_walk_every_entry(
    client_for, account, admin_user, field
):
    entries = [
        entry_make(
            "company", account=account, actor=admin_user, title=f"T{i % 3}", activities=i % 3
        )
        for i in range(7)
    ]
    now = timezone.now()
    for i, entry in enumerate(entries):  # deletion and purge dates in another order than ids
        BinEntry.objects.filter(pk=entry.pk).update(
            deleted_at=now - timedelta(hours=(i * 5) % 7),
            purge_after=now + timedelta(days=(i * 3) % 7),
        )
    client = client_for("admin")
    rows = {row["id"]: row for row in client.get(API_ROOT, {"page_size": 200}).json()["results"]}

    for sign in ("", "-"):
        ascending = client.get(API_ROOT, {"ordering": f"{sign}{field}", "page_size": 200})
        values = [row[field] for row in ascending.json()["results"]]
        if field in ("deleted_at", "purge_after"):
            values = [datetime.fromisoformat(v) for v in values]
        assert values == sorted(values, reverse=bool(sign))
        walked = walk(client, f"{API_ROOT}?ordering={sign}{field}&page_size=2")
        assert sorted(walked) == sorted(rows) and len(walked) == len(rows)


def test_an_unknown_ordering_is_refused(client_for, account, admin_user):
    entry_make("lead", account=account, actor=admin_user)

    response = client_for("admin").get(API_ROOT, {"ordering": "account"})

    body = assert_error(response, 400, "invalid")
    assert "-deleted_at" in body["errors"]["ordering"][0]  # it says which orderings there are


# --- Filters --------------------------------------------------------------------------------


def test_filter_by_type_title_who_and_id(client_for, account, admin_user, employee):
    lead = entry_make("lead", account=account, actor=admin_user, title="Relaunch website")
    company = entry_make("company", account=account, actor=employee, title="Initech")
    contact = entry_make("contact", account=account, actor=employee, first_name="Webster")
    client = client_for("admin")

    assert list_ids(client.get(API_ROOT, {"entity_type": "lead"})) == [lead.pk]
    assert list_ids(client.get(API_ROOT, {"deleted_by": employee.pk})) == [contact.pk, company.pk]
    assert list_ids(client.get(API_ROOT, {"search": "WEB"})) == [contact.pk, lead.pk]
    assert list_ids(client.get(API_ROOT, {"search": "web", "entity_type": "lead"})) == [lead.pk]
    assert list_ids(client.get(API_ROOT, {"id": company.pk})) == [company.pk]
    assert list_ids(client.get(API_ROOT, {"entity_type": "lead", "entity_id": lead.entity_id})) == [
        lead.pk
    ]
    assert list_ids(client.get(API_ROOT, {"entity_id": lead.entity_id + 10**6})) == []
    assert list_ids(client.get(API_ROOT, {"deleted_by": admin_user.pk + 1000})) == []


def test_filter_by_deletion_time(client_for, account, admin_user):
    now = timezone.now()
    old, middle, new = (entry_make("lead", account=account, actor=admin_user) for _ in range(3))
    for entry, days in ((old, 10), (middle, 5), (new, 0)):
        BinEntry.objects.filter(pk=entry.pk).update(deleted_at=now - timedelta(days=days))
    client = client_for("admin")
    six_days_ago = (now - timedelta(days=6)).isoformat()
    one_day_ago = (now - timedelta(days=1)).isoformat()

    assert list_ids(client.get(API_ROOT, {"deleted_after": six_days_ago})) == [new.pk, middle.pk]
    assert list_ids(client.get(API_ROOT, {"deleted_before": six_days_ago})) == [old.pk]
    assert list_ids(
        client.get(API_ROOT, {"deleted_after": six_days_ago, "deleted_before": one_day_ago})
    ) == [middle.pk]


def test_an_employee_filtering_by_someone_else_finds_nothing(
    client_for, account, admin_user, employee
):
    entry_make("lead", account=account, actor=admin_user)

    assert list_ids(client_for("employee").get(API_ROOT, {"deleted_by": admin_user.pk})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"entity_type": "invoice"}, "entity_type"),
        ({"deleted_by": "me"}, "deleted_by"),
        ({"deleted_by": "0"}, "deleted_by"),
        ({"deleted_after": "yesterday"}, "deleted_after"),
        ({"deleted_before": "2030-13-45"}, "deleted_before"),
        ({"id": str(10**30)}, "id"),
        ({"deleted_by": "2.5"}, "deleted_by"),
    ],
)
def test_invalid_filter_values_answer_400(client_for, account, admin_user, params, field):
    entry_make("lead", account=account, actor=admin_user)

    body = assert_error(client_for("admin").get(API_ROOT, params), 400)

    assert field in body["errors"]


def test_filter_by_a_fractional_id_does_not_match_the_truncated_id(client_for, account, admin_user):
    entry = entry_make("lead", account=account, actor=admin_user)

    client = client_for("admin")

    body = assert_error(client.get(API_ROOT, {"id": f"{entry.pk}.5"}), 400, "invalid")
    assert "id" in body["errors"]
    assert list_ids(client.get(API_ROOT, {"id": f"{entry.pk}.0"})) == [entry.pk]


@pytest.mark.parametrize("entry_id", ["abc", "0", str(10**30), "-1", "1.5"])
def test_odd_ids_answer_404(client_for, account, admin_user, entry_id):
    entry_make("lead", account=account, actor=admin_user)
    before = bin_state()
    client = client_for("admin")

    assert_error(client.get(f"{API_ROOT}{entry_id}/"), 404, "not_found")
    assert_error(client.delete(f"{API_ROOT}{entry_id}/"), 404, "not_found")
    assert_error(client.post(f"{API_ROOT}{entry_id}/restore/", {}, format="json"), 404)
    assert bin_state() == before


def test_unsupported_methods_answer_405(client_for, account, admin_user):
    entry = entry_make("lead", account=account, actor=admin_user)
    client = client_for("admin")
    before = bin_state()

    for response in (
        client.post(API_ROOT, {"entity_type": "lead"}, format="json"),
        client.put(entry_path(entry.pk), {}, format="json"),
        client.patch(entry_path(entry.pk), {"title": "x"}, format="json"),
        client.get(f"{API_ROOT}restore/"),
        client.get(f"{API_ROOT}purge/"),
        client.delete(f"{API_ROOT}empty/"),
        client.get(f"{entry_path(entry.pk)}restore/"),
    ):
        assert_error(response, 405, "method_not_allowed")
    assert bin_state() == before


def test_options_and_head_answer(client_for, account, admin_user):
    entry = entry_make("lead", account=account, actor=admin_user)
    client = client_for("admin")

    for path in (API_ROOT, entry_path(entry.pk)):
        assert client.options(path).status_code == 200
        assert client.head(path).status_code == 200
    assert BinEntry.objects.filter(pk=entry.pk).exists()


# --- Restore one ----------------------------------------------------------------------------


def test_restore_answers_what_came_back_and_the_record_is_live_again(client_for, account, employee):
    lead = LeadFactory(account=account)
    activity = ActivityFactory(account=account, company=None, lead=lead)
    entry = services.bin_delete(record=lead, actor=employee)
    client = client_for("employee")
    assert_error(client.get(detail_path("lead", lead.pk)), 404, "not_found")

    response = client.post(f"{entry_path(entry.pk)}restore/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["restored"] == [
        {"entity_type": "lead", "entity_id": lead.pk},
        {"entity_type": "activity", "entity_id": activity.pk},
    ]
    assert body["linked_in_bin"] == []
    assert body["entries"] == [entry.pk]
    assert client.get(detail_path("lead", lead.pk)).json()["id"] == lead.pk
    assert client.get(detail_path("activity", activity.pk)).json()["lead"] == lead.pk
    assert not BinEntry.objects.exists()
    restored = Event.objects.filter(event_type=EventType.RESTORE)
    assert set(restored.values_list("actor_id", flat=True)) == {employee.pk}


def test_restore_brings_back_the_links_the_delete_cleared(client_for, account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    client = client_for("admin")
    assert client.delete(detail_path("company", contact.company_id)).status_code == 204
    assert client.get(detail_path("contact", contact.pk)).json()["company"] is None
    entry = BinEntry.objects.get()

    assert client.post(f"{entry_path(entry.pk)}restore/").status_code == 200

    assert client.get(detail_path("contact", contact.pk)).json()["company"] == contact.company_id


def test_restore_reports_linked_items_still_in_the_bin(client_for, account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    contact_entry = services.bin_delete(record=contact, actor=admin_user)
    company_entry = services.bin_delete(record=contact.company, actor=admin_user)
    client = client_for("admin")

    body = client.post(f"{entry_path(contact_entry.pk)}restore/").json()

    assert body["restored"] == [{"entity_type": "contact", "entity_id": contact.pk}]
    assert body["linked_in_bin"] == [company_entry.pk]
    assert client.get(detail_path("contact", contact.pk)).json()["company"] is None


def test_restore_together_brings_the_linked_entries_too(client_for, account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    contact_entry = services.bin_delete(record=contact, actor=admin_user)
    company_entry = services.bin_delete(record=contact.company, actor=admin_user)
    client = client_for("admin")

    response = client.post(
        f"{entry_path(contact_entry.pk)}restore/", {"together": True}, format="json"
    )

    body = response.json()
    assert sorted(body["entries"]) == sorted([contact_entry.pk, company_entry.pk])
    assert body["linked_in_bin"] == []
    assert client.get(detail_path("contact", contact.pk)).json()["company"] == contact.company_id


def test_an_activity_whose_parent_is_in_another_entry_answers_409(client_for, account, admin_user):
    company = CompanyFactory(account=account, title="Initech")
    alone = entry_make("activity", account=account, actor=admin_user, company=company)
    services.bin_delete(record=company, actor=admin_user)
    client = client_for("admin")
    before = bin_state()

    body = assert_error(client.post(f"{entry_path(alone.pk)}restore/"), 409, "parent_in_bin")

    assert "Initech" in body["detail"]
    assert bin_state() == before
    response = client.post(f"{entry_path(alone.pk)}restore/", {"together": True}, format="json")
    assert response.status_code == 200, response.content
    assert live(company) and not BinEntry.objects.exists()


@pytest.mark.parametrize(
    "body", [{"together": "perhaps"}, {"together": None}, ["together"], "together"]
)
def test_a_malformed_restore_body_answers_400(client_for, account, admin_user, body):
    entry = entry_make("lead", account=account, actor=admin_user)
    before = bin_state()

    assert_error(
        client_for("admin").post(f"{entry_path(entry.pk)}restore/", body, format="json"), 400
    )

    assert bin_state() == before


# --- Plans and maintenance ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "employee"])
@pytest.mark.parametrize("bulk", [False, True])
def test_restoring_on_the_free_plan_answers_403(client_for, account, employee, role, bulk):
    entry = entry_make("lead", account=account, actor=employee)
    set_plan(account, "free")
    before = bin_state()
    client = client_for(role)

    if bulk:
        response = client.post(f"{API_ROOT}restore/", {"ids": [entry.pk]}, format="json")
    else:
        response = client.post(f"{entry_path(entry.pk)}restore/")

    body = assert_error(response, 403, "plan_not_eligible")
    assert "Free" in body["detail"]
    assert bin_state() == before


def test_on_the_free_plan_someone_elses_entry_is_still_not_found(client_for, account, admin_user):
    entry = entry_make("lead", account=account, actor=admin_user)
    set_plan(account, "free")
    before = bin_state()

    response = client_for("employee").post(f"{entry_path(entry.pk)}restore/")

    assert_error(response, 404, "not_found")
    assert bin_state() == before


@pytest.mark.parametrize("plan", ["basic", "standard", "professional"])
def test_restoring_on_a_paid_plan_works(client_for, account, employee, plan):
    entry = entry_make("lead", account=account, actor=employee)
    set_plan(account, plan)

    response = client_for("employee").post(f"{entry_path(entry.pk)}restore/")

    assert response.status_code == 200, response.content
    assert not BinEntry.objects.exists()


def test_on_the_free_plan_admins_still_purge_and_empty(client_for, account, admin_user):
    entries = [entry_make("lead", account=account, actor=admin_user) for _ in range(4)]
    set_plan(account, "free")
    client = client_for("admin")

    assert client.delete(entry_path(entries[0].pk)).status_code == 204
    assert client.post(f"{API_ROOT}purge/", {"ids": [entries[1].pk]}, format="json").json() == {
        "purged": 1
    }
    assert client.post(f"{API_ROOT}empty/").json() == {"purged": 2}
    assert list_ids(client.get(API_ROOT)) == []


WRITES = {
    "restore": lambda c, e: c.post(f"{entry_path(e.pk)}restore/"),
    "destroy": lambda c, e: c.delete(entry_path(e.pk)),
    "bulk_restore": lambda c, e: c.post(f"{API_ROOT}restore/", {"ids": [e.pk]}, format="json"),
    "bulk_restore_filter": lambda c, e: c.post(
        f"{API_ROOT}restore/", {"filter": {}}, format="json"
    ),
    "bulk_purge": lambda c, e: c.post(f"{API_ROOT}purge/", {"ids": [e.pk]}, format="json"),
    "empty": lambda c, e: c.post(f"{API_ROOT}empty/"),
}


@pytest.mark.parametrize("call", WRITES)
def test_writes_during_maintenance_answer_503(client_for, account, admin_user, call):
    entry = entry_make("lead", account=account, actor=admin_user)
    account.maintenance = True
    account.save()
    before = bin_state()
    client = client_for("admin")

    response = WRITES[call](client, entry)

    assert_error(response, 503, "maintenance")
    assert response["Retry-After"] == "60"
    assert bin_state() == before
    # Reads go on.
    assert list_ids(client.get(API_ROOT)) == [entry.pk]
    assert client.get(entry_path(entry.pk)).status_code == 200


def test_emptying_an_empty_bin_during_maintenance_answers_503(client_for, account):
    account.maintenance = True
    account.save()

    assert_error(client_for("admin").post(f"{API_ROOT}empty/"), 503, "maintenance")


# --- Purge ----------------------------------------------------------------------------------


def test_delete_purges_the_entry_for_good(client_for, account, admin_user):
    company = CompanyFactory(account=account, title="Initech")
    activity = ActivityFactory(account=account, company=company)
    contact = ContactFactory(account=account, company=company)
    entry = services.bin_delete(record=company, actor=admin_user)
    client = client_for("admin")

    response = client.delete(entry_path(entry.pk))

    assert response.status_code == 204, response.content
    assert not response.content
    assert not Company.objects.filter(pk=company.pk).exists()
    assert not Activity.objects.filter(pk=activity.pk).exists()
    assert stored(contact).company_id is None and live(contact)
    assert_error(client.get(entry_path(entry.pk)), 404, "not_found")
    assert_error(client.delete(entry_path(entry.pk)), 404, "not_found")
    purged = Event.objects.filter(event_type=EventType.PURGE)
    assert set(purged.values_list("entity_type", "entity_id", "actor_id")) == {
        ("company", company.pk, admin_user.pk),
        ("activity", activity.pk, admin_user.pk),
    }


def test_bulk_purge_counts_the_entries_it_purged(client_for, account, admin_user):
    company = CompanyFactory(account=account)
    alone = entry_make("activity", account=account, actor=admin_user, company=company)
    company_entry = services.bin_delete(record=company, actor=admin_user)
    kept = entry_make("lead", account=account, actor=admin_user)

    response = client_for("admin").post(
        f"{API_ROOT}purge/", {"ids": [company_entry.pk]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"purged": 2}  # the activity deleted alone went with its company
    assert list(BinEntry.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Activity.objects.filter(pk=alone.entity_id).exists()


def test_empty_purges_the_whole_account_bin_and_nothing_else(
    client_for, account, admin_user, employee, other_account, other_admin
):
    for actor in (admin_user, employee, None):
        entry_make("deal", account=account, actor=actor, activities=1)
    theirs = entry_make("deal", account=other_account, actor=other_admin)

    response = client_for("admin").post(f"{API_ROOT}empty/")

    assert response.status_code == 200, response.content
    assert response.json() == {"purged": 3}
    assert list(BinEntry.objects.values_list("pk", flat=True)) == [theirs.pk]


# --- Bulk calls: all or nothing, and validated ----------------------------------------------


@pytest.mark.parametrize("path", ["restore/", "purge/"])
def test_a_bulk_call_with_an_unknown_id_changes_nothing(client_for, account, admin_user, path):
    entries = [entry_make("lead", account=account, actor=admin_user) for _ in range(3)]
    missing = entries[-1].pk + 1000
    before = bin_state()

    response = client_for("admin").post(
        f"{API_ROOT}{path}", {"ids": [e.pk for e in entries] + [missing]}, format="json"
    )

    body = assert_error(response, 404, "not_found")
    assert named_ids(body) == [missing]
    assert bin_state() == before


def test_an_employee_bulk_restore_with_someone_elses_id_changes_nothing(
    client_for, account, admin_user, employee
):
    own = entry_make("lead", account=account, actor=employee)
    theirs = entry_make("lead", account=account, actor=admin_user)
    before = bin_state()

    response = client_for("employee").post(
        f"{API_ROOT}restore/", {"ids": [own.pk, theirs.pk]}, format="json"
    )

    body = assert_error(response, 404, "not_found")
    assert named_ids(body) == [theirs.pk]
    assert bin_state() == before


def test_bulk_restore_by_ids(client_for, account, admin_user):
    entries = [entry_make("lead", account=account, actor=admin_user) for _ in range(3)]

    response = client_for("admin").post(
        f"{API_ROOT}restore/", {"ids": [entries[0].pk, entries[2].pk, entries[0].pk]}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["entries"] == [entries[0].pk, entries[2].pk]
    assert sorted(item["entity_id"] for item in body["restored"]) == sorted(
        [entries[0].entity_id, entries[2].entity_id]
    )
    assert list(BinEntry.objects.values_list("pk", flat=True)) == [entries[1].pk]


def test_bulk_restore_by_the_lists_filters(client_for, account, admin_user, employee):
    leads = [
        entry_make("lead", account=account, actor=employee, title=f"Web {i}") for i in range(2)
    ]
    other_lead = entry_make("lead", account=account, actor=employee, title="Print")
    company = entry_make("company", account=account, actor=employee, title="Web shop")
    admins_lead = entry_make("lead", account=account, actor=admin_user, title="Web admin")

    response = client_for("employee").post(
        f"{API_ROOT}restore/",
        {"filter": {"entity_type": "lead", "search": "web"}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["entries"] == sorted(e.pk for e in leads)
    assert set(BinEntry.objects.values_list("pk", flat=True)) == {
        other_lead.pk,
        company.pk,
        admins_lead.pk,
    }


def test_bulk_restore_by_an_empty_filter_restores_what_the_caller_sees(
    client_for, account, admin_user, employee
):
    own = [entry_make("lead", account=account, actor=employee) for _ in range(2)]
    theirs = entry_make("lead", account=account, actor=admin_user)

    response = client_for("employee").post(f"{API_ROOT}restore/", {"filter": {}}, format="json")

    assert response.json()["entries"] == [e.pk for e in own]
    assert list(BinEntry.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_bulk_restore_by_time_and_author_filters(client_for, account, admin_user, employee):
    now = timezone.now()
    old = entry_make("lead", account=account, actor=employee)
    new = entry_make("lead", account=account, actor=employee)
    by_admin = entry_make("lead", account=account, actor=admin_user)
    BinEntry.objects.filter(pk=old.pk).update(deleted_at=now - timedelta(days=3))

    response = client_for("admin").post(
        f"{API_ROOT}restore/",
        {
            "filter": {
                "deleted_by": employee.pk,
                "deleted_after": (now - timedelta(days=1)).isoformat(),
                "deleted_before": None,
            }
        },
        format="json",
    )

    assert response.json()["entries"] == [new.pk]
    assert set(BinEntry.objects.values_list("pk", flat=True)) == {old.pk, by_admin.pk}


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ({"filter": {"entity_type": "deal"}}, "no_match", "filter"),
        ({"filter": {"entity_type": "invoice"}}, "invalid", "filter.entity_type"),
        ({"filter": {"deleted_after": "yesterday"}}, "invalid", "filter.deleted_after"),
        ({"filter": {"colour": "red"}}, "invalid", "filter"),
        ({"filter": {"search": ["a", "b"]}}, "invalid", "filter"),
        ({"filter": "entity_type=lead"}, "not_a_dict", "filter"),
        ({"filter": {"entity_type": "lead"}, "ids": [1]}, "ids_or_filter", "ids"),
        ({}, "ids_or_filter", "ids"),
        ({"together": True}, "ids_or_filter", "ids"),
    ],
)
def test_bulk_restore_refuses_a_bad_body(client_for, account, admin_user, body, code, names):
    entry_make("lead", account=account, actor=admin_user)
    before = bin_state()

    response = client_for("admin").post(f"{API_ROOT}restore/", body, format="json")

    error = assert_error(response, 400, code)
    assert names in error["detail"]
    assert bin_state() == before


BAD_IDS = [
    ([], "min_length"),
    (["a"], "invalid"),
    ([0], "min_value"),
    ([-3], "min_value"),
    ([1.5], "invalid"),
    ([10**30], "max_value"),
    ([None], "null"),
    ([[1]], "invalid"),
    ("1,2", "not_a_list"),
    ({"1": 2}, "not_a_list"),
    (7, "not_a_list"),
    ("one too many", "max_length"),  # MAX_RESTORE + 1 ids to restore, MAX_BULK + 1 to purge
]


@pytest.mark.parametrize("path", ["restore/", "purge/"])
@pytest.mark.parametrize(("ids", "code"), BAD_IDS)
def test_bulk_calls_refuse_ids_that_are_not_a_list_of_ids(
    client_for, account, admin_user, path, ids, code
):
    entry_make("lead", account=account, actor=admin_user)
    before = bin_state()
    if ids == "one too many":
        ids = list(range(1, (MAX_RESTORE if path == "restore/" else MAX_BULK) + 2))

    response = client_for("admin").post(f"{API_ROOT}{path}", {"ids": ids}, format="json")

    body = assert_error(response, 400, code)
    assert body["detail"].startswith("ids")
    assert "ids" in body["errors"]
    assert bin_state() == before


def test_bulk_purge_needs_ids(client_for, account, admin_user):
    entry_make("lead", account=account, actor=admin_user)
    before = bin_state()

    for body, code in (({}, "required"), ({"filter": {}}, "unknown_field")):
        error = assert_error(
            client_for("admin").post(f"{API_ROOT}purge/", body, format="json"), 400, code
        )
        assert error["detail"].startswith("ids" if code == "required" else "filter")
    assert bin_state() == before


def test_a_bulk_restore_of_many_entries_at_once(client_for, account, admin_user):
    entries = [entry_make("activity", account=account, actor=admin_user) for _ in range(120)]

    response = client_for("admin").post(
        f"{API_ROOT}restore/", {"ids": [e.pk for e in entries]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert len(response.json()["restored"]) == 120
    assert not BinEntry.objects.exists()


# --- After a purge or restore the list reflects it -----------------------------------------


def test_deleting_through_the_crm_api_fills_the_bin(client_for, account, employee):
    records = {t: record_make(t, account=account) for t in ENTITY_TYPES}
    client = client_for("employee")

    for entity_type, record in records.items():
        assert client.delete(detail_path(entity_type, record.pk)).status_code == 204

    rows = client.get(API_ROOT).json()["results"]
    assert {(row["entity_type"], row["entity_id"]) for row in rows} == {
        (t, r.pk) for t, r in records.items()
    }
    assert {row["deleted_by"]["id"] for row in rows} == {employee.pk}


# --- Schema ---------------------------------------------------------------------------------


def schema_json(client) -> dict:
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content
    return response.json()


def test_schema_documents_the_recycle_bin(client_for, db):
    schema = schema_json(client_for("anonymous"))
    paths, components = schema["paths"], schema["components"]["schemas"]

    assert set(paths["/api/v1/recyclebin/"]) == {"get"}
    assert set(paths["/api/v1/recyclebin/{id}/"]) == {"get", "delete"}
    for path in ("{id}/restore/", "restore/", "purge/", "empty/"):
        assert set(paths[f"/api/v1/recyclebin/{path}"]) == {"post"}, path

    assert set(components["BinEntry"]["properties"]) == ENTRY_FIELDS
    assert components["BinEntry"]["properties"]["deleted_by"]["nullable"] is True
    listing = paths["/api/v1/recyclebin/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "entity_type",
        "deleted_by",
        "deleted_after",
        "deleted_before",
        "search",
        "ordering",
        "cursor",
        "page_size",
    }
    assert set(components["PaginatedBinEntryList"]["properties"]) == {
        "results",
        "next",
        "previous",
    }

    restore = paths["/api/v1/recyclebin/{id}/restore/"]["post"]
    assert restore["parameters"][0]["schema"]["type"] == "integer"
    result = restore["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(components[result.rsplit("/", 1)[1]]["properties"]) >= {"restored", "linked_in_bin"}
    assert {"403", "404", "409", "503"} <= set(restore["responses"])

    bulk = paths["/api/v1/recyclebin/restore/"]["post"]["requestBody"]["content"]
    body = components[bulk["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"ids", "filter", "together"} <= set(body["properties"])
    assert body["properties"]["ids"]["maxItems"] == MAX_RESTORE
    purge = paths["/api/v1/recyclebin/purge/"]["post"]
    purge_body = purge["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert components[purge_body.rsplit("/", 1)[1]]["required"] == ["ids"]
    assert "204" in paths["/api/v1/recyclebin/{id}/"]["delete"]["responses"]

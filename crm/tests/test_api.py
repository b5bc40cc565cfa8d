"""The CRM REST API as API.md ("Conventions", "CRM") promises it: CRUD, the list envelope,
ordering, cursors, search, filters, validation errors, maintenance and the OpenAPI schema.

Every refused call also checks that nothing changed."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from crm.api import ContactViewSet
from crm.entities import ENTITIES
from crm.models import Company, Contact, Deal, Lead
from crm.selectors import records_search
from crm.tests.factories import (
    API_PATHS,
    ENTITY_TYPES,
    LINK_FIELDS,
    MODELS,
    REQUIRED_FIELDS,
    TITLE_FIELDS,
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    api_payload,
    assert_error,
    detail_path,
    record_make,
    records_bulk,
    row_counts,
    row_snapshot,
)

pytestmark = pytest.mark.django_db

HUGE_ID = 10**30
LINK_MODELS = {"company": Company, "contact": Contact, "lead": Lead, "deal": Deal}


def assert_invalid(response, field: str | None = None, code: str | None = None) -> dict:
    """400 with ``{detail, code, errors}``; ``detail`` names ``field``."""
    body = assert_error(response, 400, code)
    assert isinstance(body["errors"], dict) and body["errors"]
    if field is not None:
        assert field in body["detail"], body
        assert field in body["errors"], body
    return body


def list_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def walk(api, url: str, direction: str = "next") -> tuple[list[int], int]:
    """Follow ``next`` (or ``previous``) links from ``url``: every id seen, and how many pages."""
    ids: list[int] = []
    pages = 0
    while url:
        response = api.get(url)
        ids += list_ids(response)
        pages += 1
        assert pages < 500, "the cursor never ends"
        url = response.json()[direction]
    return ids, pages


def _pages(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def cursor(**params) -> str:
    """A hand-made cursor, as a client editing the opaque string could send."""
    return base64.b64encode(urlencode(params).encode()).decode()


def as_fresh_user(api_as, user: User):
    """A client for ``user`` as the next request would load it (account state from the DB)."""
    return api_as(User.objects.select_related("account").get(pk=user.pk))


# --- Create, read, update, delete ---------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_create_answers_201_with_the_contract_fields(api, account, admin_user, entity_type):
    payload = api_payload(entity_type, account=account)
    before = row_counts()

    response = api.post(API_PATHS[entity_type], payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "created_at", "updated_at", *payload} <= body.keys()
    assert isinstance(body["id"], int)
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(body[stamp]).tzinfo is not None
    assert {field: body[field] for field in payload} == payload
    record = MODELS[entity_type].objects.get(pk=body["id"])
    assert record.account_id == account.id
    assert record.created_by_id == admin_user.id
    assert row_counts()[entity_type] == before[entity_type] + 1


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_create_fills_defaults_from_required_fields_only(api, account, entity_type):
    full = api_payload(entity_type, account=account)
    payload = {field: full[field] for field in REQUIRED_FIELDS[entity_type]}
    if entity_type == "activity":
        payload["lead"] = LeadFactory(account=account).id

    response = api.post(API_PATHS[entity_type], payload, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    defaults = {
        "company": {"industry": "", "email": ""},
        "contact": {"last_name": "", "company": None},
        "lead": {"status": "new", "amount": None},
        "deal": {"stage": "new", "currency": "EUR", "company": None, "close_date": None},
        "activity": {"completed": False, "due_at": None, "deal": None},
    }[entity_type]
    assert {field: body[field] for field in defaults} == defaults


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_retrieve_answers_the_record(api, account, entity_type):
    record = record_make(entity_type, account=account)
    title_field = TITLE_FIELDS[entity_type]

    response = api.get(detail_path(entity_type, record.id))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == record.id
    assert body[title_field] == getattr(record, title_field)
    assert datetime.fromisoformat(body["created_at"]) == record.created_at


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_patch_changes_only_the_given_field(api, account, entity_type):
    record = record_make(entity_type, account=account)
    title_field = TITLE_FIELDS[entity_type]
    before = row_snapshot(record)

    response = api.patch(
        detail_path(entity_type, record.id), {title_field: "Renamed"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()[title_field] == "Renamed"
    after = row_snapshot(record)
    assert after[title_field] == "Renamed"
    assert after["updated_at"] > before["updated_at"]
    unchanged = {k: v for k, v in after.items() if k not in (title_field, "updated_at")}
    assert unchanged == {k: before[k] for k in unchanged}


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_patch_without_changes_keeps_updated_at(api, account, entity_type):
    record = record_make(entity_type, account=account)
    title_field = TITLE_FIELDS[entity_type]
    before = row_snapshot(record)

    response = api.patch(
        detail_path(entity_type, record.id),
        {title_field: getattr(record, title_field)},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert row_snapshot(record) == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_put_replaces_every_field(api, account, entity_type):
    created = api.post(
        API_PATHS[entity_type], api_payload(entity_type, account=account), format="json"
    ).json()
    replacement = api_payload(entity_type, account=account, variant=1)

    response = api.put(detail_path(entity_type, created["id"]), replacement, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert {field: body[field] for field in replacement} == replacement
    assert api.get(detail_path(entity_type, created["id"])).json() == body
    assert body["created_at"] == created["created_at"]


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_put_without_a_required_field_is_refused(api, account, entity_type):
    record = record_make(entity_type, account=account)
    payload = api_payload(entity_type, account=account, variant=1)
    missing = REQUIRED_FIELDS[entity_type][0]
    del payload[missing]
    before = row_snapshot(record)

    response = api.put(detail_path(entity_type, record.id), payload, format="json")

    assert_invalid(response, missing, "required")
    assert row_snapshot(record) == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_delete_answers_204_then_404_and_leaves_the_list(api, account, entity_type):
    record, kept = (
        record_make(entity_type, account=account),
        record_make(entity_type, account=account),
    )

    response = api.delete(detail_path(entity_type, record.id))

    assert response.status_code == 204, response.content
    assert not response.content
    assert_error(api.get(detail_path(entity_type, record.id)), 404, "not_found")
    assert list_ids(api.get(API_PATHS[entity_type])) == [kept.id]
    assert_error(api.delete(detail_path(entity_type, record.id)), 404, "not_found")


def test_deleting_a_company_keeps_its_contacts_and_deals(api, account):
    deal = DealFactory(account=account, linked=True)
    company = deal.company
    activity = ActivityFactory(account=account, company=company)

    assert api.delete(detail_path("company", company.id)).status_code == 204

    assert api.get(detail_path("contact", deal.contact_id)).json()["company"] is None
    assert api.get(detail_path("deal", deal.id)).json()["company"] is None
    assert_error(api.get(detail_path("activity", activity.id)), 404, "not_found")


# --- Lists: envelope, order, pages --------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_list_envelope_has_exactly_results_next_previous(api, account, entity_type):
    record_make(entity_type, account=account)

    body = api.get(API_PATHS[entity_type]).json()

    assert set(body) == {"results", "next", "previous"}
    assert body["next"] is None and body["previous"] is None
    assert len(body["results"]) == 1


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_list_is_newest_first(api, account, entity_type):
    ids = [record_make(entity_type, account=account).id for _ in range(4)]

    assert list_ids(api.get(API_PATHS[entity_type])) == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    ("entity_type", "field", "values"),
    [
        ("company", "title", ["Beta", "Gamma", "Alpha"]),
        ("company", "industry", ["Mining", "Banking", "Farming"]),
        ("contact", "last_name", ["Young", "Adams", "King"]),
        ("lead", "amount", [Decimal("20"), Decimal("3"), Decimal("100")]),
        ("lead", "status", ["qualified", "junk", "converted"]),
        ("deal", "amount", [Decimal("20"), Decimal("3"), Decimal("100")]),
        ("deal", "close_date", ["2030-05-01", "2029-01-01", "2031-12-31"]),
        ("activity", "subject", ["Call", "Meet", "Ask"]),
        ("activity", "type", ["task", "call", "meeting"]),
    ],
)
def test_ordering_sorts_both_ways(api, account, entity_type, field, values):
    records = [record_make(entity_type, account=account, **{field: value}) for value in values]
    ascending = [r.id for r in sorted(records, key=lambda r: getattr(r, field))]

    assert list_ids(api.get(API_PATHS[entity_type], {"ordering": field})) == ascending
    assert list_ids(api.get(API_PATHS[entity_type], {"ordering": f"-{field}"})) == ascending[::-1]


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_ordering_by_an_unknown_field_is_refused(api, account, entity_type):
    record_make(entity_type, account=account)

    for ordering in ("account", "created_by__password", "nope", "-", "\x00", "", "id,-id"):
        response = api.get(API_PATHS[entity_type], {"ordering": ordering})
        assert_error(response, 400, "invalid" if ordering else "blank")
        assert "ordering" in response.json()["errors"], ordering


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_page_size_goes_up_to_200(api, account, entity_type):
    records_bulk(entity_type, account=account, count=205)
    path = API_PATHS[entity_type]

    assert len(list_ids(api.get(path, {"page_size": 200}))) == 200
    assert len(list_ids(api.get(path, {"page_size": 7}))) == 7
    assert len(list_ids(api.get(path))) == 50
    for nonsense in ("201", str(HUGE_ID), "0", "-3", "abc", "7.0", "\x00", ""):
        response = api.get(path, {"page_size": nonsense})
        assert_error(response, 400, "invalid")
        assert "page_size" in response.json()["errors"], nonsense


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_next_cursors_walk_every_row_exactly_once(api, account, entity_type):
    expected = sorted(
        (r.id for r in records_bulk(entity_type, account=account, count=23)), reverse=True
    )

    ids, pages = walk(api, f"{API_PATHS[entity_type]}?page_size=5")

    assert ids == expected
    assert pages == 5


def test_previous_cursors_walk_back(api, account):
    expected = sorted((r.id for r in records_bulk("deal", account=account, count=12)), reverse=True)
    url = f"{API_PATHS['deal']}?page_size=5"
    while True:
        last_page = api.get(url).json()
        if not last_page["next"]:
            break
        url = last_page["next"]

    ids, pages = walk(api, last_page["previous"], direction="previous")

    assert pages == 2
    assert ids == expected[5:10] + expected[:5]


@pytest.mark.parametrize(
    "ordering",
    ["title", "-title", "stage", "amount", "-amount", "close_date", "-close_date", "id", "-id"],
)
def test_cursors_walk_every_row_once_under_any_ordering(api, account, ordering):
    """Ties (three titles, six stages) and empty values (no amount, no close date) included."""
    deals = []
    for n in range(31):
        deals.append(
            DealFactory(
                account=account,
                title=["Renewal", "Upsell", "New logo"][n % 3],
                stage=list(Deal.Stage)[n % 6],
                amount=None if n % 4 == 0 else Decimal(n % 7),
                close_date=None if n % 5 == 0 else f"2030-01-{n % 9 + 1:02d}",
            )
        )

    ids, _ = walk(api, f"{API_PATHS['deal']}?page_size=4&ordering={ordering}")

    assert sorted(ids) == sorted(d.id for d in deals)
    assert len(ids) == len(set(ids))
    field = ordering.lstrip("-")
    values = [getattr(Deal.objects.get(pk=pk), field) for pk in ids]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=ordering.startswith("-"))
    assert values[len(present) :] == [None] * (len(values) - len(present)), "empty values last"

    # ...and ``previous`` from the last page walks the same rows back.
    last = api.get(f"{API_PATHS['deal']}?page_size=4&ordering={ordering}")
    while last.json()["next"]:
        last = api.get(last.json()["next"])
    back, _ = walk(api, last.json()["previous"], direction="previous")
    tail = [row["id"] for row in last.json()["results"]]
    assert [pk for page in _pages(back, 4)[::-1] for pk in page] + tail == ids


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_list_shows_only_live_rows_of_the_callers_account(api, account, other_account, entity_type):
    mine = record_make(entity_type, account=account)
    record_make(entity_type, account=other_account)

    assert list_ids(api.get(API_PATHS[entity_type])) == [mine.id]


# --- Search --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "field"),
    [(t, field) for t, entity in ENTITIES.items() for field in entity.search_fields],
)
def test_search_finds_by_each_search_field(api, account, entity_type, field):
    value = "zqx.unique@search.example" if field == "email" else "Zqx Unique Value"
    wanted = record_make(entity_type, account=account, **{field: value})
    for _ in range(3):
        record_make(entity_type, account=account)

    assert list_ids(api.get(API_PATHS[entity_type], {"search": "ZQX"})) == [wanted.id]
    assert list_ids(api.get(API_PATHS[entity_type], {"search": "zqx unique"})) == [wanted.id]
    assert list_ids(api.get(API_PATHS[entity_type], {"search": "zqx missing"})) == []


def test_search_needs_every_word_to_match_some_field(api, account):
    wanted = ContactFactory(account=account, first_name="Ada", last_name="Lovelace")
    ContactFactory(account=account, first_name="Ada", last_name="Byron")

    assert list_ids(api.get(API_PATHS["contact"], {"search": "ada lovelace"})) == [wanted.id]


CONTACT_WORDS = [
    "ann", "ANN", "Müller", "müller", "ß", "straße", "@Example", "+49 40", "40 0", "lee",
    "ann\nlee", "nnlee", "nn lee", "%", "_", "\\", "a_b", "50%", "x",
]  # fmt: skip


@pytest.mark.parametrize("word", CONTACT_WORDS)
def test_search_column_finds_what_each_field_would(api, account, other_account, word):
    """The contacts' search column (the fields in capitals, one per line) finds exactly the
    contacts that the four fields searched one by one would: whatever the case, never across
    two fields (``nnlee``, ``ann\nlee``), characters of LIKE taken literally, never another
    account's."""
    people = [
        ("Ann", "Lee", "ann.lee@example.org", "+49 40 000001"),
        ("ANNA", "Müller", "a_b@example.org", "50% +49"),
        ("Jo", "Straße", "jo@x.example", ""),
        ("Bea", "MÜLLER", "bea\\back@example.org", "+49 40 0"),
        ("Lee", "", "", ""),
    ]
    for first, last, email, phone in people:
        ContactFactory(account=account, first_name=first, last_name=last, email=email, phone=phone)
        ContactFactory(account=other_account, first_name=first, last_name=last, email=email)
    by_field = Q()
    for field in ENTITIES["contact"].search_fields:
        by_field |= Q(**{f"{field}__icontains": word})
    expected = set(Contact.objects.filter(by_field, account=account).values_list("id", flat=True))

    found = records_search(
        Contact.objects.filter(account=account), ENTITIES["contact"], [word]
    ).values_list("id", flat=True)

    assert set(found) == expected
    if not any(character.isspace() for character in word):  # the API splits words there
        assert set(list_ids(api.get(API_PATHS["contact"], {"search": word}))) == expected


@pytest.mark.parametrize("ordering", ["-id", "id"])
@pytest.mark.parametrize("matches", [(0, 20, 27, 33, 38), tuple(range(0, 40, 2))])
def test_search_beyond_its_window_finds_every_match_once_in_order(
    api, account, other_account, monkeypatch, ordering, matches
):
    """A search in id order walks ``search_window`` rows, then reads the rest of the page from
    the trigram index (core.api.pagination): a rare term (5 matches, four past the window)
    and a common one (every other contact, a page in each window) give every match once, in
    order, both ways, and never another account's."""
    monkeypatch.setattr(ContactViewSet, "search_window", 6)
    contacts = records_bulk("contact", account=account, count=40, last_name="Plain")
    newest_first = sorted(contacts, key=lambda c: c.id, reverse=True)
    wanted = [newest_first[i].id for i in matches]
    Contact.objects.filter(id__in=wanted).update(last_name="Zqxwindow")
    records_bulk("contact", account=other_account, count=8, last_name="Zqxwindow")
    expected = wanted if ordering == "-id" else sorted(wanted)

    url = f"{API_PATHS['contact']}?search=zqxwindow&page_size=3&ordering={ordering}"
    connection.queries_log.clear()  # a request empties the log as it starts: start empty
    with CaptureQueriesContext(connection) as first_page:
        api.get(url)
    first_page_sql = [query["sql"] for query in first_page.captured_queries]  # before the next
    ids, _ = walk(api, url)
    last_page = api.get(url).json()
    while last_page["next"]:
        last_page = api.get(last_page["next"]).json()
    back, _ = walk(api, last_page["previous"], direction="previous")

    assert ids == expected
    assert back == [i for page in reversed(_pages(expected, 3)[:-1]) for i in page]
    if connection.vendor == "postgresql" and len(matches) == 5:
        # The first page's last three rows are past the window: they came from the index, in
        # an order the planner cannot walk.
        assert any("+ 0)" in sql for sql in first_page_sql)


@pytest.mark.parametrize(
    ("term", "found"), [("%", False), ("_", False), ("'; DROP TABLE crm_company; --", False)]
)
def test_search_with_odd_characters_is_literal(api, account, term, found):
    company = CompanyFactory(account=account, title="Zqx")

    ids = list_ids(api.get(API_PATHS["company"], {"search": term}))

    assert ids == ([company.id] if found else [])
    assert Company.objects.count() == 1


@pytest.mark.parametrize("term", ["\x00", "Zqx\x00"])
def test_search_with_a_nul_character_answers_without_error(api, account, term):
    company = CompanyFactory(account=account, title="Zqx")

    response = api.get(API_PATHS["company"], {"search": term})

    # Dropped (200) or refused as a validation error (400); never a database error.
    if response.status_code == 400:
        assert_invalid(response, code="null_characters_not_allowed")
    else:
        assert list_ids(response) == [company.id]


# --- Filters -------------------------------------------------------------------------------


def test_deal_filters(api, account):
    linked = DealFactory(account=account, linked=True, stage="won", currency="USD")
    linked.close_date = datetime(2030, 5, 1).date()
    linked.save()
    other = DealFactory(account=account, stage="lost")
    path = API_PATHS["deal"]

    assert list_ids(api.get(path, {"stage": "won"})) == [linked.id]
    assert list_ids(api.get(path, {"stage": "lost"})) == [other.id]
    assert list_ids(api.get(path, {"company": linked.company_id})) == [linked.id]
    assert list_ids(api.get(path, {"contact": linked.contact_id})) == [linked.id]
    assert list_ids(api.get(path, {"currency": "USD"})) == [linked.id]
    assert list_ids(api.get(path, {"close_after": "2030-05-01"})) == [linked.id]
    assert list_ids(api.get(path, {"close_before": "2030-04-30"})) == []
    assert list_ids(api.get(path, {"stage": "won", "company": other.id + 1000})) == []


def test_activity_filters(api, account):
    lead = LeadFactory(account=account)
    on_lead = ActivityFactory(account=account, company=None, lead=lead, type="email")
    due = datetime(2030, 1, 1, 12, tzinfo=UTC)
    on_company = ActivityFactory(account=account, type="task", completed=True, due_at=due)
    path = API_PATHS["activity"]

    assert list_ids(api.get(path, {"type": "email"})) == [on_lead.id]
    assert list_ids(api.get(path, {"lead": lead.id})) == [on_lead.id]
    assert list_ids(api.get(path, {"company": on_company.company_id})) == [on_company.id]
    assert list_ids(api.get(path, {"completed": "true"})) == [on_company.id]
    assert list_ids(api.get(path, {"completed": "false"})) == [on_lead.id]
    assert list_ids(api.get(path, {"due_after": "2030-01-01T11:00:00Z"})) == [on_company.id]
    assert list_ids(api.get(path, {"due_before": "2030-01-01T12:00:00+00:00"})) == []


def test_contact_lead_and_company_filters(api, account):
    contact = ContactFactory(account=account, with_company=True, email="x@y.example")
    ContactFactory(account=account)
    lead = LeadFactory(account=account, status="qualified", source="partner")
    LeadFactory(account=account)
    CompanyFactory(account=account, industry="Mining")

    assert list_ids(api.get(API_PATHS["contact"], {"company": contact.company_id})) == [contact.id]
    assert list_ids(api.get(API_PATHS["contact"], {"email": "x@y.example"})) == [contact.id]
    assert list_ids(api.get(API_PATHS["lead"], {"status": "qualified"})) == [lead.id]
    assert list_ids(api.get(API_PATHS["lead"], {"source": "partner"})) == [lead.id]
    assert list_ids(api.get(API_PATHS["company"], {"industry": "Mining"})) != []
    industries = {
        row["industry"]
        for row in api.get(API_PATHS["company"], {"industry": "Mining"}).json()["results"]
    }
    assert industries == {"Mining"}


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_created_and_updated_time_filters(api, account, entity_type):
    old, new = record_make(entity_type, account=account), record_make(entity_type, account=account)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    MODELS[entity_type].objects.filter(pk=old.pk).update(created_at=long_ago, updated_at=long_ago)
    path = API_PATHS[entity_type]

    assert list_ids(api.get(path, {"created_after": "2021-01-01T00:00:00Z"})) == [new.id]
    assert list_ids(api.get(path, {"created_before": "2021-01-01T00:00:00+01:00"})) == [old.id]
    assert list_ids(api.get(path, {"updated_after": "2021-01-01"})) == [new.id]


@pytest.mark.parametrize(
    ("entity_type", "params", "field"),
    [
        ("company", {"created_after": "notadate"}, "created_after"),
        ("contact", {"created_before": "2020-13-45"}, "created_before"),
        ("lead", {"updated_after": "yesterday"}, "updated_after"),
        ("contact", {"company": "abc"}, "company"),
        ("deal", {"company": "abc"}, "company"),
        ("deal", {"contact": "-1"}, "contact"),
        ("deal", {"company": "0"}, "company"),
        ("deal", {"company": "NaN"}, "company"),
        ("deal", {"company": "1\x00"}, "company"),
        ("deal", {"stage": "bogus"}, "stage"),
        ("deal", {"close_after": "soon"}, "close_after"),
        ("lead", {"status": "done"}, "status"),
        ("activity", {"type": "visit"}, "type"),
        ("activity", {"deal": "x"}, "deal"),
        ("activity", {"due_after": "notadate"}, "due_after"),
        ("company", {"industry": "a\x00b"}, "industry"),
        ("contact", {"email": "\x00"}, "email"),
    ],
)
def test_invalid_filter_values_answer_400(api, account, entity_type, params, field):
    record_make(entity_type, account=account)

    assert_invalid(api.get(API_PATHS[entity_type], params), field)


@pytest.mark.parametrize(
    ("entity_type", "field"), [("contact", "company"), ("deal", "contact"), ("activity", "lead")]
)
@pytest.mark.parametrize("value", [str(HUGE_ID), str(2**63), "1.5", "1e3"])
def test_filter_by_something_that_is_no_id_is_refused(api, account, entity_type, field, value):
    record_make(entity_type, account=account)

    assert_invalid(api.get(API_PATHS[entity_type], {field: value}), field)


def test_filter_by_a_fractional_id_does_not_match_the_truncated_id(api, account):
    contact = ContactFactory(account=account, with_company=True)

    response = api.get(API_PATHS["contact"], {"company": f"{contact.company_id}.5"})

    assert_invalid(response, "company")
    assert list_ids(api.get(API_PATHS["contact"], {"company": f"{contact.company_id}.0"})) == [
        contact.id
    ]


# --- Query counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ["contact", "deal", "activity"])
def test_list_query_count_does_not_grow_with_linked_rows(
    api, account, entity_type, django_assert_max_num_queries
):
    make = {
        "contact": lambda: ContactFactory(account=account, with_company=True),
        "deal": lambda: DealFactory(account=account, linked=True),
        "activity": lambda: ActivityFactory(account=account),
    }[entity_type]
    make()
    with CaptureQueriesContext(connection) as one_row:
        assert len(list_ids(api.get(API_PATHS[entity_type]))) == 1
    for _ in range(24):
        make()

    with django_assert_max_num_queries(len(one_row.captured_queries)):
        assert len(list_ids(api.get(API_PATHS[entity_type]))) == 25
    assert len(one_row.captured_queries) <= 3


# --- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "field"),
    [(t, field) for t, fields in REQUIRED_FIELDS.items() for field in fields],
)
def test_create_without_a_required_field_is_refused(api, account, entity_type, field):
    payload = api_payload(entity_type, account=account)
    del payload[field]
    before = row_counts()

    assert_invalid(api.post(API_PATHS[entity_type], payload, format="json"), field, "required")
    assert row_counts() == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_create_with_a_blank_title_is_refused(api, account, entity_type):
    field = TITLE_FIELDS[entity_type]
    payload = {**api_payload(entity_type, account=account), field: "  "}
    before = row_counts()

    assert_invalid(api.post(API_PATHS[entity_type], payload, format="json"), field, "blank")
    assert row_counts() == before


WRONG_VALUES = [
    ("company", "title", {"a": 1}),
    ("company", "title", ["x"]),
    ("company", "title", "x" * 256),
    ("company", "email", "not-an-email"),
    ("company", "website", "not a url"),
    ("contact", "company", "abc"),
    ("contact", "company", [1]),
    ("contact", "company", {"id": 1}),
    ("contact", "company", True),
    ("lead", "amount", "abc"),
    ("lead", "amount", "NaN"),
    ("lead", "amount", "Infinity"),
    ("lead", "amount", "-0.01"),
    ("lead", "status", "done"),
    ("lead", "source", "telepathy"),
    ("deal", "amount", "abc"),
    ("deal", "amount", "1.234"),
    ("deal", "amount", HUGE_ID),
    ("deal", "amount", "1e400"),
    ("deal", "company", "abc"),
    ("deal", "contact", -1),
    ("deal", "stage", "closed"),
    ("deal", "currency", "euro"),
    ("deal", "currency", "eur"),
    ("deal", "close_date", "soon"),
    ("deal", "close_date", "2030-02-30"),
    ("activity", "type", "visit"),
    ("activity", "due_at", "tomorrow"),
    ("activity", "completed", "perhaps"),
    ("activity", "deal", "abc"),
    ("activity", "deal", 1.5),
    ("activity", "deal", True),
]


@pytest.mark.parametrize(("entity_type", "field", "value"), WRONG_VALUES)
def test_create_with_a_wrong_value_is_refused(api, account, entity_type, field, value):
    payload = {**api_payload(entity_type, account=account), field: value}
    before = row_counts()

    assert_invalid(api.post(API_PATHS[entity_type], payload, format="json"), field)
    assert row_counts() == before


@pytest.mark.parametrize(("entity_type", "field"), LINK_FIELDS)
def test_fractional_link_id_is_refused_not_truncated(api, account, entity_type, field):
    target = record_make(field, account=account)
    payload = api_payload(entity_type, account=account)
    if entity_type == "activity":
        payload.pop("deal")
    before = row_counts()

    response = api.post(API_PATHS[entity_type], {**payload, field: target.id + 0.5}, format="json")

    assert_invalid(response, field, "incorrect_type")
    assert row_counts() == before
    payload[field] = float(target.id)
    assert api.post(API_PATHS[entity_type], payload, format="json").json()[field] == target.id


@pytest.mark.parametrize(("entity_type", "field", "value"), WRONG_VALUES)
def test_patch_with_a_wrong_value_changes_nothing(api, account, entity_type, field, value):
    record = record_make(entity_type, account=account)
    if entity_type == "activity":
        record = ActivityFactory(account=account, company=None, deal=DealFactory(account=account))
    before, counts = row_snapshot(record), row_counts()

    response = api.patch(detail_path(entity_type, record.id), {field: value}, format="json")

    assert_invalid(response, field)
    assert row_snapshot(record) == before
    assert row_counts() == counts


@pytest.mark.parametrize(("entity_type", "field"), LINK_FIELDS)
def test_link_to_another_accounts_record_is_refused_like_a_missing_id(
    api, account, other_account, entity_type, field
):
    foreign = record_make(field, account=other_account)
    missing_id = (
        max(
            m.objects.order_by("-id").values_list("id", flat=True).first() or 0
            for m in LINK_MODELS.values()
        )
        + 1000
    )
    payload = api_payload(entity_type, account=account)
    if entity_type == "activity":
        payload.pop("deal")
    before = row_counts()

    foreign_body = assert_invalid(
        api.post(API_PATHS[entity_type], {**payload, field: foreign.id}, format="json"), field
    )
    missing_body = assert_invalid(
        api.post(API_PATHS[entity_type], {**payload, field: missing_id}, format="json"), field
    )
    huge_body = assert_invalid(
        api.post(API_PATHS[entity_type], {**payload, field: HUGE_ID}, format="json"), field
    )

    assert row_counts() == before

    def without_id(body, record_id):
        return str(body).replace(str(record_id), "<id>")

    assert without_id(foreign_body, foreign.id) == without_id(missing_body, missing_id)
    assert without_id(huge_body, HUGE_ID) == without_id(missing_body, missing_id)
    assert foreign_body["code"] == missing_body["code"] == "does_not_exist"


@pytest.mark.parametrize(("entity_type", "field"), LINK_FIELDS)
def test_patch_to_link_another_accounts_record_changes_nothing(
    api, account, other_account, entity_type, field
):
    record = record_make(entity_type, account=account)
    foreign = record_make(field, account=other_account)
    body = {field: foreign.id}
    if entity_type == "activity":
        body.update(
            {parent: None for parent in ("lead", "deal", "contact", "company") if parent != field}
        )
    before = row_snapshot(record)

    assert_invalid(api.patch(detail_path(entity_type, record.id), body, format="json"), field)
    assert row_snapshot(record) == before


def test_activity_without_a_parent_is_refused(api, account):
    payload = api_payload("activity", account=account)
    payload.pop("deal")
    before = row_counts()

    body = assert_invalid(api.post(API_PATHS["activity"], payload, format="json"))

    assert body["code"] == "activity_parent"
    assert "lead, deal, contact or company" in body["detail"]
    assert row_counts() == before


def test_activity_with_two_parents_is_refused(api, account):
    payload = {**api_payload("activity", account=account), "lead": LeadFactory(account=account).id}
    before = row_counts()

    body = assert_invalid(api.post(API_PATHS["activity"], payload, format="json"))

    assert body["code"] == "activity_parent"
    assert "lead" in body["detail"] and "deal" in body["detail"]
    assert row_counts() == before


@pytest.mark.parametrize("method", ["patch", "put"])
def test_adding_a_second_parent_to_an_activity_is_refused(api, account, method):
    activity = ActivityFactory(account=account)
    lead = LeadFactory(account=account)
    body = {"lead": lead.id}
    if method == "put":
        body.update(subject="New subject", type="task")
    before = row_snapshot(activity)

    response = getattr(api, method)(detail_path("activity", activity.id), body, format="json")

    assert assert_invalid(response)["code"] == "activity_parent"
    assert row_snapshot(activity) == before


def test_removing_the_only_parent_of_an_activity_is_refused(api, account):
    activity = ActivityFactory(account=account)
    before = row_snapshot(activity)

    response = api.patch(detail_path("activity", activity.id), {"company": None}, format="json")

    assert assert_invalid(response)["code"] == "activity_parent"
    assert row_snapshot(activity) == before


def test_moving_an_activity_to_another_parent(api, account):
    activity = ActivityFactory(account=account)
    lead = LeadFactory(account=account)

    response = api.patch(
        detail_path("activity", activity.id), {"company": None, "lead": lead.id}, format="json"
    )

    assert response.status_code == 200, response.content
    activity.refresh_from_db()
    assert (activity.lead_id, activity.company_id) == (lead.id, None)


MALFORMED_BODIES = [b"{not json", b'{"title": "x"', b"\xff\xfe\x00\x01", b"{'title': 'x'}", b"[1,]"]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_malformed_json_is_a_parse_error(api, account, entity_type, body):
    record = record_make(entity_type, account=account)
    before, counts = row_snapshot(record), row_counts()

    assert_error(
        api.post(API_PATHS[entity_type], body, content_type="application/json"), 400, "parse_error"
    )
    for method in ("put", "patch"):
        response = getattr(api, method)(
            detail_path(entity_type, record.id), body, content_type="application/json"
        )
        assert_error(response, 400, "parse_error")
    assert row_snapshot(record) == before
    assert row_counts() == counts


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"null", b"42", b'[{"title": "x"}]', b"true"])
@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_json_that_is_not_an_object_is_refused(api, account, entity_type, body):
    record = record_make(entity_type, account=account)
    before, counts = row_snapshot(record), row_counts()

    assert_invalid(api.post(API_PATHS[entity_type], body, content_type="application/json"))
    response = api.patch(detail_path(entity_type, record.id), body, content_type="application/json")
    assert_invalid(response)
    assert row_snapshot(record) == before
    assert row_counts() == counts


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_nul_character_in_a_string_is_refused(api, account, entity_type):
    field = TITLE_FIELDS[entity_type]
    record = record_make(entity_type, account=account)
    payload = {**api_payload(entity_type, account=account), field: "Nul\x00here"}
    before, counts = row_snapshot(record), row_counts()

    assert_invalid(
        api.post(API_PATHS[entity_type], payload, format="json"),
        field,
        "null_characters_not_allowed",
    )
    assert_invalid(
        api.patch(detail_path(entity_type, record.id), {field: "\x00"}, format="json"),
        field,
        "null_characters_not_allowed",
    )
    assert row_snapshot(record) == before
    assert row_counts() == counts


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
@pytest.mark.parametrize("record_id", [str(HUGE_ID), "-1", "0", "abc", "%00", "9" * 400])
def test_odd_ids_in_the_url_answer_404(api, account, entity_type, method, record_id):
    record_make(entity_type, account=account)
    counts = row_counts()

    response = getattr(api, method)(
        detail_path(entity_type, record_id), {TITLE_FIELDS[entity_type]: "x"}, format="json"
    )

    assert_error(response, 404, "not_found")
    assert row_counts() == counts


@pytest.mark.parametrize(
    ("ordering", "raw_cursor"),
    [
        ("", "garbage"),
        ("", cursor(p="abc")),
        ("", cursor(p=HUGE_ID)),
        ("", cursor(p=json.dumps([1, 1]))),
        ("", cursor(p=json.dumps(["1", "1"]))),
        ("", cursor(p=json.dumps(["1", True]))),
        ("", cursor(p=json.dumps(["1", 1, 1]))),
        ("", cursor(p=json.dumps({"a": 1}))),
        ("", cursor(p=json.dumps(["1", 1]), o=-1)),
        ("", cursor(p=json.dumps(["1", 1]), o="x")),
        ("", cursor(p=json.dumps(["1", 1]), r="yes")),
        ("created_at", cursor(p=json.dumps(["not a time", 1]))),
        ("amount", cursor(p=json.dumps(["abc", 1]))),
        ("-amount", cursor(p=json.dumps(["NaN", 1]))),
        ("close_date", cursor(p=json.dumps(["2030-02-30", 1]), r=1)),
    ],
)
def test_invalid_cursor_answers_404(api, account, ordering, raw_cursor):
    DealFactory.create_batch(3, account=account)

    response = api.get(API_PATHS["deal"], _with_ordering(ordering, cursor=raw_cursor))

    assert_error(response, 404, "invalid_cursor")


def _with_ordering(ordering: str, **query) -> dict:
    """The query, with ``ordering`` unless it is "" (the default order: no parameter)."""
    return {"ordering": ordering, **query} if ordering else query


@pytest.mark.parametrize(
    ("ordering", "raw_cursor"),
    [
        ("", cursor(p=json.dumps(["1", HUGE_ID]))),
        ("", cursor(p=json.dumps(["1", -HUGE_ID]), r=1)),
        ("title", cursor(p=json.dumps(["zzzz", 0]))),
        ("-amount", cursor(p=json.dumps([None, HUGE_ID]))),
        ("title", cursor(p=json.dumps(["a", HUGE_ID]))),
        ("", "%%%"),
        ("", "\x00"),
    ],
)
def test_odd_but_valid_cursor_answers_a_page(api, account, ordering, raw_cursor):
    DealFactory.create_batch(3, account=account)

    response = api.get(API_PATHS["deal"], _with_ordering(ordering, cursor=raw_cursor))

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"results", "next", "previous"}


def test_cursor_with_a_nul_character_answers_without_error(api, account):
    DealFactory.create_batch(3, account=account)
    raw_cursor = cursor(p=json.dumps(["a\x00b", 1]))

    response = api.get(API_PATHS["deal"], {"ordering": "title", "cursor": raw_cursor})

    # PostgreSQL cannot compare with a NUL: an invalid cursor there, an empty page on SQLite.
    if response.status_code == 404:
        assert_error(response, 404, "invalid_cursor")
    else:
        assert list_ids(response) == []


ODD_QUERIES = [
    {"ordering": "company__title"},
    {"ordering": "-id,title,,"},
    {"search": "x" * 5000},
    {"search": " "},
    {"page_size": "1e3"},
    {"cursor": ""},
    {"created_after": ""},
    {"company": ""},
    {"unknown": "\x00"},
]


@pytest.mark.parametrize("params", ODD_QUERIES)
@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_odd_list_queries_never_answer_500(api, account, entity_type, params):
    record_make(entity_type, account=account)

    response = api.get(API_PATHS[entity_type], params)

    assert response.status_code < 500, response.content


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_options_and_head_answer(api, account, entity_type):
    record = record_make(entity_type, account=account)

    for path in (API_PATHS[entity_type], detail_path(entity_type, record.id)):
        assert api.options(path).status_code == 200
        assert api.head(path).status_code == 200
    assert api.post(detail_path(entity_type, record.id), {}, format="json").status_code == 405


# --- Maintenance ----------------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("role", ["admin", "employee"])
def test_writes_during_maintenance_answer_503(
    api_as, account, admin_user, employee, entity_type, method, role
):
    record = record_make(entity_type, account=account)
    create_body = api_payload(entity_type, account=account)
    put_body = api_payload(entity_type, account=account, variant=1)
    if entity_type == "activity":
        put_body["company"] = None
    account.maintenance = True
    account.save()
    client = as_fresh_user(api_as, admin_user if role == "admin" else employee)
    before, counts = row_snapshot(record), row_counts()

    path = API_PATHS[entity_type] if method == "post" else detail_path(entity_type, record.id)
    body = {
        "post": create_body,
        "put": put_body,
        "patch": {TITLE_FIELDS[entity_type]: "Changed"},
        "delete": None,
    }[method]
    response = getattr(client, method)(path, body, format="json")

    assert_error(response, 503, "maintenance")
    assert response["Retry-After"] == "60"
    assert row_snapshot(record) == before
    assert row_counts() == counts


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_reads_during_maintenance_still_work(api_as, account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    account.maintenance = True
    account.save()
    client = as_fresh_user(api_as, admin_user)

    assert list_ids(client.get(API_PATHS[entity_type])) == [record.id]
    assert client.get(detail_path(entity_type, record.id)).status_code == 200


def test_writes_work_again_after_maintenance(api_as, account, admin_user):
    account.maintenance = True
    account.save()
    assert (
        as_fresh_user(api_as, admin_user)
        .post(API_PATHS["company"], {"title": "Later"}, format="json")
        .status_code
        == 503
    )
    account.maintenance = False
    account.save()

    response = as_fresh_user(api_as, admin_user).post(
        API_PATHS["company"], {"title": "Later"}, format="json"
    )

    assert response.status_code == 201, response.content


# --- OpenAPI --------------------------------------------------------------------------------


def schema_json(client) -> dict:
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content
    return response.json()


def test_schema_is_served_to_anonymous_callers_with_every_crm_path(api_as, db):
    client = api_as(None)

    assert client.get("/api/v1/schema/").status_code == 200
    schema = schema_json(client)

    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert "/api/v1/auth/token/" in paths
    for path in API_PATHS.values():
        assert {"get", "post"} <= paths[path].keys(), path
        assert {"get", "put", "patch", "delete"} <= paths[f"{path}{{id}}/"].keys(), path


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_schema_agrees_with_the_contract(api_as, db, entity_type):
    schema = schema_json(api_as(None))
    components = schema["components"]["schemas"]
    model_name = MODELS[entity_type].__name__
    page = components[f"Paginated{model_name}List"]
    record = components[model_name]
    request = components[f"{model_name}Request"]

    assert set(page["properties"]) == {"results", "next", "previous"}
    assert {"id", "created_at", "updated_at"} <= set(record["properties"])
    assert set(REQUIRED_FIELDS[entity_type]) <= set(request.get("required", []))
    assert record["properties"]["id"]["type"] == "integer"
    for stamp in ("created_at", "updated_at"):
        assert record["properties"][stamp]["format"] == "date-time"
        assert record["properties"][stamp].get("readOnly") is True


@pytest.mark.parametrize(("entity_type", "field"), LINK_FIELDS)
def test_schema_describes_links_as_integer_ids(api_as, db, entity_type, field):
    schema = schema_json(api_as(None))
    record = schema["components"]["schemas"][MODELS[entity_type].__name__]

    assert record["properties"][field]["type"] == "integer"
    assert record["properties"][field].get("nullable") is True


def test_docs_page_is_served(api_as, db):
    response = api_as(None).get("/api/v1/docs/")

    assert response.status_code == 200
    # The page's script is a file of its own (no inline script under the CSP).
    assert b'<script src="/api/v1/docs/?script=">' in response.content
    script = api_as(None).get("/api/v1/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/v1/schema/" in script.content


def test_updated_at_moves_on_update_and_created_at_stays(api, account):
    company = CompanyFactory(account=account)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    Company.objects.filter(pk=company.pk).update(created_at=long_ago, updated_at=long_ago)

    body = api.patch(detail_path("company", company.id), {"industry": "Mining"}).json()

    assert datetime.fromisoformat(body["created_at"]) == long_ago
    assert datetime.fromisoformat(body["updated_at"]) > datetime.now(UTC) - timedelta(minutes=5)


def test_read_only_fields_are_ignored_on_write(api, account):
    company = CompanyFactory(account=account)
    long_ago = "2020-01-01T00:00:00Z"

    response = api.patch(
        detail_path("company", company.id),
        {"id": company.id + 1, "created_at": long_ago, "industry": "Mining"},
        format="json",
    )

    assert response.status_code == 200, response.content
    stored = Company.objects.get(pk=company.pk)
    assert stored.industry == "Mining"
    assert stored.created_at != datetime(2020, 1, 1, tzinfo=UTC)
    assert not Company.objects.filter(pk=company.id + 1).exists()


def test_fields_the_api_does_not_have_are_refused(api, account):
    company = CompanyFactory(account=account)
    before = row_snapshot(company)

    response = api.patch(
        detail_path("company", company.id), {"account": 999, "created_by": 999}, format="json"
    )

    assert_error(response, 400, "unknown_field")
    assert set(response.json()["errors"]) == {"account", "created_by"}
    assert row_snapshot(company) == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_create_cannot_choose_the_account_or_author(
    api, account, other_account, other_admin, entity_type
):
    payload = {
        **api_payload(entity_type, account=account),
        "account": other_account.id,
        "created_by": other_admin.id,
    }

    before = row_counts()

    response = api.post(API_PATHS[entity_type], payload, format="json")

    # Not fields of the API: refused (a client cannot even try), nothing created.
    assert_error(response, 400, "unknown_field")
    assert set(response.json()["errors"]) == {"account", "created_by"}
    assert row_counts() == before

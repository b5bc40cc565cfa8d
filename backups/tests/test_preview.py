"""The preview of a restore with the records behind its numbers: the engine (PostgreSQL and
SQLite, every kind and bucket, keyset pages), the API (shape, parameters, roles), the browser
page (counts, titles, "more" pages, errors, German) and a real browser opening it from the
Backups page."""

import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backups import restore, views
from backups.models import Snapshot
from backups.restore import PreviewRecord, Sampling
from backups.storage import snapshot_storage
from backups.tests.factories import account_fill, live_rows, snapshot_row, snapshot_taken
from conftest import PASSWORD, login_client
from crm import services as crm_services
from crm.models import Activity, Company, Contact, Deal, Lead
from crm.tests.factories import CompanyFactory, DealFactory, record_make
from history.models import Event
from tests.browser import chromium

pytestmark = pytest.mark.django_db(transaction=True)

TYPES = ("company", "contact", "lead", "deal", "activity")
MODELS = {"company": Company, "contact": Contact, "lead": Lead, "deal": Deal, "activity": Activity}
NAME_FIELD = {
    "company": "title",
    "contact": "first_name",
    "lead": "title",
    "deal": "title",
    "activity": "subject",
}
ENTITIES_CHOSEN = ["company", "contact", "activity"]
API = "/api/v1/backups/snapshots/{}/preview/"
RECORDS = "/api/v1/backups/snapshots/{}/preview/records/"
SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshots" / "preview.png"


def _make(account, entity_type: str, name: str, holder: Company):
    fields = {NAME_FIELD[entity_type]: name}
    if entity_type == "contact":
        fields["last_name"] = "Doe"
    if entity_type == "activity":
        fields["company"] = holder
    return record_make(entity_type, account=account, **fields)


def _rename(record, name: str) -> None:
    type(record)._base_manager.filter(pk=record.pk).update(**{NAME_FIELD[_type(record)]: name})


def _type(record) -> str:
    return next(t for t, model in MODELS.items() if isinstance(record, model))


def _now(record) -> tuple[int, str]:
    return record.pk, str(type(record)._base_manager.get(pk=record.pk))


def _pairs(records: list[PreviewRecord]) -> list[tuple[int, str]]:
    return [(r.id, r.title) for r in records]


@pytest.fixture
def changed(account, admin_user, other_account, other_admin) -> dict:
    """A snapshot, then in every entity type: two records edited, one purged, one moved to the
    bin, two created; one kept as it was. Another account changes too. Returns the snapshot
    and, per entity type and bucket, the (id, title) pairs a preview must name."""
    account_fill(other_account, actor=other_admin, prefix="other ")
    holder = CompanyFactory(account=account, title="Holder")
    made = {
        t: {
            "kept": _make(account, t, f"{t} kept", holder),
            "edited": [_make(account, t, f"{t} edited {i}", holder) for i in (1, 2)],
            "gone": _make(account, t, f"{t} gone", holder),
            "binned": _make(account, t, f"{t} binned", holder),
        }
        for t in TYPES
    }
    snapshot = snapshot_taken(account, admin_user)
    expected = {}
    for t in TYPES:
        records = made[t]
        gone, binned = _now(records["gone"]), _now(records["binned"])
        for record in records["edited"]:
            _rename(record, f"{t} renamed {record.pk}")
        type(records["gone"])._base_manager.filter(pk=records["gone"].pk).delete()
        crm_services.record_delete(record=records["binned"], actor=admin_user)
        new = [_make(account, t, f"{t} new {i}", holder) for i in (1, 2)]
        _make(other_account, t, f"other {t} new", CompanyFactory(account=other_account))
        expected[t] = {
            "full": {
                "removed": [_now(r) for r in new],
                "restored": [gone, binned],  # by id
                "reverted": [_now(r) for r in records["edited"]],
            },
            "recover": {
                "removed": [],
                "restored": [gone],  # what is in the bin is not gone
                "reverted": [],
            },
        }
        expected[t]["entities"] = expected[t]["full"]
    return {"snapshot": snapshot, "expected": expected}


@pytest.fixture
def many(account, admin_user) -> dict:
    """Companies: 12 created, 12 renamed and 12 purged since the snapshot, for paging."""
    before = [CompanyFactory(account=account, title=f"Co {i:02d}") for i in range(24)]
    snapshot = snapshot_taken(account, admin_user)
    for company in before[:12]:
        _rename(company, f"{company.title} renamed")
    Company.objects.filter(pk__in=[c.pk for c in before[12:]]).delete()
    new = [CompanyFactory(account=account, title=f"New {i:02d}") for i in range(12)]
    return {
        "snapshot": snapshot,
        "ids": {
            "removed": [c.pk for c in new],
            "reverted": [c.pk for c in before[:12]],
            "restored": [c.pk for c in before[12:]],
        },
    }


def _types_of(kind: str) -> list[str] | None:
    return ENTITIES_CHOSEN if kind == "entities" else None


# --- The engine -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["full", "entities", "recover"])
def test_samples_name_the_records_behind_each_number(changed, kind):
    before = live_rows(changed["snapshot"].account)

    result = restore.preview(
        snapshot=changed["snapshot"],
        kind=kind,
        entity_types=_types_of(kind),
        sampling=Sampling(size=50),
    )

    assert live_rows(changed["snapshot"].account) == before  # nothing changed
    assert list(result) == (ENTITIES_CHOSEN if kind == "entities" else list(TYPES))
    for entity_type, numbers in result.items():
        expected = changed["expected"][entity_type][kind]
        assert set(numbers) == {"removed", "restored", "reverted", "samples"}
        for bucket in restore.BUCKETS:
            assert _pairs(numbers["samples"][bucket]) == expected[bucket], (entity_type, bucket)
            assert numbers[bucket] == len(expected[bucket]), (entity_type, bucket)


def test_titles_are_the_crms_own(changed):
    """Contacts by full name; removed and reverted as they are now, restored as they were."""
    samples = restore.preview(snapshot=changed["snapshot"], kind="full", sampling=Sampling(size=5))[
        "contact"
    ]["samples"]
    assert [r.title for r in samples["removed"]] == ["contact new 1 Doe", "contact new 2 Doe"]
    assert [r.title for r in samples["restored"]] == ["contact gone Doe", "contact binned Doe"]
    assert all(r.title.startswith("contact renamed") for r in samples["reverted"])
    assert str(samples["removed"][0]) == "contact new 1 Doe"  # templates print the title


def test_sampling_narrows_to_one_entity_type_and_bucket(changed):
    expected = changed["expected"]["deal"]["full"]["restored"]

    first = restore.preview(
        snapshot=changed["snapshot"],
        kind="full",
        sampling=Sampling(size=1, entity_type="deal", bucket="restored"),
    )
    after = restore.preview(
        snapshot=changed["snapshot"],
        kind="full",
        sampling=Sampling(size=1, entity_type="deal", bucket="restored", after=expected[0][0]),
    )

    assert list(first) == ["deal"]
    assert first["deal"]["samples"] == {"restored": [PreviewRecord(*expected[0])]}
    assert first["deal"]["restored"] == 2  # the count is the whole bucket's
    assert _pairs(after["deal"]["samples"]["restored"]) == [expected[1]]


@pytest.mark.parametrize("bucket", ["removed", "restored", "reverted"])
@pytest.mark.parametrize("size", [1, 5, 13])
def test_keyset_pages_return_every_id_exactly_once(many, bucket, size):
    seen: list[int] = []
    after = 0
    for _page in range(20):
        records = restore.preview(
            snapshot=many["snapshot"],
            kind="full",
            sampling=Sampling(size=size, entity_type="company", bucket=bucket, after=after),
        )["company"]["samples"][bucket]
        assert len(records) <= size
        if not records:
            break
        seen += [r.id for r in records]
        after = records[-1].id
    assert seen == sorted(many["ids"][bucket])


def test_recover_names_only_what_is_gone(many):
    numbers = restore.preview(
        snapshot=many["snapshot"], kind="recover", sampling=Sampling(size=50)
    )["company"]
    assert numbers["samples"]["removed"] == numbers["samples"]["reverted"] == []
    assert [r.id for r in numbers["samples"]["restored"]] == many["ids"]["restored"]


def test_counting_alone_reads_no_sample(changed):
    snapshot = changed["snapshot"]
    with CaptureQueriesContext(connection) as counting:
        counts = restore.preview(snapshot=snapshot, kind="full")
    with CaptureQueriesContext(connection) as sampling:
        sampled = restore.preview(snapshot=snapshot, kind="full", sampling=Sampling(size=3))

    assert all(set(numbers) == set(restore.BUCKETS) for numbers in counts.values())
    assert counts == {t: {b: numbers[b] for b in restore.BUCKETS} for t, numbers in sampled.items()}
    assert not any("LIMIT" in query["sql"] for query in counting.captured_queries)
    # The samples come from the same walk that counts (the windowed diff on PostgreSQL, the
    # merge on SQLite): not one query more.
    assert len(sampling.captured_queries) == len(counting.captured_queries)
    # Asking for no sample is counting alone.
    assert restore.preview(snapshot=snapshot, kind="full", sampling=Sampling(size=0)) == counts


def test_a_bad_sampling_is_a_programming_error():
    for bad in (
        {"size": -1},
        {"size": 1, "after": -1},
        {"size": 1, "entity_type": "planet"},
        {"size": 1, "bucket": "lost"},
    ):
        with pytest.raises(ValueError, match="Not a sampling"):
            Sampling(**bad)


@pytest.mark.postgres
def test_postgres_preview_stages_nothing(changed, monkeypatch):
    """The preview compares window by window like the restore: no TEMP table of the whole
    snapshot, and only the asked type's table is read."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    import importlib

    from backups.restore import postgresql

    read = []
    real = postgresql.window_diffs

    def spy(cursor, table, *args, **kwargs):
        read.append(table.name)
        return real(cursor, table, *args, **kwargs)

    monkeypatch.setattr(importlib.import_module("backups.restore.preview"), "window_diffs", spy)
    with CaptureQueriesContext(connection) as queries:
        records = restore.preview(
            snapshot=changed["snapshot"],
            kind="full",
            sampling=Sampling(size=3, entity_type="lead", bucket="reverted"),
        )["lead"]["samples"]["reverted"]
    assert not any("TEMP" in q["sql"] for q in queries.captured_queries)
    assert read == ["crm_lead"]
    assert [(r.id, r.title) for r in records] == changed["expected"]["lead"]["full"]["reverted"][:3]


# --- The API --------------------------------------------------------------------------------


def _state(account) -> dict:
    return {
        "rows": live_rows(account),
        "snapshots": list(Snapshot.objects.order_by("pk").values_list("pk", "status")),
        "events": Event.objects.filter(account=account).count(),
    }


def test_api_preview_adds_samples_to_the_contracts_shape(api, changed):
    snapshot = changed["snapshot"]

    body = api.get(API.format(snapshot.pk), {"kind": "entities", "entity_types": "company,lead"})

    assert body.status_code == 200, body.content
    body = body.json()
    assert set(body) == {"kind", "changes", "samples"}
    assert body["kind"] == "entities"
    assert list(body["changes"]) == list(body["samples"]) == ["company", "lead"]
    expected = changed["expected"]["lead"]["full"]
    assert body["changes"]["lead"] == {b: len(expected[b]) for b in restore.BUCKETS}
    reverted = body["samples"]["lead"]["reverted"]
    assert body["samples"]["lead"] == {
        **{b: [{"id": i, "title": title} for i, title in expected[b]] for b in restore.BUCKETS},
        # A reverted record says which fields go back (issue 18).
        "reverted": [
            {"id": i, "title": title, "changes": reverted[n]["changes"]}
            for n, (i, title) in enumerate(expected["reverted"])
        ],
    }
    assert all(
        change == {"field": "Title", "now": title, "then": change["then"]}
        and change["then"].startswith("lead edited")
        for record, (_i, title) in zip(reverted, expected["reverted"], strict=True)
        for change in record["changes"]
    )


def test_api_sample_size(api, changed):
    path = API.format(changed["snapshot"].pk)

    one = api.get(path, {"sample_size": 1}).json()
    none = api.get(path, {"sample_size": 0}).json()

    assert all(len(records) <= 1 for s in one["samples"].values() for records in s.values())
    assert one["samples"]["company"]["removed"] == [
        {"id": i, "title": t} for i, t in changed["expected"]["company"]["full"]["removed"][:1]
    ]
    assert set(none) == {"kind", "changes"}  # exactly API.md's shape
    assert none["changes"] == one["changes"]


def test_api_records_page_through_one_bucket(api, many):
    for bucket, ids in many["ids"].items():
        url = RECORDS.format(many["snapshot"].pk)
        params: dict | None = {"entity_type": "company", "bucket": bucket, "page_size": 5}
        seen, pages = [], 0
        while url:
            response = api.get(url, params)
            assert response.status_code == 200, response.content
            body = response.json()
            assert set(body) == {"kind", "entity_type", "bucket", "count", "results", "next"}
            assert (body["kind"], body["entity_type"], body["bucket"]) == (
                "full",
                "company",
                bucket,
            )
            assert body["count"] == len(ids)
            seen += [record["id"] for record in body["results"]]
            url, params, pages = body["next"], None, pages + 1
        assert seen == ids
        assert pages == 3  # 5 + 5 + 2


def test_api_records_of_a_bucket_recover_leaves_empty(api, many):
    body = api.get(
        RECORDS.format(many["snapshot"].pk),
        {"kind": "recover", "entity_type": "company", "bucket": "removed"},
    ).json()
    assert (body["count"], body["results"], body["next"]) == (0, [], None)


@pytest.mark.parametrize(
    ("endpoint", "query", "field", "code"),
    [
        (API, {"sample_size": "-1"}, "sample_size", "min_value"),
        (API, {"sample_size": "101"}, "sample_size", "max_value"),
        (API, {"sample_size": "ten"}, "sample_size", "invalid"),
        (API, {"kind": "sideways"}, "kind", "invalid_choice"),
        # A rule across two parameters gets a code of its own (tests/fuzz_checks.py).
        (API, {"kind": "entities"}, "entity_types", "entity_types_needed"),
        (API, {"kind": "entities", "entity_types": "company,planet"}, "entity_types", "invalid"),
        (API, {"kind": "full", "entity_types": "planet"}, "entity_types", "invalid"),
        (API, {"entity_types": ""}, "entity_types", "blank"),
        (API, {"sample_size": "5.0"}, "sample_size", "invalid"),
        (RECORDS, {"bucket": "removed"}, "entity_type", "required"),
        (RECORDS, {"entity_type": "company"}, "bucket", "required"),
        (RECORDS, {"entity_type": "planet", "bucket": "removed"}, "entity_type", None),
        (RECORDS, {"entity_type": "company", "bucket": "lost"}, "bucket", "invalid_choice"),
        (RECORDS, {"entity_type": "company", "bucket": "removed", "after": "-1"}, "after", None),
        (RECORDS, {"entity_type": "company", "bucket": "removed", "after": "x"}, "after", None),
        (
            RECORDS,
            {"entity_type": "company", "bucket": "removed", "after": str(1 << 63)},
            "after",
            "max_value",
        ),
        (
            RECORDS,
            {"entity_type": "company", "bucket": "removed", "page_size": "0"},
            "page_size",
            "min_value",
        ),
        (
            RECORDS,
            {"entity_type": "company", "bucket": "removed", "page_size": "201"},
            "page_size",
            "max_value",
        ),
        (
            RECORDS,
            {
                "kind": "entities",
                "entity_types": "lead",
                "entity_type": "company",
                "bucket": "removed",
            },
            "entity_type",
            "entity_type_outside",
        ),
    ],
)
def test_api_bad_parameters_answer_400(api, account, endpoint, query, field, code):
    snapshot = snapshot_row(account)  # no file: parameters are checked before it is read
    response = api.get(endpoint.format(snapshot.pk), query)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["detail"].startswith(f"{field}: ") and len(body["detail"]) > len(field) + 5
    assert body["code"] == code if code else body["code"]
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("endpoint", [API, RECORDS])
@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        ("admin_user", 200, None),
        ("employee", 403, "admin_only"),
        ("other_admin", 404, "not_found"),
        ("support_user", 403, "account_required"),
        (None, 401, "not_authenticated"),
    ],
)
def test_api_for_every_role(request, api_as, changed, endpoint, role, status, code):
    snapshot = changed["snapshot"]
    user = request.getfixturevalue(role) if role else None
    before = _state(snapshot.account)

    response = api_as(user).get(
        endpoint.format(snapshot.pk), {"entity_type": "company", "bucket": "removed"}
    )

    assert response.status_code == status, response.content
    if code:
        assert response.json()["code"] == code
        assert "company new" not in response.content.decode()
    assert _state(snapshot.account) == before


def _tamper(snapshot: Snapshot) -> None:
    path = snapshot_storage().path(snapshot.storage_name)
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(data))


def test_api_a_damaged_or_unfinished_snapshot(api, changed, account):
    snapshot = changed["snapshot"]
    _tamper(snapshot)

    for endpoint in (API, RECORDS):
        response = api.get(
            endpoint.format(snapshot.pk), {"entity_type": "deal", "bucket": "removed"}
        )
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "snapshot_invalid"
        assert "damaged" in response.json()["detail"]
    failed = snapshot_row(account, kind=Snapshot.Kind.MANUAL, status="failed")
    assert api.get(API.format(failed.pk)).status_code == 404


def test_the_schema_describes_the_samples(api_as):
    schema = (
        api_as(None).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    )
    paths = schema["paths"]
    preview = paths["/api/v1/backups/snapshots/{id}/preview/"]["get"]
    records = paths["/api/v1/backups/snapshots/{id}/preview/records/"]["get"]
    components = schema["components"]["schemas"]

    assert "sample_size" in {p["name"] for p in preview["parameters"]}
    assert {"entity_type", "bucket", "after", "page_size"} <= {
        p["name"] for p in records["parameters"]
    }
    assert set(components["Preview"]["properties"]) == {"kind", "changes", "samples"}
    assert set(components["Preview"]["required"]) == {"kind", "changes"}
    assert set(components["PreviewRecords"]["properties"]) == {
        "kind",
        "entity_type",
        "bucket",
        "count",
        "results",
        "next",
    }
    assert {"400", "403", "404", "409"} <= set(records["responses"])


# --- The page -------------------------------------------------------------------------------


def _client(user) -> Client:
    """A logged-in browser (support staff: with the second factor given)."""
    return login_client(user) if user is not None else Client()


def _page(snapshot) -> str:
    return f"/backups/{snapshot.pk}/preview/"


def _html(response) -> str:
    return unescape(response.content.decode())


def test_page_shows_counts_and_titles(admin_user, changed):
    snapshot = changed["snapshot"]

    response = _client(admin_user).get(_page(snapshot), {"kind": "full"})

    assert response.status_code == 200
    html = _html(response)
    assert "Removed</strong>: records that exist now and are not in the snapshot" in html
    assert "A full restore is account-wide" in html
    rows = {row["entity_type"]: row for row in response.context["rows"]}
    assert list(rows) == list(TYPES)
    for entity_type, row in rows.items():
        for cell in row["cells"]:
            expected = changed["expected"][entity_type]["full"][cell["bucket"]]
            assert cell["count"] == len(expected)
            assert _pairs(cell["records"]) == expected
            assert cell["more_url"] is None
            for record_id, title in expected:
                assert f'data-record="{record_id}"' in html
                assert title in html
    assert response.context["totals"] == {"removed": 10, "restored": 10, "reverted": 10}
    assert "other " not in html  # the other account's records are not named


def test_page_entities_and_recover(admin_user, changed):
    snapshot = changed["snapshot"]
    client = _client(admin_user)

    repeated = client.get(
        _page(snapshot), {"kind": "entities", "entity_types": ["lead", "company"]}
    )
    comma = client.get(_page(snapshot), {"kind": "entities", "entity_types": "company,lead"})
    recover = client.get(_page(snapshot), {"kind": "recover"})

    for response in (repeated, comma):
        assert response.status_code == 200
        assert [row["entity_type"] for row in response.context["rows"]] == ["company", "lead"]
        assert 'value="lead" checked' in response.content.decode()
    assert "Recover only brings back what is gone" in _html(recover)
    assert recover.context["totals"] == {"removed": 0, "restored": 5, "reverted": 0}


def test_page_more_links_page_through_a_number(admin_user, many, monkeypatch):
    monkeypatch.setattr(views, "SAMPLE_SIZE", 3)
    monkeypatch.setattr(views, "BUCKET_PAGE_SIZE", 4)
    client = _client(admin_user)
    snapshot = many["snapshot"]
    overview = client.get(_page(snapshot), {"kind": "full"})
    cells = {cell["bucket"]: cell for cell in overview.context["rows"][0]["cells"]}

    for bucket, ids in many["ids"].items():
        cell = cells[bucket]
        assert cell["more"] == 9
        assert cell["more_url"] in overview.content.decode().replace("&amp;", "&")
        assert "9 more" in overview.content.decode()
        seen = [r.id for r in cell["records"]]
        url, pages = cell["more_url"], 0
        while url:
            query = parse_qs(urlsplit(url).query)
            assert (query["entity_type"], query["bucket"]) == (["company"], [bucket])
            response = client.get(url)
            assert response.status_code == 200
            page = response.context["bucket_page"]
            assert page["count"] == 12 and page["first_url"]
            seen += [r.id for r in page["records"]]
            url, pages = page["next_url"], pages + 1
        assert seen == ids
        assert pages == 3  # 3 on the overview, then 4 + 4 + 1


def test_page_of_one_bucket_renders_its_titles(admin_user, many):
    response = _client(admin_user).get(
        _page(many["snapshot"]), {"kind": "full", "entity_type": "company", "bucket": "reverted"}
    )

    html = _html(response)
    assert response.status_code == 200
    assert "Companies · Reverted" in html
    assert "the restore would put back the snapshot's version" in html
    assert re.findall(r'data-record="(\d+)"', html) == [str(i) for i in many["ids"]["reverted"]]
    assert "Co 00 renamed" in html
    assert response.context["bucket_page"]["first_url"] is None  # this is the first page


def test_page_says_when_nothing_would_change(admin_user, account):
    CompanyFactory(account=account, title="Steady")
    snapshot = snapshot_taken(account, admin_user)

    for kind in ("full", "recover"):
        response = _client(admin_user).get(_page(snapshot), {"kind": kind})
        assert response.status_code == 200
        assert "Nothing would change" in response.content.decode()
        assert response.context["changed"] is False


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"kind": "sideways"}, "This kind of restore is not available: sideways."),
        ({"kind": "entities"}, "Choose the entity types to preview among"),
        ({"kind": "entities", "entity_types": "lead,planet"}, "Choose the entity types"),
        ({"entity_type": "planet", "bucket": "removed"}, "There is no such number"),
        ({"entity_type": "lead", "bucket": "lost"}, "There is no such number"),
        (
            {
                "kind": "entities",
                "entity_types": "deal",
                "entity_type": "lead",
                "bucket": "removed",
            },
            "There is no such number",
        ),
        ({"entity_type": "lead", "bucket": "removed", "after": "x"}, "must be a record id"),
    ],
)
def test_page_bad_parameters_answer_400_with_the_form(admin_user, account, query, message):
    snapshot = snapshot_row(account)  # no file: nothing is read

    response = _client(admin_user).get(_page(snapshot), query)

    assert response.status_code == 400
    html = _html(response)
    assert message in html
    assert 'role="alert"' in html


def test_page_a_damaged_or_unfinished_snapshot_is_explained(admin_user, changed, account):
    client = _client(admin_user)
    _tamper(changed["snapshot"])
    failed = snapshot_row(account, kind=Snapshot.Kind.MANUAL, status="failed", storage_name="")

    damaged = client.get(_page(changed["snapshot"]))
    unfinished = client.get(_page(failed))

    assert damaged.status_code == unfinished.status_code == 409
    assert "This snapshot cannot be used" in damaged.content.decode()
    assert "it is damaged" in damaged.content.decode()
    assert "Only a finished snapshot can be restored." in unfinished.content.decode()


def test_page_and_api_when_the_file_is_missing(admin_user, api, changed):
    snapshot = changed["snapshot"]
    snapshot_storage().delete(snapshot.storage_name)

    page = _client(admin_user).get(_page(snapshot))
    response = api.get(API.format(snapshot.pk))

    assert page.status_code == 409
    assert "The snapshot&#x27;s file is missing." in page.content.decode()
    assert (response.status_code, response.json()["code"]) == (409, "snapshot_invalid")


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("admin_user", 200),
        ("employee", 403),
        ("other_admin", 404),
        ("support_user", 403),
        (None, 302),
    ],
)
def test_page_for_every_role(request, changed, role, status):
    snapshot = changed["snapshot"]
    user = request.getfixturevalue(role) if role else None
    before = _state(snapshot.account)

    response = _client(user).get(_page(snapshot), {"entity_type": "company", "bucket": "removed"})

    assert response.status_code == status
    if role is None:
        assert response["Location"].startswith("/login")
    if role == "employee":  # as on the Backups page
        assert "admin" in response.content.decode().lower()
    if status != 200:
        assert "company new" not in response.content.decode()
    assert _state(snapshot.account) == before


def test_page_of_a_missing_snapshot_is_404(admin_user):
    assert _client(admin_user).get("/backups/987654321/preview/").status_code == 404


def test_backups_page_links_each_snapshot_to_its_preview(admin_user, account):
    snapshots = [snapshot_row(account), snapshot_row(account, kind=Snapshot.Kind.MANUAL)]

    html = _client(admin_user).get("/backups/").content.decode()

    for snapshot in snapshots:
        assert f'href="/backups/{snapshot.pk}/preview/?kind=full"' in html


def test_page_in_german(admin_user, changed):
    response = _client(admin_user).get(
        _page(changed["snapshot"]), {"kind": "full"}, HTTP_ACCEPT_LANGUAGE="de"
    )
    html = _html(response)
    assert "Was eine Wiederherstellung ändern würde" in html
    assert "Entfernt" in html and "Zurückgesetzt" in html


# --- A real browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    yield page
    context.close()


def _a_realistic_week(account, admin_user) -> Snapshot:
    """A snapshot, then what a week of an account does: new records, edits, deletions."""
    names = {
        "company": ["Müller & Söhne GmbH", "Nordwind Logistik", "Atelier Blau", "Kaffee Kontor"],
        "contact": ["Ada", "Grace", "Linus", "Margaret"],
        "lead": ["Website relaunch", "ERP migration", "Trade fair Hannover", "Newsletter"],
        "deal": ["Annual licence 2031", "Support contract", "Hardware refresh", "Training"],
        "activity": ["Kick-off call", "Send the offer", "Follow-up meeting", "Contract review"],
    }
    holder = CompanyFactory(account=account, title="Holder AG")
    made = {t: [_make(account, t, name, holder) for name in names[t]] for t in TYPES}
    snapshot = snapshot_taken(account, admin_user)
    _rename(made["company"][0], "Müller & Söhne KG")
    _rename(made["lead"][1], "ERP migration (phase 2)")
    _rename(made["deal"][0], "Annual licence 2031 – discounted")
    crm_services.record_delete(record=made["contact"][1], actor=admin_user)
    crm_services.record_delete(record=made["deal"][2], actor=admin_user)
    Lead.objects.filter(pk=made["lead"][3].pk).delete()
    Activity.objects.filter(pk=made["activity"][2].pk).delete()
    for name in ("Sonnenschein Solar", "Elbe Consulting", "Hafen Bau"):
        CompanyFactory(account=account, title=name)
    for name in ("Barbara", "Dennis"):
        _make(account, "contact", name, holder)
    _make(account, "activity", "Quarterly review", holder)
    return snapshot


@pytest.mark.browser
def test_admin_opens_the_preview_from_the_backups_page(page, account, admin_user):
    snapshot = _a_realistic_week(account, admin_user)

    page.goto("/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main form [type=submit]")
    page.wait_for_url("**/crm/")

    page.click("nav.mainnav >> text=Backups")
    page.wait_for_url("**/backups/")
    row = page.locator(f'tr[data-snapshot="{snapshot.pk}"]')
    row.locator("a", has_text="Preview a restore").click()
    page.wait_for_url(f"**/backups/{snapshot.pk}/preview/?kind=full")

    table = page.locator("table.previewtable")
    companies = table.locator('tr[data-entity-type="company"]')
    assert companies.locator('td[data-bucket="removed"] .previewcell__count').inner_text() == "3"
    assert "Hafen Bau" in companies.locator('td[data-bucket="removed"]').inner_text()
    assert "Müller & Söhne KG" in companies.locator('td[data-bucket="reverted"]').inner_text()
    restored = table.locator('tr[data-entity-type="contact"] td[data-bucket="restored"]')
    assert "Grace Doe" in restored.inner_text()
    assert "everything every user created, changed or deleted" in page.inner_text("main")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Only some entity types: the form keeps its choice.
    page.check("#kind-entities")
    page.check("input[name=entity_types][value=lead]")
    page.check("input[name=entity_types][value=deal]")
    page.click("form.previewform button[type=submit]")
    page.wait_for_url("**/preview/?kind=entities*")
    types = page.locator("table.previewtable tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.entityType)"
    )
    assert types == ["lead", "deal"]
    assert page.is_checked("input[name=entity_types][value=deal]")


def test_a_reverted_record_says_which_fields_go_back(admin_user, account):
    """Issue 18: the preview named a reverted record without saying what differs."""
    deal = DealFactory(account=account, title="Licence", amount="2300.00")
    snapshot = snapshot_taken(account, admin_user)
    type(deal)._base_manager.filter(pk=deal.pk).update(amount="99999.00", title="Licence XL")

    samples = restore.preview(snapshot=snapshot, kind="full", sampling=Sampling(size=5))["deal"][
        "samples"
    ]
    [reverted] = samples["reverted"]
    changes = {label: (now, then) for label, now, then in reverted.changes}
    assert changes == {"Amount": ("99999.00", "2300.00"), "Title": ("Licence XL", "Licence")}

    html = _html(_client(admin_user).get(_page(snapshot), {"kind": "full"}))
    assert 'data-field="Amount"' in html and "99999.00" in html and "2300.00" in html

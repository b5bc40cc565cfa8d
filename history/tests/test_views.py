"""The history's browser pages: the filtered list with its chips, keyset pages, the deletions
chart, the CSV export, a record's own history on its detail page, and who may see them."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import login_client
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.tests.factories import ActivityFactory, CompanyFactory, DealFactory
from history import views
from history.models import Event
from history.services import history_event, history_record, history_record_many
from history.views import MATCHES_COUNT_MAX, PAGE_SIZE, UNDO_COUNT_MAX, deletion_chart
from recyclebin import services as bin_services
from recyclebin.models import BinEntry

LIST = reverse("history:list")
EXPORT = reverse("history:export")


def client_for(user) -> Client:
    """A logged-in browser (support staff: with the second factor given)."""
    return login_client(user) if user is not None else Client()


def user_of(request, role: str | None):
    fixtures = {"admin": "admin_user", "support": "support_user"}
    return request.getfixturevalue(fixtures.get(role, role)) if role else None


def event(account, *, actor=None, event_type="create", entity_type="company", **kwargs):
    kwargs.setdefault("entity_id", 1)
    kwargs.setdefault("title", "Something")
    return history_record(
        account=account, actor=actor, event_type=event_type, entity_type=entity_type, **kwargs
    )


def titles(response) -> list[str]:
    return [row.event.entity_title for row in response.context["rows"]]


def export_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def admin_client(admin_user) -> Client:
    return client_for(admin_user)


# --- Who may see it -----------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, EXPORT])
@pytest.mark.parametrize(
    ("role", "status"),
    [("admin", 200), ("employee", 200), ("other_admin", 200), ("support", 403), (None, 302)],
)
def test_who_may_see_the_history(request, account, admin_user, url, role, status):
    event(account, actor=admin_user, title="Acme secret")
    response = client_for(user_of(request, role)).get(url)
    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith(reverse("login"))
    if status == 200:
        content = (
            b"".join(response.streaming_content)
            if isinstance(response, StreamingHttpResponse)
            else response.content
        )
        # Admins and employees see their account's whole history; another account none of it.
        assert (b"Acme secret" in content) == (role != "other_admin")


def test_another_accounts_record_filter_shows_and_names_nothing(account, admin_user, other_admin):
    company = CompanyFactory(account=account, title="Acme secret")
    event(account, actor=admin_user, entity_id=company.pk, title="Acme secret")
    response = client_for(other_admin).get(
        LIST, {"entity_type": "company", "entity_id": company.pk}
    )
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert [chip.value for chip in response.context["chips"]] == ["Company", f"#{company.pk}"]
    assert b"Acme secret" not in response.content
    export = client_for(other_admin).get(EXPORT, {"entity_id": company.pk})
    assert export_rows(export) == [
        ["id", "occurred_at", "user", "event", "type", "record id", "title", "changes"]
    ]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("url", [LIST, EXPORT])
def test_the_history_is_read_only(admin_client, account, admin_user, url, method):
    event(account, actor=admin_user)
    before = list(Event.objects.values())
    response = getattr(admin_client, method)(url)
    assert response.status_code == 405
    assert list(Event.objects.values()) == before


# --- The list -----------------------------------------------------------------------------


def test_list_shows_who_did_what_and_when_in_the_accounts_zone(admin_client, account, admin_user):
    moment = datetime(2030, 1, 2, 8, 30, tzinfo=UTC)  # 09:30 in Berlin
    event(account, actor=admin_user, event_type="delete", title="Initech", occurred_at=moment)
    event(account, actor=None, event_type="purge", title="Old lead", entity_type="lead")
    response = admin_client.get(LIST)
    content = response.content.decode()
    assert titles(response) == ["Old lead", "Initech"]
    assert "Jan 2, 2030, 9:30 AM" in content
    assert "Europe/Berlin" in content
    assert admin_user.username in content
    rows = response.context["rows"]
    assert (rows[0].user, rows[0].is_system) == ("System", True)
    assert (rows[1].user, rows[1].is_system) == (admin_user.username, False)
    assert "evt--delete" in content and "evt--purge" in content
    assert "No filters: every event of the account, newest first." in content


def test_titles_link_to_records_that_exist_in_the_bin_too(admin_client, account, admin_user):
    """Issue 18: a deleted record's row leads to its page, which says it is in the bin and
    offers Restore; a purged one has no page to lead to."""
    live_company = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Live"}
    )
    binned = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Binned"}
    )
    crm_services.record_delete(record=binned, actor=admin_user)
    gone = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Gone"}
    )
    crm_services.record_delete(record=gone, actor=admin_user)
    entry = BinEntry.objects.get(entity_type="company", entity_id=gone.pk)
    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)
    response = admin_client.get(LIST)
    rows = {row.event.entity_title: row for row in response.context["rows"]}
    assert rows["Live"].record_url == reverse("crm:company_detail", args=[live_company.pk])
    assert not rows["Live"].in_bin
    assert rows["Binned"].record_url == reverse("crm:company_detail", args=[binned.pk])
    assert rows["Binned"].in_bin and "in the recycle bin" in response.content.decode()
    assert rows["Gone"].record_url is None
    assert f'href="{reverse("crm:company_detail", args=[gone.pk])}"' not in (
        response.content.decode()
    )


def test_links_cost_one_query_per_type_not_per_row(
    admin_client, account, admin_user, django_assert_max_num_queries
):
    for entity_type in ("company", "lead", "deal"):
        entity = ENTITIES[entity_type]
        for n in range(15):
            crm_services.record_create(
                account=account, actor=admin_user, entity=entity, data={"title": f"T{n}"}
            )
    # session, user, account, page, users, support staff who acted, 3 link types, chart (its
    # latest delete, and its counts when not kept), and a few to spare
    with django_assert_max_num_queries(14):
        response = admin_client.get(LIST)
    assert len(response.context["rows"]) == 45
    assert all(row.record_url for row in response.context["rows"])


def test_updates_show_readable_changes(admin_client, account, admin_user):
    initech = CompanyFactory(account=account, title="Initech")
    deal = DealFactory(account=account, title="Licence", stage="new", amount="1000.00")
    crm_services.record_update(
        record=deal,
        actor=admin_user,
        data={"stage": "won", "company": initech, "amount": "1234.5", "close_date": None},
    )
    deal.refresh_from_db()
    crm_services.record_update(
        record=deal, actor=admin_user, data={"close_date": date(2030, 6, 30)}
    )
    response = admin_client.get(LIST, {"event_type": "update"})
    changes = {
        change.field: (change.old, change.new)
        for row in response.context["rows"]
        for change in row.changes
    }
    assert changes["Stage"] == ("New", "Won")
    assert changes["Company"] == (None, f"Initech (#{initech.pk})")
    assert changes["Amount"] == ("1,000.00", "1,234.50")
    assert changes["Close date"] == (None, "Jun 30, 2030")
    content = response.content.decode()
    assert "Stage:" in content and "Won" in content


def test_creates_purges_and_restores_show_their_values(admin_client, account, admin_user):
    deal = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["deal"],
        data={"title": "Licence", "amount": "2300.00"},
    )
    # What a restore writes on a record it reverted (backups.restore.record_log).
    history_record(
        account=account,
        actor=admin_user,
        event_type="rollback",
        entity_type="deal",
        entity_id=deal.pk,
        title="Licence",
        changes={"amount": ["99999.00", "2300.00"]},
        details={"snapshot": 1, "action": "reverted"},
    )

    rows = admin_client.get(LIST, {"entity_type": "deal"}).context["rows"]

    shown = {row.event.event_type: {c.field: (c.old, c.new) for c in row.changes} for row in rows}
    assert shown["rollback"] == {"Amount": ("99,999.00", "2,300.00")}
    assert shown["create"]["Title"] == (None, "Licence")
    assert shown["create"]["Amount"] == (None, "2,300.00")


def test_deletes_say_what_went_with_them(admin_client, account, admin_user):
    deal = DealFactory(account=account, title="Licence")
    ActivityFactory.create_batch(2, account=account, company=None, deal=deal)
    crm_services.record_delete(record=deal, actor=admin_user)
    response = admin_client.get(LIST, {"event_type": "delete", "entity_type": "deal"})
    assert [row.note for row in response.context["rows"]] == ["with 2 activities"]


def test_empty_history_and_no_match_states(admin_client, account, admin_user):
    assert "No history yet." in admin_client.get(LIST).content.decode()
    event(account, actor=admin_user)
    content = admin_client.get(LIST, {"event_type": "purge"}).content.decode()
    assert "No events match these filters." in content
    assert f'href="{LIST}"' in content  # reset all


# --- Filters and their chips ---------------------------------------------------------------


@pytest.fixture
def mixed_events(account, admin_user, employee):
    """Six events across types, users and two days (Berlin time)."""
    day_one = datetime(2030, 1, 4, 10, 0, tzinfo=UTC)
    day_two = datetime(2030, 1, 5, 10, 0, tzinfo=UTC)
    return [
        event(account, actor=admin_user, event_type="create", title="Alpha", occurred_at=day_one),
        event(account, actor=employee, event_type="delete", title="Bravo", occurred_at=day_one),
        event(
            account,
            actor=employee,
            event_type="delete",
            entity_type="deal",
            entity_id=7,
            title="Charlie deal",
            occurred_at=day_two,
        ),
        event(account, actor=admin_user, event_type="restore", title="Delta", occurred_at=day_two),
        event(
            account,
            actor=admin_user,
            event_type="update",
            entity_type="deal",
            entity_id=7,
            title="Charlie deal",
            occurred_at=day_two,
        ),
        event(account, actor=None, event_type="purge", title="Echo", occurred_at=day_two),
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event_type": "delete"}, ["Charlie deal", "Bravo"]),
        ({"event_type": ["delete", "restore"]}, ["Delta", "Charlie deal", "Bravo"]),
        ({"event_type": "delete,restore"}, ["Delta", "Charlie deal", "Bravo"]),
        ({"entity_type": "deal"}, ["Charlie deal", "Charlie deal"]),
        ({"entity_type": "deal", "entity_id": "7", "event_type": "update"}, ["Charlie deal"]),
        ({"actor": "employee"}, ["Charlie deal", "Bravo"]),
        ({"occurred_after": "2030-01-05"}, ["Echo", "Charlie deal", "Delta", "Charlie deal"]),
        ({"occurred_before": "2030-01-05"}, ["Bravo", "Alpha"]),
        ({"search": "ALP"}, ["Alpha"]),
        ({"search": "employee"}, ["Charlie deal", "Bravo"]),
    ],
)
def test_filters(admin_client, employee, mixed_events, params, expected):
    if params.get("actor") == "employee":
        params = {"actor": employee.pk}
    response = admin_client.get(LIST, params)
    assert titles(response) == expected


def test_every_active_filter_is_a_chip_that_removes_only_itself(
    admin_client, employee, mixed_events
):
    params = (
        f"event_type=delete,restore&event_type=update&entity_type=deal&entity_id=7"
        f"&actor={employee.pk}&occurred_after=2030-01-05&occurred_before=2030-01-06"
        f"&search=Char&before=999"
    )
    response = admin_client.get(f"{LIST}?{params}")
    chips = response.context["chips"]
    assert [(chip.label, chip.value) for chip in chips] == [
        ("Event", "Delete"),
        ("Event", "Restore"),
        ("Event", "Update"),
        ("Type", "Deal"),
        ("Record", "“Charlie deal” (#7)"),
        ("User", employee.username),
        ("From", "Jan 5, 2030"),
        ("Before", "Jan 6, 2030"),
        ("Text", "“Char”"),
    ]
    restore_chip = chips[1]
    assert "&before=" not in restore_chip.remove_url  # paging restarts
    after_removal = admin_client.get(restore_chip.remove_url)
    assert [(c.label, c.value) for c in after_removal.context["chips"]] == [
        (label, value) for label, value in ((c.label, c.value) for c in chips) if value != "Restore"
    ]
    content = response.content.decode()
    assert "Filtered by" in content
    assert "Reset all filters" in content
    assert content.count('class="chip__remove"') == 9


def test_form_reflects_the_filters(admin_client, employee, mixed_events):
    response = admin_client.get(
        LIST, {"event_type": "delete,purge", "actor": employee.pk, "occurred_after": "2030-01-05"}
    )
    content = response.content.decode()
    assert '<input type="checkbox" name="event_type" value="delete" checked>' in content
    assert '<input type="checkbox" name="event_type" value="purge" checked>' in content
    assert '<input type="checkbox" name="event_type" value="create">' in content
    assert f'<option value="{employee.pk}" selected>' in content
    assert 'type="date" name="occurred_after" value="2030-01-05"' in content


def test_an_iso_datetime_filter_stays_as_typed(admin_client, mixed_events):
    response = admin_client.get(LIST, {"occurred_after": "2030-01-05T10:00:00Z"})
    assert titles(response) == ["Echo", "Charlie deal", "Delta", "Charlie deal"]
    assert 'type="text" name="occurred_after" value="2030-01-05T10:00:00Z"' in (
        response.content.decode()
    )


def test_invalid_filters_list_nothing_and_say_why(admin_client, mixed_events):
    response = admin_client.get(LIST, {"event_type": "explode", "occurred_after": "soon"})
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert set(response.context["filter_errors"]) == {"event_type", "occurred_after"}
    assert all(chip.invalid for chip in response.context["chips"])
    assert "Some filters are not valid" in response.content.decode()


def test_user_filter_offers_the_accounts_users_only(
    admin_client, admin_user, employee, other_admin
):
    content = admin_client.get(LIST).content.decode()
    assert f'<option value="{employee.pk}">{employee.username}</option>' in content
    assert other_admin.username not in content


# --- Keyset pages -------------------------------------------------------------------------


@pytest.fixture
def many_events(account, admin_user):
    history_record_many(
        history_event(
            account=account,
            actor=admin_user,
            event_type="update",
            entity_type="company",
            entity_id=n,
            title=f"E{n:03d}",
        )
        for n in range(120)
    )
    return list(Event.objects.order_by("-id"))


def test_keyset_pages_newer_and_older(admin_client, many_events):
    first = admin_client.get(LIST)
    assert titles(first) == [e.entity_title for e in many_events[:PAGE_SIZE]]
    assert first.context["newer_url"] is None
    older_url = first.context["older_url"]
    assert f"before={many_events[PAGE_SIZE - 1].pk}" in older_url

    second = admin_client.get(older_url)
    assert titles(second) == [e.entity_title for e in many_events[PAGE_SIZE : 2 * PAGE_SIZE]]
    third = admin_client.get(second.context["older_url"])
    assert titles(third) == [e.entity_title for e in many_events[2 * PAGE_SIZE :]]
    assert third.context["older_url"] is None

    back = admin_client.get(third.context["newer_url"])
    assert titles(back) == titles(second)
    assert f"after={many_events[2 * PAGE_SIZE].pk}" in third.context["newer_url"]
    newest = admin_client.get(back.context["newer_url"])
    assert titles(newest) == titles(first)
    assert newest.context["newer_url"] is None


def test_keyset_links_keep_the_filters(admin_client, many_events):
    response = admin_client.get(LIST, {"event_type": "update", "search": "E"})
    older = response.context["older_url"]
    assert "event_type=update" in older and "search=E" in older
    assert "event_type=update" in response.context["export_url"]
    assert "before" not in response.context["export_url"]


@pytest.mark.parametrize("params", [{"before": "junk"}, {"after": "-5"}, {"after": "999999999"}])
def test_odd_positions_show_the_newest(admin_client, many_events, params):
    response = admin_client.get(LIST, params)
    assert titles(response) == [e.entity_title for e in many_events[:PAGE_SIZE]]


def test_pages_never_count_or_offset(admin_client, many_events):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(LIST, {"before": many_events[60].pk, "event_type": "update"})
    sql = " ".join(query["sql"].upper() for query in queries.captured_queries)
    assert "OFFSET" not in sql
    event_queries = [
        q["sql"].upper() for q in queries.captured_queries if "history_event" in q["sql"]
    ]
    # The only counts are the chart's, each bounded to one day of deletions, and those of
    # "Undo these N changes…" and "N events match", bounded by a LIMIT; never the whole list's.
    counts = [q for q in event_queries if "COUNT(" in q]
    assert all(
        '"OCCURRED_AT" <' in q
        or "OCCURRED_AT <" in q
        or f"LIMIT {UNDO_COUNT_MAX + 1}" in q
        or f"LIMIT {MATCHES_COUNT_MAX + 1}" in q
        for q in counts
    ), counts


# --- Chart --------------------------------------------------------------------------------


def test_chart_shows_30_days_with_the_mass_deletion_standing_out(admin_client, account, admin_user):
    now = timezone.now()
    history_record_many(
        history_event(
            account=account,
            actor=admin_user,
            event_type="delete",
            entity_type="lead",
            entity_id=n,
            title=f"Lead {n}",
            occurred_at=now - timedelta(days=3),
        )
        for n in range(40)
    )
    event(account, actor=admin_user, event_type="delete", occurred_at=now - timedelta(days=10))
    response = admin_client.get(LIST)
    chart = response.context["chart"]
    assert len(chart["bars"]) == 30
    assert chart["total"] == 41
    assert chart["peak"] == 40
    peaks = [bar for bar in chart["bars"] if bar["is_peak"]]
    assert len(peaks) == 1
    small = next(bar for bar in chart["bars"] if bar["count"] == 1)
    assert peaks[0]["height"] > 10 * small["height"]
    content = response.content.decode()
    assert "<svg" in content and "chart__bar--peak" in content
    assert '<text class="chart__peak"' in content and ">40</text>" in content
    day = peaks[0]["day"]
    assert f"occurred_after={day.isoformat()}" in peaks[0]["url"]
    assert "event_type=delete" in peaks[0]["url"]
    # The day's link lists exactly that day's deletions.
    that_day = admin_client.get(peaks[0]["url"])
    assert len(that_day.context["rows"]) == 40


def test_chart_numbers_stay_svg_numbers_in_german(admin_client, account, admin_user):
    event(account, actor=admin_user, event_type="delete")
    admin_client.post(reverse("set_language"), {"language": "de", "next": LIST})
    content = admin_client.get(LIST).content.decode()
    svg = content[content.index("<svg") : content.index("</svg>")]
    numbers = [
        value.split('"')[0]
        for attribute in (' x="', ' y="', ' width="', ' height="')
        for value in svg.split(attribute)[1:]
    ]
    assert any("." in number for number in numbers)
    assert not any("," in number for number in numbers)


def test_deletion_chart_of_a_quiet_month():
    days = [(date(2030, 1, 1) + timedelta(days=n), 0) for n in range(30)]
    chart = deletion_chart(days)
    assert chart["total"] == 0 and chart["peak_day"] is None
    assert not any(bar["url"] or bar["is_peak"] for bar in chart["bars"])


# --- CSV export ---------------------------------------------------------------------------


def test_export_streams_the_filtered_history_as_csv(admin_client, account, admin_user):
    moment = datetime(2030, 1, 2, 8, 30, tzinfo=UTC)
    event(
        account,
        actor=admin_user,
        event_type="update",
        entity_type="deal",
        entity_id=5,
        title="Licence",
        changes={"stage": ["new", "won"]},
        occurred_at=moment,
    )
    event(account, actor=None, event_type="purge", title="=HYPERLINK(1)", occurred_at=moment)
    event(account, actor=admin_user, event_type="create", title="Not exported")
    response = admin_client.get(EXPORT, {"event_type": "update,purge"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="history-')
    rows = export_rows(response)
    assert rows[0] == [
        "id",
        "occurred_at",
        "user",
        "event",
        "type",
        "record id",
        "title",
        "changes",
    ]
    purge, update = rows[1], rows[2]
    assert update[1:] == [
        "2030-01-02T09:30:00+01:00",
        admin_user.username,
        "update",
        "deal",
        "5",
        "Licence",
        '{"stage": ["new", "won"]}',
    ]
    assert json.loads(update[7]) == {"stage": ["new", "won"]}
    assert purge[2] == "System"
    assert purge[6] == "'=HYPERLINK(1)"  # a spreadsheet must not run it
    assert len(rows) == 3


def test_export_button_carries_the_filters(admin_client, account, admin_user):
    event(account, actor=admin_user)
    content = admin_client.get(LIST, {"event_type": "delete", "before": "5"}).content.decode()
    assert f'href="{EXPORT}?event_type=delete"' in content
    assert "Export these events (CSV)" in content


def test_export_refuses_invalid_filters(admin_client):
    response = admin_client.get(EXPORT, {"occurred_after": "soon"})
    assert response.status_code == 400
    assert b"occurred_after" in response.content


def test_export_is_utf8(admin_client, account, admin_user):
    event(account, actor=admin_user, title="Müller & Söhne – ☃")
    rows = export_rows(admin_client.get(EXPORT))
    assert rows[1][6] == "Müller & Söhne – ☃"


# --- A record's own history ----------------------------------------------------------------


def test_detail_page_shows_the_records_latest_events(admin_client, account, admin_user):
    deal = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["deal"], data={"title": "Licence"}
    )
    for stage in ("proposal", "negotiation", "won"):
        crm_services.record_update(record=deal, actor=admin_user, data={"stage": stage})
    other = DealFactory(account=account, title="Other deal")
    event(account, actor=admin_user, entity_type="deal", entity_id=other.pk, title="Other deal")
    response = admin_client.get(reverse("crm:deal_detail", args=[deal.pk]))
    rows = response.context["history"]
    assert [row.event.event_type for row in rows] == ["update", "update", "update", "create"]
    assert rows[0].changes[0].new == "Won"
    url = f"{LIST}?entity_type=deal&entity_id={deal.pk}"
    assert response.context["history_url"] == url
    content = response.content.decode()
    assert f'href="{url.replace("&", "&amp;")}"' in content
    assert "Negotiation" in content
    assert "Only the latest" not in content


def test_detail_page_shows_only_the_latest_20(admin_client, account, admin_user):
    company = CompanyFactory(account=account)
    history_record_many(
        history_event(
            account=account,
            actor=admin_user,
            event_type="update",
            entity_type="company",
            entity_id=company.pk,
            title=f"v{n}",
        )
        for n in range(30)
    )
    response = admin_client.get(reverse("crm:company_detail", args=[company.pk]))
    assert len(response.context["history"]) == 20
    assert response.context["history"][0].event.entity_title == "v29"
    assert "Only the latest 20 events are shown here" in response.content.decode()


def test_the_user_filter_offers_support_staff_and_system(
    admin_client, account, admin_user, support_user, other_account
):
    """Issue 18: support staff and "system" appear as actors, so the filter offers them."""
    from history.services import history_record

    history_record(
        account=account,
        actor=support_user,
        event_type="request_approved",
        entity_type="restore_request",
        entity_id=1,
        title="Restore request #1",
    )
    history_record(
        account=account, actor=None, event_type="rollback", entity_type="", title="Rollback"
    )
    company = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Initech"}
    )
    with CaptureQueriesContext(connection) as queries:
        form = admin_client.get(LIST).context["form"]
    values = dict(form["users"])
    assert values[str(support_user.pk)] == "support (support)"
    # Each support user read once, not once per event (DISTINCT over the actor alone).
    (distinct,) = [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"]]
    assert '"history_event"."id"' not in distinct
    assert values["system"] == "System"
    assert values[str(admin_user.pk)] == admin_user.username
    system = admin_client.get(LIST, {"actor": "system"}).context["rows"]
    assert [row.event.event_type for row in system] == ["rollback"]
    mine = admin_client.get(LIST, {"actor": admin_user.pk}).context["rows"]
    assert [row.event.entity_id for row in mine] == [company.pk]
    assert admin_client.get(LIST, {"actor": "nobody"}).context["filter_errors"]


def test_the_list_says_how_many_events_match(
    admin_client, account, admin_user, employee, monkeypatch, settings
):
    settings.PAGE_PART_SECONDS = 0  # the counts below, not a page kept whole

    for n in range(3):
        crm_services.record_create(
            account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": f"C{n}"}
        )
    page = admin_client.get(LIST)
    assert page.context["matches"] == 3 and "3 events match." in page.content.decode()
    one = admin_client.get(LIST, {"search": "C1"})
    assert "1 event matches." in one.content.decode()
    # Beyond a page, counted up to a cap.
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    monkeypatch.setattr(views, "MATCHES_COUNT_MAX", 2)
    capped = admin_client.get(LIST)
    assert "More than 2 events match." in capped.content.decode()
    assert admin_client.get(LIST, {"search": "C"}).context["matches"] == 3
    # Once over the cap, a list is not counted again (events are only added), the whole
    # history as a filtered one; a list not counted over it is, and an employee's (fewer
    # events visible) has its own count.
    monkeypatch.setattr(views, "MATCHES_COUNT_MAX", 1_000)
    assert admin_client.get(LIST).context["matches"] == 1_001
    assert admin_client.get(LIST, {"search": "C"}).context["matches"] == 1_001
    assert admin_client.get(LIST, {"event_type": "create"}).context["matches"] == 3
    assert login_client(employee).get(LIST).context["matches"] == 3

"""The history: every change writes its event in the same transaction (create, update, delete,
restore, purge), events outlive what they describe and who did it, and on PostgreSQL the
database itself refuses to change or remove an event."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import User
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company
from crm.tests.factories import (
    ENTITY_TYPES,
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    record_make,
)
from history import selectors
from history.models import Event, EventType
from history.services import history_event, history_record, history_record_many
from recyclebin import services as bin_services
from recyclebin.tests.factories import bin_state, entries_expire

pytestmark = pytest.mark.django_db


def events(**filters) -> list[Event]:
    return list(Event.objects.filter(**filters).order_by("pk"))


def stored_event(event: Event) -> Event:
    """The event as the database gives it back (JSON decoded)."""
    return Event.objects.get(pk=event.pk)


# --- One event per change -------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_create_writes_a_create_event(account, employee, entity_type):
    data = {
        "company": {"title": "Initech"},
        "contact": {"first_name": "Peter", "last_name": "Gibbons"},
        "lead": {"title": "Relaunch"},
        "deal": {"title": "Licence"},
        "activity": {"subject": "Call", "type": "call", "lead": LeadFactory(account=account)},
    }[entity_type]
    before = timezone.now()

    record = crm_services.record_create(
        account=account, actor=employee, entity=ENTITIES[entity_type], data=data
    )

    (event,) = events(event_type=EventType.CREATE)
    assert event.account_id == account.id
    assert (event.entity_type, event.entity_id) == (entity_type, record.pk)
    assert event.entity_title == record.title_text
    assert (event.actor_id, event.actor_username) == (employee.id, employee.username)
    assert before <= event.occurred_at <= timezone.now()
    # Every initial value, links by id (the change log, API.md): what was given, and the
    # defaults the record got; nothing empty.
    record.refresh_from_db()
    entity = ENTITIES[entity_type]
    given = {k: (v.pk if hasattr(v, "pk") else v) for k, v in data.items()}
    assert {k: event.changes[k] for k in given} == {k: [None, v] for k, v in given.items()}
    fields = {f.name: f for f in entity.model._meta.concrete_fields}
    assert event.changes == {
        name: [None, json_value(getattr(record, fields[name].attname))]
        for name in entity.value_fields
        if getattr(record, fields[name].attname) not in (None, "")
    }
    assert not {"id", "account", "created_by", "created_at", "updated_at", "bin_entry"} & set(
        event.changes
    )


def json_value(value):
    """A value as the history's JSON keeps it (Decimal and dates as text)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def test_a_purge_keeps_the_records_last_image(account, admin_user):
    company = crm_services.record_create(
        account=account,
        actor=admin_user,
        entity=ENTITIES["company"],
        data={"title": "Initech", "phone": "+1 555 0100", "industry": "Software"},
    )
    crm_services.record_update(record=company, actor=admin_user, data={"title": "Initrode"})
    entry = crm_services.record_delete(record=company, actor=admin_user)

    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)

    (purge,) = events(event_type=EventType.PURGE)
    assert purge.changes == {
        "title": ["Initrode", None],
        "phone": ["+1 555 0100", None],
        "industry": ["Software", None],
    }


def test_create_by_the_system_has_no_actor(account):
    crm_services.record_create(
        account=account, actor=None, entity=ENTITIES["company"], data={"title": "Seeded"}
    )

    (event,) = events(event_type=EventType.CREATE)
    assert (event.actor_id, event.actor_username) == (None, "")


def test_update_records_old_and_new_values_serialized(account, admin_user):
    deal = DealFactory(
        account=account,
        title="Licence",
        amount=Decimal("1000.00"),
        close_date=date(2030, 6, 30),
        linked=True,
    )
    old_company, old_contact = deal.company_id, deal.contact_id
    new_company = CompanyFactory(account=account)

    crm_services.record_update(
        record=deal,
        actor=admin_user,
        data={
            "title": "Licence 2",
            "amount": Decimal("1250.50"),
            "close_date": date(2031, 1, 15),
            "company": new_company,
            "contact": None,
        },
    )

    (event,) = events(event_type=EventType.UPDATE)
    event = stored_event(event)
    assert event.entity_title == "Licence 2"
    assert event.changes == {
        "title": ["Licence", "Licence 2"],
        "amount": ["1000.00", "1250.50"],
        "close_date": ["2030-06-30", "2031-01-15"],
        "company": [old_company, new_company.pk],
        "contact": [old_contact, None],
    }


def test_update_of_a_time_and_a_flag_is_serialized(account, admin_user):
    activity = ActivityFactory(account=account, due_at=None, completed=False)
    due = datetime(2030, 6, 30, 8, 0, tzinfo=UTC)

    crm_services.record_update(
        record=activity, actor=admin_user, data={"due_at": due, "completed": True}
    )

    event = stored_event(events(event_type=EventType.UPDATE)[0])
    assert event.changes["completed"] == [False, True]
    old, new = event.changes["due_at"]
    assert old is None
    assert datetime.fromisoformat(new.replace("Z", "+00:00")) == due


def test_an_update_that_changes_nothing_writes_no_event(account, admin_user):
    lead = LeadFactory(account=account, title="Same")
    count = Event.objects.count()

    crm_services.record_update(record=lead, actor=admin_user, data={"title": "Same"})

    assert Event.objects.count() == count


def test_delete_restore_and_purge_each_write_their_events(account, admin_user):
    company = CompanyFactory(account=account, title="Initech")
    activity = ActivityFactory(account=account, company=company, subject="Call")

    entry = crm_services.record_delete(record=company, actor=admin_user)
    bin_services.bin_restore(account=account, entry_ids=[entry.pk], actor=admin_user)
    entry = crm_services.record_delete(record=Company.objects.get(pk=company.pk), actor=admin_user)
    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)

    trail = [
        (e.event_type, e.entity_type, e.entity_id, e.entity_title) for e in events(account=account)
    ]
    assert trail == [
        ("delete", "company", company.pk, "Initech"),
        ("delete", "activity", activity.pk, "Call"),
        ("restore", "company", company.pk, "Initech"),
        ("restore", "activity", activity.pk, "Call"),
        ("delete", "company", company.pk, "Initech"),
        ("delete", "activity", activity.pk, "Call"),
        ("purge", "activity", activity.pk, "Call"),
        ("purge", "company", company.pk, "Initech"),
    ]


def test_the_delete_event_tells_the_entry_and_what_went_with_it(account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    activity = ActivityFactory(account=account, company=contact.company)

    entry = crm_services.record_delete(record=contact.company, actor=admin_user)

    main = stored_event(events(event_type=EventType.DELETE, entity_type="company")[0])
    assert main.details == {"bin_entry": entry.pk, "item_count": 2, "unlinked": 1}
    child = stored_event(events(event_type=EventType.DELETE, entity_type="activity")[0])
    assert child.entity_id == activity.pk
    assert child.details == {"bin_entry": entry.pk, "with": ["company", contact.company_id]}


def test_an_event_exists_exactly_when_its_change_does(account, admin_user):
    before = bin_state()

    with pytest.raises(RuntimeError), transaction.atomic():
        company = crm_services.record_create(
            account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "X"}
        )
        crm_services.record_update(record=company, actor=admin_user, data={"title": "Y"})
        raise RuntimeError("the request failed later")

    assert bin_state() == before


def test_a_refused_change_writes_no_event(account, admin_user):
    lead = LeadFactory(account=account)
    account.maintenance = True
    account.save()
    lead.account = account
    before = bin_state()

    for change in (
        lambda: crm_services.record_update(record=lead, actor=admin_user, data={"title": "x"}),
        lambda: crm_services.record_delete(record=lead, actor=admin_user),
    ):
        with pytest.raises(Exception, match="restored from a backup"):
            change()

    assert bin_state() == before


# --- Events outlive what they describe ------------------------------------------------------


def test_titles_survive_a_purge(account, admin_user):
    lead = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["lead"], data={"title": "Vanishing"}
    )
    entry = crm_services.record_delete(record=lead, actor=admin_user)
    bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)

    trail = events(entity_type="lead", entity_id=lead.pk)
    assert [e.event_type for e in trail] == ["create", "delete", "purge"]
    assert {e.entity_title for e in trail} == {"Vanishing"}


def test_the_automatic_purge_is_recorded_as_the_system(account, admin_user):
    entry = bin_services.bin_delete(record=LeadFactory(account=account), actor=admin_user)
    entries_expire(entry)

    bin_services.bin_purge_expired()

    (event,) = events(event_type=EventType.PURGE)
    assert (event.actor_id, event.actor_username) == (None, "")
    assert event.account_id == account.id


def test_deleting_a_user_keeps_their_events_as_written(account, employee):
    company = crm_services.record_create(
        account=account, actor=employee, entity=ENTITIES["company"], data={"title": "Mine"}
    )
    crm_services.record_delete(record=company, actor=employee)
    employee_id, username = employee.id, employee.username
    written = [(e.pk, e.actor_id, e.actor_username) for e in events()]

    User.objects.filter(pk=employee_id).delete()

    assert not User.objects.filter(pk=employee_id).exists()
    assert [(e.pk, e.actor_id, e.actor_username) for e in events()] == written
    assert {(e.actor_id, e.actor_username) for e in events()} == {(employee_id, username)}


# --- Append-only ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE history_event SET entity_title = 'x'",
        "UPDATE history_event SET actor_id = NULL, actor_username = ''",
        "DELETE FROM history_event",
        "DELETE FROM history_event WHERE id = (SELECT max(id) FROM history_event)",
    ],
)
def test_the_database_refuses_to_change_or_remove_events(account, admin_user, sql):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Kept"}
    )
    before = list(Event.objects.order_by("pk").values())

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)

    assert list(Event.objects.order_by("pk").values()) == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed events: TRUNCATE sees no pending triggers
@pytest.mark.parametrize("sql", ["TRUNCATE history_event", "TRUNCATE history_event CASCADE"])
def test_the_database_refuses_to_truncate_the_history(account, admin_user, sql):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Kept"}
    )
    before = list(Event.objects.order_by("pk").values())

    with (
        pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # As in production, where nothing allows it (the test database does, to reset).
        cursor.execute("SET LOCAL crm.history_truncate = ''")
        cursor.execute(sql)

    assert list(Event.objects.order_by("pk").values()) == before


@pytest.mark.postgres
def test_the_orm_cannot_change_or_remove_events_either(account, admin_user):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Kept"}
    )
    event = Event.objects.get()
    before = list(Event.objects.values())

    with pytest.raises(DatabaseError), transaction.atomic():
        Event.objects.update(entity_title="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        event.delete()
    event.entity_title = "rewritten"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()

    assert list(Event.objects.values()) == before
    # ... while new events are still written.
    history_record(account=account, actor=admin_user, event_type=EventType.ROLLBACK)
    assert Event.objects.count() == 2


# --- The writing helpers and selectors ------------------------------------------------------


def test_history_event_builds_an_unsaved_event(account, admin_user):
    when = timezone.now() - timedelta(hours=1)

    event = history_event(
        account=account,
        actor=admin_user,
        event_type=EventType.UPDATE,
        entity_type="deal",
        entity_id=7,
        title="x" * 300,
        changes={"stage": ["new", "won"]},
        details={"why": "test"},
        occurred_at=when,
    )

    assert event.pk is None
    assert len(event.entity_title) == 255
    assert event.occurred_at == when
    assert event.actor_username == admin_user.username


def test_history_record_many_writes_them_all(account):
    history_record_many(
        history_event(account=account, actor=None, event_type=EventType.RECOVER, entity_id=i)
        for i in range(3)
    )

    assert sorted(Event.objects.values_list("entity_id", flat=True)) == [0, 1, 2]


def test_history_record_many_writes_odd_values_as_one_at_a_time_would(account, admin_user):
    """Enough events for PostgreSQL's COPY: titles and JSON with tabs, line breaks,
    backslashes, quotes and non-ASCII, empty and missing values, come back exactly as the
    same events saved one by one."""
    odd = ["tab\there", "line\nbreak\r\n", "back\\slash \\N", "quote \" '", "Müller ß 東京", ""]
    when = datetime(2026, 12, 7, 17, 30, 0, 123456, tzinfo=UTC)

    def made(index: int):
        text = odd[index % len(odd)]
        return history_event(
            account=account,
            actor=admin_user if index % 2 else None,
            event_type=EventType.UPDATE,
            entity_type="company" if index % 3 else "",
            entity_id=index if index % 4 else None,
            title=f"{text} {index}",
            changes={"title": [text, f"{text}!"], "amount": [None, "12.50"]},
            details={"note": text, "events": [index], "nested": {"text": text}},
            occurred_at=when,
        )

    columns = ("event_type", "entity_type", "entity_id", "entity_title", "actor_id",
               "actor_username", "changes", "details", "occurred_at", "account_id")  # fmt: skip
    for index in range(300):
        made(index).save()
    history_record_many(made(index) for index in range(300))
    written = list(Event.objects.order_by("id").values_list(*columns))

    assert len(written) == 600
    assert written[300:] == written[:300]


def test_events_for_account_stay_inside_the_account(account, other_account, admin_user):
    record_make("company", account=account)
    crm_services.record_create(
        account=other_account, actor=None, entity=ENTITIES["lead"], data={"title": "Theirs"}
    )
    mine = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["lead"], data={"title": "Mine"}
    )

    assert [e.entity_title for e in selectors.events_for_account(account=account)] == ["Mine"]
    assert [
        e.entity_id
        for e in selectors.events_for_record(account=account, entity_type="lead", entity_id=mine.pk)
    ] == [mine.pk]


def test_deletions_per_day_counts_every_day(account, admin_user):
    for _ in range(3):
        crm_services.record_delete(record=LeadFactory(account=account), actor=admin_user)
    history_record(
        account=account,
        actor=None,
        event_type=EventType.DELETE,
        occurred_at=timezone.now() - timedelta(days=2),
    )

    days = selectors.deletions_per_day(account=account, days=7)

    assert len(days) == 7
    assert [d for d, _ in days] == sorted(d for d, _ in days)
    assert days[-1][1] == 3
    assert sum(count for _, count in days) == 4


def test_deletions_per_day_are_kept_until_the_next_delete(
    account, other_account, admin_user, django_assert_num_queries
):
    """The counts are kept while the account's latest delete stays the same: a second look
    costs one query (the latest delete), and a new delete, of this account only, counts."""
    crm_services.record_delete(record=LeadFactory(account=account), actor=admin_user)
    assert selectors.deletions_per_day(account=account, days=7)[-1][1] == 1

    with django_assert_num_queries(1):
        assert selectors.deletions_per_day(account=account, days=7)[-1][1] == 1
    history_record(account=other_account, actor=None, event_type=EventType.DELETE)
    assert selectors.deletions_per_day(account=account, days=7)[-1][1] == 1
    assert selectors.deletions_per_day(account=other_account, days=7)[-1][1] == 1
    crm_services.record_delete(record=LeadFactory(account=account), actor=admin_user)

    assert selectors.deletions_per_day(account=account, days=7)[-1][1] == 2
    assert selectors.deletions_per_day(account=account, days=3)[-1][1] == 2


def test_links_cleared_by_a_delete_and_put_back_by_a_restore_show_on_the_linked_records(
    account, admin_user
):
    company = CompanyFactory(account=account, title="Initech")
    peter = ContactFactory(account=account, first_name="Peter", last_name="G", company=company)
    moved = ContactFactory(account=account, first_name="Milton", last_name="W", company=company)
    elsewhere = CompanyFactory(account=account, title="Initrode")

    entry = crm_services.record_delete(record=company, actor=admin_user)

    cleared = events(event_type=EventType.UPDATE)
    assert sorted((e.entity_type, e.entity_id, e.entity_title) for e in cleared) == sorted(
        [("contact", peter.pk, "Peter G"), ("contact", moved.pk, "Milton W")]
    )
    assert all(e.changes == {"company": [company.pk, None]} for e in cleared)
    assert all(e.actor_id == admin_user.pk for e in cleared)
    assert cleared[0].details["cause"] == {
        "event": "delete",
        "entity_type": "company",
        "id": company.pk,
    }

    # Milton is linked elsewhere meanwhile: his link is not put back, and nothing is said.
    moved.refresh_from_db()
    crm_services.record_update(record=moved, actor=admin_user, data={"company": elsewhere})
    since = Event.objects.order_by("-pk").first().pk
    bin_services.bin_restore(account=account, entry_ids=[entry.pk], actor=admin_user)

    put_back = list(Event.objects.filter(pk__gt=since, event_type=EventType.UPDATE).order_by("pk"))
    assert [(e.entity_type, e.entity_id, e.changes) for e in put_back] == [
        ("contact", peter.pk, {"company": [None, company.pk]})
    ]
    assert put_back[0].details["cause"] == {"event": "restore"}
    trail = Event.objects.filter(entity_type="contact", entity_id=peter.pk).order_by("pk")
    assert [e.event_type for e in trail] == ["update", "update"]  # its create was a factory's


def test_a_record_restored_while_its_link_is_in_the_bin_shows_the_link_cleared(account, admin_user):
    company = CompanyFactory(account=account, title="Initech")
    peter = ContactFactory(account=account, first_name="Peter", last_name="G", company=company)
    contact_entry = crm_services.record_delete(record=peter, actor=admin_user)
    crm_services.record_delete(record=company, actor=admin_user)
    since = Event.objects.order_by("-pk").first().pk

    bin_services.bin_restore(account=account, entry_ids=[contact_entry.pk], actor=admin_user)

    trail = Event.objects.filter(pk__gt=since, entity_type="contact", entity_id=peter.pk)
    assert [(e.event_type, e.changes) for e in trail.order_by("pk")] == [
        ("restore", {}),
        ("update", {"company": [company.pk, None]}),
    ]

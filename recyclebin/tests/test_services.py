"""recyclebin.services: delete into the bin, restore, purge, empty, the automatic purge, and
their rules (visibility, plan, admins only, maintenance). Every refused call changes nothing."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from backups.integrity import integrity_breaches
from config.celery import app as celery_app
from config.schedule import BEAT_SCHEDULE
from core.errors import RuleViolation
from crm import services as crm_services
from crm.models import Activity, Company, Contact, Deal, Lead
from crm.tests.factories import (
    ENTITY_TYPES,
    MODELS,
    TITLE_FIELDS,
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    record_make,
)
from history.models import Event, EventType
from recyclebin import services, tasks
from recyclebin.models import BinEntry, HiddenLink
from recyclebin.tests.factories import bin_state, entries_expire, entry_make, live, stored

pytestmark = pytest.mark.django_db


@contextmanager
def not_found() -> Iterator[pytest.ExceptionInfo[RuleViolation]]:
    """What an entry that is missing, or not the caller's to see, answers: "not found" (the
    same 404 as a missing id, in the API and on pages)."""
    with pytest.raises(RuleViolation) as refused:
        yield refused
    assert refused.value.code == "not_found"


def restore(entries, *, actor, together=False):
    return services.bin_restore(
        account=actor.account,
        entry_ids=[e.pk for e in entries],
        actor=actor,
        together=together,
    )


def purge(entries, *, actor):
    return services.bin_purge(account=actor.account, entry_ids=[e.pk for e in entries], actor=actor)


@pytest.fixture
def in_maintenance(account):
    account.maintenance = True
    account.save()
    return account


# --- Delete ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_delete_makes_one_entry_with_type_title_who_and_when(
    account, employee, settings, entity_type
):
    settings.BIN_RETENTION_DAYS = 9
    record = record_make(entity_type, account=account)
    before = timezone.now()

    entry = services.bin_delete(record=record, actor=employee)

    entry = BinEntry.objects.get(pk=entry.pk)
    assert entry.account_id == account.id
    assert (entry.entity_type, entry.entity_id) == (entity_type, record.pk)
    assert entry.title == record.title_text
    assert entry.deleted_by_id == employee.id
    assert before <= entry.deleted_at <= timezone.now()
    assert entry.purge_after == entry.deleted_at + timedelta(days=9)
    assert entry.item_count == 1
    assert stored(record).bin_entry_id == entry.pk


@pytest.mark.parametrize("entity_type", ["company", "contact", "lead", "deal"])
def test_delete_takes_the_records_activities_into_the_same_entry(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    own = ActivityFactory.create_batch(3, account=account, **{"company": None, entity_type: record})
    other = ActivityFactory(account=account)

    entry = services.bin_delete(record=record, actor=admin_user)

    assert BinEntry.objects.get(pk=entry.pk).item_count == 4
    assert BinEntry.objects.count() == 1
    for item in (record, *own):
        assert stored(item).bin_entry_id == entry.pk  # same row, same id, marked
        assert not live(item)
    assert live(other)


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_deleted_records_are_hidden_from_every_account_read(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    kept = record_make(entity_type, account=account)

    services.bin_delete(record=record, actor=admin_user)

    model = MODELS[entity_type]
    assert list(model.objects.for_account(account)) == [kept]
    assert model.objects.filter(pk=record.pk).exists()  # still there, in the bin


def test_delete_writes_a_delete_event_per_item(account, admin_user):
    company = CompanyFactory(account=account, title="Initech")
    activities = ActivityFactory.create_batch(2, account=account, company=company)

    entry = services.bin_delete(record=company, actor=admin_user)

    events = Event.objects.filter(event_type=EventType.DELETE)
    assert {(e.entity_type, e.entity_id) for e in events} == {
        ("company", company.pk),
        *(("activity", a.pk) for a in activities),
    }
    assert {e.occurred_at for e in events} == {entry.deleted_at}
    assert {e.actor_id for e in events} == {admin_user.id}
    assert all(e.details["bin_entry"] == entry.pk for e in events)
    main = events.get(entity_type="company")
    assert main.entity_title == "Initech"
    assert main.details["item_count"] == 3


def test_delete_and_its_events_roll_back_together(account, admin_user):
    company = CompanyFactory(account=account)
    ActivityFactory(account=account, company=company)
    ContactFactory(account=account, company=company)
    before = bin_state()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.bin_delete(record=company, actor=admin_user)
        assert BinEntry.objects.exists() and Event.objects.exists()
        raise RuntimeError("the caller failed after the delete")

    assert bin_state() == before


def test_deleting_a_record_twice_finds_it_gone(account, admin_user):
    company = CompanyFactory(account=account)
    services.bin_delete(record=company, actor=admin_user)
    before = bin_state()

    with not_found():
        services.bin_delete(record=company, actor=admin_user)  # a stale copy

    assert bin_state() == before


def test_an_activity_deleted_alone_is_its_own_entry(account, admin_user):
    activity = ActivityFactory(account=account)

    entry = services.bin_delete(record=activity, actor=admin_user)

    assert (entry.entity_type, entry.entity_id, entry.item_count) == ("activity", activity.pk, 1)
    assert live(activity.company)


def test_activities_already_in_the_bin_stay_in_their_own_entry(account, admin_user):
    company = CompanyFactory(account=account)
    alone = entry_make("activity", account=account, actor=admin_user, company=company)

    entry = services.bin_delete(record=company, actor=admin_user)

    assert entry.item_count == 1
    assert stored(Activity.objects.get(pk=alone.entity_id)).bin_entry_id == alone.pk


# --- Links ----------------------------------------------------------------------------------


def test_deleting_a_company_clears_and_remembers_its_contacts_and_deals_links(account, admin_user):
    deal = DealFactory(account=account, linked=True)
    company, contact = deal.company, deal.contact
    other_deal = DealFactory(account=account, linked=True)

    entry = services.bin_delete(record=company, actor=admin_user)

    assert live(contact) and live(deal)
    assert stored(contact).company_id is None
    assert (stored(deal).company_id, stored(deal).contact_id) == (None, contact.pk)
    assert set(
        HiddenLink.objects.filter(entry=entry).values_list("entity_type", "record_id", "field")
    ) == {("contact", contact.pk, "company"), ("deal", deal.pk, "company")}
    assert stored(other_deal).company_id == other_deal.company_id  # other links untouched
    event = Event.objects.get(event_type=EventType.DELETE, entity_type="company")
    assert event.details["unlinked"] == 2


def test_restore_brings_the_links_back(account, admin_user):
    deal = DealFactory(account=account, linked=True)
    company, contact = deal.company, deal.contact
    entry = services.bin_delete(record=company, actor=admin_user)

    result = restore([entry], actor=admin_user)

    assert result.restored == [("company", company.pk)]
    assert result.linked_in_bin == []
    assert live(company)
    assert stored(contact).company_id == company.pk
    assert stored(deal).company_id == company.pk
    assert not HiddenLink.objects.exists()
    assert not BinEntry.objects.exists()


def test_a_link_made_meanwhile_wins_over_the_remembered_one(account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    company = contact.company
    untouched = ContactFactory(account=account, company=company)
    entry = services.bin_delete(record=company, actor=admin_user)
    newer = CompanyFactory(account=account)
    crm_services.record_update(record=stored(contact), actor=admin_user, data={"company": newer})

    restore([entry], actor=admin_user)

    assert stored(contact).company_id == newer.pk
    assert stored(untouched).company_id == company.pk


def test_a_record_hidden_from_two_entries_restored_together_gets_the_newer_link(
    account, admin_user
):
    contact = ContactFactory(account=account, with_company=True)
    first = services.bin_delete(record=contact.company, actor=admin_user)
    newer = CompanyFactory(account=account)
    crm_services.record_update(record=stored(contact), actor=admin_user, data={"company": newer})
    second = services.bin_delete(record=newer, actor=admin_user)

    restore([second, first], actor=admin_user)

    assert stored(contact).company_id == newer.pk


def test_deleting_a_contact_clears_the_deals_contact_only(account, admin_user):
    deal = DealFactory(account=account, linked=True)

    entry = services.bin_delete(record=deal.contact, actor=admin_user)

    assert (stored(deal).contact_id, stored(deal).company_id) == (None, deal.company_id)
    restore([entry], actor=admin_user)
    assert stored(deal).contact_id == deal.contact_id


def test_purge_clears_the_links_for_good(account, admin_user):
    deal = DealFactory(account=account, linked=True)
    company = deal.company
    entry = services.bin_delete(record=company, actor=admin_user)

    assert purge([entry], actor=admin_user) == 1

    assert not Company.objects.filter(pk=company.pk).exists()
    assert stored(deal.contact).company_id is None
    assert stored(deal).company_id is None
    assert not HiddenLink.objects.exists()
    assert not BinEntry.objects.exists()


def test_purging_a_record_forgets_the_links_other_entries_hide_on_it(account, admin_user):
    """The deal's link to its company is hidden in the company's entry; the deal is then
    deleted and purged: the company's entry no longer names it (check_integrity's rule)."""
    deal = DealFactory(account=account, linked=True)
    company_entry = services.bin_delete(record=deal.company, actor=admin_user)
    assert HiddenLink.objects.filter(entry=company_entry, record_id=deal.pk).exists()
    entry = services.bin_delete(record=stored(deal), actor=admin_user)

    assert purge([entry], actor=admin_user) == 1

    assert not HiddenLink.objects.filter(entity_type="deal", record_id=deal.pk).exists()
    assert HiddenLink.objects.filter(entry=company_entry).exists()  # the contact's stays
    assert integrity_breaches(account=account) == []


def test_ids_stay_the_same_through_delete_and_restore(account, admin_user):
    company = CompanyFactory(account=account)
    activities = ActivityFactory.create_batch(2, account=account, company=company)
    entry = services.bin_delete(record=company, actor=admin_user)

    result = restore([entry], actor=admin_user)

    assert sorted(result.restored) == sorted(
        [("company", company.pk), *(("activity", a.pk) for a in activities)]
    )
    assert list(Company.objects.for_account(account)) == [company]
    assert sorted(Activity.objects.for_account(account).values_list("pk", flat=True)) == sorted(
        a.pk for a in activities
    )
    assert stored(company).title == company.title


def test_restoring_a_contact_whose_company_is_in_the_bin_reports_it(account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    company = contact.company
    contact_entry = services.bin_delete(record=contact, actor=admin_user)
    company_entry = services.bin_delete(record=company, actor=admin_user)

    result = restore([contact_entry], actor=admin_user)

    assert result.restored == [("contact", contact.pk)]
    assert result.linked_in_bin == [company_entry.pk]
    assert live(contact) and not live(company)
    assert stored(contact).company_id is None  # a live record never links into the bin
    # ... and the link comes back with the company.
    restore([company_entry], actor=admin_user)
    assert stored(contact).company_id == company.pk


def test_restoring_a_contact_hidden_from_a_company_still_in_the_bin(account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    company = contact.company
    company_entry = services.bin_delete(record=company, actor=admin_user)
    contact_entry = services.bin_delete(record=stored(contact), actor=admin_user)

    result = restore([contact_entry], actor=admin_user)

    assert result.linked_in_bin == [company_entry.pk]
    assert stored(contact).company_id is None
    restore([company_entry], actor=admin_user)
    assert stored(contact).company_id == company.pk


def test_restore_together_brings_the_linked_entries_back_too(account, admin_user):
    deal = DealFactory(account=account, linked=True)
    contact, company = deal.contact, deal.company
    company_entry = services.bin_delete(record=company, actor=admin_user)
    contact_entry = services.bin_delete(record=stored(contact), actor=admin_user)
    deal_entry = services.bin_delete(record=stored(deal), actor=admin_user)

    result = restore([deal_entry], actor=admin_user, together=True)

    assert sorted(result.restored) == sorted(
        [("deal", deal.pk), ("contact", contact.pk), ("company", company.pk)]
    )
    assert result.linked_in_bin == []
    assert result.entries == sorted([company_entry.pk, contact_entry.pk, deal_entry.pk])
    assert not BinEntry.objects.exists()
    assert (stored(deal).company_id, stored(deal).contact_id) == (company.pk, contact.pk)
    assert stored(contact).company_id == company.pk


def test_an_activity_cannot_come_back_without_its_parent(account, admin_user):
    lead = LeadFactory(account=account)
    activity = ActivityFactory(account=account, company=None, lead=lead)
    activity_entry = services.bin_delete(record=activity, actor=admin_user)
    lead_entry = services.bin_delete(record=lead, actor=admin_user)
    before = bin_state()

    with pytest.raises(RuleViolation) as refused:
        restore([activity_entry], actor=admin_user)

    assert refused.value.code == "parent_in_bin"
    assert refused.value.status == 409
    assert activity.subject in refused.value.message and lead.title in refused.value.message
    assert bin_state() == before

    result = restore([activity_entry], actor=admin_user, together=True)
    assert sorted(result.entries) == sorted([activity_entry.pk, lead_entry.pk])
    assert live(activity) and live(lead)
    assert stored(activity).lead_id == lead.pk


def test_purging_a_company_purges_activities_deleted_alone_earlier(account, admin_user):
    company = CompanyFactory(account=account)
    alone = entry_make("activity", account=account, actor=admin_user, company=company)
    with_it = ActivityFactory(account=account, company=company)
    company_entry = services.bin_delete(record=company, actor=admin_user)
    unrelated = entry_make("activity", account=account, actor=admin_user)

    assert purge([company_entry], actor=admin_user) == 2

    assert set(BinEntry.objects.values_list("pk", flat=True)) == {unrelated.pk}
    assert not Activity.objects.filter(pk__in=[alone.entity_id, with_it.pk]).exists()
    assert not Company.objects.filter(pk=company.pk).exists()
    purged = Event.objects.filter(event_type=EventType.PURGE)
    assert set(purged.values_list("entity_type", "entity_id")) == {
        ("company", company.pk),
        ("activity", alone.entity_id),
        ("activity", with_it.pk),
    }


def test_purge_writes_a_purge_event_per_item_with_the_title(account, admin_user):
    deal = DealFactory(account=account, title="Big deal")
    activity = ActivityFactory(account=account, company=None, deal=deal, subject="Kick-off")
    entry = services.bin_delete(record=deal, actor=admin_user)

    purge([entry], actor=admin_user)

    events = {
        (e.entity_type, e.entity_id): e for e in Event.objects.filter(event_type=EventType.PURGE)
    }
    assert events[("deal", deal.pk)].entity_title == "Big deal"
    assert events[("activity", activity.pk)].entity_title == "Kick-off"
    assert {e.actor_id for e in events.values()} == {admin_user.pk}
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_restore_writes_a_restore_event_per_item(account, employee):
    contact = ContactFactory(account=account, first_name="Ann", last_name="Lee")
    activity = ActivityFactory(account=account, company=None, contact=contact, subject="Call")
    entry = services.bin_delete(record=contact, actor=employee)

    restore([entry], actor=employee)

    events = Event.objects.filter(event_type=EventType.RESTORE)
    assert set(events.values_list("entity_type", "entity_id", "entity_title")) == {
        ("contact", contact.pk, "Ann Lee"),
        ("activity", activity.pk, "Call"),
    }
    assert {e.actor_id for e in events} == {employee.pk}
    assert all(e.details["bin_entries"] == [entry.pk] for e in events)


# --- Who may do what ------------------------------------------------------------------------


def test_employees_restore_their_own_entries(account, employee):
    entry = entry_make("lead", account=account, actor=employee)

    result = restore([entry], actor=employee)

    assert result.entries == [entry.pk]


def test_employees_cannot_restore_someone_elses_entries(account, admin_user, employee):
    own = entry_make("lead", account=account, actor=employee)
    theirs = entry_make("lead", account=account, actor=admin_user)
    before = bin_state()

    with not_found() as missing:
        restore([own, theirs], actor=employee)

    assert str(theirs.pk) in str(missing.value)
    assert bin_state() == before


def test_employees_cannot_pull_someone_elses_entry_in_together(account, admin_user, employee):
    contact = ContactFactory(account=account, with_company=True)
    contact_entry = services.bin_delete(record=contact, actor=employee)
    services.bin_delete(record=contact.company, actor=admin_user)
    before = bin_state()

    with not_found():
        restore([contact_entry], actor=employee, together=True)

    assert bin_state() == before


def test_admins_restore_anyones_entries(account, admin_user, employee):
    entry = entry_make("lead", account=account, actor=employee)

    assert restore([entry], actor=admin_user).entries == [entry.pk]


def test_another_accounts_entries_are_not_found(account, other_account, admin_user, other_admin):
    theirs = entry_make("company", account=other_account, actor=other_admin)
    before = bin_state()

    with not_found():
        restore([theirs], actor=admin_user)
    with not_found():
        purge([theirs], actor=admin_user)

    assert bin_state() == before


@pytest.mark.parametrize(
    ("plan", "allowed"),
    [("free", False), ("basic", True), ("standard", True), ("professional", True)],
)
def test_restoring_needs_a_paid_plan(account, admin_user, plan, allowed):
    entry = entry_make("company", account=account, actor=admin_user)
    account.plan = plan
    account.save()
    before = bin_state()

    if allowed:
        assert restore([entry], actor=admin_user).entries == [entry.pk]
        return
    with pytest.raises(RuleViolation) as refused:
        restore([entry], actor=admin_user)
    assert (refused.value.code, refused.value.status) == ("plan_not_eligible", 403)
    assert bin_state() == before


def test_free_plans_may_purge_and_empty(account, admin_user):
    account.plan = "free"
    account.save()
    entries = [entry_make("lead", account=account, actor=admin_user) for _ in range(3)]

    assert purge(entries[:1], actor=admin_user) == 1
    assert services.bin_empty(account=account, actor=admin_user) == 2
    assert not BinEntry.objects.exists()


def test_employees_cannot_purge_or_empty(account, employee):
    entry = entry_make("lead", account=account, actor=employee)
    before = bin_state()

    for call in (
        lambda: purge([entry], actor=employee),
        lambda: services.bin_empty(account=account, actor=employee),
    ):
        with pytest.raises(RuleViolation) as refused:
            call()
        assert (refused.value.code, refused.value.status) == ("admin_only", 403)

    assert bin_state() == before


def test_empty_purges_only_the_callers_account(account, other_account, admin_user, other_admin):
    mine = [entry_make(t, account=account, actor=admin_user) for t in ENTITY_TYPES]
    theirs = entry_make("company", account=other_account, actor=other_admin, activities=2)

    assert services.bin_empty(account=account, actor=admin_user) == len(mine)

    assert list(BinEntry.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert Activity.objects.filter(bin_entry=theirs).count() == 2


def test_empty_with_an_empty_bin_purges_nothing(account, admin_user):
    assert services.bin_empty(account=account, actor=admin_user) == 0


def test_maintenance_refuses_every_bin_change(account, admin_user):
    company = CompanyFactory(account=account)
    entry = entry_make("lead", account=account, actor=admin_user)
    account.maintenance = True
    account.save()
    company.account = account
    before = bin_state()

    for call in (
        lambda: services.bin_delete(record=company, actor=admin_user),
        lambda: restore([entry], actor=admin_user),
        lambda: purge([entry], actor=admin_user),
        lambda: services.bin_empty(account=account, actor=admin_user),
    ):
        with pytest.raises(RuleViolation) as refused:
            call()
        assert refused.value.code == "maintenance"
        assert refused.value.headers == {"Retry-After": "60"}

    assert bin_state() == before


def test_maintenance_refuses_emptying_an_empty_bin_too(in_maintenance, admin_user):
    with pytest.raises(RuleViolation) as refused:
        services.bin_empty(account=in_maintenance, actor=admin_user)

    assert refused.value.code == "maintenance"


# --- The automatic purge --------------------------------------------------------------------


def test_purge_expired_purges_only_entries_past_their_date(account, other_account, admin_user):
    expired = entry_make("company", account=account, actor=admin_user, activities=2)
    expired_elsewhere = entry_make("deal", account=other_account, actor=None)
    fresh = entry_make("company", account=account, actor=admin_user)
    entries_expire(expired, expired_elsewhere)
    BinEntry.objects.filter(pk=fresh.pk).update(purge_after=timezone.now() + timedelta(minutes=1))

    assert services.bin_purge_expired() == 2

    assert list(BinEntry.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not Company.objects.filter(pk=expired.entity_id).exists()
    assert not Deal.objects.filter(pk=expired_elsewhere.entity_id).exists()
    assert not Activity.objects.exists()
    events = Event.objects.filter(event_type=EventType.PURGE)
    assert events.count() == 4
    assert set(events.values_list("actor_id", "actor_username")) == {(None, "")}
    assert set(events.values_list("account_id", flat=True)) == {account.pk, other_account.pk}


def test_purge_expired_skips_accounts_in_maintenance(account, other_account, admin_user):
    waiting = entry_make("lead", account=account, actor=admin_user)
    elsewhere = entry_make("lead", account=other_account, actor=None)
    entries_expire(waiting, elsewhere)
    account.maintenance = True
    account.save()

    assert services.bin_purge_expired() == 1

    assert list(BinEntry.objects.values_list("pk", flat=True)) == [waiting.pk]
    account.maintenance = False
    account.save()
    assert services.bin_purge_expired() == 1
    assert not BinEntry.objects.exists()


def test_purge_expired_is_safe_to_run_twice(account, admin_user):
    entry = entry_make("contact", account=account, actor=admin_user, activities=1)
    entries_expire(entry)

    assert services.bin_purge_expired() == 1
    after_first = bin_state()
    assert services.bin_purge_expired() == 0
    assert bin_state() == after_first
    assert Event.objects.filter(event_type=EventType.PURGE).count() == 2


def test_purge_expired_works_in_batches(account, admin_user):
    entries = [entry_make("lead", account=account, actor=admin_user) for _ in range(5)]
    entries_expire(*entries)

    assert services.bin_purge_expired(batch_size=2) == 5

    assert not BinEntry.objects.exists()
    assert not Lead.objects.exists()


def test_purge_expired_task_calls_the_service(account, admin_user):
    entry = entry_make("lead", account=account, actor=admin_user)
    entries_expire(entry)

    assert tasks.bin_purge_expired.apply().get() == 1
    assert not BinEntry.objects.exists()


def test_purge_expired_task_is_on_the_beat_schedule():
    scheduled = {job["task"]: job for job in BEAT_SCHEDULE.values()}

    assert tasks.bin_purge_expired.name == "recyclebin.tasks.bin_purge_expired"
    assert tasks.bin_purge_expired.name in scheduled
    assert tasks.bin_purge_expired.name in celery_app.tasks
    assert tasks.bin_purge_expired.name in {
        job["task"] for job in celery_app.conf.beat_schedule.values()
    }


# --- Set-based: many entries cost what a few do ---------------------------------------------


def _many_entries(account, actor, count: int) -> list[BinEntry]:
    """``count`` entries of every kind: companies with a contact (a hidden link) and an
    activity, contacts of a live company, leads with an activity, lone activities."""
    entries = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            company = CompanyFactory(account=account)
            ContactFactory(account=account, company=company)
            ActivityFactory(account=account, company=company)
            entries.append(services.bin_delete(record=company, actor=actor))
        elif kind == 1:
            entries.append(entry_make("contact", account=account, actor=actor, with_company=True))
        elif kind == 2:
            entries.append(entry_make("lead", account=account, actor=actor, activities=1))
        else:
            entries.append(entry_make("activity", account=account, actor=actor))
    return entries


@pytest.mark.parametrize("count", [4, 300])
def test_bulk_restore_uses_a_bounded_number_of_queries(
    account, admin_user, django_assert_max_num_queries, count
):
    entries = _many_entries(account, admin_user, count)

    # 40, the maintenance flag read again, one lock per linked type (the restored records'
    # link targets: company, contact, lead, deal; tests/test_collisions.py), and the links
    # put back on live records: their rows locked and read, named, their events written
    # (the change log). None of it grows with the entries.
    with django_assert_max_num_queries(48):
        result = restore(entries, actor=admin_user)

    assert len(result.entries) == count
    assert not BinEntry.objects.exists()
    assert Event.objects.filter(event_type=EventType.RESTORE).count() == len(result.restored)


@pytest.mark.parametrize("count", [4, 300])
def test_bulk_purge_uses_a_bounded_number_of_queries(
    account, admin_user, django_assert_max_num_queries, count
):
    entries = _many_entries(account, admin_user, count)
    items = sum(e.item_count for e in entries)

    # 40, the maintenance flag read again, the last images of the purged records, one read
    # per record type, and the links the purge empties on records that stay, one read per
    # kind of link (the change log).
    with django_assert_max_num_queries(50):
        assert purge(entries, actor=admin_user) == count

    assert not BinEntry.objects.exists()
    assert Event.objects.filter(event_type=EventType.PURGE).count() == items


def test_bulk_restore_is_all_or_nothing(account, admin_user):
    entries = [entry_make("lead", account=account, actor=admin_user) for _ in range(3)]
    missing = entries[-1].pk + 1000
    before = bin_state()

    with not_found() as refused:
        services.bin_restore(
            account=account,
            entry_ids=[e.pk for e in entries] + [missing],
            actor=admin_user,
        )

    assert str(missing) in str(refused.value)
    assert bin_state() == before


def test_a_deleted_user_leaves_entries_without_deleted_by(account, employee):
    entry = entry_make("lead", account=account, actor=employee)
    User.objects.filter(pk=employee.pk).delete()

    assert BinEntry.objects.get(pk=entry.pk).deleted_by is None
    assert Lead.objects.get(pk=entry.entity_id).bin_entry_id == entry.pk


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_a_record_restored_can_be_deleted_again(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    first = services.bin_delete(record=record, actor=admin_user)
    restore([first], actor=admin_user)

    second = services.bin_delete(record=stored(record), actor=admin_user)

    assert second.pk != first.pk
    assert stored(record).bin_entry_id == second.pk
    assert getattr(stored(record), TITLE_FIELDS[entity_type]) == getattr(
        record, TITLE_FIELDS[entity_type]
    )


def test_a_purge_writes_the_links_it_empties_on_records_in_the_bin(account, admin_user):
    company = CompanyFactory(account=account)
    contact = ContactFactory(account=account, company=company)
    services.bin_delete(record=contact, actor=admin_user)  # in the bin, still linked
    entry = services.bin_delete(record=company, actor=admin_user)
    services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)

    assert Contact.objects.get(pk=contact.pk).company_id is None
    (event,) = Event.objects.filter(event_type=EventType.UPDATE, entity_id=contact.pk)
    assert event.changes == {"company": [company.pk, None]}
    assert event.details["cause"] == {"event": "purge", "entity_type": "company", "id": company.pk}


def test_the_links_events_name_only_the_entry_they_are_owed_to(account, admin_user):
    """A bulk restore or purge of many entries writes each link's event with the one entry
    that caused it (not every entry of the call: a thousand ids in each of a thousand events)."""
    companies = [CompanyFactory(account=account) for _ in range(3)]
    contacts = [ContactFactory(account=account, company=company) for company in companies]
    entries = [services.bin_delete(record=company, actor=admin_user) for company in companies]
    # One more entry without links beside them, restored in the same call.
    lone = services.bin_delete(record=LeadFactory(account=account), actor=admin_user)

    restore([*entries, lone], actor=admin_user)

    put_back = Event.objects.filter(
        event_type=EventType.UPDATE, details__cause__event=EventType.RESTORE
    )
    assert {(e.entity_id, tuple(e.details["bin_entries"])) for e in put_back} == {
        (contact.pk, (entry.pk,)) for contact, entry in zip(contacts, entries, strict=True)
    }

    # Into the bin with their contacts (links hidden in the bin), then purged together.
    for contact in contacts:
        services.bin_delete(record=stored(contact), actor=admin_user)
    entries = [
        services.bin_delete(record=stored(company), actor=admin_user) for company in companies
    ]
    services.bin_purge(account=account, entry_ids=[e.pk for e in entries], actor=admin_user)

    emptied = Event.objects.filter(event_type=EventType.UPDATE, details__cause__event="purge")
    assert {(e.entity_id, tuple(e.details["bin_entries"])) for e in emptied} == {
        (contact.pk, (entry.pk,)) for contact, entry in zip(contacts, entries, strict=True)
    }

    # A restored contact whose company stays in the bin: its link cleared, owed to its entry.
    contact = ContactFactory(account=account, company=CompanyFactory(account=account))
    held = services.bin_delete(record=contact, actor=admin_user)
    services.bin_delete(record=stored(contact).company, actor=admin_user)
    restore([held], actor=admin_user)

    (cleared,) = Event.objects.filter(
        event_type=EventType.UPDATE, entity_id=contact.pk, details__cause__event="restore"
    )
    assert cleared.changes == {"company": [contact.company_id, None]}
    assert cleared.details["bin_entries"] == [held.pk]

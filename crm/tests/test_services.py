"""crm.services: every change of a CRM record, with its rules (tenancy of links, maintenance)."""

from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from core.errors import RuleViolation
from crm import selectors, services
from crm.entities import ENTITIES
from crm.models import Activity, Company, Contact, Deal, Lead
from crm.tests.factories import (
    ENTITY_TYPES,
    LINK_FIELDS,
    MODELS,
    TITLE_FIELDS,
    ActivityFactory,
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    record_make,
    row_counts,
    row_snapshot,
)
from recyclebin.models import BinEntry
from recyclebin.services import bin_restore

pytestmark = pytest.mark.django_db


def valid_data(entity_type: str, account) -> dict:
    """Model-level data for record_create (links as objects)."""
    return {
        "company": lambda: {"title": "Initech", "email": "office@initech.example"},
        "contact": lambda: {"first_name": "Peter", "company": CompanyFactory(account=account)},
        "lead": lambda: {"title": "Relaunch", "amount": Decimal("12.50")},
        "deal": lambda: {
            "title": "Licence",
            "company": CompanyFactory(account=account),
            "contact": ContactFactory(account=account),
        },
        "activity": lambda: {
            "subject": "Call",
            "type": "call",
            "lead": LeadFactory(account=account),
        },
    }[entity_type]()


# --- record_create --------------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_record_create_sets_account_and_created_by(account, admin_user, entity_type):
    data = valid_data(entity_type, account)

    record = services.record_create(
        account=account, actor=admin_user, entity=ENTITIES[entity_type], data=data
    )

    stored = MODELS[entity_type].objects.get(pk=record.pk)
    assert stored.account_id == account.id
    assert stored.created_by_id == admin_user.id
    for field, value in data.items():
        assert getattr(stored, field) == value


def test_record_create_without_actor_leaves_created_by_empty(account):
    company = services.record_create(
        account=account, actor=None, entity=ENTITIES["company"], data={"title": "Seeded"}
    )

    assert Company.objects.get(pk=company.pk).created_by is None


@pytest.mark.parametrize(("entity_type", "field"), LINK_FIELDS)
def test_record_create_refuses_a_link_to_another_account(
    account, other_account, admin_user, entity_type, field
):
    data = valid_data(entity_type, account)
    if entity_type == "activity":
        data.pop("lead")
    data[field] = record_make(field, account=other_account)
    before = row_counts()

    with pytest.raises(ValidationError) as refused:
        services.record_create(
            account=account, actor=admin_user, entity=ENTITIES[entity_type], data=data
        )

    assert field in refused.value.message_dict
    assert row_counts() == before


@pytest.mark.parametrize(
    ("entity_type", "data", "field"),
    [
        ("company", {"title": ""}, "title"),
        ("company", {"title": "x", "email": "not-an-email"}, "email"),
        ("lead", {"title": "x", "amount": Decimal("-1")}, "amount"),
        ("lead", {"title": "x", "status": "done"}, "status"),
        ("deal", {"title": "x", "currency": "eur"}, "currency"),
        ("activity", {"subject": "x", "type": "visit"}, "type"),
    ],
)
def test_record_create_validates_the_model(account, admin_user, entity_type, data, field):
    if entity_type == "activity":
        data = {**data, "lead": LeadFactory(account=account)}
    before = row_counts()

    with pytest.raises(ValidationError) as refused:
        services.record_create(
            account=account, actor=admin_user, entity=ENTITIES[entity_type], data=data
        )

    assert field in refused.value.message_dict
    assert row_counts() == before


@pytest.mark.parametrize("parents", [(), ("lead", "deal"), ("lead", "deal", "contact", "company")])
def test_record_create_needs_exactly_one_activity_parent(account, admin_user, parents):
    data = {"subject": "Call", "type": "call"}
    data.update({parent: record_make(parent, account=account) for parent in parents})
    before = row_counts()

    with pytest.raises(ValidationError):
        services.record_create(
            account=account, actor=admin_user, entity=ENTITIES["activity"], data=data
        )

    assert row_counts() == before


# --- record_update --------------------------------------------------------------------------


def test_record_update_returns_only_changed_fields(account, admin_user):
    deal = DealFactory(account=account, linked=True, stage="new", amount=Decimal("10.00"))
    old_company = deal.company_id
    new_company = CompanyFactory(account=account)

    changes = services.record_update(
        record=deal,
        actor=admin_user,
        data={
            "title": deal.title,
            "stage": "won",
            "amount": Decimal("10.00"),
            "company": new_company,
        },
    )

    assert changes == {"stage": ["new", "won"], "company": [old_company, new_company.id]}
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.stage, stored.company_id) == ("won", new_company.id)


def test_record_update_reports_clearing_a_link(account, admin_user):
    contact = ContactFactory(account=account, with_company=True)
    company_id = contact.company_id

    changes = services.record_update(record=contact, actor=admin_user, data={"company": None})

    assert changes == {"company": [company_id, None]}
    assert Contact.objects.get(pk=contact.pk).company_id is None


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_record_update_without_changes_saves_nothing(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    field = TITLE_FIELDS[entity_type]
    before = row_snapshot(record)

    with mock.patch.object(type(record), "save") as save:
        changes = services.record_update(
            record=record, actor=admin_user, data={field: getattr(record, field)}
        )

    assert changes == {}
    save.assert_not_called()
    assert row_snapshot(record) == before


def test_record_update_with_empty_data_changes_nothing(account, admin_user):
    lead = LeadFactory(account=account)
    before = row_snapshot(lead)

    assert services.record_update(record=lead, actor=admin_user, data={}) == {}
    assert row_snapshot(lead) == before


@pytest.mark.parametrize(("entity_type", "field"), LINK_FIELDS)
def test_record_update_refuses_a_link_to_another_account(
    account, other_account, admin_user, entity_type, field
):
    record = record_make(entity_type, account=account)
    data = {field: record_make(field, account=other_account)}
    if entity_type == "activity":
        data.update({p: None for p in ("lead", "deal", "contact", "company") if p != field})
    before = row_snapshot(record)

    with pytest.raises(ValidationError) as refused:
        services.record_update(record=record, actor=admin_user, data=data)

    assert field in refused.value.message_dict
    assert row_snapshot(record) == before


def test_record_update_refuses_a_second_activity_parent(account, admin_user):
    activity = ActivityFactory(account=account)
    before = row_snapshot(activity)

    with pytest.raises(ValidationError):
        services.record_update(
            record=activity, actor=admin_user, data={"lead": LeadFactory(account=account)}
        )

    assert row_snapshot(activity) == before


def test_record_update_validates_the_model(account, admin_user):
    deal = DealFactory(account=account)
    before = row_snapshot(deal)

    with pytest.raises(ValidationError) as refused:
        services.record_update(record=deal, actor=admin_user, data={"currency": "euro"})

    assert "currency" in refused.value.message_dict
    assert row_snapshot(deal) == before


def test_record_update_moves_updated_at(account, admin_user):
    company = CompanyFactory(account=account)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    Company.objects.filter(pk=company.pk).update(updated_at=long_ago)
    company.refresh_from_db()

    services.record_update(record=company, actor=admin_user, data={"industry": "Mining"})

    assert Company.objects.get(pk=company.pk).updated_at > long_ago


# --- record_delete --------------------------------------------------------------------------


def live_ids(model, account) -> set[int]:
    return set(model.objects.for_account(account).values_list("pk", flat=True))


def test_record_delete_of_a_company_takes_its_activities_and_unlinks_the_rest(account, admin_user):
    deal = DealFactory(account=account, linked=True)
    company, contact = deal.company, deal.contact
    on_company = ActivityFactory(account=account, company=company)
    on_contact = ActivityFactory(account=account, company=None, contact=contact)
    on_deal = ActivityFactory(account=account, company=None, deal=deal)
    unrelated = CompanyFactory(account=account)

    entry = services.record_delete(record=company, actor=admin_user)

    # The company and its activity: hidden from every read, kept in the bin as one entry.
    assert live_ids(Company, account) == {unrelated.pk}
    assert live_ids(Activity, account) == {on_contact.pk, on_deal.pk}
    assert Company.objects.get(pk=company.pk).bin_entry_id == entry.pk
    assert Activity.objects.get(pk=on_company.pk).bin_entry_id == entry.pk
    assert (entry.entity_type, entry.entity_id, entry.item_count) == ("company", company.pk, 2)
    # What linked to it stays live, the link cleared...
    assert live_ids(Contact, account) == {contact.pk}
    assert live_ids(Deal, account) == {deal.pk}
    assert Contact.objects.get(pk=contact.pk).company_id is None
    assert Deal.objects.get(pk=deal.pk).company_id is None
    assert Deal.objects.get(pk=deal.pk).contact_id == contact.id
    # ... until the restore brings it back.
    bin_restore(account=account, entry_ids=[entry.pk], actor=admin_user)
    assert Contact.objects.get(pk=contact.pk).company_id == company.pk
    assert Deal.objects.get(pk=deal.pk).company_id == company.pk
    assert live_ids(Activity, account) == {on_company.pk, on_contact.pk, on_deal.pk}


@pytest.mark.parametrize("entity_type", ["contact", "lead", "deal"])
def test_record_delete_takes_the_records_activities_only(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    own = ActivityFactory.create_batch(2, account=account, company=None, **{entity_type: record})
    other = ActivityFactory(account=account)

    entry = services.record_delete(record=record, actor=admin_user)

    assert record.pk not in live_ids(MODELS[entity_type], account)
    assert live_ids(Activity, account) == {other.pk}
    assert MODELS[entity_type].objects.get(pk=record.pk).bin_entry_id == entry.pk
    assert set(Activity.objects.filter(bin_entry=entry).values_list("pk", flat=True)) == {
        a.pk for a in own
    }
    assert entry.item_count == 3


def test_record_delete_of_a_contact_keeps_its_deals(account, admin_user):
    deal = DealFactory(account=account, linked=True)

    entry = services.record_delete(record=deal.contact, actor=admin_user)

    stored = Deal.objects.get(pk=deal.pk)
    assert stored.bin_entry_id is None
    assert (stored.contact_id, stored.company_id) == (None, deal.company_id)
    bin_restore(account=account, entry_ids=[entry.pk], actor=admin_user)
    assert Deal.objects.get(pk=deal.pk).contact_id == deal.contact_id


def test_record_delete_leaves_other_accounts_alone(account, other_account, admin_user):
    mine = CompanyFactory(account=account)
    theirs = ActivityFactory(account=other_account)
    before = row_snapshot(theirs)

    services.record_delete(record=mine, actor=admin_user)

    assert row_snapshot(theirs) == before


# --- Maintenance ----------------------------------------------------------------------------


@pytest.fixture
def in_maintenance(account):
    account.maintenance = True
    account.save()
    return account


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_record_create_waits_for_maintenance(in_maintenance, admin_user, entity_type):
    data = valid_data(entity_type, in_maintenance)
    before = row_counts()

    with pytest.raises(RuleViolation) as refused:
        services.record_create(
            account=in_maintenance, actor=admin_user, entity=ENTITIES[entity_type], data=data
        )

    assert refused.value.code == "maintenance"
    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "60"}
    assert row_counts() == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_record_update_waits_for_maintenance(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    account.maintenance = True
    account.save()
    record.account = account
    before = row_snapshot(record)

    with pytest.raises(RuleViolation) as refused:
        services.record_update(
            record=record, actor=admin_user, data={TITLE_FIELDS[entity_type]: "Changed"}
        )

    assert refused.value.code == "maintenance"
    assert row_snapshot(record) == before


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_record_delete_waits_for_maintenance(account, admin_user, entity_type):
    record = record_make(entity_type, account=account)
    account.maintenance = True
    account.save()
    record.account = account
    before, row = row_counts(), row_snapshot(record)

    with pytest.raises(RuleViolation) as refused:
        services.record_delete(record=record, actor=admin_user)

    assert refused.value.code == "maintenance"
    assert row_counts() == before
    assert row_snapshot(record) == row  # still live: no bin entry
    assert not BinEntry.objects.exists()


def test_maintenance_is_read_from_the_records_account(account, other_account, admin_user):
    other_account.maintenance = True
    other_account.save()

    company = services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Fine"}
    )
    services.record_update(record=company, actor=admin_user, data={"title": "Still fine"})
    entry = services.record_delete(record=company, actor=admin_user)

    assert not Company.objects.for_account(account).exists()
    assert Company.objects.get(pk=company.pk).bin_entry_id == entry.pk


# --- Selectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
def test_record_get_answers_the_same_404_for_missing_and_foreign_ids(
    account, other_account, entity_type
):
    mine = record_make(entity_type, account=account)
    theirs = record_make(entity_type, account=other_account)
    entity = ENTITIES[entity_type]

    assert selectors.record_get(account=account, entity=entity, record_id=mine.pk) == mine
    messages = set()
    for record_id in (theirs.pk, theirs.pk + 1000, "abc", None, 10**30, str(10**30)):
        with pytest.raises(RuleViolation) as missing:
            selectors.record_get(account=account, entity=entity, record_id=record_id)
        messages.add(str(missing.value))
    assert len(messages) == 1
    assert missing.value.code == "not_found"


def test_record_linked_stays_inside_the_account(account, other_account):
    company = CompanyFactory(account=account)
    contact = ContactFactory(account=account, company=company)
    Contact.objects.filter(pk=ContactFactory(account=other_account).pk).update(
        company_id=company.pk
    )  # a corrupt foreign row pointing at our company must not show up

    linked = selectors.record_linked(record=company)

    assert list(linked["contact"]) == [contact]
    assert set(linked) == {"contact", "deal", "activity"}
    assert list(selectors.activities_for(record=company)) == []
    assert Lead.objects.count() == 0

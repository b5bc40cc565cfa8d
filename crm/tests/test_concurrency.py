"""A delete and an edit of the same record at the same moment, on two connections (PostgreSQL:
real row locks). Each thread gets the record as its request loaded it, before the other
committed: the edit must not write a deleted record back to life, and two edits of different
fields must both land."""

from functools import partial

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from core.errors import RuleViolation
from crm import services
from crm.entities import ENTITIES
from crm.models import Activity, Contact, Deal
from crm.tests.factories import ActivityFactory, CompanyFactory, ContactFactory, DealFactory
from history.models import Event, EventType
from recyclebin.models import BinEntry, HiddenLink
from tests.concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 20


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


def bin_consistent_assert(account) -> None:
    """A record is wholly live or wholly in the bin: every entry's item is held by it, no live
    record links to a binned one, every hidden link belongs to a binned item's entry."""
    for entry in BinEntry.objects.filter(account=account):
        model = ENTITIES[entry.entity_type].model
        held = model.objects.filter(pk=entry.entity_id).values_list("bin_entry", flat=True)
        assert list(held) in ([entry.pk], []), f"entry #{entry.pk} lists a live record"
    for entity in ENTITIES.values():
        live = entity.model.objects.for_account(account)
        for name in entity.link_fields:
            binned = live.filter(**{f"{name}__bin_entry__isnull": False})
            assert not binned.exists(), f"a live {entity.type} links to a binned {name}"
    for link in HiddenLink.objects.filter(entry__account=account):
        target = ENTITIES[link.entry.entity_type].model.objects.get(pk=link.entry.entity_id)
        assert target.bin_entry_id == link.entry_id


def test_a_delete_and_an_edit_at_once_leave_the_record_wholly_in_the_bin(account, admin_user):
    for _ in range(RUNS):
        deal = DealFactory(account=account)
        activity = ActivityFactory(account=account, company=None, deal=deal)
        for_delete, for_edit = Deal.objects.get(pk=deal.pk), Deal.objects.get(pk=deal.pk)

        deleted, edited = at_once(
            partial(services.record_delete, record=for_delete, actor=admin_user),
            partial(
                services.record_update, record=for_edit, actor=admin_user, data={"title": "Edited"}
            ),
        )

        assert isinstance(deleted, BinEntry), deleted
        assert isinstance(edited, dict | RuleViolation), edited
        deal.refresh_from_db()
        activity.refresh_from_db()
        assert deal.bin_entry_id == deleted.pk
        assert activity.bin_entry_id == deleted.pk
        events = list(
            Event.objects.filter(entity_type="deal", entity_id=deal.pk)
            .order_by("id")
            .values_list("event_type", flat=True)
        )
        if isinstance(edited, dict):  # the edit committed first: the delete came after it
            assert events == [EventType.UPDATE, EventType.DELETE]
            assert deal.title == "Edited"
        else:
            assert events == [EventType.DELETE]
        bin_consistent_assert(account)


def test_two_edits_of_different_fields_at_once_both_land(account, admin_user):
    for run in range(RUNS):
        deal = DealFactory(account=account, title="Old", amount=1)
        first, second = Deal.objects.get(pk=deal.pk), Deal.objects.get(pk=deal.pk)

        results = at_once(
            partial(
                services.record_update, record=first, actor=admin_user, data={"title": f"New {run}"}
            ),
            partial(services.record_update, record=second, actor=admin_user, data={"amount": 2300}),
        )

        assert all(isinstance(result, dict) for result in results), results
        deal.refresh_from_db()
        assert (deal.title, deal.amount) == (f"New {run}", 2300)


def test_a_relink_and_a_delete_of_its_target_at_once_leave_no_live_link_into_the_bin(
    account, admin_user
):
    for _ in range(RUNS):
        company = CompanyFactory(account=account)
        contact = ContactFactory(account=account)
        target = type(company).objects.get(pk=company.pk)
        stale = Contact.objects.get(pk=contact.pk)

        deleted, linked = at_once(
            partial(services.record_delete, record=target, actor=admin_user),
            partial(
                services.record_update, record=stale, actor=admin_user, data={"company": target}
            ),
        )

        assert isinstance(deleted, BinEntry), deleted
        contact.refresh_from_db()
        assert contact.company_id is None
        hidden = HiddenLink.objects.filter(entry=deleted, record_id=contact.pk).exists()
        if isinstance(linked, dict):  # linked first: the delete hid the link, to restore it
            assert hidden
        else:
            assert isinstance(linked, ValidationError) and "company" in linked.message_dict
            assert not hidden
        bin_consistent_assert(account)


def test_an_edit_of_a_record_deleted_since_it_was_loaded_is_a_404(account, admin_user):
    deal = DealFactory(account=account)
    stale = Deal.objects.get(pk=deal.pk)
    services.record_delete(record=deal, actor=admin_user)

    with pytest.raises(RuleViolation, match="No such deal"):
        services.record_update(record=stale, actor=admin_user, data={"title": "Back?"})

    deal.refresh_from_db()
    assert deal.bin_entry_id is not None and deal.title != "Back?"
    assert not Activity.objects.filter(deal=deal, bin_entry__isnull=True).exists()

"""Revert (changelog.revert): chosen changes undone, exactly those, on both databases: fields go
back, a create goes to the bin, a delete comes back (from the bin or from its purge image),
links follow, later changes by others are conflicts left alone unless forced, every record
changed gets one ``revert`` event, and a revert can be reverted."""

from decimal import Decimal

import pytest

from accounts.models import Account
from changelog import revert
from core.errors import RuleViolation
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Activity, Company, Contact, Deal
from history.models import Event, EventType
from recyclebin import services as bin_services

pytestmark = pytest.mark.django_db


def create(entity_type, *, account, actor, **data):
    return crm_services.record_create(
        account=account, actor=actor, entity=ENTITIES[entity_type], data=data
    )


def update(record, actor, **data):
    return crm_services.record_update(record=record, actor=actor, data=data)


def event_ids(**filters) -> list[int]:
    return list(Event.objects.filter(**filters).order_by("id").values_list("id", flat=True))


def undo(account, actor, ids, *, force=False):
    return revert.revert_apply(account=account, actor=actor, event_ids=ids, force=force)


def revert_events(record) -> list[Event]:
    entity_type = next(key for key, e in ENTITIES.items() if e.model is type(record))
    return list(
        Event.objects.filter(
            event_type=EventType.REVERT, entity_type=entity_type, entity_id=record.pk
        ).order_by("id")
    )


class TestFields:
    def test_a_mass_update_goes_back_and_only_it(self, account, admin_user, employee):
        deals = [
            create("deal", account=account, actor=admin_user, title=f"D{i}", amount="100.00")
            for i in range(5)
        ]
        first = Event.objects.latest("id").pk
        for deal in deals:
            update(deal, employee, amount=Decimal("1.00"), stage="won")
        # Someone else's later edits: another field of deal 0, the same field of deal 1.
        update(Deal.objects.get(pk=deals[0].pk), admin_user, title="Kept title")
        update(Deal.objects.get(pk=deals[1].pk), admin_user, amount=Decimal("7.00"))

        selection = revert.revert_selection(
            account=account, actor=employee, filters={"actor": employee.pk}
        )
        assert all(pk > first for pk in selection) and len(selection) == 5
        plan = undo(account, employee, selection)

        summary = plan.summary()
        assert summary["records"] == 5
        assert summary["conflicts"] == 1
        conflict = next(c for c in summary["changes"] if c["conflict"])
        assert conflict == {
            "entity_type": "deal",
            "entity_id": deals[1].pk,
            "title": "D1",
            "field": "amount",
            "current": "7.00",
            "value": "100.00",
            "conflict": True,
        }
        rows = {deal.pk: deal for deal in Deal.objects.filter(account=account)}
        assert rows[deals[0].pk].title == "Kept title"
        assert rows[deals[0].pk].amount == Decimal("100.00")
        assert rows[deals[1].pk].amount == Decimal("7.00")  # the conflict, left as it is
        assert all(rows[deal.pk].stage != "won" for deal in deals)
        (event,) = revert_events(deals[2])
        assert event.actor == employee
        assert event.details["action"] == "updated"
        assert event.changes["amount"] == ["1.00", "100.00"]
        assert event.changes["stage"][0] == "won"

    def test_force_overwrites_a_later_change_for_admins_only(self, account, admin_user, employee):
        deal = create("deal", account=account, actor=employee, title="D", amount="5.00")
        update(deal, employee, amount=Decimal("6.00"))
        mine = event_ids(event_type="update", actor=employee)
        update(Deal.objects.get(pk=deal.pk), admin_user, amount=Decimal("9.00"))

        with pytest.raises(RuleViolation) as refused:
            undo(account, employee, mine, force=True)
        assert refused.value.code == "admin_only"
        undo(account, admin_user, mine, force=True)
        assert Deal.objects.get(pk=deal.pk).amount == Decimal("5.00")

    def test_a_link_to_a_record_gone_is_a_conflict_even_forced(self, account, admin_user):
        old, new = (create("company", account=account, actor=admin_user, title=t) for t in "AB")
        contact = create(
            "contact", account=account, actor=admin_user, first_name="A", last_name="X", company=old
        )
        update(contact, admin_user, company=new)
        moved = event_ids(event_type="update", entity_type="contact")
        bin_services.bin_delete(record=Company.objects.get(pk=old.pk), actor=admin_user)

        plan = undo(account, admin_user, moved, force=True)
        (change,) = plan.summary()["changes"]
        assert change["field"] == "company" and change["conflict"]
        assert Contact.objects.get(pk=contact.pk).company_id == new.pk


class TestExistence:
    def test_a_create_goes_to_the_bin_and_its_revert_brings_it_back(self, account, admin_user):
        company = create("company", account=account, actor=admin_user, title="Imported")
        contact = create(
            "contact",
            account=account,
            actor=admin_user,
            first_name="B",
            last_name="Y",
            company=company,
        )
        created = event_ids(event_type="create", entity_type="company")

        undo(account, admin_user, created)
        assert not Company.objects.for_account(account).filter(pk=company.pk).exists()
        assert Contact.objects.get(pk=contact.pk).company_id is None  # the link follows
        (binned,) = revert_events(company)
        assert binned.details["action"] == "binned"

        undo(account, admin_user, [binned.pk])  # the revert, reverted
        assert Company.objects.for_account(account).filter(pk=company.pk).exists()
        assert Contact.objects.get(pk=contact.pk).company_id == company.pk
        assert revert_events(company)[-1].details["action"] == "restored"

    def test_a_create_someone_else_edited_since_is_a_conflict(self, account, admin_user, employee):
        company = create("company", account=account, actor=employee, title="Mine")
        update(Company.objects.get(pk=company.pk), admin_user, industry="Theirs")
        plan = undo(account, employee, event_ids(event_type="create"))
        assert plan.summary()["conflicts"] == 1
        assert Company.objects.for_account(account).filter(pk=company.pk).exists()

    def test_a_delete_comes_back_from_the_bin(self, account, admin_user):
        company = create("company", account=account, actor=admin_user, title="Gone")
        activity = create(
            "activity",
            account=account,
            actor=admin_user,
            subject="Call",
            type="call",
            company=company,
        )
        bin_services.bin_delete(record=company, actor=admin_user)

        undo(account, admin_user, event_ids(event_type="delete", entity_type="company"))
        assert Company.objects.for_account(account).filter(pk=company.pk).exists()
        assert Activity.objects.for_account(account).filter(pk=activity.pk).exists()
        assert revert_events(company)[0].details["action"] == "restored"

    def test_a_purged_record_is_recreated_from_its_image(self, account, admin_user):
        company = create(
            "company", account=account, actor=admin_user, title="Purged", phone="+49 30 1"
        )
        entry = bin_services.bin_delete(record=company, actor=admin_user)
        bin_services.bin_purge(account=account, entry_ids=[entry.pk], actor=admin_user)
        assert not Company.objects.filter(pk=company.pk).exists()

        undo(account, admin_user, event_ids(event_type="delete", entity_type="company"))
        back = Company.objects.for_account(account).get(pk=company.pk)
        assert (back.title, back.phone) == ("Purged", "+49 30 1")
        (event,) = revert_events(company)
        assert event.details["action"] == "recreated"
        assert event.changes["title"] == [None, "Purged"]


class TestRules:
    def test_employees_select_only_their_own_changes(self, account, admin_user, employee):
        create("company", account=account, actor=admin_user, title="Theirs")
        with pytest.raises(RuleViolation) as refused:
            revert.revert_selection(account=account, actor=employee, filters={})
        assert refused.value.code == "own_only"
        with pytest.raises(RuleViolation):
            revert.revert_selection(account=account, actor=employee, event_ids=event_ids())

    def test_another_accounts_events_are_not_found(
        self, account, other_account, other_admin, admin_user
    ):
        create("company", account=other_account, actor=other_admin, title="Theirs")
        with pytest.raises(RuleViolation) as refused:
            revert.revert_selection(account=account, actor=admin_user, event_ids=event_ids())
        assert refused.value.code == "not_found"

    def test_the_free_plan_has_no_revert(self, account, admin_user):
        Account.objects.filter(pk=account.pk).update(plan="free")
        account.refresh_from_db()
        with pytest.raises(RuleViolation) as refused:
            revert.revert_preview(account=account, actor=admin_user, event_ids=[])
        assert refused.value.code == "plan_not_eligible"

    def test_the_preview_changes_nothing_and_nothing_to_undo_is_zeros(self, account, admin_user):
        deal = create("deal", account=account, actor=admin_user, title="D", amount="5.00")
        update(deal, admin_user, amount=Decimal("6.00"))
        before = Event.objects.count()
        plan = revert.revert_preview(
            account=account, actor=admin_user, event_ids=event_ids(event_type="update")
        )
        assert plan.summary()["fields"] == 1
        assert Deal.objects.get(pk=deal.pk).amount == Decimal("6.00")
        assert Event.objects.count() == before
        nothing = revert.revert_preview(account=account, actor=admin_user, event_ids=[])
        assert nothing.summary() == {
            "events": 0,
            "records": 0,
            "fields": 0,
            "conflicts": 0,
            "changes": [],
        }

"""A revert and an edit of the same field at the same moment, and two reverts of the same
selection, on two connections (PostgreSQL: real row locks). The revert locks the records and
works its plan out again under the lock, so an edit that commits first is a later change by
someone else (a conflict, kept), and one that commits after simply lands: either way the edit
survives. Two reverts at once undo once."""

from decimal import Decimal
from functools import partial

import pytest
from django.db import connection

from changelog import revert
from crm import services
from crm.entities import ENTITIES
from crm.models import Deal
from history.models import Event, EventType
from tests.concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 15


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")


def bad_edit(account, user) -> tuple[Deal, list[int]]:
    deal = services.record_create(
        account=account,
        actor=user,
        entity=ENTITIES["deal"],
        data={"title": "D", "amount": Decimal("100.00")},
    )
    services.record_update(record=deal, actor=user, data={"amount": Decimal("1.00")})
    edit = Event.objects.filter(event_type="update", entity_id=deal.pk).values_list("pk", flat=True)
    return deal, list(edit)


def test_an_edit_during_a_revert_always_survives(account, admin_user, employee):
    for _ in range(RUNS):
        deal, selection = bad_edit(account, employee)
        undone, edited = at_once(
            partial(revert.revert_apply, account=account, actor=employee, event_ids=selection),
            partial(
                services.record_update,
                record=Deal.objects.get(pk=deal.pk),
                actor=admin_user,
                data={"amount": Decimal("55.00")},
            ),
        )
        assert not isinstance(undone, Exception), undone
        assert not isinstance(edited, Exception), edited
        assert Deal.objects.get(pk=deal.pk).amount == Decimal("55.00")
        reverts = Event.objects.filter(event_type=EventType.REVERT, entity_id=deal.pk)
        # The revert either came first (its event, then the edit) or saw the edit (nothing).
        assert reverts.count() in (0, 1)


def test_two_reverts_of_the_same_changes_undo_once(account, admin_user):
    for _ in range(RUNS):
        deal, selection = bad_edit(account, admin_user)
        results = at_once(
            *[
                partial(revert.revert_apply, account=account, actor=admin_user, event_ids=selection)
                for _ in range(2)
            ]
        )
        assert not any(isinstance(result, Exception) for result in results), results
        assert Deal.objects.get(pk=deal.pk).amount == Decimal("100.00")
        reverts = Event.objects.filter(event_type=EventType.REVERT, entity_id=deal.pk)
        assert reverts.count() == 1

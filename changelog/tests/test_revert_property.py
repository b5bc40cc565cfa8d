"""The revert, checked against ground truth (a seeded generator, on both databases).

Three users make random changes to one account, and a little to a second one: creates,
edits, relinks, deletes, bin restores, purges, and reverts of random selections of their own
changes. At random moments the test dumps the account's live records with every value. Then,
for each moment T, reverting (forced) every change made after T must give back exactly the
dump of T, and reverting that revert must give back what was there before it; the other
account never changes. The dump is read from the tables, the revert works from the events
alone: the two are independent."""

import json
import os
import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count

from accounts.models import User
from accounts.services import user_create
from changelog import revert
from conftest import PASSWORD
from core.errors import RuleViolation
from crm import services as crm_services
from crm.entities import ENTITIES
from history.models import Event
from recyclebin import services as bin_services
from recyclebin.integrity import bin_breaches
from recyclebin.models import BinEntry

pytestmark = pytest.mark.django_db

# A modest run in make test (20 moments a seed, as the issue asks); bigger ones:
# bench/property.py. 400 seeds (1 to 720) passed when it was written; a later run of seeds
# 1-60 failed 30 (a duplicate hidden link, fixed in recyclebin.links) and 41 (a link put back
# to a record whose own coming back was a conflict, left in the bin: fixed in
# changelog.revert.plan._links_check). Seeds 1-150 then passed. (Bulk restores and purges
# came in since, which changed every seed's run.)
SEEDS = (1, 2, 3, 30, 41, 109, 305)
STEPS = 150
MOMENTS = 20


def property_size(seeds: tuple[int, ...], steps: int, moments: int) -> tuple:
    """``(seeds, steps, moments)`` of a property test: the modest defaults of make test, or a
    bigger run's from the environment (bench/property.py): ``CRM_PROPERTY_SEEDS`` ("1-200" or
    "4,9,16"), ``CRM_PROPERTY_STEPS``, ``CRM_PROPERTY_MOMENTS``."""
    chosen = os.environ.get("CRM_PROPERTY_SEEDS")
    if chosen:
        seeds = tuple(
            n
            for part in chosen.split(",")
            for first, _, last in [part.partition("-")]
            for n in range(int(first), int(last or first) + 1)
        )
    steps = int(os.environ.get("CRM_PROPERTY_STEPS", steps))
    moments = min(int(os.environ.get("CRM_PROPERTY_MOMENTS", moments)), steps - 10)
    return seeds, steps, moments


SEEDS, STEPS, MOMENTS = property_size(SEEDS, STEPS, MOMENTS)


def dump(account) -> dict:
    """Every live record of the account with every value, as the history writes values."""
    state = {}
    for entity_type, entity in ENTITIES.items():
        attnames = [entity.model._meta.get_field(name).attname for name in entity.value_fields]
        for row in entity.model.objects.for_account(account).values("id", *attnames):
            values = {
                name: row[attname]
                for name, attname in zip(entity.value_fields, attnames, strict=True)
            }
            state[(entity_type, row["id"])] = json.loads(json.dumps(values, cls=DjangoJSONEncoder))
    return state


class World:
    """The random changes, through the product's services."""

    def __init__(self, account, users, rng: random.Random):
        self.account, self.users, self.rng = account, users, rng
        self.counter = 0

    def live(self, entity_type: str) -> list:
        return list(ENTITIES[entity_type].model.objects.for_account(self.account).order_by("id"))

    def pick(self, entity_type: str):
        records = self.live(entity_type)
        return self.rng.choice(records) if records else None

    def name(self) -> str:
        self.counter += 1
        return f"n{self.counter}"

    def create(self, user) -> None:
        entity_type = self.rng.choice(["company", "company", "contact", "deal", "activity"])
        data: dict = {
            "company": lambda: {"title": self.name(), "industry": self.rng.choice(["", "IT"])},
            "contact": lambda: {
                "first_name": self.name(),
                "last_name": "L",
                "company": self.pick("company"),
            },
            "deal": lambda: {
                "title": self.name(),
                "amount": Decimal(self.rng.randint(1, 999)),
                "company": self.pick("company"),
            },
            "activity": lambda: {"subject": self.name(), "type": "call", "company": None},
        }[entity_type]()
        if entity_type == "activity":
            data["company"] = self.pick("company")
            if data["company"] is None:
                return
        crm_services.record_create(
            account=self.account, actor=user, entity=ENTITIES[entity_type], data=data
        )

    def edit(self, user) -> None:
        entity_type = self.rng.choice(["company", "contact", "deal"])
        record = self.pick(entity_type)
        if record is None:
            return
        data = {
            "company": lambda: {"industry": self.rng.choice(["", "IT", "Bau", "Handel"])},
            "contact": lambda: {
                "last_name": self.name(),
                "company": self.pick("company") if self.rng.random() < 0.5 else None,
            },
            "deal": lambda: {
                "amount": Decimal(self.rng.randint(1, 999)),
                "stage": self.rng.choice(["new", "won", "lost"]),
            },
        }[entity_type]()
        crm_services.record_update(record=record, actor=user, data=data)

    def delete(self, user) -> None:
        record = self.pick(self.rng.choice(["company", "contact", "deal", "activity"]))
        if record is not None:
            bin_services.bin_delete(record=record, actor=user)

    def entries(self, user, most: int) -> list[int]:
        """Up to ``most`` bin entries the user may act on (an employee: their own), drawn."""
        entries = BinEntry.objects.for_account(self.account)
        if not user.is_account_admin:
            entries = entries.filter(deleted_by=user)
        ids = list(entries.order_by("id").values_list("pk", flat=True))
        return (
            sorted(self.rng.sample(ids, k=self.rng.randint(1, min(most, len(ids))))) if ids else []
        )

    def restore(self, user) -> None:
        entry_ids = self.entries(user, 1)
        if entry_ids:
            bin_services.bin_restore(
                account=self.account, entry_ids=entry_ids, actor=user, together=True
            )

    def restore_many(self, user) -> None:
        """A bulk restore of ticked bin rows, with or without what went with them."""
        entry_ids = self.entries(user, 4)
        if entry_ids:
            bin_services.bin_restore(
                account=self.account,
                entry_ids=entry_ids,
                actor=user,
                together=self.rng.random() < 0.5,
            )

    def purge(self, user) -> None:
        if user.is_account_admin:
            entry_ids = self.entries(user, 1 if self.rng.random() < 0.7 else 4)
            if entry_ids:
                bin_services.bin_purge(account=self.account, entry_ids=entry_ids, actor=user)

    def undo_some(self, user) -> None:
        mine = list(
            revert.revertable(Event.objects.for_account(self.account).filter(actor=user))
            .order_by("-id")
            .values_list("pk", flat=True)[:30]
        )
        if mine:
            most = 5 if self.rng.random() < 0.8 else 30  # now and then a bigger selection
            chosen = self.rng.sample(mine, k=self.rng.randint(1, min(most, len(mine))))
            revert.revert_apply(account=self.account, actor=user, event_ids=sorted(chosen))

    def step(self) -> None:
        user = self.rng.choice(self.users)
        action = self.rng.choices(
            [
                *(self.create, self.edit, self.delete, self.restore, self.restore_many),
                *(self.purge, self.undo_some),
            ],
            weights=[30, 35, 15, 6, 3, 4, 8],
        )[0]
        try:
            with transaction.atomic():
                action(user)
        except (RuleViolation, ValidationError):
            pass  # a rule refused it (a parent in the bin...): nothing changed


# Runs that failed at a bench size, kept at that size: (seed, steps, moments). 23: going back
# past a revert left a link it had put back on another record (changelog.revert.plan's
# _follow_ups now follows a revert's own link events).
REGRESSIONS = [(seed, STEPS, MOMENTS) for seed in SEEDS] + [(23, 200, 10)]


@pytest.mark.parametrize(("seed", "steps", "moments_count"), REGRESSIONS)
def test_undoing_everything_after_a_moment_gives_that_moment_back(
    seed, steps, moments_count, account, admin_user, employee, other_account, other_admin
):
    rng = random.Random(seed)
    second = user_create(
        username="acme-second",
        password=PASSWORD,
        account=account,
        role=User.Role.EMPLOYEE,
        check_password=False,
    )
    world = World(account, [admin_user, employee, second], rng)
    other = World(other_account, [other_admin], rng)
    moments_at = sorted(rng.sample(range(10, steps), moments_count))
    moments = []  # (last event id at T, dump at T)
    for number in range(steps):
        world.step()
        if number % 10 == 0:
            other.step()
        if number in moments_at:
            last = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
            moments.append((last, dump(account)))
    other_state = dump(other_account)
    kinds = dict(
        Event.objects.for_account(account).values_list("event_type").annotate(n=Count("id"))
    )
    # The run did what it should test: every kind of change, and reverts among them.
    assert {"create", "update", "delete", "revert"} <= set(kinds), kinds
    assert len({json.dumps(sorted(map(str, d.items()))) for _, d in moments}) > 1

    for last, expected in reversed(moments):  # latest first: each revert builds on the last
        before = dump(account)
        after_t = list(
            revert.revertable(Event.objects.for_account(account).filter(id__gt=last))
            .order_by("id")
            .values_list("pk", flat=True)
        )
        plan = revert.revert_apply(account=account, actor=admin_user, event_ids=after_t, force=True)
        assert dump(account) == expected, f"seed {seed}: the moment after event {last}"
        assert not list(bin_breaches(account=account)), f"seed {seed}: the moment after {last}"

        reverts = list(
            Event.objects.for_account(account)
            .filter(event_type="revert", id__gt=max(after_t, default=last))
            .values_list("pk", flat=True)
        )
        assert reverts or not any(r.applied(force=True) for r in plan.records)
        revert.revert_apply(account=account, actor=admin_user, event_ids=reverts, force=True)
        assert dump(account) == before, f"seed {seed}: the revert of the revert"
        # Back to the moment for the next (earlier) one.
        again = list(
            revert.revertable(Event.objects.for_account(account).filter(id__gt=last))
            .order_by("id")
            .values_list("pk", flat=True)
        )
        revert.revert_apply(account=account, actor=admin_user, event_ids=again, force=True)
        assert dump(account) == expected
    assert dump(other_account) == other_state

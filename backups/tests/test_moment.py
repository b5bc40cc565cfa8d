"""A restore to a moment (backups.moment), against ground truth on both databases: the random
changes of changelog's property test by several users over simulated days, with a snapshot
each night and now and then a rollback or recover from one of them (support's restore, its
per-record events included); a dump of the account (live and in the bin, every value) at
random moments; ``full`` back to each moment equals its dump, ``recover`` brings back exactly
what existed then and is gone now, ``entities`` touches only its types; the other account never
changes. And its rules: a moment in the future or before the oldest kept snapshot is refused;
the preview counts what the restore then does."""

import contextlib
import contextvars
import json
import random
import threading
from datetime import timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections
from django.utils import timezone

from accounts.models import Account
from backups import moment
from backups.integrity import integrity_breaches
from backups.models import Snapshot
from backups.restore import RestoreRefused, snapshot_restore
from backups.services import snapshot_take
from changelog import revert
from changelog.tests.test_revert_property import World, property_size
from core.errors import RuleViolation
from crm import services as crm_services
from crm.entities import ENTITIES
from crm.models import Company
from history.models import Event, EventType
from recyclebin import services as bin_services

pytestmark = pytest.mark.django_db(transaction=True)

# A modest run in make test (20 moments a seed, as the issue asks); bigger ones:
# bench/property.py. Seeds 20, 27 and 33 once failed (entities: a link that another type's
# delete and restore cleared and put back after the moment was only half undone; the moment
# now undoes such links too) and 39 (a recover brings a bin entry back whole, with what went
# into the bin with the record). With the days and rollbacks, 2 and 9 failed: a recover
# brought back a bin entry whose record was live (backups.restore.links.entry_owner_gone_sql),
# and going back past a rollback took a record's values and place from after it (the
# restore's events now say where the record was, changelog.revert.plan._restore_states).
# At 300 steps, 21, 23, 44 and 48 failed: support's entities restore removed a company in
# the bin and put back the links its entry hid, onto the company gone (backups.restore.
# bin_links; test_restore's test_entities_removing_a_record_in_the_bin_forgets_...).
SEEDS, STEPS, MOMENTS = property_size((1, 2, 3, 9, 27, 39), 150, 20)
DAY = 25  # steps between two nightly snapshots


class DaysWorld(World):
    """World's random changes over days: a snapshot each night, and now and then support's
    restore of one of the kept snapshots (``full``, ``entities`` of some types or
    ``recover``), which runs its own transactions."""

    def __init__(self, account, users, rng: random.Random, support) -> None:
        super().__init__(account, users, rng)
        self.support = support

    def night(self) -> None:
        snapshot = snapshot_take(account=self.account, kind=Snapshot.Kind.MANUAL)
        assert snapshot.status == Snapshot.Status.SUCCEEDED

    def rollback(self) -> None:
        snapshots = list(
            Snapshot.objects.filter(account=self.account, status=Snapshot.Status.SUCCEEDED)
            .exclude(kind=Snapshot.Kind.PRE_RESTORE)
            .order_by("id")
        )
        kind = self.rng.choice(["full", "full", "entities", "recover"])
        types = sorted(self.rng.sample(sorted(ENTITIES), k=2)) if kind == "entities" else None
        with contextlib.suppress(RestoreRefused):  # refused as a whole: nothing changed
            snapshot_restore(
                snapshot=self.rng.choice(snapshots),
                kind=kind,
                entity_types=types,
                actor=self.support,
            )
        assert integrity_breaches(account=self.account) == [], f"after a {kind} restore"

    def step(self) -> None:
        if self.rng.random() < 0.02:
            self.rollback()
        else:
            super().step()


def dump(account, types=ENTITIES) -> dict:
    """Every record of the account, live or in the bin, with every value."""
    state = {}
    for entity_type in types:
        entity = ENTITIES[entity_type]
        attnames = [entity.model._meta.get_field(name).attname for name in entity.value_fields]
        rows = entity.model.objects.filter(account=account).values("id", "bin_entry", *attnames)
        for row in rows:
            values = {
                name: row[attname]
                for name, attname in zip(entity.value_fields, attnames, strict=True)
            }
            state[(entity_type, row["id"])] = (
                row["bin_entry"] is None,
                json.loads(json.dumps(values, cls=DjangoJSONEncoder)),
            )
    return state


@pytest.fixture
def history(account, admin_user, employee, other_account, other_admin, support_user, snapshot_dir):
    """``(moments, other_dump)``: random changes over days after a kept snapshot, with the
    account's dump at a few moments."""

    def run(seed: int):
        rng = random.Random(seed)
        world = DaysWorld(account, [admin_user, employee], rng, support_user)
        other = World(other_account, [other_admin], rng)
        at = sorted(rng.sample(range(10, STEPS), MOMENTS))
        moments = []
        for number in range(STEPS):
            if number % DAY == 0:
                world.night()
            world.step()
            if number % 10 == 0:
                other.step()
            if number in at:
                moments.append((timezone.now(), dump(account)))
        return moments, dump(other_account)

    return run


@pytest.mark.parametrize("seed", SEEDS)
def test_a_full_restore_to_each_moment_gives_that_moment_back(
    seed, history, account, admin_user, other_account
):
    moments, other_state = history(seed)
    for at, expected in reversed(moments):
        preview = moment.moment_preview(account=account, at=at, kind="full", entity_types=None)
        outcome = moment.moment_restore(account=account, at=at, kind="full", actor=admin_user)
        assert dump(account) == expected, f"seed {seed}: full restore to {at}"
        assert integrity_breaches(account=account) == [], f"seed {seed}: full restore to {at}"
        assert outcome.counts == preview["changes"]
        assert Snapshot.objects.get(pk=outcome.pre_restore_snapshot_id).kind == "pre_restore"
    assert dump(other_account) == other_state


@pytest.mark.parametrize("seed", SEEDS)
def test_recover_and_entities_change_only_what_they_should(seed, history, account, admin_user):
    moments, _ = history(seed)
    at, expected = moments[0]
    before = dump(account)
    entries = bin_entries(account)
    moment.moment_restore(account=account, at=at, kind="recover", actor=admin_user)
    after = dump(account)
    came_back = {key for key, (live, _) in after.items() if live and not before.get(key, (0,))[0]}
    # A record that existed then comes back with its bin entry whole (the bin's rule): what
    # went into the bin with it, created after the moment, comes back too.
    entries_back = {entries[key] for key in came_back if key in expected and key in entries}
    for key, (live, values) in after.items():
        was = before.get(key)
        if was is not None and was[0]:
            # A live record keeps everything, except an empty link put back to a record
            # that came back (its delete had cleared it).
            relinked = {
                name
                for name, value in values.items()
                if value != was[1][name]
                and was[1][name] is None
                and any(k[1] == value for k in came_back)
            }
            assert live and {n: v for n, v in values.items() if n not in relinked} == {
                n: v for n, v in was[1].items() if n not in relinked
            }, f"recover changed the live record {key}"
        elif live and entries.get(key) not in entries_back:
            assert expected.get(key) == (True, values), f"recover brought back {key} wrongly"
    missing = {k for k, (live, _) in expected.items() if live} - {
        k for k, v in after.items() if v[0]
    }
    blocked = {k for k in missing if k[0] == "activity"}  # an activity whose parent is gone
    assert missing <= blocked, missing

    moment.moment_restore(
        account=account, at=at, kind="entities", entity_types=["deal"], actor=admin_user
    )
    # The deals as they were, except links to records that are gone now (another type,
    # not restored; for a deal in the bin, gone from the bin too): those are empty, as in a
    # restore of entities from a snapshot.
    now = dump(account)
    deals = {}
    for key, (live, values) in dump_only(expected, "deal").items():
        links = {
            name: value
            for name, value in values.items()
            if name in ("company", "contact")
            and value is not None
            and not (now.get((name, value), (False,))[0] if live else (name, value) in now)
        }
        deals[key] = (live, {**values, **dict.fromkeys(links)})
    assert dump(account, ["deal"]) == deals


def test_a_moment_before_a_rollback_and_a_recover_comes_back_exactly(
    account, admin_user, support_user, snapshot_dir
):
    """Found by the property test: a rollback removes a live record and one in the bin, a
    recover from another snapshot brings the first back with that snapshot's values (its
    event has none). Going back to a moment before both gives each record its values and
    its place then: the rollback's events say what the record held and where it was."""
    empty = snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    company = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Old"}
    )
    older = snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    crm_services.record_update(
        record=company, actor=admin_user, data={"title": "At the moment", "phone": "+1 555"}
    )
    binned = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Binned"}
    )
    bin_services.bin_delete(record=binned, actor=admin_user)
    at = timezone.now()
    expected = dump(account)
    snapshot_restore(snapshot=empty, kind="full", actor=support_user)
    snapshot_restore(snapshot=older, kind="recover", actor=support_user)
    assert dump(account) == {
        ("company", company.pk): (
            True,
            {**expected[("company", company.pk)][1], "title": "Old", "phone": ""},
        )
    }

    moment.moment_restore(account=account, at=at, kind="full", actor=admin_user)

    assert dump(account) == expected
    assert expected[("company", binned.pk)][0] is False  # in the bin, as it was


def bin_entries(account) -> dict:
    """The bin entry of each record in the bin."""
    return {
        (entity_type, pk): entry
        for entity_type, entity in ENTITIES.items()
        for pk, entry in entity.model.objects.filter(
            account=account, bin_entry__isnull=False
        ).values_list("pk", "bin_entry")
    }


def dump_only(state: dict, entity_type: str) -> dict:
    return {key: value for key, value in state.items() if key[0] == entity_type}


def test_the_moment_must_be_inside_the_window(account, admin_user, snapshot_dir):
    with pytest.raises(RuleViolation) as refused:
        moment.moment_preview(account=account, at=timezone.now(), kind="full", entity_types=None)
    assert refused.value.code == "outside_retention"  # no snapshot kept yet
    snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    with pytest.raises(RuleViolation) as refused:
        moment.moment_preview(
            account=account,
            at=timezone.now() + timedelta(minutes=5),
            kind="full",
            entity_types=None,
        )
    assert refused.value.code == "outside_retention"
    events = Event.objects.count()
    with pytest.raises(RuleViolation):
        moment.moment_restore(
            account=account, at=timezone.now() - timedelta(days=30), kind="full", actor=admin_user
        )
    assert Event.objects.count() == events  # refused before anything was written


def test_the_preview_at_a_moment_through_the_api(
    api, api_as, employee, account, admin_user, other_admin, snapshot_dir
):
    from crm import services as crm_services

    snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    at = timezone.now()
    crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Later"}
    )
    answer = api.get("/api/v1/backups/preview/", {"at": at.isoformat(), "kind": "full"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["changes"]["company"] == {"removed": 1, "restored": 0, "reverted": 0}
    assert body["kind"] == "full" and body["base_snapshot"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    refused = api.get("/api/v1/backups/preview/", {"at": future})
    assert (refused.status_code, refused.json()["code"]) == (400, "outside_retention")
    assert api.get("/api/v1/backups/preview/").status_code == 400  # at is required
    assert (
        api_as(employee).get("/api/v1/backups/preview/", {"at": at.isoformat()}).json()["code"]
        == "admin_only"
    )
    # Another account's admin sees their own account: no snapshot there, so refused.
    other = api_as(other_admin).get("/api/v1/backups/preview/", {"at": at.isoformat()})
    assert other.json()["code"] == "outside_retention"


def _changed_after_a_moment(account, admin_user):
    """A kept snapshot, the moment, then a company created: what a full restore removes."""
    from crm import services as crm_services

    snapshot_take(account=account, kind=Snapshot.Kind.MANUAL)
    at = timezone.now()
    later = crm_services.record_create(
        account=account, actor=admin_user, entity=ENTITIES["company"], data={"title": "Later"}
    )
    return at, later


def test_a_restore_to_a_moment_holds_the_account_in_maintenance(
    account, admin_user, snapshot_dir, monkeypatch
):
    """Maintenance claimed before the safety snapshot and lifted after, each with its event;
    meanwhile another request's write is refused (a fresh context: not the maintenance's
    owner) while the restore's own changes go through."""
    from crm import services as crm_services

    at, later = _changed_after_a_moment(account, admin_user)
    last = Event.objects.filter(account=account).latest("pk").pk
    seen = {}
    apply = revert.revert_apply

    def during(**kwargs):
        seen["flag"] = Account.objects.get(pk=account.pk).maintenance

        def another_request():
            crm_services.record_create(
                account=Account.objects.get(pk=account.pk),
                actor=admin_user,
                entity=ENTITIES["company"],
                data={"title": "Meanwhile"},
            )

        with pytest.raises(RuleViolation) as refused:
            contextvars.Context().run(another_request)
        seen["code"] = refused.value.code
        return apply(**kwargs)

    monkeypatch.setattr(revert, "revert_apply", during)
    moment.moment_restore(account=account, at=at, kind="full", actor=admin_user)

    assert seen == {"flag": True, "code": "maintenance"}
    assert not Company.objects.filter(pk=later.pk).exists()
    assert not Company.objects.filter(account=account, title="Meanwhile").exists()
    events = Event.objects.filter(account=account, pk__gt=last, entity_id__isnull=True)
    details = {"at": at.isoformat(), "kind": "full"}
    assert [(e.event_type, e.details.get("reason")) for e in events.order_by("pk")] == [
        (EventType.MAINTENANCE_ON, "restore_moment"),
        (EventType.ROLLBACK, None),
        (EventType.MAINTENANCE_OFF, "restore_done"),
    ]
    on = events.get(event_type=EventType.MAINTENANCE_ON)
    assert on.details == {"reason": "restore_moment", **details}
    assert on.actor_id == admin_user.pk
    account.refresh_from_db()
    assert account.maintenance is False


def test_a_restore_to_a_moment_that_fails_lifts_maintenance(
    account, admin_user, snapshot_dir, monkeypatch
):
    at, later = _changed_after_a_moment(account, admin_user)

    def broken(**kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(revert, "revert_apply", broken)
    with pytest.raises(RuntimeError, match="injected"):
        moment.moment_restore(account=account, at=at, kind="full", actor=admin_user)

    account.refresh_from_db()
    assert account.maintenance is False
    assert Company.objects.filter(pk=later.pk).exists()
    assert Event.objects.filter(account=account).latest("pk").event_type == (
        EventType.MAINTENANCE_OFF
    )


def test_a_restore_to_a_moment_while_another_restore_runs_is_refused(
    account, admin_user, snapshot_dir
):
    at, later = _changed_after_a_moment(account, admin_user)
    Account.objects.filter(pk=account.pk).update(maintenance=True)  # another restore runs
    snapshots = Snapshot.objects.count()
    last = Event.objects.filter(account=account).latest("pk").pk

    with pytest.raises(RuleViolation) as refused:
        moment.moment_restore(account=account, at=at, kind="full", actor=admin_user)

    assert refused.value.code == "invalid_state"
    assert Snapshot.objects.count() == snapshots
    assert not Event.objects.filter(account=account, pk__gt=last).exists()
    assert Company.objects.filter(pk=later.pk).exists()
    account.refresh_from_db()
    assert account.maintenance is True  # the running restore lifts it, not this one


@pytest.mark.postgres
def test_a_write_from_another_thread_waits_out_a_restore_to_a_moment(
    account, admin_user, snapshot_dir, monkeypatch
):
    """A real second connection, on PostgreSQL: its write during the restore is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("a second connection: PostgreSQL")
    from crm import services as crm_services

    at, _later = _changed_after_a_moment(account, admin_user)
    apply = revert.revert_apply
    answers = []

    def write() -> None:
        try:
            crm_services.record_create(
                account=Account.objects.get(pk=account.pk),
                actor=admin_user,
                entity=ENTITIES["company"],
                data={"title": "Meanwhile"},
            )
            answers.append("written")
        except RuleViolation as refused:
            answers.append(refused.code)
        finally:
            connections.close_all()

    def during(**kwargs):
        thread = threading.Thread(target=write)
        thread.start()
        thread.join(10)
        return apply(**kwargs)

    monkeypatch.setattr(revert, "revert_apply", during)
    moment.moment_restore(account=account, at=at, kind="full", actor=admin_user)

    assert answers == ["maintenance"]
    assert not Company.objects.filter(account=account, title="Meanwhile").exists()

"""A restore to a moment (DESIGN.md, "Point-in-time restore"): ``full``, ``entities`` or
``recover`` to any time T inside the retention window, not only to a nightly snapshot.

The account is taken back from now through its change log: every change of a record after T
is undone (changelog.revert, forced: a restore to a moment leaves no conflict), which gives
each record exactly the values and links it had at T, and which records existed, live or in
the recycle bin. By kind:

- ``full``: every change after T; records created after T are removed for good (their last
  images stay in their purge events), as a rollback to a snapshot removes what it lacks;
- ``entities``: the same for the chosen entity types only;
- ``recover``: only records that existed at T and are gone or in the bin now come back, as
  they were at T; nothing else changes.

As a restore from a snapshot does, it holds the account in maintenance (writes answer 503
``maintenance``; its own go through the services as the maintenance's owner) and takes a
``pre_restore`` snapshot before anything changes; besides, every record changed gets a
``revert`` event with the values it had, so the restore is itself undoable from the history.
What the history cannot give back: record timestamps (``updated_at`` is the restore's) and bin
entries (a record that was in the bin at T goes back into it under a new entry). T must lie
between the oldest kept snapshot and now (``outside_retention``), the window in which a restore
request may be filed."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.maintenance import MaintenanceReason, maintenance_held
from accounts.models import Account, User
from accounts.rules import maintenance_owner
from backups.kinds import RestoreKind
from backups.models import Snapshot
from backups.restore.scope import restore_kind
from backups.services import snapshot_take
from changelog import revert
from core.errors import RuleViolation
from crm.entities import ENTITIES
from history.models import Event, EventType
from history.selectors import RECORD_CHANGES
from history.services import history_record

BUCKETS = ("removed", "restored", "reverted")


def moment_base(*, account: Account, at: datetime) -> Snapshot:
    """The newest kept snapshot taken at or before ``at``: the window's proof that the
    account's history reaches back that far. Refused (400 outside_retention) for a moment in
    the future or before the oldest kept snapshot."""
    if at > timezone.now():
        raise RuleViolation(code="outside_retention", message=_("That moment is in the future."))
    base = (
        Snapshot.objects.for_account(account)
        .filter(status=Snapshot.Status.SUCCEEDED, taken_at__lte=at)
        .exclude(kind=Snapshot.Kind.PRE_RESTORE)
        .order_by("-taken_at")
        .first()
    )
    if base is None:
        raise RuleViolation(
            code="outside_retention",
            message=_(
                "That moment is before the oldest kept snapshot: the account can go back at "
                "most as far as its snapshots are kept."
            ),
        )
    return base


def _changes_after(
    *, account: Account, at: datetime, kind: RestoreKind, entity_types: list[str]
) -> QuerySet:
    """Every change of a record after ``at``, links that another record's delete or restore
    cleared or put back included: going back to a moment undoes them all (a revert of chosen
    events takes those only with their cause), so that with ``entities`` a deal whose company
    was deleted and restored since gets its link back as it was then."""
    events = Event.objects.for_account(account).filter(
        occurred_at__gt=at,
        entity_type__in=ENTITIES,
        entity_id__isnull=False,
        event_type__in=[str(kind) for kind in RECORD_CHANGES],
    )
    if kind == RestoreKind.ENTITIES:
        events = events.filter(entity_type__in=entity_types)
    return events


@dataclass
class MomentPlan:
    at: datetime
    kind: RestoreKind
    base: Snapshot
    event_ids: list[int]
    plan: revert.RevertPlan
    records: list[revert.RecordRevert] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """API.md's preview numbers per entity type: removed (exists now, not at T), restored
        (existed at T, gone or in the bin now), reverted (in both, different now)."""
        counts = {key: dict.fromkeys(BUCKETS, 0) for key in ENTITIES}
        for record in self.records:
            bucket = _bucket(record)
            if bucket is not None:
                counts[record.entity.type.value][bucket] += 1
        return counts


def _bucket(record: revert.RecordRevert) -> str | None:
    action = record.action
    if action in ("bin", "remove"):
        return "removed"
    if action in ("unbin", "recreate"):
        return "restored"
    if action == "update":
        return "reverted"
    return None


def moment_plan(
    *, account: Account, at: datetime, kind: RestoreKind | str, entity_types: list[str] | None
) -> MomentPlan:
    """What restoring the account to ``at`` would change now."""
    kind = restore_kind(kind)
    base = moment_base(account=account, at=at)
    event_ids = _event_ids(account=account, at=at, kind=kind, entity_types=entity_types)
    plan = revert.revert_plan(
        account=account, event_ids=event_ids, remove_gone=kind != RestoreKind.RECOVER
    )
    records = [record for record in plan.records if record.action is not None]
    if kind == RestoreKind.RECOVER:
        records = [r for r in records if r.action in ("unbin", "recreate") and not r.blocked]
        chosen = {event for record in records for event in record.events}
        event_ids = [pk for pk in event_ids if pk in chosen]
    return MomentPlan(at=at, kind=kind, base=base, event_ids=event_ids, plan=plan, records=records)


def _event_ids(
    *, account: Account, at: datetime, kind: RestoreKind, entity_types: list[str] | None
) -> list[int]:
    return list(
        _changes_after(account=account, at=at, kind=kind, entity_types=entity_types or [])
        .order_by("id")
        .values_list("pk", flat=True)
    )


def moment_preview(
    *, account: Account, at: datetime, kind: RestoreKind | str, entity_types: list[str] | None
) -> dict[str, Any]:
    """API.md's preview at a moment: ``{kind, at, base_snapshot, changes}``."""
    planned = moment_plan(account=account, at=at, kind=kind, entity_types=entity_types)
    return {
        "kind": planned.kind.value,
        "at": at,
        "base_snapshot": planned.base.pk,
        "changes": planned.counts(),
    }


@dataclass
class MomentOutcome:
    kind: RestoreKind
    at: datetime
    base_snapshot_id: int
    pre_restore_snapshot_id: int
    counts: dict[str, dict[str, int]]


def moment_restore(
    *,
    account: Account,
    at: datetime,
    kind: RestoreKind | str,
    entity_types: list[str] | None = None,
    actor: User | None = None,
) -> MomentOutcome:
    """Take the account back to ``at`` (module docstring): in maintenance, a ``pre_restore``
    snapshot first, then one transaction that undoes every change after ``at`` in the kind's
    scope, and the account-wide ``rollback`` (``recover``) event naming ``actor`` and the
    moment."""
    kind = restore_kind(kind)
    base = moment_base(account=account, at=at)  # refused before anything is written
    # Maintenance first, claimed atomically, as for a restore from a snapshot: a second
    # restore is refused, and no write slips in between the safety snapshot and the restore
    # (so the snapshot undoes it exactly), nor changes the account while it goes back.
    with maintenance_held(
        account_id=account.pk,
        actor=actor,
        reason=MaintenanceReason.RESTORE_MOMENT,
        details={"at": at.isoformat(), "kind": kind.value},
    ) as claimed:
        if not claimed:
            raise RuleViolation(
                code="invalid_state",
                message=_("The account is already being restored; try again later."),
            )
        with maintenance_owner(account.pk):
            return _moment_restore(
                account=account, at=at, kind=kind, entity_types=entity_types, actor=actor, base=base
            )


def _moment_restore(
    *,
    account: Account,
    at: datetime,
    kind: RestoreKind,
    entity_types: list[str] | None,
    actor: User | None,
    base: Snapshot,
) -> MomentOutcome:
    pre = snapshot_take(account=account, kind=Snapshot.Kind.PRE_RESTORE, actor=actor)
    if pre.status != Snapshot.Status.SUCCEEDED:
        raise RuleViolation(
            code="invalid_state",
            message=_("The safety snapshot before the restore failed: %(error)s")
            % {"error": pre.error},
        )
    # The plan is worked out once, by the apply under its locks; only a recover needs it
    # first, to know which records come back (and nothing else is touched: links they had
    # to records that are gone stay empty, as a recover from a snapshot leaves them).
    only = None
    if kind == RestoreKind.RECOVER:
        planned = moment_plan(account=account, at=at, kind=kind, entity_types=entity_types)
        event_ids = planned.event_ids
        only = {(r.entity.type.value, r.id) for r in planned.records}
    else:
        event_ids = _event_ids(account=account, at=at, kind=kind, entity_types=entity_types)
    applied = revert.revert_apply(
        account=account,
        actor=None,
        event_ids=event_ids,
        force=True,
        remove_gone=kind != RestoreKind.RECOVER,
        only=only,
    )
    done = MomentPlan(
        at=at,
        kind=kind,
        base=base,
        event_ids=event_ids,
        plan=applied,
        records=[r for r in applied.records if r.applied(force=True)],
    )
    counts = done.counts()
    history_record(
        account=account,
        actor=actor,
        event_type=EventType.RECOVER if kind == RestoreKind.RECOVER else EventType.ROLLBACK,
        title=_("Restored to %(at)s") % {"at": at.isoformat()},
        details={
            "kind": kind.value,
            "at": at.isoformat(),
            "base_snapshot": base.pk,
            "pre_restore_snapshot": pre.pk,
            "counts": counts,
        },
    )
    return MomentOutcome(
        kind=kind,
        at=at,
        base_snapshot_id=base.pk,
        pre_restore_snapshot_id=pre.pk,
        counts=counts,
    )

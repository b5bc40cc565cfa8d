"""The restore's orchestration: an account's CRM data back to a snapshot (DESIGN.md, "Backups").

``snapshot_restore`` checks the snapshot (file, checksum, drill; its rows are checked as the
apply reads them, inside its transaction), puts the account in maintenance (its own committed
transaction, through accounts.maintenance: every write answers 503 ``maintenance`` meanwhile; a
second restore is refused), takes a ``pre_restore`` snapshot (so the restore can be undone
exactly), applies everything in ONE transaction (backups.restore.postgresql or .sqlite) and lifts
maintenance whatever happens. History is never restored; one ``rollback`` (``recover``) event
with the counts is written in the restore's transaction, and the maintenance owner writes its
own ``maintenance_on`` and ``maintenance_off`` events around it.

The safety snapshot on PostgreSQL is a delta on the restored snapshot, written by the apply from
what it compares anyway and recorded in the restore's transaction (backups.restore.safety): it
costs what the restore changes. On SQLite it is a whole snapshot taken first."""

from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.maintenance import MaintenanceReason, maintenance_held
from accounts.models import Account, User
from backups.delta import DeltaWriter, snapshot_reader
from backups.kinds import RestoreKind
from backups.models import Snapshot
from backups.restore.bin_links import bin_links_fix
from backups.restore.outcome import Applied, RestoreOutcome, RestoreRefused
from backups.restore.postgresql import apply_postgresql
from backups.restore.record_log import RecordLog
from backups.restore.safety import SafetyCopy, safety_delta_possible
from backups.restore.scope import restore_kind, tables_for
from backups.restore.sqlite import apply_sqlite
from backups.services import snapshot_check, snapshot_take
from backups.snapshot_format import SnapshotInvalid
from history.models import EventType
from history.services import history_record


def snapshot_restore(
    *,
    snapshot: Snapshot,
    kind: RestoreKind | str,
    entity_types: list[str] | None = None,
    actor: User | None = None,
    account: Account | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> RestoreOutcome:
    """Reset the snapshot's account to the snapshot (``full``), or only the chosen entity types
    (``entities``: links to records that do not exist become NULL, activities left without a
    parent are skipped or removed, all reported), or bring back only the rows that are in the
    snapshot and gone now (``recover``: live rows are never changed; links to records that no
    longer exist become NULL). ``account``, when given, must be the snapshot's. Raises
    RestoreRefused (nothing changed) for a snapshot that is not usable; any other error rolls
    the whole restore back, maintenance lifted.

    ``progress(percent, step)`` is called between the steps, outside the restore's
    transaction (so what it writes is seen at once): ``verify``, ``safety_snapshot``,
    ``apply``, ``done``."""
    report = progress or (lambda percent, step: None)
    kind = restore_kind(kind)
    tables = tables_for(kind=kind, entity_types=entity_types)
    if account is not None and account.pk != snapshot.account_id:
        raise RestoreRefused(_("The snapshot belongs to another account."))
    if snapshot.status != Snapshot.Status.SUCCEEDED:
        raise RestoreRefused(_("Only a finished snapshot can be restored."))
    if connection.in_atomic_block:
        raise RestoreRefused("A restore runs its own transactions; do not call it inside one.")
    report(5, "verify")
    try:
        snapshot_check(snapshot=snapshot)  # the rows are checked as the apply reads them
    except SnapshotInvalid as error:
        raise RestoreRefused(error.message) from error

    target = Account.objects.get(pk=snapshot.account_id)
    # Maintenance first, claimed atomically: a second restore of the account is refused, and
    # no write slips in between the safety snapshot and the restore (so it undoes exactly).
    with maintenance_held(
        account_id=target.pk,
        actor=actor,
        reason=MaintenanceReason.RESTORE,
        details={"snapshot": snapshot.pk, "kind": kind.value},
    ) as claimed:
        if not claimed:
            raise RestoreRefused(_("The account is already being restored; try again later."))
        target.maintenance = True
        try:
            report(15, "safety_snapshot")
            # PostgreSQL: the safety copy is a delta written by the apply as it compares
            # (backups.restore.safety). Otherwise a whole snapshot, first.
            safety = None
            if safety_delta_possible(snapshot):
                safety = SafetyCopy(base=snapshot, account=target, actor=actor)
            else:
                pre = snapshot_take(account=target, kind=Snapshot.Kind.PRE_RESTORE, actor=actor)
                if pre.status != Snapshot.Status.SUCCEEDED:
                    raise RestoreRefused(
                        _("The safety snapshot before the restore failed: %(error)s")
                        % {"error": pre.error}
                    )
            report(40, "apply")
            try:
                with transaction.atomic():
                    log = RecordLog(
                        account=target,
                        actor=actor,
                        event_type=(
                            EventType.RECOVER if kind == RestoreKind.RECOVER else EventType.ROLLBACK
                        ),
                        snapshot_id=snapshot.pk,
                        occurred_at=timezone.now(),
                    )
                    applied = _apply(
                        snapshot=snapshot,
                        account_id=target.pk,
                        kind=kind,
                        tables=tables,
                        safety=safety.begin() if safety else None,
                        log=log,
                    ).ordered()
                    if safety is not None:
                        pre = safety.store()
                    history_record(
                        account=target,
                        actor=actor,
                        event_type=log.event_type,
                        occurred_at=log.occurred_at,
                        title=f"Snapshot #{snapshot.pk}",
                        details={
                            "kind": kind.value,
                            "entity_types": (
                                sorted(entity_types or []) if kind == RestoreKind.ENTITIES else []
                            ),
                            "snapshot": snapshot.pk,
                            "pre_restore_snapshot": pre.pk,
                            "counts": applied.counts,
                            "links_nulled": applied.links_nulled,
                            "skipped": applied.skipped,
                        },
                    )
            except BaseException as error:
                if safety is not None:
                    safety.discard()
                if isinstance(error, SnapshotInvalid):  # read back wrong: all rolled back
                    raise RestoreRefused(error.message) from error
                raise
            finally:
                if safety is not None:
                    safety.close()
        finally:
            target.maintenance = False
    report(100, "done")
    return RestoreOutcome(
        kind=kind,
        snapshot_id=snapshot.pk,
        pre_restore_snapshot_id=pre.pk,
        counts=applied.counts,
        links_nulled=applied.links_nulled,
        skipped=applied.skipped,
    )


def _apply(
    *,
    snapshot: Snapshot,
    account_id: int,
    kind: RestoreKind,
    tables: set[str],
    safety: DeltaWriter | None,
    log: RecordLog,
) -> Applied:
    with snapshot_reader(snapshot) as reader:
        if connection.vendor == "postgresql":
            applied = apply_postgresql(
                reader=reader,
                account_id=account_id,
                kind=kind,
                tables=tables,
                safety=safety,
                log=log,
            )
        else:
            applied = apply_sqlite(
                reader=reader, account_id=account_id, kind=kind, tables=tables, log=log
            )
    if kind in (RestoreKind.ENTITIES, RestoreKind.RECOVER):
        bin_links_fix(account_id=account_id, log=log, applied=applied)
    return applied

"""Restore drills: a snapshot is trusted once proven (DESIGN.md, "Restore drills").

The quick drill reads the file back whole (checksum, format, every section) and compares each
table's rows with the digests read from the database inside the snapshot's own transaction
(backups.digests). The full drill restores the file through the real restore code into scratch
tables and compares what it wrote with the same digests: for every ``pre_restore`` snapshot,
and for each account's nightly one once a week (``drill_level``). Beat sends the drills due
every few minutes (``drills_due``), so each snapshot is drilled within the hour it was taken;
``manage.py verify_snapshot [--full]`` runs one now.

A drill that fails marks the snapshot: it is never offered for a restore again and is refused
for restores and exports (``snapshot_invalid``), the admin sees it on the Backups page and in
the API, and the operators get an ERROR log line and a mail (ADMINS). A drill that cannot run
(the database is down) leaves the snapshot pending: the next sweep tries again."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import mail_admins
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from backups.delta import snapshot_reader
from backups.digests import METHOD_LINES, METHOD_ROWS, section_digest
from backups.models import Snapshot
from backups.snapshot_format import TABLES_BY_NAME, SnapshotInvalid
from backups.snapshot_reading import Section
from backups.storage import snapshot_storage

logger = logging.getLogger(__name__)

# A drill claimed this long ago and not finished is taken as lost (its worker died).
DRILL_STALE = timedelta(minutes=30)


@dataclass(frozen=True)
class DrillOutcome:
    passed: bool
    level: str
    error: str = ""


def drill_quick(snapshot: Snapshot) -> DrillOutcome:
    """Read the snapshot's file back and compare it with the database's digests."""
    level = Snapshot.DrillLevel.QUICK
    digests = snapshot.digests or {}
    expected = digests.get("tables", {})
    method = digests.get("method", "")
    storage = snapshot_storage()
    if not snapshot.storage_name or not storage.exists(snapshot.storage_name):
        return DrillOutcome(False, level, f"The file of snapshot #{snapshot.pk} is missing.")
    try:
        with snapshot_reader(snapshot) as reader, transaction.atomic():
            if reader.counts != snapshot.counts:
                return DrillOutcome(
                    False,
                    level,
                    f"The file's rows {reader.counts} differ from the record's {snapshot.counts}.",
                )
            for section in reader.sections():
                if method not in (METHOD_ROWS, METHOD_LINES) or not _same_columns(section):
                    # Taken before drills existed (no digests), or before a migration changed
                    # the table: the rows are counted as they are read (the reader checks).
                    sum(1 for _line in section.lines())
                    continue
                found = section_digest(section, method=method, connection=connection)
                if found != expected.get(section.table):
                    return DrillOutcome(
                        False,
                        level,
                        f"{section.table}: the file's rows differ from what the database held "
                        f"when the snapshot was taken (digest {found}, expected "
                        f"{expected.get(section.table)}).",
                    )
    except SnapshotInvalid as error:
        return DrillOutcome(False, level, error.message)
    return DrillOutcome(True, level)


def drill_full(snapshot: Snapshot) -> DrillOutcome:
    """Restore the snapshot through the real restore code into a scratch space, compare what
    it wrote with the database's digests, and drop it. The scratch space is a set of TEMP
    tables named like the real ones, with their columns and no rows: both databases look a
    name up in the temporary schema first, so the restore (and the digests after it) read and
    write them, never the account's data; the transaction is rolled back, which drops them."""
    from backups.digests import database_digests
    from backups.restore import RestoreKind
    from backups.restore.postgresql import apply_postgresql
    from backups.restore.sqlite import apply_sqlite

    level = Snapshot.DrillLevel.FULL
    expected = (snapshot.digests or {}).get("tables")
    if not expected:
        return drill_quick(snapshot)  # taken before drills: nothing to compare the rows with
    storage = snapshot_storage()
    if not snapshot.storage_name or not storage.exists(snapshot.storage_name):
        return DrillOutcome(False, level, f"The file of snapshot #{snapshot.pk} is missing.")
    try:
        with snapshot_reader(snapshot) as reader, transaction.atomic():
            _scratch_tables()
            apply = apply_postgresql if connection.vendor == "postgresql" else apply_sqlite
            apply(
                reader=reader,
                account_id=snapshot.account_id,
                kind=RestoreKind.FULL,
                tables=set(TABLES_BY_NAME),
            )
            with connection.cursor() as cursor:
                found = database_digests(cursor, connection, snapshot.account_id, snapshot.counts)
            transaction.set_rollback(True)  # the scratch tables go with the transaction
    except SnapshotInvalid as error:
        return DrillOutcome(False, level, error.message)
    for table, digest in expected.items():
        if found["tables"].get(table) != digest:
            return DrillOutcome(
                False,
                level,
                f"{table}: the rows restored from the file differ from what the database held "
                f"when the snapshot was taken (digest {found['tables'].get(table)}, expected "
                f"{digest}).",
            )
    return DrillOutcome(True, level)


def _scratch_tables() -> None:
    """TEMP tables named like the snapshot's tables, same columns, no rows, no constraints."""
    with connection.cursor() as cursor:
        for table in TABLES_BY_NAME.values():
            name = connection.ops.quote_name(table.name)
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"CREATE TEMP TABLE {name} (LIKE {_schema(cursor)}.{name}) ON COMMIT DROP"
                )
            else:
                cursor.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM main.{name} WHERE 0")  # noqa: S608


def _schema(cursor: Any) -> str:
    cursor.execute("SELECT quote_ident(current_schema())")
    return cursor.fetchone()[0]


def _same_columns(section: Section) -> bool:
    table = TABLES_BY_NAME.get(section.table)
    return table is not None and section.columns == table.columns


def drill_claim(*, snapshot_id: int, now: datetime | None = None) -> bool:
    """Claim a due drill (one conditional UPDATE): a second sweep or delivery finds it taken."""
    now = now or timezone.now()
    return bool(
        Snapshot.objects.filter(
            Q(drill_started_at__isnull=True) | Q(drill_started_at__lt=now - DRILL_STALE),
            pk=snapshot_id,
            status=Snapshot.Status.SUCCEEDED,
            drill_status=Snapshot.Drill.PENDING,
        ).update(drill_started_at=now)
    )


DRILL_FIELDS = ("drill_status", "drill_level", "drill_checked_at", "drill_error", "verified_at")


def drill_level(snapshot: Snapshot) -> str:
    """The full drill for every ``pre_restore`` snapshot, and for each account's nightly one
    on one day of the week (its id modulo 7: a seventh of the accounts a night, so the load is
    spread and every account is fully drilled weekly); the quick one otherwise."""
    if snapshot.kind == Snapshot.Kind.PRE_RESTORE:
        return Snapshot.DrillLevel.FULL
    if snapshot.kind == Snapshot.Kind.NIGHTLY and snapshot.account_id % 7 == snapshot.day.weekday():
        return Snapshot.DrillLevel.FULL
    return Snapshot.DrillLevel.QUICK


def snapshot_drill(*, snapshot: Snapshot, level: str | None = None) -> DrillOutcome:
    """Drill ``snapshot`` now (``level``: quick or full; default drill_level's choice) and
    record what it found (on its row, locked and read again: it may have expired meanwhile). A
    failure alerts the operators."""
    level = level or drill_level(snapshot)
    outcome = drill_full(snapshot) if level == Snapshot.DrillLevel.FULL else drill_quick(snapshot)
    now = timezone.now()
    with transaction.atomic():
        row = (
            Snapshot.objects.select_for_update()
            .filter(pk=snapshot.pk, status=Snapshot.Status.SUCCEEDED)
            .first()
        )
        if row is None:
            return outcome  # expired or deleted while it was drilled: nothing to record
        row.drill_status = Snapshot.Drill.PASSED if outcome.passed else Snapshot.Drill.FAILED
        row.drill_level = outcome.level
        row.drill_checked_at = now
        row.drill_error = outcome.error[:2000]
        row.verified_at = now if outcome.passed else None
        row.drill_started_at = None
        row.save(update_fields=[*DRILL_FIELDS, "drill_started_at"])
    for name in DRILL_FIELDS:
        setattr(snapshot, name, getattr(row, name))
    if not outcome.passed:
        _operators_alert(row, outcome)
    return outcome


def _operators_alert(snapshot: Snapshot, outcome: DrillOutcome) -> None:
    subject = f"Snapshot #{snapshot.pk} of account {snapshot.account_id} failed its drill"
    logger.error("%s: %s", subject, outcome.error)
    mail_admins(
        subject,
        f"{subject} ({outcome.level}).\n\n{outcome.error}\n\n"
        "It is refused for restores and exports. The account's next snapshot gets its own "
        "file; `manage.py verify_snapshot` drills again; docs/backup-verification.md.",
        fail_silently=True,
    )


def drill_run(*, snapshot_id: int) -> str:
    """The task's work: claim the drill, run it. ``passed``, ``failed``, ``skipped`` (not due,
    or claimed by another run) or ``error`` (it could not run: left pending for the next
    sweep)."""
    if not drill_claim(snapshot_id=snapshot_id):
        return "skipped"
    snapshot = Snapshot.objects.get(pk=snapshot_id)
    try:
        outcome = snapshot_drill(snapshot=snapshot)
    except Exception:
        logger.exception("snapshot %s: the drill could not run; tried again later", snapshot_id)
        Snapshot.objects.filter(pk=snapshot_id).update(drill_started_at=None)
        return "error"
    return "passed" if outcome.passed else "failed"


def drills_due(*, now: datetime | None = None, limit: int = 10_000) -> list[int]:
    """The finished snapshots not drilled yet (oldest first), not claimed by a live drill."""
    now = now or timezone.now()
    return list(
        Snapshot.objects.filter(
            Q(drill_started_at__isnull=True) | Q(drill_started_at__lt=now - DRILL_STALE),
            status=Snapshot.Status.SUCCEEDED,
            drill_status=Snapshot.Drill.PENDING,
        )
        .order_by("taken_at")
        .values_list("pk", flat=True)[:limit]
    )


def drills_overdue(*, now: datetime | None = None) -> list[Snapshot]:
    """Kept snapshots not proven: failed, or still pending past ``DRILL_DEADLINE_MINUTES``."""
    now = now or timezone.now()
    deadline = now - timedelta(minutes=settings.DRILL_DEADLINE_MINUTES)
    return list(
        Snapshot.objects.select_related("account")
        .filter(status=Snapshot.Status.SUCCEEDED, expires_at__gt=now)
        .filter(
            Q(drill_status=Snapshot.Drill.FAILED)
            | Q(drill_status=Snapshot.Drill.PENDING, taken_at__lt=deadline)
        )
        .order_by("taken_at")
    )

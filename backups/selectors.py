from django.db.models import QuerySet

from accounts.models import Account
from backups.models import Snapshot
from backups.snapshot_format import TABLES_BY_NAME
from core.errors import RuleViolation


def snapshots_for_account(*, account: Account) -> QuerySet[Snapshot]:
    """The account's snapshots, newest first: finished ones, and the ones being taken (a
    snapshot on demand is listed from the moment it is asked for); not the failed ones."""
    return (
        Snapshot.objects.for_account(account)
        .exclude(status=Snapshot.Status.FAILED)
        .order_by("-taken_at", "-id")
    )


def snapshot_get(*, account: Account, snapshot_id: int | str) -> Snapshot:
    """One of the account's snapshots (snapshots_for_account); another account's answers the
    same 404."""
    try:
        return snapshots_for_account(account=account).get(pk=int(snapshot_id))
    except (Snapshot.DoesNotExist, ValueError, TypeError, OverflowError):
        raise RuleViolation(code="not_found", message="No such snapshot in your account.") from None


def entity_counts(snapshot: Snapshot) -> dict[str, int]:
    """The snapshot's rows per entity type (company ... activity, bin_entry)."""
    counts = {}
    for table_name, rows in snapshot.counts.items():
        table = TABLES_BY_NAME.get(table_name)
        if table is not None and table.entity_type:
            counts[table.entity_type] = rows
    return counts

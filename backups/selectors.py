from django.http import Http404

from accounts.models import Account
from backups.models import Snapshot, SnapshotQuerySet


def snapshots_for_account(*, account: Account) -> SnapshotQuerySet:
    """The account's usable snapshots (finished ones), newest first."""
    return Snapshot.objects.for_account(account).usable().order_by("-taken_at", "-id")


def snapshot_get(*, account: Account, snapshot_id) -> Snapshot:
    """One of the account's usable snapshots; another account's answers the same 404."""
    try:
        return snapshots_for_account(account=account).get(pk=int(snapshot_id))
    except (Snapshot.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such snapshot in your account.") from None

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Account
from backups.models import Snapshot


def snapshots_for_account(*, account: Account) -> QuerySet[Snapshot]:
    """The account's usable snapshots (finished ones), newest first."""
    return Snapshot.objects.usable().for_account(account).order_by("-taken_at", "-id")


def snapshot_get(*, account: Account, snapshot_id: int | str) -> Snapshot:
    """One of the account's usable snapshots; another account's answers the same 404."""
    try:
        return snapshots_for_account(account=account).get(pk=int(snapshot_id))
    except (Snapshot.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such snapshot in your account.") from None

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from recyclebin.models import BinEntry


def bin_entries_visible(*, user: User) -> QuerySet:
    """Admins see every entry of their account, employees only what they deleted."""
    entries = BinEntry.objects.for_account(user.account).select_related("deleted_by")
    if not user.is_account_admin:
        entries = entries.filter(deleted_by=user)
    return entries


def bin_entry_get(*, user: User, entry_id) -> BinEntry:
    try:
        return bin_entries_visible(user=user).get(pk=int(entry_id))
    except (BinEntry.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such entry in your recycle bin.") from None

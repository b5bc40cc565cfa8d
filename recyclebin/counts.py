"""How many entries the bin page shows, counted up to a cap ("10,000 or more"). Past the cap
the count is remembered for a while: it reads 10,001 index entries, and after a bulk restore or
purge (until VACUUM) their table rows too, 2 ms then 16 ms at 100,000 entries
(bench/bin_history.py). Only new entries keep a bin past the cap; restores and purges (through
recyclebin.services) forget what was remembered, and a restore of the account from a backup
is seen after OVER_CAP_SECONDS at most."""

from collections.abc import Iterable
from functools import cached_property

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import transaction

from accounts.models import Account, User
from recyclebin.models import BinEntry

COUNT_CAP = 10_000
OVER_CAP_SECONDS = 120


def _key(account_id: int, user_id: int | None) -> str:
    """One count for an account's admins (every entry), one per employee (their own)."""
    return f"bin:over-cap:{account_id}:{user_id or 'all'}"


def bin_entries_counted(*, user: User, entries) -> int:
    """``entries`` (what ``user`` sees of the bin, unfiltered) counted up to COUNT_CAP + 1."""
    key = _key(user.account_id or 0, None if user.is_account_admin else user.pk)
    if cache.get(key):
        return COUNT_CAP + 1
    count = entries_counted(entries)
    if count > COUNT_CAP:
        cache.set(key, True, OVER_CAP_SECONDS)
    return count


def entries_counted(entries) -> int:
    """Any entries counted up to COUNT_CAP + 1: one query tells the number and whether it is
    past the cap. Unordered: any COUNT_CAP + 1 of them count the same, through any index."""
    return entries.order_by()[: COUNT_CAP + 1].count()


def bin_counts_forget(*, account: Account, entries: Iterable[BinEntry]) -> None:
    """``entries`` leave the bin: the account's counts past the cap, and those of the
    employees who deleted them, may no longer hold (forgotten once the change commits)."""
    keys = [_key(account.pk, None)]
    keys += [_key(account.pk, user_id) for user_id in {e.deleted_by_id for e in entries} if user_id]
    transaction.on_commit(lambda: cache.delete_many(keys))


class CappedPaginator(Paginator):
    """Page numbers over at most COUNT_CAP entries, counted with a LIMIT (cheap on any bin).
    ``counted``: the count when it is known already (the unfiltered bin's)."""

    def __init__(self, object_list, per_page, *, counted: int | None = None) -> None:
        super().__init__(object_list, per_page)
        if counted is not None:
            self.counted = counted

    @cached_property
    def counted(self) -> int:
        """The entries, counted up to one more than COUNT_CAP: one query tells both."""
        return entries_counted(self.object_list)

    @property
    def count(self) -> int:
        return min(self.counted, COUNT_CAP)

    @property
    def capped(self) -> bool:
        return self.counted > COUNT_CAP

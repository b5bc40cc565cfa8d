"""``check_integrity``: the database's invariants on a live database, per account (API.md,
"Management commands"; DESIGN.md, "Integrity"). The recycle bin's (recyclebin.integrity) and
the snapshots': every finished snapshot's file exists and matches its row (size, checksum).
Run by operators and, nightly, by beat (``backups.tasks.integrity_check_nightly``), which
reports any breach to the operators."""

import logging
from collections.abc import Iterable, Iterator

from django.core.mail import mail_admins

from accounts.models import Account
from backups.models import Snapshot
from backups.snapshot_reading import file_checksum
from backups.storage import snapshot_storage
from recyclebin.integrity import bin_breaches

logger = logging.getLogger(__name__)


def snapshot_breaches(*, account: Account) -> Iterator[str]:
    """A sentence per finished snapshot whose file is missing or does not match its row."""
    storage = snapshot_storage()
    snapshots = Snapshot.objects.filter(account=account, status=Snapshot.Status.SUCCEEDED)
    for snapshot in snapshots.order_by("pk"):
        name = snapshot.storage_name
        if not name or not storage.exists(name):
            yield f"snapshot #{snapshot.pk}: its file is missing"
            continue
        size = storage.size(name)
        if size != snapshot.size_bytes:
            yield (
                f"snapshot #{snapshot.pk}: the file has {size} bytes, "
                f"its row says {snapshot.size_bytes}"
            )
            continue
        with storage.open(name, "rb") as fileobj:
            if file_checksum(fileobj) != snapshot.checksum:
                yield f"snapshot #{snapshot.pk}: the file does not match its checksum (damaged)"


def integrity_breaches(*, account: Account) -> list[str]:
    """Every broken invariant of the account, in words (empty: all hold)."""
    return [*bin_breaches(account=account), *snapshot_breaches(account=account)]


def integrity_check(*, accounts: Iterable[Account]) -> dict[str, list[str]]:
    """The breaches per account name, for the accounts that have any."""
    found = {}
    for account in accounts:
        breaches = integrity_breaches(account=account)
        if breaches:
            found[account.name] = breaches
    return found


def integrity_check_report(*, accounts: Iterable[Account]) -> int:
    """The nightly check: each breach logged at ERROR, and one mail to the operators (ADMINS)
    listing them all. Returns how many breaches there are."""
    found = integrity_check(accounts=accounts)
    lines = [f"{name}: {breach}" for name, breaches in found.items() for breach in breaches]
    for line in lines:
        logger.error("integrity: %s", line)
    if lines:
        mail_admins(
            subject=f"Integrity check: {len(lines)} breaches in {len(found)} accounts",
            message="\n".join(lines) + "\n\nRerun: manage.py check_integrity [--account NAME]\n",
        )
    return len(lines)

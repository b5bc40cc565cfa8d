"""The maintenance flag of an account, with one owner. A restore claims it (every write then
answers 503 ``maintenance``) and lifts it when done; the watchdog lifts one whose restore died.
Each change commits at once, in its own transaction, with a history event on the account
saying who, why and for which request or snapshot.

It writes history, so it sits above history's core (the other modules of accounts sit below)."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, User
from history.models import EventType
from history.services import history_record


class MaintenanceReason(models.TextChoices):
    RESTORE = "restore", _("a restore from a snapshot")
    RESTORE_MOMENT = "restore_moment", _("a restore to a moment")
    RESTORE_DONE = "restore_done", _("the restore ended")
    INTERRUPTED = "interrupted", _("the worker running the restore stopped")
    ORPHANED = "orphaned", _("no restore was running any more")


def maintenance_claim(
    *,
    account_id: int,
    actor: User | None,
    reason: MaintenanceReason,
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Put the account in maintenance; False (nothing written) if it already is. The UPDATE
    waits for writes in flight (they hold the account row FOR SHARE, accounts.rules)."""
    return _flag_flip(account_id, actor, on=True, reason=reason, details=details)


def maintenance_lift(
    *,
    account_id: int,
    actor: User | None,
    reason: MaintenanceReason,
    details: Mapping[str, Any] | None = None,
) -> bool:
    """Make the account writable again; False (nothing written) if it was not in maintenance."""
    return _flag_flip(account_id, actor, on=False, reason=reason, details=details)


@contextmanager
def maintenance_held(
    *,
    account_id: int,
    actor: User | None,
    reason: MaintenanceReason,
    details: Mapping[str, Any] | None = None,
) -> Iterator[bool]:
    """A restore's maintenance: claimed for the block and lifted after it (``restore_done``,
    same details) whatever happens. Yields False, and lifts nothing, when the account already
    is in maintenance (another restore runs: the caller refuses)."""
    if not maintenance_claim(account_id=account_id, actor=actor, reason=reason, details=details):
        yield False
        return
    try:
        yield True
    finally:
        maintenance_lift(
            account_id=account_id,
            actor=actor,
            reason=MaintenanceReason.RESTORE_DONE,
            details=details,
        )


def _flag_flip(
    account_id: int,
    actor: User | None,
    *,
    on: bool,
    reason: MaintenanceReason,
    details: Mapping[str, Any] | None,
) -> bool:
    """The flag from ``not on`` to ``on`` with its event, or nothing if it already was."""
    with transaction.atomic():
        flipped = Account.objects.filter(pk=account_id, maintenance=not on).update(maintenance=on)
        if flipped:
            history_record(
                account=Account(pk=account_id),
                actor=actor,
                event_type=EventType.MAINTENANCE_ON if on else EventType.MAINTENANCE_OFF,
                details={"reason": reason.value, **(details or {})},
            )
    return bool(flipped)

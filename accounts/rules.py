"""The account rules every app checks (plan, role, maintenance); they raise
core.errors.RuleViolation."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature, plan_has
from core.errors import RuleViolation


def plan_require(*, account: Account, feature: Feature) -> None:
    if not plan_has(account.plan, feature):
        raise RuleViolation(
            code="plan_not_eligible",
            message=_("Your plan (%(plan)s) does not include this. See the pricing page.")
            % {"plan": account.get_plan_display()},
        )


def admin_require(*, user: User) -> None:
    if not user.is_account_admin:
        raise RuleViolation(code="admin_only", message=_("Only account admins may do this."))


def account_writable_require(*, account: Account) -> None:
    """Writes wait while the account is in maintenance (a rollback is running).

    The flag is read again from the database, never trusted from the ``account`` loaded at the
    start of the request, and on PostgreSQL ``FOR SHARE``: the lock lasts until the write's
    transaction ends, and the restore's claim (an UPDATE of this row, backups.restore) waits
    for it. So a write either commits before maintenance starts, and the safety snapshot
    holds it, or sees maintenance and is refused; none lands between the safety snapshot and
    the restore, to be undone by it without a trace. Writers of one account do not wait for
    each other (shared locks)."""
    account.maintenance = _maintenance_read(account.pk)
    if account.maintenance and account.pk not in _OWNED.get():
        raise RuleViolation(
            code="maintenance",
            message=_(
                "This account is being restored from a backup. Changes are paused; "
                "please try again in a minute."
            ),
        )


# The accounts whose maintenance this thread (this context) holds: see maintenance_owner.
_OWNED: ContextVar[frozenset[int]] = ContextVar("maintenance_owned", default=frozenset())


@contextmanager
def maintenance_owner(account_id: int) -> Iterator[None]:
    """Inside, the account's writes pass account_writable_require although it is in
    maintenance: for the restore that claimed the maintenance (accounts.maintenance) and changes
    the account through the services everyone else uses (a restore to a moment reverts through
    the bin's and the change log's). Every other thread still waits."""
    token = _OWNED.set(_OWNED.get() | {account_id})
    try:
        yield
    finally:
        _OWNED.reset(token)


def _maintenance_read(account_id: int) -> bool:
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        table = connection.ops.quote_name(Account._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT maintenance FROM {table} WHERE id = %s FOR SHARE",  # noqa: S608 - a model's table
                [account_id],
            )
            row = cursor.fetchone()
    else:
        row = Account.objects.filter(pk=account_id).values_list("maintenance").first()
    return bool(row and row[0])

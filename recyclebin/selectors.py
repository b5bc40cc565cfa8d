"""Reads of the recycle bin, always for the caller's account: admins see every entry and job of
their account, employees only their own. Another account's id answers "not found", exactly as a
missing one (RuleViolation ``not_found``: the API's and the pages' 404)."""

from typing import Any, cast

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Account, User
from core.errors import RuleViolation
from recyclebin.models import BinEntry, RestoreJob


def bin_entries_visible(*, user: User) -> QuerySet[BinEntry]:
    """Admins see every entry of their account, employees only what they deleted."""
    account = cast(Account, user.account)  # a member's: the pages and the API let only them in
    entries = BinEntry.objects.for_account(account).select_related("deleted_by")
    if not user.is_account_admin:
        entries = entries.filter(deleted_by=user)
    return entries


def bin_entry_get(*, user: User, entry_id: Any) -> BinEntry:
    """``entry_id`` as given (a URL's text, a number); anything else answers "not found"."""
    try:
        return bin_entries_visible(user=user).get(pk=int(entry_id))
    except (BinEntry.DoesNotExist, ValueError, TypeError, OverflowError):
        raise RuleViolation(
            code="not_found", message="No such entry in your recycle bin."
        ) from None


def restore_jobs_visible(*, user: User) -> QuerySet[RestoreJob]:
    """As the entries: admins see every restore job of their account, employees their own.
    Without the captured entry ids (up to 100,000 of them), which only the worker reads."""
    jobs = (
        RestoreJob.objects.for_account(cast(Account, user.account))
        .defer("entry_ids")
        .select_related("requested_by")
    )
    if not user.is_account_admin:
        jobs = jobs.filter(requested_by=user)
    return jobs


def restore_job_get(*, user: User, job_id: Any) -> RestoreJob:
    try:
        return restore_jobs_visible(user=user).get(pk=int(job_id))
    except (RestoreJob.DoesNotExist, ValueError, TypeError, OverflowError):
        raise RuleViolation(code="not_found", message="No such restore job.") from None


def restore_job_active(*, user: User) -> RestoreJob | None:
    """The account's queued or running job, if the user may see it. Asked on every view of
    the bin: whether the account has one is asked in plain SQL first (the
    ``restorejob_one_active_per_account`` index; the ORM took longer to build the query than
    the database to answer it), the job read only then."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {RestoreJob._meta.db_table} "  # noqa: S608 - the model's names
            "WHERE account_id = %s AND status IN (%s, %s) LIMIT 1",
            [user.account_id, *(str(status) for status in RestoreJob.ACTIVE_STATUSES)],
        )
        if cursor.fetchone() is None:
            return None
    return restore_jobs_visible(user=user).filter(status__in=RestoreJob.ACTIVE_STATUSES).first()

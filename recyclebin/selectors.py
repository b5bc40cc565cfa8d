from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from recyclebin.models import BinEntry, RestoreJob


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


def restore_jobs_visible(*, user: User) -> QuerySet:
    """As the entries: admins see every restore job of their account, employees their own.
    Without the captured entry ids (up to 100,000 of them), which only the worker reads."""
    jobs = (
        RestoreJob.objects.for_account(user.account)
        .defer("entry_ids")
        .select_related("requested_by")
    )
    if not user.is_account_admin:
        jobs = jobs.filter(requested_by=user)
    return jobs


def restore_job_get(*, user: User, job_id) -> RestoreJob:
    try:
        return restore_jobs_visible(user=user).get(pk=int(job_id))
    except (RestoreJob.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such restore job.") from None


def restore_job_active(*, user: User) -> RestoreJob | None:
    """The account's queued or running job, if the user may see it."""
    return restore_jobs_visible(user=user).filter(status__in=RestoreJob.ACTIVE_STATUSES).first()

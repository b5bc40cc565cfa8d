"""Restore jobs in the worker (recyclebin.tasks): the job's run and the watchdog. A job is
created by recyclebin.services (``restore_job_create``: rules checked, entries captured, task
sent on commit); here a worker claims it (core.jobs: one conditional UPDATE, so a second
delivery does nothing), restores its entries chunk by chunk through ``services.bin_restore``
(one transaction each, the rules checked again each time), and reports progress to the job's
row, its heartbeat. The watchdog fails a job whose worker died and sends again the task of one
still queued."""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from core.errors import RuleViolation
from core.jobs import job_claim, job_heartbeat, jobs_resend, jobs_stale
from core.text import grouped
from recyclebin import services
from recyclebin.conf import bin_setting
from recyclebin.models import BinEntry, RestoreJob

logger = logging.getLogger(__name__)

Status = RestoreJob.Status


class _JobStopped(Exception):
    """The job is no longer ``running`` (the watchdog gave up on it): stop, change nothing."""


class _JobRefused(Exception):
    """A chunk may not be restored: the reason, for the job's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def restore_job_run(*, job_id: int) -> str:
    """Run a queued job. Claims it first (queued -> running, one conditional UPDATE): a second
    delivery of the task, or a second worker, finds it claimed and does nothing. Then restores
    its entries chunk by chunk (BIN_RESTORE_JOB_CHUNK, one transaction each, through
    bin_restore), the rules checked again for each chunk; entries restored or purged meanwhile
    are skipped. Returns ``completed``, ``failed`` or ``skipped``."""
    now = timezone.now()
    if not job_claim(
        jobs=RestoreJob,
        pk=job_id,
        from_status=Status.QUEUED,
        to_status=Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
    ):
        logger.info("restore job %s: not queued (a repeated delivery?), skipped", job_id)
        return "skipped"
    job = RestoreJob.objects.get(pk=job_id)
    size = max(1, bin_setting("BIN_RESTORE_JOB_CHUNK"))
    restored: set[int] = set()
    try:
        for chunk in _chunks(job.entry_ids, size):
            _restore_job_chunk(job=job, chunk=chunk, restored=restored)
    except _JobStopped:
        logger.warning("restore job %s: no longer running, stopped", job_id)
        return "skipped"
    except _JobRefused as refused:
        _job_failed(job_id=job_id, reason=refused.reason)
        return "failed"
    except Exception as error:
        logger.exception("restore job %s failed", job_id)
        _job_failed(
            job_id=job_id,
            reason=_("The restore stopped with an error (%(error)s).")
            % {"error": f"{type(error).__name__}: {error}"[:300]},
        )
        return "failed"
    now = timezone.now()
    job_claim(
        jobs=RestoreJob,
        pk=job_id,
        from_status=Status.RUNNING,
        to_status=Status.COMPLETED,
        finished_at=now,
        heartbeat_at=now,
    )
    return "completed"


def _restore_job_chunk(*, job: RestoreJob, chunk: list[int], restored: set[int]) -> None:
    """Restore one chunk of the job in one transaction, with its progress. ``restored``: the
    entries this job restored so far (with ``together``, linked ones from later chunks too)."""
    with transaction.atomic():
        # Also locks the job's row: the watchdog cannot fail the job while a chunk commits.
        if not job_heartbeat(jobs=RestoreJob, pk=job.pk, status=Status.RUNNING):
            raise _JobStopped
        # Loaded afresh for every chunk: a plan, a role or maintenance may change meanwhile.
        account = Account.objects.get(pk=job.account_id)
        actor = _job_actor(job=job, account=account)
        present = list(
            BinEntry.objects.for_account(account)
            .select_for_update()
            .filter(pk__in=chunk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        newly: set[int] = set()
        if present:
            try:
                result = services.bin_restore(
                    account=account, entry_ids=present, actor=actor, together=job.together
                )
            except RuleViolation as violation:
                if violation.code != "not_found":
                    raise _JobRefused(violation.message) from None
                raise _JobRefused(
                    _(
                        "Some of the linked entries were deleted by someone else, so "
                        "%(user)s cannot restore them. An account admin can restore them "
                        "together."
                    )
                    % {"user": actor.username}
                ) from None
            newly = set(result.entries) - restored
        skipped = sum(1 for pk in chunk if pk not in present and pk not in restored)
        restored.update(newly)
        RestoreJob.objects.filter(pk=job.pk).update(
            done=F("done") + len(chunk),
            restored=F("restored") + len(newly),
            skipped=F("skipped") + skipped,
            heartbeat_at=timezone.now(),
        )


def _job_actor(*, job: RestoreJob, account: Account) -> User:
    """Who the job restores as: the user who started it, still an active member of the account
    (a removed or deactivated user's job stops)."""
    actor = None
    if job.requested_by_id is not None:  # None: that user was deleted
        actor = (
            User.objects.filter(pk=job.requested_by_id, is_active=True, account=account)
            .select_related("account")
            .first()
        )
    if actor is None:
        raise _JobRefused(
            _("The user who started this restore can no longer restore (removed or deactivated).")
        )
    return actor


def _job_failed(*, job_id: int, reason: str, stale_before: datetime | None = None) -> bool:
    """End a running job as failed, its error saying why and that the chunks done stay done.
    ``stale_before``: only if no chunk finished since then (the watchdog). Returns whether it
    did."""
    running = RestoreJob.objects.filter(pk=job_id, status=Status.RUNNING)
    if stale_before is not None:
        running = running.filter(heartbeat_at__lt=stale_before)
    with transaction.atomic():
        job = running.select_for_update().only("pk", "total", "done", "restored").first()
        if job is None:
            return False
        left = _(
            "It stopped after %(done)s of %(total)s entries: the %(restored)s entries restored "
            "stay restored, the rest are still in the recycle bin. Start the restore again to "
            "bring them back."
        ) % {
            "done": grouped(job.done),
            "total": grouped(job.total),
            "restored": grouped(job.restored),
        }
        now = timezone.now()
        running.filter(pk=job.pk).update(
            status=Status.FAILED,
            error=f"{reason} {left}"[:2000],
            finished_at=now,
            heartbeat_at=now,
        )
    return True


def restore_jobs_watchdog() -> dict[str, int]:
    """Every minute (config/schedule.py), across accounts: a running job with no chunk
    finished for BIN_RESTORE_JOB_STALE_MINUTES lost its worker (a redelivery of its task finds
    it claimed and does nothing), so it is failed and the account may start another; a job
    still queued after BIN_RESTORE_JOB_RESEND_MINUTES has its task sent again."""
    now = timezone.now()
    stale_before = now - timedelta(minutes=bin_setting("BIN_RESTORE_JOB_STALE_MINUTES"))
    failed = 0
    for job_id in jobs_stale(jobs=RestoreJob, status=Status.RUNNING, before=stale_before):
        failed += _job_failed(
            job_id=job_id,
            reason=_("The worker running this restore stopped."),
            stale_before=stale_before,
        )
    resent = jobs_resend(
        jobs=RestoreJob,
        status=Status.QUEUED,
        before=now - timedelta(minutes=bin_setting("BIN_RESTORE_JOB_RESEND_MINUTES")),
        send=lambda job_id: services.restore_job_send(job_id=job_id),
        now=now,
    )
    return {"failed": failed, "resent": len(resent)}

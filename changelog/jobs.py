"""Starting a revert, inline or as a job, and running the job in a worker.

``revert_start`` decides: a selection touching at most REVERT_JOB_THRESHOLD records is reverted
inside the request; a bigger one becomes a RevertJob (its rules checked and its events captured
now, its task sent on commit), which a worker claims (core.jobs: one conditional UPDATE, so a
second delivery does nothing) and applies in one transaction, its progress written by a
heartbeat thread on its own connection. The watchdog fails a job whose worker died (its
transaction rolled back: nothing changed) and sends again the task of one still queued."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import account_writable_require, plan_require
from changelog import revert
from changelog.models import RevertJob
from core.errors import RuleViolation
from core.jobs import job_claim, job_heartbeat_thread, jobs_resend, jobs_stale, task_send
from history.models import Event

logger = logging.getLogger(__name__)

Status = RevertJob.Status


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def records_count(*, account: Account, event_ids: list[int]) -> int:
    """How many records the selected events are on."""
    records: set[tuple[str, int]] = set()
    for batch in revert.batches(event_ids):
        rows = Event.objects.for_account(account).filter(pk__in=batch)
        records.update(rows.values_list("entity_type", "entity_id"))
    return len(records)


def revert_start(
    *, account: Account, actor: User, event_ids: list[int], force: bool = False
) -> revert.RevertPlan | RevertJob:
    """Revert now (the plan as applied), or create the job that will (its task sent on
    commit) when the selection touches more than REVERT_JOB_THRESHOLD records."""
    if records_count(account=account, event_ids=event_ids) <= revert.revert_job_threshold():
        return revert.revert_apply(account=account, actor=actor, event_ids=event_ids, force=force)
    plan_require(account=account, feature=Feature.REVERT)
    if force and not actor.is_account_admin:
        raise RuleViolation(
            code="admin_only", message=_("Only account admins may overwrite later changes.")
        )
    account_writable_require(account=account)
    try:
        with transaction.atomic():
            job = RevertJob.objects.create(
                account=account,
                requested_by=actor,
                events=event_ids,
                force=force,
                heartbeat_at=timezone.now(),
            )
    except IntegrityError:  # revertjob_one_active_per_account
        raise RuleViolation(
            code="invalid_state",
            message=_(
                "Another undo is already running for this account. Wait until it has "
                "finished, then start this one."
            ),
        ) from None
    job_id = job.pk
    transaction.on_commit(lambda: revert_job_send(job_id=job_id))
    return job


def revert_job_send(*, job_id: int) -> None:
    from changelog.tasks import revert_job_run  # the tasks module imports this one

    task_send(revert_job_run, job_id)


def revert_job_run(*, job_id: int) -> str:
    """Run a queued job: claim it, apply its revert in one transaction while a thread writes
    its heartbeat and progress. Returns ``completed``, ``failed`` or ``skipped``."""
    now = timezone.now()
    if not job_claim(
        jobs=RevertJob,
        pk=job_id,
        from_status=Status.QUEUED,
        to_status=Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
    ):
        logger.info("revert job %s: not queued (a repeated delivery?), skipped", job_id)
        return "skipped"
    job = RevertJob.objects.get(pk=job_id)
    progress = {"progress": 0}
    try:
        account = Account.objects.get(pk=job.account_id)
        actor = (
            User.objects.filter(pk=job.requested_by_id or 0, is_active=True, account=account)
            .select_related("account")
            .first()
        )
        if actor is None:
            raise RuleViolation(
                code="invalid_state",
                message=_("The user who started this undo can no longer make changes."),
            )
        with job_heartbeat_thread(
            jobs=RevertJob,
            pk=job_id,
            status=Status.RUNNING,
            interval=_setting("REVERT_JOB_HEARTBEAT_SECONDS", 10),
            label="revert job",
            values=lambda: dict(progress),
        ):
            plan = revert.revert_apply(
                account=account,
                actor=actor,
                event_ids=list(job.events),
                force=job.force,
                progress=lambda percent: progress.update(progress=percent),
            )
    except RuleViolation as refused:
        _failed(job_id=job_id, reason=refused.message)
        return "failed"
    except Exception as error:
        logger.exception("revert job %s failed", job_id)
        _failed(
            job_id=job_id,
            reason=_("The undo stopped with an error (%(error)s).")
            % {"error": f"{type(error).__name__}: {error}"[:300]},
        )
        return "failed"
    summary = plan.summary(force=job.force, listed=0)
    summary.pop("changes")
    job_claim(
        jobs=RevertJob,
        pk=job_id,
        from_status=Status.RUNNING,
        to_status=Status.COMPLETED,
        progress=100,
        result=summary,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    return "completed"


def _failed(*, job_id: int, reason: str, stale_before: datetime | None = None) -> bool:
    running = RevertJob.objects.filter(pk=job_id, status=Status.RUNNING)
    if stale_before is not None:
        running = running.filter(heartbeat_at__lt=stale_before)
    now = timezone.now()
    message = _("%(reason)s Nothing was changed: start the undo again.") % {"reason": reason}
    return bool(
        running.update(
            status=Status.FAILED, error=message[:2000], finished_at=now, heartbeat_at=now
        )
    )


def revert_jobs_watchdog() -> dict[str, int]:
    """Every minute: a running job that stopped beating lost its worker (its transaction
    rolled back) and is failed; a job still queued has its task sent again."""
    now = timezone.now()
    stale_before = now - timedelta(minutes=_setting("REVERT_JOB_STALE_MINUTES", 5))
    failed = sum(
        _failed(
            job_id=job_id,
            reason=_("The worker running this undo stopped."),
            stale_before=stale_before,
        )
        for job_id in jobs_stale(jobs=RevertJob, status=Status.RUNNING, before=stale_before)
    )
    resent = jobs_resend(
        jobs=RevertJob,
        status=Status.QUEUED,
        before=now - timedelta(minutes=_setting("REVERT_JOB_RESEND_MINUTES", 10)),
        send=lambda job_id: revert_job_send(job_id=job_id),
        now=now,
    )
    return {"failed": failed, "resent": len(resent)}

"""Thin Celery tasks over changelog.jobs and changelog.alerts; the watchdog and the alerts' detector
are scheduled in config/schedule.py."""

from celery import shared_task
from django.conf import settings

from changelog import alerts, jobs


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=getattr(settings, "LONG_TASK_SOFT_TIME_LIMIT", 2 * 3600),
    time_limit=getattr(settings, "LONG_TASK_TIME_LIMIT", 2 * 3600 + 300),
)
def revert_job_run(job_id: int) -> str:
    """Apply a revert too big for a request, in one transaction; a second delivery finds the
    job claimed and does nothing."""
    return jobs.revert_job_run(job_id=job_id)


@shared_task
def revert_jobs_watchdog() -> dict[str, int]:
    """Every minute: fail jobs whose worker died, send again the tasks of jobs still queued."""
    return jobs.revert_jobs_watchdog()


@shared_task
def alerts_detect() -> int:
    """Every minute: raise an alert for each burst of deletions or changes found."""
    return len(alerts.alerts_detect())

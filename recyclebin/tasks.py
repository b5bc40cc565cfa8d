"""Thin Celery tasks over recyclebin.services and recyclebin.job_worker; scheduled in
config/schedule.py. A restore job may run long: it has the long-work time limits
(LONG_TASK_SOFT_TIME_LIMIT / LONG_TASK_TIME_LIMIT); the others the defaults
(CELERY_TASK_SOFT_TIME_LIMIT / CELERY_TASK_TIME_LIMIT)."""

from celery import shared_task
from django.conf import settings

from recyclebin import job_worker, services


@shared_task
def bin_purge_expired() -> int:
    """Hourly: purge entries past their purge date (BIN_RETENTION_DAYS). Safe to run twice."""
    return services.bin_purge_expired()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=getattr(settings, "LONG_TASK_SOFT_TIME_LIMIT", 2 * 3600),
    time_limit=getattr(settings, "LONG_TASK_TIME_LIMIT", 2 * 3600 + 300),
)
def restore_job_run(job_id: int) -> str:
    """Run a restore job (a bulk restore above BIN_RESTORE_JOB_THRESHOLD). Acknowledged only
    when done, and given back to the broker if its worker dies; a second delivery finds the job
    claimed and does nothing (a job left ``running`` by a dead worker is the watchdog's). At the
    soft time limit the chunk in progress rolls back and the job is marked failed (the chunks
    done stay done)."""
    return job_worker.restore_job_run(job_id=job_id)


@shared_task
def restore_jobs_watchdog() -> dict[str, int]:
    """Every minute: fail jobs whose worker died, send again the tasks of jobs still queued."""
    return job_worker.restore_jobs_watchdog()

"""Thin Celery tasks over recyclebin.services; scheduled in config/schedule.py."""

from celery import shared_task

from recyclebin import services


@shared_task
def bin_purge_expired() -> int:
    """Hourly: purge entries past their purge date (BIN_RETENTION_DAYS). Safe to run twice."""
    return services.bin_purge_expired()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def restore_job_run(job_id: int) -> str:
    """Run a restore job (a bulk restore above BIN_RESTORE_JOB_THRESHOLD). Acknowledged only
    when done, and given back to the broker if its worker dies; a second delivery finds the job
    claimed and does nothing (a job left ``running`` by a dead worker is the watchdog's)."""
    return services.restore_job_run(job_id=job_id)


@shared_task
def restore_jobs_watchdog() -> dict[str, int]:
    """Every minute: fail jobs whose worker died, send again the tasks of jobs still queued."""
    return services.restore_jobs_watchdog()

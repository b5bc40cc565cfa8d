from celery import shared_task

from recyclebin.services import bin_purge_expired as purge_expired


@shared_task
def bin_purge_expired() -> int:
    """Hourly: purge entries past their purge date (BIN_RETENTION_DAYS). Safe to run twice."""
    return purge_expired()

"""Thin Celery tasks over support.services; the watchdog is scheduled in config/schedule.py. A
restore may run long: it has the long-work time limits (LONG_TASK_SOFT_TIME_LIMIT /
LONG_TASK_TIME_LIMIT); the watchdog the defaults (CELERY_TASK_SOFT_TIME_LIMIT /
CELERY_TASK_TIME_LIMIT)."""

from celery import shared_task
from django.conf import settings

from support import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=getattr(settings, "LONG_TASK_SOFT_TIME_LIMIT", 2 * 3600),
    time_limit=getattr(settings, "LONG_TASK_TIME_LIMIT", 2 * 3600 + 300),
)
def restore_request_run(request_id: int) -> str:
    """Run an approved restore request. Acknowledged only when done, and given back to the
    broker if its worker dies; a second delivery finds the request claimed and does nothing
    (a request left ``running`` by a dead worker is the watchdog's). At the soft time limit the
    restore's transaction rolls back and the request is marked failed."""
    return services.request_run(request_id=request_id)


@shared_task
def restore_requests_watchdog() -> dict[str, int]:
    """Every minute: resolve requests and maintenance left behind by a dead worker."""
    return services.requests_watchdog()

"""Thin Celery tasks over support.services; the watchdog is scheduled in config/schedule.py."""

from celery import shared_task

from support import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def restore_request_run(request_id: int) -> str:
    """Run an approved restore request. Acknowledged only when done, and given back to the
    broker if its worker dies; a second delivery finds the request claimed and does nothing
    (a request left ``running`` by a dead worker is the watchdog's)."""
    return services.request_run(request_id=request_id)


@shared_task
def restore_requests_watchdog() -> dict[str, int]:
    """Every minute: resolve requests and maintenance left behind by a dead worker."""
    return services.requests_watchdog()

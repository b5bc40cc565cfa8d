"""Claimed, idempotent background jobs: the machinery every job-shaped row shares (a bin restore
job, a restore request). Domain-agnostic: Django, Celery and the standard library only.

A job is a row with a ``status`` and a last sign of life (``heartbeat_at``). Its task:

- **claims** it first (``job_claim``: one conditional UPDATE, e.g. queued -> running). Only one
  caller wins: a second delivery of the task (acks are late), a second worker or a watchdog
  finds it claimed and does nothing;
- **beats** while it works (``job_heartbeat`` between steps, ``job_heartbeat_thread`` during
  one long step), which also tells it when a watchdog gave up on it (the beat finds it no
  longer running);
- is **sent** once the transaction that queued it commits (``transaction.on_commit``) through
  ``task_send``, which logs a broker that is down instead of raising.

A watchdog (beat) finds the jobs that stopped beating (``jobs_stale``) and sends again the
tasks of jobs still queued (``jobs_resend``): a lost message costs a few minutes, never the job.
What a dead job means (failed? its work committed?) is the domain's, not this module's."""

import logging
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from django.db import DatabaseError, connections, models
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)

# The rows of one job model: the model, or a queryset of it.
Jobs = type[models.Model] | models.QuerySet[Any]
# One status, or several.
Statuses = str | Collection[str]


class Task(Protocol):
    """What this module needs of a Celery task."""

    name: str

    def delay(self, *args: Any, **kwargs: Any) -> Any: ...


def _rows(jobs: Jobs) -> models.QuerySet[Any]:
    if isinstance(jobs, models.QuerySet):
        return jobs
    return jobs._default_manager.all()


def _in_status(rows: models.QuerySet[Any], status: Statuses) -> models.QuerySet[Any]:
    if isinstance(status, str):
        return rows.filter(status=status)
    return rows.filter(status__in=list(status))


def job_claim(
    *,
    jobs: Jobs,
    pk: int,
    from_status: Statuses,
    to_status: str | None = None,
    **values: Any,
) -> bool:
    """One conditional UPDATE: job ``pk`` goes from ``from_status`` (one or several) to
    ``to_status`` (None: it stays, only ``values`` are written), with ``values``, if it is
    still there. True: this caller won; False: someone else was first, nothing was written."""
    if to_status is not None:
        values["status"] = to_status
    return bool(_in_status(_rows(jobs).filter(pk=pk), from_status).update(**values))


def job_heartbeat(
    *,
    jobs: Jobs,
    pk: int,
    status: Statuses,
    at: datetime | None = None,
    field: str = "heartbeat_at",
    **values: Any,
) -> bool:
    """A sign of life: ``field`` set to ``at`` (default now), with ``values`` (progress), if the
    job is still in ``status``. False: it is not (it ended, or a watchdog gave up on it): the
    caller stops. Inside a transaction the UPDATE also locks the job's row until it commits."""
    values[field] = at or timezone.now()
    return job_claim(jobs=jobs, pk=pk, from_status=status, **values)


@contextmanager
def job_heartbeat_thread(
    *,
    jobs: Jobs,
    pk: int,
    status: Statuses,
    interval: float,
    label: str = "job",
    field: str = "heartbeat_at",
    values: Callable[[], dict[str, Any]] | None = None,
) -> Iterator[None]:
    """While the block runs, a thread beats every ``interval`` seconds on its own database
    connection: one long step (a restore in one transaction) stays visibly alive, and a killed
    worker stops beating. ``values``: what else each beat writes (the step's progress, which
    its own transaction cannot show before it commits). ``interval`` 0 or less: no thread. A
    beat that cannot be written (SQLite: the step holds the write lock) is logged and
    skipped."""
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    extra = values() if values is not None else {}
                    job_heartbeat(jobs=jobs, pk=pk, status=status, field=field, **extra)
                except DatabaseError:
                    logger.warning("%s %s: heartbeat not written", label, pk)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name=f"{label.replace(' ', '-')}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def jobs_stale(
    *,
    jobs: Jobs,
    status: Statuses,
    before: datetime,
    field: str = "heartbeat_at",
    fallback: str | None = None,
) -> list[int]:
    """The ids of the jobs in ``status`` whose last sign of life (``field``; where it is empty,
    ``fallback``) is older than ``before``: a running one lost its worker, a queued one its
    task. The caller resolves each one under a lock (it may beat again meanwhile)."""
    sign = Q(**{f"{field}__lt": before})
    if fallback is not None:
        sign |= Q(**{f"{field}__isnull": True, f"{fallback}__lt": before})
    return list(_in_status(_rows(jobs), status).filter(sign).values_list("pk", flat=True))


def jobs_resend(
    *,
    jobs: Jobs,
    status: Statuses,
    before: datetime,
    send: Callable[[int], object],
    field: str = "heartbeat_at",
    now: datetime | None = None,
) -> list[int]:
    """Send again the tasks of the jobs still in ``status`` (queued) whose ``field`` is older
    than ``before`` (their message was lost, or the broker was down): each is touched first
    (``field`` = now, one conditional UPDATE, so two watchdogs at once send it once), then
    ``send(pk)``. A duplicate delivery finds the job claimed and does nothing. Returns the ids
    sent."""
    now = now or timezone.now()
    resent = []
    touched: dict[str, Any] = {field: now}
    for pk in jobs_stale(jobs=jobs, status=status, before=before, field=field):
        if job_claim(jobs=jobs, pk=pk, from_status=status, **touched):
            send(pk)
            resent.append(pk)
    return resent


def task_send(task: Task, *args: Any) -> bool:
    """``task.delay(*args)`` (ids: tasks load what they need). A broker that is down is logged,
    not raised: what queued the job has happened already, and the watchdog sends it again.
    Call it outside a transaction, or from ``transaction.on_commit``. Returns whether it was
    sent."""
    try:
        task.delay(*args)
    except Exception:
        logger.exception("%s%r: could not send the task", task.name, args)
        return False
    return True

"""An approved restore request runs: its task is sent once the approval commits
(``task_send``), a worker claims and runs it (``request_run``, the task's body), and the
watchdog (beat, ``requests_watchdog``) resolves what a dead worker left behind. The claim,
heartbeat, staleness and resending are core.jobs'; what a dead restore means is decided here.

    queued -> running -> completed | failed"""

import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.maintenance import MaintenanceReason, maintenance_lift
from accounts.models import Account
from backups.moment import moment_restore
from backups.restore import RestoreRefused, snapshot_restore
from core import jobs
from core.errors import RuleViolation
from crm.entities import ENTITIES
from history.models import Event, EventType
from support import rules
from support.chat_lines import line_make, line_text, ngettext_noop
from support.models import (
    MaintenanceWatch,
    Message,
    NotificationVerb,
    RequestKind,
    RequestStatus,
    RestoreRequest,
    restore_kind_for,
)
from support.services.steps import step_record
from support.subjects import RequestEvent

logger = logging.getLogger(__name__)


def task_send(*, request_id: int) -> None:
    """Send the restore task now (from ``transaction.on_commit``, or the watchdog); a broker
    that is down is logged (the watchdog sends it again)."""
    from support.tasks import restore_request_run  # the tasks module imports this one

    jobs.task_send(restore_request_run, request_id)


# --- The run (the Celery task's body) --------------------------------------------------------


def request_run(*, request_id: int) -> str:
    """Run an approved request's restore. Claims it first (queued -> running, one UPDATE): a
    second delivery of the task, or a second worker, finds it claimed and does nothing.
    Progress and a heartbeat go to the request's row while it runs. Returns what happened:
    ``completed``, ``failed`` or ``skipped``."""
    now = timezone.now()
    claimed = jobs.job_claim(
        jobs=RestoreRequest,
        pk=request_id,
        from_status=RequestStatus.QUEUED,
        to_status=RequestStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress=0,
        step="verify",
        updated_at=now,
    )
    if not claimed:
        logger.info("restore request %s: not queued (a repeated delivery?), skipped", request_id)
        return "skipped"
    request = RestoreRequest.objects.select_related("account", "snapshot", "approved_by").get(
        pk=request_id
    )
    line = line_make(gettext_noop("The restore started."))
    Message.objects.create(
        request=request, is_system=True, body=line_text(line, account=request.account), line=line
    )
    try:
        with jobs.job_heartbeat_thread(
            jobs=RestoreRequest,
            pk=request_id,
            status=RequestStatus.RUNNING,
            interval=settings.SUPPORT_RESTORE_HEARTBEAT_SECONDS,
            label="restore request",
        ):
            if request.restore_to is not None:
                done = _moment_run(request)
            elif request.snapshot is None:
                raise RestoreRefused(_("The proposed snapshot is no longer kept."))
            else:
                done = asdict(
                    snapshot_restore(
                        snapshot=request.snapshot,
                        kind=restore_kind_for(request.kind),
                        entity_types=request.entity_types or None,
                        actor=request.approved_by,
                        account=request.account,
                        progress=lambda percent, step: _progress(request_id, percent, step),
                    )
                )
    except RestoreRefused as refused:
        _failed(request, error=refused.message)
        return "failed"
    except Exception as error:  # the soft time limit (SoftTimeLimitExceeded) too
        logger.exception("restore request %s failed", request_id)
        event = _restore_event(request)
        if event is not None:  # it failed after the restore committed: it did happen
            _completed(request, outcome=_outcome_from_event(event))
            return "completed"
        _failed(
            request,
            error=_(
                "The restore stopped with an error and was rolled back: the account's data "
                "was not changed. (%(error)s)"
            )
            % {"error": f"{type(error).__name__}: {error}"[:500]},
        )
        return "failed"
    _completed(request, outcome=done)
    return "completed"


def _moment_run(request: RestoreRequest) -> dict[str, Any]:
    """A restore to the proposed moment (backups.moment); a refusal as RestoreRefused."""
    at = cast(datetime, request.restore_to)
    _progress(request.pk, 15, "safety_snapshot")
    try:
        done = moment_restore(
            account=request.account,
            at=at,
            kind=request.kind,
            entity_types=request.entity_types or None,
            actor=request.approved_by,
        )
    except RuleViolation as refused:
        raise RestoreRefused(refused.message) from refused
    return {
        "kind": done.kind.value,
        "restore_to": done.at.isoformat(),
        "snapshot_id": done.base_snapshot_id,
        "pre_restore_snapshot_id": done.pre_restore_snapshot_id,
        "counts": done.counts,
    }


def _progress(request_id: int, percent: int, step: str) -> None:
    """The restore's progress callback: never raises (a restore is not stopped by this)."""
    try:
        now = timezone.now()
        jobs.job_heartbeat(
            jobs=RestoreRequest,
            pk=request_id,
            status=RequestStatus.RUNNING,
            at=now,
            progress=max(0, min(100, int(percent))),
            step=step[:32],
            updated_at=now,
        )
    except Exception:
        logger.exception("restore request %s: could not record progress", request_id)


def _completed(request: RestoreRequest, *, outcome: dict[str, Any]) -> None:
    now = timezone.now()
    with transaction.atomic():
        if not jobs.job_claim(
            jobs=RestoreRequest,
            pk=request.pk,
            from_status=(RequestStatus.RUNNING, RequestStatus.FAILED),
            to_status=RequestStatus.COMPLETED,
            progress=100,
            step="done",
            error="",
            completed_at=now,
            outcome=outcome,
            updated_at=now,
        ):
            return
        request.refresh_from_db()
        step_record(
            request=request,
            event_type=RequestEvent.REQUEST_COMPLETED,
            actor=None,
            line=completed_line(request, outcome),
            verb=NotificationVerb.COMPLETED,
            details={
                "snapshot": outcome.get("snapshot_id"),
                "pre_restore_snapshot": outcome.get("pre_restore_snapshot_id"),
            },
        )


def completed_line(request: RestoreRequest, outcome: dict[str, Any]) -> dict[str, Any]:
    """The chat's last line, kind by kind: what the restore did, in numbers."""
    counts = {"inserted": 0, "updated": 0, "deleted": 0}
    # A snapshot's restore counts rows per table, a restore to a moment records per type.
    same = {"restored": "inserted", "reverted": "updated", "removed": "deleted"}
    for table, numbers in (outcome.get("counts") or {}).items():
        if isinstance(numbers, dict) and table.removeprefix("crm_") in ENTITIES:
            for key, number in numbers.items():
                name = same.get(key, key)
                if name in counts:
                    counts[name] += int(number or 0)
    values: dict[str, Any] = {
        "back": counts["inserted"],
        "reverted": counts["updated"],
        "removed": counts["deleted"],
        "id": outcome.get("snapshot_id") or request.snapshot_id,
    }
    if request.kind == RequestKind.RECOVER:
        return line_make(
            ngettext_noop(
                "The recover completed: %(back)s record brought back; nothing else was changed.",
                "The recover completed: %(back)s records brought back; nothing else was changed.",
            ),
            number="back",
            **values,
        )
    if request.kind == RequestKind.UNDO:
        text = gettext_noop(
            "The undo completed: the account's data is back as in the safety snapshot "
            "#%(id)s (brought back: %(back)s, reverted: %(reverted)s, removed: %(removed)s)."
        )
    elif request.restore_to is not None:
        values["at"] = request.restore_to
        text = gettext_noop(
            "The restore completed: the account's data is back as it was at %(at)s "
            "(brought back: %(back)s, reverted: %(reverted)s, removed: %(removed)s)."
        )
    elif request.kind == RequestKind.ENTITIES:
        text = gettext_noop(
            "The restore completed: the chosen record types are back as in snapshot #%(id)s "
            "(brought back: %(back)s, reverted: %(reverted)s, removed: %(removed)s); "
            "other records were not changed."
        )
    else:
        text = gettext_noop(
            "The restore completed: the account's data is back as in snapshot #%(id)s "
            "(brought back: %(back)s, reverted: %(reverted)s, removed: %(removed)s)."
        )
    return line_make(text, **values)


def _failed(request: RestoreRequest, *, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        if not jobs.job_claim(
            jobs=RestoreRequest,
            pk=request.pk,
            from_status=RequestStatus.RUNNING,
            to_status=RequestStatus.FAILED,
            error=error,
            completed_at=now,
            updated_at=now,
        ):
            return
        request.refresh_from_db()
        step_record(
            request=request,
            event_type=RequestEvent.REQUEST_FAILED,
            actor=None,
            line=line_make(gettext_noop("The restore failed: %(error)s"), error=error),
            verb=NotificationVerb.FAILED,
            details={"error": error},
            detail=error,
        )


def _restore_event(request: RestoreRequest) -> Event | None:
    """The rollback/recover event this request's restore wrote, if its transaction committed."""
    if request.started_at is None:
        return None
    events = Event.objects.for_account(request.account).filter(
        event_type__in=[EventType.ROLLBACK, EventType.RECOVER],
        entity_id__isnull=True,  # the account-wide one, not those on each record
        occurred_at__gte=request.started_at,
    )
    if request.snapshot_id is not None:
        events = events.filter(details__snapshot=request.snapshot_id)
    return events.order_by("id").first()


def _outcome_from_event(event: Event) -> dict[str, Any]:
    details = event.details or {}
    return {
        "kind": details.get("kind"),
        "snapshot_id": details.get("snapshot"),
        "pre_restore_snapshot_id": details.get("pre_restore_snapshot"),
        "counts": details.get("counts", {}),
        "links_nulled": details.get("links_nulled", {}),
        "skipped": details.get("skipped", {}),
    }


# --- The watchdog (beat) ---------------------------------------------------------------------


def requests_watchdog(*, now: datetime | None = None) -> dict[str, int]:
    """What a worker killed mid-run leaves behind, resolved:

    - a request ``running`` whose heartbeat stopped SUPPORT_RESTORE_STALE_MINUTES ago: its
      restore's transaction died with the worker, so the account's data is as before; the
      maintenance is lifted and the request marked failed, saying so (or completed, if the
      restore had committed just before the worker died);
    - a request ``queued`` for SUPPORT_RESTORE_RESEND_MINUTES (its task lost with a broker):
      the task is sent again (a duplicate finds it claimed and does nothing);
    - an account in maintenance with no running request, seen so for
      SUPPORT_MAINTENANCE_STALE_MINUTES (a restore_snapshot command killed): lifted.

    Safe to run any number of times, on several machines at once."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.SUPPORT_RESTORE_STALE_MINUTES)
    interrupted = 0
    for pk in jobs.jobs_stale(
        jobs=RestoreRequest, status=RequestStatus.RUNNING, before=stale, fallback="updated_at"
    ):
        interrupted += _interrupted_resolve(request_id=pk, stale=stale)

    resent = jobs.jobs_resend(
        jobs=RestoreRequest,
        status=RequestStatus.QUEUED,
        before=now - timedelta(minutes=settings.SUPPORT_RESTORE_RESEND_MINUTES),
        field="updated_at",
        send=lambda pk: task_send(request_id=pk),  # looked up when called: tests replace it
        now=now,
    )
    return {
        "interrupted": interrupted,
        "resent": len(resent),
        "maintenance_lifted": _orphaned_maintenance_lift(now=now),
    }


def _interrupted_resolve(*, request_id: int, stale: datetime) -> int:
    with transaction.atomic():
        request = (
            RestoreRequest.objects.select_for_update(of=("self",))
            .select_related("account")
            .filter(pk=request_id, status=RequestStatus.RUNNING)
            .first()
        )
        if request is None:
            return 0  # finished meanwhile
        last = request.heartbeat_at or request.updated_at
        if last >= stale:
            return 0  # it beat again meanwhile
        maintenance_lift(
            account_id=request.account_id,
            actor=None,
            reason=MaintenanceReason.INTERRUPTED,
            details={"request": request.pk},
        )
        event = _restore_event(request)
        if event is not None:
            _completed(request, outcome=_outcome_from_event(event))
        else:
            _failed(
                request,
                error=_(
                    "The restore was interrupted: the worker running it stopped (last sign of "
                    "life at %(when)s). Its transaction was rolled back, so the account's data "
                    "is as it was before, and the account is writable again. A new request "
                    "can be filed."
                )
                % {"when": rules.moment(request.account, last)},
            )
        logger.warning("restore request %s: interrupted, resolved by the watchdog", request_id)
    return 1


def _orphaned_maintenance_lift(*, now: datetime) -> int:
    running = RestoreRequest.objects.filter(status=RequestStatus.RUNNING).values("account_id")
    suspects = set(
        Account.objects.filter(maintenance=True)
        .exclude(pk__in=running)
        .values_list("pk", flat=True)
    )
    MaintenanceWatch.objects.exclude(account_id__in=suspects).delete()
    threshold = now - timedelta(minutes=settings.SUPPORT_MAINTENANCE_STALE_MINUTES)
    lifted = 0
    for account_id in sorted(suspects):
        watch, created = MaintenanceWatch.objects.get_or_create(
            account_id=account_id, defaults={"first_seen_at": now}
        )
        if created or watch.first_seen_at > threshold:
            continue
        with transaction.atomic():
            maintenance_lift(account_id=account_id, actor=None, reason=MaintenanceReason.ORPHANED)
            watch.delete()
        logger.warning(
            "account %s: in maintenance with no restore running since %s; lifted",
            account_id,
            watch.first_seen_at,
        )
        lifted += 1
    return lifted

"""Every state change of restore requests (DESIGN.md, "Support"; API.md, "Support: restore
requests"):

    open -> proposed -> confirmed -> queued -> running -> completed | failed
    open | proposed | confirmed -> rejected (support) | cancelled (admin)
    export: open -> proposed -> confirmed -> completed (approved: the download is ready)

Each step checks its rules (support.rules: RuleViolation, nothing changed), locks the request
row, writes the new state, a system line in the chat, a history event of the account and the
notifications, in one transaction; emails and the Celery task go out once it commits. The
task's body is ``request_run``; ``requests_watchdog`` (beat) resolves what a dead worker left.
Support staff looking at an account's data through a request is written to the account's
history too (``support_access_record``)."""

import logging
import threading
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Account, User
from accounts.rules import admin_require
from backups.models import Snapshot
from backups.restore import RestoreRefused, snapshot_restore
from core.errors import RuleViolation
from crm.entities import ENTITIES
from history.models import Event, EventType
from history.services import history_record
from support import rules, selectors
from support.chat_lines import line_make, line_text
from support.models import (
    BEFORE_QUEUED,
    MaintenanceWatch,
    Message,
    Notification,
    NotificationVerb,
    RequestKind,
    RequestStatus,
    RestoreRequest,
)
from support.notifications import notify
from support.subjects import RESTORE_REQUEST

logger = logging.getLogger(__name__)

MESSAGE_MAX_CHARS = 5000


# --- Helpers ---------------------------------------------------------------------------------


def _locked(request: RestoreRequest) -> RestoreRequest:
    """The request's row, locked until the transaction ends (a second approval waits here,
    then finds the first one's state)."""
    return (
        RestoreRequest.objects.select_for_update(of=("self",))
        .select_related("account", "snapshot")
        .get(pk=request.pk)
    )


def _own_account_require(*, request: RestoreRequest, user: User) -> None:
    """An admin acts on the account's requests only; another's is "not found"."""
    if user.account_id != request.account_id:
        raise Http404("No such restore request.")


def _step_record(
    request: RestoreRequest,
    *,
    event_type: EventType,
    actor: User | None,
    line: dict,
    verb: str | None,
    details: dict | None = None,
    detail: str = "",
) -> None:
    """What every step writes besides the request: the chat's system line, the history
    event, the notifications (and emails, on commit)."""
    Message.objects.create(
        request=request, is_system=True, body=line_text(line, account=request.account), line=line
    )
    history_record(
        account=request.account,
        actor=actor,
        event_type=event_type,
        entity_type=RESTORE_REQUEST,
        entity_id=request.pk,
        title=f"Restore request #{request.pk}",
        details={"kind": request.kind, **(details or {})},
    )
    if verb is not None:
        notify(request=request, verb=verb, actor=actor, detail=detail)


def _save(request: RestoreRequest, **values) -> None:
    for name, value in values.items():
        setattr(request, name, value)
    request.updated_at = timezone.now()
    request.save(update_fields=[*values, "updated_at"])


# --- Filing ----------------------------------------------------------------------------------


@transaction.atomic
def request_file(
    *,
    user: User,
    lost_at: datetime,
    kind: str,
    entity_types: list[str] | None = None,
    message: str,
) -> RestoreRequest:
    """An account admin asks for a restore of the account's data as it was at ``lost_at``.
    Refused (nothing written): not an admin, a plan without restore requests, an open request
    already, a restore executed less than 7 days ago, no kept snapshot from before
    ``lost_at``."""
    admin_require(user=user)
    account = user.account
    rules.plan_includes_require(account=account)
    entity_types = rules.kind_clean(kind=kind, entity_types=entity_types)
    message = (message or "").strip()
    if not message:
        raise RuleViolation(code="invalid", message=_("Tell support what happened."))
    rules.no_open_request_require(account=account)
    rules.weekly_limit_require(account=account, kind=kind)
    rules.lost_at_within_retention_require(account=account, lost_at=lost_at)
    now = timezone.now()
    try:
        with transaction.atomic():
            request = RestoreRequest.objects.create(
                account=account,
                kind=kind,
                entity_types=entity_types,
                lost_at=lost_at,
                message=message,
                requested_by=user,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        # Filed at the same moment as another request of the account: the database's
        # one-open-request constraint let the other one in.
        existing = selectors.request_open_for(account)
        if existing is None:
            raise
        raise rules.request_open_violation(existing) from None
    _step_record(
        request,
        event_type=EventType.REQUEST_FILED,
        actor=user,
        line=line_make(
            gettext_noop(
                "%(user)s filed the request: a %(kind)s restore, data lost at %(lost_at)s."
            ),
            user=user.username,
            kind=kind,
            lost_at=lost_at,
        ),
        verb=NotificationVerb.FILED,
        details={"entity_types": entity_types, "lost_at": lost_at.isoformat()},
        detail=message,
    )
    return request


# --- Support proposes, the admin confirms, support approves ----------------------------------


@transaction.atomic
def request_propose(
    *,
    request: RestoreRequest,
    user: User,
    snapshot: Snapshot | None = None,
    kind: str | None = None,
    entity_types: list[str] | None = None,
) -> RestoreRequest:
    """Support proposes ``snapshot`` (default: the newest kept one taken before the loss) and
    ``kind`` (default: the one asked for). Again while proposed replaces the proposal."""
    rules.support_require(user=user)
    request = _locked(request)
    rules.state_require(
        request=request,
        allowed=(RequestStatus.OPEN, RequestStatus.PROPOSED),
        action=_("proposed"),
    )
    kind = kind or request.kind
    if entity_types is None and kind == request.kind:
        entity_types = request.entity_types
    entity_types = rules.kind_clean(kind=kind, entity_types=entity_types)
    if snapshot is None:
        snapshot = selectors.request_default_snapshot(request)
        if snapshot is None:
            raise RuleViolation(
                code="outside_retention",
                message=_(
                    "No kept snapshot of the account was taken before the loss; choose a "
                    "snapshot, or reject the request with a reason."
                ),
            )
    snapshot = rules.snapshot_usable_require(account=request.account, snapshot=snapshot)
    _save(
        request,
        status=RequestStatus.PROPOSED,
        snapshot=snapshot,
        kind=kind,
        entity_types=entity_types,
        proposed_by=user,
        confirmed_by=None,
    )
    if kind == RequestKind.EXPORT:
        line = gettext_noop(
            "%(user)s proposed an export of snapshot #%(snapshot)s, taken at %(taken_at)s: a "
            "ZIP of CSV files to download; nothing in the account changes. An admin of the "
            "account confirms it."
        )
    else:
        line = gettext_noop(
            "%(user)s proposed a %(kind)s restore from snapshot #%(snapshot)s, taken at "
            "%(taken_at)s. An admin of the account confirms it after checking the preview."
        )
    _step_record(
        request,
        event_type=EventType.REQUEST_PROPOSED,
        actor=user,
        line=line_make(
            line,
            user=user.username,
            kind=kind,
            snapshot=snapshot.pk,
            taken_at=snapshot.taken_at,
        ),
        verb=NotificationVerb.PROPOSED,
        details={
            "snapshot": snapshot.pk,
            "snapshot_taken_at": snapshot.taken_at.isoformat(),
            "entity_types": entity_types,
        },
    )
    return request


@transaction.atomic
def request_confirm(*, request: RestoreRequest, user: User) -> RestoreRequest:
    """The account's admin accepts the proposal (having seen what it changes)."""
    admin_require(user=user)
    _own_account_require(request=request, user=user)
    request = _locked(request)
    rules.state_require(request=request, allowed=(RequestStatus.PROPOSED,), action=_("confirmed"))
    _save(request, status=RequestStatus.CONFIRMED, confirmed_by=user)
    if request.kind == RequestKind.EXPORT:
        line = gettext_noop("%(user)s confirmed the proposed export.")
    else:
        line = gettext_noop(
            "%(user)s confirmed the proposed restore, accepting that changes made after the "
            "snapshot are undone."
        )
    _step_record(
        request,
        event_type=EventType.REQUEST_CONFIRMED,
        actor=user,
        line=line_make(line, user=user.username),
        verb=NotificationVerb.CONFIRMED,
        details={"snapshot": request.snapshot_id},
    )
    return request


@transaction.atomic
def request_approve(*, request: RestoreRequest, user: User) -> RestoreRequest:
    """Support approves a confirmed request: it is queued, and the task is sent once this
    commits. Approving twice (or two at once: the row lock orders them) queues it once. An
    export is not queued: it completes at once (``_export_complete``)."""
    rules.support_require(user=user)
    request = _locked(request)
    rules.state_require(request=request, allowed=(RequestStatus.CONFIRMED,), action=_("approved"))
    rules.plan_includes_require(account=request.account)
    rules.weekly_limit_require(account=request.account, kind=request.kind)
    rules.snapshot_usable_require(account=request.account, snapshot=request.snapshot)
    if request.kind == RequestKind.EXPORT:
        return _export_complete(request, user=user)
    _save(
        request,
        status=RequestStatus.QUEUED,
        approved_by=user,
        progress=0,
        step="queued",
        error="",
    )
    _step_record(
        request,
        event_type=EventType.REQUEST_APPROVED,
        actor=user,
        line=line_make(
            gettext_noop("%(user)s approved the restore. It is queued and starts in a moment."),
            user=user.username,
        ),
        verb=NotificationVerb.APPROVED,
        details={"snapshot": request.snapshot_id},
    )
    request_id = request.pk
    transaction.on_commit(lambda: task_send(request_id=request_id))
    return request


def _export_complete(request: RestoreRequest, *, user: User) -> RestoreRequest:
    """An approved export: nothing to run (no task, no maintenance, no data changed). The
    snapshot's file is verified, the request completes, and the account's admins are told
    where to download the ZIP (the Backups page's export of the snapshot; the download itself
    writes the ``export`` event). Not counted by the weekly limit."""
    snapshot = request.snapshot
    rules.snapshot_exportable_require(snapshot=snapshot)
    now = timezone.now()
    _save(
        request,
        status=RequestStatus.COMPLETED,
        approved_by=user,
        progress=100,
        step="done",
        error="",
        completed_at=now,
        outcome={
            "kind": RequestKind.EXPORT.value,
            "snapshot_id": snapshot.pk,
            "snapshot_taken_at": snapshot.taken_at.isoformat(),
            "rows": dict(snapshot.counts or {}),
        },
    )
    _step_record(
        request,
        event_type=EventType.REQUEST_APPROVED,
        actor=user,
        line=line_make(gettext_noop("%(user)s approved the export."), user=user.username),
        verb=None,  # the completion right after tells everyone
        details={"snapshot": snapshot.pk},
    )
    _step_record(
        request,
        event_type=EventType.REQUEST_COMPLETED,
        actor=user,
        line=line_make(
            gettext_noop(
                "The export is ready: the account's admins download snapshot #%(id)s as a ZIP of "
                "CSV files from this request's page or the Backups page, while the snapshot is "
                "kept (until %(until)s). Nothing in the account was changed."
            ),
            id=snapshot.pk,
            until=snapshot.expires_at,
        ),
        verb=NotificationVerb.COMPLETED,
        details={"snapshot": snapshot.pk},
    )
    return request


def task_send(*, request_id: int) -> None:
    """Send the restore task; a broker that is down is logged (the watchdog sends it again)."""
    from support.tasks import restore_request_run  # the tasks module imports this one

    try:
        restore_request_run.delay(request_id)
    except Exception:
        logger.exception("restore request %s: could not send the task", request_id)


# --- Ending before the task: reject, cancel --------------------------------------------------


@transaction.atomic
def request_reject(*, request: RestoreRequest, user: User, reason: str) -> RestoreRequest:
    rules.support_require(user=user)
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(
            code="invalid", message=_("Give the admin a reason for rejecting the request.")
        )
    request = _locked(request)
    rules.state_require(request=request, allowed=BEFORE_QUEUED, action=_("rejected"))
    _save(request, status=RequestStatus.REJECTED, reject_reason=reason)
    _step_record(
        request,
        event_type=EventType.REQUEST_REJECTED,
        actor=user,
        line=line_make(
            gettext_noop("%(user)s rejected the request: %(reason)s"),
            user=user.username,
            reason=reason,
        ),
        verb=NotificationVerb.REJECTED,
        details={"reason": reason},
        detail=reason,
    )
    return request


@transaction.atomic
def request_cancel(*, request: RestoreRequest, user: User) -> RestoreRequest:
    admin_require(user=user)
    _own_account_require(request=request, user=user)
    request = _locked(request)
    rules.state_require(request=request, allowed=BEFORE_QUEUED, action=_("cancelled"))
    _save(request, status=RequestStatus.CANCELLED)
    _step_record(
        request,
        event_type=EventType.REQUEST_CANCELLED,
        actor=user,
        line=line_make(gettext_noop("%(user)s cancelled the request."), user=user.username),
        verb=NotificationVerb.CANCELLED,
    )
    return request


# --- Support looking at an account's data ----------------------------------------------------


def support_access_record(
    *,
    request: RestoreRequest,
    user: User,
    via: str,
    snapshots: bool = False,
    snapshot: Snapshot | None = None,
    kind: str = "",
    entity_types=(),
    record_titles: bool = False,
) -> Event | None:
    """Write what support staff ``user`` looked at of the request's account into that
    account's history (a ``support_access`` event about the request): the list of its
    snapshots, the preview (or, for an export, the contents) of ``snapshot``, with the titles
    of records or only numbers. Every look is one event: an audit leaves nothing out; the
    pages that poll (the progress bar) show no data and write none. Anyone else (an admin
    previewing the account's own data) writes nothing: returns None. Call before the data
    leaves, so a failed write shows nothing."""
    if not user.is_support:
        return None
    parts = ["the list of snapshots"] if snapshots else []
    if snapshot is not None:
        parts.append(_access_preview_words(snapshot, kind, entity_types, record_titles))
    return history_record(
        account=request.account,
        actor=user,
        event_type=EventType.SUPPORT_ACCESS,
        entity_type=RESTORE_REQUEST,
        entity_id=request.pk,
        title=f"Restore request #{request.pk}: {', '.join(parts) or 'the request'}",
        details={
            "request": request.pk,
            "via": via,
            "viewed": [
                *(["snapshots"] if snapshots else []),
                *(["preview"] if snapshot is not None else []),
            ],
            "snapshot": snapshot.pk if snapshot is not None else None,
            "kind": kind,
            "entity_types": list(entity_types or []),
            "record_titles": record_titles,
        },
    )


def _access_preview_words(snapshot: Snapshot, kind: str, entity_types, record_titles) -> str:
    """The stored (English) words for one preview, e.g. ``preview of snapshot #12 (entities:
    contacts, deals; with record titles)``."""
    if kind == RequestKind.EXPORT:
        return f"the contents of snapshot #{snapshot.pk} (export)"
    with translation.override("en"):
        scope = kind + (
            ": " + ", ".join(str(ENTITIES[e].verbose_name_plural) for e in entity_types)
            if kind == RequestKind.ENTITIES and entity_types
            else ""
        )
    if record_titles:
        scope += "; with record titles"
    return f"preview of snapshot #{snapshot.pk} ({scope})"


# --- Chat and notifications ------------------------------------------------------------------


@transaction.atomic
def message_post(*, request: RestoreRequest, user: User, body: str) -> Message:
    """A message in the request's chat, from one of the account's admins or support, in any
    state (a finished request can still be talked about)."""
    rules.participant_require(user=user)
    if not user.is_support:
        _own_account_require(request=request, user=user)
    body = (body or "").strip()
    if not body:
        raise RuleViolation(code="invalid", message=_("The message is empty."))
    if len(body) > MESSAGE_MAX_CHARS:
        raise RuleViolation(
            code="invalid",
            message=_("A message has at most %(max)s characters.") % {"max": MESSAGE_MAX_CHARS},
        )
    message = Message.objects.create(
        request=request, author=user, is_support=user.is_support, body=body
    )
    RestoreRequest.objects.filter(pk=request.pk).update(updated_at=message.created_at)
    notify(request=request, verb=NotificationVerb.MESSAGE, actor=user, detail=body)
    return message


def notifications_mark_read(*, user: User, ids=None) -> int:
    """Mark the user's notifications read (``ids`` None: all). Returns how many changed."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


# --- The run (the Celery task's body) --------------------------------------------------------


def request_run(*, request_id: int) -> str:
    """Run an approved request's restore. Claims it first (queued -> running, one UPDATE): a
    second delivery of the task, or a second worker, finds it claimed and does nothing.
    Progress and a heartbeat go to the request's row while it runs. Returns what happened:
    ``completed``, ``failed`` or ``skipped``."""
    now = timezone.now()
    claimed = RestoreRequest.objects.filter(pk=request_id, status=RequestStatus.QUEUED).update(
        status=RequestStatus.RUNNING,
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
        with _heartbeat(request_id):
            if request.snapshot is None:
                raise RestoreRefused(_("The proposed snapshot is no longer kept."))
            outcome = snapshot_restore(
                snapshot=request.snapshot,
                kind=request.kind,
                entity_types=request.entity_types or None,
                actor=request.approved_by,
                account=request.account,
                progress=lambda percent, step: _progress(request_id, percent, step),
            )
    except RestoreRefused as refused:
        _failed(request, error=refused.message)
        return "failed"
    except Exception as error:
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
    _completed(request, outcome=asdict(outcome))
    return "completed"


def _progress(request_id: int, percent: int, step: str) -> None:
    """The restore's progress callback: never raises (a restore is not stopped by this)."""
    try:
        now = timezone.now()
        RestoreRequest.objects.filter(pk=request_id, status=RequestStatus.RUNNING).update(
            progress=max(0, min(100, int(percent))),
            step=step[:32],
            heartbeat_at=now,
            updated_at=now,
        )
    except Exception:
        logger.exception("restore request %s: could not record progress", request_id)


@contextmanager
def _heartbeat(request_id: int):
    """While the block runs, a thread writes the request's ``heartbeat_at`` every few seconds
    on its own connection: a long restore stays visibly alive; a killed worker stops it."""
    interval = settings.SUPPORT_RESTORE_HEARTBEAT_SECONDS
    if interval <= 0:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    RestoreRequest.objects.filter(
                        pk=request_id, status=RequestStatus.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:  # SQLite: the restore holds the write lock meanwhile
                    logger.warning("restore request %s: heartbeat not written", request_id)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=beat, name=f"restore-request-{request_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def _completed(request: RestoreRequest, *, outcome: dict) -> None:
    now = timezone.now()
    with transaction.atomic():
        done = RestoreRequest.objects.filter(
            pk=request.pk, status__in=[RequestStatus.RUNNING, RequestStatus.FAILED]
        ).update(
            status=RequestStatus.COMPLETED,
            progress=100,
            step="done",
            error="",
            completed_at=now,
            outcome=outcome,
            updated_at=now,
        )
        if not done:
            return
        request.refresh_from_db()
        _step_record(
            request,
            event_type=EventType.REQUEST_COMPLETED,
            actor=None,
            line=line_make(
                gettext_noop(
                    "The restore completed: the account's data is back as in snapshot #%(id)s."
                ),
                id=outcome.get("snapshot_id", request.snapshot_id),
            ),
            verb=NotificationVerb.COMPLETED,
            details={
                "snapshot": outcome.get("snapshot_id"),
                "pre_restore_snapshot": outcome.get("pre_restore_snapshot_id"),
            },
        )


def _failed(request: RestoreRequest, *, error: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        done = RestoreRequest.objects.filter(pk=request.pk, status=RequestStatus.RUNNING).update(
            status=RequestStatus.FAILED, error=error, completed_at=now, updated_at=now
        )
        if not done:
            return
        request.refresh_from_db()
        _step_record(
            request,
            event_type=EventType.REQUEST_FAILED,
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
        occurred_at__gte=request.started_at,
    )
    if request.snapshot_id is not None:
        events = events.filter(details__snapshot=request.snapshot_id)
    return events.order_by("id").first()


def _outcome_from_event(event: Event) -> dict:
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
    last_sign = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, updated_at__lt=stale)
    interrupted = 0
    for pk in RestoreRequest.objects.filter(last_sign, status=RequestStatus.RUNNING).values_list(
        "pk", flat=True
    ):
        interrupted += _interrupted_resolve(request_id=pk, stale=stale)

    resend_before = now - timedelta(minutes=settings.SUPPORT_RESTORE_RESEND_MINUTES)
    resent = 0
    for pk in RestoreRequest.objects.filter(
        status=RequestStatus.QUEUED, updated_at__lt=resend_before
    ).values_list("pk", flat=True):
        if RestoreRequest.objects.filter(pk=pk, status=RequestStatus.QUEUED).update(updated_at=now):
            task_send(request_id=pk)
            resent += 1

    return {
        "interrupted": interrupted,
        "resent": resent,
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
        last = request and (request.heartbeat_at or request.updated_at)
        if request is None or last >= stale:
            return 0  # finished, or it beat again meanwhile
        Account.objects.filter(pk=request.account_id).update(maintenance=False)
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
            Account.objects.filter(pk=account_id, maintenance=True).update(maintenance=False)
            watch.delete()
        logger.warning(
            "account %s: in maintenance with no restore running since %s; lifted",
            account_id,
            watch.first_seen_at,
        )
        lifted += 1
    return lifted

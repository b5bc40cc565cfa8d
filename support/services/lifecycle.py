"""A restore request's life before it runs (DESIGN.md, "Support"; API.md, "Support: restore
requests"):

    open -> proposed -> confirmed -> queued (the run: support.services.run)
    open | proposed | confirmed -> rejected (support) | cancelled (admin)
    export: open -> proposed -> confirmed -> completed (approved: the download is ready)

Each step checks its rules (support.rules: RuleViolation, nothing changed), locks the request
row, writes the new state and what every step writes (support.services.steps), in one
transaction; emails and the restore's task go out once it commits."""

from datetime import datetime
from typing import cast

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Account, User
from accounts.rules import admin_require
from backups.models import Snapshot
from backups.moment import moment_base
from core.errors import RuleViolation
from support import rules, selectors
from support.chat_lines import line_make
from support.models import (
    BEFORE_QUEUED,
    NotificationVerb,
    RequestKind,
    RequestStatus,
    RestoreRequest,
)
from support.services import run
from support.services.steps import own_account_require, request_locked, request_save, step_record
from support.subjects import RequestEvent

# --- Filing ----------------------------------------------------------------------------------


@transaction.atomic
def request_file(
    *,
    user: User,
    lost_at: datetime | None = None,
    kind: str,
    entity_types: list[str] | None = None,
    message: str,
) -> RestoreRequest:
    """An account admin asks for a restore of the account's data as it was at ``lost_at``.
    Refused (nothing written): not an admin, a plan without restore requests, an open request
    already, a destructive restore executed less than 7 days ago (for ``full`` and
    ``entities``), no kept snapshot from before ``lost_at``. An ``undo`` goes back to the
    latest completed restore's safety snapshot (``lost_at``: by default when that restore
    started); refused when there is none within 48 hours."""
    admin_require(user=user)
    account = cast(Account, user.account)  # an admin's
    rules.plan_includes_require(account=account)
    entity_types = rules.kind_clean(kind=kind, entity_types=entity_types)
    message = (message or "").strip()
    if not message:
        raise RuleViolation(code="invalid", message=_("Tell support what happened."))
    rules.no_open_request_require(account=account)
    rules.weekly_limit_require(account=account, kind=kind)
    snapshot, undone = None, None
    if kind == RequestKind.UNDO:
        undone, snapshot = rules.undo_target_require(account=account)
        lost_at = lost_at or undone.started_at or undone.completed_at
    if lost_at is None:
        raise RuleViolation(code="invalid", message=_("Give the moment the data was lost."))
    if undone is None:
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
                snapshot=snapshot,
                requested_by=user,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        # Filed at the same moment as another request of the account: the database's
        # one-open-request constraint let the other one in.
        existing = selectors.request_open_for(account=account)
        if existing is None:
            raise
        raise rules.request_open_violation(existing) from None
    if undone is not None and snapshot is not None:
        line = line_make(
            gettext_noop(
                "%(user)s filed the request: undo restore request #%(undone)s, back to its "
                "safety snapshot #%(snapshot)s taken at %(taken_at)s."
            ),
            user=user.username,
            undone=undone.pk,
            snapshot=snapshot.pk,
            taken_at=snapshot.taken_at,
        )
    else:
        line = line_make(
            gettext_noop(
                "%(user)s filed the request: a %(kind)s restore, data lost at %(lost_at)s."
            ),
            user=user.username,
            kind=kind,
            lost_at=lost_at,
        )
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_FILED,
        actor=user,
        line=line,
        verb=NotificationVerb.FILED,
        details={
            "entity_types": entity_types,
            "lost_at": lost_at.isoformat(),
            **({"undoes": undone.pk, "snapshot": request.snapshot_id} if undone else {}),
        },
        detail=message,
    )
    return request


# --- Support proposes, the admin confirms, support approves ----------------------------------


def _propose_moment(
    *, request: RestoreRequest, user: User, at: datetime, kind: str, entity_types: list[str]
) -> RestoreRequest:
    if kind not in (RequestKind.FULL, RequestKind.ENTITIES, RequestKind.RECOVER):
        raise RuleViolation(
            code="invalid",
            message=_("A moment can be proposed for a full, entities or recover restore only."),
        )
    base = moment_base(account=request.account, at=at)  # outside_retention
    request_save(
        request=request,
        status=RequestStatus.PROPOSED,
        snapshot=base,
        restore_to=at,
        kind=kind,
        entity_types=entity_types,
        proposed_by=user,
        confirmed_by=None,
    )
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_PROPOSED,
        actor=user,
        line=line_make(
            gettext_noop(
                "%(user)s proposed a %(kind)s restore to the moment %(at)s: the account as it "
                "was then, from its change log. An admin of the account confirms it after "
                "checking the preview."
            ),
            user=user.username,
            kind=kind,
            at=at,
        ),
        verb=NotificationVerb.PROPOSED,
        details={"restore_to": at.isoformat(), "snapshot": base.pk, "entity_types": entity_types},
    )
    return request


@transaction.atomic
def request_propose(
    *,
    request: RestoreRequest,
    user: User,
    snapshot: Snapshot | None = None,
    kind: str | None = None,
    entity_types: list[str] | None = None,
    at: datetime | None = None,
) -> RestoreRequest:
    """Support proposes ``snapshot`` (default: the newest kept one taken before the loss), or
    a moment ``at`` instead (backups.moment: the account as it was then; kinds full, entities
    and recover), and ``kind`` (default: the one asked for). Again while proposed replaces
    the proposal."""
    rules.support_require(user=user)
    request = request_locked(request=request)
    rules.state_require(
        request=request,
        allowed=(RequestStatus.OPEN, RequestStatus.PROPOSED),
        action=_("proposed"),
    )
    kind = kind or request.kind
    if entity_types is None and kind == request.kind:
        entity_types = request.entity_types
    entity_types = rules.kind_clean(kind=kind, entity_types=entity_types)
    if at is not None:
        return _propose_moment(
            request=request, user=user, at=at, kind=kind, entity_types=entity_types
        )
    if kind == RequestKind.UNDO:
        _undone, safety = rules.undo_target_require(account=request.account)
        if snapshot is not None and snapshot.pk != safety.pk:
            raise RuleViolation(
                code="invalid",
                message=_(
                    "An undo goes back to the safety snapshot of the latest restore, #%(id)s; "
                    "propose another kind to restore from another snapshot."
                )
                % {"id": safety.pk},
            )
        snapshot = safety
    if snapshot is None:
        snapshot = selectors.request_default_snapshot(request=request)
        if snapshot is None:
            raise RuleViolation(
                code="outside_retention",
                message=_(
                    "No kept snapshot of the account was taken before the loss; choose a "
                    "snapshot, or reject the request with a reason."
                ),
            )
    snapshot = rules.snapshot_usable_require(account=request.account, snapshot=snapshot)
    request_save(
        request=request,
        status=RequestStatus.PROPOSED,
        snapshot=snapshot,
        restore_to=None,
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
    elif kind == RequestKind.UNDO:
        line = gettext_noop(
            "%(user)s proposed to undo the last restore: the account goes back to its safety "
            "snapshot #%(snapshot)s, taken at %(taken_at)s. An admin of the account confirms "
            "it after checking the preview."
        )
    elif kind == RequestKind.RECOVER:
        line = gettext_noop(
            "%(user)s proposed a recover from snapshot #%(snapshot)s, taken at %(taken_at)s: "
            "records gone since then come back, nothing that exists changes. An admin of the "
            "account confirms it after checking the preview."
        )
    else:
        line = gettext_noop(
            "%(user)s proposed a %(kind)s restore from snapshot #%(snapshot)s, taken at "
            "%(taken_at)s. An admin of the account confirms it after checking the preview."
        )
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_PROPOSED,
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


# What the admin accepted by confirming, kind by kind (issue 18: a recover undoes nothing).
CONFIRM_LINES = {
    RequestKind.EXPORT: gettext_noop("%(user)s confirmed the proposed export."),
    RequestKind.RECOVER: gettext_noop(
        "%(user)s confirmed the proposed recover: records gone since the snapshot come back; "
        "nothing that exists is changed."
    ),
    RequestKind.UNDO: gettext_noop(
        "%(user)s confirmed the undo, accepting that changes made since the last restore's "
        "safety snapshot are undone."
    ),
    RequestKind.ENTITIES: gettext_noop(
        "%(user)s confirmed the proposed restore of some record types, accepting that changes "
        "to them made after the snapshot are undone; other records are not changed."
    ),
    RequestKind.FULL: gettext_noop(
        "%(user)s confirmed the proposed restore, accepting that changes made after the "
        "snapshot are undone."
    ),
    "moment": gettext_noop(
        "%(user)s confirmed the proposed restore, accepting that changes made after that "
        "moment are undone."
    ),
}


def _line_kind(request: RestoreRequest) -> str:
    if request.restore_to is not None and request.kind == RequestKind.FULL:
        return "moment"
    return request.kind


@transaction.atomic
def request_confirm(*, request: RestoreRequest, user: User) -> RestoreRequest:
    """The account's admin accepts the proposal (having seen what it changes)."""
    admin_require(user=user)
    own_account_require(request=request, user=user)
    request = request_locked(request=request)
    rules.state_require(request=request, allowed=(RequestStatus.PROPOSED,), action=_("confirmed"))
    request_save(request=request, status=RequestStatus.CONFIRMED, confirmed_by=user)
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_CONFIRMED,
        actor=user,
        line=line_make(CONFIRM_LINES[_line_kind(request)], user=user.username),
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
    request = request_locked(request=request)
    rules.state_require(request=request, allowed=(RequestStatus.CONFIRMED,), action=_("approved"))
    rules.plan_includes_require(account=request.account)
    rules.weekly_limit_require(account=request.account, kind=request.kind)
    snapshot = rules.snapshot_usable_require(account=request.account, snapshot=request.snapshot)
    if request.kind == RequestKind.EXPORT:
        return _export_complete(request=request, snapshot=snapshot, user=user)
    request_save(
        request=request,
        status=RequestStatus.QUEUED,
        approved_by=user,
        progress=0,
        step="queued",
        error="",
    )
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_APPROVED,
        actor=user,
        line=line_make(
            gettext_noop("%(user)s approved the restore. It is queued and starts in a moment."),
            user=user.username,
        ),
        verb=NotificationVerb.APPROVED,
        details={"snapshot": request.snapshot_id},
    )
    request_id = request.pk
    # Looked up when it runs: tests replace support.services.run.task_send.
    transaction.on_commit(lambda: run.task_send(request_id=request_id))
    return request


def _export_complete(*, request: RestoreRequest, snapshot: Snapshot, user: User) -> RestoreRequest:
    """An approved export: nothing to run (no task, no maintenance, no data changed). The
    snapshot's file is verified, the request completes, and the account's admins are told
    where to download the ZIP (the Backups page's export of the snapshot; the download itself
    writes the ``export`` event). Not counted by the weekly limit."""
    rules.snapshot_exportable_require(snapshot=snapshot)
    now = timezone.now()
    request_save(
        request=request,
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
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_APPROVED,
        actor=user,
        line=line_make(gettext_noop("%(user)s approved the export."), user=user.username),
        verb=None,  # the completion right after tells everyone
        details={"snapshot": snapshot.pk},
    )
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_COMPLETED,
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


# --- Ending before the task: reject, cancel --------------------------------------------------


@transaction.atomic
def request_reject(*, request: RestoreRequest, user: User, reason: str) -> RestoreRequest:
    rules.support_require(user=user)
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(
            code="invalid", message=_("Give the admin a reason for rejecting the request.")
        )
    request = request_locked(request=request)
    rules.state_require(request=request, allowed=BEFORE_QUEUED, action=_("rejected"))
    request_save(request=request, status=RequestStatus.REJECTED, reject_reason=reason)
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_REJECTED,
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
    own_account_require(request=request, user=user)
    request = request_locked(request=request)
    rules.state_require(request=request, allowed=BEFORE_QUEUED, action=_("cancelled"))
    request_save(request=request, status=RequestStatus.CANCELLED)
    step_record(
        request=request,
        event_type=RequestEvent.REQUEST_CANCELLED,
        actor=user,
        line=line_make(gettext_noop("%(user)s cancelled the request."), user=user.username),
        verb=NotificationVerb.CANCELLED,
    )
    return request

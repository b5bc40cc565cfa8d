"""Reads of restore requests, their chat and notifications. Support staff see every account's
requests (only here: support reaches accounts through these helpers); an account admin sees
the account's; anyone else nothing. A request the caller may not see is "not found"
(RuleViolation ``not_found``), exactly as a missing one."""

from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection
from django.db.models import Case, Count, IntegerField, Min, QuerySet, Value, When
from django.db.models.functions import TruncMinute
from django.utils import timezone

from accounts.models import Account, User
from backups.models import Snapshot
from core.errors import RuleViolation
from crm.entities import ENTITIES
from history.models import Event
from support.models import (
    BEFORE_QUEUED,
    DESTRUCTIVE_KINDS,
    OPEN_STATUSES,
    RESTORE_KINDS,
    UNDO_WINDOW,
    Message,
    Notification,
    RequestStatus,
    RestoreRequest,
)

ACTIONS = ("propose", "confirm", "approve", "reject", "cancel", "message")


def requests_visible(
    *,
    user: User,
    status: str | list[str] | None = None,
    account: Account | int | None = None,
    older_than: timedelta | None = None,
) -> QuerySet[RestoreRequest]:
    """The requests ``user`` may see: support staff all (open ones first, oldest first: who
    has waited longest), an account admin the account's (newest first), anyone else none.
    ``status``: one or several; ``account``: an account or its id; ``older_than``: filed at
    least that long ago."""
    requests = RestoreRequest.objects.select_related("account")
    if user.is_support:
        requests = requests.annotate(
            waiting=Case(
                When(status__in=OPEN_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        ).order_by("waiting", "created_at", "id")
    elif user.is_account_admin:
        account = cast(Account, user.account)  # an admin's
        requests = requests.for_account(account).order_by("-created_at", "-id")
    else:
        return RestoreRequest.objects.none()
    if status:
        requests = requests.filter(status__in=[status] if isinstance(status, str) else status)
    if account is not None:
        requests = requests.filter(account_id=getattr(account, "pk", account))
    if older_than is not None:
        requests = requests.filter(created_at__lte=timezone.now() - older_than)
    return requests


def request_get(*, user: User, request_id: Any) -> RestoreRequest:
    """One request ``user`` may see (``request_id`` as given: a URL's text, a number); a
    missing one and another account's answer the same "not found"."""
    try:
        return requests_visible(user=user).get(pk=int(request_id))
    except (RestoreRequest.DoesNotExist, ValueError, TypeError, OverflowError):
        raise RuleViolation(code="not_found", message="No such restore request.") from None


def request_open_for(*, account: Account) -> RestoreRequest | None:
    return RestoreRequest.objects.for_account(account).filter(status__in=OPEN_STATUSES).first()


def request_open_visible(*, user: User) -> RestoreRequest | None:
    """The newest open request ``user`` sees (an admin: the account's one open request)."""
    return (
        requests_visible(user=user).filter(status__in=OPEN_STATUSES).order_by("-created_at").first()
    )


def accounts_with_requests() -> QuerySet[Account]:
    """The accounts that have filed requests, for the console's account filter (support staff
    only). Only names: support reaches an account's data through the request's own pages."""
    return Account.objects.filter(pk__in=RestoreRequest.objects.values("account_id")).order_by(
        "name"
    )


def snapshots_within_retention(
    *, account: Account, now: datetime | None = None
) -> QuerySet[Snapshot]:
    """The account's kept snapshots a restore may use: finished and not expired, newest first."""
    return (
        Snapshot.objects.restorable()
        .for_account(account)
        .filter(expires_at__gt=now or timezone.now())
        .order_by("-taken_at", "-id")
    )


def request_default_snapshot(*, request: RestoreRequest) -> Snapshot | None:
    """What support proposes unless told otherwise: the newest kept snapshot taken at or
    before the moment the data was lost."""
    return (
        snapshots_within_retention(account=request.account)
        .filter(taken_at__lte=request.lost_at)
        .first()
    )


def request_preview_snapshot(
    *, request: RestoreRequest, snapshot_id: int | None = None
) -> Snapshot | None:
    """The snapshot a preview of ``request`` compares with (support.services.request_preview):
    ``snapshot_id`` if it is one of the account's kept snapshots; by default the proposed one
    while it is kept or, none proposed, the newest kept one taken before the loss. None: there
    is no such snapshot."""
    kept = snapshots_within_retention(account=request.account)
    if snapshot_id is not None:
        return kept.filter(pk=snapshot_id).first()
    if request.snapshot_id is not None:
        return kept.filter(pk=request.snapshot_id).first()
    return request_default_snapshot(request=request)


def last_completed_restore(
    *, account: Account, kinds: tuple[str, ...] = DESTRUCTIVE_KINDS
) -> RestoreRequest | None:
    """The account's latest executed restore of ``kinds`` (by default those the weekly limit
    counts: full and entities)."""
    return (
        RestoreRequest.objects.for_account(account)
        .filter(status=RequestStatus.COMPLETED, kind__in=kinds, completed_at__isnull=False)
        .order_by("-completed_at", "-id")
        .first()
    )


def undo_target(
    *, account: Account, now: datetime | None = None
) -> tuple[RestoreRequest, Snapshot] | None:
    """What an ``undo`` goes back to: the latest completed restore of any kind, if it finished
    within UNDO_WINDOW, and its safety snapshot while that is kept. None: nothing to undo."""
    now = now or timezone.now()
    last = last_completed_restore(account=account, kinds=RESTORE_KINDS)
    if last is None or last.completed_at is None or now - last.completed_at > UNDO_WINDOW:
        return None
    safety = (last.outcome or {}).get("pre_restore_snapshot_id")
    if safety is None:
        return None
    snapshot = snapshots_within_retention(account=account, now=now).filter(pk=safety).first()
    return None if snapshot is None else (last, snapshot)


def request_allowed_actions(*, request: RestoreRequest, user: User) -> set[str]:
    """What ``user`` may do with ``request`` now, so pages offer only those buttons (the
    services still check everything)."""
    if user.is_support:
        allowed = {"message"}
        if request.status in (RequestStatus.OPEN, RequestStatus.PROPOSED):
            allowed.add("propose")
        if request.status == RequestStatus.CONFIRMED:
            allowed.add("approve")
        if request.status in BEFORE_QUEUED:
            allowed.add("reject")
        return allowed
    if user.is_account_admin and user.account_id == request.account_id:
        allowed = {"message"}
        if request.status == RequestStatus.PROPOSED:
            allowed.add("confirm")
        if request.status in BEFORE_QUEUED:
            allowed.add("cancel")
        return allowed
    return set()


def messages_for(*, request: RestoreRequest) -> QuerySet[Message]:
    """The request's chat, oldest first."""
    return request.messages.select_related("author").order_by("created_at", "id")


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-id")


def unread_count(*, user: User) -> int:
    """For the badge on every page: plain SQL over the ``notification_unread`` index (the
    ORM took three times as long to build the query as the database to answer it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {Notification._meta.db_table} "  # noqa: S608 - the model's
            "WHERE recipient_id = %s AND read_at IS NULL",
            [user.pk],
        )
        (count,) = cursor.fetchone()
    return count


def request_live_version(*, request: RestoreRequest) -> str:
    """What changes whenever a request's page should show something new: its status and its
    chat (every step writes a line: a proposal, a confirmation...). Not its progress, which
    static/js/progress.js shows by itself."""
    last = request.messages.order_by("-id").values_list("id", flat=True).first() or 0
    return f"{request.status}.{last}"


def request_moment_suggested(*, request: RestoreRequest) -> datetime | None:
    """A moment to restore to: one minute before the first change of the busiest minute of
    record changes in the day before the loss (a mass deletion or import stands out), or
    None when the history shows no change then."""
    window = Event.objects.for_account(request.account).filter(
        occurred_at__gte=request.lost_at - timedelta(days=1),
        occurred_at__lte=request.lost_at + timedelta(hours=1),
        entity_type__in=list(ENTITIES),
        entity_id__isnull=False,
        actor__isnull=False,
    )
    busiest = (
        window.annotate(minute=TruncMinute("occurred_at"))
        .values("minute")
        .annotate(changes=Count("id"), first=Min("occurred_at"))
        .order_by("-changes", "minute")
        .first()
    )
    if busiest is None:
        return None
    return busiest["first"].replace(second=0, microsecond=0) - timedelta(minutes=1)

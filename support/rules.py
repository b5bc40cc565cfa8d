"""The rules of restore requests (DESIGN.md, "Support"), each a function that raises
accounts.rules.RuleViolation with API.md's code and a sentence, changing nothing. Called by
support.services, inside the transaction of the change they guard."""

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import plan_require
from backups.models import Snapshot
from backups.services import snapshot_verify
from backups.snapshot_format import SnapshotInvalid
from core.errors import RuleViolation
from crm.entities import ENTITIES
from support import selectors
from support.models import DESTRUCTIVE_KINDS, UNDO_WINDOW, RequestKind, RestoreRequest

# At most one executed destructive restore per account in this window (weekly_limit_require).
WEEKLY_LIMIT = timedelta(days=7)


def moment(account: Account, value: datetime) -> str:
    """A time as the account's people read it: in the account's zone, which is named."""
    try:
        local = timezone.localtime(value, ZoneInfo(account.time_zone))
    except OverflowError:  # the first or last hours of the calendar
        return value.isoformat()
    return f"{date_format(local, 'SHORT_DATETIME_FORMAT')} ({account.time_zone})"


def support_require(*, user: User) -> None:
    if not user.is_support:
        raise RuleViolation(code="support_only", message=_("Only support staff may do this."))


def participant_require(*, user: User) -> None:
    """Restore requests are between an account's admins and support; employees, operators
    and everyone else are refused whatever the request."""
    if not (user.is_support or user.is_account_admin):
        raise RuleViolation(
            code="admin_only",
            message=_(
                "Only account admins and support staff can see restore requests. "
                "Ask an admin of your account if data is missing."
            ),
        )


def plan_includes_require(*, account: Account) -> None:
    plan_require(account=account, feature=Feature.RESTORE_REQUESTS)


def request_open_violation(existing: RestoreRequest) -> RuleViolation:
    return RuleViolation(
        code="request_open",
        message=_(
            "Your account already has an open restore request (#%(id)s, %(status)s). "
            "Continue in its chat, or cancel it before filing another."
        )
        % {"id": existing.pk, "status": existing.get_status_display().lower()},
    )


def no_open_request_require(*, account: Account) -> None:
    existing = selectors.request_open_for(account=account)
    if existing is not None:
        raise request_open_violation(existing)


def weekly_limit_require(
    *, account: Account, kind: str | None = None, now: datetime | None = None
) -> None:
    """At most one executed destructive restore (``full`` or ``entities``) per account per 7
    days: such a request is refused while the latest completed one finished less than 7 days
    ago; allowed from exactly 7 days after its ``completed_at`` on. Failed, rejected and
    cancelled requests changed nothing and do not count. ``recover`` and ``export`` change
    nothing that exists and ``undo`` puts back what a restore replaced: they never count and
    are never refused by the limit (issue 18). ``kind`` None: the strictest (a destructive
    one)."""
    if kind is not None and kind not in DESTRUCTIVE_KINDS:
        return
    next_from = destructive_restore_from(account=account, now=now)
    if next_from is None:
        return
    last, when = next_from
    raise RuleViolation(
        code="weekly_limit",
        message=_(
            "Your account was reset from a backup on %(when)s (request #%(id)s). One full or "
            "entity-type restore per 7 days is possible; the next from %(next)s. A recover "
            "(bring back what is gone, nothing else changes) and an export are possible now."
        )
        % {
            "when": moment(account, cast(datetime, last.completed_at)),
            "id": last.pk,
            "next": moment(account, when),
        },
    )


def destructive_restore_from(
    *, account: Account, now: datetime | None = None
) -> tuple[RestoreRequest, datetime] | None:
    """When the weekly limit lets the next ``full`` or ``entities`` restore run, with the
    restore that holds it back; None: possible now."""
    now = now or timezone.now()
    last = selectors.last_completed_restore(account=account)
    if last is None or last.completed_at is None:
        return None
    when = last.completed_at + WEEKLY_LIMIT
    return None if now >= when else (last, when)


def undo_target_require(
    *, account: Account, now: datetime | None = None
) -> tuple[RestoreRequest, Snapshot]:
    """The restore an ``undo`` takes back, and its safety snapshot: the latest completed
    restore, finished within UNDO_WINDOW, its safety snapshot still kept."""
    target = selectors.undo_target(account=account, now=now)
    if target is None:
        raise RuleViolation(
            code="nothing_to_undo",
            message=_(
                "There is no restore to undo: an undo goes back to the safety snapshot of the "
                "account's latest completed restore, within %(hours)s hours of it."
            )
            % {"hours": int(UNDO_WINDOW.total_seconds() // 3600)},
        )
    return target


def lost_at_within_retention_require(
    *, account: Account, lost_at: datetime, now: datetime | None = None
) -> None:
    """The moment of the loss must be covered by a kept snapshot: one taken at or before it.
    A moment in the future is not a loss yet."""
    now = now or timezone.now()
    if lost_at > now:
        raise RuleViolation(
            code="outside_retention",  # as API.md answers a moment in the future elsewhere
            message=_("The time of the loss is in the future; give the moment the data was lost."),
        )
    snapshots = selectors.snapshots_within_retention(account=account, now=now)
    if snapshots.filter(taken_at__lte=lost_at).exists():
        return
    oldest = snapshots.order_by("taken_at").first()
    days = settings.SNAPSHOT_RETENTION_DAYS
    if oldest is None:
        message = _(
            "There is no snapshot of your account to restore from yet (snapshots are taken "
            "nightly and kept %(days)s days)."
        ) % {"days": days}
    else:
        message = _(
            "No snapshot is kept from before %(lost_at)s: the oldest is from %(oldest)s "
            "(snapshots are kept %(days)s days). Give a later time, or ask support in a "
            "message what can still be done."
        ) % {
            "lost_at": moment(account, lost_at),
            "oldest": moment(account, oldest.taken_at),
            "days": days,
        }
    raise RuleViolation(code="outside_retention", message=message)


def snapshot_usable_require(*, account: Account, snapshot: Snapshot | None) -> Snapshot:
    """A snapshot a restore of ``account`` may use: the account's, finished, still kept."""
    if snapshot is None:
        raise RuleViolation(
            code="outside_retention",
            message=_("The snapshot is no longer kept. Choose another one within the retention."),
        )
    if snapshot.drill_status == Snapshot.Drill.FAILED:
        raise RuleViolation(
            code="snapshot_invalid",
            message=_(
                "Snapshot #%(id)s failed its restore drill, so it is never used for a restore. "
                "Choose another one."
            )
            % {"id": snapshot.pk},
        )
    kept = selectors.snapshots_within_retention(account=account).filter(pk=snapshot.pk).first()
    if kept is None:
        raise RuleViolation(
            code="outside_retention",
            message=_("Snapshot #%(id)s is not one of the account's kept, finished snapshots.")
            % {"id": snapshot.pk},
        )
    return kept


def kind_require(*, kind: str) -> None:
    """One of the kinds of restore request (RequestKind)."""
    if kind not in RequestKind.values:
        raise RuleViolation(
            code="invalid",
            message=_("Unknown kind of restore: %(kind)s. Choose among %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(RequestKind.values)},
        )


def kind_clean(*, kind: str, entity_types: Iterable[str] | None) -> list[str]:
    """The entity types to keep for ``kind``: the chosen ones for ``entities`` (at least one,
    known ones, in the usual order), none for the others (an ``export`` is the whole
    snapshot)."""
    kind_require(kind=kind)
    if kind != RequestKind.ENTITIES:
        return []
    chosen = set(entity_types or [])
    unknown = sorted(str(value) for value in chosen - set(ENTITIES))
    if not chosen or unknown:
        raise RuleViolation(
            code="invalid",
            message=_("Choose the types of records to restore among: %(types)s.")
            % {"types": ", ".join(ENTITIES)},
        )
    return [key for key in ENTITIES if key in chosen]


def snapshot_exportable_require(*, snapshot: Snapshot) -> None:
    """An export's snapshot file must read back whole before the admin is told to download
    it: the link then leads to a ZIP, not to an error."""
    try:
        snapshot_verify(snapshot=snapshot)
    except SnapshotInvalid as error:
        raise RuleViolation(
            code="snapshot_invalid",
            message=_(
                "Snapshot #%(id)s cannot be exported: its file does not read back whole "
                "(%(error)s). Propose another snapshot."
            )
            % {"id": snapshot.pk, "error": error.message},
        ) from error


def state_require(*, request: RestoreRequest, allowed: Collection[str], action: str) -> None:
    if request.status not in allowed:
        raise RuleViolation(
            code="invalid_state",
            message=_("Restore request #%(id)s is %(status)s: it cannot be %(action)s now.")
            % {"id": request.pk, "status": request.get_status_display().lower(), "action": action},
        )

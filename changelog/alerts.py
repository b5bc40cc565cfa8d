"""Mass-change alerts (DESIGN.md, "Undo and point in time"; API.md, "Alerts").

Every minute (config/schedule.py) the detector counts, per account, user and kind, the records
deleted (``delete`` events) or changed (``update`` events, not the links that follow a delete)
in the last ALERT_WINDOW_MINUTES. More than the account's threshold (100 by default) and more
than ``factor`` (5) times the account's usual for that kind (its average per window over the
last ALERT_USUAL_DAYS days) is a burst: the account's admins get an in-app alert and an email
linking to the revert preview of exactly those events, and the history an ``alert`` event. A
burst that goes on extends its alert; professional plan only."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Count, Max, Min
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Account, User
from accounts.plans import Feature, plan_has
from accounts.rules import admin_require
from changelog.models import Alert, AlertKind, AlertSettings
from core.errors import RuleViolation
from history.models import Event, EventType
from history.selectors import record_changes
from history.services import history_record

logger = logging.getLogger(__name__)

KIND_EVENT = {AlertKind.MASS_DELETE: EventType.DELETE, AlertKind.MASS_UPDATE: EventType.UPDATE}
EVENT_KIND = {str(event): kind for kind, event in KIND_EVENT.items()}


def window() -> timedelta:
    return timedelta(minutes=int(getattr(settings, "ALERT_WINDOW_MINUTES", 10)))


def usual_days() -> int:
    return int(getattr(settings, "ALERT_USUAL_DAYS", 7))


def alert_settings(account: Account) -> AlertSettings:
    """The account's thresholds (the defaults, unsaved, when it never set them)."""
    found = AlertSettings.objects.filter(account=account).first()
    return found or AlertSettings(
        account=account,
        threshold=int(getattr(settings, "ALERT_THRESHOLD", 100)),
        factor=int(getattr(settings, "ALERT_FACTOR", 5)),
    )


def history_filter(alert: Alert) -> dict[str, object]:
    """The history's filters that select exactly the alert's events."""
    return {
        "actor": alert.actor_id,
        "event_type": [str(KIND_EVENT[AlertKind(alert.kind)])],
        "occurred_after": alert.started_at.isoformat(),
        "occurred_before": (alert.ended_at + timedelta(microseconds=1)).isoformat(),
    }


def revert_path(alert: Alert) -> str:
    """The revert preview of the alert's events (a page path; empty without pages)."""
    try:
        path = reverse("changelog:revert")
    except NoReverseMatch:
        return ""
    return f"{path}?{urlencode(history_filter(alert), doseq=True)}"


@dataclass(frozen=True)
class _Burst:
    account_id: int
    actor_id: int
    kind: AlertKind
    count: int
    first_event: int
    last_event: int
    started_at: datetime
    ended_at: datetime


def _bursts(*, since: datetime, until: datetime) -> list[_Burst]:
    """Per account, user and kind, the changes in the window (across accounts: the system's
    job; each burst is then handled inside its own account)."""
    events = record_changes(
        Event.objects.filter(
            occurred_at__gte=since,
            occurred_at__lte=until,
            event_type__in=[str(event) for event in KIND_EVENT.values()],
            actor__isnull=False,
        )
    )
    rows = (
        events.values("account_id", "actor_id", "event_type")
        .annotate(
            count=Count("id"),
            first_event=Min("id"),
            last_event=Max("id"),
            started_at=Min("occurred_at"),
            ended_at=Max("occurred_at"),
        )
        .order_by()
    )
    return [
        _Burst(
            account_id=row["account_id"],
            actor_id=row["actor_id"],
            kind=EVENT_KIND[row["event_type"]],
            count=row["count"],
            first_event=row["first_event"],
            last_event=row["last_event"],
            started_at=row["started_at"],
            ended_at=row["ended_at"],
        )
        for row in rows
    ]


def _usual(*, account: Account, kind: AlertKind, before: datetime) -> float:
    """The account's average number of such changes per window over the last days."""
    days = usual_days()
    count = record_changes(
        Event.objects.for_account(account).filter(
            event_type=KIND_EVENT[kind],
            occurred_at__gte=before - timedelta(days=days),
            occurred_at__lt=before,
        )
    ).count()
    return count / (timedelta(days=days) / window())


def alerts_detect(*, now: datetime | None = None) -> list[Alert]:
    """Look for bursts now; returns the alerts raised (new ones, not those extended)."""
    now = now or timezone.now()
    since = now - window()
    raised = []
    for burst in _bursts(since=since, until=now):
        if burst.count <= 1:
            continue
        account = Account.objects.filter(pk=burst.account_id).first()
        if account is None or not plan_has(account.plan, Feature.CHANGE_ALERTS):
            continue
        limits = alert_settings(account)
        if not limits.enabled or burst.count <= limits.threshold:
            continue
        if burst.count <= limits.factor * _usual(account=account, kind=burst.kind, before=since):
            continue
        alert = _alert_record(account=account, burst=burst)
        if alert is not None:
            raised.append(alert)
    return raised


@transaction.atomic
def _alert_record(*, account: Account, burst: _Burst) -> Alert | None:
    """Raise the burst's alert, or extend the one it continues. Locks the account's row: two
    detectors at once raise it once."""
    Account.objects.select_for_update().filter(pk=account.pk).first()
    ongoing = (
        Alert.objects.for_account(account)
        .filter(kind=burst.kind, actor_id=burst.actor_id, ended_at__gte=burst.started_at - window())
        .order_by("-id")
        .first()
    )
    if ongoing is not None:
        if burst.last_event > ongoing.last_event:
            ongoing.last_event = burst.last_event
            ongoing.ended_at = burst.ended_at
            ongoing.count = record_changes(
                Event.objects.for_account(account).filter(
                    actor_id=burst.actor_id,
                    event_type=KIND_EVENT[burst.kind],
                    id__gte=ongoing.first_event,
                    id__lte=ongoing.last_event,
                )
            ).count()
            ongoing.save(update_fields=["last_event", "ended_at", "count"])
        return None
    actor = User.objects.filter(pk=burst.actor_id).first()
    alert = Alert.objects.create(
        account=account,
        kind=burst.kind,
        actor=actor,
        actor_username=actor.username if actor else "",
        started_at=burst.started_at,
        ended_at=burst.ended_at,
        count=burst.count,
        first_event=burst.first_event,
        last_event=burst.last_event,
    )
    history_record(
        account=account,
        actor=None,
        event_type=EventType.ALERT,
        title=_alert_text(alert),
        details={
            "alert": alert.pk,
            "kind": alert.kind,
            "count": alert.count,
            "user": alert.actor_username,
            "history_filter": history_filter(alert),
        },
    )
    emails = _emails(alert)
    if emails:
        transaction.on_commit(lambda: _emails_send(emails))
    return alert


def _alert_text(alert: Alert) -> str:
    if alert.kind == AlertKind.MASS_DELETE:
        text = ngettext(
            "%(user)s deleted %(count)s record within %(minutes)s minutes.",
            "%(user)s deleted %(count)s records within %(minutes)s minutes.",
            alert.count,
        )
    else:
        text = ngettext(
            "%(user)s changed %(count)s record within %(minutes)s minutes.",
            "%(user)s changed %(count)s records within %(minutes)s minutes.",
            alert.count,
        )
    minutes = int(window().total_seconds() // 60)
    return text % {"user": alert.actor_username, "count": alert.count, "minutes": minutes}


def _emails(alert: Alert) -> list[EmailMessage]:
    admins = User.objects.filter(
        account_id=alert.account_id, role=User.Role.ADMIN, is_active=True
    ).exclude(email="")
    site = settings.SITE_URL.rstrip("/")
    emails = []
    text = _alert_text(alert)
    lines = [text, ""]
    if path := revert_path(alert):
        lines.append(
            _("See exactly these changes, and undo them if they were a mistake: %(url)s")
            % {"url": f"{site}{path}"}
        )
    for admin in admins:
        emails.append(
            EmailMessage(
                subject=f"[CRM] {_('Alert')}: {text}",
                body="\n".join(lines) + "\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[admin.email],
            )
        )
    return emails


def _emails_send(emails: list[EmailMessage]) -> None:
    try:
        get_connection().send_messages(emails)
    except Exception:
        logger.exception("alert emails not sent")


def alert_acknowledge(*, alert: Alert, user: User) -> Alert:
    """An admin saw it (it leaves the banner; the history keeps it)."""
    admin_require(user=user)
    if alert.account_id != user.account_id:
        raise RuleViolation(code="not_found", message=f"No alert {alert.pk}.")
    updated = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )
    if updated:
        alert.refresh_from_db()
    return alert


@transaction.atomic
def alert_settings_save(
    *, account: Account, user: User, enabled: bool, threshold: int, factor: int
) -> AlertSettings:
    """Set the account's thresholds (admins)."""
    admin_require(user=user)
    saved, _created = AlertSettings.objects.update_or_create(
        account=account, defaults={"enabled": enabled, "threshold": threshold, "factor": factor}
    )
    return saved

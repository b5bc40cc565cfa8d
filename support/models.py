"""Restore requests (DESIGN.md, "Support"): an account admin asks support to roll the account
back from a snapshot; the chat on each request; the notifications both sides get. Data and
invariants only: every state change goes through support.services."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, AccountScopedQuerySet
from backups.kinds import RestoreKind
from backups.models import Snapshot


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Open")
    PROPOSED = "proposed", _("Proposed")
    CONFIRMED = "confirmed", _("Confirmed")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class RequestKind(models.TextChoices):
    """What an admin may ask for: every kind of restore (backups.kinds.RestoreKind, the same
    values), plus an export of the data as it was."""

    FULL = RestoreKind.FULL.value, _("Full")
    ENTITIES = RestoreKind.ENTITIES.value, _("Entity types")
    RECOVER = RestoreKind.RECOVER.value, _("Recover")
    EXPORT = "export", _("Export")
    # Back to the safety snapshot of the latest completed restore (a full restore from it).
    UNDO = "undo", _("Undo the last restore")


# A request in one of these is "open": the database allows one per account.
OPEN_STATUSES = (
    RequestStatus.OPEN,
    RequestStatus.PROPOSED,
    RequestStatus.CONFIRMED,
    RequestStatus.QUEUED,
    RequestStatus.RUNNING,
)
# Rejecting (support) and cancelling (admin) are possible only before the task is queued.
BEFORE_QUEUED = (RequestStatus.OPEN, RequestStatus.PROPOSED, RequestStatus.CONFIRMED)
# Kinds that run a restore (a task, maintenance, a safety snapshot first).
RESTORE_KINDS = (RequestKind.FULL, RequestKind.ENTITIES, RequestKind.RECOVER, RequestKind.UNDO)
# Kinds that overwrite what exists: a completed one counts towards the weekly limit. A recover
# and an export change nothing that exists; an undo puts back what the last restore replaced.
DESTRUCTIVE_KINDS = (RequestKind.FULL, RequestKind.ENTITIES)
# An undo goes back to the latest completed restore's safety snapshot within this window.
UNDO_WINDOW = timedelta(hours=48)


def restore_kind_for(kind: str) -> str:
    """The restore (backups.kinds.RestoreKind) a request's kind runs: an undo is a full
    restore from the safety snapshot."""
    return RequestKind.FULL.value if kind == RequestKind.UNDO else kind


class RestoreRequest(models.Model):
    Status = RequestStatus
    Kind = RequestKind
    OPEN_STATUSES = OPEN_STATUSES
    BEFORE_QUEUED = BEFORE_QUEUED

    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="restore_requests",
    )
    status = models.CharField(
        _("status"), max_length=20, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    kind = models.CharField(_("kind"), max_length=20, choices=RequestKind.choices)
    entity_types = models.JSONField(_("entity types"), default=list, blank=True)
    lost_at = models.DateTimeField(_("data lost at"))
    message = models.TextField(_("message"))
    snapshot = models.ForeignKey(
        Snapshot,
        verbose_name=_("snapshot"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("proposed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("filed at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    progress = models.PositiveSmallIntegerField(
        _("progress"), default=0, validators=[MaxValueValidator(100)]
    )
    # What the running restore is doing: queued, verify, safety_snapshot, apply, done.
    step = models.CharField(_("step"), max_length=32, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # Written every few seconds by the task while it runs; the watchdog fails a request whose
    # worker stopped writing it (support.services.requests_watchdog).
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    completed_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    outcome = models.JSONField(_("outcome"), null=True, blank=True)
    # A moment proposed instead of a snapshot (backups.moment): the restore takes the account
    # back to how it was then; ``snapshot`` is the kept one that moment builds on.
    restore_to = models.DateTimeField(_("restore to"), null=True, blank=True)
    reject_reason = models.TextField(_("reason for rejecting"), blank=True)

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("restore request")
        verbose_name_plural = _("restore requests")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="request_account_newest"),
            models.Index(fields=["status", "created_at"], name="request_status_age"),
        ]
        constraints = [
            # Two simultaneous filings: the second INSERT fails here (support.services turns
            # it into 409 request_open).
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="support_one_open_request_per_account",
            ),
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="support_request_progress_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.account} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Message(models.Model):
    """One line of a request's chat: an admin's or support's message, or a system line (no
    author) written by each workflow step."""

    request = models.ForeignKey(
        RestoreRequest,
        verbose_name=_("restore request"),
        on_delete=models.CASCADE,
        related_name="messages",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    is_support = models.BooleanField(_("from support"), default=False)
    is_system = models.BooleanField(_("system line"), default=False)
    body = models.TextField(_("message"))
    # A system line's message id and values (support.chat_lines): shown in each reader's
    # language; ``body`` holds it as the actor read it.
    line = models.JSONField(_("line to translate"), null=True, blank=True)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="message_request_time")]

    def __str__(self) -> str:
        return f"#{self.request_id}: {self.body[:40]}"


class NotificationVerb(models.TextChoices):
    FILED = "filed", _("Filed")
    MESSAGE = "message", _("New message")
    PROPOSED = "proposed", _("Proposed")
    CONFIRMED = "confirmed", _("Confirmed")
    APPROVED = "approved", _("Approved")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class Notification(models.Model):
    """Something happened to a request that ``recipient`` should know about (in the app; the
    same events are also emailed, see support.notifications)."""

    Verb = NotificationVerb

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    request = models.ForeignKey(
        RestoreRequest,
        verbose_name=_("restore request"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    verb = models.CharField(_("what happened"), max_length=20, choices=NotificationVerb.choices)
    # Who did it (None: the system, e.g. the restore's task), so the notification says so.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notification_recipient_newest"),
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="notification_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.verb} #{self.request_id} -> {self.recipient_id}"


class MaintenanceWatch(models.Model):
    """The watchdog saw ``account`` in maintenance with no running request at ``first_seen_at``.
    Still so after a while, the maintenance is orphaned (its restore's process died) and is
    lifted; a row disappears as soon as the account is writable again or a request runs."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("maintenance watch")
        verbose_name_plural = _("maintenance watches")

    def __str__(self) -> str:
        return f"{self.account_id} since {self.first_seen_at:%Y-%m-%d %H:%M}"


class SupportAccess(models.Model):
    """Support staff ``user``'s looks at the account's data through ``request`` within one
    hour (DESIGN.md: one ``support_access`` event per person, request and hour, not one per
    page view). The first look writes the history event (``event_id``); every look counts
    here, with each distinct thing looked at (``looks``), so the history can say "12 views"
    and what they covered while the history itself stays append-only."""

    request = models.ForeignKey(
        RestoreRequest,
        verbose_name=_("restore request"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("support user"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    hour = models.DateTimeField(_("hour"))  # its start
    event_id = models.BigIntegerField(_("history event"), unique=True)
    views = models.PositiveIntegerField(_("views"), default=1)
    looks = models.JSONField(_("what was looked at"), default=list)
    last_at = models.DateTimeField(_("last look"), default=timezone.now)

    class Meta:
        verbose_name = _("support access")
        verbose_name_plural = _("support accesses")
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user", "hour"], name="support_access_one_per_hour"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.request_id} {self.user_id} {self.hour:%Y-%m-%d %H}: {self.views}"

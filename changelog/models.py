from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, AccountScopedQuerySet


class RevertJob(models.Model):
    """A revert too big for one request (more records than REVERT_JOB_THRESHOLD), run by a
    Celery worker (changelog.tasks.revert_job_run) in one transaction. ``events`` is the
    selection, captured when the job was created: events written later are not swept in."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    events = models.JSONField(default=list)
    force = models.BooleanField(default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100
    # The outcome: {"records": n, "fields": n, "conflicts": n} once completed.
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("revert job")
        verbose_name_plural = _("revert jobs")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="revertjob_account_newest"),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="revertjob_active",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status__in=["queued", "running"]),
                name="revertjob_one_active_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"revert job #{self.pk} ({self.status}, {self.progress}%)"

    @property
    def is_final(self) -> bool:
        return self.status not in self.ACTIVE_STATUSES


class AlertKind(models.TextChoices):
    MASS_DELETE = "mass_delete", _("Mass deletion")
    MASS_UPDATE = "mass_update", _("Mass change")


class Alert(models.Model):
    """One user deleted or changed many records within ALERT_WINDOW_MINUTES (changelog.alerts):
    the account's admins are told, with the revert preview of exactly those events. A burst
    that goes on is one alert, extended, not one per minute."""

    Kind = AlertKind

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(_("kind"), max_length=20, choices=AlertKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_username = models.CharField(_("user"), max_length=150, blank=True)
    started_at = models.DateTimeField(_("first change"))
    ended_at = models.DateTimeField(_("last change"))
    count = models.PositiveIntegerField(_("changes"))
    first_event = models.BigIntegerField()
    last_event = models.BigIntegerField()
    created_at = models.DateTimeField(_("detected"), auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="alert_account_newest"),
            models.Index(
                fields=["account"],
                name="alert_account_open",
                condition=models.Q(acknowledged_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_username} ({self.count})"


class AlertSettings(models.Model):
    """An account's thresholds: an alert when one user deletes or changes more than
    ``threshold`` records within the window, and more than ``factor`` times the account's
    usual. No row: the defaults (ALERT_THRESHOLD, ALERT_FACTOR)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(_("alerts on"), default=True)
    threshold = models.PositiveIntegerField(_("more than this many records"), default=100)
    factor = models.PositiveSmallIntegerField(_("and this many times the usual"), default=5)

    class Meta:
        verbose_name = _("alert settings")
        verbose_name_plural = _("alert settings")

    def __str__(self) -> str:
        return f"alerts of account {self.account_id}: > {self.threshold}, x{self.factor}"

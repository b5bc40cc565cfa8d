from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, AccountScopedQuerySet
from crm.entities import EntityType


class BinEntry(models.Model):
    """One deletion: the record (``entity_type``/``entity_id``) and the activities that went
    with it. The rows stay in their tables, marked with this entry, until restored or purged."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    entity_type = models.CharField(_("type"), max_length=20, choices=EntityType.choices)
    entity_id = models.BigIntegerField(_("record id"))
    title = models.CharField(_("title"), max_length=255)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("deleted by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    deleted_at = models.DateTimeField(_("deleted at"))
    purge_after = models.DateTimeField(_("purge date"))
    item_count = models.PositiveIntegerField(_("items"), default=1)

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("recycle bin entry")
        verbose_name_plural = _("recycle bin entries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="bin_account_newest"),
            models.Index(fields=["account", "entity_type", "-id"], name="bin_account_type"),
            models.Index(fields=["account", "deleted_by", "-id"], name="bin_account_user"),
            # The bin page's default order (migration 0002, built CONCURRENTLY).
            models.Index(fields=["account", "-deleted_at", "-id"], name="bin_account_deleted"),
            models.Index(fields=["purge_after"], name="bin_purge_after"),
        ]
        constraints = [
            # A record is in the bin at most once.
            models.UniqueConstraint(
                fields=["account", "entity_type", "entity_id"], name="bin_one_entry_per_record"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_entity_type_display()} “{self.title}”"


class HiddenLink(models.Model):
    """A live record's link to an item while that item is in the bin (a contact's company).
    The link is cleared on the live record and remembered here: restoring the entry puts it
    back (unless the record was linked elsewhere meanwhile); purging the entry forgets it."""

    entry = models.ForeignKey(BinEntry, on_delete=models.CASCADE, related_name="hidden_links")
    entity_type = models.CharField(max_length=20, choices=EntityType.choices)
    record_id = models.BigIntegerField()
    field = models.CharField(max_length=30)

    class Meta:
        indexes = [models.Index(fields=["entity_type", "record_id"], name="hiddenlink_record")]
        constraints = [
            models.UniqueConstraint(
                fields=["entry", "entity_type", "record_id", "field"], name="hiddenlink_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity_type} #{self.record_id}.{self.field} -> entry #{self.entry_id}"


class RestoreJob(models.Model):
    """A restore of many entries run by a Celery worker (recyclebin.job_worker.restore_job_run),
    chunk by chunk, reporting progress here. ``entry_ids`` is the set asked for, captured when
    the job was created: entries deleted later are not swept in. At most one job per account is
    queued or running (the database says so: ``restorejob_one_active_per_account``)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED)

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The entries to restore, in the order the chunks take them (items before activities, so
    # an activity's parent asked for in the same job is back before it).
    entry_ids = models.JSONField(default=list)
    together = models.BooleanField(default=False)
    total = models.PositiveIntegerField(_("entries"))
    done = models.PositiveIntegerField(_("entries done"), default=0)
    restored = models.PositiveIntegerField(_("entries restored"), default=0)
    skipped = models.PositiveIntegerField(_("entries skipped"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Queued: when the task was last sent. Running: when the worker last finished a chunk.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("restore job")
        verbose_name_plural = _("restore jobs")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="restorejob_account_newest"),
            models.Index(
                fields=["status", "heartbeat_at"],
                name="restorejob_active",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(status__in=["queued", "running"]),
                name="restorejob_one_active_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"restore job #{self.pk} ({self.status}, {self.done}/{self.total})"

    @property
    def progress(self) -> int:
        """0-100; 100 only once every entry is done."""
        if not self.total:
            return 100 if self.status == self.Status.COMPLETED else 0
        return min(100, self.done * 100 // self.total)

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

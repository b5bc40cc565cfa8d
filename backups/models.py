"""Snapshots: one consistent point in time of an account's CRM data, bin included (the history
is not part of it). Data and invariants only: taking, verifying and expiring go through
backups.services; the file format is backups.snapshot_format."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, AccountScopedQuerySet


class SnapshotQuerySet(AccountScopedQuerySet):
    def usable(self) -> "SnapshotQuerySet":
        """Only a finished snapshot has a complete, checksummed file behind it."""
        return self.filter(status=Snapshot.Status.SUCCEEDED)

    def restorable(self) -> "SnapshotQuerySet":
        """The finished snapshots a restore may be offered: not one whose drill failed
        (DESIGN.md, "Restore drills"; the Backups page still lists it, saying so)."""
        return self.usable().exclude(drill_status=Snapshot.Drill.FAILED)


class Snapshot(models.Model):
    class Kind(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly")
        MANUAL = "manual", _("Manual")
        PRE_RESTORE = "pre_restore", _("Before a restore")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    class Drill(models.TextChoices):
        PENDING = "pending", _("Not proven yet")
        PASSED = "passed", _("Proven")
        FAILED = "failed", _("Failed its drill")

    class DrillLevel(models.TextChoices):
        QUICK = "quick", _("Rows read back")
        FULL = "full", _("Restored in a scratch space")

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    taken_at = models.DateTimeField(_("taken at"))
    # The UTC day of a nightly snapshot: at most one per account and day (see constraints).
    day = models.DateField(_("day"))
    expires_at = models.DateTimeField(_("expires at"))
    size_bytes = models.BigIntegerField(_("size"), default=0)
    counts = models.JSONField(_("rows per table"), default=dict, blank=True)
    checksum = models.CharField(
        _("checksum"), max_length=64, blank=True, help_text=_("SHA-256 of the file's bytes.")
    )
    format_version = models.PositiveSmallIntegerField(_("format version"), default=0)
    migration_state = models.JSONField(_("migration state"), default=dict, blank=True)
    storage_name = models.CharField(_("file"), max_length=255, blank=True)
    # Content-addressed storage: the SHA-256 of what the file says (its data, not the instant
    # it was taken). An unchanged account's next nightly snapshot points at the same file
    # instead of storing a second copy of the same bytes (backups.services), and a file goes
    # only with the last row that names it.
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    file_shared = models.BooleanField(
        _("file shared"),
        default=False,
        help_text=_("The data had not changed: this snapshot uses an earlier snapshot's file."),
    )
    error = models.TextField(_("error"), blank=True)
    # The restore drill (backups.drill): the rows' digests read from the database when the
    # snapshot was written, and what the last drill found comparing the file with them.
    digests = models.JSONField(_("row digests"), default=dict, blank=True)
    drill_status = models.CharField(
        _("drill"), max_length=10, choices=Drill.choices, default=Drill.PENDING
    )
    drill_level = models.CharField(
        _("drill level"), max_length=10, choices=DrillLevel.choices, blank=True
    )
    drill_checked_at = models.DateTimeField(_("drilled at"), null=True, blank=True)
    drill_error = models.TextField(_("drill error"), blank=True)
    # When a drill of it started (backups.drill.drill_claim); None when none runs.
    drill_started_at = models.DateTimeField(_("drill started"), null=True, blank=True)
    verified_at = models.DateTimeField(
        _("verified at"),
        null=True,
        blank=True,
        help_text=_("When a drill last proved the snapshot restorable."),
    )
    # A delta (backups.delta): this snapshot's file holds only what differs from ``base``'s,
    # which is kept as long as this one (a restore's safety copy, written as it compares).
    base = models.ForeignKey(
        "self",
        verbose_name=_("builds on"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deltas",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        ordering = ["-taken_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-taken_at", "-id"], name="snapshot_account_newest"),
            models.Index(fields=["expires_at"], name="snapshot_expires_at"),
            models.Index(fields=["account", "content_hash"], name="snapshot_account_content"),
            # The drills still to run (backups.drill.drills_due): few rows among many.
            models.Index(
                fields=["taken_at"],
                name="snapshot_drill_pending",
                condition=Q(drill_status="pending", status="succeeded"),
            ),
        ]
        constraints = [
            # A duplicated or retried nightly task finds this and does nothing. A failed attempt
            # does not count, so a retry the same day may still succeed.
            models.UniqueConstraint(
                fields=["account", "day"],
                condition=Q(kind="nightly") & ~Q(status="failed"),
                name="snapshot_one_nightly_per_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.taken_at:%Y-%m-%d %H:%M})"

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

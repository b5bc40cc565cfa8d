from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Account, AccountScopedQuerySet


class EventType(models.TextChoices):
    """The change log's own words. Apps above add theirs (history.subjects.event_types_register)."""

    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    DELETE = "delete", _("Delete")
    RESTORE = "restore", _("Restore")
    PURGE = "purge", _("Purge")
    ROLLBACK = "rollback", _("Rollback")
    RECOVER = "recover", _("Recover")
    # Chosen changes undone (changelog.revert): one per record it changed.
    REVERT = "revert", pgettext_lazy("history event", "Revert")
    # A mass deletion or change detected (changelog.alerts), for the account's admins.
    ALERT = "alert", _("Alert")
    EXPORT = "export", _("Snapshot exported")
    # Writes paused while a restore runs, and resumed (accounts.maintenance): who, why.
    MAINTENANCE_ON = "maintenance_on", _("Maintenance started")
    MAINTENANCE_OFF = "maintenance_off", _("Maintenance ended")


class Event(models.Model):
    """One change, written in the same transaction as the change. Append-only: the database
    refuses UPDATE and DELETE on this table (PostgreSQL trigger, migration 0002). Events name
    what they describe by type, id and title, never by foreign key, so they outlive it; the
    actor is kept by id and username and is not a constraint either."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now)
    # One of EventType, or of the types other apps register (history.subjects: a restore
    # request's steps are support's).
    event_type = models.CharField(_("event"), max_length=20)
    # What the event is about (history.subjects: a CRM record type, a restore request...), or
    # nothing (a rollback is account-wide).
    entity_type = models.CharField(_("type"), max_length=20, blank=True)
    entity_id = models.BigIntegerField(_("record id"), null=True, blank=True)
    entity_title = models.CharField(_("title"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.DO_NOTHING,  # the user may go; the event stays as it was written
        db_constraint=False,
        # Read per account (event_account_actor), never across accounts by user: an index of
        # its own would only cost every event written (a restore writes a million).
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_username = models.CharField(_("user"), max_length=150, blank=True)
    changes = models.JSONField(_("changes"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    details = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AccountScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("history event")
        verbose_name_plural = _("history events")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["account", "-id"], name="event_account_newest"),
            models.Index(fields=["account", "event_type", "-id"], name="event_account_type"),
            models.Index(
                fields=["account", "entity_type", "entity_id", "-id"], name="event_account_entity"
            ),
            models.Index(fields=["account", "actor", "-id"], name="event_account_actor"),
            models.Index(
                fields=["account", "event_type", "occurred_at"], name="event_account_type_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.entity_type} #{self.entity_id} {self.entity_title}"

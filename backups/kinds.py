"""The kinds of restore from a snapshot: one enum, owned by backups. Support's restore requests
add their own kinds around these (an export of a snapshot is requested the same way)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RestoreKind(models.TextChoices):
    # The account's CRM data, bin included, becomes exactly the snapshot's.
    FULL = "full", _("Full")
    # The same for the chosen entity types only.
    ENTITIES = "entities", _("Some entity types")
    # Only the rows that are gone come back; live rows are never changed.
    RECOVER = "recover", _("Recover")


# The kinds' values, in this order (choices of the API, the command line, the schema).
KINDS: tuple[str, ...] = tuple(RestoreKind.values)

"""The five CRM entity types in one registry, so lists, forms, the API and (later) the recycle
bin, history and snapshots treat them alike without five copies of the same code."""

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Activity, Company, Contact, CrmRecord, Deal, Lead


class EntityType(models.TextChoices):
    COMPANY = "company", _("Company")
    CONTACT = "contact", _("Contact")
    LEAD = "lead", _("Lead")
    DEAL = "deal", _("Deal")
    ACTIVITY = "activity", _("Activity")


@dataclass(frozen=True)
class Entity:
    type: EntityType
    model: type[CrmRecord]
    url_name: str  # plural path segment in the browser and the API: "companies"
    search_fields: tuple[str, ...]
    ordering_fields: tuple[str, ...]
    list_columns: tuple[str, ...]

    @property
    def link_fields(self) -> tuple[str, ...]:
        """Foreign keys to other CRM records (a contact's company, an activity's parent)."""
        return tuple(
            f.name
            for f in self.model._meta.get_fields()
            if f.many_to_one and issubclass(f.related_model, CrmRecord)
        )

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def verbose_name_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural)


ENTITIES: dict[str, Entity] = {
    entity.type.value: entity
    for entity in (
        Entity(
            type=EntityType.COMPANY,
            model=Company,
            url_name="companies",
            search_fields=("title", "email", "phone", "industry"),
            ordering_fields=("id", "title", "industry", "created_at", "updated_at"),
            list_columns=("title", "industry", "phone", "email"),
        ),
        Entity(
            type=EntityType.CONTACT,
            model=Contact,
            url_name="contacts",
            search_fields=("first_name", "last_name", "email", "phone"),
            ordering_fields=("id", "first_name", "last_name", "email", "created_at", "updated_at"),
            list_columns=("first_name", "last_name", "email", "phone", "company"),
        ),
        Entity(
            type=EntityType.LEAD,
            model=Lead,
            url_name="leads",
            search_fields=("title", "first_name", "last_name", "email", "phone"),
            ordering_fields=("id", "title", "status", "amount", "created_at", "updated_at"),
            list_columns=("title", "status", "source", "amount"),
        ),
        Entity(
            type=EntityType.DEAL,
            model=Deal,
            url_name="deals",
            search_fields=("title",),
            ordering_fields=(
                "id",
                "title",
                "stage",
                "amount",
                "close_date",
                "created_at",
                "updated_at",
            ),
            list_columns=("title", "stage", "amount", "currency", "company", "close_date"),
        ),
        Entity(
            type=EntityType.ACTIVITY,
            model=Activity,
            url_name="activities",
            search_fields=("subject", "description"),
            ordering_fields=("id", "subject", "type", "due_at", "created_at", "updated_at"),
            list_columns=("subject", "type", "due_at", "completed"),
        ),
    )
}


def entity_for_model(model: type[CrmRecord]) -> Entity:
    return next(entity for entity in ENTITIES.values() if entity.model is model)

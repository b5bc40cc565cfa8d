"""The five CRM entity types in one registry, so lists, forms, the API, the recycle bin, the
history and the snapshots treat them alike without five copies of the same code.

``ENTITIES`` is in dependency order: parents before children (a record only links to types
listed before its own), the order a snapshot writes and a restore loads them. ``PURGE_ORDER``
is the other way round: children first, the order in which records can be deleted."""

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import ACTIVITY_PARENTS, Activity, Company, Contact, CrmRecord, Deal, Lead


class EntityType(models.TextChoices):
    COMPANY = "company", _("Company")
    CONTACT = "contact", _("Contact")
    LEAD = "lead", _("Lead")
    DEAL = "deal", _("Deal")
    ACTIVITY = "activity", _("Activity")


@dataclass(frozen=True)
class Entity:
    type: EntityType
    model: builtins.type[CrmRecord]  # builtins: the field above shadows ``type`` in this body
    url_name: str  # plural path segment in the browser and the API: "companies"
    search_fields: tuple[str, ...]
    ordering_fields: tuple[str, ...]
    list_columns: tuple[str, ...]
    # The fields a record's title is made of (its model's ``title_text``), for code that names
    # a record from its raw row (a snapshot's preview).
    title_fields: tuple[str, ...]
    # Links of which a record needs exactly one (an activity's lead, deal, contact or company):
    # a record left without any cannot exist on its own.
    parent_fields: tuple[str, ...] = ()
    # Rows an API search in id order walks before it turns to the trigram index (only where
    # the search columns have one: core.api.pagination's ``_rows``).
    search_window: int | None = None
    # A column holding the search fields in capitals (the contacts' ``search``): a search reads
    # it instead of each field (crm.selectors.records_search).
    search_column: str | None = None

    @property
    def table(self) -> str:
        """The database table of the type's records."""
        return self.model._meta.db_table

    @property
    def title_columns(self) -> tuple[str, ...]:
        return self._columns(self.title_fields)

    @property
    def parent_columns(self) -> tuple[str, ...]:
        return self._columns(self.parent_fields)

    def _columns(self, names: tuple[str, ...]) -> tuple[str, ...]:
        columns = {field.name: field.column for field in self.model._meta.concrete_fields}
        return tuple(columns[name] for name in names)

    @property
    def export_file_name(self) -> str:
        """The type's file in a snapshot's export (a ZIP of CSV files): ``companies.csv``."""
        return f"{self.url_name}.csv"

    @property
    def link_fields(self) -> tuple[str, ...]:
        """Foreign keys to other CRM records (a contact's company, an activity's parent)."""
        return tuple(
            f.name
            for f in self.model._meta.get_fields()
            if f.many_to_one
            and isinstance(f.related_model, builtins.type)
            and issubclass(f.related_model, CrmRecord)
        )

    @property
    def value_fields(self) -> tuple[str, ...]:
        """The fields the change log keeps a record's values of (a create's initial values, a
        purge's last image, an update's changes): what a person edits, links included; not
        the id, the account, who created it, when, or its bin entry."""
        return tuple(
            f.name
            for f in self.model._meta.concrete_fields
            if f.editable and not f.primary_key and f.name != "account"
        )

    def image(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A record's set values by field name, links by id, from ``values`` keyed by field
        name or attname (a record's ``__dict__``, a ``.values()`` row). Empty ones are left
        out: a create's ``changes`` maps each set field -> ``[null, value]``."""
        attnames = {f.name: f.attname for f in self.model._meta.concrete_fields}
        image = {}
        for name in self.value_fields:
            value = values.get(attnames[name], values.get(name))
            if value is not None and value != "":
                image[name] = value
        return image

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def verbose_name_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural)

    def name_for(self, count: int) -> str:
        """The type's name for ``count`` records: "1 company", "2 companies" (never "1
        companies"; English and German both take the singular for exactly one)."""
        return self.verbose_name if count == 1 else self.verbose_name_plural


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
            title_fields=("title",),
        ),
        Entity(
            type=EntityType.CONTACT,
            model=Contact,
            url_name="contacts",
            search_fields=("first_name", "last_name", "email", "phone"),
            ordering_fields=("id", "first_name", "last_name", "email", "created_at", "updated_at"),
            list_columns=("first_name", "last_name", "email", "phone", "company"),
            title_fields=("first_name", "last_name"),
            search_window=5_000,
            search_column="search",
        ),
        Entity(
            type=EntityType.LEAD,
            model=Lead,
            url_name="leads",
            search_fields=("title", "first_name", "last_name", "email", "phone"),
            ordering_fields=("id", "title", "status", "amount", "created_at", "updated_at"),
            list_columns=("title", "status", "source", "amount"),
            title_fields=("title",),
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
            title_fields=("title",),
        ),
        Entity(
            type=EntityType.ACTIVITY,
            model=Activity,
            url_name="activities",
            search_fields=("subject", "description"),
            ordering_fields=("id", "subject", "type", "due_at", "created_at", "updated_at"),
            list_columns=("subject", "type", "due_at", "completed"),
            title_fields=("subject",),
            parent_fields=ACTIVITY_PARENTS,
        ),
    )
}


def entity_for_model(model: type[CrmRecord]) -> Entity:
    return next(entity for entity in ENTITIES.values() if entity.model is model)


def entity_for_table(table: str) -> Entity | None:
    """The entity type whose records live in ``table``, or None (a table of another kind)."""
    return next((entity for entity in ENTITIES.values() if entity.table == table), None)


def _purge_order() -> tuple[str, ...]:
    """The types children first: deepest first (the longest chain of links from the type to a
    type that links to none), ties in reverse registry order. Read from the models' forward
    fields only, so it can be computed while the apps are still loading."""
    depth: dict[str, int] = {}
    for entity in ENTITIES.values():  # parents before children: theirs are known already
        parents = []
        for field in entity.model._meta.fields:
            target = field.remote_field.model if field.remote_field is not None else None
            if isinstance(target, type) and issubclass(target, CrmRecord):
                parents.append(entity_for_model(target).type.value)
        depth[entity.type.value] = 1 + max((depth[parent] for parent in parents), default=-1)
    position = {key: index for index, key in enumerate(ENTITIES)}
    return tuple(sorted(ENTITIES, key=lambda key: (-depth[key], -position[key])))


# Deleting children before parents: activities first, then what they hang on (the recycle
# bin's purge deletes in this order).
PURGE_ORDER: tuple[str, ...] = _purge_order()

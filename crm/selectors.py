"""Reads of CRM records, always inside one account."""

from django.db.models import QuerySet

from accounts.models import Account
from core.errors import RuleViolation
from crm.entities import ENTITIES, Entity
from crm.models import Activity, CrmRecord

# What each list shows of its links, fetched in the same query.
LIST_RELATED = {
    "contact": ("company",),
    "deal": ("company", "contact"),
    "activity": ("lead", "deal", "contact", "company"),
}


def records_for_account(*, account: Account, entity: Entity, with_links: bool = True) -> QuerySet:
    """The account's records of one type; ``with_links`` joins the linked records that pages
    show by name (the API shows links by id only, so it skips the join)."""
    queryset = entity.model.objects.for_account(account)
    if with_links:
        queryset = queryset.select_related(*LIST_RELATED.get(entity.type.value, ()))
    return queryset


def record_get(*, account: Account, entity: Entity, record_id: int | str) -> CrmRecord:
    """The record, or ``not_found``: the same answer for a missing id and another account's id."""
    try:
        return records_for_account(account=account, entity=entity).get(pk=int(record_id))
    except (entity.model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise RuleViolation(code="not_found", message=f"No such {entity.type.value}.") from None


def record_in_bin(*, account: Account, entity: Entity, record_id: int | str) -> CrmRecord | None:
    """The account's record if it is in the recycle bin (with its entry and who deleted it),
    for the page a link to it leads to; None when it is live, gone or another account's."""
    try:
        pk = int(record_id)
    except (ValueError, TypeError):
        return None
    return (
        entity.model.objects.filter(account=account, pk=pk, bin_entry__isnull=False)
        .select_related("bin_entry__deleted_by")
        .first()
    )


def record_linked(*, record: CrmRecord) -> dict[str, QuerySet]:
    """What a detail page lists under a record: a company's contacts, deals and activities, a
    contact's deals and activities, and so on. Scoped by the record's own account."""
    linked: dict[str, QuerySet] = {}
    for entity in ENTITIES.values():
        for field in entity.link_fields:
            if entity.model._meta.get_field(field).related_model is type(record):
                linked[entity.type.value] = records_for_account(
                    account=record.account, entity=entity
                ).filter(**{field: record})
    return linked


def activities_for(*, record: CrmRecord) -> QuerySet:
    return Activity.objects.for_account(record.account).filter(
        **{str(type(record)._meta.model_name): record}
    )

"""Reads of CRM records, always inside one account."""

from collections.abc import Iterable

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Upper

from accounts.models import Account
from core.errors import RuleViolation
from crm.entities import ENTITIES, Entity
from crm.models import SEARCH_SEPARATOR, Activity, CrmRecord

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


def records_search(queryset: QuerySet, entity: Entity, words: Iterable[str]) -> QuerySet:
    """The records of which every word is in one of the type's search fields, whatever its
    case. Where the type keeps a search column (the search fields in capitals), a word is one
    ``LIKE`` on it, with the word put in capitals by the database as the column was; else, or
    for a word holding the column's separator, one case-insensitive match per field."""
    for word in words:
        if entity.search_column and SEARCH_SEPARATOR not in word:
            match = Q(**{f"{entity.search_column}__contains": Upper(Value(word))})
        else:
            match = Q()
            for field in entity.search_fields:
                match |= Q(**{f"{field}__icontains": word})
        queryset = queryset.filter(match)
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

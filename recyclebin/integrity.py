"""The recycle bin's invariants, checked on a live database (``manage.py check_integrity``, the
nightly check): a record is wholly live or wholly in the bin with what went with it.

- every bin entry holds its item: the row it names exists and points back at the entry;
- every binned row's entry is of the row's own account;
- no live record links to a binned one (an activity on a binned deal, a contact's binned
  company): deleting hides such links, restoring puts them back;
- every hidden link belongs to an entry of its record's account, and that record exists.

Each check is one query per entity type (or per link), whatever the account's size."""

from collections.abc import Iterator

from django.db.models import Exists, OuterRef

from accounts.models import Account
from crm.entities import ENTITIES
from recyclebin.models import BinEntry, HiddenLink

SHOWN = 20  # ids named per problem; the count says how many there are


def _ids(ids: list[int]) -> str:
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(f"#{pk}" for pk in ids[:SHOWN]) + more


def bin_breaches(*, account: Account) -> Iterator[str]:
    """A sentence per broken invariant of the account's records and bin."""
    entries = BinEntry.objects.filter(account=account)
    for entity in ENTITIES.values():
        rows = entity.model.objects.filter(account=account)
        held = rows.filter(pk=OuterRef("entity_id"), bin_entry=OuterRef("pk"))
        unheld = list(
            entries.filter(entity_type=entity.type)
            .exclude(Exists(held))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if unheld:
            yield (
                f"{len(unheld)} bin entries of {entity.type.value} records do not hold their "
                f"record (live again, or gone): entries {_ids(unheld)}"
            )
        foreign = list(
            rows.filter(bin_entry__isnull=False)
            .exclude(bin_entry__account=account)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if foreign:
            yield (
                f"{len(foreign)} {entity.type.value} records are in another account's bin "
                f"entry: {_ids(foreign)}"
            )
        live = rows.filter(bin_entry__isnull=True)
        for name in entity.link_fields:
            into_bin = list(
                live.filter(**{f"{name}__bin_entry__isnull": False})
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if into_bin:
                yield (
                    f"{len(into_bin)} live {entity.type.value} records link to a {name} in "
                    f"the bin: {_ids(into_bin)}"
                )
        hidden = HiddenLink.objects.filter(entry__account=account, entity_type=entity.type)
        orphans = list(
            hidden.exclude(Exists(rows.filter(pk=OuterRef("record_id"))))
            .order_by("pk")
            .values_list("record_id", flat=True)
        )
        if orphans:
            yield (
                f"{len(orphans)} hidden links name {entity.type.value} records that are not "
                f"in the account: {_ids(orphans)}"
            )

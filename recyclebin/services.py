"""The recycle bin: delete into it, restore from it, purge it. Every function works on a set of
entries with a fixed number of queries per entity type, so restoring or purging a thousand
entries costs about what one does.

Invariant kept by these functions (recyclebin.links): a live record never links to an item in
the bin. Deleting an item clears live records' links to it and remembers them (HiddenLink);
restoring puts them back; purging forgets them.

A bulk restore of more than BIN_RESTORE_JOB_THRESHOLD entries becomes a restore job
(``restore_job_needed`` decides, for the API and the page; ``bin_restore_bulk`` acts on it):
created here, its rules checked and its entries captured; a worker then runs it
(recyclebin.job_worker)."""

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import account_writable_require, admin_require, plan_require
from core.errors import RuleViolation
from core.jobs import task_send
from core.text import grouped
from crm.entities import ENTITIES, PURGE_ORDER, EntityType, entity_for_model
from crm.models import Activity, CrmRecord
from history.models import EventType
from history.services import history_event, history_record_many
from recyclebin.conf import restore_job_threshold
from recyclebin.counts import bin_counts_forget
from recyclebin.links import (
    Items,
    LinkChange,
    entries_linked,
    hidden_links_forget,
    hidden_links_restore,
    link_events,
    link_targets_lock,
    links_hide,
    links_purged,
    links_to_bin_hide,
    record_title,
)
from recyclebin.models import BinEntry, RestoreJob


@dataclass
class RestoreResult:
    restored: list[tuple[str, int]] = field(default_factory=list)  # (entity_type, id)
    linked_in_bin: list[int] = field(default_factory=list)  # entries still holding link targets
    entries: list[int] = field(default_factory=list)  # the entries restored


def _not_found(message: str) -> RuleViolation:
    return RuleViolation(code="not_found", message=message)


@transaction.atomic
def bin_delete(
    *,
    record: CrmRecord,
    actor: User | None,
    event_type: str = EventType.DELETE,
    details: Mapping[str, Any] | None = None,
    changes: Mapping[str, list[Any]] | None = None,
) -> BinEntry:
    """Move ``record`` and its activities into the bin as one entry. ``event_type``,
    ``details`` and ``changes``: what the history says (a revert sending a record back
    writes ``revert`` events, ``details`` added to each, ``changes`` on the record's own: the
    fields it set back first)."""
    account = record.account
    account_writable_require(account=account)
    entity = entity_for_model(type(record))
    # Lock the row: a second delete of the same record waits, then finds it gone.
    if not type(record).objects.for_account(account).select_for_update().filter(pk=record.pk):
        raise _not_found(f"No such {entity.type.value}.")

    activities: list[tuple[int, str]] = []
    if entity.type != EntityType.ACTIVITY:
        activities = list(
            Activity.objects.for_account(account)
            .filter(**{entity.type.value: record})
            .values_list("id", "subject")
        )
    now = timezone.now()
    entry = BinEntry.objects.create(
        account=account,
        entity_type=entity.type,
        entity_id=record.pk,
        title=record_title(record),
        deleted_by=actor,
        deleted_at=now,
        purge_after=now + timedelta(days=settings.BIN_RETENTION_DAYS),
        item_count=1 + len(activities),
    )
    type(record).objects.filter(pk=record.pk).update(bin_entry=entry)
    Activity.objects.filter(pk__in=[pk for pk, _ in activities]).update(bin_entry=entry)
    hidden = links_hide(account=account, entry=entry, target=entity)

    extra = dict(details or {})
    events = [
        history_event(
            account=account,
            actor=actor,
            event_type=event_type,
            entity_type=entity.type,
            entity_id=record.pk,
            title=entry.title,
            occurred_at=now,
            details={
                **extra,
                "bin_entry": entry.pk,
                "item_count": entry.item_count,
                "unlinked": len(hidden),
            },
            changes=changes,
        )
    ]
    events += [
        history_event(
            account=account,
            actor=actor,
            event_type=event_type,
            entity_type=EntityType.ACTIVITY,
            entity_id=pk,
            title=subject,
            occurred_at=now,
            details={**extra, "bin_entry": entry.pk, "with": [entity.type.value, record.pk]},
        )
        for pk, subject in activities
    ]
    cause = {"event": str(event_type), "entity_type": entity.type.value, "id": record.pk}
    events += link_events(
        account=account,
        actor=actor,
        changes=hidden,
        occurred_at=now,
        details={"cause": cause, "bin_entry": entry.pk},
    )
    history_record_many(events)
    return entry


def _lock(*, account: Account, entry_ids: Iterable[int]) -> dict[int, BinEntry]:
    entries = BinEntry.objects.for_account(account).select_for_update().filter(pk__in=entry_ids)
    return {entry.pk: entry for entry in entries.order_by("pk")}


def _items(*, account: Account, entry_ids: Collection[int]) -> Items:
    """The rows these entries hold, per entity type: ``{row id: its entry id}`` (iterating
    it, or ``pk__in=`` it, gives the row ids)."""
    return {
        entity_type: dict(
            entity.model.objects.in_bin(account=account, entry_ids=entry_ids).values_list(
                "id", "bin_entry"
            )
        )
        for entity_type, entity in ENTITIES.items()
    }


@transaction.atomic
def bin_restore(
    *,
    account: Account,
    entry_ids: Collection[int],
    actor: User | None,
    together: bool = False,
    event_type: str = EventType.RESTORE,
    details: Mapping[str, Any] | None = None,
    changes: Mapping[tuple[str, int], Mapping[str, list[Any]]] | None = None,
) -> RestoreResult:
    """Bring the entries' items back, with the same ids. ``together``: also restore the entries
    holding items they link to (a contact's company), and theirs, and so on. ``event_type``,
    ``details`` (added to each event) and ``changes`` (by ``(entity_type, id)``): what the
    history says (a revert bringing a record back writes ``revert`` events, with the fields it
    set back while the record was in the bin)."""
    account_writable_require(account=account)
    plan_require(account=account, feature=Feature.BIN_RESTORE)
    entries = _lock(account=account, entry_ids=entry_ids)
    _visible_require(entries=entries.values(), entry_ids=entry_ids, actor=actor)

    while True:
        items = _items(account=account, entry_ids=set(entries))
        link_targets_lock(items=items)  # before they are checked for being in the bin
        linked, parents = entries_linked(account=account, entry_ids=set(entries), items=items)
        if not (together and linked):
            break
        more = _lock(account=account, entry_ids=linked - set(entries))
        _visible_require(entries=more.values(), entry_ids=more, actor=actor)
        entries.update(more)
    if parents:
        activity = Activity.objects.filter(account=account).get(pk=next(iter(parents)))
        parent = activity.parent
        raise RuleViolation(
            code="parent_in_bin",
            message=_(
                "The activity “%(activity)s” belongs to “%(parent)s”, which is in the recycle "
                "bin too. Restore them together."
            )
            % {"activity": activity.subject, "parent": parent.title_text},
        )

    result = RestoreResult(entries=sorted(entries))
    for entity_type, ids in items.items():
        ENTITIES[entity_type].model.objects.filter(pk__in=ids).update(bin_entry=None)
        result.restored += [(entity_type, pk) for pk in ids]
    still_in_bin, cleared = links_to_bin_hide(items=items)
    result.linked_in_bin = sorted(still_in_bin | linked)
    relinked = hidden_links_restore(account=account, entries=entries.values())

    subjects = dict(Activity.objects.filter(pk__in=items["activity"]).values_list("id", "subject"))
    main = {(e.entity_type, e.entity_id): e for e in entries.values()}
    now = timezone.now()
    extra = dict(details or {})
    changes = changes or {}
    history_record_many(
        history_event(
            account=account,
            actor=actor,
            event_type=event_type,
            entity_type=entity_type,
            entity_id=pk,
            title=main[(entity_type, pk)].title if (entity_type, pk) in main else subjects[pk],
            occurred_at=now,
            # The entry this row came from, not all of them: a thousand entries restored
            # together would write a thousand ids into each of a thousand events.
            details={**extra, "bin_entries": [items[entity_type][pk]]},
            changes=changes.get((entity_type, pk)),
        )
        for entity_type, pk in result.restored
    )

    def target_entry(change: LinkChange) -> int:
        """The entry of the record a link put back points at (it came back now; the entry
        that hid the link is one of those restored)."""
        target = cast(
            type[CrmRecord], change.entity.model._meta.get_field(change.field).related_model
        )
        return items[entity_for_model(target).type.value][cast(int, change.new)]

    link_details = {"cause": {"event": str(event_type)}}
    history_record_many(
        [
            # A link cleared on a record that came back: that record's entry.
            *link_events(
                account=account,
                actor=actor,
                changes=cleared,
                occurred_at=now,
                details=link_details,
                entry_of=lambda change: items[change.entity.type.value][change.record_id],
            ),
            *link_events(
                account=account,
                actor=actor,
                changes=relinked,
                occurred_at=now,
                details=link_details,
                entry_of=target_entry,
            ),
        ]
    )
    BinEntry.objects.filter(pk__in=entries).delete()  # their hidden links go with them
    bin_counts_forget(account=account, entries=entries.values())
    return result


def _visible_require(
    *, entries: Iterable[BinEntry], entry_ids: Iterable[int], actor: User | None
) -> None:
    """Every asked-for entry exists in the account and the actor may see it (employees see
    only their own); otherwise nothing happens and the answer is "not found"."""
    found = {entry.pk for entry in entries}
    wanted = set(entry_ids)
    if actor is not None and not actor.is_account_admin:
        found = {entry.pk for entry in entries if entry.deleted_by_id == actor.pk}
    if wanted - found:
        missing = ", ".join(str(pk) for pk in sorted(wanted - found))
        raise _not_found(_("Not in your recycle bin: %(ids)s.") % {"ids": missing})


@transaction.atomic
def bin_purge(*, account: Account, entry_ids: Collection[int], actor: User | None) -> int:
    """Delete the entries' items for good (``actor`` None: the automatic purge). Activities
    whose parent is purged go too, whichever entry holds them. Returns the entries purged."""
    if actor is not None:
        account_writable_require(account=account)
        admin_require(user=actor)
    entries = _lock(account=account, entry_ids=entry_ids)
    if actor is not None:
        _visible_require(entries=entries.values(), entry_ids=entry_ids, actor=actor)
    elif not entries:
        return 0  # the automatic purge: what was restored meanwhile is no longer due
    items = _items(account=account, entry_ids=set(entries))
    # Activities in other entries hanging on a purged item cannot outlive it.
    orphans: set[int] = set()
    for entity_type, ids in items.items():
        if ids and entity_type != EntityType.ACTIVITY:
            orphans.update(
                Activity.objects.filter(account=account, bin_entry__isnull=False)
                .exclude(bin_entry__in=entries)
                .filter(**{f"{entity_type}__in": ids})
                .values_list("bin_entry", flat=True)
            )
    if orphans:
        entries.update(_lock(account=account, entry_ids=orphans))
        items = _items(account=account, entry_ids=set(entries))

    subjects = dict(Activity.objects.filter(pk__in=items["activity"]).values_list("id", "subject"))
    # Links the purge empties on records that stay (in the bin: live ones were cleared when
    # the item was deleted), for their own history.
    emptied = links_purged(account=account, items=items)
    # The records' last images, kept in their purge events (the change log: a purged record
    # can be brought back by a revert, and the account rebuilt as it was before).
    images: dict[str, dict[int, dict[str, Any]]] = {}
    for entity_type in PURGE_ORDER:
        entity = ENTITIES[entity_type]
        rows = entity.model.objects.filter(account=account, pk__in=items[entity_type])
        images[entity_type] = {
            row["id"]: entity.image(row) for row in rows.values("id", *entity.value_fields)
        }
        rows.delete()
    hidden_links_forget(account=account, items=items)

    main = {(e.entity_type, e.entity_id): e for e in entries.values()}
    now = timezone.now()
    history_record_many(
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.PURGE,
            entity_type=entity_type,
            entity_id=pk,
            title=main[(entity_type, pk)].title if (entity_type, pk) in main else subjects[pk],
            occurred_at=now,
            details={"bin_entries": [items[entity_type][pk]]},  # as bin_restore's events
            changes={name: [value, None] for name, value in images[entity_type][pk].items()},
        )
        for entity_type in PURGE_ORDER
        for pk in items[entity_type]
    )
    by_target: dict[tuple[str, int], list[LinkChange]] = defaultdict(list)
    for change in emptied:
        target = cast(
            type[CrmRecord], change.entity.model._meta.get_field(change.field).related_model
        )
        by_target[(entity_for_model(target).type.value, change.old or 0)].append(change)
    for (target_type, target_id), changes in by_target.items():
        history_record_many(
            link_events(
                account=account,
                actor=actor,
                changes=changes,
                occurred_at=now,
                details={
                    "cause": {
                        "event": EventType.PURGE.value,
                        "entity_type": target_type,
                        "id": target_id,
                    },
                    # The entry of the purged record the links pointed at (as the purge's
                    # own events: that one, not all of the purge's).
                    "bin_entries": [items[target_type][target_id]],
                },
            )
        )
    BinEntry.objects.filter(pk__in=entries).delete()
    bin_counts_forget(account=account, entries=entries.values())
    return len(entries)


def bin_empty(*, account: Account, actor: User) -> int:
    """Purge every entry of the account (admins only)."""
    account_writable_require(account=account)  # refused even with an empty bin, like any change
    admin_require(user=actor)
    entry_ids = list(BinEntry.objects.for_account(account).values_list("id", flat=True))
    return bin_purge(account=account, entry_ids=entry_ids, actor=actor) if entry_ids else 0


def bin_purge_expired(*, batch_size: int = 500) -> int:
    """The automatic purge: entries past their purge date, a batch per transaction, as the
    system. Accounts under maintenance (a rollback running) wait for the next run."""
    purged = 0
    while True:
        # Across accounts on purpose: this is the system's job; each batch is purged inside
        # its own account below.
        batch = list(
            BinEntry.objects.filter(purge_after__lte=timezone.now(), account__maintenance=False)
            .order_by("purge_after")
            .values_list("account_id", "id")[:batch_size]
        )
        if not batch:
            return purged
        per_account: dict[int, list[int]] = defaultdict(list)
        for account_id, entry_id in batch:
            per_account[account_id].append(entry_id)
        for account in Account.objects.filter(pk__in=per_account):
            purged += bin_purge(account=account, entry_ids=per_account[account.pk], actor=None)


# --- Restore jobs: a bulk restore too big for one request -----------------------------------
#
# A bulk restore of more than BIN_RESTORE_JOB_THRESHOLD entries (recyclebin.conf) becomes a
# RestoreJob: the rules are checked and the entries captured when it is created, then a Celery
# worker restores them chunk by chunk through bin_restore (one transaction per chunk, the rules
# checked again each time), reporting progress to the job's row (recyclebin.job_worker).

RESTORE_JOB_MAX_ENTRIES = 100_000


def _query_batch_size() -> int:
    """How many ids one ``pk__in`` may carry on this database (SQLite: under 999)."""
    limit = connection.features.max_query_params
    return 10_000 if limit is None else max(1, min(10_000, limit - 99))


def _batches(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _ids_named(ids: list[int], *, most: int = 20) -> str:
    """``1, 2, 3`` or, for many, the first ``most`` and how many more."""
    ids = sorted(ids)
    named = ", ".join(str(pk) for pk in ids[:most])
    if len(ids) <= most:
        return named
    return _("%(ids)s and %(count)s more") % {"ids": named, "count": grouped(len(ids) - most)}


def _job_running_violation(job: RestoreJob | None) -> RuleViolation:
    if job is None:
        message = _(
            "Another restore job is already running for this account. Wait until it has "
            "finished, then start this one."
        )
    else:
        message = _(
            "A restore job (#%(id)s, %(total)s entries) is already running for this account. "
            "Wait until it has finished, then start this one."
        ) % {"id": job.pk, "total": grouped(job.total)}
    return RuleViolation(code="invalid_state", message=message)


def _active_job(account: Account) -> RestoreJob | None:
    return (
        RestoreJob.objects.for_account(account)
        .filter(status__in=RestoreJob.ACTIVE_STATUSES)
        .only("pk", "total")
        .first()
    )


def bin_restore_check(*, account: Account) -> None:
    """What a restore from the bin must pass before it is even confirmed: the account is
    writable (503 maintenance) and its plan includes restoring (403 plan_not_eligible).
    bin_restore checks them again inside its transaction."""
    account_writable_require(account=account)
    plan_require(account=account, feature=Feature.BIN_RESTORE)


def restore_job_check(*, account: Account, actor: User) -> None:
    """The rules a restore job must pass before it is offered or created: the account is
    writable (503 maintenance), its plan includes restoring (403 plan_not_eligible), and no
    other job of the account is queued or running (409 invalid_state)."""
    account_writable_require(account=account)
    plan_require(account=account, feature=Feature.BIN_RESTORE)
    active = _active_job(account)
    if active is not None:
        raise _job_running_violation(active)


def _visible_types(*, account: Account, actor: User, entry_ids: list[int]) -> dict[int, str]:
    """``{entry id: entity type}`` of the asked-for entries, each of which must be in the
    account's bin and visible to ``actor`` (employees: their own); otherwise 404 naming them."""
    entries = BinEntry.objects.for_account(account)
    if not actor.is_account_admin:
        entries = entries.filter(deleted_by=actor)
    found: dict[int, str] = {}
    for batch in _batches(entry_ids, _query_batch_size()):
        found.update(entries.filter(pk__in=batch).values_list("pk", "entity_type"))
    missing = [pk for pk in entry_ids if pk not in found]
    if missing:
        raise _not_found(_("Not in your recycle bin: %(ids)s.") % {"ids": _ids_named(missing)})
    return found


def _parent_in_bin_refuse(*, account: Account, entry_ids: set[int]) -> None:
    """bin_restore's ``parent_in_bin`` rule for the whole set at once: an activity asked for
    whose parent sits in an entry NOT asked for cannot come back (the chunks could not restore
    it either). Activities whose parent is in another entry are few (one deleted on its own,
    its parent later), so they are read for the account and matched here, rather than sending
    100,000 ids to the database."""
    parent_fields = ENTITIES[EntityType.ACTIVITY].link_fields
    elsewhere = Q()
    for name in parent_fields:
        elsewhere |= Q(**{f"{name}__bin_entry__isnull": False}) & ~Q(
            **{f"{name}__bin_entry": F("bin_entry")}
        )
    rows = (
        Activity.objects.filter(account=account, bin_entry__isnull=False)
        .filter(elsewhere)
        .values_list("pk", "bin_entry", *[f"{name}__bin_entry" for name in parent_fields])
    )
    for pk, own, *parents in rows.iterator():
        if own not in entry_ids:
            continue
        if any(p is not None and p != own and p not in entry_ids for p in parents):
            activity = Activity.objects.filter(account=account).get(pk=pk)
            raise RuleViolation(
                code="parent_in_bin",
                message=_(
                    "The activity “%(activity)s” belongs to “%(parent)s”, which is in the "
                    "recycle bin too. Restore them together."
                )
                % {"activity": activity.subject, "parent": activity.parent.title_text},
            )


@transaction.atomic
def restore_job_create(
    *, account: Account, entry_ids: Iterable[int], actor: User, together: bool = False
) -> RestoreJob:
    """Create the job that restores ``entry_ids`` in a worker, and send its task on commit.
    The same rules as bin_restore, checked now for the whole set (plan, maintenance, every
    entry in the caller's bin, an activity's parent); the worker checks them again per chunk.
    The entries are captured now: an entry deleted later is not swept in."""
    restore_job_check(account=account, actor=actor)
    wanted = list(dict.fromkeys(entry_ids))
    if not wanted:
        raise RuleViolation(code="invalid", message=_("Nothing to restore."))
    if len(wanted) > RESTORE_JOB_MAX_ENTRIES:
        raise RuleViolation(
            code="invalid",
            message=_("At most %(max)s entries can be restored at once; narrow the filter.")
            % {"max": grouped(RESTORE_JOB_MAX_ENTRIES)},
        )
    types = _visible_types(account=account, actor=actor, entry_ids=wanted)
    if not together:
        _parent_in_bin_refuse(account=account, entry_ids=set(wanted))
    # Items before activities: an activity's parent asked for too is back before its turn.
    ordered = sorted(wanted, key=lambda pk: (types[pk] == EntityType.ACTIVITY, pk))
    try:
        with transaction.atomic():
            job = RestoreJob.objects.create(
                account=account,
                requested_by=actor,
                entry_ids=ordered,
                together=together,
                total=len(ordered),
                heartbeat_at=timezone.now(),
            )
    except IntegrityError:
        # restorejob_one_active_per_account: another job was created meanwhile.
        raise _job_running_violation(_active_job(account)) from None
    job_id = job.pk
    transaction.on_commit(lambda: restore_job_send(job_id=job_id))
    return job


def restore_job_send(*, job_id: int) -> None:
    """Send the job's task now (from on_commit, or the watchdog); a broker that is down is
    logged (the watchdog sends it again)."""
    from recyclebin.tasks import restore_job_run  # the tasks module imports this one

    task_send(restore_job_run, job_id)


# --- Inline or job: the one place that decides -----------------------------------------------


def restore_job_needed(*, entry_count: int) -> bool:
    """Whether restoring ``entry_count`` entries at once is a restore job (more than
    BIN_RESTORE_JOB_THRESHOLD, run by a worker) rather than a restore inside the request. The
    page asks for confirmation before such a job; the API starts it at once."""
    return entry_count > restore_job_threshold()


def bin_restore_bulk(
    *, account: Account, entry_ids: Collection[int], actor: User, together: bool = False
) -> RestoreResult | RestoreJob:
    """Restore the entries at once (the RestoreResult), or, when ``restore_job_needed``, create
    the restore job that restores them in a worker (the RestoreJob, its task sent on commit).
    The rules and refusals are bin_restore's or restore_job_create's."""
    if restore_job_needed(entry_count=len(entry_ids)):
        return restore_job_create(
            account=account, entry_ids=entry_ids, actor=actor, together=together
        )
    return bin_restore(account=account, entry_ids=entry_ids, actor=actor, together=together)

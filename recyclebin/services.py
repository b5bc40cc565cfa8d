"""The recycle bin: delete into it, restore from it, purge it. Every function works on a set of
entries with a fixed number of queries per entity type, so restoring or purging a thousand
entries costs about what one does.

Invariant kept by these functions: a live record never links to an item in the bin. Deleting
an item clears live records' links to it and remembers them (HiddenLink); restoring puts them
back; purging forgets them."""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.plans import Feature
from accounts.rules import account_writable_require, admin_require, plan_require
from core.errors import RuleViolation
from crm.entities import ENTITIES, Entity, EntityType, entity_for_model
from crm.models import Activity, CrmRecord
from history.models import EventType
from history.services import history_event, history_record_many
from recyclebin.conf import bin_setting
from recyclebin.models import BinEntry, HiddenLink, RestoreJob

logger = logging.getLogger(__name__)

# Deleting children before parents: activities first, then what they hang on.
PURGE_ORDER = ("activity", "deal", "contact", "lead", "company")


@dataclass
class RestoreResult:
    restored: list[tuple[str, int]] = field(default_factory=list)  # (entity_type, id)
    linked_in_bin: list[int] = field(default_factory=list)  # entries still holding link targets
    entries: list[int] = field(default_factory=list)  # the entries restored


def _links_into(entity: Entity) -> list[tuple[Entity, str]]:
    """(entity, field) for every link from a record of ``entity`` to another record."""
    return [(entity, name) for name in entity.link_fields]


def _links_to(target: Entity) -> list[tuple[Entity, str]]:
    """(entity, field) for every link that can point at a record of ``target``."""
    return [
        (entity, name)
        for entity in ENTITIES.values()
        for name in entity.link_fields
        if entity.model._meta.get_field(name).related_model is target.model
    ]


def _title(record: CrmRecord) -> str:
    return record.title_text[:255] or f"#{record.pk}"


@transaction.atomic
def bin_delete(*, record: CrmRecord, actor: User | None) -> BinEntry:
    """Move ``record`` and its activities into the bin as one entry."""
    account = record.account
    account_writable_require(account=account)
    entity = entity_for_model(type(record))
    # Lock the row: a second delete of the same record waits, then finds it gone.
    if not type(record).objects.for_account(account).select_for_update().filter(pk=record.pk):
        raise Http404(f"No such {entity.type.value}.")

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
        title=_title(record),
        deleted_by=actor,
        deleted_at=now,
        purge_after=now + timedelta(days=settings.BIN_RETENTION_DAYS),
        item_count=1 + len(activities),
    )
    type(record).objects.filter(pk=record.pk).update(bin_entry=entry)
    Activity.objects.filter(pk__in=[pk for pk, _ in activities]).update(bin_entry=entry)
    hidden = _links_hide(account=account, entry=entry, target=entity)

    events = [
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.DELETE,
            entity_type=entity.type,
            entity_id=record.pk,
            title=entry.title,
            occurred_at=now,
            details={"bin_entry": entry.pk, "item_count": entry.item_count, "unlinked": hidden},
        )
    ]
    events += [
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.DELETE,
            entity_type=EntityType.ACTIVITY,
            entity_id=pk,
            title=subject,
            occurred_at=now,
            details={"bin_entry": entry.pk, "with": [entity.type.value, record.pk]},
        )
        for pk, subject in activities
    ]
    history_record_many(events)
    return entry


def _links_hide(*, account: Account, entry: BinEntry, target: Entity) -> int:
    """Clear live records' links to the entry's item, remembering each. Returns how many."""
    hidden = 0
    for entity, name in _links_to(target):
        ids = list(
            entity.model.objects.for_account(account)
            .filter(**{name: entry.entity_id})
            .values_list("id", flat=True)
        )
        if not ids:
            continue
        HiddenLink.objects.bulk_create(
            HiddenLink(entry=entry, entity_type=entity.type, record_id=pk, field=name) for pk in ids
        )
        entity.model.objects.filter(pk__in=ids).update(**{name: None})
        hidden += len(ids)
    return hidden


def _lock(*, account: Account, entry_ids) -> dict[int, BinEntry]:
    entries = BinEntry.objects.for_account(account).select_for_update().filter(pk__in=entry_ids)
    return {entry.pk: entry for entry in entries.order_by("pk")}


def _items(*, account: Account, entry_ids) -> dict[str, dict[int, int]]:
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


def _linked_entries(
    *, account: Account, entry_ids: set[int], items: dict[str, dict[int, int]]
) -> tuple[set[int], dict[int, int]]:
    """Other entries holding items the given ones link to: ``(entries, parents)`` where
    ``parents`` maps an activity id to its parent's entry when that parent is in another
    entry; such an activity cannot come back alone."""
    linked: set[int] = set()
    parents: dict[int, int] = {}
    for entity_type, ids in items.items():
        if not ids:
            continue
        entity = ENTITIES[entity_type]
        for _entity, name in _links_into(entity):
            rows = (
                entity.model.objects.filter(pk__in=ids, **{f"{name}__bin_entry__isnull": False})
                .exclude(**{f"{name}__bin_entry__in": entry_ids})
                .values_list("id", f"{name}__bin_entry")
            )
            for pk, target_entry in rows:
                linked.add(target_entry)
                if entity.type == EntityType.ACTIVITY:
                    parents[pk] = target_entry
        # Links hidden while this item was live and its target went into the bin.
        linked.update(
            HiddenLink.objects.filter(
                entry__account=account, entity_type=entity_type, record_id__in=ids
            )
            .exclude(entry_id__in=entry_ids)
            .values_list("entry_id", flat=True)
        )
    return linked, parents


@transaction.atomic
def bin_restore(
    *, account: Account, entry_ids, actor: User, together: bool = False
) -> RestoreResult:
    """Bring the entries' items back, with the same ids. ``together``: also restore the entries
    holding items they link to (a contact's company), and theirs, and so on."""
    account_writable_require(account=account)
    plan_require(account=account, feature=Feature.BIN_RESTORE)
    entries = _lock(account=account, entry_ids=entry_ids)
    _visible_require(entries=entries.values(), entry_ids=entry_ids, actor=actor)

    while True:
        items = _items(account=account, entry_ids=set(entries))
        linked, parents = _linked_entries(account=account, entry_ids=set(entries), items=items)
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
    result.linked_in_bin = sorted(_links_hide_to_bin(account=account, items=items) | linked)
    _hidden_links_restore(account=account, entries=entries.values())

    subjects = dict(Activity.objects.filter(pk__in=items["activity"]).values_list("id", "subject"))
    main = {(e.entity_type, e.entity_id): e for e in entries.values()}
    now = timezone.now()
    history_record_many(
        history_event(
            account=account,
            actor=actor,
            event_type=EventType.RESTORE,
            entity_type=entity_type,
            entity_id=pk,
            title=main[(entity_type, pk)].title if (entity_type, pk) in main else subjects[pk],
            occurred_at=now,
            # The entry this row came from, not all of them: a thousand entries restored
            # together would write a thousand ids into each of a thousand events.
            details={"bin_entries": [items[entity_type][pk]]},
        )
        for entity_type, pk in result.restored
    )
    BinEntry.objects.filter(pk__in=entries).delete()  # their hidden links go with them
    return result


def _links_hide_to_bin(*, account: Account, items: dict[str, dict[int, int]]) -> set[int]:
    """Restored records that still point at an item in the bin: clear the link and remember
    it in that item's entry. Returns those entries."""
    entries: set[int] = set()
    for entity_type, ids in items.items():
        entity = ENTITIES[entity_type]
        if not ids or entity.type == EntityType.ACTIVITY:
            continue  # activities never reach here with a parent in the bin
        for _entity, name in _links_into(entity):
            rows = list(
                entity.model.objects.filter(
                    pk__in=ids, **{f"{name}__bin_entry__isnull": False}
                ).values_list("id", f"{name}__bin_entry")
            )
            if not rows:
                continue
            HiddenLink.objects.bulk_create(
                HiddenLink(entry_id=entry, entity_type=entity_type, record_id=pk, field=name)
                for pk, entry in rows
            )
            entity.model.objects.filter(pk__in=[pk for pk, _ in rows]).update(**{name: None})
            entries.update(entry for _, entry in rows)
    return entries


def _hidden_links_restore(*, account: Account, entries) -> None:
    """Put back the links these entries hid, where the record still exists and its link is
    still empty (a record linked elsewhere meanwhile keeps its new link). One UPDATE per link
    field, however many entries (a record hidden from two of them gets the newer link)."""
    hidden = HiddenLink.objects.filter(entry_id__in=[entry.pk for entry in entries])
    for entity_type, name in set(hidden.values_list("entity_type", "field")):
        links = hidden.filter(entity_type=entity_type, field=name)
        target = (
            links.filter(record_id=OuterRef("pk"))
            .order_by("-entry_id")
            .values("entry__entity_id")[:1]
        )
        ENTITIES[entity_type].model.objects.filter(
            account=account, pk__in=links.values("record_id"), **{name: None}
        ).update(**{name: Subquery(target)})


def _visible_require(*, entries, entry_ids, actor: User | None) -> None:
    """Every asked-for entry exists in the account and the actor may see it (employees see
    only their own); otherwise nothing happens and the answer is "not found"."""
    found = {entry.pk for entry in entries}
    wanted = set(entry_ids)
    if actor is not None and not actor.is_account_admin:
        found = {entry.pk for entry in entries if entry.deleted_by_id == actor.pk}
    if wanted - found:
        missing = ", ".join(str(pk) for pk in sorted(wanted - found))
        raise Http404(_("Not in your recycle bin: %(ids)s.") % {"ids": missing})


@transaction.atomic
def bin_purge(*, account: Account, entry_ids, actor: User | None) -> int:
    """Delete the entries' items for good (``actor`` None: the automatic purge). Activities
    whose parent is purged go too, whichever entry holds them. Returns the entries purged."""
    if actor is not None:
        account_writable_require(account=account)
        admin_require(user=actor)
    entries = _lock(account=account, entry_ids=entry_ids)
    _visible_require(entries=entries.values(), entry_ids=entry_ids, actor=actor)
    items = _items(account=account, entry_ids=set(entries))
    # Activities in other entries hanging on a purged item cannot outlive it.
    orphans = set()
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
    for entity_type in PURGE_ORDER:
        ENTITIES[entity_type].model.objects.filter(pk__in=items[entity_type]).delete()

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
        )
        for entity_type in PURGE_ORDER
        for pk in items[entity_type]
    )
    BinEntry.objects.filter(pk__in=entries).delete()
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
# checked again each time), reporting progress to the job's row.

RESTORE_JOB_MAX_ENTRIES = 100_000


def _query_batch_size() -> int:
    """How many ids one ``pk__in`` may carry on this database (SQLite: under 999)."""
    limit = connection.features.max_query_params
    return 10_000 if limit is None else max(1, min(10_000, limit - 99))


def _batches(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _number(value: int) -> str:
    return number_format(value, force_grouping=True)


def _ids_named(ids: list[int], *, most: int = 20) -> str:
    """``1, 2, 3`` or, for many, the first ``most`` and how many more."""
    ids = sorted(ids)
    named = ", ".join(str(pk) for pk in ids[:most])
    if len(ids) <= most:
        return named
    return _("%(ids)s and %(count)s more") % {"ids": named, "count": _number(len(ids) - most)}


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
        ) % {"id": job.pk, "total": _number(job.total)}
    return RuleViolation(code="invalid_state", message=message)


def _active_job(account: Account) -> RestoreJob | None:
    return (
        RestoreJob.objects.for_account(account)
        .filter(status__in=RestoreJob.ACTIVE_STATUSES)
        .only("pk", "total")
        .first()
    )


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
        raise Http404(_("Not in your recycle bin: %(ids)s.") % {"ids": _ids_named(missing)})
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
    *, account: Account, entry_ids, actor: User, together: bool = False
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
            % {"max": _number(RESTORE_JOB_MAX_ENTRIES)},
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
    """Send the job's task; a broker that is down is logged (the watchdog sends it again)."""
    from recyclebin.tasks import restore_job_run  # the tasks module imports this one

    try:
        restore_job_run.delay(job_id)
    except Exception:
        logger.exception("restore job %s: could not send the task", job_id)


class _JobStopped(Exception):
    """The job is no longer ``running`` (the watchdog gave up on it): stop, change nothing."""


class _JobRefused(Exception):
    """A chunk may not be restored: the reason, for the job's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def restore_job_run(*, job_id: int) -> str:
    """Run a queued job. Claims it first (queued -> running, one conditional UPDATE): a second
    delivery of the task, or a second worker, finds it claimed and does nothing. Then restores
    its entries chunk by chunk (BIN_RESTORE_JOB_CHUNK, one transaction each, through
    bin_restore), the rules checked again for each chunk; entries restored or purged meanwhile
    are skipped. Returns ``completed``, ``failed`` or ``skipped``."""
    now = timezone.now()
    claimed = RestoreJob.objects.filter(pk=job_id, status=RestoreJob.Status.QUEUED).update(
        status=RestoreJob.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        logger.info("restore job %s: not queued (a repeated delivery?), skipped", job_id)
        return "skipped"
    job = RestoreJob.objects.get(pk=job_id)
    size = max(1, bin_setting("BIN_RESTORE_JOB_CHUNK"))
    restored: set[int] = set()
    try:
        for chunk in _batches(job.entry_ids, size):
            _restore_job_chunk(job=job, chunk=chunk, restored=restored)
    except _JobStopped:
        logger.warning("restore job %s: no longer running, stopped", job_id)
        return "skipped"
    except _JobRefused as refused:
        _job_failed(job_id=job_id, reason=refused.reason)
        return "failed"
    except Exception as error:
        logger.exception("restore job %s failed", job_id)
        _job_failed(
            job_id=job_id,
            reason=_("The restore stopped with an error (%(error)s).")
            % {"error": f"{type(error).__name__}: {error}"[:300]},
        )
        return "failed"
    now = timezone.now()
    RestoreJob.objects.filter(pk=job_id, status=RestoreJob.Status.RUNNING).update(
        status=RestoreJob.Status.COMPLETED, finished_at=now, heartbeat_at=now
    )
    return "completed"


def _restore_job_chunk(*, job: RestoreJob, chunk: list[int], restored: set[int]) -> None:
    """Restore one chunk of the job in one transaction, with its progress. ``restored``: the
    entries this job restored so far (with ``together``, linked ones from later chunks too)."""
    with transaction.atomic():
        now = timezone.now()
        # Also locks the job's row: the watchdog cannot fail the job while a chunk commits.
        if not RestoreJob.objects.filter(pk=job.pk, status=RestoreJob.Status.RUNNING).update(
            heartbeat_at=now
        ):
            raise _JobStopped
        # Loaded afresh for every chunk: a plan, a role or maintenance may change meanwhile.
        account = Account.objects.get(pk=job.account_id)
        actor = _job_actor(job=job, account=account)
        present = list(
            BinEntry.objects.for_account(account)
            .select_for_update()
            .filter(pk__in=chunk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        newly: set[int] = set()
        if present:
            try:
                result = bin_restore(
                    account=account, entry_ids=present, actor=actor, together=job.together
                )
            except RuleViolation as violation:
                raise _JobRefused(violation.message) from None
            except Http404:
                raise _JobRefused(
                    _(
                        "Some of the linked entries were deleted by someone else, so "
                        "%(user)s cannot restore them. An account admin can restore them "
                        "together."
                    )
                    % {"user": actor.username}
                ) from None
            newly = set(result.entries) - restored
        skipped = sum(1 for pk in chunk if pk not in present and pk not in restored)
        restored.update(newly)
        RestoreJob.objects.filter(pk=job.pk).update(
            done=F("done") + len(chunk),
            restored=F("restored") + len(newly),
            skipped=F("skipped") + skipped,
            heartbeat_at=timezone.now(),
        )


def _job_actor(*, job: RestoreJob, account: Account) -> User:
    """Who the job restores as: the user who started it, still an active member of the account
    (a removed or deactivated user's job stops)."""
    actor = (
        User.objects.filter(pk=job.requested_by_id, is_active=True, account=account)
        .select_related("account")
        .first()
    )
    if actor is None:
        raise _JobRefused(
            _("The user who started this restore can no longer restore (removed or deactivated).")
        )
    return actor


def _job_failed(*, job_id: int, reason: str, stale_before=None) -> bool:
    """End a running job as failed, its error saying why and that the chunks done stay done.
    ``stale_before``: only if no chunk finished since then (the watchdog). Returns whether it
    did."""
    running = RestoreJob.objects.filter(pk=job_id, status=RestoreJob.Status.RUNNING)
    if stale_before is not None:
        running = running.filter(heartbeat_at__lt=stale_before)
    with transaction.atomic():
        job = running.select_for_update().only("pk", "total", "done", "restored").first()
        if job is None:
            return False
        left = _(
            "It stopped after %(done)s of %(total)s entries: the %(restored)s entries restored "
            "stay restored, the rest are still in the recycle bin. Start the restore again to "
            "bring them back."
        ) % {
            "done": _number(job.done),
            "total": _number(job.total),
            "restored": _number(job.restored),
        }
        now = timezone.now()
        running.filter(pk=job.pk).update(
            status=RestoreJob.Status.FAILED,
            error=f"{reason} {left}"[:2000],
            finished_at=now,
            heartbeat_at=now,
        )
    return True


def restore_jobs_watchdog() -> dict[str, int]:
    """Every minute (config/schedule.py), across accounts: a running job with no chunk
    finished for BIN_RESTORE_JOB_STALE_MINUTES lost its worker (a redelivery of its task finds
    it claimed and does nothing), so it is failed and the account may start another; a job
    still queued after BIN_RESTORE_JOB_RESEND_MINUTES has its task sent again."""
    now = timezone.now()
    stale_before = now - timedelta(minutes=bin_setting("BIN_RESTORE_JOB_STALE_MINUTES"))
    failed = 0
    stale = RestoreJob.objects.filter(
        status=RestoreJob.Status.RUNNING, heartbeat_at__lt=stale_before
    ).values_list("pk", flat=True)
    for job_id in list(stale):
        failed += _job_failed(
            job_id=job_id,
            reason=_("The worker running this restore stopped."),
            stale_before=stale_before,
        )
    resend_before = now - timedelta(minutes=bin_setting("BIN_RESTORE_JOB_RESEND_MINUTES"))
    queued = RestoreJob.objects.filter(
        status=RestoreJob.Status.QUEUED, heartbeat_at__lt=resend_before
    )
    resent = list(queued.values_list("pk", flat=True))
    for job_id in resent:
        if queued.filter(pk=job_id).update(heartbeat_at=now):
            restore_job_send(job_id=job_id)
    return {"failed": failed, "resent": len(resent)}

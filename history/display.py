"""How history events read on a page (the history page, a record's detail page): who did it,
what changed in words, and a link to the record while it is live. A page of events costs a
fixed number of queries: one per entity type for the live records, one per linked type for
the names of changed links, never one per row."""

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import connection, models
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import get_format, number_format
from django.utils.text import Truncator, capfirst
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from accounts.models import Account, User
from core.html import format_moment, id_url
from crm.entities import ENTITIES, entity_for_model
from crm.models import CrmRecord
from history.models import Event, EventType
from history.selectors import is_record_change
from history.subjects import event_type_label, subject_get

VALUE_MAX_CHARS = 80


@dataclass
class Change:
    field: str
    old: str | None  # None: it was empty
    new: str | None


@dataclass
class EventRow:
    event: Event
    user: str
    is_system: bool
    record_url: str | None = None
    changes: list[Change] = field(default_factory=list)
    note: str = ""
    subject: str = ""  # what the event is about, in words ("Company"), from its owner
    event_label: str = ""  # the kind of event, in words ("Delete", "Restore proposed")
    # "Undo this change" is offered (a change of a record, by the one who may undo it).
    undoable: bool = False
    # The record is in the recycle bin now (its link leads to the page saying so).
    in_bin: bool = False
    # About a record of the CRM (its id is shown beside its title; other subjects, such as a
    # restore request, name their id in their title).
    is_record: bool = False


def actor_label(event: Event) -> str:
    return event.actor_username if event.actor_id is not None else _("System")


def event_rows(
    *, account: Account, events, request_links: bool = False, undo_by: User | None = None
) -> list[EventRow]:
    """``events`` (one page) as rows for a template; times are rendered by the template in
    the active time zone. ``request_links``: link the events of other subjects (a restore
    request's steps) to their page, for the account's admins, who may open them.
    ``undo_by``: the user who may undo changes here (admins any, employees their own)."""
    events = list(events)
    existing = _existing_ids(account=account, events=events)
    link_titles = _link_titles(account=account, events=events)
    fields = _Fields(get_language())
    notes = _subject_notes(events)
    # A page names a handful of kinds and subjects fifty times: each worded once.
    subjects = _Memo(_subject_label)
    kinds = _Memo(event_type_label)
    detail_urls = _Memo(lambda entity_type: id_url(f"crm:{entity_type}_detail"))
    rows = []
    for event in events:
        row = EventRow(
            event=event,
            user=actor_label(event),
            is_system=event.actor_id is None,
            changes=_changes(event, link_titles, fields),
            note=notes[event.pk] if event.pk in notes else _note(event),
            subject=subjects(event.entity_type),
            event_label=kinds(event.event_type),
            is_record=event.entity_type in ENTITIES and event.entity_id is not None,
            undoable=undo_by is not None
            and event.entity_type in ENTITIES
            and is_record_change(event)
            and (undo_by.is_account_admin or event.actor_id == undo_by.pk),
        )
        if event.entity_id in existing.get(event.entity_type, {}):
            row.record_url = detail_urls(event.entity_type)(event.entity_id)
            row.in_bin = existing[event.entity_type][event.entity_id]
        elif request_links and event.entity_id and (subject := subject_get(event.entity_type)):
            row.record_url = subject.url(event.entity_id) if subject.url else None
        rows.append(row)
    return rows


class _Memo(dict):
    """``memo(key)``: ``function(key)``, called once per key."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def __call__(self, key):
        if key not in self:
            self[key] = self.function(key)
        return self[key]


def _subject_label(subject_type: str) -> str:
    subject = subject_get(subject_type)
    return str(subject.label) if subject is not None else subject_type


def _existing_ids(*, account: Account, events: list[Event]) -> dict[str, dict[int, bool]]:
    """Per entity type, which of the events' records exist: ``{id: in the bin}``. A record in
    the bin is linked too: its page says where it is, with Restore (no dead end). One query
    for all the types (UNION ALL): each round trip costs more than its rows here."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.entity_type in ENTITIES and event.entity_id is not None:
            wanted[event.entity_type].add(event.entity_id)
    existing: dict[str, dict[int, bool]] = {entity_type: {} for entity_type in wanted}
    if not wanted:
        return existing
    # Plain SQL: the ORM took longer to build the union than the database to answer it.
    types = list(wanted)
    selects, params = [], []
    for index, entity_type in enumerate(types):
        ids = sorted(wanted[entity_type])
        selects.append(
            f"SELECT {index}, id, bin_entry_id FROM {ENTITIES[entity_type].model._meta.db_table} "  # noqa: S608 - the models' names, placeholders
            f"WHERE account_id = %s AND id IN ({', '.join(['%s'] * len(ids))})"
        )
        params += [account.pk, *ids]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        for index, pk, entry in cursor.fetchall():
            existing[types[index]][pk] = entry is not None
    return existing


@functools.lru_cache(maxsize=1024)
def _field_label(entity_type: str, name: str, language: str | None) -> str:
    """A field's name in ``language`` (the active one), looked up once per language: a page
    names hundreds of changed fields."""
    model_field = _model_field(entity_type, name)
    return str(capfirst(model_field.verbose_name)) if model_field else name


@functools.lru_cache(maxsize=1024)
def _choice_labels(model_field: models.Field, language: str | None) -> dict:
    return {value: str(label) for value, label in model_field.flatchoices}


@functools.lru_cache(maxsize=1024)
def _model_field(entity_type: str, name: str) -> models.Field | None:
    entity = ENTITIES.get(entity_type)
    if entity is None:
        return None
    try:
        return entity.model._meta.get_field(name)
    except models.FieldDoesNotExist:
        return None


def _link_titles(*, account: Account, events: list[Event]) -> dict[tuple[type, int], str]:
    """Names of the records that changed links point at (a deal's new company), bin or not."""
    wanted: dict[type, set[int]] = defaultdict(set)
    for event in events:
        if event.event_type not in VALUE_EVENTS or not isinstance(event.changes, dict):
            continue
        for name, values in event.changes.items():
            model_field = _model_field(event.entity_type, name)
            if not (model_field and model_field.many_to_one and _pair(values)):
                continue
            wanted[model_field.related_model].update(
                value for value in values if isinstance(value, int)
            )
    titles = {}
    for model, ids in wanted.items():
        entity = entity_for_model(model)
        rows = model.objects.filter(account=account, pk__in=ids).values("id", *entity.title_fields)
        for row in rows:
            titles[(model, row["id"])] = model(**row).title_text  # its title fields: enough
    return titles


def _pair(values) -> bool:
    return isinstance(values, list | tuple) and len(values) == 2


# The events whose ``changes`` are shown: an update's fields, a create's initial values, a
# purge's last image, what a restore did to a record (its fields before and after).
VALUE_EVENTS = frozenset(
    {EventType.CREATE, EventType.UPDATE, EventType.PURGE, EventType.ROLLBACK, EventType.RECOVER}
)


class _Fields:
    """Each changed field's label and model field, looked up once a page (a page names a few
    fields hundreds of times), in the page's language."""

    def __init__(self, language: str | None) -> None:
        self.language = language
        self.known: dict[tuple[str, str], tuple[str, models.Field | None]] = {}

    def __call__(self, entity_type: str, name: str) -> tuple[str, models.Field | None]:
        key = (entity_type, name)
        if key not in self.known:
            model_field = _model_field(entity_type, name)
            label = _field_label(entity_type, name, self.language) if model_field else name
            self.known[key] = (str(label), model_field)
        return self.known[key]


def _changes(event: Event, link_titles, fields: _Fields) -> list[Change]:
    if event.event_type not in VALUE_EVENTS or not isinstance(event.changes, dict):
        return []
    changes = []
    language = fields.language
    for name, values in event.changes.items():
        if not _pair(values):
            continue
        label, model_field = fields(event.entity_type, name)
        changes.append(
            Change(
                field=label,
                old=_value(model_field, values[0], link_titles, language),
                new=_value(model_field, values[1], link_titles, language),
            )
        )
    return changes


def _value(model_field, value, link_titles, language: str | None) -> str | None:
    """One old or new value as a person reads it; None for nothing."""
    if value is None or value == "":
        return None
    if model_field is None:
        return short_text(str(value))
    if model_field.many_to_one:
        title = link_titles.get((model_field.related_model, value))
        if title is None:
            return f"#{value}"
        return f"{title} (#{value})"
    if model_field.choices:
        return _choice_labels(model_field, language).get(value, str(value))
    if isinstance(model_field, models.BooleanField):
        return _("Yes") if value else _("No")
    if isinstance(model_field, models.DateTimeField):
        moment = parse_datetime(str(value))
        if moment is not None:
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return format_moment(moment, get_format("SHORT_DATETIME_FORMAT"))
    elif isinstance(model_field, models.DateField):
        try:
            return format_moment(date.fromisoformat(str(value)), get_format("SHORT_DATE_FORMAT"))
        except ValueError:
            pass
    elif isinstance(model_field, models.DecimalField):
        try:
            return number_format(
                Decimal(str(value)), decimal_pos=model_field.decimal_places, force_grouping=True
            )
        except InvalidOperation:
            pass
    return short_text(str(value))


def short_text(text: str) -> str:
    text = " ".join(text.split())
    # Truncator is slow (a page shows hundreds of values); a short text needs none of it.
    return text if len(text) <= VALUE_MAX_CHARS else Truncator(text).chars(VALUE_MAX_CHARS)


def _subject_notes(events: list[Event]) -> dict[int, str]:
    """The words the events' subjects have for them (a restore request's step), asked once
    per subject for all of the page's events about it."""
    by_subject: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_subject[event.entity_type].append(event)
    notes: dict[int, str] = {}
    for subject_type, about in by_subject.items():
        subject = subject_get(subject_type)
        if subject is not None and subject.notes is not None:
            notes.update(subject.notes(about))
    return notes


def _note(event: Event) -> str:
    """A few words on what else happened with a delete (what went into the bin with it)."""
    details = event.details if isinstance(event.details, dict) else {}
    if event.event_type == EventType.DELETE:
        others = (details.get("item_count") or 1) - 1
        if others > 0:
            return ngettext("with %(count)s activity", "with %(count)s activities", others) % {
                "count": others
            }
        with_parent = details.get("with")
        if _pair(with_parent) and with_parent[0] in ENTITIES:
            return _("with its %(type)s") % {"type": ENTITIES[with_parent[0]].verbose_name}
    return ""


def record_history_url(record: CrmRecord) -> str:
    """The history page filtered to one record."""
    entity = entity_for_model(type(record))
    return f"{reverse('history:list')}?entity_type={entity.type.value}&entity_id={record.pk}"

"""Writing the history. Called by every service that changes data, inside its transaction, so
an event exists exactly when its change does."""

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Account, User
from history.models import Event
from history.selectors import history_changed_key


def history_event(
    *,
    account: Account,
    actor: User | None,
    event_type: str,  # an EventType, or one an app registered (history.subjects)
    entity_type: str = "",
    entity_id: int | None = None,
    title: str = "",
    changes: Mapping[str, list[Any]] | None = None,
    details: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """An unsaved event (``actor`` None: the system did it)."""
    return Event(
        account=account,
        occurred_at=occurred_at or timezone.now(),
        event_type=event_type,
        entity_type=entity_type,
        entity_id=entity_id,
        entity_title=title[:255],
        actor=actor,
        actor_username=actor.username if actor else "",
        changes=dict(changes or {}),
        details=dict(details or {}),
    )


def history_record(
    *,
    account: Account,
    actor: User | None,
    event_type: str,  # an EventType, or one an app registered (history.subjects)
    entity_type: str = "",
    entity_id: int | None = None,
    title: str = "",
    changes: Mapping[str, list[Any]] | None = None,
    details: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Write one event (history_event's arguments)."""
    event = history_event(
        account=account,
        actor=actor,
        event_type=event_type,
        entity_type=entity_type,
        entity_id=entity_id,
        title=title,
        changes=changes,
        details=details,
        occurred_at=occurred_at,
    )
    event.save()
    history_changed(account.pk)
    return event


def history_record_many(events: Iterable[Event]) -> None:
    """Write many events at once (a bulk restore or purge, a revert). On PostgreSQL, from a
    few hundred on, one ``COPY``, its lines made as the server reads them: no SQL to parse per
    value (10,000 events: 71 ms, where ``INSERT ... SELECT FROM unnest(arrays)`` took 285 ms and
    bulk_create longer still)."""
    events = list(events)
    for account_id in {event.account_id for event in events}:
        history_changed(account_id)
    if connection.vendor != "postgresql" or len(events) < 200:
        Event.objects.bulk_create(events, batch_size=1000)
        return
    fields = [field for field in Event._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {quote(Event._meta.db_table)} ({columns}) FROM STDIN",
            _CopyLines(_copy_line(fields, event) for event in events),
        )


def _copy_line(fields: list[models.Field], event: Event) -> str:
    """One event as a line of COPY's text format: JSON as text (the model's encoder), times
    in ISO 8601 with their offset, None as ``\\N``."""
    values = []
    for field in fields:
        value = getattr(event, field.attname)
        if isinstance(field, models.JSONField):
            value = json.dumps(value, cls=field.encoder or DjangoJSONEncoder)
        elif value is None:
            values.append("\\N")
            continue
        elif isinstance(value, datetime):
            value = value.isoformat()
        values.append(str(value).translate(_COPY_ESCAPES))
    return "\t".join(values) + "\n"


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _CopyLines:
    """A file for ``copy_expert`` over lines: each read() returns whole lines, "" at the end."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def read(self, size: int = -1) -> str:
        size = 1 << 16 if size is None or size < 0 else size
        parts: list[str] = []
        length = 0
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if length >= size:
                break
        return "".join(parts)


def history_changed(account_id: int) -> None:
    """Mark the account's history changed once this transaction commits (history_version):
    every writer of events calls it, those writing them in SQL too. Once per account and
    transaction however many events it writes; a Redis that fails to answer does not fail
    the commit (robust: logged), the newest event's id still tells most changes."""
    if connection.in_atomic_block and any(
        isinstance(hook, _HistoryChanged) and hook.account_id == account_id
        for hook in (entry[1] for entry in connection.run_on_commit)  # (savepoints, hook, ...)
    ):
        return
    transaction.on_commit(_HistoryChanged(account_id), robust=True)


class _HistoryChanged:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    def __call__(self) -> None:
        cache.set(history_changed_key(self.account_id), time.time_ns(), None)

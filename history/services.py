"""Writing the history. Called by every service that changes data, inside its transaction, so
an event exists exactly when its change does."""

import json
import time
from collections.abc import Iterable, Mapping
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


# Events written by one statement of history_record_many on PostgreSQL.
MANY_CHUNK = 10_000


def history_record_many(events: Iterable[Event]) -> None:
    """Write many events at once (a bulk restore or purge, a revert). On PostgreSQL, from a
    few hundred on, one ``INSERT ... SELECT FROM unnest(arrays)`` per MANY_CHUNK: a column per
    array, not a parameter per value as bulk_create sends, so ten thousand events cost one
    round trip and no per-row SQL."""
    events = list(events)
    for account_id in {event.account_id for event in events}:
        history_changed(account_id)
    if connection.vendor != "postgresql" or len(events) < 200:
        Event.objects.bulk_create(events, batch_size=1000)
        return
    fields = [field for field in Event._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    statement = (
        f"INSERT INTO {quote(Event._meta.db_table)} "  # noqa: S608 - the model's names
        f"({', '.join(quote(field.column) for field in fields)}) SELECT * FROM unnest("
        + ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
        + ")"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(events), MANY_CHUNK):
            chunk = events[start : start + MANY_CHUNK]
            cursor.execute(statement, [_column(field, chunk) for field in fields])


def _column(field: models.Field, events: list[Event]) -> list[Any]:
    """One column of ``events`` as its array's values: JSON as text (the model's encoder)."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder or DjangoJSONEncoder
        return [json.dumps(getattr(e, field.attname), cls=encoder) for e in events]
    return [getattr(e, field.attname) for e in events]


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

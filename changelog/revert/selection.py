"""Which events a revert undoes: the history's filters or ticked events, changes of CRM
records only, an employee's own only."""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.http import QueryDict
from django.utils.translation import gettext as _

from accounts.models import Account, User
from core.errors import RuleViolation
from crm.entities import ENTITIES
from history.filters import EventFilter
from history.models import Event
from history.selectors import record_changes

# A selection of more events than this is refused: narrow the filter.
MAX_EVENTS = 200_000


def revert_job_threshold() -> int:
    """More records than this run as a RevertJob in a worker (REVERT_JOB_THRESHOLD)."""
    return int(getattr(settings, "REVERT_JOB_THRESHOLD", 1000))


def revertable(events: models.QuerySet) -> models.QuerySet:
    """The events a revert acts on: changes of CRM records (history.selectors)."""
    return record_changes(events).filter(entity_type__in=list(ENTITIES))


def revert_selection(
    *,
    account: Account,
    actor: User,
    filters: Mapping[str, Any] | None = None,
    event_ids: Iterable[int] | None = None,
) -> list[int]:
    """The ids of the events to revert, oldest first: those matching the history's
    ``filters`` (its parameters, as the list takes them) or the ``event_ids`` given, that
    changed a CRM record. Refusals: an event id not in the account (404 not_found), filters
    the history would refuse (400 invalid), an employee selecting someone else's change
    (403 own_only), too many (400 invalid)."""
    events = Event.objects.for_account(account)
    if event_ids is not None:
        wanted = sorted(set(event_ids))
        found: set[int] = set()
        for batch in batches(wanted):
            found.update(events.filter(pk__in=batch).values_list("pk", flat=True))
        if missing := [pk for pk in wanted if pk not in found]:
            raise RuleViolation(
                code="not_found",
                message=_("No such history events in your account: %(ids)s.")
                % {"ids": ", ".join(map(str, missing[:20]))},
            )
        selected = revertable(events).filter(pk__in=wanted) if wanted else events.none()
    else:
        filterset = EventFilter(_query_dict(filters or {}), queryset=events)
        if not filterset.is_valid():
            raise RuleViolation(
                code="invalid",
                message=_("These filters are not valid: %(errors)s")
                % {
                    "errors": "; ".join(
                        f"{name}: {' '.join(map(str, messages))}"
                        for name, messages in filterset.errors.items()
                    )
                },
            )
        selected = revertable(filterset.qs)
    if not actor.is_account_admin and selected.exclude(actor=actor).exists():
        raise RuleViolation(
            code="own_only",
            message=_(
                "You can undo only your own changes. Filter the history by your name, or ask "
                "an account admin."
            ),
        )
    ids = list(selected.order_by("id").values_list("pk", flat=True)[: MAX_EVENTS + 1])
    if len(ids) > MAX_EVENTS:
        raise RuleViolation(
            code="invalid",
            message=_("At most %(max)s changes can be undone at once; narrow the filter.")
            % {"max": f"{MAX_EVENTS:,}"},
        )
    return ids


def _query_dict(filters: Mapping[str, Any]) -> QueryDict:
    """The filters as the FilterSet reads a query string: lists for the comma list."""
    data = QueryDict(mutable=True)
    for name, value in filters.items():
        values = value if isinstance(value, list | tuple) else [value]
        data.setlist(name, [str(each) for each in values])
    return data


def batches(ids: list[int]) -> Iterator[list[int]]:
    limit = connection.features.max_query_params
    size = 10_000 if limit is None else max(1, min(10_000, limit - 99))
    for start in range(0, len(ids), size):
        yield ids[start : start + size]

"""What history events can be about, and which kinds of event there are besides the change
log's own (EventType), described by the apps that own them: history records and lists events
without knowing any of them. Each owner registers in its ``AppConfig.ready`` (the CRM its five
record types; support its restore requests and their steps)."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.utils.functional import Promise

from history.models import Event, EventType


@dataclass(frozen=True)
class Subject:
    type: str  # Event.entity_type
    label: str | Promise
    # The page of one subject by id, for those allowed to open it (None: no page).
    url: Callable[[int], str | None] | None = None
    # A few words on each of its events among a page's (by event id; missing: no words beyond
    # the event's type). A page's events at once, so that the words cost one query, not one
    # per row.
    notes: Callable[[list[Event]], dict[int, str]] | None = None
    # A record of the CRM: employees see its events. The others (restore requests, support's
    # looks, alerts, account-wide restores) are for the account's admins (DESIGN.md).
    records: bool = False


_SUBJECTS: dict[str, Subject] = {}


def subject_register(subject: Subject) -> None:
    """Called once per subject type at start-up; a second, different one is a programming error."""
    known = _SUBJECTS.get(subject.type)
    if known is not None and known != subject:
        raise ValueError(f"history subject {subject.type!r} is registered twice")
    _SUBJECTS[subject.type] = subject


def subject_get(subject_type: str) -> Subject | None:
    return _SUBJECTS.get(subject_type)


def record_subject_types() -> list[str]:
    """The subjects whose events every member of the account sees (Subject.records)."""
    return [subject.type for subject in _SUBJECTS.values() if subject.records]


def subject_choices() -> list[tuple[str, str | Promise]]:
    """(type, label) of every subject, in the order they were registered."""
    return [(subject.type, subject.label) for subject in _SUBJECTS.values()]


class SubjectChoices:
    """The subjects as choices for a filter or a field declared at import time: read again at
    each use, so it sees the subjects registered at start-up (after that import)."""

    def __iter__(self) -> Iterator[tuple[str, str | Promise]]:
        return iter(subject_choices())

    def __len__(self) -> int:
        return len(_SUBJECTS)


_EVENT_TYPES: dict[str, str | Promise] = {}


def event_types_register(choices: Iterable[tuple[str, str | Promise]]) -> None:
    """Kinds of event an app writes besides EventType's, with their labels."""
    for value, label in choices:
        if value in EventType.values or _EVENT_TYPES.get(value, label) != label:
            raise ValueError(f"history event type {value!r} is registered twice")
        _EVENT_TYPES[value] = label


def registered_event_types() -> list[str]:
    """The kinds of event other apps registered (a restore request's steps...)."""
    return list(_EVENT_TYPES)


def event_type_choices() -> list[tuple[str, str | Promise]]:
    """(type, label) of every kind of event: the change log's own, then the registered ones."""
    return [*EventType.choices, *_EVENT_TYPES.items()]


def event_type_label(event_type: str) -> str:
    return str(dict(event_type_choices()).get(event_type, event_type))


class EventTypeChoices:
    """Every kind of event as choices, read again at each use (see SubjectChoices)."""

    def __iter__(self) -> Iterator[tuple[str, str | Promise]]:
        return iter(event_type_choices())

    def __len__(self) -> int:
        return len(EventType.choices) + len(_EVENT_TYPES)


# The subjects as one list of choices (the schema's HistorySubjectEnum: config/settings).
SUBJECTS = SubjectChoices()

"""History's core knows no domain app: what events are about (subjects) and the kinds of event
beyond the change log's own are registered by their owners at start-up."""

import pytest

from history.models import EventType
from history.subjects import (
    Subject,
    event_type_choices,
    event_type_label,
    event_types_register,
    subject_choices,
    subject_get,
    subject_register,
)


def test_the_owners_registered_their_subjects_in_order():
    assert [value for value, _label in subject_choices()] == [
        "company",
        "contact",
        "lead",
        "deal",
        "activity",
        "restore_request",
    ]
    assert subject_get("restore_request").url is not None  # support links its requests
    assert subject_get("company").url is None  # records are linked by history's pages
    assert subject_get("nothing") is None


def test_event_types_are_the_change_logs_own_then_the_registered_ones():
    values = [value for value, _label in event_type_choices()]
    assert values[: len(EventType.values)] == EventType.values
    assert "request_filed" in values and "support_access" in values
    assert "request_filed" not in EventType.values  # support's, not history's
    assert event_type_label("request_filed") == "Restore request filed"
    assert event_type_label("unknown") == "unknown"


def test_a_subject_or_event_type_registered_twice_differently_is_refused():
    with pytest.raises(ValueError, match="twice"):
        subject_register(Subject(type="company", label="Firm"))
    with pytest.raises(ValueError, match="twice"):
        event_types_register([("delete", "Remove")])
    with pytest.raises(ValueError, match="twice"):
        event_types_register([("request_filed", "Something else")])

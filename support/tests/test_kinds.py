"""A restore request asks for any kind of restore the engine knows, or for an export: the
request kinds extend backups' RestoreKind, value for value."""

from backups.kinds import RestoreKind
from support.forms import REQUEST_KINDS
from support.models import RequestKind


def test_request_kinds_are_the_restore_kinds_plus_export_and_undo():
    assert RequestKind.values == [*RestoreKind.values, "export", "undo"]


def test_the_form_offers_every_request_kind():
    assert sorted(value for value, _label in REQUEST_KINDS) == sorted(RequestKind.values)

"""Every change of a CRM record: create, update, delete. Browser views, the API, the admin and
the demo seeder all come through here, so each rule is checked in one place."""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.rules import account_writable_require
from crm.entities import Entity, entity_for_model
from crm.models import CrmRecord
from history.models import EventType
from history.services import history_record
from recyclebin.models import BinEntry
from recyclebin.services import bin_delete


def _links_check(*, record: CrmRecord, entity: Entity) -> None:
    """A record may link only to records of its own account."""
    errors = {}
    for field in entity.link_fields:
        target = getattr(record, field)
        if target is not None and target.account_id != record.account_id:
            label = record._meta.get_field(field).verbose_name
            errors[field] = _("No such %(entity)s in your account.") % {"entity": label}
    if errors:
        raise ValidationError(errors)


def _validate(*, record: CrmRecord, entity: Entity) -> None:
    _links_check(record=record, entity=entity)
    record.full_clean(exclude=["account", "created_by"])


@transaction.atomic
def record_create(
    *, account: Account, actor: User | None, entity: Entity, data: Mapping[str, Any]
) -> CrmRecord:
    account_writable_require(account=account)
    record = entity.model(account=account, created_by=actor, **data)
    _validate(record=record, entity=entity)
    record.save()
    history_record(
        account=account,
        actor=actor,
        event_type=EventType.CREATE,
        entity_type=entity.type,
        entity_id=record.pk,
        title=record.title_text,
    )
    return record


@transaction.atomic
def record_update(
    *, record: CrmRecord, actor: User | None, data: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Apply ``data`` and return what changed, field -> [old, new] (link fields by id)."""
    account_writable_require(account=record.account)
    entity = entity_for_model(type(record))
    changes: dict[str, list[Any]] = {}
    for field, value in data.items():
        attname = record._meta.get_field(field).attname
        old = getattr(record, attname)
        setattr(record, field, value)
        new = getattr(record, attname)
        if old != new:
            changes[field] = [old, new]
    if not changes:
        return changes
    _validate(record=record, entity=entity)
    record.save()
    history_record(
        account=record.account,
        actor=actor,
        event_type=EventType.UPDATE,
        entity_type=entity.type,
        entity_id=record.pk,
        title=record.title_text,
        changes=changes,
    )
    return changes


def record_delete(*, record: CrmRecord, actor: User | None) -> BinEntry:
    """Deleting moves to the recycle bin (with the record's activities)."""
    return bin_delete(record=record, actor=actor)

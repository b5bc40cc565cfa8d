"""Every change of a CRM record: create, update, delete. Browser views, the API, the admin and
the demo seeder all come through here, so each rule is checked in one place."""

from collections.abc import Mapping
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _

from accounts.models import Account, User
from accounts.rules import account_writable_require
from core.errors import RuleViolation
from crm.entities import ENTITIES, Entity, entity_for_model
from crm.models import CrmRecord
from history.models import EventType
from history.services import history_record
from recyclebin.models import BinEntry
from recyclebin.services import bin_delete


def _field(record: CrmRecord, name: str) -> models.Field:
    return cast(models.Field, record._meta.get_field(name))


def _link_missing(record: CrmRecord, field: str) -> str:
    label = _field(record, field).verbose_name
    return _("No such %(entity)s in your account.") % {"entity": label}


def _links_check(*, record: CrmRecord, entity: Entity) -> None:
    """A record may link only to records of its own account."""
    errors = {}
    for field in entity.link_fields:
        target = getattr(record, field)
        if target is not None and target.account_id != record.account_id:
            errors[field] = _link_missing(record, field)
    if errors:
        raise ValidationError(errors)


def _validate(*, record: CrmRecord, entity: Entity) -> None:
    _links_check(record=record, entity=entity)
    record.full_clean(exclude=["account", "created_by"])


def _link_targets_lock(
    *, record: CrmRecord, entity: Entity, data: Mapping[str, Any]
) -> dict[str, str]:
    """Lock the live records ``data`` links to, before the record itself: a delete locks its
    record, then the records linking to it, so locking parents first (the registry's order,
    company before contact before deal before activity) never deadlocks with it. A target
    that went into the bin meanwhile is refused as if it never existed: returns the errors."""
    errors = {}
    order = [each.model for each in ENTITIES.values()]
    targets = sorted(
        ((field, data[field]) for field in entity.link_fields if data.get(field) is not None),
        key=lambda pair: order.index(type(pair[1])),
    )
    for field, target in targets:
        live = type(target).objects.for_account(record.account).select_for_update(no_key=True)
        if not live.filter(pk=target.pk).exists():
            errors[field] = _link_missing(record, field)
    return errors


@transaction.atomic
def record_create(
    *, account: Account, actor: User | None, entity: Entity, data: Mapping[str, Any]
) -> CrmRecord:
    account_writable_require(account=account)
    if errors := _link_targets_lock(record=entity.model(account=account), entity=entity, data=data):
        raise ValidationError(errors)
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
        # Every initial value (the change log: a revert of the create, a rebuild of the
        # account at a moment, need them).
        changes={name: [None, value] for name, value in entity.image(record.__dict__).items()},
    )
    return record


@transaction.atomic
def record_update(
    *, record: CrmRecord, actor: User | None, data: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Apply ``data`` and return what changed, field -> [old, new] (link fields by id).

    The row is locked and read again first: ``record`` may have been loaded before a delete
    (or another edit) committed. A record that went into the bin meanwhile is not written
    back to life (404, as for a missing one), and only the fields that changed are saved, so
    a concurrent edit of other fields is not overwritten with stale values."""
    account_writable_require(account=record.account)
    entity = entity_for_model(type(record))
    link_errors = _link_targets_lock(record=record, entity=entity, data=data)
    live = type(record).objects.for_account(record.account).select_for_update()
    if not live.filter(pk=record.pk).exists():
        raise RuleViolation(code="not_found", message=f"No such {entity.type.value}.")
    if link_errors:
        raise ValidationError(link_errors)
    record.refresh_from_db()  # the row as committed, read under the lock
    changes: dict[str, list[Any]] = {}
    changed_columns: list[str] = []
    for field, value in data.items():
        attname = _field(record, field).attname
        old = getattr(record, attname)
        setattr(record, field, value)
        new = getattr(record, attname)
        if old != new:
            changes[field] = [old, new]
            changed_columns.append(attname)
    if not changes:
        return changes
    _validate(record=record, entity=entity)
    record.save(update_fields=[*changed_columns, "updated_at"])
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

"""crm.entities is the one registry of the CRM's entity types: every part of the product that
treats them one by one (snapshots, the restore engine, the export, the recycle bin's purge)
reads it, so a sixth type is added in one place. These tests walk the registry and fail for a
consumer that misses a type, and for a change that would make old snapshots unreadable."""

import pytest
from django.db.models import F

from backups import restore
from backups.export import FILE_NAMES
from backups.restore.links import parent_columns
from backups.snapshot_format import TABLES, TABLES_BY_NAME
from crm.entities import ENTITIES, PURGE_ORDER, EntityType, entity_for_model, entity_for_table
from crm.models import ACTIVITY_PARENTS, Activity
from recyclebin.services import PURGE_ORDER as BIN_PURGE_ORDER

TYPES = list(ENTITIES)


def _linked_types(key: str) -> set[str]:
    """The types a record of ``key`` links to."""
    model = ENTITIES[key].model
    return {
        entity_for_model(model._meta.get_field(name).related_model).type.value
        for name in ENTITIES[key].link_fields
    }


def test_the_registry_has_every_type_once_parents_first():
    assert [t.value for t in EntityType] == TYPES
    assert len({entity.table for entity in ENTITIES.values()}) == len(TYPES)
    for index, key in enumerate(TYPES):
        assert _linked_types(key) <= set(TYPES[:index]), f"{key} links to a type listed after it"


def test_the_tables_are_the_models_tables():
    for entity in ENTITIES.values():
        assert entity.table == entity.model._meta.db_table
        assert entity_for_table(entity.table) is entity
    assert entity_for_table("recyclebin_binentry") is None


@pytest.mark.parametrize("key", TYPES)
def test_the_title_fields_are_what_the_title_is_made_of(key):
    entity = ENTITIES[key]
    values = {name: f"{name}-value" for name in entity.title_fields}
    record = entity.model(**values)

    title = str(record)

    assert title == record.title_text
    assert all(value in title for value in values.values())
    assert entity.title_columns == tuple(
        entity.model._meta.get_field(name).column for name in entity.title_fields
    )


def test_the_parent_fields_are_the_activitys_one_parent():
    assert ENTITIES["activity"].parent_fields == ACTIVITY_PARENTS
    assert ENTITIES["activity"].parent_columns == tuple(f"{name}_id" for name in ACTIVITY_PARENTS)
    for name in ACTIVITY_PARENTS:
        assert Activity._meta.get_field(name).null  # one of them is set, the others are NULL
    assert all(not ENTITIES[key].parent_fields for key in TYPES if key != "activity")


def test_the_purge_order_is_children_first_and_the_recycle_bins():
    assert sorted(PURGE_ORDER) == sorted(TYPES)
    for index, key in enumerate(PURGE_ORDER):
        assert _linked_types(key) <= set(PURGE_ORDER[index + 1 :]), f"{key} after a parent"
    # The order the recycle bin always purged in (its history events come in this order).
    assert PURGE_ORDER == ("activity", "deal", "contact", "lead", "company")
    assert tuple(BIN_PURGE_ORDER) == PURGE_ORDER


def test_the_snapshot_format_holds_every_type_in_the_order_old_files_have():
    # A snapshot file's sections come in this order; a reader of old files depends on it.
    assert [table.name for table in TABLES] == [
        "recyclebin_binentry",
        "crm_company",
        "crm_contact",
        "crm_lead",
        "crm_deal",
        "crm_activity",
        "recyclebin_hiddenlink",
    ]
    for key, entity in ENTITIES.items():
        table = TABLES_BY_NAME[entity.table]
        assert (table.model, table.entity_type) == (entity.model, key)


def test_the_restore_engine_covers_every_type():
    assert list(restore.ENTITY_TABLES) == TYPES
    for key, entity in ENTITIES.items():
        assert restore.ENTITY_TABLES[key] == entity.table
        assert restore.TITLE_COLUMNS[entity.table] == entity.title_columns
        assert parent_columns(TABLES_BY_NAME[entity.table]) == entity.parent_columns
    for table in TABLES:
        if table.name not in restore.ENTITY_TABLES.values():
            assert parent_columns(table) == ()


def test_the_export_has_a_file_for_every_type():
    assert FILE_NAMES == {
        "recyclebin_binentry": "bin_entries.csv",
        "crm_company": "companies.csv",
        "crm_contact": "contacts.csv",
        "crm_lead": "leads.csv",
        "crm_deal": "deals.csv",
        "crm_activity": "activities.csv",
    }
    for entity in ENTITIES.values():
        assert FILE_NAMES[entity.table] == entity.export_file_name


@pytest.mark.parametrize("entity", [e for e in ENTITIES.values() if e.search_column])
def test_a_search_column_holds_exactly_the_search_fields(entity):
    """A type's search column is made of its search fields, in order (a field added to one
    and not the other would change what a search finds), and no snapshot holds it (the
    database computes it)."""
    field = entity.model._meta.get_field(entity.search_column)
    names = [node.name for node in field.expression.flatten() if isinstance(node, F)]

    assert field.generated
    assert tuple(names) == entity.search_fields
    assert entity.search_column not in {f.name for f in TABLES_BY_NAME[entity.table].fields}

"""TRUNCATE empties a table without touching its rows one by one, so the append-only row
trigger (0002) never sees it: a statement trigger now refuses it too. Test databases are reset
between tests with TRUNCATE; they alone are marked to allow it (``crm.history_truncate`` set to
``allowed`` on that database, by the test suite's conftest). Nothing in the product sets it."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION history_event_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('crm.history_truncate', true), '') = 'allowed' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the history is append-only: TRUNCATE refused'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER history_event_no_truncate
    BEFORE TRUNCATE ON history_event
    FOR EACH STATEMENT EXECUTE FUNCTION history_event_no_truncate();
"""

DROP = """
DROP TRIGGER IF EXISTS history_event_no_truncate ON history_event;
DROP FUNCTION IF EXISTS history_event_no_truncate();
"""


def trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no %-placeholders in the SQL


def trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("history", "0006_event_types_and_subjects")]

    operations = [migrations.RunPython(trigger_create, trigger_drop)]

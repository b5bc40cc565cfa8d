"""The history is append-only in the database, not only in the code: on PostgreSQL a trigger
refuses every UPDATE and DELETE of an event, whoever sends it (the ORM, a raw query, psql).
There is no retention job yet, so there is no way around it. TRUNCATE, an owner's operation
that test databases use to reset between tests, is not covered.

SQLite, the embedded default, gets no trigger: its test runs empty the table with DELETE."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION history_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the history is append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER history_event_append_only
    BEFORE UPDATE OR DELETE ON history_event
    FOR EACH ROW EXECUTE FUNCTION history_event_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS history_event_append_only ON history_event;
DROP FUNCTION IF EXISTS history_event_append_only();
"""


def trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no %-placeholders in the SQL


def trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("history", "0001_initial")]

    operations = [migrations.RunPython(trigger_create, trigger_drop)]

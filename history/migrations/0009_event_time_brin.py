"""A BRIN index on the events' time (PostgreSQL): the mass-change detector (changelog.alerts)
reads the last ten minutes of every account each minute. Events are appended in time order, so
a BRIN index (a few pages for millions of rows, next to nothing per insert) finds them without
reading the table; a B-tree would cost every write. SQLite (development) goes without."""

from django.db import migrations


def brin_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS event_time_brin ON history_event USING brin (occurred_at)"
        )


def brin_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS event_time_brin")


class Migration(migrations.Migration):
    dependencies = [("history", "0008_event_types_registered")]

    operations = [migrations.RunPython(brin_create, brin_drop)]

"""The contacts search's trigram index back to the default statistics target (PostgreSQL only).

0002 raised it to 10,000 so that the planner would tell rare search terms from common ones. It
still could not (bench/crm_api.py: terms matching a few hundred of 100,000 contacts walked the
whole list, 45 ms), and planning each search took 3-6 ms for those statistics. The API now
reads a search in id order in two bounded steps that need no estimate (core.api.pagination's
``_rows``), so the default target (planning under 2 ms) serves it better.
"""

from django.db import migrations

INDEX = "contact_search_trgm"
COLUMNS = 4


def statistics_default(apps, schema_editor):
    _statistics(schema_editor, -1)


def statistics_raised(apps, schema_editor):
    _statistics(schema_editor, 10_000)


def _statistics(schema_editor, target: int) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for position in range(1, COLUMNS + 1):
        schema_editor.execute(
            f"ALTER INDEX {INDEX} ALTER COLUMN {position} SET STATISTICS {target}"
        )
    schema_editor.execute("ANALYZE crm_contact")


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_bin_entry")]

    operations = [migrations.RunPython(statistics_default, statistics_raised)]

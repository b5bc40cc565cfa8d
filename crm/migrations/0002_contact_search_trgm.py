"""A trigram index for the contacts search (``?search=``), on PostgreSQL only.

The API's search is Django's ``icontains`` on first_name, last_name, email and phone, which
PostgreSQL receives as ``UPPER("col"::text) LIKE UPPER('%term%')`` OR'ed over the four columns.
No B-tree serves a leading wildcard, so without this index a search walks the account's contacts
newest first, testing four LIKEs per row until it has a page: 60-90 ms for a surname with about
a hundred contacts among 100,000 (bench/README.md). pg_trgm serves LIKE '%term%' only when the
index is built on that very expression; the OR becomes a BitmapOr of four scans of this index.

The planner still walks the newest-first index for a common term (a page fills at once), and
chooses between the two by its estimate of how many rows match. With the default statistics it
overestimates rare terms several times over and walks for them too, so the statistics target of
the indexed expressions is raised: ANALYZE of crm_contact then samples up to 3,000,000 rows, and
planning a search takes about 2 ms more.

SQLite, the embedded default, has no pg_trgm: there the migration does nothing.
"""

from django.db import migrations

INDEX = "contact_search_trgm"
SEARCH_COLUMNS = ("first_name", "last_name", "email", "phone")
STATISTICS_TARGET = 10_000


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    expressions = ", ".join(f'UPPER("{column}"::text) gin_trgm_ops' for column in SEARCH_COLUMNS)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # CONCURRENTLY: a live contact table keeps taking writes while the index builds.
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY {INDEX} ON crm_contact USING gin ({expressions})"
    )
    for position in range(1, len(SEARCH_COLUMNS) + 1):
        schema_editor.execute(
            f"ALTER INDEX {INDEX} ALTER COLUMN {position} SET STATISTICS {STATISTICS_TARGET}"
        )
    schema_editor.execute("ANALYZE crm_contact")


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunPython(index_create, index_drop)]

"""The restore's hook for tests: ``after_table`` is called after each table is applied, inside
the restore's transaction (to fail there, or to stop there until the worker is killed).

Tests replace it by its public name, ``backups.restore.after_table``, so the apply paths call
``table_applied``, which looks it up there each time."""


def after_table(table_name: str) -> None:
    """Called after each table is applied, inside the restore transaction (a hook for tests)."""


def table_applied(table_name: str) -> None:
    from backups import restore  # the package, which names the hook (and imports this module)

    restore.after_table(table_name)

"""A Celery app for the kill test (test_worker.py): the project's own app, with the restore
made to stop inside its transaction, after its first table, until the worker is killed. It
writes the table's name to the file CRM_TEST_RESTORE_BLOCKED names once it stops there.

Started as ``celery -A support.tests.blocking_worker worker``; the product never imports it."""

import os
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from backups import restore  # noqa: E402 - needs the apps loaded
from config.celery import app  # noqa: E402 - the app ``celery -A`` looks for

__all__ = ["app"]


def _stop_here(table_name: str) -> None:
    Path(os.environ["CRM_TEST_RESTORE_BLOCKED"]).write_text(table_name)
    while True:  # until SIGKILL
        time.sleep(1)


restore.after_table = _stop_here

"""Backups tests: snapshot files go to a temporary folder, never to var/."""

import pytest


@pytest.fixture(autouse=True)
def snapshot_dir(snapshot_dir):
    """The root conftest's temporary snapshot folder, for every test here."""
    return snapshot_dir

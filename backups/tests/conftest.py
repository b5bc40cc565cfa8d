"""Backups tests: snapshot files go to a temporary folder, never to var/; ``filled`` gives two
accounts with rows in every table."""

import pytest

from backups.tests.factories import account_fill


@pytest.fixture(autouse=True)
def snapshot_dir(snapshot_dir):
    """The root conftest's temporary snapshot folder, for every test here."""
    return snapshot_dir


@pytest.fixture
def filled(account, admin_user, other_account, other_admin):
    """The account, with rows in every table, beside another account filled alike."""
    account_fill(account, actor=admin_user)
    account_fill(other_account, actor=other_admin, prefix="other ")
    return account

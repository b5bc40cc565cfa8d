"""Support tests: snapshot files go to a temporary folder; users with email addresses."""

import pytest

from accounts.models import User


@pytest.fixture(autouse=True)
def snapshot_dir(snapshot_dir):
    """The root conftest's temporary snapshot folder, for every test here."""
    return snapshot_dir


@pytest.fixture(autouse=True)
def no_heartbeat_thread(settings):
    """In-process runs write no heartbeat from a thread (the worker tests start one)."""
    settings.SUPPORT_RESTORE_HEARTBEAT_SECONDS = 0


@pytest.fixture
def emails(admin_user, support_user, employee, other_admin) -> dict[str, str]:
    """Every role gets an address, so who is emailed shows."""
    addresses = {}
    for user in (admin_user, support_user, employee, other_admin):
        user.email = f"{user.username}@example.com"
        user.save(update_fields=["email"])
        addresses[user.username] = user.email
    return addresses


@pytest.fixture
def support_colleague(db) -> User:
    from accounts.services import user_create

    return user_create(
        username="support-2",
        password="x" * 12,
        account=None,
        is_support=True,
        email="support-2@example.com",
        check_password=False,
    )

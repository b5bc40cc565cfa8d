"""Fixtures shared by every test: two accounts with their users, support staff, API clients."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Account, User
from accounts.services import account_create, user_create

PASSWORD = "correct horse battery staple"


def _account(name: str, plan: str = "professional") -> Account:
    return account_create(
        name=name,
        plan=plan,
        admin_username=f"{name.lower()}-admin",
        admin_password=PASSWORD,
        check_password=False,
    )


@pytest.fixture
def account(db) -> Account:
    return _account("Acme")


@pytest.fixture
def other_account(db) -> Account:
    return _account("Globex")


@pytest.fixture
def admin_user(account) -> User:
    return account.users.get(role=User.Role.ADMIN)


@pytest.fixture
def employee(account) -> User:
    return user_create(
        username="acme-employee",
        password=PASSWORD,
        account=account,
        role=User.Role.EMPLOYEE,
        check_password=False,
    )


@pytest.fixture
def other_admin(other_account) -> User:
    return other_account.users.get(role=User.Role.ADMIN)


@pytest.fixture
def support_user(db) -> User:
    return user_create(
        username="support", password=PASSWORD, account=None, is_support=True, check_password=False
    )


def _client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def api(admin_user) -> APIClient:
    """An API client acting as the first account's admin."""
    return _client_for(admin_user)


@pytest.fixture
def api_as():
    """``api_as(user)``: an API client acting as any user (None: anonymous)."""
    return _client_for

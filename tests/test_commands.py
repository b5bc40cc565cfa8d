"""The operators' management commands (API.md, "Management commands")."""

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, User
from crm.management.commands.seed_demo import (
    COUNTS,
    DEMO_ACCOUNT,
    DEMO_ADMIN,
    DEMO_PASSWORD,
    MASS_DELETION,
)
from crm.models import Activity, Company, Contact, Deal, Lead
from history.models import Event
from recyclebin.models import BinEntry

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "plenty-long-passphrase-42"


def test_create_account_makes_the_account_and_its_admin(capsys):
    call_command(
        "create_account",
        "Initech",
        "--plan",
        "standard",
        "--admin",
        "peter",
        "--password",
        GOOD_PASSWORD,
    )
    account = Account.objects.get(name="Initech")
    assert account.plan == "standard"
    admin = User.objects.get(username="peter")
    assert admin.account == account and admin.role == "admin"
    assert admin.check_password(GOOD_PASSWORD)
    assert "Initech" in capsys.readouterr().out


def test_create_account_refuses_a_weak_password_and_creates_nothing():
    with pytest.raises(CommandError, match="password"):
        call_command("create_account", "Initech", "--admin", "peter", "--password", "123")
    assert not Account.objects.filter(name="Initech").exists()
    assert not User.objects.filter(username="peter").exists()


def test_create_account_refuses_a_duplicate_name(account):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_account", account.name, "--admin", "x", "--password", GOOD_PASSWORD)


def test_create_user_adds_an_employee_or_admin(account):
    call_command("create_user", "milton", "--password", GOOD_PASSWORD, "--account", account.name)
    call_command(
        "create_user",
        "bill",
        "--password",
        GOOD_PASSWORD,
        "--account",
        account.name,
        "--role",
        "admin",
    )
    assert User.objects.get(username="milton").role == "employee"
    assert User.objects.get(username="bill").role == "admin"
    assert set(account.users.values_list("username", flat=True)) >= {"milton", "bill"}


def test_create_user_names_a_missing_account():
    with pytest.raises(CommandError, match="No account named 'Nowhere'"):
        call_command("create_user", "x", "--password", GOOD_PASSWORD, "--account", "Nowhere")
    assert not User.objects.filter(username="x").exists()


def test_create_support_user_has_no_account():
    call_command("create_support_user", "sam", "--password", GOOD_PASSWORD)
    sam = User.objects.get(username="sam")
    assert sam.is_support and sam.account is None and sam.role == ""
    assert not sam.is_staff  # the support console, not the Django admin


def test_seed_demo_creates_a_realistic_account_once(capsys):
    call_command("seed_demo")
    account = Account.objects.get(name=DEMO_ACCOUNT)
    for model, entity_type in (
        (Company, "company"),
        (Contact, "contact"),
        (Lead, "lead"),
        (Deal, "deal"),
        (Activity, "activity"),
    ):
        assert model.objects.filter(account=account).count() == COUNTS[entity_type]
    admin = User.objects.get(username=DEMO_ADMIN)
    assert admin.check_password(DEMO_PASSWORD) and admin.is_account_admin
    assert DEMO_PASSWORD in capsys.readouterr().out

    # Some of it was deleted since, a mass deletion among it, all in the bin and the history.
    assert BinEntry.objects.for_account(account).count() >= MASS_DELETION
    assert Event.objects.for_account(account).filter(event_type="delete").count() >= MASS_DELETION
    assert Event.objects.for_account(account).filter(event_type="update").exists()

    call_command("seed_demo")  # a second start changes nothing
    assert Company.objects.filter(account=account).count() == COUNTS["company"]
    assert Account.objects.filter(name=DEMO_ACCOUNT).count() == 1

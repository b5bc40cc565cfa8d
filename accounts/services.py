"""State changes of accounts and users. Used by the management commands, the demo seeder and
tests; the same checks apply wherever an account or user is made."""

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from accounts.models import Account, User


@transaction.atomic
def account_create(
    *,
    name: str,
    plan: str,
    time_zone: str = "Europe/Berlin",
    admin_username: str,
    admin_password: str,
    admin_email: str = "",
    check_password: bool = True,
) -> Account:
    account = Account(name=name, plan=plan, time_zone=time_zone)
    account.full_clean()
    account.save()
    user_create(
        username=admin_username,
        password=admin_password,
        email=admin_email,
        account=account,
        role=User.Role.ADMIN,
        check_password=check_password,
    )
    return account


def user_create(
    *,
    username: str,
    password: str,
    account: Account | None,
    role: str = "",
    email: str = "",
    is_support: bool = False,
    check_password: bool = True,
) -> User:
    user = User(
        username=username,
        email=email,
        account=account,
        role=role if account else "",
        is_support=is_support,
    )
    if check_password:
        validate_password(password, user=user)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user

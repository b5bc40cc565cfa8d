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
    password: str | None,
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
    if password is None:  # support staff who choose theirs at enrolment (accounts.enrollment)
        user.set_unusable_password()
    else:
        if check_password:
            validate_password(password, user=user)
        user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """Take a user's access away at once, keeping everything they did attributed to them.

    ``is_active=False``: their browser sessions stop working at the next request (Django's
    ModelBackend refuses inactive users) and so do their API tokens (DRF refuses them too);
    the token is also deleted, so reactivating the user does not bring it back. The user row
    stays: history events, bin entries and restore requests keep naming them."""
    from rest_framework.authtoken.models import Token

    user.is_active = False
    user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    return user

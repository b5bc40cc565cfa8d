"""State changes of accounts and users. Used by the management commands, the demo seeder and
tests; the same checks apply wherever an account or user is made."""

from typing import cast

from django.contrib.auth.password_validation import validate_password
from django.core.mail import mail_admins
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Account, UpgradeRequest, User
from accounts.plans import PLAN_CATALOG, Plan
from accounts.rules import admin_require
from core.errors import RuleViolation


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


def upgrade_request(*, user: User, plan: str) -> UpgradeRequest:
    """An account admin asks for a higher plan. Operators are emailed (ADMINS) and see it in
    the Django admin. Asking again for the same plan while it is open returns the same
    request. Refused: not an admin (403 admin_only), not a higher plan (400 invalid)."""
    admin_require(user=user)
    account = cast(Account, user.account)
    order = [offer.plan.value for offer in PLAN_CATALOG]
    if plan not in order or order.index(plan) <= order.index(account.plan):
        raise RuleViolation(
            code="invalid",
            message=_("Choose a plan above your current one (%(plan)s).")
            % {"plan": account.get_plan_display()},
        )
    with transaction.atomic():
        existing = UpgradeRequest.objects.filter(
            account=account, plan=plan, handled_at__isnull=True
        ).first()
        if existing is not None:
            return existing
        request = UpgradeRequest.objects.create(account=account, plan=plan, requested_by=user)
        label = str(Plan(plan).label)
        transaction.on_commit(
            lambda: mail_admins(
                f"Upgrade request: {account.name} asks for {label}",
                f"{user.get_username()} ({user.email or 'no email'}), admin of account "
                f"{account.name} (#{account.pk}, on {account.plan}), asks for the {label} plan.\n"
                "Change the account's plan in the Django admin and mark the request handled.",
                fail_silently=True,
            )
        )
    return request

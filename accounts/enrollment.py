"""Enrolment links: support staff set up two-factor authentication only through a one-time,
expiring link the operator hands them (``manage.py create_support_user`` prints one,
``manage.py support_enrollment_link`` makes a new one). Following it, they choose their own
password (an initial one, if the operator set any, stops working) and then set up their
authenticator app in the same session. Whoever merely knows a password cannot enrol."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import EnrollmentLink, User
from core.errors import RuleViolation

SESSION_KEY = "two_factor_enrolment_user"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def enrollment_link_issue(*, user: User, hours: int | None = None) -> str:
    """A new link for ``user`` (its key, shown once); their earlier unused links stop working."""
    if not user.is_support:
        raise RuleViolation(code="support_only", message=_("Only support staff enrol by link."))
    EnrollmentLink.objects.filter(user=user, used_at__isnull=True).delete()
    key = secrets.token_urlsafe(32)
    hours = hours if hours is not None else settings.SUPPORT_ENROLLMENT_HOURS
    EnrollmentLink.objects.create(
        user=user, key_hash=_hash(key), expires_at=timezone.now() + timedelta(hours=hours)
    )
    return key


def enrollment_url(key: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("enrollment", args=[key])


def enrollment_link_find(*, key: str) -> EnrollmentLink | None:
    """The link, if it is unused, unexpired and its user still active."""
    return (
        EnrollmentLink.objects.select_related("user")
        .filter(
            key_hash=_hash(key),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__is_active=True,
        )
        .first()
    )


@transaction.atomic
def enrollment_link_use(*, key: str, password: str) -> User:
    """Spend the link: the user's password becomes ``password`` (already validated by the
    caller's form). Twice at once, one wins: the row is locked and checked again."""
    link = enrollment_link_find(key=key)
    if link is not None:
        link = (
            EnrollmentLink.objects.select_for_update()
            .filter(pk=link.pk, used_at__isnull=True)
            .first()
        )
    if link is None:
        raise RuleViolation(code="not_found", message=_("This enrolment link is not valid."))
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    user = link.user
    user.set_password(password)
    user.save(update_fields=["password", "password_changed_at"])
    return user


def enrollment_allows_setup(request: HttpRequest, user: User) -> bool:
    """Whether this session may set up the user's first authenticator: support staff only
    right after following their enrolment link; everyone else as before."""
    return not user.is_support or request.session.get(SESSION_KEY) == user.pk

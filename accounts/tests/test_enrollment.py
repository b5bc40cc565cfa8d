"""Support staff enrol only through their one-time, expiring link (issue 15, item 8): whoever
merely knows a support user's initial password cannot set up that user's two-factor
authentication, so cannot reach the console; the link's holder chooses a new password (the
initial one stops working) and sets up the app in the same session."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import enrollment
from accounts.models import EnrollmentLink, User
from accounts.services import user_create
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "the one only I know 42"
SETUP = reverse("two_factor_setup")
CONSOLE = reverse("support:console")


@pytest.fixture
def initial(db) -> User:
    """A new support user whose initial password the operator set (and may have mailed)."""
    return user_create(
        username="new-support",
        password=PASSWORD,
        account=None,
        is_support=True,
        check_password=False,
    )


def choose(client: Client, key: str, password: str = NEW_PASSWORD):
    return client.post(
        reverse("enrollment", args=[key]), {"new_password1": password, "new_password2": password}
    )


def test_the_initial_password_alone_cannot_set_up_two_factor(initial):
    client = Client()
    assert client.post(reverse("login"), {"username": initial.username, "password": PASSWORD})[
        "Location"
    ]
    assert client.get(CONSOLE)["Location"].startswith(SETUP)

    page = client.get(SETUP)
    assert page.status_code == 403
    assert "enrolment link" in page.content.decode()
    assert client.post(SETUP, {"code": "123456"}).status_code == 403
    assert not TOTPDevice.objects.filter(user=initial).exists()  # no key was even shown
    assert client.get(CONSOLE).status_code == 302


def test_the_link_sets_a_new_password_then_the_app_in_the_same_session(initial):
    key = enrollment.enrollment_link_issue(user=initial)
    client = Client()
    form = client.get(reverse("enrollment", args=[key]))
    assert form.status_code == 200 and "new-support" in form.content.decode()

    response = choose(client, key)

    assert response.status_code == 302 and response["Location"].startswith(SETUP)
    assert client.get(SETUP).status_code == 200  # the QR code and key, for this session
    assert TOTPDevice.objects.filter(user=initial, confirmed=False).exists()
    initial.refresh_from_db()
    assert initial.check_password(NEW_PASSWORD) and not initial.check_password(PASSWORD)
    # Another session with the new password but not the link still cannot enrol.
    other = Client()
    other.post(reverse("login"), {"username": initial.username, "password": NEW_PASSWORD})
    assert other.get(SETUP).status_code == 403


def test_a_link_works_once(initial):
    key = enrollment.enrollment_link_issue(user=initial)
    assert choose(Client(), key).status_code == 302

    again = choose(Client(), key, "someone else's password 9")

    assert again.status_code == 404
    initial.refresh_from_db()
    assert initial.check_password(NEW_PASSWORD)


def test_an_expired_or_replaced_or_unknown_link_does_nothing(initial):
    old = enrollment.enrollment_link_issue(user=initial)
    expired = enrollment.enrollment_link_issue(user=initial)  # replaces ``old``
    EnrollmentLink.objects.filter(user=initial).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for key in (old, expired, "not-a-key"):
        assert Client().get(reverse("enrollment", args=[key])).status_code == 404
        assert choose(Client(), key).status_code == 404
    initial.refresh_from_db()
    assert initial.check_password(PASSWORD)


def test_a_weak_password_is_refused_and_the_link_still_works(initial):
    key = enrollment.enrollment_link_issue(user=initial)
    refused = choose(Client(), key, "short")
    assert refused.status_code == 400
    assert choose(Client(), key).status_code == 302


def test_the_command_creates_the_user_without_a_password_and_prints_the_link(settings):
    settings.SITE_URL = "https://crm.example.com"
    out = StringIO()
    call_command("create_support_user", "sam", stdout=out)

    sam = User.objects.get(username="sam")
    assert sam.is_support and not sam.has_usable_password()
    link = out.getvalue().strip().splitlines()[-1]
    assert link.startswith("https://crm.example.com/enroll/")
    key = link.rstrip("/").rsplit("/", 1)[-1]
    assert choose(Client(), key).status_code == 302
    assert EnrollmentLink.objects.get(user=sam).key_hash != key  # only a hash is kept


def test_a_new_link_for_a_user_who_lost_their_phone(initial):
    out = StringIO()
    call_command("support_enrollment_link", initial.username, "--hours", "1", stdout=out)
    key = out.getvalue().strip().rsplit("/", 2)[-2]
    link = EnrollmentLink.objects.get(user=initial)
    assert timedelta(minutes=59) < link.expires_at - timezone.now() <= timedelta(hours=1)
    assert choose(Client(), key).status_code == 302


def test_only_support_staff_get_links(admin_user):
    with pytest.raises(Exception, match="support"):
        enrollment.enrollment_link_issue(user=admin_user)

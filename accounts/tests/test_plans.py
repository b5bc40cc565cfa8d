"""Plans and their features (accounts.plans), the rules built on them (accounts.rules), and the
User invariant that a member has a role and support staff have no account."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Account, User
from accounts.plans import PLAN_CATALOG, PLAN_FEATURES, Feature, Plan, plan_has
from accounts.rules import account_writable_require, admin_require, plan_require
from accounts.services import account_create, user_create
from core.errors import RULE_STATUS, RuleViolation

EVERY_PLAN_HAS = {Feature.CRM, Feature.RECYCLE_BIN, Feature.HISTORY, Feature.NIGHTLY_SNAPSHOTS}

FEATURE_TABLE = {
    # plan: (BIN_RESTORE, RESTORE_REQUESTS)
    Plan.FREE: (False, False),
    Plan.BASIC: (True, False),
    Plan.STANDARD: (True, True),
    Plan.PROFESSIONAL: (True, True),
}


@pytest.mark.parametrize(("plan", "expected"), FEATURE_TABLE.items())
def test_feature_table(plan, expected):
    assert (plan_has(plan, Feature.BIN_RESTORE), plan_has(plan, Feature.RESTORE_REQUESTS)) == (
        expected
    )
    for feature in EVERY_PLAN_HAS:
        assert plan_has(plan, feature), feature


def test_every_plan_is_in_the_table():
    assert set(PLAN_FEATURES) == set(Plan) == set(FEATURE_TABLE)


def test_plan_has_accepts_the_stored_string():
    assert plan_has("basic", Feature.BIN_RESTORE)
    assert not plan_has("free", Feature.BIN_RESTORE)


def test_unknown_plan_is_an_error():
    with pytest.raises(ValueError):
        plan_has("platinum", Feature.CRM)


@pytest.mark.django_db
@pytest.mark.parametrize(("plan", "expected"), FEATURE_TABLE.items())
def test_account_has_feature_follows_its_plan(plan, expected):
    account = Account.objects.create(name=f"Plan {plan}", plan=plan)

    assert account.has_feature(Feature.BIN_RESTORE) is expected[0]
    assert account.has_feature(Feature.RESTORE_REQUESTS) is expected[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("plan", "feature"),
    [
        (Plan.FREE, Feature.BIN_RESTORE),
        (Plan.FREE, Feature.RESTORE_REQUESTS),
        (Plan.BASIC, Feature.RESTORE_REQUESTS),
    ],
)
def test_plan_require_refuses_a_missing_feature(plan, feature):
    account = Account.objects.create(name="Small", plan=plan)

    with pytest.raises(RuleViolation) as refused:
        plan_require(account=account, feature=feature)

    assert refused.value.code == "plan_not_eligible"
    assert refused.value.status == 403
    assert str(plan.label) in refused.value.message
    assert refused.value.headers == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("plan", "feature"),
    [
        (Plan.FREE, Feature.CRM),
        (Plan.BASIC, Feature.BIN_RESTORE),
        (Plan.STANDARD, Feature.RESTORE_REQUESTS),
        (Plan.PROFESSIONAL, Feature.RESTORE_REQUESTS),
    ],
)
def test_plan_require_lets_an_included_feature_pass(plan, feature):
    account = Account.objects.create(name="Big", plan=plan)

    assert plan_require(account=account, feature=feature) is None


def test_catalog_lists_every_plan_once_cheapest_first():
    assert [offer.plan for offer in PLAN_CATALOG] == list(Plan)
    prices = [offer.monthly_price_eur for offer in PLAN_CATALOG]
    assert prices == sorted(prices) and prices[0] == 0
    for offer in PLAN_CATALOG:
        assert offer.features == PLAN_FEATURES[offer.plan]
        rows = offer.feature_rows()
        assert len(rows) == len(Feature)
        assert [included for _, included in rows] == [f in offer.features for f in Feature]


# --- Rules ----------------------------------------------------------------------------------


def test_rule_violation_knows_only_listed_codes():
    with pytest.raises(ValueError):
        RuleViolation(code="nope", message="x")
    for code in ("plan_not_eligible", "admin_only", "support_only", "weekly_limit"):
        assert code in RULE_STATUS
    assert RULE_STATUS["maintenance"] == 503
    assert RULE_STATUS["request_open"] == RULE_STATUS["invalid_state"] == 409


@pytest.mark.django_db
def test_maintenance_rule_asks_to_retry(account):
    account_writable_require(account=account)
    Account.objects.filter(pk=account.pk).update(maintenance=True)

    with pytest.raises(RuleViolation) as refused:
        account_writable_require(account=account)

    assert (refused.value.code, refused.value.status) == ("maintenance", 503)
    assert refused.value.headers == {"Retry-After": "60"}


@pytest.mark.django_db
def test_admin_require(admin_user, employee, support_user):
    admin_require(user=admin_user)
    for user in (employee, support_user):
        with pytest.raises(RuleViolation) as refused:
            admin_require(user=user)
        assert refused.value.code == "admin_only"


# --- The User invariant ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "allowed"),
    [
        ({"role": "admin"}, True),
        ({"role": "employee"}, True),
        ({"role": ""}, False),  # a member without a role
        ({"role": "owner"}, False),
        ({"role": "admin", "is_support": True}, False),  # support staff with an account
        ({"account": None}, True),  # an operator
        ({"account": None, "is_support": True}, True),  # support staff
        ({"account": None, "role": "admin"}, False),
        ({"account": None, "role": "employee", "is_support": True}, False),
    ],
)
def test_user_check_constraint(account, fields, allowed):
    values = {"username": "someone", "account": account, "role": "", **fields}
    before = User.objects.count()

    if allowed:
        User.objects.create(**values)
        assert User.objects.count() == before + 1
        return
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(**values)
    assert User.objects.count() == before
    with pytest.raises(ValidationError):
        User(**values).full_clean(exclude=["password"])


@pytest.mark.django_db
def test_constraint_also_guards_updates(account, employee):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=employee.pk).update(is_support=True)

    assert User.objects.get(pk=employee.pk).is_support is False


@pytest.mark.django_db
def test_user_create_drops_a_role_without_account(db):
    user = user_create(
        username="ops", password="x", account=None, role="admin", check_password=False
    )

    assert (user.account, user.role) == (None, "")


@pytest.mark.django_db
def test_account_create_makes_an_admin_and_validates(db):
    account = account_create(
        name="Initech",
        plan="basic",
        admin_username="bill",
        admin_password="a long enough passphrase",
    )

    assert account.users.get().is_account_admin
    before = (Account.objects.count(), User.objects.count())
    for bad in ({"plan": "platinum"}, {"time_zone": "Mars/Olympus"}, {"name": "Initech"}):
        arguments = {
            "name": "Other",
            "plan": "free",
            "admin_username": "other",
            "admin_password": "a long enough passphrase",
            **bad,
        }
        with pytest.raises(ValidationError):
            account_create(**arguments)
    with pytest.raises(ValidationError):
        account_create(name="Weak", plan="free", admin_username="weak", admin_password="123")
    assert (Account.objects.count(), User.objects.count()) == before


# --- The pricing page says what each plan adds, and admins ask to upgrade (issue 18) --------


def test_each_plan_says_what_it_adds(client):
    from django.urls import reverse

    page = client.get(reverse("pricing"))
    offers = {row["offer"].plan: row for row in page.context["offers"]}
    assert offers[Plan.STANDARD]["adds"] == [
        "Restore requests: support rolls the account back from a snapshot"
    ]
    assert set(offers[Plan.PROFESSIONAL]["adds"]) == {
        "A snapshot on demand, before a risky import (one an hour)",
        "Alerts when someone deletes or changes many records at once",
    }
    assert "Ask to upgrade" not in page.content.decode()  # visitors only read


@pytest.mark.django_db
def test_an_admin_asks_to_upgrade_and_operators_hear_of_it(
    account, admin_user, employee, mailoutbox, settings, django_capture_on_commit_callbacks
):
    from django.test import Client
    from django.urls import reverse

    from accounts.models import UpgradeRequest

    settings.ADMINS = [("Ops", "ops@example.com")]
    account.plan = Plan.BASIC
    account.save()
    client = Client()
    client.force_login(admin_user)
    page = client.get(reverse("pricing")).content.decode()
    assert 'value="standard"' in page and 'value="professional"' in page
    assert 'value="free"' not in page  # only higher plans
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("upgrade"), {"plan": "professional"}, follow=True)
    assert "was sent to the operators" in done.content.decode()
    [asked] = UpgradeRequest.objects.all()
    assert (asked.account, asked.plan, asked.requested_by) == (account, "professional", admin_user)
    assert [m.to for m in mailoutbox] == [["ops@example.com"]]
    assert "Upgrade asked for on" in done.content.decode()
    # Asking again is the same request; a lower plan, or an employee, is refused.
    client.post(reverse("upgrade"), {"plan": "professional"})
    assert UpgradeRequest.objects.count() == 1
    refused = client.post(reverse("upgrade"), {"plan": "free"}, follow=True)
    assert "Choose a plan above your current one" in refused.content.decode()
    client.force_login(employee)
    denied = client.post(reverse("upgrade"), {"plan": "standard"}, follow=True)
    assert "Only account admins may do this." in denied.content.decode()
    assert UpgradeRequest.objects.count() == 1

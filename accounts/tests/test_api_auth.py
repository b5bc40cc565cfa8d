"""API authentication (API.md "Conventions"): tokens, the browser session with CSRF, and who may
call the CRM endpoints at all."""

import pytest
from django.http import HttpRequest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create
from conftest import PASSWORD, totp_code
from crm.tests.factories import (
    API_PATHS,
    ENTITY_TYPES,
    MODELS,
    TITLE_FIELDS,
    CompanyFactory,
    assert_error,
    detail_path,
    record_make,
    row_counts,
)

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def token_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def all_rows() -> dict[str, list[dict]]:
    """Every CRM row of every account, column by column."""
    return {t: list(model.objects.order_by("pk").values()) for t, model in MODELS.items()}


def every_call(account):
    """(method, path, body) for every CRM endpoint, with real ids of ``account``'s records."""
    calls = []
    for entity_type in ENTITY_TYPES:
        record = record_make(entity_type, account=account)
        change = {TITLE_FIELDS[entity_type]: "Changed"}
        calls += [
            ("get", API_PATHS[entity_type], None),
            ("post", API_PATHS[entity_type], change),
            ("get", detail_path(entity_type, record.id), None),
            ("put", detail_path(entity_type, record.id), change),
            ("patch", detail_path(entity_type, record.id), change),
            ("delete", detail_path(entity_type, record.id), None),
        ]
    return calls


# --- Tokens ---------------------------------------------------------------------------------


def test_good_credentials_get_a_token_that_works(admin_user):
    company = CompanyFactory(account=admin_user.account)

    response = APIClient().post(
        TOKEN_URL, {"username": admin_user.username, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"token"}
    token = response.json()["token"]
    assert Token.objects.get(user=admin_user).key == token
    listed = token_client(token).get(API_PATHS["company"])
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [company.id]


def test_asking_twice_gives_the_same_token(admin_user):
    body = {"username": admin_user.username, "password": PASSWORD}

    first = APIClient().post(TOKEN_URL, body, format="json").json()["token"]
    second = APIClient().post(TOKEN_URL, body, format="json").json()["token"]

    assert first == second
    assert Token.objects.count() == 1


def test_an_employee_token_works_for_writes(employee):
    token = (
        APIClient()
        .post(TOKEN_URL, {"username": employee.username, "password": PASSWORD}, format="json")
        .json()["token"]
    )

    response = token_client(token).post(API_PATHS["company"], {"title": "Mine"}, format="json")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "body",
    [
        {"username": "acme-admin", "password": "wrong"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "ACME-ADMIN", "password": PASSWORD},
        {"username": "acme-admin", "password": ""},
        {"username": "acme-admin\x00", "password": PASSWORD},
    ],
)
def test_bad_credentials_answer_400(admin_user, body):
    response = APIClient().post(TOKEN_URL, body, format="json")

    body = assert_error(response, 400)
    assert "errors" in body
    assert "token" not in body
    assert Token.objects.count() == 0


@pytest.mark.parametrize("missing", ["username", "password"])
def test_missing_credentials_name_the_field(admin_user, missing):
    body = {"username": admin_user.username, "password": PASSWORD}
    del body[missing]

    response = APIClient().post(TOKEN_URL, body, format="json")

    assert missing in assert_error(response, 400, "required")["detail"]
    assert Token.objects.count() == 0


def test_malformed_token_request_is_a_parse_error(admin_user):
    response = APIClient().post(TOKEN_URL, b"{oops", content_type="application/json")

    assert_error(response, 400, "parse_error")
    assert Token.objects.count() == 0


def test_an_inactive_user_gets_no_token_and_loses_the_old_one(admin_user):
    token = Token.objects.create(user=admin_user).key
    User.objects.filter(pk=admin_user.pk).update(is_active=False)

    response = APIClient().post(
        TOKEN_URL, {"username": admin_user.username, "password": PASSWORD}, format="json"
    )

    assert_error(response, 400)
    assert_error(token_client(token).get(API_PATHS["company"]), 401, "authentication_failed")


def test_token_endpoint_only_takes_post(db):
    assert_error(APIClient().get(TOKEN_URL), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "header", ["Token nonsense", "Token ", "Token a b", "Bearer abc", "Token \u00e9\u00e9"]
)
def test_a_bad_token_answers_401(admin_user, header):
    Token.objects.create(user=admin_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    before = row_counts()

    response = client.post(API_PATHS["company"], {"title": "Nope"}, format="json")

    assert response.status_code == 401, response.content
    assert_error(response, 401)
    assert row_counts() == before


# --- Anonymous callers ----------------------------------------------------------------------


def test_anonymous_callers_get_401_everywhere_and_change_nothing(account):
    calls = every_call(account)
    before = all_rows()

    for method, path, body in calls:
        response = getattr(APIClient(), method)(path, body, format="json")
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token", (method, path)

    assert all_rows() == before


# --- Callers without an account -------------------------------------------------------------


@pytest.fixture
def operator(db):
    return user_create(username="operator", password=PASSWORD, account=None, check_password=False)


@pytest.mark.parametrize("who", ["support_user", "operator"])
def test_callers_without_an_account_are_refused_everywhere(request, api_as, account, who):
    user = request.getfixturevalue(who)
    calls = every_call(account)
    before = all_rows()

    for method, path, body in calls:
        response = getattr(api_as(user), method)(path, body, format="json")
        assert_error(response, 403, "account_required")

    assert all_rows() == before


def test_support_staff_with_a_token_are_refused_too(support_user, account):
    CompanyFactory(account=account)
    token = (
        APIClient()
        .post(
            TOKEN_URL,
            {
                "username": support_user.username,
                "password": PASSWORD,
                "otp": totp_code(support_user),
            },
            format="json",
        )
        .json()["token"]
    )

    response = token_client(token).get(API_PATHS["company"])

    assert "/api/v1/support/" in assert_error(response, 403, "account_required")["detail"]


# --- The browser session --------------------------------------------------------------------


def test_session_works_on_the_api_with_csrf(admin_user):
    client = APIClient(enforce_csrf_checks=True)
    # The request lets django-axes count the attempt, as the login page and the token do.
    assert client.login(request=HttpRequest(), username=admin_user.username, password=PASSWORD)
    CompanyFactory(account=admin_user.account)

    assert client.get(API_PATHS["company"]).status_code == 200
    before = row_counts()
    refused = client.post(API_PATHS["company"], {"title": "No CSRF"}, format="json")
    assert_error(refused, 403)
    assert "CSRF" in refused.json()["detail"]
    assert row_counts() == before

    csrf_secret = "a" * 32
    client.cookies["csrftoken"] = csrf_secret
    response = client.post(
        API_PATHS["company"], {"title": "With CSRF"}, format="json", HTTP_X_CSRFTOKEN=csrf_secret
    )

    assert response.status_code == 201, response.content
    assert row_counts()["company"] == before["company"] + 1

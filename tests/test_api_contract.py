"""The API takes exactly what its schema documents and refuses the rest with its JSON error
(issue 15, item 9; tests/test_api_fuzz.py fuzzes the whole schema). Each case here was taken,
silently ignored or answered in HTML before: a form body, a mistyped or empty filter, a page
size that is no number, ``comments: 123`` stored as "123", ``"1e3"`` as an amount, an unknown
field dropped, a wrong path answered with Django's HTML 404 page."""

import pytest

from crm.models import Company, Deal
from crm.tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def refused(response, status: int = 400, code: str | None = None, field: str | None = None):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in body["errors"], body
    return body


# --- Bodies: JSON only, each value of its documented type, no unknown field --------------------


@pytest.mark.parametrize("fmt", ["multipart", None])
def test_a_form_body_is_415(api, fmt):
    data = {"title": "Acme"}
    if fmt is None:
        response = api.generic(
            "POST", "/api/v1/companies/", "title=Acme", "application/x-www-form-urlencoded"
        )
    else:
        response = api.post("/api/v1/companies/", data, format=fmt)
    refused(response, 415, "unsupported_media_type")
    assert not Company.objects.exists()


def test_the_token_endpoint_takes_json_only(api_as, admin_user):
    body = {"username": admin_user.username, "password": "x"}
    refused(api_as(None).post("/api/v1/auth/token/", body, format="multipart"), 415)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/companies/", {"title": "Acme", "comments": 123}, "comments"),
        ("/api/v1/companies/", {"title": 5}, "title"),
        ("/api/v1/deals/", {"title": "Big", "amount": 2300}, "amount"),
        ("/api/v1/deals/", {"title": "Big", "amount": "1e3"}, "amount"),
        ("/api/v1/deals/", {"title": "Big", "amount": ""}, "amount"),
        ("/api/v1/deals/", {"title": "Big", "amount": "-5"}, "amount"),
        ("/api/v1/deals/", {"title": "Big", "company": "12"}, "company"),
        (
            "/api/v1/activities/",
            {"subject": "Call", "type": "call", "completed": "true"},
            "completed",
        ),
        ("/api/v1/companies/", {"title": "Acme", "titel": "typo"}, "titel"),
        ("/api/v1/companies/", {"title": " " * 10 + "x" * 250}, "title"),
        ("/api/v1/recyclebin/purge/", {"ids": ["1"]}, "ids"),
        ("/api/v1/support/notifications/read/", {"ids": 5}, "ids"),
    ],
)
def test_a_value_of_another_type_or_an_unknown_field_is_refused(api, path, body, field):
    refused(api.post(path, body), field=field)
    assert not Company.objects.exists() and not Deal.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(api):
    refused(api.post("/api/v1/support/notifications/read/", False))


def test_the_fields_a_client_read_may_be_sent_back(api, account):
    company = CompanyFactory(account=account, title="Old")
    read = api.get(f"/api/v1/companies/{company.pk}/").json()

    response = api.put(f"/api/v1/companies/{company.pk}/", read | {"title": "New"})

    assert response.status_code == 200, response.content
    company.refresh_from_db()
    assert company.title == "New"


def test_an_amount_as_documented_is_taken(api):
    response = api.post("/api/v1/deals/", {"title": "Big", "amount": "2300.5"})
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "2300.50"


def test_a_link_to_no_record_says_so(api):
    body = refused(api.post("/api/v1/contacts/", {"first_name": "A", "company": 10**30}))
    assert body["code"] == "does_not_exist"
    assert body["errors"]["company"] == [f"There is no company with id {10**30} in your account."]


# --- Query parameters: never silently ignored ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/deals/?updated_after=", "updated_after"),
        ("/api/v1/deals/?updated_after=yesterday", "updated_after"),
        ("/api/v1/deals/?stage=", "stage"),
        ("/api/v1/deals/?company=0", "company"),
        ("/api/v1/deals/?search=", "search"),
        ("/api/v1/deals/?search=%20", "search"),
        ("/api/v1/deals/?page_size=abc", "page_size"),
        ("/api/v1/deals/?page_size=0", "page_size"),
        ("/api/v1/deals/?page_size=201", "page_size"),
        ("/api/v1/deals/?ordering=bogus", "ordering"),
        ("/api/v1/deals/?ordering=title,-id", "ordering"),
        ("/api/v1/activities/?completed=maybe", "completed"),
        ("/api/v1/support/notifications/?unread=abc", "unread"),
        ("/api/v1/history/?event_type=", "event_type"),
        ("/api/v1/recyclebin/?deleted_by=", "deleted_by"),
    ],
)
def test_a_malformed_filter_is_refused(api, account, path, field):
    CompanyFactory(account=account)
    refused(api.get(path), field=field)


def test_an_empty_cursor_is_an_invalid_cursor(api):
    refused(api.get("/api/v1/deals/?cursor="), 404, "invalid_cursor")


@pytest.mark.parametrize(
    "query", ["page_size=200", "ordering=-title", "completed=true", "search=Acme"]
)
def test_well_formed_filters_are_taken(api, query):
    path = "/api/v1/activities/" if "completed" in query else "/api/v1/companies/"
    assert api.get(f"{path}?{query}").status_code == 200


# --- Paths: any other path under /api/v1/ is the API's JSON 404 -------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/deals/0.5/"),
        ("delete", "/api/v1/deals/abc/"),
        ("post", "/api/v1/nothing/here/"),
    ],
)
def test_an_unknown_path_is_the_apis_404(client, admin_user, method, path):
    client.force_login(admin_user)  # a session and no CSRF token: still a 404, not a 403 page
    refused(getattr(client, method)(path), 404, "not_found")


# --- The schema says all of it ------------------------------------------------------------------


@pytest.fixture
def schema(api):
    return api.get("/api/v1/schema/?format=json", HTTP_ACCEPT="application/json").json()


def _parameter(schema, path: str, name: str) -> dict:
    parameters = schema["paths"][path]["get"]["parameters"]
    return next(p for p in parameters if p["name"] == name)["schema"]


def test_the_schema_documents_the_limits_of_query_parameters(schema):
    assert _parameter(schema, "/api/v1/deals/", "page_size") == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
    }
    assert _parameter(schema, "/api/v1/deals/", "company")["minimum"] == 1
    assert "-title" in _parameter(schema, "/api/v1/deals/", "ordering")["enum"]
    assert _parameter(schema, "/api/v1/deals/", "search")["minLength"] == 1
    assert _parameter(schema, "/api/v1/history/", "event_type")["items"]["enum"]
    assert _parameter(schema, "/api/v1/support/notifications/", "unread")["type"] == "boolean"


def test_the_schema_documents_json_bodies_only_and_exactly(schema):
    for item in schema["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"]
    components = schema["components"]["schemas"]
    deal = components["DealRequest"]
    assert deal["additionalProperties"] is False
    assert deal["properties"]["amount"]["pattern"] == r"^\d{1,12}(\.\d{1,2})?$"
    assert components["BinBulkRestoreRequest"]["oneOf"]

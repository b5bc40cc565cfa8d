"""Hostile bodies get the API's own errors, never a 500 or an HTML page (issue 15, items 4
and 5): JSON nested deeper than 100 levels is ``400 parse_error`` (a thousand levels raised
RecursionError), a body over the upload limit is ``413 too_large``; nothing is written."""

import json

import pytest

from crm.models import Company

pytestmark = pytest.mark.django_db

JSON_ENDPOINTS = ["/api/v1/companies/", "/api/v1/recyclebin/restore/", "/api/v1/auth/token/"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def assert_api_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["detail"]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("depth", [101, 1_000, 100_000])
def test_json_nested_too_deep_is_a_parse_error(api, path, depth):
    response = api.post(path, nested(depth), content_type="application/json")
    assert_api_error(response, 400, "parse_error")
    assert not Company.objects.exists()


def test_json_nested_100_deep_is_parsed(api):
    body = {"title": "Deep but fine", "comments": ""}
    inner: list = []
    for _ in range(98):
        inner = [inner]
    body["extra"] = inner  # 100 levels with the object itself
    response = api.post("/api/v1/companies/", json.dumps(body), content_type="application/json")
    # Parsed: what is refused is the unknown field, not the body.
    assert_api_error(response, 400, "unknown_field")
    assert list(response.json()["errors"]) == ["extra"]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_a_body_over_the_limit_is_413_too_large(api, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"title": "x" * 20_000})
    response = api.post(path, body, content_type="application/json")
    assert_api_error(response, 413, "too_large")
    assert "10000" in response.json()["detail"]
    assert not Company.objects.exists()


def test_a_body_under_the_limit_goes_through(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post("/api/v1/companies/", {"title": "x" * 200}, format="json")
    assert response.status_code == 201

"""Nothing shown to a signed-in person is stored by a browser or a proxy (issue 15, item 7):
pages, API answers (session or token), errors and exports all say ``Cache-Control: no-store``;
public pages may be cached."""

import pytest
from django.urls import reverse

from backups import services as backup_services
from conftest import login_client

pytestmark = pytest.mark.django_db


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.parametrize("path", ["/", "/crm/companies/", "/history/", "/recyclebin/", "/nope/"])
def test_pages_of_a_signed_in_member_are_not_stored(admin_user, path):
    response = login_client(admin_user).get(path)
    assert no_store(response), (path, response.status_code, response.get("Cache-Control"))


@pytest.mark.parametrize(
    "path", ["/api/v1/companies/", "/api/v1/history/", "/api/v1/companies/999999/"]
)
def test_api_answers_to_a_token_are_not_stored(api_as, admin_user, path):
    response = api_as(admin_user).get(path)
    assert no_store(response), (path, response.status_code, response.get("Cache-Control"))


def test_a_refused_token_is_not_stored_either(client):
    response = client.get("/api/v1/companies/", HTTP_AUTHORIZATION="Token wrong")
    assert response.status_code == 401
    assert no_store(response)


@pytest.mark.django_db(transaction=True)  # a snapshot reads in its own transaction
def test_a_snapshot_export_is_not_stored(api, account, snapshot_dir):
    snapshot = backup_services.snapshot_take(account=account, kind="manual")
    response = api.get(f"/api/v1/backups/snapshots/{snapshot.pk}/export/")
    assert response.status_code == 200
    assert no_store(response)


def test_public_pages_may_be_cached(client):
    response = client.get(reverse("pricing"))
    assert response.status_code == 200
    assert not no_store(response)

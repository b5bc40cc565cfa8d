"""The chat's system lines are read in the reader's language, whoever wrote them and in which
language (support.chat_lines): an English-speaking support user's proposal reads German to a
German admin, on the page and through the API, with times in the account's zone."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from conftest import login_client
from support import services
from support.tests.factories import snapshot_kept

BASE = "/api/v1/support/requests/"


@pytest.fixture
def proposed(account, admin_user, support_user):
    kept = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=2))
    with translation.override("en"):
        request = services.request_file(
            user=admin_user,
            lost_at=timezone.now() - timedelta(hours=1),
            kind="recover",
            message="Two companies are gone.",
        )
        services.request_propose(request=request, user=support_user, snapshot=kept)
    return request


def test_the_stored_body_is_what_the_actor_read(proposed):
    lines = list(proposed.messages.filter(is_system=True).order_by("id"))
    assert lines[0].body.startswith("acme-admin filed the request: a recover restore, data lost")
    assert "proposed a recover from snapshot" in lines[1].body
    assert "nothing that exists changes" in lines[1].body
    assert lines[1].line["values"]["kind"] == "recover"


def test_a_german_admin_reads_the_lines_in_german_on_the_page(proposed, admin_user):
    page = login_client(admin_user).get(
        f"/support/requests/{proposed.pk}/", HTTP_ACCEPT_LANGUAGE="de"
    )
    html = page.content.decode()

    assert page.status_code == 200
    assert "acme-admin hat die Anfrage gestellt" in html
    assert "support hat" in html and "vorgeschlagen" in html
    assert "filed the request" not in html and "proposed a recover" not in html


def test_the_api_gives_each_reader_their_language(proposed, api_as, admin_user, support_user):
    url = f"{BASE}{proposed.pk}/messages/"
    german = api_as(admin_user).get(url, {"ordering": "id"}, HTTP_ACCEPT_LANGUAGE="de")
    english = api_as(support_user).get(url, {"ordering": "id"}, HTTP_ACCEPT_LANGUAGE="en")

    assert german.status_code == english.status_code == 200
    assert "hat die Anfrage gestellt" in german.json()["results"][0]["body"]
    assert "filed the request" in english.json()["results"][0]["body"]
    # The time is the account's, named, in either language.
    assert f"({proposed.account.time_zone})" in german.json()["results"][0]["body"]


def test_what_people_write_is_never_translated(proposed, api_as, admin_user):
    api_as(admin_user).post(
        f"{BASE}{proposed.pk}/messages/", {"body": "Danke, that was quick."}, format="json"
    )
    chat = api_as(admin_user).get(
        f"{BASE}{proposed.pk}/messages/", {"ordering": "id"}, HTTP_ACCEPT_LANGUAGE="de"
    )
    assert chat.json()["results"][-1]["body"] == "Danke, that was quick."

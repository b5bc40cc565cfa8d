"""The support API exactly as API.md says, for every role: admin (of the request's account),
employee, another account's admin, support staff, anonymous. A refusal answers API.md's code
and changes nothing (no row, no event, no notification, no task)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from backups import services as backup_services
from crm.tests.factories import CompanyFactory
from support import services
from support.models import Notification, RestoreRequest
from support.tests.factories import request_make, snapshot_kept, support_state

pytestmark = pytest.mark.django_db

BASE = "/api/v1/support/requests/"
NOTIFICATIONS = "/api/v1/support/notifications/"
ROLES = ["admin", "employee", "other_admin", "support", "anonymous"]


@pytest.fixture
def users(admin_user, employee, other_admin, support_user) -> dict:
    return {
        "admin": admin_user,
        "employee": employee,
        "other_admin": other_admin,
        "support": support_user,
        "anonymous": None,
    }


@pytest.fixture
def kept(account):
    return snapshot_kept(account, taken_at=timezone.now() - timedelta(days=2))


@pytest.fixture(autouse=True)
def tasks_sent(monkeypatch) -> list[int]:
    sent = []
    monkeypatch.setattr(services.run, "task_send", lambda request_id: sent.append(request_id))
    return sent


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def assert_anonymous_refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "not_authenticated"


def filing(**kwargs) -> dict:
    body = {
        "lost_at": (timezone.now() - timedelta(minutes=10)).isoformat(),
        "kind": "full",
        "message": "Our deals from this morning are gone.",
    }
    body.update(kwargs)
    return body


# --- Filing --------------------------------------------------------------------------------------


def test_an_admin_files_a_request(api, account, admin_user, kept):
    response = api.post(BASE, filing(kind="entities", entity_types=["deal"]), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    for name in (
        "id",
        "account",
        "status",
        "kind",
        "entity_types",
        "lost_at",
        "message",
        "snapshot",
        "requested_by",
        "created_at",
        "updated_at",
        "progress",
        "error",
        "completed_at",
    ):
        assert name in body, name
    assert body["account"] == account.pk
    assert body["status"] == "open"
    assert body["kind"] == "entities" and body["entity_types"] == ["deal"]
    assert body["snapshot"] is None and body["preview"] is None
    assert body["requested_by"] == {"id": admin_user.pk, "username": admin_user.username}
    assert body["progress"] == 0 and body["error"] == "" and body["completed_at"] is None
    assert RestoreRequest.objects.get().pk == body["id"]


def test_a_time_without_offset_is_in_the_accounts_time_zone(api, account, kept):
    account.time_zone = "America/New_York"
    account.save()
    local = timezone.now().astimezone(ZoneInfo("America/New_York")) - timedelta(hours=1)
    naive = local.replace(tzinfo=None, microsecond=0)

    response = api.post(BASE, filing(lost_at=naive.isoformat()), format="json")

    assert response.status_code == 201, response.content
    stored = RestoreRequest.objects.get().lost_at
    assert stored == naive.replace(tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize("role", ["employee", "support"])
def test_only_admins_file(api_as, users, kept, role):
    before = support_state()
    assert_error(api_as(users[role]).post(BASE, filing(), format="json"), 403, "admin_only")
    assert support_state() == before


def test_anonymous_cannot_file(api_as, kept):
    assert_anonymous_refused(api_as(None).post(BASE, filing(), format="json"))
    assert not RestoreRequest.objects.exists()


@pytest.mark.parametrize("plan", ["free", "basic"])
def test_plan_not_eligible(api, account, kept, plan):
    account.plan = plan
    account.save()
    before = support_state()
    assert_error(api.post(BASE, filing(), format="json"), 403, "plan_not_eligible")
    assert_error(api.post(BASE, {}, format="json"), 403, "plan_not_eligible")
    assert support_state() == before


def test_request_open(api, kept):
    first = api.post(BASE, filing(), format="json").json()
    before = support_state()
    body = assert_error(api.post(BASE, filing(), format="json"), 409, "request_open")
    assert f"#{first['id']}" in body["detail"]
    assert support_state() == before


@pytest.mark.parametrize(
    ("ago", "status", "code"),
    [
        (timedelta(days=6, hours=23), 409, "weekly_limit"),
        (timedelta(days=7, minutes=1), 201, None),
    ],
)
def test_weekly_limit(api, account, kept, ago, status, code):
    request_make(account, status="completed", completed_at=timezone.now() - ago)
    before = support_state()
    response = api.post(BASE, filing(), format="json")
    if code:
        assert_error(response, status, code)
        assert support_state() == before
    else:
        assert response.status_code == status, response.content


@pytest.mark.parametrize(
    ("offset", "status"), [(timedelta(seconds=1), 201), (-timedelta(seconds=1), 400)]
)
def test_retention_window_edges(api, account, offset, status):
    oldest = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=6, hours=23))
    before = support_state()
    response = api.post(BASE, filing(lost_at=(oldest.taken_at + offset).isoformat()), format="json")
    assert response.status_code == status, response.content
    if status == 400:
        assert_error(response, 400, "outside_retention")
        assert support_state() == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        filing(kind="magic"),
        filing(kind="entities"),
        filing(kind="entities", entity_types=["planet"]),
        filing(lost_at="yesterday"),
        filing(lost_at="0001-01-01T00:00:00+14:00"),
        filing(message=""),
        filing(message="x" * 5001),
    ],
)
def test_invalid_bodies_answer_400(api, kept, body):
    before = support_state()
    response = api.post(BASE, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"]
    assert support_state() == before


def test_the_form_may_ask_for_an_export(api, kept):
    response = api.post(BASE, filing(kind="export"), format="json")
    assert response.status_code == 201, response.content


# --- Reading -----------------------------------------------------------------------------------


@pytest.fixture
def mine(account, kept):
    return request_make(account, lost_at=timezone.now() - timedelta(hours=1))


@pytest.fixture
def theirs(other_account):
    return request_make(other_account, lost_at=timezone.now() - timedelta(hours=1))


READS = {
    "list": lambda client, request: client.get(BASE),
    "retrieve": lambda client, request: client.get(f"{BASE}{request.pk}/"),
    "messages": lambda client, request: client.get(f"{BASE}{request.pk}/messages/"),
}


@pytest.mark.parametrize("read", READS)
@pytest.mark.parametrize("role", ROLES)
def test_who_reads_what(api_as, users, mine, theirs, read, role):
    response = READS[read](api_as(users[role]), mine)

    if role == "anonymous":
        assert_anonymous_refused(response)
    elif role == "employee":
        assert_error(response, 403, "admin_only")
    elif role == "other_admin" and read != "list":
        assert_error(response, 404, "not_found")
    else:
        assert response.status_code == 200, response.content
        if read == "list":
            ids = [row["id"] for row in response.json()["results"]]
            expected = {
                "admin": [mine.pk],
                "other_admin": [theirs.pk],
                "support": [theirs.pk, mine.pk],
            }[role]
            assert ids == expected
        if read == "retrieve":
            assert response.json()["id"] == mine.pk


def test_another_accounts_request_looks_exactly_like_a_missing_one(api_as, other_admin, mine):
    client = api_as(other_admin)
    for suffix in ("", "messages/", "preview/"):
        foreign = client.get(f"{BASE}{mine.pk}/{suffix}")
        missing = client.get(f"{BASE}{mine.pk + 1000}/{suffix}")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() == missing.json()
    for action in ("confirm", "cancel"):
        before = support_state()
        assert_error(client.post(f"{BASE}{mine.pk}/{action}/"), 404, "not_found")
        assert support_state() == before


def test_support_filters_by_status_and_account(api_as, support_user, account, other_account):
    a = request_make(account, status="completed")
    b = request_make(account, status="open")
    c = request_make(other_account, status="proposed")
    client = api_as(support_user)

    def ids(**params):
        response = client.get(BASE, params)
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    assert ids() == sorted([a.pk, b.pk, c.pk])
    assert ids(status="open,proposed") == sorted([b.pk, c.pk])
    assert ids(account=account.pk) == sorted([a.pk, b.pk])
    assert ids(account=other_account.pk, status="open") == []
    assert client.get(BASE, {"status": "nonsense"}).status_code == 400
    page = client.get(BASE, {"page_size": 1}).json()
    assert set(page) == {"results", "next", "previous"} and page["next"]


def test_the_admin_filter_by_account_never_reaches_another(api, other_account, mine):
    request_make(other_account)
    response = api.get(BASE, {"account": other_account.pk})
    assert response.json()["results"] == []


# --- The workflow's actions --------------------------------------------------------------------

ACTIONS = {
    # action: (the status it starts from, who may, the code for the others, the status after)
    "propose": ("open", "support", "support_only", "proposed"),
    "confirm": ("proposed", "admin", "admin_only", "confirmed"),
    "approve": ("confirmed", "support", "support_only", "queued"),
    "reject": ("open", "support", "support_only", "rejected"),
    "cancel": ("open", "admin", "admin_only", "cancelled"),
}
BODIES = {"reject": {"reason": "Please file it with a time."}, "propose": {}}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_who_may_act(api_as, users, account, kept, tasks_sent, action, role):
    start, allowed, code, after = ACTIONS[action]
    request = request_make(
        account,
        status=start,
        snapshot=kept if start != "open" else None,
        lost_at=timezone.now() - timedelta(hours=1),
    )
    before = support_state()

    response = api_as(users[role]).post(
        f"{BASE}{request.pk}/{action}/", BODIES.get(action, {}), format="json"
    )

    if role == allowed:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == after
        assert RestoreRequest.objects.get(pk=request.pk).status == after
        return
    if role == "anonymous":
        assert_anonymous_refused(response)
    elif role == "other_admin" and allowed == "admin":
        assert_error(response, 404, "not_found")
    else:
        assert_error(response, 403, code)
    assert support_state() == before
    assert tasks_sent == []


@pytest.mark.parametrize("action", ACTIONS)
def test_a_wrong_state_answers_409_invalid_state(api_as, users, account, kept, action):
    start, allowed, _code, _after = ACTIONS[action]
    request = request_make(account, status="completed", snapshot=kept)
    before = support_state()
    response = api_as(users[allowed]).post(
        f"{BASE}{request.pk}/{action}/", BODIES.get(action, {}), format="json"
    )
    assert_error(response, 409, "invalid_state")
    assert support_state() == before


def test_the_whole_workflow_through_the_api(
    api_as, admin_user, support_user, account, kept, tasks_sent, django_capture_on_commit_callbacks
):
    admin, support = api_as(admin_user), api_as(support_user)
    request_id = admin.post(BASE, filing(), format="json").json()["id"]
    url = f"{BASE}{request_id}/"

    proposed = support.post(f"{url}propose/", {}, format="json").json()
    assert (proposed["status"], proposed["snapshot"], proposed["kind"]) == (
        "proposed",
        kept.pk,
        "full",
    )
    assert proposed["proposed_by"]["id"] == support_user.pk
    assert proposed["preview"].endswith(f"{url}preview/")
    assert admin.post(f"{url}confirm/").json()["status"] == "confirmed"
    assert_error(support.post(f"{url}propose/", {}, format="json"), 409, "invalid_state")
    with django_capture_on_commit_callbacks(execute=True):
        approved = support.post(f"{url}approve/")
    assert approved.json()["status"] == "queued"
    assert tasks_sent == [request_id]
    with django_capture_on_commit_callbacks(execute=True):
        assert_error(support.post(f"{url}approve/"), 409, "invalid_state")
    assert tasks_sent == [request_id]
    assert_error(admin.post(f"{url}cancel/"), 409, "invalid_state")


def test_propose_with_a_snapshot_kind_and_types(api_as, support_user, account, mine, kept):
    other = snapshot_kept(account, taken_at=timezone.now() - timedelta(days=4))
    response = api_as(support_user).post(
        f"{BASE}{mine.pk}/propose/",
        {"snapshot": other.pk, "kind": "entities", "entity_types": ["company", "deal"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (response.json()["snapshot"], response.json()["entity_types"]) == (
        other.pk,
        ["company", "deal"],
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"snapshot": 10**9}, 400, "outside_retention"),
        ({"kind": "entities"}, 400, "invalid"),
        ({"kind": "nope"}, 400, "invalid_choice"),
    ],
)
def test_bad_proposals(api_as, support_user, mine, body, status, code):
    before = support_state()
    response = api_as(support_user).post(f"{BASE}{mine.pk}/propose/", body, format="json")
    assert_error(response, status, code)
    assert support_state() == before


def test_another_accounts_snapshot_cannot_be_proposed(api_as, support_user, mine, other_account):
    theirs = snapshot_kept(other_account)
    response = api_as(support_user).post(
        f"{BASE}{mine.pk}/propose/", {"snapshot": theirs.pk}, format="json"
    )
    assert_error(response, 400, "outside_retention")


def test_reject_needs_a_reason(api_as, support_user, mine):
    before = support_state()
    response = api_as(support_user).post(f"{BASE}{mine.pk}/reject/", {}, format="json")
    assert response.status_code == 400
    assert support_state() == before


# --- Chat ----------------------------------------------------------------------------------------


def test_the_chat(api_as, admin_user, support_user, employee, mine):
    admin, support = api_as(admin_user), api_as(support_user)
    posted = admin.post(f"{BASE}{mine.pk}/messages/", {"body": "Is it possible?"}, format="json")
    assert posted.status_code == 201, posted.content
    assert posted.json()["author"] == {"id": admin_user.pk, "username": admin_user.username}
    assert posted.json()["is_support"] is False
    answer = support.post(f"{BASE}{mine.pk}/messages/", {"body": "Yes."}, format="json")
    assert answer.json()["is_support"] is True

    newest_first = admin.get(f"{BASE}{mine.pk}/messages/").json()["results"]
    assert [m["body"] for m in newest_first] == ["Yes.", "Is it possible?"]
    oldest_first = support.get(f"{BASE}{mine.pk}/messages/", {"ordering": "id"}).json()
    assert [m["body"] for m in oldest_first["results"]] == ["Is it possible?", "Yes."]
    assert set(newest_first[0]) == {"id", "author", "is_support", "is_system", "body", "created_at"}

    before = support_state()
    assert_error(
        api_as(employee).post(f"{BASE}{mine.pk}/messages/", {"body": "hi"}, format="json"),
        403,
        "admin_only",
    )
    assert admin.post(f"{BASE}{mine.pk}/messages/", {"body": ""}, format="json").status_code == 400
    assert support_state() == before


def test_the_chat_shows_the_workflow_as_system_lines(api_as, admin_user, support_user, kept):
    admin = api_as(admin_user)
    request_id = admin.post(BASE, filing(), format="json").json()["id"]
    api_as(support_user).post(f"{BASE}{request_id}/propose/", {}, format="json")

    chat = admin.get(f"{BASE}{request_id}/messages/", {"ordering": "id"}).json()["results"]
    assert [(m["is_system"], m["author"]) for m in chat] == [(True, None), (True, None)]
    assert admin_user.username in chat[0]["body"]
    assert f"#{kept.pk}" in chat[1]["body"]


# --- Preview -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # a snapshot opens its own transaction
def test_the_preview_of_the_proposal(api_as, admin_user, support_user, employee, account):
    company = CompanyFactory(account=account, title="Kept")
    snapshot = backup_services.snapshot_take(account=account, kind="manual")
    company.delete()
    CompanyFactory(account=account, title="Newer")
    request = request_make(account, status="proposed", snapshot=snapshot, lost_at=timezone.now())

    for user in (admin_user, support_user):
        response = api_as(user).get(f"{BASE}{request.pk}/preview/")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["snapshot"], body["kind"]) == (snapshot.pk, "full")
        assert body["changes"]["company"] == {"removed": 1, "restored": 1, "reverted": 0}
    recover = api_as(support_user).get(f"{BASE}{request.pk}/preview/", {"kind": "recover"})
    assert recover.json()["changes"]["company"] == {"removed": 0, "restored": 1, "reverted": 0}
    assert_error(api_as(employee).get(f"{BASE}{request.pk}/preview/"), 403, "admin_only")


def test_no_snapshot_to_preview(api, mine):
    RestoreRequest.objects.filter(pk=mine.pk).update(lost_at=timezone.now() - timedelta(days=3))
    assert_error(api.get(f"{BASE}{mine.pk}/preview/"), 400, "outside_retention")


# --- Notifications -------------------------------------------------------------------------------


def test_notifications(api_as, admin_user, support_user, employee, kept):
    api_as(admin_user).post(BASE, filing(), format="json")
    support = api_as(support_user)

    listed = support.get(NOTIFICATIONS).json()["results"]
    assert [(n["verb"], n["account_name"]) for n in listed] == [("filed", "Acme")]
    assert support.get(f"{NOTIFICATIONS}unread/").json() == {"unread": 1}
    assert support.get(NOTIFICATIONS, {"unread": "true"}).json()["results"] == listed
    assert support.post(f"{NOTIFICATIONS}read/", {}, format="json").json() == {"marked": 1}
    assert support.get(f"{NOTIFICATIONS}unread/").json() == {"unread": 0}
    assert support.get(NOTIFICATIONS, {"unread": "true"}).json()["results"] == []
    # Nobody reads or marks another's.
    assert api_as(admin_user).get(NOTIFICATIONS).json()["results"] == []
    assert_error(api_as(employee).get(NOTIFICATIONS), 403, "admin_only")
    assert_anonymous_refused(api_as(None).get(NOTIFICATIONS))
    assert Notification.objects.filter(read_at__isnull=False).count() == 1


# --- Support staff stay in /api/v1/support/ ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/companies/",
        "/api/v1/recyclebin/",
        "/api/v1/history/",
        "/api/v1/backups/snapshots/",
    ],
)
def test_support_staff_get_account_required_elsewhere(api_as, support_user, path):
    assert_error(api_as(support_user).get(path), 403, "account_required")


def test_the_schema_lists_the_support_endpoints(api_as, support_user):
    schema = api_as(None).get("/api/v1/schema/", {"format": "json"})
    assert schema.status_code == 200
    text = schema.content.decode()
    for action in ("propose", "confirm", "approve", "reject", "cancel", "messages", "preview"):
        assert f"/api/v1/support/requests/{{id}}/{action}/" in text


@pytest.mark.parametrize("role", ROLES)
def test_who_writes_in_the_chat(api_as, users, mine, role):
    before = support_state()
    response = api_as(users[role]).post(
        f"{BASE}{mine.pk}/messages/", {"body": "Any news?"}, format="json"
    )
    if role in ("admin", "support"):
        assert response.status_code == 201, response.content
        assert response.json()["is_support"] is (role == "support")
        return
    if role == "anonymous":
        assert_anonymous_refused(response)
    elif role == "employee":
        assert_error(response, 403, "admin_only")
    else:
        assert_error(response, 404, "not_found")
    assert support_state() == before

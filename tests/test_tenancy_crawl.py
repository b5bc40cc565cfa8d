"""The tenancy crawl: every page of the URL resolver and every operation of the OpenAPI schema,
every method, as the admin and as an employee of ANOTHER account, with the real ids of the first
account. Each answer must be exactly what a missing id gets (no existence leak), never a success,
never show the first account's data, and no row of the first account may change.

Nothing is listed by hand: a new page or endpoint is crawled the day it is added. Its id
parameter must name an object the crawl knows (``_OBJECTS``); otherwise this test fails and says
what to teach it."""

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create
from backups import services as backup_services
from backups.models import Snapshot
from backups.tests.factories import live_rows
from changelog.models import Alert, RevertJob
from conftest import PASSWORD
from crm import services as crm_services
from crm.entities import ENTITIES
from history.models import Event
from recyclebin.models import RestoreJob
from support import services as support_services
from support.models import Message, Notification, RestoreRequest

pytestmark = pytest.mark.django_db(transaction=True)

MARKER = "ZZ-TENANT-A-SECRET"
MISSING_ID = 987654321
METHODS = ("get", "post", "put", "patch", "delete")
# Pages that are not the account's: Django's admin (operators only; its own permission
# system, tested in tests/test_admin.py), a support user's enrolment link (no account's data,
# a secret key instead of an id: accounts/tests/test_enrollment.py) and the API, crawled
# through its schema below.
SKIPPED_PREFIXES = ("admin/", "api/", "enroll/")


@pytest.fixture
def snapshot_dir(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "backups.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": tmp_path / "snapshots", "base_url": None},
        },
    }


@pytest.fixture
def victim(account, admin_user, snapshot_dir, support_user) -> dict:
    """The first account with one object of every kind, each carrying MARKER."""

    def make(entity_type: str, **data):
        return crm_services.record_create(
            account=account, actor=admin_user, entity=ENTITIES[entity_type], data=data
        )

    company = make("company", title=MARKER)
    contact = make("contact", first_name=MARKER, last_name="Contact", company=company)
    lead = make("lead", title=f"{MARKER} lead")
    deal = make("deal", title=f"{MARKER} deal")
    activity = make("activity", subject=f"{MARKER} call", type="call", deal=deal)
    binned = make("contact", first_name=MARKER)
    entry = crm_services.record_delete(record=binned, actor=admin_user)
    snapshot = backup_services.snapshot_take(account=account, kind="manual", actor=admin_user)
    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    request = support_services.request_file(
        user=admin_user,
        lost_at=snapshot.taken_at,
        kind="recover",
        entity_types=[],
        message=f"{MARKER} please help",
    )
    message = support_services.message_post(request=request, user=support_user, body=MARKER)
    return {
        "company": company,
        "contact": contact,
        "lead": lead,
        "deal": deal,
        "activity": activity,
        "binentry": entry,
        "job": RestoreJob.objects.create(
            account=account,
            requested_by=admin_user,
            entry_ids=[entry.pk],
            total=1,
            status=RestoreJob.Status.COMPLETED,
        ),
        "event": Event.objects.filter(account=account).latest("id"),
        "revertjob": RevertJob.objects.create(
            account=account, requested_by=admin_user, events=[], status="completed"
        ),
        "alert": Alert.objects.create(
            account=account,
            kind="mass_delete",
            actor=admin_user,
            actor_username=MARKER,
            started_at=snapshot.taken_at,
            ended_at=snapshot.taken_at,
            count=101,
            first_event=1,
            last_event=2,
        ),
        "snapshot": snapshot,
        "request": request,
        "message": message,
        "notification": Notification.objects.filter(request=request).first(),
    }


# Which object an id in a URL names, by the words of the route's name or path. The first
# match wins, so the more specific words come first.
_OBJECTS = (
    ("revert", "revertjob"),
    ("alert", "alert"),
    ("message", "message"),
    ("notification", "notification"),
    ("request", "request"),
    ("console", "request"),
    ("support", "request"),
    ("snapshot", "snapshot"),
    ("backup", "snapshot"),
    ("job", "job"),
    ("binentry", "binentry"),
    ("recyclebin", "binentry"),
    ("event", "event"),
    ("history", "event"),
    ("compan", "company"),
    ("contact", "contact"),
    ("lead", "lead"),
    ("deal", "deal"),
    ("activit", "activity"),
)


def _object_id(where: str, victim: dict) -> int:
    for word, key in _OBJECTS:
        if word in where.lower():
            obj = victim[key]
            assert obj is not None, f"the crawl has no {key} to use for {where}"
            return obj.pk
    pytest.fail(
        f"The tenancy crawl does not know which object the id of {where} names: add it to _OBJECTS"
    )


def _state(account) -> dict:
    """Everything of the account that a request could change."""
    return {
        "rows": live_rows(account),
        "events": Event.objects.filter(account=account).count(),
        "jobs": sorted(RestoreJob.objects.filter(account=account).values_list("id", "status")),
        "alerts": sorted(
            Alert.objects.filter(account=account).values_list("id", "acknowledged_at")
        ),
        "snapshots": sorted(Snapshot.objects.filter(account=account).values_list("id", "status")),
        "requests": sorted(
            RestoreRequest.objects.filter(account=account).values_list("id", "status", "kind")
        ),
        "messages": Message.objects.filter(request__account=account).count(),
        "maintenance": type(account).objects.get(pk=account.pk).maintenance,
    }


def _hostile_body(victim: dict) -> dict:
    """A body naming the first account's objects wherever a form or an endpoint takes an id."""
    body = {key: obj.pk for key, obj in victim.items() if obj is not None}
    body |= {
        "ids": [victim["binentry"].pk],
        "entry": victim["binentry"].pk,
        "filter": {"entity_type": "contact"},
        "kind": "full",
        "body": "hello",
        "reason": "no",
        "title": "x",
    }
    return body


def _answer(response) -> tuple:
    code = None
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            code = json.loads(response.content or b"null")
        except ValueError:
            code = None
        code = code.get("code") if isinstance(code, dict) else None
    location = response.get("Location", "")
    return response.status_code, code, re.sub(r"\d+", "N", location)


def _check(problems, label, attacker_response, missing_response, before, after):
    status = attacker_response.status_code
    if 200 <= status < 300:
        problems.append(f"{label}: answered {status} with another account's id")
    if _answer(attacker_response) != _answer(missing_response):
        problems.append(
            f"{label}: answered {_answer(attacker_response)} but a missing id gets "
            f"{_answer(missing_response)} (the difference leaks existence)"
        )
    content = getattr(attacker_response, "content", b"") or b""
    if MARKER.encode() in content:
        problems.append(f"{label}: the answer shows the other account's data")
    if before != after:
        problems.append(f"{label}: changed the other account's rows")


@pytest.fixture(params=["admin", "employee"])
def attacker(request, other_account) -> User:
    if request.param == "admin":
        return other_account.users.get(role=User.Role.ADMIN)
    return user_create(
        username="globex-employee",
        password=PASSWORD,
        account=other_account,
        role=User.Role.EMPLOYEE,
        check_password=False,
    )


def _pages():
    """(name, kwarg names, route) of every named page of the resolver, admin and API excluded."""

    def walk(patterns, namespaces, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                found = namespaces + ((pattern.namespace,) if pattern.namespace else ())
                yield from walk(pattern.url_patterns, found, route)
            elif isinstance(pattern, URLPattern) and not route.startswith(SKIPPED_PREFIXES):
                assert pattern.name, f"the page {route} has no name: the crawl needs one"
                name = ":".join((*namespaces, pattern.name))
                yield name, list(pattern.pattern.regex.groupindex), route

    return list(walk(get_resolver().url_patterns, (), ""))


def test_every_page_refuses_another_accounts_ids(victim, account, attacker):
    client = Client()
    body = _hostile_body(victim)
    problems: list[str] = []
    crawled = 0
    for name, kwargs, route in _pages():
        client.force_login(attacker)  # again: the crawl posts to the logout page too
        real = {k: _object_id(f"{name} {route}", victim) for k in kwargs}
        urls = [
            (reverse(name, kwargs=real), reverse(name, kwargs=dict.fromkeys(kwargs, MISSING_ID)))
        ]
        for method in METHODS:
            for url, missing_url in urls:
                client.force_login(attacker)
                before = _state(account)
                response = getattr(client, method)(url, body if method == "post" else None)
                after = _state(account)
                missing = getattr(client, method)(missing_url, body if method == "post" else None)
                label = f"{attacker.role} {method.upper()} {url}"
                if kwargs:
                    _check(problems, label, response, missing, before, after)
                else:
                    _check_unscoped(problems, label, response, before, after)
                crawled += 1
    assert crawled > 100
    assert not problems, "\n".join(problems)


def _check_unscoped(problems, label, response, before, after):
    """A page without an id in its path: it may answer, but never with the other account's
    data, and the hostile body's ids must change nothing."""
    content = getattr(response, "content", b"") or b""
    if MARKER.encode() in content:
        problems.append(f"{label}: the answer shows the other account's data")
    if before != after:
        problems.append(f"{label}: changed the other account's rows")
    if response.status_code >= 500:
        problems.append(f"{label}: answered {response.status_code}")


def _operations(client) -> list[tuple[str, str]]:
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    return [
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]


def test_every_api_operation_refuses_another_accounts_ids(victim, account, attacker):
    client = APIClient()
    client.force_authenticate(user=attacker)
    body = _hostile_body(victim)
    problems: list[str] = []
    operations = _operations(client)
    for path, method in operations:
        params = re.findall(r"\{(\w+)\}", path)
        url = path
        missing_url = path
        for param in params:
            url = url.replace(f"{{{param}}}", str(_object_id(path, victim)))
            missing_url = missing_url.replace(f"{{{param}}}", str(MISSING_ID))
        data = body if method in ("post", "put", "patch") else None
        before = _state(account)
        response = getattr(client, method)(url, data, format="json")
        after = _state(account)
        label = f"{attacker.role} {method.upper()} {url}"
        if params:
            missing = getattr(client, method)(missing_url, data, format="json")
            _check(problems, label, response, missing, before, after)
        else:
            _check_unscoped(problems, label, response, before, after)
    assert len(operations) > 30
    assert not problems, "\n".join(problems)


def test_the_schema_documents_every_api_route():
    """Every API route of the resolver is in the schema, so the crawl above reaches it."""
    client = APIClient()
    documented = {re.sub(r"\{\w+\}", "{}", path) for path, _method in _operations(client)}

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            else:
                yield route

    undocumented = []
    for route in walk(get_resolver().url_patterns, ""):
        if not route.startswith("api/v1/") or route.endswith(("schema/", "docs/")):
            continue
        if route == "api/v1/^.*/$":  # the last route: any other path is the API's 404
            continue
        path = "/" + re.sub(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>", "{}", route)
        path = path.replace("^", "").replace("$", "")
        if path not in documented and path != "/api/v1/":  # the API root: links only
            undocumented.append(path)
    assert not undocumented, f"API routes missing from the schema: {undocumented}"

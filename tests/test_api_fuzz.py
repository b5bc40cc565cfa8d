"""Schema fuzzing: schemathesis generates requests for every operation of the served
``/api/v1/schema/`` and sends them, as an account admin, through the real WSGI application.
No answer may be a 5xx, and every answer must match the schema (status documented, body of
the documented shape). A bounded number of examples per operation keeps it in CI's time."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token

from config.wsgi import application
from crm.entities import ENTITIES
from crm.services import record_create, record_delete

pytestmark = pytest.mark.django_db

EXAMPLES = 20
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def api_schema(db):
    # As Django's test client does: the test's transaction must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(account, admin_user) -> str:
    """The admin's token, in an account with a record of every type and a bin entry."""
    made = {}
    for entity_type, entity in ENTITIES.items():
        data = {"title": f"Fuzz {entity_type}"}
        if entity_type == "contact":
            data = {"first_name": "Fuzz", "last_name": "Contact"}
        elif entity_type == "activity":
            data = {"subject": "Fuzz call", "type": "call", "deal": made["deal"]}
        made[entity_type] = record_create(
            account=account, actor=admin_user, entity=entity, data=data
        )
    record_delete(record=made["lead"], actor=admin_user)
    return Token.objects.get_or_create(user=admin_user)[0].key


def test_api_answers_within_its_schema(api_schema, token):
    headers = {"Authorization": f"Token {token}"}
    failures = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            fuzz()
        except Exception as failure:  # noqa: BLE001 - every operation's failure is reported
            failures[operation.label] = failure
    assert len(operations) > 30
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())

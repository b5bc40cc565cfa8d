"""Schema fuzzing: ``schemathesis run --checks all`` against the served ``/api/v1/schema/`` of
gunicorn on the test database, as an account admin: positive and negative data, every phase
(examples, coverage, fuzzing, stateful). No answer may be a 5xx; every answer must match the
schema (status, content type, body); what the schema allows must be taken, what it forbids
refused with 400.

Left out: ``POST /api/v1/auth/logout/`` (it would revoke the fuzzer's own token mid-run; its
tests are accounts/tests/test_api_auth.py). ``positive_data_acceptance`` is replaced by
tests/fuzz_checks.py's ``positive_data_accepted``, the same check except for the few 400s that
depend on the account's data (a link to a record id it does not have...), each named there.

A bounded number of examples and a fixed seed keep it in CI's time and repeatable; bigger runs:
``bench/README.md`` ("API fuzzing")."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from crm.entities import ENTITIES
from crm.services import record_create, record_delete

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = 12
SEED = 1
ROOT = Path(__file__).resolve().parent.parent


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


def test_api_answers_within_its_schema(gunicorn_server, token, tmp_path):
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "run",
        f"{gunicorn_server}/api/v1/schema/",
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--exclude-path",
        "/api/v1/auth/logout/",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--no-color",
        "--output-truncate",
        "false",
        "--report-dir",
        str(tmp_path),
    ]
    environment = os.environ | {"SCHEMATHESIS_HOOKS": "tests.fuzz_checks", "PYTHONPATH": str(ROOT)}
    run = subprocess.run(  # noqa: S603 - our own command line
        command, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=900
    )
    selected = re.search(r"Selected: (\d+)/(\d+)", run.stdout)
    tested = re.search(r"Tested: (\d+)", run.stdout)
    assert selected and tested, run.stdout[-5000:] + run.stderr
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr
    # Every operation but logout was tested, and there are sixty-odd of them.
    assert int(tested[1]) == int(selected[1]) == int(selected[2]) - 1 > 50, run.stdout[-3000:]

"""A client generated from the served schema works (issue 17, item 8): openapi-python-client
builds a Python client from ``/api/v1/schema/`` without dropping a model (it dropped the whole
preview, "Attempted to generate duplicate models with name PreviewSamples"), and the preview,
called through that client against gunicorn, answers in its own typed model."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from backups.services import snapshot_take
from crm.tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_generated_client_calls_the_preview(gunicorn_server, account, admin_user, tmp_path):
    snapshot = snapshot_take(account=account, kind="manual")
    company = CompanyFactory(account=account)  # made after the snapshot: a restore removes it
    token = Token.objects.create(user=admin_user).key
    generator = Path(sys.executable).with_name("openapi-python-client")

    generated = subprocess.run(  # noqa: S603 - our own command line
        [
            str(generator),
            "generate",
            "--url",
            f"{gunicorn_server}/api/v1/schema/?format=json",
            "--output-path",
            str(tmp_path / "crm_client"),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "Unable to process schema" not in output and "duplicate" not in output, output
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("crm_client")
        preview_call = importlib.import_module(
            "crm_client.api.backups.backups_snapshots_preview_retrieve"
        )
        models = importlib.import_module("crm_client.models")
    finally:
        sys.path.remove(str(tmp_path))
    client = client_module.AuthenticatedClient(
        base_url=gunicorn_server, token=token, prefix="Token"
    )

    preview = preview_call.sync(snapshot.pk, client=client, sample_size=5)

    assert isinstance(preview, models.Preview), preview
    assert preview.kind.value == "full"
    assert preview.changes["company"].removed == 1
    assert preview.changes["deal"].removed == 0
    removed = preview.samples["company"].removed
    assert [(record.id, record.title) for record in removed] == [(company.pk, company.title)]

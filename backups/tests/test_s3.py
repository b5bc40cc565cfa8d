"""Snapshots in an S3-compatible bucket (SNAPSHOT_STORAGE=s3): the same take, verify, restore
and expiry as on the local folder, against moto's in-process S3."""

import boto3
import pytest
from django.core.files.storage import storages
from moto import mock_aws

from backups import services
from backups.models import Snapshot
from backups.restore import snapshot_restore
from backups.storage import PrivateS3Storage, snapshot_storage
from backups.tests.factories import account_fill, live_rows
from crm import services as crm_services
from crm.models import Company

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "crm-snapshots"


@pytest.fixture
def bucket(settings, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="eu-central-1")
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        settings.STORAGES = {
            **settings.STORAGES,
            "snapshots": {
                "BACKEND": "backups.storage.PrivateS3Storage",
                "OPTIONS": {
                    "bucket_name": BUCKET,
                    "location": "snapshots",
                    "region_name": "eu-central-1",
                },
            },
        }
        storages._storages.pop("snapshots", None)
        yield client
        storages._storages.pop("snapshots", None)


def _keys(client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_take_verify_and_restore_through_s3(bucket, account, admin_user):
    assert isinstance(snapshot_storage(), PrivateS3Storage)
    account_fill(account, actor=admin_user)
    before = live_rows(account)

    snapshot = services.snapshot_take(account=account, kind="manual", actor=admin_user)

    assert snapshot.status == Snapshot.Status.SUCCEEDED, snapshot.error
    [key] = _keys(bucket)
    assert key == f"snapshots/{snapshot.storage_name}"
    assert bucket.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == snapshot.size_bytes
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]  # the owner only: private
    assert services.snapshot_verify(snapshot=snapshot) == snapshot.counts
    with pytest.raises(NotImplementedError):
        snapshot_storage().url(snapshot.storage_name)

    for company in Company.objects.for_account(account)[:3]:
        crm_services.record_delete(record=company, actor=admin_user)
    outcome = snapshot_restore(snapshot=snapshot, kind="full", actor=admin_user)

    assert live_rows(account) == before
    assert len(_keys(bucket)) == 2  # the snapshot and the pre_restore one
    assert Snapshot.objects.get(pk=outcome.pre_restore_snapshot_id).storage_name


def test_a_second_snapshot_never_overwrites_and_delete_removes_the_object(bucket, account):
    first = services.snapshot_take(account=account, kind="manual")
    second = services.snapshot_take(account=account, kind="manual")
    assert first.storage_name != second.storage_name
    assert len(_keys(bucket)) == 2

    services.snapshot_delete(snapshot=first)

    assert _keys(bucket) == [f"snapshots/{second.storage_name}"]
    assert not Snapshot.objects.filter(pk=first.pk).exists()


def test_an_upload_error_marks_the_snapshot_failed_and_leaves_no_object(
    bucket, account, monkeypatch
):
    def refuse(self, name, content):
        raise OSError("bucket unreachable")

    monkeypatch.setattr(PrivateS3Storage, "_save", refuse)

    snapshot = services.snapshot_take(account=account, kind="manual")

    assert snapshot.status == Snapshot.Status.FAILED
    assert "bucket unreachable" in snapshot.error
    assert _keys(bucket) == []

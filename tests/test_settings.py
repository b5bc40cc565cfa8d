"""Settings come from the environment: the embedded default with nothing set, PostgreSQL and
Redis when named, and production refuses to start without a secret key."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DATABASES['default']['ENGINE']); print(s.CELERY_BROKER_URL); print(s.SESSION_ENGINE)"
)


def _run(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    clean.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "CRM_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nothing_set_means_sqlite_and_the_filesystem_broker(tmp_path):
    result = _run(PROBE, tmp_path, DJANGO_SETTINGS_MODULE="config.settings.local")
    assert result.returncode == 0, result.stderr
    engine, broker, sessions = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"
    # Each process's own memory for a cache: sessions only in the database.
    assert sessions == "django.contrib.sessions.backends.db"
    assert (tmp_path / "broker" / "queue").is_dir()


def test_database_url_and_redis_url_switch_to_postgresql_and_redis(tmp_path):
    result = _run(
        PROBE,
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL="postgres://crm@db.internal:5432/crm",
        REDIS_URL="redis://redis.internal:6379/0",
    )
    assert result.returncode == 0, result.stderr
    engine, broker, sessions = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert broker == "redis://redis.internal:6379/0"
    assert sessions == "django.contrib.sessions.backends.cached_db"  # Redis, every process


def test_snapshot_storage_s3_names_a_private_bucket(tmp_path):
    probe = (
        "import django; django.setup(); from django.core.files.storage import storages; "
        "s = storages['snapshots']; print(type(s).__name__, s.bucket_name, s.location, "
        "s.endpoint_url, s.default_acl, s.file_overwrite)"
    )
    result = _run(
        probe,
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        SNAPSHOT_STORAGE="s3",
        SNAPSHOT_S3_BUCKET="acme-crm",
        SNAPSHOT_S3_ENDPOINT_URL="http://minio:9000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "PrivateS3Storage",
        "acme-crm",
        "snapshots",
        "http://minio:9000",
        "private",
        "False",
    ]


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _run(
        PROBE,
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="crm.example",
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_starts_with_a_secret_key(tmp_path):
    result = _run(
        PROBE,
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="crm.example",
    )
    assert result.returncode == 0, result.stderr


def test_health_answers_when_the_database_does(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_api_path_answers_json_404(client, db):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}

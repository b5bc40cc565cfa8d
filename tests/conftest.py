"""Fixtures of the whole-product tests in this folder."""

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.db import connections

from conftest import wait_for, worker_database_url
from tests.browser import chromium

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for a module's browser tests (launching costs a second)."""
    with chromium() as launched:
        yield launched
    connections.close_all()


@pytest.fixture
def gunicorn_server(transactional_db, tmp_path, snapshot_dir):
    """gunicorn (config/gunicorn.conf.py, test settings) on the test database and the test's
    snapshot folder: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": worker_database_url(),
        "SNAPSHOT_DIR": str(snapshot_dir),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(ROOT / "config" / "gunicorn.conf.py"),
                f"--bind=127.0.0.1:{port}",
                "--workers=2",
                "config.wsgi",
            ],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/schema/", timeout=5):  # noqa: S310
                return True
        except OSError:
            return False

    try:
        assert wait_for(answers, timeout=60), log.read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)

"""Backups tests: snapshot files go to a temporary folder, never to var/."""

import pytest


@pytest.fixture(autouse=True)
def snapshot_dir(settings, tmp_path):
    location = tmp_path / "snapshots"
    settings.STORAGES = {
        **settings.STORAGES,
        "snapshots": {
            "BACKEND": "backups.storage.PrivateFileSystemStorage",
            "OPTIONS": {
                "location": location,
                "base_url": None,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        },
    }
    return location

"""Where snapshot files live: Django's ``snapshots`` storage (settings.STORAGES). By default a
private folder (VAR_DIR/snapshots, files 0600, folders 0700); with ``SNAPSHOT_STORAGE=s3`` any
S3-compatible store through django-storages (settings: ``SNAPSHOT_S3_*``). Never served by URL."""

from django.core.files.storage import FileSystemStorage, storages
from storages.backends.s3 import S3Storage


class PrivateFileSystemStorage(FileSystemStorage):
    """A FileSystemStorage with no URL: snapshots are read by the app, never downloaded."""

    def url(self, name):
        raise NotImplementedError("Snapshot files are never served by URL.")


class PrivateS3Storage(S3Storage):
    """An S3 bucket (AWS, MinIO, Ceph, ...) holding snapshots as private objects, never
    overwritten, with no URL, not even a signed one."""

    def get_default_settings(self):
        return {
            **super().get_default_settings(),
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": False,
            # A downloaded object spills to a temporary file beyond this: memory stays flat.
            "max_memory_size": 16 * 1024 * 1024,
        }

    def url(self, name, parameters=None, expire=None, http_method=None):
        raise NotImplementedError("Snapshot files are never served by URL.")


def snapshot_storage():
    return storages["snapshots"]

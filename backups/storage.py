"""Where snapshot files live: Django's ``snapshots`` storage (settings.STORAGES). By default a
private folder (VAR_DIR/snapshots, files 0600, folders 0700); SNAPSHOT_STORAGE_BACKEND may name
another backend (S3 through django-storages is a later slice). Never served by URL."""

from django.core.files.storage import FileSystemStorage, storages


class PrivateFileSystemStorage(FileSystemStorage):
    """A FileSystemStorage with no URL: snapshots are read by the app, never downloaded."""

    def url(self, name):
        raise NotImplementedError("Snapshot files are never served by URL.")


def snapshot_storage():
    return storages["snapshots"]

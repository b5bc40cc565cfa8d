from django.apps import AppConfig
from django.core import checks


@checks.register(checks.Tags.security)
def check_snapshot_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A bad SNAPSHOT_ENCRYPTION_KEY must stop the server at startup, not the nightly snapshot
    at 2 a.m. (or, worse, silently store snapshots plain)."""
    from backups.encryption import settings_problems

    return [
        checks.Error(
            problem, id="backups.E001", hint="See docs/deployment.md, 'Snapshots at rest'."
        )
        for problem in settings_problems()
    ]


class BackupsConfig(AppConfig):
    name = "backups"
    verbose_name = "Backups"

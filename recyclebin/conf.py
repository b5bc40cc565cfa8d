"""The recycle bin's tunables: Django settings when config/settings sets them, otherwise the
environment variable of the same name, otherwise the default here.

- ``BIN_RESTORE_JOB_THRESHOLD`` (1000): a bulk restore of more entries than this runs as a
  Celery job (RestoreJob) instead of inside the request. config/settings/base.py sets it (from
  the environment, the same default); the default here serves settings that leave it out.
- ``BIN_RESTORE_JOB_CHUNK`` (500): entries per chunk (one transaction each) of such a job.
- ``BIN_RESTORE_JOB_STALE_MINUTES`` (5): a running job with no chunk finished for this long
  lost its worker; the watchdog marks it failed (the chunks done stay done).
- ``BIN_RESTORE_JOB_RESEND_MINUTES`` (10): a job still queued after this long has its task
  sent again (a lost message or a broker that was down); a duplicate does nothing."""

import environ
from django.conf import settings

DEFAULTS = {
    "BIN_RESTORE_JOB_THRESHOLD": 1000,
    "BIN_RESTORE_JOB_CHUNK": 500,
    "BIN_RESTORE_JOB_STALE_MINUTES": 5,
    "BIN_RESTORE_JOB_RESEND_MINUTES": 10,
}

_env = environ.Env()


def bin_setting(name: str) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = _env.int(name, default=DEFAULTS[name])
    return int(value)


def restore_job_threshold() -> int:
    return bin_setting("BIN_RESTORE_JOB_THRESHOLD")

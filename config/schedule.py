"""The Celery beat schedule, in one place. Times are UTC; the nightly time is a setting."""

from celery.schedules import crontab
from django.conf import settings

BEAT_SCHEDULE = {
    "recyclebin-purge-expired": {
        "task": "recyclebin.tasks.bin_purge_expired",
        "schedule": crontab(minute=15),  # hourly: an entry goes within the hour it expires
    },
    "recyclebin-restore-jobs-watchdog": {
        # Every minute: a restore job whose worker died is failed (and the account may start
        # another) within BIN_RESTORE_JOB_STALE_MINUTES + 1 minute; a lost task is sent again.
        "task": "recyclebin.tasks.restore_jobs_watchdog",
        "schedule": crontab(),
    },
    "changelog-revert-jobs-watchdog": {
        # Every minute, as the restore jobs': a revert job whose worker died is failed.
        "task": "changelog.tasks.revert_jobs_watchdog",
        "schedule": crontab(),
    },
    "changelog-alerts-detect": {
        # Every minute: a mass deletion or change reaches the admins within a minute.
        "task": "changelog.tasks.alerts_detect",
        "schedule": crontab(),
    },
    "sessions-clear-expired": {
        "task": "accounts.tasks.sessions_clear_expired",
        "schedule": crontab(hour=3, minute=30),
    },
    "backups-nightly-snapshots": {
        "task": "backups.tasks.nightly_snapshots",
        "schedule": crontab(
            hour=settings.NIGHTLY_SNAPSHOT_HOUR, minute=settings.NIGHTLY_SNAPSHOT_MINUTE
        ),
    },
    "support-restore-watchdog": {
        # Every minute: a request whose worker died is failed (and its account writable again)
        # within SUPPORT_RESTORE_STALE_MINUTES + 1 minute.
        "task": "support.tasks.restore_requests_watchdog",
        "schedule": crontab(),
    },
    "backups-integrity-check": {
        # Nightly, after the snapshots: breaches are logged at ERROR and mailed to ADMINS.
        "task": "backups.tasks.integrity_check_nightly",
        "schedule": crontab(hour=4, minute=15),
    },
    "backups-drills": {
        # Every few minutes: each finished snapshot is drilled within the hour it was taken.
        "task": "backups.tasks.drills_sweep",
        "schedule": crontab(minute=f"*/{settings.DRILL_SWEEP_MINUTES}"),
    },
    "backups-expire-snapshots": {
        "task": "backups.tasks.snapshots_expire",
        "schedule": crontab(hour=4, minute=45),  # daily, after the nightly snapshots
    },
}

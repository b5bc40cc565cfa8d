"""The Celery beat schedule, in one place. Times are UTC."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "recyclebin-purge-expired": {
        "task": "recyclebin.tasks.bin_purge_expired",
        "schedule": crontab(minute=15),  # hourly: an entry goes within the hour it expires
    },
    "sessions-clear-expired": {
        "task": "accounts.tasks.sessions_clear_expired",
        "schedule": crontab(hour=3, minute=30),
    },
}

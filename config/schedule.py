"""The Celery beat schedule, in one place. Times are UTC."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    "sessions-clear-expired": {
        "task": "accounts.tasks.sessions_clear_expired",
        "schedule": crontab(hour=3, minute=30),
    },
}

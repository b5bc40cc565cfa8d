"""The Celery app: `celery -A config worker`, `celery -A config beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from config.schedule import BEAT_SCHEDULE  # noqa: E402 - reads settings, named just above

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.conf.beat_schedule = BEAT_SCHEDULE  # the one place of the schedule: config/schedule.py

"""Every Celery task of the project stops in bounded time: a soft limit (SoftTimeLimitExceeded
is raised inside the task, so its transaction rolls back and a claimed job is marked failed)
and a hard one, later (the worker process is killed; the watchdogs clean up), from settings."""

from django.conf import settings

from config.celery import app

PROJECT_APPS = ("accounts.", "crm.", "recyclebin.", "history.", "backups.", "support.")


def project_tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(PROJECT_APPS)}


def test_the_project_has_tasks_to_check():
    assert {"backups.tasks.nightly_snapshots", "support.tasks.restore_request_run"} <= set(
        project_tasks()
    )


def test_the_default_limits_come_from_settings():
    assert app.conf.task_soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT > 0
    assert app.conf.task_time_limit == settings.CELERY_TASK_TIME_LIMIT
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    assert settings.LONG_TASK_SOFT_TIME_LIMIT < settings.LONG_TASK_TIME_LIMIT


def test_every_task_has_a_soft_limit_before_its_hard_one():
    for name, task in project_tasks().items():
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard, name
        assert soft < hard, (name, soft, hard)

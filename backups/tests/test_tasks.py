"""backups.tasks: thin (an id in, one service call) and bounded: every task has soft and hard
time limits, the snapshots' and retention's the long ones from the settings."""

import inspect

import pytest
from celery import Task
from django.conf import settings

from backups import tasks

TASKS = [obj for _name, obj in inspect.getmembers(tasks) if isinstance(obj, Task)]


def test_the_module_has_its_tasks():
    assert {task.name for task in TASKS} == {
        "backups.tasks.nightly_snapshots",
        "backups.tasks.snapshot_nightly_batch",
        "backups.tasks.snapshot_nightly",
        "backups.tasks.snapshots_expire",
        "backups.tasks.integrity_check_nightly",
        "backups.tasks.drills_sweep",
        "backups.tasks.snapshot_drill_batch",
        "backups.tasks.snapshot_pending_take",
    }


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.name)
def test_every_task_has_soft_and_hard_time_limits(task):
    assert task.soft_time_limit and task.time_limit
    assert task.soft_time_limit < task.time_limit  # the soft one first: the task cleans up


@pytest.mark.parametrize(
    "task", [tasks.snapshot_nightly_batch, tasks.snapshot_nightly, tasks.snapshots_expire]
)
def test_the_snapshot_tasks_have_the_long_limits(task):
    assert (task.soft_time_limit, task.time_limit) == (
        settings.LONG_TASK_SOFT_TIME_LIMIT,
        settings.LONG_TASK_TIME_LIMIT,
    )

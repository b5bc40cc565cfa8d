"""Every state change of restore requests (DESIGN.md, "Support"; API.md, "Support: restore
requests"):

    open -> proposed -> confirmed -> queued -> running -> completed | failed
    open | proposed | confirmed -> rejected (support) | cancelled (admin)
    export: open -> proposed -> confirmed -> completed (approved: the download is ready)

One module per reason to change, their public names importable from here
(``from support import services; services.request_file(...)``):

- ``lifecycle``: filing, proposing, confirming, approving, rejecting, cancelling;
- ``run``: the approved restore in a worker (``request_run``, the task's body; ``task_send``)
  and the watchdog (``requests_watchdog``), on core.jobs' claim and heartbeat;
- ``chat``: messages and notifications read;
- ``access``: the preview of a request's snapshot (``request_preview``, for the API, the
  console and the admin's page) and support staff's looks in the account's history
  (``support_access_record``);
- ``steps``: what every step writes (its chat line, history event, notifications).

A test that replaces a function replaces it where it is looked up: in its module
(``support.services.run.task_send``, ``support.services.run.snapshot_restore``)."""

from support.services.access import (
    PREVIEW_BUCKETS,
    RequestPreview,
    request_preview,
    support_access_record,
)
from support.services.chat import MESSAGE_MAX_CHARS, message_post, notifications_mark_read
from support.services.lifecycle import (
    request_approve,
    request_cancel,
    request_confirm,
    request_file,
    request_propose,
    request_reject,
)
from support.services.run import request_run, requests_watchdog, task_send

__all__ = [
    "MESSAGE_MAX_CHARS",
    "PREVIEW_BUCKETS",
    "RequestPreview",
    "message_post",
    "notifications_mark_read",
    "request_approve",
    "request_cancel",
    "request_confirm",
    "request_file",
    "request_preview",
    "request_propose",
    "request_reject",
    "request_run",
    "requests_watchdog",
    "support_access_record",
    "task_send",
]

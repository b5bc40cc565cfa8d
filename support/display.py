"""What the support pages show, and how (templates/support/): the workflow as steps, the chat
with its sides, a preview as a table with the records behind its numbers, a restore's outcome,
the progress bar's JSON, notifications in words. Presentation only: the views
(support.views) read through support.selectors and support.services and hand their results
here; nothing here writes."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext, pgettext_lazy

from accounts.models import Account, User
from accounts.plans import PLAN_CATALOG, Feature
from crm.entities import ENTITIES
from history.models import EventType
from support import rules, selectors
from support.chat_lines import message_text
from support.forms import DATETIME_LOCAL, REQUEST_KINDS
from support.models import UNDO_WINDOW, Message, Notification, RequestKind, RestoreRequest
from support.notifications import download_path
from support.services import PREVIEW_BUCKETS, RequestPreview

Status = RestoreRequest.Status
FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.REJECTED, Status.CANCELLED)
PROGRESS_STATUSES = (Status.QUEUED, Status.RUNNING)
PREVIEW_SAMPLES = 5  # titles named under each number of a preview

# What the restore task reports it is doing (RestoreRequest.step), as the page says it.
STEP_LABELS = {
    "": gettext_lazy("Waiting for a worker"),
    "queued": gettext_lazy("Waiting for a worker"),
    "verify": gettext_lazy("Checking the snapshot"),
    "safety_snapshot": gettext_lazy("Taking a safety snapshot of today's data"),
    "apply": gettext_lazy("Restoring the data"),
    "done": gettext_lazy("Finished"),
}

# The workflow, step by step: the status that marks it reached, its name, what happens.
WORKFLOW = (
    (
        Status.OPEN,
        pgettext_lazy("request step", "Filed"),
        gettext_lazy("An admin describes what was lost and when."),
    ),
    (
        Status.PROPOSED,
        pgettext_lazy("request step", "Proposed"),
        gettext_lazy("Support picks a snapshot and the kind of restore."),
    ),
    (
        Status.CONFIRMED,
        pgettext_lazy("request step", "Confirmed"),
        gettext_lazy("The admin checks the preview and confirms."),
    ),
    (
        Status.QUEUED,
        pgettext_lazy("request step", "Approved"),
        gettext_lazy("Support approves; the restore is queued."),
    ),
    (
        Status.RUNNING,
        pgettext_lazy("request step", "Running"),
        gettext_lazy("The account is restored; changes wait meanwhile."),
    ),
    (
        Status.COMPLETED,
        pgettext_lazy("request step", "Completed"),
        gettext_lazy("Both sides are notified."),
    ),
)

# An export's workflow: nothing runs, approving it makes the download ready.
EXPORT_WORKFLOW = (
    (
        Status.OPEN,
        pgettext_lazy("request step", "Filed"),
        gettext_lazy("An admin says from when the data should be."),
    ),
    (
        Status.PROPOSED,
        pgettext_lazy("request step", "Proposed"),
        gettext_lazy("Support picks the snapshot to export."),
    ),
    (
        Status.CONFIRMED,
        pgettext_lazy("request step", "Confirmed"),
        gettext_lazy("The admin confirms the snapshot."),
    ),
    (
        Status.QUEUED,
        pgettext_lazy("request step", "Approved"),
        gettext_lazy("Support approves; nothing in the account changes."),
    ),
    (
        Status.COMPLETED,
        pgettext_lazy("request step", "Ready"),
        gettext_lazy("The admins download the ZIP of CSV files."),
    ),
)

NOTIFICATION_TEXTS = {
    "filed": gettext_lazy("Restore request #%(id)s was filed."),
    "message": gettext_lazy("New message on restore request #%(id)s."),
    "proposed": gettext_lazy("Support proposed a snapshot for restore request #%(id)s."),
    "confirmed": gettext_lazy("Restore request #%(id)s was confirmed by the admin."),
    "approved": gettext_lazy("Restore request #%(id)s was approved and is queued."),
    "completed": gettext_lazy("Restore request #%(id)s completed: the data is restored."),
    "export_completed": gettext_lazy("The export of restore request #%(id)s is ready to download."),
    "failed": gettext_lazy("Restore request #%(id)s failed; nothing was changed."),
    "rejected": gettext_lazy("Restore request #%(id)s was rejected by support."),
    "cancelled": gettext_lazy("Restore request #%(id)s was cancelled."),
}


# --- What the pages show ----------------------------------------------------------------------


def workflow_steps(restore_request: RestoreRequest) -> list[dict[str, Any]]:
    """The workflow as a list of steps, each ``done``, ``current``, ``todo``, ``failed`` or
    ``stopped`` (rejected or cancelled: the steps after it are left out)."""
    status = restore_request.status
    workflow = EXPORT_WORKFLOW if restore_request.kind == RequestKind.EXPORT else WORKFLOW
    order = [step for step, _label, _help in workflow]
    actors = {
        Status.OPEN: restore_request.requested_by,
        Status.PROPOSED: restore_request.proposed_by,
        Status.CONFIRMED: restore_request.confirmed_by,
        Status.QUEUED: restore_request.approved_by,
    }
    end: dict[str, Any] | None = None
    if status in order:
        reached = order.index(status)
    elif status == Status.FAILED:
        reached = order.index(Status.RUNNING) if Status.RUNNING in order else len(order) - 2
        end = {
            "state": "failed",
            "label": pgettext("request step", "Failed"),
            "help": _("Nothing was changed."),
        }
    else:
        # Rejected or cancelled before queued: how far it got shows in who acted.
        reached = (
            2 if restore_request.confirmed_by_id else 1 if restore_request.proposed_by_id else 0
        )
        if status == Status.REJECTED:
            end = {
                "state": "stopped",
                "label": pgettext("request step", "Rejected"),
                "help": _("Support rejected it."),
            }
        else:
            end = {
                "state": "stopped",
                "label": pgettext("request step", "Cancelled"),
                "help": _("An admin cancelled it."),
            }

    steps = []
    for index, (step, label, help_text) in enumerate(workflow):
        if end is not None and index > reached:
            break
        if end is not None or status == Status.COMPLETED or index < reached:
            state = "done"
        elif index == reached:
            state = "current" if status == Status.RUNNING else "done"
        elif index == reached + 1 and status != Status.RUNNING:
            state = "current"  # what the request waits for (while running: the run itself)
        else:
            state = "todo"
        actor = actors.get(step)
        steps.append(
            {
                "state": state,
                "label": label,
                "help": help_text,
                "actor": actor.get_username() if actor and state == "done" else "",
            }
        )
    if end is not None:
        steps.append({**end, "actor": ""})
    return steps


def chat_rows(restore_request: RestoreRequest, *, viewer_is_support: bool) -> list[dict[str, Any]]:
    """The chat, oldest first (newest at the bottom), each line with its side."""
    rows = []
    for message in selectors.messages_for(request=restore_request):
        if message.is_system:
            side, side_label = "system", ""
        elif message.is_support:
            side, side_label = "support", _("Support")
        else:
            side = "team"
            side_label = restore_request.account.name if viewer_is_support else _("Your team")
        rows.append(
            {
                "message": message,
                "text": message_text(message, account=restore_request.account),
                "side": side,
                "side_label": side_label,
                "author": message.author.get_username() if message.author else "",
                "mine": viewer_is_support == message.is_support and not message.is_system,
            }
        )
    return rows


def preview_missing() -> dict[str, Any]:
    """A request with no snapshot proposed (or no longer one) has nothing to preview."""
    return {"error": _("No snapshot is chosen yet.")}


def preview_table(preview: RequestPreview) -> dict[str, Any]:
    """A restore's preview (support.services.request_preview) as templates/support/_preview.html
    shows it: per entity type, each number with up to PREVIEW_SAMPLES records named behind it,
    the totals, and the Backups page's own preview; ``error`` when there is nothing to show."""
    if preview.refusal is not None:
        return {"error": preview.refusal.message}
    rows, totals = [], dict.fromkeys(PREVIEW_BUCKETS, 0)
    for entity_type, numbers in preview.changes.items():
        entity = ENTITIES.get(entity_type)
        row: dict[str, Any] = {
            "entity_type": entity_type,
            "label": entity.verbose_name_plural.capitalize() if entity else entity_type,
            "cells": [],
        }
        samples = numbers.get("samples") or {}
        for key in totals:
            row[key] = numbers.get(key, 0)
            totals[key] += row[key]
            titles = [str(record) for record in samples.get(key, [])][:PREVIEW_SAMPLES]
            row["cells"].append(
                {
                    "bucket": key,
                    "count": row[key],
                    "titles": titles,
                    "more": max(row[key] - len(titles), 0) if titles else 0,
                }
            )
        rows.append(row)
    return {
        "rows": rows,
        "totals": totals,
        "changes": sum(totals.values()),
        "backups_url": _backups_preview_url(preview),
    }


def export_contents(counts: Mapping[str, int]) -> dict[str, Any]:
    """What an export of a snapshot holds (``counts``: its rows per entity type and
    ``bin_entry``). It changes nothing."""
    contents = [
        (entity.name_for(counts.get(key, 0)), counts.get(key, 0))
        for key, entity in ENTITIES.items()
    ]
    entries = counts.get("bin_entry", 0)
    contents.append((ngettext("recycle bin entry", "recycle bin entries", entries), entries))
    return {"export": True, "contents": contents, "rows": [], "changes": 0}


def _backups_preview_url(preview: RequestPreview) -> str:
    """The Backups page's own preview of the snapshot, when that page exists."""
    if preview.snapshot is None:
        return ""
    try:
        url = reverse("backups:preview", args=[preview.snapshot.pk])
    except NoReverseMatch:
        return ""
    query = [f"kind={preview.kind}", *(f"entity_types={e}" for e in preview.entity_types)]
    return f"{url}?{'&'.join(query)}"


def outcome_rows(outcome: Any) -> list[dict[str, Any]]:
    """The restore's counts per entity type (``outcome`` as the task stored it)."""
    if not isinstance(outcome, dict):
        return []
    counts = outcome.get("counts", outcome)
    tables = {f"crm_{key}": key for key in ENTITIES}
    rows = []
    for table, numbers in counts.items():
        entity_type = tables.get(table, table)
        if (
            entity_type not in ENTITIES
            or not isinstance(numbers, dict)
            or not any(numbers.values())
        ):
            continue
        rows.append(
            {
                "label": ENTITIES[entity_type].verbose_name_plural.capitalize(),
                "deleted": numbers.get("deleted", 0),
                "updated": numbers.get("updated", 0),
                "inserted": numbers.get("inserted", 0),
            }
        )
    return rows


def progress_of(restore_request: RestoreRequest) -> dict[str, Any]:
    step = restore_request.step or ""
    return {
        "id": restore_request.pk,
        "status": restore_request.status,
        "status_label": str(restore_request.get_status_display()),
        "progress": restore_request.progress,
        "step": step,
        "step_label": str(STEP_LABELS.get(step, step)),
        "error": restore_request.error,
        "final": restore_request.status in FINAL_STATUSES,
    }


def restore_options(account: Account) -> dict[str, Any]:
    """What the account may ask for now (the request list and form say it before anything is
    filled in): ``destructive``: None (full and entities possible now) or ``{"request", "from"}``
    (the restore that holds them back, and when the next one is possible); ``undo``: None or
    ``{"request", "snapshot", "until"}`` (the restore an undo takes back)."""
    held = rules.destructive_restore_from(account=account)
    target = selectors.undo_target(account=account)
    undo = None
    if target is not None:
        undone, snapshot = target
        undo = {
            "request": undone,
            "snapshot": snapshot,
            "until": cast(datetime, undone.completed_at) + UNDO_WINDOW,
        }
    return {
        "destructive": None if held is None else {"request": held[0], "from": held[1]},
        "undo": undo,
    }


def kind_label(kind: str) -> str:
    return str(dict(REQUEST_KINDS).get(kind, kind))


def entity_type_labels(entity_types: Iterable[str] | None) -> list[str]:
    return [
        ENTITIES[e].verbose_name_plural.capitalize() if e in ENTITIES else e
        for e in entity_types or []
    ]


def restore_plans() -> str:
    """The plans that include restore requests, for the sentence that explains them."""
    return ", ".join(
        offer.label for offer in PLAN_CATALOG if Feature.RESTORE_REQUESTS in offer.features
    )


def datetime_local(value: Any) -> str:
    """A value for <input type=datetime-local>: a datetime in the current time zone, or what
    was typed."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if timezone.is_naive(value):  # a form's initial value, already in the current zone
            return value.strftime(DATETIME_LOCAL)
        return timezone.localtime(value).strftime(DATETIME_LOCAL)
    return str(value)


def outcome_links(restore_request: RestoreRequest) -> list[tuple[str, str]]:
    """Where an admin checks a finished restore: the CRM and the history's entry; for an
    export, where to download it and the history of its downloads."""
    if restore_request.status != Status.COMPLETED:
        return []
    if restore_request.kind == RequestKind.EXPORT:
        download = download_path(restore_request)
        return [
            *([(download, _("Download the ZIP of CSV files"))] if download else []),
            (f"{reverse('history:list')}?event_type=export", _("See downloads in the history")),
        ]
    event = EventType.RECOVER if restore_request.kind == RequestKind.RECOVER else EventType.ROLLBACK
    return [
        (reverse("crm:dashboard"), _("Open the CRM")),
        (f"{reverse('history:list')}?event_type={event}", _("See it in the history")),
    ]


# --- Notifications ----------------------------------------------------------------------------


def notification_rows(user: User, notifications: Iterable[Notification]) -> list[dict[str, Any]]:
    """A page of ``user``'s notifications: each in words, where it leads, and (an admin told
    that an export is ready) its download. The new messages' previews cost one query for the
    page, not one per row."""
    notifications = list(notifications)
    previews = _message_previews(notifications)
    rows = []
    for notification in notifications:
        actor = notification.actor
        rows.append(
            {
                "notification": notification,
                "unread": notification.read_at is None,
                "by": (
                    ""
                    if actor is None
                    else _("%(name)s (support)") % {"name": actor.get_username()}
                    if actor.is_support
                    else actor.get_username()
                ),
                "preview": previews.get(notification.pk),
                "text": _notification_text(notification),
                "url": request_url(user, notification.request_id),
                "download": _notification_download(user, notification),
            }
        )
    return rows


# A new message's notification shows who wrote and the start of it (issue 18).
PREVIEW_CHARS = 80


def _message_previews(notifications: list[Notification]) -> dict[int, dict[str, str]]:
    """For each new message's notification: the author and first words of the newest message
    by a person on its request at the notification's time."""
    told = [n for n in notifications if n.verb == Notification.Verb.MESSAGE]
    if not told:
        return {}
    by_request: dict[int, list[Message]] = {}
    for message in (
        Message.objects.filter(
            request_id__in={n.request_id for n in told},
            is_system=False,
            created_at__lte=max(n.created_at for n in told),
        )
        .select_related("author")
        .order_by("created_at", "id")
    ):
        by_request.setdefault(message.request_id, []).append(message)
    previews = {}
    for notification in told:
        before = [
            message
            for message in by_request.get(notification.request_id, [])
            if message.created_at <= notification.created_at
        ]
        if before:
            previews[notification.pk] = _message_preview(before[-1])
    return previews


def _message_preview(message: Message) -> dict[str, str]:
    text = " ".join(message.body.split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1].rstrip() + "…"
    author = message.author.get_username() if message.author else _("a removed user")
    if message.is_support:
        author = _("%(name)s (support)") % {"name": author}
    return {"author": author, "text": text}


def _notification_text(notification: Notification) -> str:
    verb = notification.verb
    if verb == Notification.Verb.COMPLETED and notification.request.kind == RequestKind.EXPORT:
        verb = "export_completed"
    text = NOTIFICATION_TEXTS.get(verb)
    if text is None:
        return f"#{notification.request_id}: {notification.verb}"
    return str(text) % {"id": notification.request_id}


def _notification_download(user: User, notification: Notification) -> str:
    """An admin told that an export is ready downloads it from the notification too."""
    if notification.verb != Notification.Verb.COMPLETED or not user.is_account_admin:
        return ""
    return download_path(notification.request)


def request_url(user: User, request_id: int) -> str:
    """The request's page on ``user``'s side: the console for support, the admin's page."""
    if user.is_support:
        return reverse("support:console_detail", args=[request_id])
    if user.is_account_admin:
        return reverse("support:request_detail", args=[request_id])
    return ""

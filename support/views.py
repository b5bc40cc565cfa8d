"""The support portal in the browser (DESIGN.md, "Support"): thin views over support.selectors
(reads: an admin sees the account's requests, support staff all) and support.services (every
state change, every rule). Three audiences:

- account admins: ``/support/requests/`` (list, new, detail with chat, preview, confirm,
  cancel, progress); employees get a plain 403 page, another account's request is 404;
- support staff: ``/console/`` (requests across accounts, filtered, oldest waiting first) and
  ``/console/requests/<id>/`` (chat, the account's snapshots, preview, propose, approve,
  reject). Anyone else gets 403; support staff get 403 on every CRM page;
- everyone logged in: ``/notifications/``.

A refused action (RuleViolation) comes back to the page with the server's sentence; nothing
changed. Times are shown in the account's time zone, on both sides."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.mixins import AccessMixin, LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views import View

from accounts.models import Account
from accounts.plans import PLAN_CATALOG, Feature
from accounts.views import SecondFactorRequiredMixin
from backups import restore
from backups.restore import RestoreRefused
from backups.serializers import entity_counts
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from core.views import MemberRequiredMixin
from crm.entities import ENTITIES
from support import selectors, services
from support.chat_lines import message_text
from support.forms import (
    DATETIME_LOCAL,
    REQUEST_KINDS,
    ConfirmForm,
    MessageForm,
    ProposeForm,
    RejectForm,
    RestoreRequestForm,
)
from support.models import Message, Notification, RequestKind, RestoreRequest
from support.notifications import download_path

Status = RestoreRequest.Status
PER_PAGE_CHOICES = (25, 50, 100)
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

# The console's age filter: ?age= -> requests filed at least this long ago.
AGES = {
    "1h": (timedelta(hours=1), gettext_lazy("older than 1 hour")),
    "1d": (timedelta(days=1), gettext_lazy("older than 1 day")),
    "3d": (timedelta(days=3), gettext_lazy("older than 3 days")),
    "7d": (timedelta(days=7), gettext_lazy("older than 7 days")),
}
WAITING = "waiting"  # the console's status filter for every open request

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


ADMINS_ONLY = gettext_lazy(
    "Only account admins can file restore requests. "
    "Ask an admin of your account if data is missing."
)

# --- Access -----------------------------------------------------------------------------------


class AdminPageMixin(SecondFactorRequiredMixin, MemberRequiredMixin):
    """The admin side: account admins only. Employees get a plain 403 page, support staff the
    CRM's 403 (they use the console), anonymous visitors the login page; an admin of an account
    that requires two-factor authentication gives the second factor first."""

    def member_checked(self) -> None:
        if not self.request.user.is_account_admin:
            raise PermissionDenied(ADMINS_ONLY)

    def request_object(self) -> RestoreRequest:
        """The account's request named by the URL; another account's answers 404."""
        return selectors.request_get(self.request.user, self.kwargs["pk"])

    def detail_url(self) -> str:
        return reverse("support:request_detail", args=[self.kwargs["pk"]])


class SupportRequiredMixin(SecondFactorRequiredMixin, AccessMixin):
    """The console: support staff only, with their second factor given in this session (else
    they are sent to give it). Anonymous visitors go to the login page; everyone else gets 403,
    as support staff do on the CRM's pages."""

    permission_denied_message = gettext_lazy(
        "The support console is for the vendor's support staff. "
        "Account admins file restore requests from their account."
    )

    def dispatch(self, request, *args, **kwargs):
        if not (request.user.is_authenticated and request.user.is_support):
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)

    def request_object(self) -> RestoreRequest:
        return selectors.request_get(self.request.user, self.kwargs["pk"])

    def detail_url(self) -> str:
        return reverse("support:console_detail", args=[self.kwargs["pk"]])


def _act(request, action, *, success: str, back: str) -> HttpResponseRedirect:
    """Run one service call; a refusal comes back as the page's error message."""
    try:
        action()
    except RuleViolation as violation:
        messages.error(request, violation.message)
    else:
        messages.success(request, success)
    return HttpResponseRedirect(back)


def _form_errors(form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


# --- What the pages show ----------------------------------------------------------------------


def workflow_steps(restore_request: RestoreRequest) -> list[dict]:
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
    end = None
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
        elif index == reached + 1:
            state = "current"
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


def chat_rows(restore_request: RestoreRequest, *, viewer_is_support: bool) -> list[dict]:
    """The chat, oldest first (newest at the bottom), each line with its side."""
    rows = []
    chat = Message.objects.filter(request=restore_request).select_related("author")
    for message in chat.order_by("created_at", "id"):
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


def preview_of(*, snapshot, kind: str, entity_types) -> dict:
    """What restoring ``snapshot`` as ``kind`` would change now, per entity type, with totals;
    ``error`` when it cannot be restored. Optional ``samples`` (titles) are passed on."""
    if snapshot is None:
        return {"error": _("No snapshot is chosen yet.")}
    if kind == RequestKind.EXPORT:
        return export_preview_of(snapshot)
    options = {}
    sampling = getattr(restore, "Sampling", None)  # titles behind the numbers, where available
    if sampling is not None:
        options["sampling"] = sampling(size=PREVIEW_SAMPLES)
    try:
        counts = restore.preview(
            snapshot=snapshot, kind=kind, entity_types=entity_types or None, **options
        )
    except RestoreRefused as refused:
        return {"error": refused.message}
    rows, totals = [], {"removed": 0, "restored": 0, "reverted": 0}
    for entity_type, numbers in counts.items():
        entity = ENTITIES.get(entity_type)
        row = {
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
        "backups_url": _backups_preview_url(snapshot, kind, entity_types),
    }


def export_preview_of(snapshot) -> dict:
    """What an export of ``snapshot`` holds: its rows per entity type. It changes nothing."""
    counts = entity_counts(snapshot)
    contents = [
        (entity.verbose_name_plural.capitalize(), counts.get(key, 0))
        for key, entity in ENTITIES.items()
    ]
    contents.append((_("Recycle bin entries"), counts.get("bin_entry", 0)))
    return {"export": True, "contents": contents, "rows": [], "changes": 0}


def request_preview(
    restore_request: RestoreRequest, user, *, snapshot, kind: str, entity_types, listed=()
) -> dict:
    """The preview a request's page shows (preview_of), for the admin's page and the
    console alike. Support staff seeing it, and ``listed`` (the account's snapshots the console
    lists beside it), is written to the account's history first (support_access); an admin
    seeing the account's own data writes nothing."""
    preview = preview_of(snapshot=snapshot, kind=kind, entity_types=entity_types)
    shown = snapshot if "error" not in preview else None
    if user.is_support and (shown is not None or listed):
        titles = any(cell["titles"] for row in preview.get("rows", []) for cell in row["cells"])
        services.support_access_record(
            request=restore_request,
            user=user,
            via="console",
            snapshots=bool(listed),
            snapshot=shown,
            kind=kind if shown is not None else "",
            entity_types=entity_types if shown is not None else [],
            record_titles=titles,
        )
    return preview


def _backups_preview_url(snapshot, kind: str, entity_types) -> str:
    """The Backups page's own preview of the snapshot, when that page exists."""
    try:
        url = reverse("backups:preview", args=[snapshot.pk])
    except NoReverseMatch:
        return ""
    query = [f"kind={kind}", *(f"entity_types={e}" for e in entity_types or [])]
    return f"{url}?{'&'.join(query)}"


def outcome_rows(outcome) -> list[dict]:
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


def progress_of(restore_request: RestoreRequest) -> dict:
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


def kind_label(kind: str) -> str:
    return str(dict(REQUEST_KINDS).get(kind, kind))


def entity_type_labels(entity_types) -> list[str]:
    return [
        ENTITIES[e].verbose_name_plural.capitalize() if e in ENTITIES else e
        for e in entity_types or []
    ]


def _restore_plans() -> str:
    return ", ".join(
        offer.label for offer in PLAN_CATALOG if Feature.RESTORE_REQUESTS in offer.features
    )


def _request_context(restore_request: RestoreRequest, user, *, support: bool) -> dict:
    """What both sides' detail pages show of a request. Opening it reads its notifications."""
    unread = selectors.notifications_for(user).filter(request=restore_request, read_at__isnull=True)
    if ids := list(unread.values_list("pk", flat=True)):
        services.notifications_mark_read(user=user, ids=ids)
    allowed = selectors.request_allowed_actions(restore_request, user)
    return {
        "req": restore_request,
        "account": restore_request.account,
        "time_zone": restore_request.account.time_zone,
        "steps": workflow_steps(restore_request),
        "chat": chat_rows(restore_request, viewer_is_support=support),
        "allowed": allowed,
        "kind_label": kind_label(restore_request.kind),
        "entity_type_labels": entity_type_labels(restore_request.entity_types),
        "show_progress": restore_request.status in PROGRESS_STATUSES,
        "progress": progress_of(restore_request),
        "outcome": outcome_rows(restore_request.outcome),
        "can_post": "message" in allowed,
        "post_url": reverse(
            "support:console_message" if support else "support:request_message",
            args=[restore_request.pk],
        ),
    }


# --- Admin pages ------------------------------------------------------------------------------


class RequestListView(AdminPageMixin, View):
    def get(self, request):
        requests = selectors.requests_visible(request.user).select_related("requested_by")
        per_page = positive_int_or_none(request.GET.get("per_page"))
        if per_page not in PER_PAGE_CHOICES:
            per_page = PER_PAGE_CHOICES[0]
        page = Paginator(requests.order_by("-created_at", "-id"), per_page).get_page(
            request.GET.get("page")
        )
        return render(
            request,
            "support/request_list.html",
            {
                "nav": "support",
                "page": page,
                "per_page": per_page,
                "per_page_choices": PER_PAGE_CHOICES,
                "rows": [
                    {"req": req, "kind_label": kind_label(req.kind)} for req in page.object_list
                ],
                "open_request": _open_request(request.user),
                "can_request": self.account.has_feature(Feature.RESTORE_REQUESTS),
                "restore_plans": _restore_plans(),
                "time_zone": self.account.time_zone,
            },
        )


def _open_request(user) -> RestoreRequest | None:
    return (
        selectors.requests_visible(user)
        .filter(status__in=RestoreRequest.OPEN_STATUSES)
        .order_by("-created_at")
        .first()
    )


class RequestNewView(AdminPageMixin, View):
    template_name = "support/request_form.html"

    def get(self, request):
        return self.page(RestoreRequestForm())

    def post(self, request):
        form = RestoreRequestForm(request.POST)
        if not form.is_valid():
            return self.page(form, status=400)
        try:
            restore_request = services.request_file(
                user=request.user,
                lost_at=form.cleaned_data["lost_at"],
                kind=form.cleaned_data["kind"],
                entity_types=form.cleaned_data["entity_types"],
                message=form.cleaned_data["message"],
            )
        except RuleViolation as violation:
            return self.page(form, refusal=violation, status=violation.status)
        messages.success(
            request,
            _("Your restore request #%(id)s was sent. Support answers here, in the chat.")
            % {"id": restore_request.pk},
        )
        return HttpResponseRedirect(reverse("support:request_detail", args=[restore_request.pk]))

    def page(self, form, *, refusal=None, status=200):
        snapshots = list(selectors.snapshots_within_retention(self.account))
        oldest = min((s.taken_at for s in snapshots), default=None)
        return render(
            self.request,
            self.template_name,
            {
                "nav": "support",
                "form": form,
                "refusal": refusal,
                "can_request": self.account.has_feature(Feature.RESTORE_REQUESTS),
                "restore_plans": _restore_plans(),
                "open_request": _open_request(self.request.user),
                "oldest_snapshot": oldest,
                "min_lost_at": _datetime_local(oldest),
                "max_lost_at": timezone.localtime().strftime(DATETIME_LOCAL),
                "lost_at_value": _datetime_local(form["lost_at"].value()),
                "time_zone": self.account.time_zone,
            },
            status=status,
        )


def _datetime_local(value) -> str:
    """A value for <input type=datetime-local>: a datetime in the current time zone, or what
    was typed."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime(DATETIME_LOCAL)
    return str(value)


class RequestDetailView(AdminPageMixin, View):
    def get(self, request, pk):
        restore_request = self.request_object()
        context = _request_context(restore_request, request.user, support=False)
        if restore_request.status in (Status.PROPOSED, Status.CONFIRMED):
            context["preview"] = request_preview(
                restore_request,
                request.user,
                snapshot=restore_request.snapshot,
                kind=restore_request.kind,
                entity_types=restore_request.entity_types,
            )
        context.update(nav="support", links=_outcome_links(restore_request))
        return render(request, "support/request_detail.html", context)


def _outcome_links(restore_request: RestoreRequest) -> list[tuple[str, str]]:
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
    event = "recover" if restore_request.kind == "recover" else "rollback"
    return [
        (reverse("crm:dashboard"), _("Open the CRM")),
        (f"{reverse('history:list')}?event_type={event}", _("See it in the history")),
    ]


class _MessagePostView(View):
    """A message in the request's chat, from either side (the mixin says whose page)."""

    sent = ""  # what the sender is told

    def post(self, request, pk):
        restore_request = self.request_object()
        form = MessageForm(request.POST)
        back = f"{self.detail_url()}#chat"
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return HttpResponseRedirect(back)
        return _act(
            request,
            lambda: services.message_post(
                request=restore_request, user=request.user, body=form.cleaned_data["body"]
            ),
            success=self.sent,
            back=back,
        )


class RequestMessageView(AdminPageMixin, _MessagePostView):
    sent = gettext_lazy("Your message was sent to support.")


class RequestConfirmView(AdminPageMixin, View):
    def post(self, request, pk):
        restore_request = self.request_object()
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return HttpResponseRedirect(self.detail_url())
        return _act(
            request,
            lambda: services.request_confirm(request=restore_request, user=request.user),
            success=_(
                "Confirmed. Support approves the restore next; you are notified when it runs."
            ),
            back=self.detail_url(),
        )


class RequestCancelView(AdminPageMixin, View):
    def post(self, request, pk):
        restore_request = self.request_object()
        return _act(
            request,
            lambda: services.request_cancel(request=restore_request, user=request.user),
            success=_("The restore request was cancelled. Nothing was changed."),
            back=self.detail_url(),
        )


class RequestProgressView(SecondFactorRequiredMixin, LoginRequiredMixin, View):
    """JSON for static/js/progress.js: the account's admins and support staff. Employees get
    403, another account's request 404, anonymous visitors the login page."""

    def get(self, request, pk):
        user = request.user
        if not (user.is_support or user.is_account_admin):
            raise PermissionDenied(ADMINS_ONLY)
        restore_request = selectors.request_get(user, pk)
        response = JsonResponse(progress_of(restore_request))
        response["Cache-Control"] = "no-store"
        return response


# --- Support console --------------------------------------------------------------------------


def _accounts_with_requests():
    """The accounts that have filed requests, for the console's account filter. Only names:
    support reaches an account's data through the request's own pages."""
    return Account.objects.filter(pk__in=RestoreRequest.objects.values("account_id")).order_by(
        "name"
    )


class ConsoleListView(SupportRequiredMixin, View):
    """``?status=`` (a status, or ``waiting`` for every open one), ``?account=<id>``,
    ``?age=1h|1d|3d|7d``, ``?page=``, ``?per_page=``. Oldest waiting first."""

    def get(self, request):
        params = request.GET
        statuses = dict(Status.choices)
        status = params.get("status", "")
        status = status if status in statuses or status == WAITING else ""
        accounts = list(_accounts_with_requests())
        account_id = positive_int_or_none(params.get("account"))
        account = next((a for a in accounts if a.pk == account_id), None)
        age = params.get("age", "")
        age = age if age in AGES else ""

        requests = selectors.requests_visible(
            request.user,
            status=list(RestoreRequest.OPEN_STATUSES) if status == WAITING else status or None,
            account=account,
            older_than=AGES[age][0] if age else None,
        ).select_related("account", "requested_by")
        per_page = positive_int_or_none(params.get("per_page"))
        if per_page not in PER_PAGE_CHOICES:
            per_page = PER_PAGE_CHOICES[0]
        page = Paginator(requests, per_page).get_page(params.get("page"))
        filtered = bool(status or account or age)
        return render(
            request,
            "support/console_list.html",
            {
                "nav": "console",
                "page": page,
                "per_page": per_page,
                "per_page_choices": PER_PAGE_CHOICES,
                "rows": [
                    {
                        "req": req,
                        "kind_label": kind_label(req.kind),
                        "waiting": req.status in RestoreRequest.OPEN_STATUSES,
                    }
                    for req in page.object_list
                ],
                "filters": {
                    "status": status,
                    "account": account.pk if account else "",
                    "age": age,
                },
                "active_filters": [
                    label
                    for label in (
                        _("Waiting") if status == WAITING else statuses.get(status),
                        account.name if account else None,
                        AGES[age][1] if age else None,
                    )
                    if label
                ],
                "filtered": filtered,
                "statuses": Status.choices,
                "waiting": WAITING,
                "accounts": accounts,
                "ages": [(key, label) for key, (_delta, label) in AGES.items()],
            },
        )


class ConsoleDetailView(SupportRequiredMixin, View):
    """The request, its chat, the account's snapshots and the preview of the chosen snapshot
    and kind (``?snapshot=&kind=&entity_types=``; by default the proposed one, else the newest
    taken before the loss, and the kind the admin asked for)."""

    def get(self, request, pk):
        restore_request = self.request_object()
        account = restore_request.account
        with timezone.override(ZoneInfo(account.time_zone)):
            snapshots = list(selectors.snapshots_within_retention(account))
            default = restore_request.snapshot or selectors.request_default_snapshot(
                restore_request
            )
            chosen = self._chosen(request.GET, restore_request, snapshots, default)
            preview = request_preview(
                restore_request,
                request.user,
                snapshot=chosen["snapshot"],
                kind=chosen["kind"],
                entity_types=chosen["entity_types"],
                listed=snapshots,
            )
            context = _request_context(restore_request, request.user, support=True)
            context.update(
                nav="console",
                snapshots=[
                    {
                        "snapshot": snapshot,
                        "counts": [
                            (entity.verbose_name_plural, entity_counts(snapshot).get(key, 0))
                            for key, entity in ENTITIES.items()
                        ],
                        "before_loss": snapshot.taken_at <= restore_request.lost_at,
                        "default": default is not None and snapshot.pk == default.pk,
                    }
                    for snapshot in snapshots
                ],
                default_snapshot=default,
                chosen=chosen,
                chosen_kind_label=kind_label(chosen["kind"]),
                kinds=REQUEST_KINDS,
                entity_choices=[
                    (key, e.verbose_name_plural.capitalize()) for key, e in ENTITIES.items()
                ],
                preview=preview,
                reject_form=RejectForm(),
            )
            return render(request, "support/console_detail.html", context)

    @staticmethod
    def _chosen(params, restore_request, snapshots, default) -> dict:
        by_id = {snapshot.pk: snapshot for snapshot in snapshots}
        snapshot = by_id.get(positive_int_or_none(params.get("snapshot"))) or default
        kind = params.get("kind") or restore_request.kind
        if kind not in dict(REQUEST_KINDS):
            kind = "recover"
        entity_types = [e for e in params.getlist("entity_types") if e in ENTITIES]
        if "kind" not in params:
            entity_types = list(restore_request.entity_types or [])
        return {
            "snapshot": snapshot,
            "kind": kind,
            "entity_types": entity_types if kind == "entities" else [],
            "asked": "snapshot" in params or "kind" in params,
        }


class ConsoleMessageView(SupportRequiredMixin, _MessagePostView):
    sent = gettext_lazy("Your message was sent to the account's admins.")


class ConsoleProposeView(SupportRequiredMixin, View):
    def post(self, request, pk):
        restore_request = self.request_object()
        snapshots = selectors.snapshots_within_retention(restore_request.account)
        form = ProposeForm(request.POST, snapshots=snapshots)
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return HttpResponseRedirect(self.detail_url())
        return _act(
            request,
            lambda: services.request_propose(
                request=restore_request,
                user=request.user,
                snapshot=form.cleaned_data["snapshot"],
                kind=form.cleaned_data["kind"],
                entity_types=form.cleaned_data["entity_types"],
            ),
            success=_("Proposed. The account's admins are asked to confirm."),
            back=self.detail_url(),
        )


class ConsoleApproveView(SupportRequiredMixin, View):
    def post(self, request, pk):
        restore_request = self.request_object()
        return _act(
            request,
            lambda: services.request_approve(request=restore_request, user=request.user),
            success=_("Approved. The restore is queued and starts in a moment."),
            back=self.detail_url(),
        )


class ConsoleRejectView(SupportRequiredMixin, View):
    def post(self, request, pk):
        restore_request = self.request_object()
        form = RejectForm(request.POST)
        if not form.is_valid():
            messages.error(request, _form_errors(form))
            return HttpResponseRedirect(self.detail_url())
        return _act(
            request,
            lambda: services.request_reject(
                request=restore_request, user=request.user, reason=form.cleaned_data["reason"]
            ),
            success=_("The request was rejected. The admins see your reason in the chat."),
            back=self.detail_url(),
        )


# --- Notifications ----------------------------------------------------------------------------


class NotificationListView(SecondFactorRequiredMixin, LoginRequiredMixin, View):
    """The caller's notifications, newest first; the ones shown are marked read."""

    def get(self, request):
        user = request.user
        per_page = positive_int_or_none(request.GET.get("per_page"))
        if per_page not in PER_PAGE_CHOICES:
            per_page = PER_PAGE_CHOICES[0]
        notifications = selectors.notifications_for(user).select_related(
            "request", "request__account"
        )
        page = Paginator(notifications, per_page).get_page(request.GET.get("page"))
        rows = [
            {
                "notification": notification,
                "unread": notification.read_at is None,
                "text": _notification_text(notification),
                "url": _request_url(user, notification.request_id),
                "download": _notification_download(user, notification),
            }
            for notification in page.object_list
        ]
        unread = [row["notification"].pk for row in rows if row["unread"]]
        if unread:
            services.notifications_mark_read(user=user, ids=unread)
        account = getattr(user, "account", None)
        with timezone.override(ZoneInfo(account.time_zone) if account else None):
            return render(
                request,
                "support/notification_list.html",
                {
                    "nav": "notifications",
                    "page": page,
                    "rows": rows,
                    "per_page": per_page,
                    "per_page_choices": PER_PAGE_CHOICES,
                },
            )


def _notification_text(notification: Notification) -> str:
    verb = notification.verb
    if verb == Notification.Verb.COMPLETED and notification.request.kind == RequestKind.EXPORT:
        verb = "export_completed"
    text = NOTIFICATION_TEXTS.get(verb)
    if text is None:
        return f"#{notification.request_id}: {notification.verb}"
    return str(text) % {"id": notification.request_id}


def _notification_download(user, notification: Notification) -> str:
    """An admin told that an export is ready downloads it from the notification too."""
    if notification.verb != Notification.Verb.COMPLETED or not user.is_account_admin:
        return ""
    return download_path(notification.request)


def _request_url(user, request_id: int) -> str:
    if user.is_support:
        return reverse("support:console_detail", args=[request_id])
    if user.is_account_admin:
        return reverse("support:request_detail", args=[request_id])
    return ""

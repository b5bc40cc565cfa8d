"""The support portal in the browser (DESIGN.md, "Support"): thin views over support.selectors
(reads: an admin sees the account's requests, support staff all) and support.services (every
state change, every rule). Three audiences:

- account admins: ``/support/requests/`` (list, new, detail with chat, preview, confirm,
  cancel, progress); employees get a plain 403 page, another account's request is 404;
- support staff: ``/console/`` (requests across accounts, filtered, oldest waiting first) and
  ``/console/requests/<id>/`` (chat, the account's snapshots, preview, propose, approve,
  reject). Anyone else gets 403; support staff get 403 on every CRM page;
- everyone logged in: ``/notifications/`` and the live updates' ``/live/``
  (support.views_everyone).

A refused action (RuleViolation) comes back to the page with the server's sentence; nothing
changed ("not found" is the 404 page, as for a missing id). Times are shown in the account's
time zone, on both sides. How things are shown (steps, chat, preview table, notifications in
words) is support.display's; the preview itself is support.services.request_preview, the
API's too."""

from datetime import timedelta
from typing import cast
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.mixins import AccessMixin, LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.mixins import SecondFactorRequiredMixin
from accounts.plans import Feature
from backups.models import Snapshot
from backups.selectors import entity_counts
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from core.views import MemberRequiredMixin
from crm.entities import ENTITIES
from support import display, rules, selectors, services
from support.forms import (
    DATETIME_LOCAL,
    REQUEST_KINDS,
    ConfirmForm,
    MessageForm,
    ProposeForm,
    ProposeMomentForm,
    RejectForm,
    RestoreRequestForm,
)
from support.models import RequestKind, RestoreRequest

Status = RestoreRequest.Status
PER_PAGE_CHOICES = (25, 50, 100)

# The console's age filter: ?age= -> requests filed at least this long ago.
AGES = {
    "1h": (timedelta(hours=1), gettext_lazy("older than 1 hour")),
    "1d": (timedelta(days=1), gettext_lazy("older than 1 day")),
    "3d": (timedelta(days=3), gettext_lazy("older than 3 days")),
    "7d": (timedelta(days=7), gettext_lazy("older than 7 days")),
}
WAITING = "waiting"  # the console's status filter for every open request


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
        return selectors.request_get(user=self.request.user, request_id=self.kwargs["pk"])

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
        return selectors.request_get(user=self.request.user, request_id=self.kwargs["pk"])

    def detail_url(self) -> str:
        return reverse("support:console_detail", args=[self.kwargs["pk"]])


def _act(request, action, *, success: str, back: str) -> HttpResponseRedirect:
    """Run one service call; a refusal comes back as the page's error message ("not found"
    stays the 404 page, as for a missing id)."""
    try:
        action()
    except RuleViolation as violation:
        if violation.code == "not_found":
            raise
        messages.error(request, violation.message)
    else:
        messages.success(request, success)
    return HttpResponseRedirect(back)


def _form_errors(form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


# --- What both sides' detail pages show ----------------------------------------------------


def _request_context(restore_request: RestoreRequest, user, *, support: bool) -> dict:
    """What both sides' detail pages show of a request. Opening it reads its notifications."""
    unread = selectors.notifications_for(user=user).filter(
        request=restore_request, read_at__isnull=True
    )
    if ids := list(unread.values_list("pk", flat=True)):
        services.notifications_mark_read(user=user, ids=ids)
    allowed = selectors.request_allowed_actions(request=restore_request, user=user)
    return {
        "req": restore_request,
        "live_version": selectors.request_live_version(request=restore_request),
        "account": restore_request.account,
        "time_zone": restore_request.account.time_zone,
        "steps": display.workflow_steps(restore_request),
        "chat": display.chat_rows(restore_request, viewer_is_support=support),
        "allowed": allowed,
        "kind_label": display.kind_label(restore_request.kind),
        "entity_type_labels": display.entity_type_labels(restore_request.entity_types),
        "show_progress": restore_request.status in display.PROGRESS_STATUSES,
        "progress": display.progress_of(restore_request),
        "outcome": display.outcome_rows(restore_request.outcome),
        "can_post": "message" in allowed,
        "post_url": reverse(
            "support:console_message" if support else "support:request_message",
            args=[restore_request.pk],
        ),
    }


def _preview_context(preview: services.RequestPreview) -> dict:
    """A request's preview as the pages show it: an export's contents (the snapshot's counts),
    or the table of what a restore would change."""
    if preview.refusal is None and preview.kind == RequestKind.EXPORT:
        return display.export_contents(entity_counts(cast(Snapshot, preview.snapshot)))
    return display.preview_table(preview)


# --- Admin pages ------------------------------------------------------------------------------


class RequestListView(AdminPageMixin, View):
    def get(self, request):
        requests = selectors.requests_visible(user=request.user).select_related("requested_by")
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
                    {"req": req, "kind_label": display.kind_label(req.kind)}
                    for req in page.object_list
                ],
                "open_request": selectors.request_open_visible(user=request.user),
                "can_request": self.account.has_feature(Feature.RESTORE_REQUESTS),
                "restore_plans": display.restore_plans(),
                "options": display.restore_options(self.account),
                "time_zone": self.account.time_zone,
            },
        )


class RequestNewView(AdminPageMixin, View):
    template_name = "support/request_form.html"

    def get(self, request):
        return self.page(RestoreRequestForm(initial=self._asked()))

    def _asked(self) -> dict:
        """A request filled in from a snapshot's preview ("Ask support to restore this"):
        ``?snapshot=&kind=&entity_types=``; the time of the loss is the snapshot's, so support
        proposes that one."""
        params = self.request.GET
        initial: dict = {}
        if params.get("kind") in dict(REQUEST_KINDS):
            initial["kind"] = params["kind"]
            initial["entity_types"] = [e for e in params.getlist("entity_types") if e in ENTITIES]
        snapshot_id = positive_int_or_none(params.get("snapshot"))
        snapshot = (
            selectors.snapshots_within_retention(account=self.account)
            .filter(pk=snapshot_id)
            .first()
            if snapshot_id
            else None
        )
        if snapshot is not None:
            initial["lost_at"] = timezone.localtime(snapshot.taken_at)
            initial["message"] = _(
                "Please restore from snapshot #%(id)s (%(when)s): I checked its preview."
            ) % {"id": snapshot.pk, "when": rules.moment(self.account, snapshot.taken_at)}
        return initial

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
        snapshots = list(selectors.snapshots_within_retention(account=self.account))
        oldest = min((s.taken_at for s in snapshots), default=None)
        return render(
            self.request,
            self.template_name,
            {
                "nav": "support",
                "form": form,
                "refusal": refusal,
                "can_request": self.account.has_feature(Feature.RESTORE_REQUESTS),
                "restore_plans": display.restore_plans(),
                "open_request": selectors.request_open_visible(user=self.request.user),
                "options": display.restore_options(self.account),
                "oldest_snapshot": oldest,
                "min_lost_at": display.datetime_local(oldest),
                "max_lost_at": timezone.localtime().strftime(DATETIME_LOCAL),
                "lost_at_value": display.datetime_local(form["lost_at"].value()),
                "time_zone": self.account.time_zone,
            },
            status=status,
        )


class RequestDetailView(AdminPageMixin, View):
    def get(self, request, pk):
        restore_request = self.request_object()
        context = _request_context(restore_request, request.user, support=False)
        if restore_request.status in (Status.PROPOSED, Status.CONFIRMED):
            context["preview"] = self._proposal_preview(restore_request)
        context.update(nav="support", links=display.outcome_links(restore_request))
        return render(request, "support/request_detail.html", context)

    def _proposal_preview(self, restore_request: RestoreRequest) -> dict:
        """What the proposal would change (an admin's look writes nothing to the history)."""
        if restore_request.snapshot_id is None:  # its snapshot is gone
            return display.preview_missing()
        preview = services.request_preview(
            request=restore_request,
            user=self.request.user,
            via="page",
            snapshot_id=restore_request.snapshot_id,
            kind=restore_request.kind,
            entity_types=restore_request.entity_types,
            samples=display.PREVIEW_SAMPLES,
        )
        return _preview_context(preview)


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
        restore_request = selectors.request_get(user=user, request_id=pk)
        response = JsonResponse(display.progress_of(restore_request))
        response["Cache-Control"] = "no-store"
        return response


# --- Support console --------------------------------------------------------------------------


class ConsoleListView(SupportRequiredMixin, View):
    """``?status=`` (a status, or ``waiting`` for every open one), ``?account=<id>``,
    ``?age=1h|1d|3d|7d``, ``?page=``, ``?per_page=``. Oldest waiting first."""

    def get(self, request):
        params = request.GET
        statuses = dict(Status.choices)
        status = params.get("status", "")
        status = status if status in statuses or status == WAITING else ""
        accounts = list(selectors.accounts_with_requests())
        account_id = positive_int_or_none(params.get("account"))
        account = next((a for a in accounts if a.pk == account_id), None)
        age = params.get("age", "")
        age = age if age in AGES else ""

        requests = selectors.requests_visible(
            user=request.user,
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
                        "kind_label": display.kind_label(req.kind),
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
    taken before the loss, and the kind the admin asked for). An unknown kind is refused (400),
    as in the API."""

    def get(self, request, pk):
        restore_request = self.request_object()
        account = restore_request.account
        params = request.GET
        with timezone.override(ZoneInfo(account.time_zone)):
            snapshots = list(selectors.snapshots_within_retention(account=account))
            listed = {snapshot.pk for snapshot in snapshots}
            asked = positive_int_or_none(params.get("snapshot"))
            preview = services.request_preview(
                request=restore_request,
                user=request.user,
                via="console",
                snapshot_id=asked if asked in listed else None,  # else the default one
                kind=params.get("kind") or None,
                # Ticked on the page when a kind is chosen; else the request's.
                entity_types=(
                    [e for e in params.getlist("entity_types") if e in ENTITIES]
                    if "kind" in params
                    else None
                ),
                snapshots_listed=True,
                samples=display.PREVIEW_SAMPLES,
            )
            default = selectors.request_preview_snapshot(request=restore_request)
            chosen = {
                "snapshot": preview.snapshot,
                "kind": preview.kind,
                "entity_types": (
                    preview.entity_types if preview.kind == RequestKind.ENTITIES else []
                ),
                "asked": "snapshot" in params or "kind" in params,
            }
            context = _request_context(restore_request, request.user, support=True)
            context.update(
                nav="console",
                snapshots=[
                    {
                        "snapshot": snapshot,
                        "counts": [
                            (
                                entity.name_for(entity_counts(snapshot).get(key, 0)),
                                entity_counts(snapshot).get(key, 0),
                            )
                            for key, entity in ENTITIES.items()
                        ],
                        "before_loss": snapshot.taken_at <= restore_request.lost_at,
                        "default": default is not None and snapshot.pk == default.pk,
                    }
                    for snapshot in snapshots
                ],
                default_snapshot=default,
                moment_suggested=_local_input(
                    selectors.request_moment_suggested(request=restore_request),
                    restore_request.account.time_zone,
                ),
                chosen=chosen,
                chosen_kind_label=display.kind_label(preview.kind),
                kinds=REQUEST_KINDS,
                entity_choices=[
                    (key, e.verbose_name_plural.capitalize()) for key, e in ENTITIES.items()
                ],
                preview=_preview_context(preview),
                reject_form=RejectForm(),
            )
            return render(request, "support/console_detail.html", context)


class ConsoleMessageView(SupportRequiredMixin, _MessagePostView):
    sent = gettext_lazy("Your message was sent to the account's admins.")


class ConsoleProposeView(SupportRequiredMixin, View):
    """Propose a snapshot, or a moment (``at``, in the account's time zone) instead."""

    def post(self, request, pk):
        restore_request = self.request_object()
        if "at" in request.POST:
            return self._moment(request, restore_request)
        snapshots = selectors.snapshots_within_retention(account=restore_request.account)
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

    def _moment(self, request, restore_request: RestoreRequest):
        with timezone.override(ZoneInfo(restore_request.account.time_zone)):
            form = ProposeMomentForm(request.POST)
            valid = form.is_valid()
        if not valid:
            messages.error(request, _form_errors(form))
            return HttpResponseRedirect(self.detail_url())
        return _act(
            request,
            lambda: services.request_propose(
                request=restore_request, user=request.user, **form.cleaned_data
            ),
            success=_("Proposed. The account's admins are asked to confirm."),
            back=self.detail_url(),
        )


def _local_input(moment, zone: str) -> str:
    """A time as a datetime-local field shows it, in the account's time zone."""
    return moment.astimezone(ZoneInfo(zone)).strftime(DATETIME_LOCAL) if moment else ""


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

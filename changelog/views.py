"""The revert's browser pages: the preview of undoing a selection (the history's filters, ticked
events, or one event), its confirmation, and a big revert's progress. Thin over changelog.revert
and changelog.jobs; the rules (plan, own changes only, force for admins) are theirs."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import TemplateView

from accounts.plans import Feature, plan_has
from accounts.rules import admin_require
from changelog import alerts, jobs, revert, selectors
from changelog.models import RevertJob
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from core.text import grouped
from core.views import MemberRequiredMixin
from crm.entities import ENTITIES
from history.filters import EventFilter

ALERTS_LISTED = 100


def _selection_query(params) -> dict[str, list[str]]:
    """What the page was asked to undo, as query parameters: ``events`` (ticked rows), or the
    history's filters (empty ones dropped, as the history page drops them)."""
    ids = [value for value in params.getlist("events") if positive_int_or_none(value)]
    if ids:
        return {"events": ids}
    return {
        name: [value for value in params.getlist(name) if value]
        for name in EventFilter.base_filters
        if any(params.getlist(name))
    }


class RevertView(MemberRequiredMixin, TemplateView):
    """GET: what undoing the selection would change, field by field, with its conflicts.
    POST (the same selection, as hidden fields): undo it, or start the job that will."""

    template_name = "changelog/revert_preview.html"

    def _event_ids(self, query: dict[str, list[str]]) -> list[int]:
        user = self.request.user
        if "events" in query:
            return revert.revert_selection(
                account=self.account,
                actor=user,
                event_ids=[int(value) for value in query["events"]],
            )
        return revert.revert_selection(account=self.account, actor=user, filters=query)

    def get(self, request: HttpRequest, *args, **kwargs):
        query = _selection_query(request.GET)
        context = {"nav": "history", "query": query, "back_url": self._history_url(query)}
        try:
            event_ids = self._event_ids(query)
            plan = revert.revert_preview(
                account=self.account, actor=request.user, event_ids=event_ids
            )
        except RuleViolation as violation:
            response = self.render_to_response({**context, "problem": violation.message})
            response.status_code = violation.status
            return response
        summary = plan.summary()
        changes = summary["changes"]
        for change in changes:
            entity = ENTITIES[change["entity_type"]]
            change["type_label"] = capfirst(entity.verbose_name)
            change["is_record"] = change["field"] == revert.RECORD
            if not change["is_record"]:
                field = entity.model._meta.get_field(change["field"])
                change["field_label"] = capfirst(str(getattr(field, "verbose_name", field.name)))
        changes.sort(key=lambda change: not change["conflict"])  # conflicts first
        return self.render_to_response(
            {
                **context,
                "summary": summary,
                "changes": changes,
                "more": max(0, sum(1 for _ in plan.changes()) - len(changes)),
                "applied_records": sum(1 for record in plan.records if record.applied(force=False)),
                "hidden": [(name, value) for name, values in query.items() for value in values],
                "can_force": request.user.is_account_admin and summary["conflicts"] > 0,
                "job_threshold": revert.revert_job_threshold(),
            }
        )

    def post(self, request: HttpRequest, *args, **kwargs):
        query = _selection_query(request.POST)
        try:
            event_ids = self._event_ids(query)
            started = jobs.revert_start(
                account=self.account,
                actor=request.user,
                event_ids=event_ids,
                force=request.POST.get("force") == "1",
            )
        except RuleViolation as violation:
            messages.error(request, violation.message)
            return redirect(f"{reverse('changelog:revert')}?{urlencode(query, doseq=True)}")
        if isinstance(started, RevertJob):
            return redirect("changelog:job", pk=started.pk)
        force = request.POST.get("force") == "1"
        summary = started.summary(force=force, listed=0)
        message = ngettext(
            "Undone: %(records)s record changed.",
            "Undone: %(records)s records changed.",
            summary["records"],
        ) % {"records": grouped(summary["records"])}
        if summary["conflicts"] and not force:
            message += " " + ngettext(
                "%(count)s change was left as it is: someone changed it again later.",
                "%(count)s changes were left as they are: someone changed them again later.",
                summary["conflicts"],
            ) % {"count": grouped(summary["conflicts"])}
        messages.success(request, message)
        done = {"event_type": "revert", "actor": str(request.user.pk)}
        return redirect(f"{reverse('history:list')}?{urlencode(done)}")

    @staticmethod
    def _history_url(query: dict[str, list[str]]) -> str:
        if "events" in query:
            return reverse("history:list")
        return f"{reverse('history:list')}?{urlencode(query, doseq=True)}"


def job_progress(job: RevertJob) -> dict:
    """The job as static/js/progress.js reads it."""
    return {
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "progress": job.progress,
        "summary": _("%(percent)s%% done") % {"percent": job.progress},
        "error": job.error,
        "final": job.is_final,
    }


class RevertJobView(MemberRequiredMixin, TemplateView):
    """A big revert: its progress while it runs, its outcome when done."""

    template_name = "changelog/revert_job.html"

    def get_context_data(self, **kwargs):
        job = selectors.revert_job_get(user=self.request.user, job_id=kwargs["pk"])
        done = {"event_type": "revert", "actor": str(job.requested_by_id or "")}
        return super().get_context_data(
            nav="history",
            job=job,
            job_progress=job_progress(job),
            history_url=f"{reverse('history:list')}?{urlencode(done)}",
            **kwargs,
        )


class RevertJobProgressView(MemberRequiredMixin, View):
    """JSON for static/js/progress.js."""

    def get(self, request: HttpRequest, pk: int):
        job = selectors.revert_job_get(user=request.user, job_id=pk)
        response = JsonResponse(job_progress(job))
        response["Cache-Control"] = "no-store"
        return response


class AlertsView(MemberRequiredMixin, TemplateView):
    """The account's mass-change alerts (admins): each with the revert preview of exactly its
    events and an "Acknowledge" button; and the account's thresholds."""

    template_name = "changelog/alerts.html"

    def member_checked(self) -> None:
        admin_require(user=self.request.user)

    def get_context_data(self, **kwargs):
        rows = [
            {"alert": alert, "revert_url": alerts.revert_path(alert)}
            for alert in selectors.alerts_for_account(account=self.account)[:ALERTS_LISTED]
        ]
        return super().get_context_data(
            nav="alerts",
            rows=rows,
            eligible=plan_has(self.account.plan, Feature.CHANGE_ALERTS),
            limits=alerts.alert_settings(self.account),
            window_minutes=int(alerts.window().total_seconds() // 60),
            **kwargs,
        )

    def post(self, request: HttpRequest, *args, **kwargs):
        if "acknowledge" in request.POST:
            alert = selectors.alert_get(
                account=self.account, alert_id=positive_int_or_none(request.POST["acknowledge"])
            )
            alerts.alert_acknowledge(alert=alert, user=request.user)
            messages.success(request, _("Alert acknowledged."))
            return redirect("changelog:alerts")
        try:
            threshold = int(request.POST.get("threshold", ""))
            factor = int(request.POST.get("factor", ""))
        except ValueError:
            threshold = factor = 0
        if not (1 <= threshold <= 1_000_000 and 1 <= factor <= 1000):
            messages.error(
                request,
                _(
                    "The threshold must be a whole number from 1 to 1,000,000, the factor "
                    "from 1 to 1,000."
                ),
            )
            return redirect("changelog:alerts")
        alerts.alert_settings_save(
            account=self.account,
            user=request.user,
            enabled=request.POST.get("enabled") == "1",
            threshold=threshold,
            factor=factor,
        )
        messages.success(request, _("The alert thresholds are saved."))
        return redirect("changelog:alerts")

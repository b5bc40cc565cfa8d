"""The support pages of everyone who gets notifications (account members and support staff):
their notifications, and the JSON the pages poll for live updates (static/js/live.js)."""

from zoneinfo import ZoneInfo

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext
from django.views import View

from accounts.mixins import SecondFactorRequiredMixin
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from support import display, selectors, services
from support.views import PER_PAGE_CHOICES


class LiveView(SecondFactorRequiredMixin, LoginRequiredMixin, View):
    """JSON for static/js/live.js, polled every few seconds by the pages of people who get
    notifications: ``unread`` (the header's badge) and, with ``?request=<id>`` that the user may
    see, the request's ``version`` (support.selectors.request_live_version): when it changes,
    the page fetches itself and swaps what changed, so messages, proposals and status changes
    appear on both sides within seconds, without a reload. Two cheap queries."""

    def get(self, request):
        user = request.user
        unread = (
            selectors.unread_count(user=user) if user.is_support or user.is_account_member else 0
        )
        answer: dict = {
            "unread": unread,
            "unread_title": ngettext(
                "%(counter)s unread notification", "%(counter)s unread notifications", unread
            )
            % {"counter": unread},
        }
        if "request" in request.GET and (user.is_support or user.is_account_admin):
            try:
                restore_request = selectors.request_get(
                    user=user, request_id=request.GET["request"]
                )
            except RuleViolation:
                pass  # not one of theirs: no version, nothing said about it
            else:
                answer["request"] = {
                    "id": restore_request.pk,
                    "version": selectors.request_live_version(request=restore_request),
                }
        response = JsonResponse(answer)
        response["Cache-Control"] = "no-store"
        return response


class NotificationListView(SecondFactorRequiredMixin, LoginRequiredMixin, View):
    """The caller's notifications, newest first; the ones shown are marked read."""

    def get(self, request):
        user = request.user
        per_page = positive_int_or_none(request.GET.get("per_page"))
        if per_page not in PER_PAGE_CHOICES:
            per_page = PER_PAGE_CHOICES[0]
        notifications = selectors.notifications_for(user=user).select_related(
            "request", "request__account", "actor"
        )
        page = Paginator(notifications, per_page).get_page(request.GET.get("page"))
        rows = display.notification_rows(user, page.object_list)
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

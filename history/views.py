"""The history's browser pages: the filtered list of events (keyset pages: big accounts have
millions of events, so nothing here counts them or skips with OFFSET), a chart of deletions
per day, and the CSV export of the same filtered list. Reads only, through history.selectors
and the one FilterSet the API uses (history.filters.EventFilter)."""

import csv
import functools
import hashlib
import json
from datetime import timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from accounts.plans import Feature, plan_has
from core.api.filters import positive_int_or_none
from core.csv import spreadsheet_safe
from core.filter_chips import date_display, date_input, filter_chips, filter_values
from core.html import format_moment
from core.page_cache import page_part
from core.views import MemberRequiredMixin
from crm.entities import ENTITIES
from history.display import event_rows
from history.filters import EventFilter
from history.selectors import (
    deletions_per_day,
    event_actors,
    events_for_account,
    events_visible,
    history_version,
    record_changes,
)
from history.subjects import event_type_choices, event_type_label, subject_choices

PAGE_SIZE = 50
# The list says how many events match, counted up to this many ("more than N" beyond): a
# count of millions would cost more than the page.
MATCHES_COUNT_MAX = 10_000
OVER_CAP_SECONDS = 24 * 3600
# "Undo these N changes…" counts up to this many ("more than N" beyond; the preview counts
# them all). Each counted event is read from the table (is it a change of a record?): at
# 1,000,000 events a user's 100,000 took 260 ms, 10,000 took 34 ms (bench/bin_history.py).
UNDO_COUNT_MAX = 1_000
EXPORT_CHUNK = 2000
CHART_DAYS = 30

# The filters as the page names them, in the order their chips are shown.
FILTER_LABELS = {
    "event_type": gettext_lazy("Event"),
    "entity_type": gettext_lazy("Type"),
    "entity_id": gettext_lazy("Record"),
    "actor": gettext_lazy("User"),
    "occurred_after": gettext_lazy("From"),
    "occurred_before": gettext_lazy("Before"),
    "search": gettext_lazy("Text"),
}


class HistoryView(MemberRequiredMixin, TemplateView):
    """``?event_type=`` (repeated or a comma list), ``entity_type``, ``entity_id``, ``actor``,
    ``occurred_after``, ``occurred_before``, ``search``: EventFilter's parameters, as in the
    API. ``?before=<id>`` / ``?after=<id>`` page to older / newer events."""

    template_name = "history/event_list.html"

    def get_context_data(self, **kwargs):
        version = history_version(account=self.account)
        content = page_part(
            self.request,
            name="history",
            version=version,
            render=lambda extra: render_to_string(
                "history/_content.html", {**self._content(version), **extra}, self.request
            ),
        )
        return super().get_context_data(nav="history", content=content, **kwargs)

    def _content(self, version: tuple[int, int]) -> dict:
        params = self.request.GET
        filterset = EventFilter(
            params, queryset=events_visible(account=self.account, user=self.request.user)
        )
        valid = filterset.is_valid()
        events = filterset.qs if valid else filterset.queryset.none()
        page, has_newer, has_older = self._keyset_page(events)
        users = self._actors(version)
        chips = filter_chips(
            params=params,
            base_url=reverse("history:list"),
            labels=FILTER_LABELS,
            display=self._chip_display(users),
            errors=filterset.errors,
            comma_lists=("event_type",),
        )
        query = {key: values for key, values in params.lists() if key not in ("before", "after")}
        user = self.request.user
        can_undo = plan_has(self.account.plan, Feature.REVERT)
        return {
            "can_undo": can_undo,
            "undo_all": self._undo_all(events, query) if can_undo and valid and chips else None,
            "rows": event_rows(
                account=self.account,
                events=page,
                request_links=user.is_account_admin,
                undo_by=user if can_undo else None,
            ),
            "matches": self._matches(events, page, has_newer, has_older, query) if valid else 0,
            "matches_max": MATCHES_COUNT_MAX,
            "has_newer": has_newer,
            "has_older": has_older,
            "newer_url": self._page_url(query, after=page[0].pk) if has_newer else None,
            "older_url": self._page_url(query, before=page[-1].pk) if has_older else None,
            "newest_url": self._page_url(query)
            if ("before" in params or "after" in params)
            else None,
            "export_url": f"{reverse('history:export')}?{urlencode(query, doseq=True)}",
            "chips": chips,
            "filter_errors": filterset.errors,
            "form": self._form(params, users),
            "chart": deletion_chart(deletions_per_day(account=self.account, days=CHART_DAYS)),
            "time_zone": self.account.time_zone,
            "page_size": PAGE_SIZE,
        }

    def _actors(self, version: tuple[int, int]) -> list[tuple[str, str]]:
        """The user filter's choices, kept while the history stays the same: support staff
        appear in it by their events, the account's users within PAGE_PART_SECONDS."""
        newest, mark = version
        key = f"history:actors:{self.account.pk}:{newest}:{mark}:{get_language()}"
        actors = cache.get(key)
        if actors is None:
            actors = event_actors(account=self.account)
            cache.set(key, actors, settings.PAGE_PART_SECONDS)
        return actors

    def _undo_all(self, events, query: dict) -> dict | None:
        """ "Undo these N changes…": the changes of records among the filtered events, for
        admins, and for employees once the list shows only their own."""
        user = self.request.user
        if not user.is_account_admin and self.request.GET.get("actor") != str(user.pk):
            return None
        count = self._count_capped("undo", record_changes(events), UNDO_COUNT_MAX, query)
        if not count:
            return None
        return {
            "count": count,
            "more": count > UNDO_COUNT_MAX,
            "url": f"{reverse('changelog:revert')}?{urlencode(query, doseq=True)}",
        }

    def _matches(self, events, page, has_newer: bool, has_older: bool, query: dict) -> int:
        """How many events match the filters, at most MATCHES_COUNT_MAX + 1 (one page: no
        query)."""
        if not (has_newer or has_older):
            return len(page)
        return self._count_capped("matches", events, MATCHES_COUNT_MAX, query)

    def _count_capped(self, name: str, events, cap: int, query: dict) -> int:
        """``events`` counted up to ``cap`` + 1, unordered (any ``cap`` + 1 of them count the
        same, through any index). Events are only ever added: once the events of a query are
        more than the cap they stay so (until the history's retention, far longer than
        OVER_CAP_SECONDS), and that is remembered for the account's admins or employees, so
        its pages, paged through or reloaded, do not count again (the whole history: 3-4 ms at
        1,000,000 events; a user's changes of records, each read from the table: 20 ms and
        more; bench/bin_history.py)."""
        filters = urlencode(sorted((key, sorted(values)) for key, values in query.items()), True)
        digest = hashlib.sha256(filters.encode()).hexdigest()[:32]
        readers = "admins" if self.request.user.is_account_admin else "employees"
        key = f"history:over-cap:{name}:{self.account.pk}:{readers}:{digest}"
        if cache.get(key):
            return cap + 1
        count = events.order_by()[: cap + 1].count()
        if count > cap:
            cache.set(key, True, OVER_CAP_SECONDS)
        return count

    def _keyset_page(self, events):
        """``(events, has_newer, has_older)``: PAGE_SIZE events newest first, around the
        ``before``/``after`` id of the query; an exhausted direction falls back to the newest."""
        before = positive_int_or_none(self.request.GET.get("before"))
        after = positive_int_or_none(self.request.GET.get("after"))
        if after is not None:
            chunk = list(events.filter(id__gt=after).order_by("id")[: PAGE_SIZE + 1])
            if chunk:
                has_newer = len(chunk) > PAGE_SIZE
                page = chunk[:PAGE_SIZE][::-1]
                return page, has_newer, events.filter(id__lt=page[-1].pk).exists()
        if before is not None:
            chunk = list(events.filter(id__lt=before).order_by("-id")[: PAGE_SIZE + 1])
            if chunk:
                page = chunk[:PAGE_SIZE]
                has_newer = events.filter(id__gt=page[0].pk).exists()
                return page, has_newer, len(chunk) > PAGE_SIZE
        chunk = list(events.order_by("-id")[: PAGE_SIZE + 1])
        return chunk[:PAGE_SIZE], False, len(chunk) > PAGE_SIZE

    @staticmethod
    def _page_url(query: dict, **position) -> str:
        params = {**query, **{key: [str(value)] for key, value in position.items()}}
        encoded = urlencode(params, doseq=True)
        return f"{reverse('history:list')}?{encoded}" if encoded else reverse("history:list")

    def _chip_display(self, users):
        usernames = dict(users)
        params = self.request.GET
        record_title = self._record_title(params)

        def display(name: str, value: str) -> str:
            if name == "event_type":
                return event_type_label(value)
            if name == "entity_type":
                return str(dict(subject_choices()).get(value, value))
            if name == "entity_id":
                return f"“{record_title}” (#{value})" if record_title else f"#{value}"
            if name == "actor":
                return usernames.get(value, f"#{value}")
            if name in ("occurred_after", "occurred_before"):
                return date_display(value)
            return f"“{value}”"

        return display

    def _record_title(self, params) -> str:
        """The record's name as the history last recorded it, for its chip."""
        entity_type, entity_id = (
            params.get("entity_type"),
            positive_int_or_none(params.get("entity_id")),
        )
        if entity_type not in ENTITIES or entity_id is None:
            return ""
        title = (
            events_for_account(account=self.account)
            .filter(entity_type=entity_type, entity_id=entity_id)
            .order_by("-id")
            .values_list("entity_title", flat=True)
            .first()
        )
        return title or ""

    def _form(self, params, users) -> dict:
        chosen_types = set(filter_values(params, "event_type", comma_list=True))
        return {
            "event_types": [
                {"value": value, "label": label, "checked": value in chosen_types}
                for value, label in event_type_choices()
            ],
            "entity_types": subject_choices(),
            "entity_type": params.get("entity_type", ""),
            "entity_id": params.get("entity_id", ""),
            "users": users,  # (value, name)
            "actor": params.get("actor", ""),
            "occurred_after": date_input(params.get("occurred_after")),
            "occurred_before": date_input(params.get("occurred_before")),
            "search": params.get("search", ""),
        }


def deletion_chart(days: list[tuple], *, width: int = 900, height: int = 180) -> dict:
    """Geometry of the inline SVG bar chart: one bar per day scaled to the busiest day, so a
    mass deletion towers over the rest; that day is labelled with its number. Worked out once
    per counts and language (the counts stay the same while no deletion is added): the chart
    is shared: its callers read it, never change it."""
    return _deletion_chart(tuple(days), width, height, get_language(), get_script_prefix())


@functools.lru_cache(maxsize=256)
def _deletion_chart(
    days: tuple[tuple, ...], width: int, height: int, language: str | None, prefix: str
) -> dict:
    top, bottom = 24, 26
    plot = height - top - bottom
    step = width / max(len(days), 1)
    bar = step * 0.72
    peak = max((count for _, count in days), default=0)
    # Formats and the list's address looked up once, not once a day (the page's speed).
    day_format, tick_format = get_format("DATE_FORMAT"), get_format("MONTH_DAY_FORMAT")
    list_url = reverse("history:list")
    bars = []
    for index, (day, count) in enumerate(days):
        bar_height = round(plot * count / peak, 1) if peak else 0
        if count and bar_height < 3:
            bar_height = 3  # one deletion still shows
        x = round(index * step + (step - bar) / 2, 1)
        query = {
            "event_type": "delete",
            "occurred_after": day.isoformat(),
            "occurred_before": (day + timedelta(days=1)).isoformat(),
        }
        label = format_moment(day, day_format)
        bars.append(
            {
                "day": day,
                "count": count,
                "x": x,
                "y": round(top + plot - bar_height, 1),
                "width": round(bar, 1),
                "height": bar_height,
                "center": round(x + bar / 2, 1),
                "label_y": round(top + plot - bar_height - 6, 1),
                "label": label,
                # Worded here once, not twice per bar by the template (the page's speed).
                "title": ngettext(
                    "%(day)s: %(counter)s deletion", "%(day)s: %(counter)s deletions", count
                )
                % {"day": label, "counter": count},
                "tick_label": format_moment(day, tick_format),
                "slot_x": round(index * step, 1),
                "is_peak": peak > 0 and count == peak,
                "tick": (len(days) - 1 - index) % 7 == 0,
                "url": f"{list_url}?{urlencode(query)}" if count else None,
            }
        )
    peak_days = [b for b in bars if b["is_peak"]]
    return {
        "bars": bars,
        "total": sum(count for _, count in days),
        "peak": peak,
        "peak_day": peak_days[0]["day"] if peak_days else None,
        "peak_label": peak_days[0]["label"] if peak_days else "",
        "width": width,
        "height": height,
        "top": top,
        "baseline": top + plot,
        "slot_width": round(step, 1),
        "tick_y": height - 8,
        "days": len(days),
    }


class HistoryExportView(MemberRequiredMixin, View):
    """The filtered history as CSV (UTF-8, header row), streamed in chunks so memory stays
    flat however many events match."""

    def get(self, request):
        filterset = EventFilter(
            request.GET, queryset=events_visible(account=self.account, user=request.user)
        )
        if not filterset.is_valid():
            errors = "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in filterset.errors.items()
            )
            return HttpResponseBadRequest(
                _("These filters are not valid: %(errors)s") % {"errors": errors},
                content_type="text/plain; charset=utf-8",
            )
        events = filterset.qs.order_by("-id").values_list(
            "id",
            "occurred_at",
            "actor_id",
            "actor_username",
            "event_type",
            "entity_type",
            "entity_id",
            "entity_title",
            "changes",
        )
        # Streaming runs after this view returns: fix the zone and the words now.
        zone = ZoneInfo(self.account.time_zone)
        system = _("System")
        writer = csv.writer(_Echo())
        header = ["id", "occurred_at", "user", "event", "type", "record id", "title", "changes"]

        def lines():
            yield writer.writerow(header)
            for (
                pk,
                occurred_at,
                actor_id,
                username,
                event,
                entity_type,
                entity_id,
                title,
                changes,
            ) in events.iterator(chunk_size=EXPORT_CHUNK):
                yield writer.writerow(
                    [
                        pk,
                        occurred_at.astimezone(zone).isoformat(),
                        spreadsheet_safe(username if actor_id is not None else system),
                        event,
                        entity_type,
                        "" if entity_id is None else entity_id,
                        spreadsheet_safe(title),
                        json.dumps(changes or {}, cls=DjangoJSONEncoder, ensure_ascii=False),
                    ]
                )

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        filename = f"history-{date_format(timezone.localdate(), 'Y-m-d')}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class _Echo:
    """csv.writer writes into this and gets the line back, to stream it."""

    def write(self, value: str) -> str:
        return value

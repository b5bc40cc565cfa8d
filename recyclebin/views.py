"""The recycle bin's browser pages: the list (filtered by the same FilterSet as the API, sorted,
paginated) and the POST actions restore, purge and empty. Thin views: reads go through
recyclebin.selectors (admins see the account's entries, employees their own), every write
through recyclebin.services, which check the rules again (plan, admins only, visibility).

A refused action (RuleViolation) comes back to the list with its sentence as an error
message, the list's filters kept; entries the caller may not see answer 404.

Restoring more than BIN_RESTORE_JOB_THRESHOLD entries ("Restore all N matching" on a big
bin) asks for confirmation, stating how many, then starts a restore job and comes back to the
list with ``?job=<id>``: the job's progress bar (static/js/progress.js polls
``recyclebin:job_progress``), then its outcome. The list also shows a job still running."""

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Sum
from django.http import Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.generic import TemplateView

from accounts.plans import PLAN_CATALOG, Feature
from accounts.rules import admin_require
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from core.filter_chips import date_display, date_input, filter_chips
from core.page_cache import page_part
from core.views import MemberRequiredMixin
from crm.entities import ENTITIES, EntityType
from history.selectors import history_version
from recyclebin import selectors, services
from recyclebin.conf import restore_job_threshold
from recyclebin.counts import COUNT_CAP, CappedPaginator, bin_entries_counted
from recyclebin.filters import BinEntryFilter
from recyclebin.models import BinEntry, RestoreJob
from recyclebin.selectors import bin_entries_visible

PER_PAGE_CHOICES = (25, 50, 100, 200)
DEFAULT_SORT = "-deleted_at"
# ?sort= value -> what it orders by (the entry id breaks ties, so pages never overlap).
SORTS = {
    "entity_type": "entity_type",
    "title": "title",
    "deleted_by": "deleted_by__username",
    "deleted_at": "deleted_at",
    "purge_after": "purge_after",
    "item_count": "item_count",
}
# Counting stops here: a bin of 100,000 entries would otherwise pay a full COUNT(*) on every
# page view (50 ms and more once deletions and restores leave dead rows behind). Beyond it
# the page says "at least", and pages go as far as the cap; filters narrow the rest.
CONFIRM_LIST_LIMIT = 50  # entries named on the purge confirmation; the rest are counted
OFFER_KEY = "recyclebin_offer"  # session: what the list offers after a restore

# The filters as the page names them, in the order their chips are shown.
FILTER_LABELS = {
    "entity_type": gettext_lazy("Type"),
    "search": gettext_lazy("Title"),
    "deleted_by": gettext_lazy("Deleted by"),
    "deleted_after": gettext_lazy("Deleted from"),
    "deleted_before": gettext_lazy("Deleted before"),
    "id": gettext_lazy("Entry"),
}


def _restore_plans() -> str:
    """The plans that include restoring, for the sentence that explains it."""
    return ", ".join(offer.label for offer in PLAN_CATALOG if Feature.BIN_RESTORE in offer.features)


class BinViewMixin(MemberRequiredMixin):
    def list_url(self, query: str = "") -> str:
        url = reverse("recyclebin:list")
        return f"{url}?{query}" if query else url

    def posted_query(self) -> str:
        """The list's query string, sent along by its forms so the way back keeps it."""
        return QueryDict(self.request.POST.get("query", "")).urlencode()

    def back(self, *, done: bool = False) -> HttpResponseRedirect:
        """To the list as it was; once ``done``, to ``next``, a page of this site the form came
        from (a record's "in the recycle bin" page: restored, the record's own page)."""
        target = self.request.POST.get("next", "") if done else ""
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return HttpResponseRedirect(target)
        return HttpResponseRedirect(self.list_url(self.posted_query()))

    def filterset(self, params) -> BinEntryFilter:
        return BinEntryFilter(params, queryset=bin_entries_visible(user=self.request.user))

    def posted_matching_ids(self) -> list[int]:
        """``all=1``: the ids of every entry the list's filters show, at most one more than a
        restore job takes (so "too many" can be told)."""
        filterset = self.filterset(QueryDict(self.request.POST.get("query", "")))
        if not filterset.is_valid():
            return []
        ids = filterset.qs.order_by("pk").values_list("pk", flat=True)
        return list(ids[: services.RESTORE_JOB_MAX_ENTRIES + 1])

    def posted_entries(self) -> list[BinEntry]:
        """The entries a POST names: ``entry`` (a row's button), ``all=1`` (every entry the
        list's filters show) or ``ids`` (the ticked rows). Any the caller cannot see: 404."""
        post = self.request.POST
        if post.get("entry"):
            raw = [post["entry"]]
        elif post.get("all") == "1":
            filterset = self.filterset(QueryDict(post.get("query", "")))
            if not filterset.is_valid():
                return []
            return list(filterset.qs.order_by("-id"))
        else:
            raw = post.getlist("ids")
        ids = {positive_int_or_none(value) for value in raw}
        if None in ids:
            raise Http404("No such entry in your recycle bin.")
        entries = list(bin_entries_visible(user=self.request.user).filter(pk__in=ids))
        if len(entries) != len(ids):
            raise Http404("No such entry in your recycle bin.")
        return entries


class BinListView(BinViewMixin, TemplateView):
    """``?entity_type=``, ``search``, ``deleted_by``, ``deleted_after``, ``deleted_before``,
    ``id`` (BinEntryFilter, as in the API), ``?sort=``, ``?page=``, ``?per_page=``."""

    template_name = "recyclebin/bin_list.html"

    def get_context_data(self, **kwargs):
        params = self.request.GET.copy()
        job = self._job(params.pop("job", None))
        offer = self._offer()

        def rendered(extra: dict) -> str:
            context = {**self._content(params, job, offer), **extra}
            return render_to_string("recyclebin/_content.html", context, self.request)

        if job is None and offer is None:
            # Kept whole while the account's history stays the same (every change of the bin
            # writes an event): a reload costs two small reads.
            version = history_version(account=self.account)
            content = page_part(self.request, name="recyclebin", version=version, render=rendered)
        else:
            content = rendered({})
        return super().get_context_data(nav="recyclebin", content=content, **kwargs)

    def _content(self, params: QueryDict, job: RestoreJob | None, offer: dict | None) -> dict:
        user = self.request.user
        filterset = self.filterset(params)
        valid = filterset.is_valid()
        entries = filterset.qs if valid else filterset.queryset.none()

        sort = params.get("sort", DEFAULT_SORT)
        if sort.removeprefix("-") not in SORTS:
            sort = DEFAULT_SORT
        order = SORTS[sort.removeprefix("-")]
        entries = entries.order_by(f"-{order}" if sort.startswith("-") else order, "-id")

        per_page = positive_int_or_none(params.get("per_page"))
        if per_page not in PER_PAGE_CHOICES:
            per_page = PER_PAGE_CHOICES[0]
        users = list(self.account.users.order_by("username"))
        chips = filter_chips(
            params=params,
            base_url=reverse("recyclebin:list"),
            labels=FILTER_LABELS,
            display=self._chip_display(users),
            errors=filterset.errors,
        )
        # The whole bin's count (remembered past the cap), for the list when no filter is set.
        counted = bin_entries_counted(user=user, entries=bin_entries_visible(user=user))
        unfiltered = valid and not chips
        page = CappedPaginator(entries, per_page, counted=counted if unfiltered else None).get_page(
            params.get("page")
        )
        total = min(counted, COUNT_CAP)
        history_url = reverse("history:list")  # once a page, not once a row
        return {
            "page": page,
            "rows": [
                {"entry": entry, "history_url": _entry_history_url(entry, history_url)}
                for entry in page.object_list
            ],
            "columns": self._columns(sort),
            "sort": sort,
            "per_page": per_page,
            "per_page_choices": PER_PAGE_CHOICES,
            "chips": chips,
            "filter_errors": filterset.errors,
            "form": self._form(params, users),
            "total": total,
            "is_admin": user.is_account_admin,
            "can_restore": self.account.has_feature(Feature.BIN_RESTORE),
            "restore_plans": _restore_plans(),
            "retention_days": settings.BIN_RETENTION_DAYS,
            "query": params.urlencode(),
            "offer": offer,
            "job_threshold": restore_job_threshold(),
            "job": job,
            "job_progress": job_progress(job) if job is not None else None,
            "job_url": self._job_url(job, params) if job is not None else "",
        }

    def _job(self, asked: list[str] | None) -> RestoreJob | None:
        """``?job=<id>``: that restore job (404 if it is not the caller's to see); otherwise
        the account's job still queued or running, if the caller may see it."""
        if asked:
            return selectors.restore_job_get(user=self.request.user, job_id=asked[-1])
        return selectors.restore_job_active(user=self.request.user)

    def _job_url(self, job: RestoreJob, params: QueryDict) -> str:
        """The list showing this job, where its progress bar goes when the job ends."""
        query = params.copy()
        query["job"] = str(job.pk)
        return self.list_url(query.urlencode())

    def _columns(self, sort: str) -> list[dict]:
        columns = []
        for name in SORTS:
            model_field = BinEntry._meta.get_field(name)
            columns.append(
                {
                    "name": name,
                    "label": capfirst(model_field.verbose_name),
                    "numeric": name == "item_count",
                    "direction": {name: "asc", f"-{name}": "desc"}.get(sort),
                    "next_sort": f"-{name}" if sort == name else name,
                }
            )
        return columns

    def _chip_display(self, users):
        usernames = {str(user.pk): user.username for user in users}

        def display(name: str, value: str) -> str:
            if name == "entity_type":
                return str(dict(EntityType.choices).get(value, value))
            if name == "deleted_by":
                return usernames.get(value, f"#{value}")
            if name in ("deleted_after", "deleted_before"):
                return date_display(value)
            if name == "id":
                return f"#{value}"
            return f"“{value}”"

        return display

    def _form(self, params, users) -> dict:
        return {
            "entity_types": EntityType.choices,
            "entity_type": params.get("entity_type", ""),
            "search": params.get("search", ""),
            # (value, name): the form is rendered once per its values (layout.render_once).
            "users": (
                [(str(member.pk), member.username) for member in users]
                if self.request.user.is_account_admin
                else []
            ),
            "deleted_by": params.get("deleted_by", ""),
            "deleted_after": date_input(params.get("deleted_after")),
            "deleted_before": date_input(params.get("deleted_before")),
            "id": params.get("id", ""),
        }

    def _offer(self) -> dict | None:
        """What the last restore left to offer, once: the entries still holding items the
        restored ones link to, or restoring together what could not come back alone."""
        offer = self.request.session.pop(OFFER_KEY, None)
        if not isinstance(offer, dict) or not offer.get("ids"):
            return None
        ids = [pk for pk in offer["ids"] if isinstance(pk, int)]
        entries = list(bin_entries_visible(user=self.request.user).filter(pk__in=ids))
        if offer.get("kind") == "together":
            if not entries:
                return None
            return {"kind": "together", "entries": entries, "message": offer.get("message", "")}
        if not ids:
            return None
        return {"kind": "linked", "entries": entries, "hidden": len(ids) - len(entries)}


def _entry_history_url(entry: BinEntry, history_url: str) -> str:
    return f"{history_url}?entity_type={entry.entity_type}&entity_id={entry.entity_id}"


# A confirmation names this many of the entries it restores (then "and N more").
CONFIRM_NAMED = 20


class BinRestoreView(BinViewMixin, View):
    """POST: restore the named entries (``together=1``: with the entries holding what they
    link to). More than BIN_RESTORE_JOB_THRESHOLD of them: without ``confirm`` the
    confirmation page (how many), with ``confirm=1`` and the ``count`` it confirmed a restore
    job, then the list showing its progress."""

    def post(self, request):
        if request.POST.get("all") == "1":
            ids = self.posted_matching_ids()
            if services.restore_job_needed(entry_count=len(ids)):
                return self.job_start(ids)
        entries = self.posted_entries()
        if not entries:
            messages.warning(request, _("Select at least one entry to restore."))
            return self.back()
        if services.restore_job_needed(entry_count=len(entries)):
            return self.job_start([entry.pk for entry in entries])
        together = request.POST.get("together") == "1"
        bulk = len(entries) > 1 or request.POST.get("all") == "1"
        if bulk and (
            request.POST.get("confirm") != "1" or request.POST.get("count") != str(len(entries))
        ):
            # Several at once: confirmed first, on a page that names them (DESIGN.md); what
            # would refuse it anyway is said before.
            try:
                services.bin_restore_check(account=self.account)
            except RuleViolation as violation:
                messages.error(request, violation.message)
                return self.back()
            return self._job_confirm(
                [entry.pk for entry in entries], together=together, entries=entries
            )
        try:
            result = services.bin_restore(
                account=self.account,
                entry_ids=[entry.pk for entry in entries],
                actor=request.user,
                together=together,
            )
        except RuleViolation as violation:
            if violation.code == "parent_in_bin":
                request.session[OFFER_KEY] = {
                    "kind": "together",
                    "ids": [entry.pk for entry in entries],
                    "message": violation.message,
                }
            elif violation.code == "not_found":
                if not together:
                    raise
                # The asked-for entries are visible (checked above): what is missing are the
                # linked entries, deleted by someone else.
                messages.error(
                    request,
                    _(
                        "Some of the linked items were deleted by someone else, so you cannot "
                        "restore them. Ask an account admin to restore them together."
                    ),
                )
            else:
                messages.error(request, violation.message)
            return self.back()

        messages.success(request, self._restored_message(entries, result))
        if result.linked_in_bin:
            request.session[OFFER_KEY] = {"kind": "linked", "ids": result.linked_in_bin}
            return self.back()
        return self.back(done=True)

    def job_start(self, ids: list[int]):
        request = self.request
        if len(ids) > services.RESTORE_JOB_MAX_ENTRIES:
            messages.error(
                request,
                _("At most %(cap)s entries can be restored at once; narrow the list with a filter.")
                % {"cap": number_format(services.RESTORE_JOB_MAX_ENTRIES, force_grouping=True)},
            )
            return self.back()
        together = request.POST.get("together") == "1"
        try:
            # Refused before the confirmation already: no plan, maintenance, a job running.
            services.restore_job_check(account=self.account, actor=request.user)
            if request.POST.get("confirm") != "1" or request.POST.get("count") != str(len(ids)):
                return self._job_confirm(ids, together=together)
            job = services.restore_job_create(
                account=self.account, entry_ids=ids, actor=request.user, together=together
            )
        except RuleViolation as violation:
            if violation.code == "not_found":
                raise  # the 404 page, as for any entry the caller cannot see
            if violation.code == "parent_in_bin":
                # Asked again, offering to restore together what cannot come back alone.
                return self._job_confirm(ids, together=True, problem=violation.message)
            messages.error(request, violation.message)
            return self.back()
        query = QueryDict(self.posted_query(), mutable=True)
        query["job"] = str(job.pk)
        return HttpResponseRedirect(self.list_url(query.urlencode()))

    def _job_confirm(
        self,
        ids: list[int],
        *,
        together: bool,
        problem: str = "",
        entries: list[BinEntry] | None = None,
    ):
        """The confirmation of a restore of several entries: by a job (``entries`` None: only
        the number), or now (``entries``: named, the first CONFIRM_NAMED of them)."""
        post = self.request.POST
        every = post.get("all") == "1"
        return render(
            self.request,
            "recyclebin/restore_confirm.html",
            {
                "nav": "recyclebin",
                "background": entries is None,
                "named": (entries or [])[:CONFIRM_NAMED],
                "more": max(0, len(entries or []) - CONFIRM_NAMED),
                "count": len(ids),
                # The count changed since the page that asked: say so, and ask again.
                "changed": post.get("confirm") == "1" and not problem,
                "problem": problem,
                "all": every,
                "ids": [] if every else ids,
                "together": together,
                "query": self.posted_query(),
                "back_url": self.list_url(self.posted_query()),
            },
        )

    @staticmethod
    def _restored_message(entries: list[BinEntry], result):
        if len(result.entries) == 1:
            entry = entries[0]
            entity = ENTITIES[entry.entity_type]
            title = format_html(
                '<a href="{}">“{}”</a>',
                reverse(f"crm:{entry.entity_type}_detail", args=[entry.entity_id]),
                entry.title,
            )
            activities = len(result.restored) - 1
            if activities:
                text = ngettext(
                    "{type} {title} was restored with its {count} activity.",
                    "{type} {title} was restored with its {count} activities.",
                    activities,
                )
            else:
                text = _("{type} {title} was restored.")
            return format_html(
                text, type=capfirst(entity.verbose_name), title=title, count=activities
            )
        return ngettext(
            "%(count)s entry was restored (%(items)s items).",
            "%(count)s entries were restored (%(items)s items).",
            len(result.entries),
        ) % {"count": len(result.entries), "items": len(result.restored)}


class BinPurgeView(BinViewMixin, View):
    """POST without ``confirm``: the confirmation page naming what goes; with ``confirm=1``:
    delete the entries permanently (admins only)."""

    def post(self, request):
        try:
            admin_require(user=request.user)
        except RuleViolation as violation:
            messages.error(request, violation.message)
            return self.back()
        entries = self.posted_entries()
        if not entries:
            messages.warning(request, _("Select at least one entry to delete permanently."))
            return self.back()
        if request.POST.get("confirm") != "1":
            return render(
                request,
                "recyclebin/purge_confirm.html",
                {
                    "nav": "recyclebin",
                    "entries": entries[:CONFIRM_LIST_LIMIT],
                    "more": max(len(entries) - CONFIRM_LIST_LIMIT, 0),
                    "count": len(entries),
                    "items": sum(entry.item_count for entry in entries),
                    "ids": [entry.pk for entry in entries],
                    "query": self.posted_query(),
                    "back_url": self.list_url(self.posted_query()),
                },
            )
        try:
            purged = services.bin_purge(
                account=self.account, entry_ids=[entry.pk for entry in entries], actor=request.user
            )
        except RuleViolation as violation:
            if violation.code == "not_found":
                raise
            messages.error(request, violation.message)
            return self.back()
        messages.success(
            request,
            ngettext(
                "%(count)s entry was deleted permanently.",
                "%(count)s entries were deleted permanently.",
                purged,
            )
            % {"count": purged},
        )
        return self.back()


class BinEmptyView(BinViewMixin, TemplateView):
    """GET: how many entries emptying the bin deletes for good, and a confirm button.
    POST: empty it (admins only). The POST names the count it confirmed: if the bin changed
    meanwhile, the admin is asked again."""

    template_name = "recyclebin/empty_confirm.html"

    def _bin(self) -> tuple[int, int]:
        totals = BinEntry.objects.for_account(self.account).aggregate(
            entries=Count("id"), items=Sum("item_count")
        )
        return totals["entries"] or 0, totals["items"] or 0

    def get(self, request, *args, **kwargs):
        admin_require(user=request.user)
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        count, items = self._bin()
        return super().get_context_data(
            nav="recyclebin",
            count=count,
            items=items,
            back_url=self.list_url(self.request.GET.get("query", "")),
            **kwargs,
        )

    def post(self, request):
        try:
            admin_require(user=request.user)
            count, _items = self._bin()
            if str(count) != request.POST.get("count"):
                messages.warning(
                    request,
                    _("The recycle bin changed meanwhile. Please check the number again."),
                )
                return HttpResponseRedirect(reverse("recyclebin:empty"))
            purged = services.bin_empty(account=self.account, actor=request.user)
        except RuleViolation as violation:
            if violation.code == "not_found":
                raise
            messages.error(request, violation.message)
            return HttpResponseRedirect(self.list_url())
        messages.success(
            request,
            ngettext(
                "The recycle bin was emptied: %(count)s entry was deleted permanently.",
                "The recycle bin was emptied: %(count)s entries were deleted permanently.",
                purged,
            )
            % {"count": purged},
        )
        return HttpResponseRedirect(self.list_url())


def job_progress(job: RestoreJob) -> dict:
    """What static/js/progress.js shows of a job while it runs."""
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "progress": job.progress,
        "total": job.total,
        "done": job.done,
        "restored": job.restored,
        "skipped": job.skipped,
        "summary": job_summary(job),
        "error": job.error,
        "final": job.is_final,
    }


def job_summary(job: RestoreJob) -> str:
    return ngettext(
        "%(done)s of %(total)s entry done",
        "%(done)s of %(total)s entries done",
        job.total,
    ) % {
        "done": number_format(job.done, force_grouping=True),
        "total": number_format(job.total, force_grouping=True),
    }


class RestoreJobProgressView(BinViewMixin, View):
    """JSON for static/js/progress.js: the job's progress. Admins see the account's jobs,
    employees their own; any other job (another account's) answers 404."""

    def get(self, request, pk):
        job = selectors.restore_job_get(user=request.user, job_id=pk)
        response = JsonResponse(job_progress(job))
        response["Cache-Control"] = "no-store"
        return response

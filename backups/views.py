"""The Backups pages (account admins): the account's snapshots, times in its time zone, and
the preview of a restore from one of them, with the records behind each number."""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.generic import TemplateView, View

from accounts.plans import Feature, plan_has
from accounts.rules import admin_require
from backups import restore
from backups.export import export_file_name, snapshot_export
from backups.kinds import RestoreKind
from backups.models import Snapshot
from backups.on_demand import on_demand_next, snapshot_on_demand
from backups.selectors import entity_counts, snapshots_for_account
from backups.snapshot_format import SnapshotInvalid
from core.api.filters import positive_int_or_none
from core.errors import RuleViolation
from core.views import MemberRequiredMixin
from crm.entities import ENTITIES

PAGE_LIMIT = 200  # retention keeps a week of snapshots; this bounds a page regardless
SAMPLE_SIZE = 20  # titles under each number of the preview
BUCKET_PAGE_SIZE = 50  # titles per page of one number

BUCKET_LABELS = {
    "removed": gettext_lazy("Removed"),
    "restored": gettext_lazy("Restored"),
    "reverted": gettext_lazy("Reverted"),
}
BUCKET_HELP = {
    "removed": gettext_lazy(
        "They exist now and are not in the snapshot: the restore would delete them."
    ),
    "restored": gettext_lazy(
        "They are in the snapshot and deleted or in the recycle bin now: the restore would "
        "bring them back."
    ),
    "reverted": gettext_lazy(
        "They are in both and were changed since: the restore would put back the snapshot's "
        "version."
    ),
}


class SnapshotListView(MemberRequiredMixin, TemplateView):
    template_name = "backups/snapshot_list.html"

    def member_checked(self) -> None:
        admin_require(user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        snapshots = list(snapshots_for_account(account=self.account)[:PAGE_LIMIT])
        context.update(
            nav="backups",
            on_demand=plan_has(self.account.plan, Feature.SNAPSHOT_ON_DEMAND),
            on_demand_next=on_demand_next(account=self.account),
            retention_days=settings.SNAPSHOT_RETENTION_DAYS,
            time_zone=self.account.time_zone,
            rows=[
                {
                    "snapshot": snapshot,
                    "counts": [
                        (
                            entity.name_for(entity_counts(snapshot).get(key, 0)),
                            entity_counts(snapshot).get(key, 0),
                        )
                        for key, entity in ENTITIES.items()
                    ],
                    "in_bin": entity_counts(snapshot).get("bin_entry", 0),
                }
                for snapshot in snapshots
            ],
        )
        return context


@dataclass
class PreviewQuery:
    """The preview page's query: the kind of restore and its entity types, and optionally
    one number to page through (``entity_type``, ``bucket``, ids ``after``)."""

    kind: RestoreKind = RestoreKind.FULL
    entity_types: list[str] = field(default_factory=list)
    entity_type: str | None = None
    bucket: str | None = None
    after: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, params) -> "PreviewQuery":
        query = cls()
        kind = params.get("kind") or RestoreKind.FULL
        if kind in restore.KINDS:
            query.kind = RestoreKind(kind)
        else:
            query.errors.append(
                _("This kind of restore is not available: %(kind)s.") % {"kind": kind}
            )
        chosen = [t.strip() for value in params.getlist("entity_types") for t in value.split(",")]
        query.entity_types = [t for t in ENTITIES if t in chosen]
        if query.kind == RestoreKind.ENTITIES and (
            not query.entity_types or set(filter(None, chosen)) - set(ENTITIES)
        ):
            query.errors.append(
                _("Choose the entity types to preview among: %(types)s.")
                % {"types": ", ".join(str(e.verbose_name_plural) for e in ENTITIES.values())}
            )
        entity_type, bucket = params.get("entity_type"), params.get("bucket")
        if entity_type or bucket:
            in_scope = query.entity_types if query.kind == RestoreKind.ENTITIES else list(ENTITIES)
            if entity_type not in in_scope or bucket not in restore.BUCKETS:
                query.errors.append(_("There is no such number in this preview."))
            else:
                query.entity_type, query.bucket = entity_type, bucket
        if params.get("after", "0") not in ("", "0"):
            after = positive_int_or_none(params["after"])
            if after is None:
                query.errors.append(_("“after” must be a record id."))
            else:
                query.after = after
        return query

    def params(self, **extra) -> dict:
        """The query string's parameters, ``extra`` (entity_type, bucket, after) added."""
        params: dict = {"kind": self.kind}
        if self.kind == RestoreKind.ENTITIES:
            params["entity_types"] = ",".join(self.entity_types)
        return params | {key: value for key, value in extra.items() if value}


class SnapshotPreviewView(MemberRequiredMixin, TemplateView):
    """``?kind=full|entities|recover&entity_types=a,b`` (or repeated): what a restore from the
    snapshot would change now, changing nothing, with the first titles under each number.
    ``&entity_type=contact&bucket=removed&after=<id>`` pages through one number's records by
    id (keyset: never counts or skips). Any snapshot of the account may be asked for (one that
    cannot be used says why on the page); another account's answers 404."""

    template_name = "backups/snapshot_preview.html"

    def member_checked(self) -> None:
        admin_require(user=self.request.user)

    def get(self, request, *args, **kwargs):
        snapshot = self._snapshot(kwargs["pk"])
        query = PreviewQuery.parse(request.GET)
        context = self.get_context_data(snapshot=snapshot, query=query)
        status = 200
        if query.errors:
            status = 400
        else:
            context |= self._preview(snapshot, query)
            if context.get("error"):
                status = 409
        return self.render_to_response(context, status=status)

    def _snapshot(self, snapshot_id) -> Snapshot:
        try:
            return Snapshot.objects.for_account(self.account).get(pk=int(snapshot_id))
        except (Snapshot.DoesNotExist, ValueError, OverflowError):
            raise Http404("No such snapshot in your account.") from None

    def get_context_data(self, *, snapshot: Snapshot, query: PreviewQuery, **kwargs):
        return super().get_context_data(
            nav="backups",
            snapshot=snapshot,
            query=query,
            kind_label=query.kind.label,
            entity_choices=[
                (key, capfirst(entity.verbose_name_plural)) for key, entity in ENTITIES.items()
            ],
            time_zone=self.account.time_zone,
            overview_url=self._url(snapshot, query.params()),
            ask_support_url=self._ask_support_url(snapshot, query),
            **kwargs,
        )

    def _preview(self, snapshot: Snapshot, query: PreviewQuery) -> dict:
        one = query.entity_type is not None
        size = BUCKET_PAGE_SIZE if one else SAMPLE_SIZE
        sampling = restore.Sampling(
            size=size + 1 if one else size,  # one more: is there a next page?
            entity_type=query.entity_type,
            bucket=query.bucket,
            after=query.after if one else 0,
        )
        try:
            changes = restore.preview(
                snapshot=snapshot,
                kind=query.kind,
                entity_types=query.entity_types,
                sampling=sampling,
            )
        except restore.RestoreRefused as refused:
            return {"error": refused.message}
        if one:
            return {"bucket_page": self._bucket_page(snapshot, query, changes[query.entity_type])}
        rows = [self._row(snapshot, query, key, numbers) for key, numbers in changes.items()]
        totals = {b: sum(numbers[b] for numbers in changes.values()) for b in restore.BUCKETS}
        return {"rows": rows, "totals": totals, "changed": any(totals.values())}

    def _row(self, snapshot: Snapshot, query: PreviewQuery, entity_type: str, numbers) -> dict:
        cells = []
        for bucket in restore.BUCKETS:
            records = numbers["samples"][bucket]
            more = numbers[bucket] - len(records)
            cells.append(
                {
                    "bucket": bucket,
                    "count": numbers[bucket],
                    "records": records,
                    "more": more,
                    "more_url": self._url(
                        snapshot,
                        query.params(entity_type=entity_type, bucket=bucket, after=records[-1].id),
                    )
                    if more > 0 and records
                    else None,
                }
            )
        return {
            "entity_type": entity_type,
            "label": capfirst(ENTITIES[entity_type].verbose_name_plural),
            "cells": cells,
        }

    def _bucket_page(self, snapshot: Snapshot, query: PreviewQuery, numbers) -> dict:
        records = numbers["samples"][query.bucket]
        page = records[:BUCKET_PAGE_SIZE]
        one = {"entity_type": query.entity_type, "bucket": query.bucket}
        return {
            "label": capfirst(ENTITIES[query.entity_type].verbose_name_plural),
            "entity_type": query.entity_type,
            "bucket": query.bucket,
            "bucket_label": BUCKET_LABELS[query.bucket],
            "help": BUCKET_HELP[query.bucket],
            "count": numbers[query.bucket],
            "records": page,
            "next_url": self._url(snapshot, query.params(**one, after=page[-1].id))
            if len(records) > BUCKET_PAGE_SIZE
            else None,
            "first_url": self._url(snapshot, query.params(**one)) if query.after else None,
        }

    def _ask_support_url(self, snapshot: Snapshot, query: PreviewQuery) -> str:
        """A restore request filled in with this snapshot and kind (no dead end: the preview
        leads on to the restore), for accounts whose plan has restore requests."""
        if not self.account.has_feature(Feature.RESTORE_REQUESTS):
            return ""
        params = [
            ("kind", query.kind.value),
            *(("entity_types", e) for e in query.entity_types or []),
            ("snapshot", str(snapshot.pk)),
        ]
        try:
            return f"{reverse('support:request_new')}?{urlencode(params)}"
        except NoReverseMatch:  # the support pages are not routed
            return ""

    @staticmethod
    def _url(snapshot: Snapshot, params: dict) -> str:
        return f"{reverse('backups:preview', args=[snapshot.pk])}?{urlencode(params)}"


class SnapshotTakeView(MemberRequiredMixin, View):
    """``POST /backups/take/``: a snapshot on demand (professional admins, one an hour); back to
    the Backups page, which says what happened."""

    def member_checked(self) -> None:
        admin_require(user=self.request.user)

    def post(self, request, *args, **kwargs):
        try:
            snapshot_on_demand(user=request.user)
        except RuleViolation as violation:
            messages.error(request, violation.message)
        else:
            messages.success(
                request,
                _(
                    "The snapshot is being taken. It appears below in a moment; reload the page "
                    "to see it finished."
                ),
            )
        return redirect("backups:list")


class SnapshotExportView(MemberRequiredMixin, View):
    """``/backups/<id>/export/``: the snapshot as a ZIP of CSV files, streamed (admins)."""

    def member_checked(self) -> None:
        admin_require(user=self.request.user)

    def get(self, request, *args, **kwargs):
        try:
            snapshot = Snapshot.objects.for_account(self.account).get(pk=int(kwargs["pk"]))
        except (Snapshot.DoesNotExist, ValueError, OverflowError):
            raise Http404("No such snapshot in your account.") from None
        try:
            stream = snapshot_export(snapshot=snapshot, actor=request.user)
        except SnapshotInvalid as error:
            return render(
                request,
                "rule_violation.html",
                {"message": error.message, "code": "snapshot_invalid"},
                status=409,
            )
        response = StreamingHttpResponse(stream, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{export_file_name(snapshot)}"'
        response["Cache-Control"] = "no-store"
        return response

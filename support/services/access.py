"""Support looking at an account's data through a restore request. One preview service for
the API, the console and the admin's page: it chooses the snapshot, runs the preview (what a
restore would change now, or what an export holds) and writes the look of support staff into
the account's history (a ``support_access`` event) before the data leaves."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from backups import restore
from backups.models import Snapshot
from backups.moment import moment_preview
from core.errors import RuleViolation
from crm.entities import ENTITIES
from history.models import Event
from history.services import history_record
from support import rules, selectors
from support.models import RequestKind, RestoreRequest, SupportAccess, restore_kind_for
from support.subjects import RESTORE_REQUEST, RequestEvent

# What a preview counts per entity type; ``samples`` name records behind each of them.
PREVIEW_BUCKETS = ("removed", "restored", "reverted")


@dataclass(frozen=True)
class RequestPreview:
    """A request's preview: the snapshot and kind it compares with the account's data now, and
    ``changes``, per entity type, the numbers PREVIEW_BUCKETS (with ``samples``, the records
    behind them, when asked for). An export changes nothing: no ``changes``, its contents are
    the snapshot's counts. ``refusal``: why there is nothing to show (``invalid`` entity types,
    ``outside_retention`` no kept snapshot, ``snapshot_invalid`` one the restore refuses);
    the API answers it as its error, the pages show its sentence."""

    snapshot: Snapshot | None
    kind: str
    entity_types: list[str]
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refusal: RuleViolation | None = None

    @property
    def record_titles(self) -> bool:
        """Whether the preview names records (their titles), not only numbers."""
        return any(
            (numbers.get("samples") or {}).get(bucket)
            for numbers in self.changes.values()
            for bucket in PREVIEW_BUCKETS
        )


def request_preview(
    *,
    request: RestoreRequest,
    user: User,
    via: str,
    snapshot_id: int | None = None,
    kind: str | None = None,
    entity_types: list[str] | None = None,
    snapshots_listed: bool = False,
    samples: int = 0,
) -> RequestPreview:
    """What restoring ``request`` from a snapshot would change now (the API's preview, the
    console's, the admin's page):

    - ``kind``: by default the request's; an unknown one is refused (RuleViolation
      ``invalid``, nothing written);
    - ``entity_types`` (for ``entities``): by default the request's, when the kind is too;
    - ``snapshot_id``: one of the account's kept snapshots; by default the proposed one (while
      it is kept) or, none proposed, the newest kept one taken before the loss
      (``selectors.request_preview_snapshot``);
    - ``samples``: how many records to name behind each number (0: numbers only).

    Support staff looking is written to the account's history first (``support_access_record``,
    ``via`` "api" or "console"): the preview, when there is one, and ``snapshots_listed`` (the
    console lists the account's snapshots beside it). An admin looking at the account's own
    data writes nothing."""
    kind = kind or request.kind
    rules.kind_require(kind=kind)
    if entity_types is None and kind == request.kind:
        entity_types = request.entity_types
    entity_types = list(entity_types or [])
    snapshot = selectors.request_preview_snapshot(request=request, snapshot_id=snapshot_id)
    changes: dict[str, dict[str, Any]] = {}
    try:
        entity_types = rules.kind_clean(kind=kind, entity_types=entity_types)
        if snapshot is None:
            raise RuleViolation(
                code="outside_retention",
                message=_("There is no kept snapshot to preview for this request."),
            )
        if request.restore_to is not None and snapshot_id is None and kind != RequestKind.EXPORT:
            # The proposal is a moment: what restoring to it would change (backups.moment).
            changes = moment_preview(
                account=request.account,
                at=request.restore_to,
                kind=kind,
                entity_types=entity_types or None,
            )["changes"]
        elif kind != RequestKind.EXPORT:
            changes = _changes(
                snapshot=snapshot,
                kind=restore_kind_for(kind),
                entity_types=entity_types,
                samples=samples,
            )
    except RuleViolation as refusal:
        preview = RequestPreview(
            snapshot=snapshot, kind=kind, entity_types=entity_types, refusal=refusal
        )
    else:
        preview = RequestPreview(
            snapshot=snapshot, kind=kind, entity_types=entity_types, changes=changes
        )
    shown = preview.snapshot if preview.refusal is None else None
    if snapshots_listed or shown is not None:
        support_access_record(
            request=request,
            user=user,
            via=via,
            snapshots=snapshots_listed,
            snapshot=shown,
            kind=kind if shown is not None else "",
            entity_types=entity_types if shown is not None else [],
            record_titles=preview.record_titles,
        )
    return preview


def _changes(
    *, snapshot: Snapshot, kind: str, entity_types: list[str], samples: int
) -> dict[str, dict[str, Any]]:
    """backups.restore.preview, a refusal as ``snapshot_invalid``."""
    sampling = restore.Sampling(size=samples) if samples > 0 else None
    try:
        return restore.preview(
            snapshot=snapshot, kind=kind, entity_types=entity_types or None, sampling=sampling
        )
    except restore.RestoreRefused as refused:
        raise RuleViolation(code="snapshot_invalid", message=refused.message) from refused


def support_access_record(
    *,
    request: RestoreRequest,
    user: User,
    via: str,
    snapshots: bool = False,
    snapshot: Snapshot | None = None,
    kind: str = "",
    entity_types: Iterable[str] = (),
    record_titles: bool = False,
) -> Event | None:
    """Write what support staff ``user`` looked at of the request's account into that
    account's history (a ``support_access`` event about the request): the list of its
    snapshots, the preview (or, for an export, the contents) of ``snapshot``, with the titles
    of records or only numbers. One event per person, request and hour (DESIGN.md): the
    hour's first look writes it; every look, and each different thing looked at, is counted
    on its SupportAccess row, which the history shows with it ("12 views"). The pages that
    poll (the progress bar, live updates) show no data and write none. Anyone else (an admin
    previewing the account's own data) writes nothing: returns None. Returns the hour's
    event. Call before the data leaves, so a failed write shows nothing."""
    if not user.is_support:
        return None
    look = {
        "viewed": [
            *(["snapshots"] if snapshots else []),
            *(["preview"] if snapshot is not None else []),
        ],
        "snapshot": snapshot.pk if snapshot is not None else None,
        "kind": kind,
        "entity_types": list(entity_types or []),
        "record_titles": record_titles,
    }
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        # The request's row orders two first looks of the same hour: one event, not two.
        RestoreRequest.objects.select_for_update().filter(pk=request.pk).values("pk").first()
        tally = SupportAccess.objects.filter(request=request, user=user, hour=hour).first()
        if tally is not None:
            looks = tally.looks if look in tally.looks else [*tally.looks, look]
            SupportAccess.objects.filter(pk=tally.pk).update(
                views=F("views") + 1, looks=looks, last_at=now
            )
            return Event.objects.filter(pk=tally.event_id).first()
        parts = ["the list of snapshots"] if snapshots else []
        if snapshot is not None:
            parts.append(_access_preview_words(snapshot, kind, entity_types, record_titles))
        event = history_record(
            account=request.account,
            actor=user,
            event_type=RequestEvent.SUPPORT_ACCESS,
            entity_type=RESTORE_REQUEST,
            entity_id=request.pk,
            title=f"Restore request #{request.pk}: {', '.join(parts) or 'the request'}",
            details={"request": request.pk, "via": via, **look, "hour": hour.isoformat()},
        )
        SupportAccess.objects.create(
            request=request, user=user, hour=hour, event_id=event.pk, looks=[look], last_at=now
        )
    return event


def _access_preview_words(
    snapshot: Snapshot, kind: str, entity_types: Iterable[str], record_titles: bool
) -> str:
    """The stored (English) words for one preview, e.g. ``preview of snapshot #12 (entities:
    contacts, deals; with record titles)``."""
    if kind == RequestKind.EXPORT:
        return f"the contents of snapshot #{snapshot.pk} (export)"
    with translation.override("en"):
        scope = kind + (
            ": " + ", ".join(str(ENTITIES[e].verbose_name_plural) for e in entity_types)
            if kind == RequestKind.ENTITIES and entity_types
            else ""
        )
    if record_titles:
        scope += "; with record titles"
    return f"preview of snapshot #{snapshot.pk} ({scope})"

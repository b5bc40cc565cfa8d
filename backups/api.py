"""The backups REST endpoints (API.md, "Backups"): the account's snapshots, for its admins.
Read-only: the snapshots and the preview of a restore, with the records behind its numbers
(``samples``, and ``preview/records/`` to page through one number), and the export of a
snapshot as a ZIP of CSV files."""

import re

from django.http import StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.rules import admin_require
from backups import restore, selectors
from backups.export import export_file_name, snapshot_export
from backups.kinds import RestoreKind
from backups.models import Snapshot
from backups.moment import moment_preview
from backups.on_demand import snapshot_on_demand
from backups.serializers import SnapshotSerializer
from backups.snapshot_format import SnapshotInvalid
from core.api.filters import MAX_ID, refuse_blank
from core.api.pagination import NewestFirstCursorPagination
from core.api.serializers import ErrorSerializer
from core.errors import RuleViolation

ERROR = OpenApiResponse(ErrorSerializer, description="Refused.")
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class ChangeCountsSerializer(serializers.Serializer):
    removed = serializers.IntegerField(help_text="Exists now, not in the snapshot.")
    restored = serializers.IntegerField(help_text="In the snapshot, gone or in the bin now.")
    reverted = serializers.IntegerField(help_text="In both, different now.")


DEFAULT_SAMPLE_SIZE = 10
MAX_SAMPLE_SIZE = 100
DEFAULT_RECORDS_PAGE_SIZE = 50
MAX_RECORDS_PAGE_SIZE = 200


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's label.")
    now = serializers.CharField(allow_null=True, help_text="Its value now, as text.")
    then = serializers.CharField(
        allow_null=True, help_text="The value the restore puts back (the snapshot's), as text."
    )


class PreviewRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(
        help_text="The record's title (company name, contact's full name, lead or deal title, "
        "activity subject): as it is now for removed and reverted, as the snapshot holds it "
        "for restored."
    )
    changes = FieldChangeSerializer(
        many=True,
        required=False,
        help_text="Reverted records only: the fields that differ, now and what goes back.",
    )


def _record_json(record: restore.PreviewRecord) -> dict:
    """A sampled record as the API answers it (``changes`` for a reverted one)."""
    answer: dict = {"id": record.id, "title": record.title}
    if record.changes:
        answer["changes"] = [
            {"field": label, "now": now, "then": then} for label, now, then in record.changes
        ]
    return answer


# Named apart from Preview.samples itself: client generators name that inline object
# "PreviewSamples" too (openapi-python-client then dropped the whole Preview model).
@extend_schema_serializer(component_name="SampledRecords")
class PreviewSamplesSerializer(serializers.Serializer):
    removed = PreviewRecordSerializer(many=True)
    restored = PreviewRecordSerializer(many=True)
    reverted = PreviewRecordSerializer(many=True)


class PreviewSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=restore.KINDS)
    changes = serializers.DictField(
        child=ChangeCountsSerializer(), help_text="Per entity type (company, contact, ...)."
    )
    samples = serializers.DictField(
        child=PreviewSamplesSerializer(),
        required=False,
        help_text="Per entity type and bucket, the first records behind each number (at most "
        "sample_size, by id); absent with sample_size=0. When a bucket holds more, page on "
        "with preview/records/?entity_type=...&bucket=...&after=<the last id>.",
    )


class PreviewRecordsSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=restore.KINDS)
    entity_type = serializers.ChoiceField(choices=list(restore.ENTITY_TABLES))
    bucket = serializers.ChoiceField(choices=restore.BUCKETS)
    count = serializers.IntegerField(help_text="How many records the bucket holds in all.")
    results = PreviewRecordSerializer(many=True, help_text="By id, after the ``after`` id.")
    next = serializers.URLField(
        allow_null=True, help_text="The next page (ids after the last one here), or null."
    )


class WholeNumberField(serializers.IntegerField):
    """A query parameter's whole number as the schema writes one (DRF's also takes "5.0")."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(r"-?[0-9]+", data):
            self.fail("invalid")
        return super().to_internal_value(data)


ENTITY_TYPES_MESSAGE = _("Choose among company, contact, lead, deal, activity.")


class _PreviewQuerySerializer(serializers.Serializer):
    """The query parameters of a preview (an invalid one answers 400)."""

    kind = serializers.ChoiceField(
        choices=restore.KINDS,
        default=RestoreKind.FULL.value,
        error_messages={"invalid_choice": _("Choose one of full, entities, recover.")},
    )
    entity_types = serializers.CharField(required=False, default=None)

    def validate_entity_types(self, value: str | None) -> list[str]:
        types = [t.strip() for t in (value or "").split(",")]
        if value is not None and (not all(types) or not set(types) <= set(restore.ENTITY_TABLES)):
            raise serializers.ValidationError(ENTITY_TYPES_MESSAGE, code="invalid")
        return types if value is not None else []

    def validate(self, data: dict) -> dict:
        if data["kind"] == RestoreKind.ENTITIES and not data["entity_types"]:
            # A rule across two parameters, which a schema cannot state: its own code.
            raise serializers.ValidationError(
                {"entity_types": [ENTITY_TYPES_MESSAGE]}, code="entity_types_needed"
            )
        return data


class PreviewQuerySerializer(_PreviewQuerySerializer):
    sample_size = WholeNumberField(
        default=DEFAULT_SAMPLE_SIZE, min_value=0, max_value=MAX_SAMPLE_SIZE
    )


class PreviewRecordsQuerySerializer(_PreviewQuerySerializer):
    entity_type = serializers.ChoiceField(choices=list(restore.ENTITY_TABLES))
    bucket = serializers.ChoiceField(choices=restore.BUCKETS)
    after = WholeNumberField(default=0, min_value=0, max_value=MAX_ID)
    page_size = WholeNumberField(
        default=DEFAULT_RECORDS_PAGE_SIZE, min_value=1, max_value=MAX_RECORDS_PAGE_SIZE
    )

    def validate(self, data: dict) -> dict:
        data = super().validate(data)
        if data["kind"] == RestoreKind.ENTITIES and data["entity_type"] not in data["entity_types"]:
            raise serializers.ValidationError(
                {"entity_type": [_("Choose one of the entity types of the preview.")]},
                code="entity_type_outside",  # across two parameters, as entity_types_needed
            )
        return data


KIND_PARAMETERS = [
    OpenApiParameter("kind", OpenApiTypes.STR, enum=[*restore.KINDS], description="Default full."),
    OpenApiParameter(
        "entity_types",
        {"type": "array", "items": {"type": "string", "enum": [*restore.ENTITY_TABLES]}},
        explode=False,
        style="form",
        description="Needed for kind=entities (entity_types_needed): comma-separated, e.g. "
        "company,contact.",
    ),
]


def export_response(*, snapshot: Snapshot, actor) -> StreamingHttpResponse:
    """The ZIP as a streamed download; 409 ``snapshot_invalid`` before the first byte if the
    file does not verify. (The API's and the Backups page's download.)"""
    try:
        stream = snapshot_export(snapshot=snapshot, actor=actor)
    except SnapshotInvalid as error:
        raise RuleViolation(code="snapshot_invalid", message=error.message) from error
    response = StreamingHttpResponse(stream, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export_file_name(snapshot)}"'
    response["Cache-Control"] = "no-store"
    return response


class NewestSnapshotFirstPagination(NewestFirstCursorPagination):
    ordering = "-taken_at"


@extend_schema(tags=["backups"])
class SnapshotViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The account's snapshots (account admins only), and one taken on demand."""

    queryset = Snapshot.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = SnapshotSerializer
    pagination_class = NewestSnapshotFirstPagination
    filter_backends: list = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        admin_require(user=request.user)

    def get_queryset(self):
        return selectors.snapshots_for_account(account=self.request.user.account)

    def get_object(self) -> Snapshot:
        return selectors.snapshot_get(
            account=self.request.user.account, snapshot_id=self.kwargs["pk"]
        )

    @extend_schema(
        summary="List the account's snapshots, newest first (admins only)",
        responses={200: SnapshotSerializer(many=True), 403: ERROR},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Take a snapshot now (professional admins; one an hour)",
        description="A ``manual`` snapshot of the account, taken by a worker: answers at once "
        "with the snapshot (status ``pending``); poll ``GET .../snapshots/{id}/`` until it is "
        "``succeeded`` (or ``failed``); it is drilled like every snapshot. A second one within "
        "the hour after the last answers ``429 snapshot_recent`` with ``Retry-After``.",
        request=None,
        responses={202: SnapshotSerializer, 403: ERROR, 429: ERROR},
    )
    def create(self, request, *args, **kwargs):
        snapshot = snapshot_on_demand(user=request.user)
        data = SnapshotSerializer(snapshot).data
        location = reverse("snapshot-detail", args=[snapshot.pk], request=request)
        return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        summary="Get a snapshot (admins only)",
        parameters=[ID_PARAMETER],
        responses={200: SnapshotSerializer, 403: ERROR, 404: ERROR},
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="What a restore from this snapshot would change now (admins only)",
        description="Per entity type: how many records the restore would remove (exist now, "
        "not in the snapshot), restore (in the snapshot, gone or in the bin now) and revert "
        "(in both, different now), and the first records behind each number (``samples``).",
        parameters=[
            ID_PARAMETER,
            *KIND_PARAMETERS,
            OpenApiParameter(
                "sample_size",
                {"type": "integer", "minimum": 0, "maximum": MAX_SAMPLE_SIZE},
                description=f"Records named per entity type and bucket, by id: default "
                f"{DEFAULT_SAMPLE_SIZE}, at most {MAX_SAMPLE_SIZE}; 0 leaves ``samples`` out.",
            ),
        ],
        responses={200: PreviewSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def preview(self, request, *args, **kwargs):
        snapshot = self.get_object()
        refuse_blank(request, PreviewQuerySerializer().fields)  # a form's "" would mean absent
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        size = params["sample_size"]
        changes = self._preview(snapshot, params, restore.Sampling(size=size) if size else None)
        body = {
            "kind": params["kind"],
            "changes": {
                entity_type: {bucket: numbers[bucket] for bucket in restore.BUCKETS}
                for entity_type, numbers in changes.items()
            },
        }
        if size:
            body["samples"] = {
                entity_type: {
                    bucket: [_record_json(record) for record in records]
                    for bucket, records in numbers["samples"].items()
                }
                for entity_type, numbers in changes.items()
            }
        return Response(body)

    @extend_schema(
        summary="Page through the records behind one number of the preview (admins only)",
        description="The records one bucket of one entity type holds, by id: pass the last id "
        "of a page as ``after`` for the next one (or follow ``next``).",
        parameters=[
            ID_PARAMETER,
            *KIND_PARAMETERS,
            OpenApiParameter(
                "entity_type",
                OpenApiTypes.STR,
                enum=[*restore.ENTITY_TABLES],
                required=True,
                description="With kind=entities, one of entity_types (entity_type_outside).",
            ),
            OpenApiParameter("bucket", OpenApiTypes.STR, enum=[*restore.BUCKETS], required=True),
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                description="Only ids above this one. Default 0.",
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_RECORDS_PAGE_SIZE},
                description=f"Default {DEFAULT_RECORDS_PAGE_SIZE}, at most "
                f"{MAX_RECORDS_PAGE_SIZE}.",
            ),
        ],
        responses={
            200: PreviewRecordsSerializer,
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
    )
    @action(detail=True, methods=["get"], url_path="preview/records", pagination_class=None)
    def preview_records(self, request, *args, **kwargs):
        snapshot = self.get_object()
        refuse_blank(request, PreviewRecordsQuerySerializer().fields)
        query = PreviewRecordsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        entity_type, bucket, size = params["entity_type"], params["bucket"], params["page_size"]
        sampling = restore.Sampling(
            size=size + 1, entity_type=entity_type, bucket=bucket, after=params["after"]
        )
        numbers = self._preview(snapshot, params, sampling)[entity_type]
        records = numbers["samples"][bucket]
        next_url = None
        if len(records) > size:
            records = records[:size]
            next_url = replace_query_param(request.build_absolute_uri(), "after", records[-1].id)
        return Response(
            {
                "kind": params["kind"],
                "entity_type": entity_type,
                "bucket": bucket,
                "count": numbers[bucket],
                "results": [_record_json(record) for record in records],
                "next": next_url,
            }
        )

    @extend_schema(
        summary="Download the snapshot as a ZIP of CSV files, one per entity type (admins only)",
        description="Streamed: companies, contacts, leads, deals, activities and bin entries, "
        "UTF-8 with a header row, ids and links, times in ISO 8601, amounts as plain decimals; "
        "``snapshot.json`` describes the files. Each download is an ``export`` history event.",
        parameters=[ID_PARAMETER],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY),
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def export(self, request, *args, **kwargs):
        return export_response(snapshot=self.get_object(), actor=request.user)

    @staticmethod
    def _preview(snapshot: Snapshot, params: dict, sampling) -> dict:
        try:
            return restore.preview(
                snapshot=snapshot,
                kind=params["kind"],
                entity_types=params["entity_types"],
                sampling=sampling,
            )
        except restore.RestoreRefused as error:
            raise RuleViolation(code="snapshot_invalid", message=error.message) from error


class MomentQuerySerializer(_PreviewQuerySerializer):
    at = serializers.DateTimeField(help_text="The moment, ISO 8601 with its offset.")


class MomentPreviewSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=restore.KINDS)
    at = serializers.DateTimeField()
    base_snapshot = serializers.IntegerField(
        help_text="The newest kept snapshot taken at or before the moment: the window reaches "
        "back that far."
    )
    changes = serializers.DictField(child=ChangeCountsSerializer())


class MomentPreviewView(APIView):
    """What a restore to a moment would change now (account admins)."""

    @extend_schema(
        tags=["backups"],
        summary="What a restore to a moment would change now (admins only)",
        operation_id="backups_preview_at",
        description="Per entity type, as a snapshot's preview: records the restore would remove "
        "(exist now, not at the moment), restore (existed then, gone or in the bin now) and "
        "revert (in both, different now). 400 outside_retention for a moment in the future or "
        "before the oldest kept snapshot.",
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                required=True,
                description="ISO 8601 with its offset, e.g. 2026-12-06T13:59:00+01:00.",
            ),
            *KIND_PARAMETERS,
        ],
        responses={200: MomentPreviewSerializer, 400: ERROR, 403: ERROR},
    )
    def get(self, request):
        admin_require(user=request.user)
        refuse_blank(request, MomentQuerySerializer().fields)
        query = MomentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        body = moment_preview(
            account=request.user.account,
            at=params["at"],
            kind=params["kind"],
            entity_types=params["entity_types"] or None,
        )
        return Response(MomentPreviewSerializer(body).data)

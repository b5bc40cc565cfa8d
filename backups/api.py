"""The backups REST endpoints (API.md, "Backups"): the account's snapshots, for its admins.
Read-only: the snapshots and the preview of a restore; export comes later."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.rules import admin_require
from backups import restore, selectors
from backups.models import Snapshot
from backups.serializers import SnapshotSerializer
from config.api.pagination import NewestFirstCursorPagination
from recyclebin.serializers import ErrorSerializer

ERROR = OpenApiResponse(ErrorSerializer, description="Refused.")
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class ChangeCountsSerializer(serializers.Serializer):
    removed = serializers.IntegerField(help_text="Exists now, not in the snapshot.")
    restored = serializers.IntegerField(help_text="In the snapshot, gone or in the bin now.")
    reverted = serializers.IntegerField(help_text="In both, different now.")


class PreviewSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=restore.KINDS)
    changes = serializers.DictField(
        child=ChangeCountsSerializer(), help_text="Per entity type (company, contact, ...)."
    )


class SnapshotUnusable(exceptions.APIException):
    status_code = 409
    default_code = "snapshot_invalid"
    default_detail = "The snapshot cannot be used."


class NewestSnapshotFirstPagination(NewestFirstCursorPagination):
    ordering = "-taken_at"


@extend_schema(tags=["backups"])
class SnapshotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The account's usable snapshots (account admins only)."""

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
        summary="Get a snapshot (admins only)",
        parameters=[ID_PARAMETER],
        responses={200: SnapshotSerializer, 403: ERROR, 404: ERROR},
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="What a restore from this snapshot would change now (admins only)",
        parameters=[
            ID_PARAMETER,
            OpenApiParameter(
                "kind", OpenApiTypes.STR, enum=[*restore.KINDS], description="Default full."
            ),
            OpenApiParameter(
                "entity_types",
                OpenApiTypes.STR,
                description="For kind=entities: comma-separated, e.g. company,contact.",
            ),
        ],
        responses={200: PreviewSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def preview(self, request, *args, **kwargs):
        snapshot = self.get_object()
        kind = request.query_params.get("kind", "full")
        if kind not in restore.KINDS:
            raise exceptions.ValidationError(
                {"kind": [f"Choose one of {', '.join(restore.KINDS)}."]}
            )
        entity_types = [
            t.strip() for t in request.query_params.get("entity_types", "").split(",") if t.strip()
        ]
        if kind == "entities" and (
            not entity_types or not set(entity_types) <= set(restore.ENTITY_TABLES)
        ):
            raise exceptions.ValidationError(
                {"entity_types": [f"Choose among {', '.join(restore.ENTITY_TABLES)}."]}
            )
        try:
            changes = restore.preview(snapshot=snapshot, kind=kind, entity_types=entity_types)
        except restore.RestoreRefused as error:
            raise SnapshotUnusable(error.message) from error
        return Response({"kind": kind, "changes": changes})

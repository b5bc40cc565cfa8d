"""The backups REST endpoints (API.md, "Backups"): the account's snapshots, for its admins.
Read-only in this slice; preview and export come with the restore engine."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets

from accounts.rules import admin_require
from backups import selectors
from backups.models import Snapshot
from backups.serializers import SnapshotSerializer
from config.api.pagination import NewestFirstCursorPagination
from recyclebin.serializers import ErrorSerializer

ERROR = OpenApiResponse(ErrorSerializer, description="Refused.")
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


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

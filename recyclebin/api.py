"""The recycle bin's REST endpoints (API.md, "Recycle bin"): thin views over
recyclebin.selectors and recyclebin.services. The rules (plan, admins only, maintenance, an
activity whose parent is in another entry) are the services'; the API's exception handler turns
them into ``{detail, code}``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework import status as http
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from core.api.filters import LIST_FILTERS
from core.api.serializers import ErrorSerializer
from core.errors import RuleViolation
from recyclebin import selectors, services
from recyclebin.filters import BinEntryFilter
from recyclebin.models import BinEntry, RestoreJob
from recyclebin.serializers import (
    BinEntrySerializer,
    BulkRestoreSerializer,
    PurgeResultSerializer,
    PurgeSerializer,
    RestoreJobSerializer,
    RestoreResultSerializer,
    RestoreSerializer,
)

ERROR = OpenApiResponse(ErrorSerializer, description="Refused; nothing changed.")
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
JOB_ID_PARAMETER = OpenApiParameter("job_id", OpenApiTypes.INT, OpenApiParameter.PATH)
JOB_LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    response=[202],
    description="The restore job: GET it for its progress.",
)


@extend_schema(tags=["recycle bin"])
class BinEntryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The account's recycle bin: admins see every entry, employees what they deleted."""

    queryset = BinEntry.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = BinEntrySerializer
    filter_backends = LIST_FILTERS
    filterset_class = BinEntryFilter
    ordering_fields = ("deleted_at", "title", "purge_after", "item_count", "id")

    def handle_exception(self, exc):
        # The bin's 404s say which entries were not found (a bulk call names the ids); keep
        # that sentence rather than a bare "Not found.". Missing and another account's ids
        # read the same.
        if isinstance(exc, RuleViolation) and exc.code == "not_found":
            exc = NotFound(exc.message, code="not_found")
        return super().handle_exception(exc)

    def get_queryset(self):
        return selectors.bin_entries_visible(user=self.request.user)

    def get_object(self) -> BinEntry:
        return selectors.bin_entry_get(user=self.request.user, entry_id=self.kwargs["pk"])

    @extend_schema(summary="List the recycle bin, newest first")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a recycle bin entry", parameters=[ID_PARAMETER])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Delete an entry permanently (admins only)",
        parameters=[ID_PARAMETER],
        responses={204: None, 403: ERROR, 404: ERROR, 503: ERROR},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance: BinEntry) -> None:
        user = self.request.user
        services.bin_purge(account=user.account, entry_ids=[instance.pk], actor=user)

    @extend_schema(
        summary="Restore an entry (paid plans)",
        operation_id="recyclebin_restore",
        parameters=[ID_PARAMETER],
        request=RestoreSerializer,
        responses={200: RestoreResultSerializer, 403: ERROR, 404: ERROR, 409: ERROR, 503: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="restore", url_name="restore")
    def restore(self, request, pk=None):
        entry = self.get_object()
        body = RestoreSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.bin_restore(
            account=request.user.account,
            entry_ids=[entry.pk],
            actor=request.user,
            together=body.validated_data["together"],
        )
        return Response(RestoreResultSerializer(result).data)

    @extend_schema(
        summary="Restore many entries (paid plans), by ids or by the list's filters",
        operation_id="recyclebin_bulk_restore",
        description="All or nothing: an id not in the caller's bin answers 404 and nothing "
        "changes. A filter that matches nothing answers 400. Up to BIN_RESTORE_JOB_THRESHOLD "
        "(1000) entries are restored at once (200); more (up to 100,000) run as a restore job "
        "in the background: 202 with the job, its address in Location. The rules are checked "
        "before the job is created (nothing changes when refused), and again for each chunk "
        "it restores. One job per account at a time: 409 invalid_state while one runs.",
        request=BulkRestoreSerializer,
        parameters=[JOB_LOCATION],
        responses={
            200: RestoreResultSerializer,
            202: OpenApiResponse(RestoreJobSerializer, description="Restoring in a job."),
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    @action(detail=False, methods=["post"], url_path="restore", url_name="bulk-restore")
    def bulk_restore(self, request):
        body = BulkRestoreSerializer(data=request.data, context={"entries": self.get_queryset()})
        body.is_valid(raise_exception=True)
        started = services.bin_restore_bulk(
            account=request.user.account,
            entry_ids=body.validated_data["ids"],
            actor=request.user,
            together=body.validated_data["together"],
        )
        if isinstance(started, RestoreJob):
            data = RestoreJobSerializer(started, context={"request": request}).data
            return Response(data, status=http.HTTP_202_ACCEPTED, headers={"Location": data["url"]})
        return Response(RestoreResultSerializer(started).data)

    @extend_schema(
        summary="List the restore jobs, newest first",
        operation_id="recyclebin_jobs_list",
        description="Bulk restores running (or run) in the background. Admins see the "
        "account's, employees their own.",
        responses={200: RestoreJobSerializer(many=True)},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="jobs",
        url_name="jobs",
        serializer_class=RestoreJobSerializer,
        filter_backends=[],
    )
    def jobs(self, request):
        page = self.paginate_queryset(selectors.restore_jobs_visible(user=request.user))
        data = RestoreJobSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Get a restore job: its status and progress",
        operation_id="recyclebin_jobs_retrieve",
        parameters=[JOB_ID_PARAMETER],
        responses={200: RestoreJobSerializer, 404: ERROR},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path=r"jobs/(?P<job_id>[^/.]+)",
        url_name="job-detail",
        serializer_class=RestoreJobSerializer,
        filter_backends=[],
        pagination_class=None,
    )
    def job_detail(self, request, job_id=None):
        job = selectors.restore_job_get(user=request.user, job_id=job_id)
        return Response(RestoreJobSerializer(job, context={"request": request}).data)

    @extend_schema(
        summary="Delete many entries permanently (admins only)",
        operation_id="recyclebin_bulk_purge",
        description="All or nothing: an id not in the bin answers 404 and nothing changes.",
        request=PurgeSerializer,
        responses={200: PurgeResultSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 503: ERROR},
    )
    @action(detail=False, methods=["post"], url_path="purge", url_name="bulk-purge")
    def bulk_purge(self, request):
        body = PurgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        purged = services.bin_purge(
            account=request.user.account,
            entry_ids=body.validated_data["ids"],
            actor=request.user,
        )
        return Response(PurgeResultSerializer({"purged": purged}).data)

    @extend_schema(
        summary="Empty the recycle bin (admins only)",
        operation_id="recyclebin_empty",
        request=None,
        responses={200: PurgeResultSerializer, 403: ERROR, 503: ERROR},
    )
    @action(detail=False, methods=["post"], url_path="empty", url_name="empty")
    def empty(self, request):
        purged = services.bin_empty(account=request.user.account, actor=request.user)
        return Response(PurgeResultSerializer({"purged": purged}).data)

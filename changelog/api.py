"""The revert's REST endpoints (API.md, "Change log"): ``POST /api/v1/history/revert/`` and
``GET /api/v1/history/revert/jobs/{id}/``. Thin over changelog.revert and changelog.jobs."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework import status as http
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.rules import admin_require
from changelog import alerts, jobs, revert, selectors
from changelog.models import Alert, RevertJob
from changelog.serializers import (
    AlertSerializer,
    AlertSettingsSerializer,
    RevertJobSerializer,
    RevertResultSerializer,
    RevertSerializer,
    RevertStartedSerializer,
)
from core.api.serializers import ErrorSerializer

ERROR = OpenApiResponse(ErrorSerializer, description="Refused; nothing changed.")


class RevertView(APIView):
    @extend_schema(
        tags=["history"],
        summary="Undo changes from the history (basic plan and up)",
        operation_id="history_revert",
        description="Select changes by the history's filters or by event ids; `dry_run` says "
        "what would change. Each field goes back to its value before the first selected "
        "change; a create goes to the bin, a delete comes back. A field that a later change "
        "outside the selection touched is a conflict, left as it is unless `force` (admins). "
        "Employees may select only their own changes (403 own_only). More records than "
        "REVERT_JOB_THRESHOLD (1000) run as a job: 202.",
        request=RevertSerializer,
        responses={
            200: RevertResultSerializer,
            202: OpenApiResponse(RevertStartedSerializer, description="Reverting in a job."),
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
            503: ERROR,
        },
    )
    def post(self, request):
        body = RevertSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = request.user
        event_ids = revert.revert_selection(
            account=user.account,
            actor=user,
            filters=data.get("filter"),
            event_ids=data.get("events"),
        )
        if data["dry_run"]:
            plan = revert.revert_preview(account=user.account, actor=user, event_ids=event_ids)
            return Response(RevertResultSerializer(plan.summary(force=data["force"])).data)
        started = jobs.revert_start(
            account=user.account, actor=user, event_ids=event_ids, force=data["force"]
        )
        if isinstance(started, RevertJob):
            job = RevertJobSerializer(started, context={"request": request}).data
            return Response(
                {"job": job}, status=http.HTTP_202_ACCEPTED, headers={"Location": job["url"]}
            )
        return Response(RevertResultSerializer(started.summary(force=data["force"])).data)


class RevertJobView(APIView):
    @extend_schema(
        tags=["history"],
        summary="Get a revert job: its status and progress",
        operation_id="history_revert_job",
        parameters=[OpenApiParameter("job_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: RevertJobSerializer, 404: ERROR},
    )
    def get(self, request, job_id: int):
        job = selectors.revert_job_get(user=request.user, job_id=job_id)
        return Response(RevertJobSerializer(job, context={"request": request}).data)


@extend_schema(tags=["alerts"])
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Mass deletions and changes detected in the account (account admins; professional)."""

    queryset = Alert.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = AlertSerializer
    filter_backends: list = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        admin_require(user=request.user)

    def get_queryset(self):
        return selectors.alerts_for_account(account=self.request.user.account)

    @extend_schema(
        summary="List the alerts, newest first",
        responses={200: AlertSerializer(many=True), 403: ERROR},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Get an alert",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={200: AlertSerializer, 403: ERROR, 404: ERROR},
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Acknowledge an alert (it leaves the banner; the history keeps it)",
        operation_id="alerts_acknowledge",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        request=None,
        responses={200: AlertSerializer, 403: ERROR, 404: ERROR},
    )
    @action(detail=True, methods=["post"], url_path="acknowledge", url_name="acknowledge")
    def acknowledge(self, request, pk=None):
        alert = alerts.alert_acknowledge(alert=self.get_object(), user=request.user)
        return Response(AlertSerializer(alert).data)


class AlertSettingsView(APIView):
    """The account's alert thresholds (account admins)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        admin_require(user=request.user)

    @extend_schema(
        tags=["alerts"],
        summary="The account's alert thresholds",
        operation_id="alerts_settings",
        responses={200: AlertSettingsSerializer, 403: ERROR},
    )
    def get(self, request):
        return Response(AlertSettingsSerializer(alerts.alert_settings(request.user.account)).data)

    @extend_schema(
        tags=["alerts"],
        summary="Change the account's alert thresholds",
        operation_id="alerts_settings_update",
        request=AlertSettingsSerializer,
        responses={200: AlertSettingsSerializer, 400: ERROR, 403: ERROR},
    )
    def put(self, request):
        body = AlertSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        saved = alerts.alert_settings_save(
            account=request.user.account, user=request.user, **body.validated_data
        )
        return Response(AlertSettingsSerializer(saved).data)

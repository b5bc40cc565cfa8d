"""The revert's REST endpoints (API.md, "Change log"): ``POST /api/v1/history/revert/`` and
``GET /api/v1/history/revert/jobs/{id}/``. Thin over changelog.revert and changelog.jobs."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.response import Response
from rest_framework.views import APIView

from changelog import jobs, revert, selectors
from changelog.models import RevertJob
from changelog.serializers import (
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

"""The history's REST endpoints (API.md, "History"): read-only, any write answers 405."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets

from core.api.filters import LIST_FILTERS
from history import selectors
from history.filters import EventFilter
from history.models import Event
from history.serializers import EventSerializer
from history.subjects import EventTypeChoices


@extend_schema(tags=["history"])
class EventViewSet(viewsets.ReadOnlyModelViewSet):
    """The account's history of changes."""

    queryset = Event.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = EventSerializer
    filter_backends = LIST_FILTERS
    filterset_class = EventFilter
    ordering_fields = ("id", "occurred_at")

    def get_queryset(self):
        user = self.request.user
        return selectors.events_visible(account=user.account, user=user)

    @extend_schema(
        summary="List the history, newest first",
        parameters=[
            OpenApiParameter(
                "event_type",
                {
                    "type": "array",
                    "items": {"type": "string", "enum": [value for value, _ in EventTypeChoices()]},
                },
                explode=False,
                style="form",
                description="One or more kinds of event, comma-separated (or the parameter "
                "repeated): create, update, delete, restore, purge, rollback, recover, the "
                "restore requests' steps (request_filed ... request_cancelled), export (a "
                "snapshot downloaded), support_access (the vendor's support staff looked at the "
                "account's data), and the others listed here.",
            )
        ],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Get a history event",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

"""The support API (API.md, "Support: restore requests"): thin views over support.selectors
and support.services. Support staff use only these endpoints (every other one refuses them
with ``account_required``); here they see every account's requests.

Who may call what, checked before any id is looked at (so a refusal never tells whether a
request exists):

- filing, confirming, cancelling: account admins (others: ``403 admin_only``);
- proposing, approving, rejecting: support staff (others: ``403 support_only``);
- reading requests, their chat and preview, writing in the chat, notifications: account
  admins (their account's requests; another account's answers 404) and support staff (all).
  Employees get ``403 admin_only`` on every support endpoint, reads included: a restore
  request is an account-wide decision between the admins and support."""

from typing import cast
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from accounts.permissions import SecondFactorVerified
from accounts.rules import admin_require
from backups.models import Snapshot
from backups.selectors import entity_counts
from core.api.filters import LIST_FILTERS
from core.api.pagination import NewestFirstCursorPagination
from core.errors import RuleViolation
from support import rules, selectors, services
from support.filters import NotificationFilter, RestoreRequestFilter
from support.models import Notification, RequestKind, RequestStatus, RestoreRequest
from support.serializers import (
    MarkedSerializer,
    MarkReadSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    NotificationSerializer,
    ProposeSerializer,
    RejectSerializer,
    RequestPreviewSerializer,
    RestoreRequestCreateSerializer,
    RestoreRequestSerializer,
    UnreadSerializer,
)

# Not the API's default (IsAccountMember: support staff have no account). Support staff must
# have given their second factor (a token issued with a code, or a verified session); admins
# only when their account requires it: 403 otp_required otherwise.
SUPPORT_PERMISSIONS = [IsAuthenticated, SecondFactorVerified]
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
SUPPORT_ACTIONS = frozenset({"propose", "approve", "reject"})
ADMIN_ACTIONS = frozenset({"create", "confirm", "cancel"})


def _role_check(view) -> None:
    user = view.request.user
    if view.action in SUPPORT_ACTIONS:
        rules.support_require(user=user)
    elif view.action in ADMIN_ACTIONS:
        admin_require(user=user)
    else:
        rules.participant_require(user=user)


class ChatPagination(NewestFirstCursorPagination):
    """The chat, newest first; ``?ordering=id`` (or ``created_at``) oldest first."""

    def get_ordering(self, request, queryset, view):
        if request.query_params.get("ordering") in ("id", "created_at"):
            return ("id",)
        return ("-id",)


@extend_schema(tags=["support"])
class RestoreRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Restore requests: an account admin's, or (for support staff) every account's."""

    queryset = RestoreRequest.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = RestoreRequestSerializer
    permission_classes = SUPPORT_PERMISSIONS
    filter_backends = LIST_FILTERS
    filterset_class = RestoreRequestFilter
    ordering_fields = ("id", "created_at", "updated_at", "lost_at")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        _role_check(self)

    def get_queryset(self):
        return selectors.requests_visible(user=self.request.user).select_related(
            "requested_by", "proposed_by", "confirmed_by", "approved_by"
        )

    def get_object(self) -> RestoreRequest:
        return selectors.request_get(user=self.request.user, request_id=self.kwargs["pk"])

    def _answer(self, restore_request: RestoreRequest, code: int = status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=restore_request.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(
        summary="List restore requests, newest first",
        description="Account admins: their account's. Support staff: every account's "
        "(filter with ?account=). ?status= takes a comma list.",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a restore request", parameters=[ID_PARAMETER])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="File a restore request (account admins)",
        description="Refused with 403 admin_only, 403 plan_not_eligible, 409 request_open, "
        "409 weekly_limit (full and entities only, one per 7 days; recover, export and undo "
        "never), 409 nothing_to_undo (kind undo: no completed restore within 48 hours), 400 "
        "outside_retention; nothing is written then. Kind undo goes back to the latest "
        "completed restore's safety snapshot and needs no lost_at.",
        request=RestoreRequestCreateSerializer,
        responses={201: RestoreRequestSerializer},
    )
    def create(self, request, *args, **kwargs):
        user = request.user
        rules.plan_includes_require(account=user.account)
        with timezone.override(ZoneInfo(user.account.time_zone)):
            body = RestoreRequestCreateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
        created = services.request_file(user=user, **body.validated_data)
        return self._answer(created, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Propose a snapshot, or a moment, and kind (support staff)",
        description="While open or proposed (a new proposal replaces the last one). With "
        "``at`` instead of ``snapshot``: the account as it was at that moment (kinds full, "
        "entities, recover); the request then shows ``restore_to``.",
        parameters=[ID_PARAMETER],
        request=ProposeSerializer,
        responses={200: RestoreRequestSerializer},
    )
    @action(detail=True, methods=["post"])
    def propose(self, request, pk=None):
        restore_request = self.get_object()
        body = ProposeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        rules.state_require(
            request=restore_request,
            allowed=(RequestStatus.OPEN, RequestStatus.PROPOSED),
            action=_("proposed"),
        )
        snapshot = None
        if "snapshot" in data:
            snapshot = (
                selectors.snapshots_within_retention(account=restore_request.account)
                .filter(pk=data["snapshot"])
                .first()
            )
            if snapshot is None:
                raise RuleViolation(
                    code="outside_retention",
                    message=_(
                        "Snapshot #%(id)s is not one of the account's kept, finished snapshots."
                    )
                    % {"id": data["snapshot"]},
                )
        proposed = services.request_propose(
            request=restore_request,
            user=request.user,
            snapshot=snapshot,
            kind=data.get("kind"),
            entity_types=data.get("entity_types"),
            at=data.get("at"),
        )
        return self._answer(proposed)

    @extend_schema(
        summary="Confirm the proposal (account admins)",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: RestoreRequestSerializer},
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        restore_request = self.get_object()
        return self._answer(services.request_confirm(request=restore_request, user=request.user))

    @extend_schema(
        summary="Approve a confirmed request: the restore is queued (support staff)",
        description="An export is not queued: it completes at once (no weekly limit, nothing "
        "changed) and the account's admins are notified with its download link.",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: RestoreRequestSerializer},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        restore_request = self.get_object()
        return self._answer(services.request_approve(request=restore_request, user=request.user))

    @extend_schema(
        summary="Reject a request before it is queued (support staff)",
        parameters=[ID_PARAMETER],
        request=RejectSerializer,
        responses={200: RestoreRequestSerializer},
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        restore_request = self.get_object()
        body = RejectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(
            services.request_reject(
                request=restore_request, user=request.user, reason=body.validated_data["reason"]
            )
        )

    @extend_schema(
        summary="Cancel a request before it is queued (account admins)",
        parameters=[ID_PARAMETER],
        request=None,
        responses={200: RestoreRequestSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        restore_request = self.get_object()
        return self._answer(services.request_cancel(request=restore_request, user=request.user))

    @extend_schema(
        methods=["GET"],
        summary="The request's chat, newest first (?ordering=id: oldest first)",
        parameters=[
            ID_PARAMETER,
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=["-id", "id"]),
        ],
        responses={200: MessageSerializer(many=True)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Write in the request's chat",
        parameters=[ID_PARAMETER],
        request=MessageCreateSerializer,
        responses={201: MessageSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=ChatPagination,
        filter_backends=[],
    )
    def messages(self, request, pk=None):
        restore_request = self.get_object()
        if request.method == "POST":
            body = MessageCreateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            message = services.message_post(
                request=restore_request, user=request.user, body=body.validated_data["body"]
            )
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
        chat = selectors.messages_for(request=restore_request)
        page = self.paginate_queryset(chat)
        context = {"account": restore_request.account}
        return self.get_paginated_response(MessageSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="What the proposed restore (or another snapshot and kind) would change now",
        description="Defaults: the proposed snapshot (else the newest kept one taken before "
        "the loss) and the request's kind. For an export: no changes, the rows the ZIP holds. "
        "Support staff reading it write a support_access event to the account's history.",
        parameters=[
            ID_PARAMETER,
            OpenApiParameter("snapshot", OpenApiTypes.INT),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=RequestKind.values),
            OpenApiParameter(
                "entity_types", OpenApiTypes.STR, description="For kind=entities: comma list."
            ),
        ],
        responses={200: RequestPreviewSerializer},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def preview(self, request, pk=None):
        restore_request = self.get_object()
        params = request.query_params
        query = ProposeSerializer(
            data={
                key: value
                for key, value in {
                    "snapshot": params.get("snapshot"),
                    "kind": params.get("kind"),
                    "entity_types": [
                        t.strip() for t in params.get("entity_types", "").split(",") if t.strip()
                    ]
                    or None,
                }.items()
                if value is not None
            }
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        preview = services.request_preview(
            request=restore_request,
            user=request.user,
            via="api",
            snapshot_id=data.get("snapshot"),
            kind=data.get("kind"),
            entity_types=data.get("entity_types"),
        )
        if preview.refusal is not None:
            if preview.refusal.code == "snapshot_invalid":  # the restore refuses the snapshot
                raise RuleViolation(
                    code="snapshot_invalid", message=preview.refusal.message
                ) from preview.refusal
            raise preview.refusal
        snapshot = cast(Snapshot, preview.snapshot)  # previewed: no refusal
        body = {
            "snapshot": snapshot.pk,
            "kind": preview.kind,
            "entity_types": preview.entity_types,
        }
        if preview.kind == RequestKind.EXPORT:
            body |= {"changes": {}, "rows": entity_counts(snapshot)}
        else:
            body["changes"] = preview.changes
        return Response(body)


@extend_schema(tags=["support"])
class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's notifications about restore requests, newest first (admins, support)."""

    queryset = Notification.objects.none()  # for the schema; requests use get_queryset()
    serializer_class = NotificationSerializer
    permission_classes = SUPPORT_PERMISSIONS
    filter_backends = LIST_FILTERS
    filterset_class = NotificationFilter
    ordering_fields = ("id", "created_at")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        rules.participant_require(user=request.user)

    def get_queryset(self):
        notifications = selectors.notifications_for(user=self.request.user)
        return notifications.select_related("request__account")

    @extend_schema(summary="List your notifications, newest first (?unread=true: unread only)")
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Mark notifications read (all of them unless ids are given)",
        request=MarkReadSerializer,
        responses={200: MarkedSerializer},
    )
    @action(detail=False, methods=["post"], url_path="read", filter_backends=[])
    def read(self, request):
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = services.notifications_mark_read(
            user=request.user, ids=body.validated_data.get("ids")
        )
        return Response({"marked": marked})

    @extend_schema(summary="How many notifications are unread", responses={200: UnreadSerializer})
    @action(
        detail=False, methods=["get"], url_path="unread", pagination_class=None, filter_backends=[]
    )
    def unread(self, request):
        return Response({"unread": selectors.unread_count(user=request.user)})

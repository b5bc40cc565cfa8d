from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from accounts.api import LogoutView, TokenObtainView
from backups.api import MomentPreviewView, SnapshotViewSet
from changelog.api import AlertSettingsView, AlertViewSet, RevertJobView, RevertView
from core.api.errors import not_found
from crm.api import VIEWSETS
from history.api import EventViewSet
from recyclebin.api import BinEntryViewSet
from support.api import NotificationViewSet, RestoreRequestViewSet

router = DefaultRouter()
router.include_format_suffixes = False  # a class attribute, not an __init__ argument, in DRF 3.18
for viewset in VIEWSETS:
    router.register(viewset.entity.url_name, viewset, basename=viewset.entity.type.value)
router.register("recyclebin", BinEntryViewSet, basename="binentry")
router.register("history", EventViewSet, basename="event")
router.register("alerts", AlertViewSet, basename="alert")
router.register("backups/snapshots", SnapshotViewSet, basename="snapshot")
router.register("support/requests", RestoreRequestViewSet, basename="restorerequest")
router.register("support/notifications", NotificationViewSet, basename="notification")

urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("auth/logout/", LogoutView.as_view(), name="api-logout"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api-schema"),
    path(
        "docs/",
        # The split view serves its script from ?script (no inline script); Swagger UI's page
        # keeps a small inline <style>, so this page alone allows inline styles.
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="api-schema", permission_classes=[AllowAny]
            )
        ),
        name="api-docs",
    ),
    # Before the router: its history/{id}/ would take "revert" for an event id.
    path("history/revert/", RevertView.as_view(), name="revert"),
    path("history/revert/jobs/<int:job_id>/", RevertJobView.as_view(), name="revert-job"),
    path("alerts/settings/", AlertSettingsView.as_view(), name="alert-settings"),
    path("backups/preview/", MomentPreviewView.as_view(), name="backups-preview-at"),
    path("", include(router.urls)),
    # Last: every other path ending in a slash (a path without one is first redirected to it).
    re_path(r"^.*/$", not_found),
]

"""Browser pages of the revert: ``changelog:revert`` /history/revert/ (preview and apply),
``changelog:job`` and ``changelog:job_progress`` (a big revert's progress)."""

from django.urls import path

from changelog import views

app_name = "changelog"

urlpatterns = [
    path("alerts/", views.AlertsView.as_view(), name="alerts"),
    path("history/revert/", views.RevertView.as_view(), name="revert"),
    path("history/revert/jobs/<int:pk>/", views.RevertJobView.as_view(), name="job"),
    path(
        "history/revert/jobs/<int:pk>/progress/",
        views.RevertJobProgressView.as_view(),
        name="job_progress",
    ),
]

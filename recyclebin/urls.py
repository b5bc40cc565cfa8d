"""Browser pages of the recycle bin: ``recyclebin:list`` /recyclebin/, and the POST actions
``recyclebin:restore``, ``recyclebin:purge`` and ``recyclebin:empty`` (GET: its confirmation);
``recyclebin:job_progress``: a restore job's progress as JSON (static/js/progress.js)."""

from django.urls import path

from recyclebin import views

app_name = "recyclebin"

urlpatterns = [
    path("recyclebin/", views.BinListView.as_view(), name="list"),
    path("recyclebin/restore/", views.BinRestoreView.as_view(), name="restore"),
    path("recyclebin/purge/", views.BinPurgeView.as_view(), name="purge"),
    path("recyclebin/empty/", views.BinEmptyView.as_view(), name="empty"),
    path(
        "recyclebin/jobs/<int:pk>/progress/",
        views.RestoreJobProgressView.as_view(),
        name="job_progress",
    ),
]

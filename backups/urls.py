"""Browser pages of the backups: ``backups:list`` /backups/, ``backups:preview``
/backups/<id>/preview/."""

from django.urls import path

from backups import views

app_name = "backups"

urlpatterns = [
    path("backups/", views.SnapshotListView.as_view(), name="list"),
    path("backups/take/", views.SnapshotTakeView.as_view(), name="take"),
    path("backups/<int:pk>/preview/", views.SnapshotPreviewView.as_view(), name="preview"),
    path("backups/<int:pk>/export/", views.SnapshotExportView.as_view(), name="export"),
]

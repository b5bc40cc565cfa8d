"""Browser pages of the backups: ``backups:list`` /backups/."""

from django.urls import path

from backups import views

app_name = "backups"

urlpatterns = [
    path("backups/", views.SnapshotListView.as_view(), name="list"),
]

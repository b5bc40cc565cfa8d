"""Browser pages of the history: ``history:list`` /history/ and ``history:export``
/history/export.csv (the same filters, as CSV)."""

from django.urls import path

from history import views

app_name = "history"

urlpatterns = [
    path("history/", views.HistoryView.as_view(), name="list"),
    path("history/export.csv", views.HistoryExportView.as_view(), name="export"),
]

"""The support portal's browser pages (the API is in support.api, routed by config.api.urls)."""

from django.urls import path

from support import views, views_everyone

app_name = "support"

urlpatterns = [
    # Account admins
    path("support/requests/", views.RequestListView.as_view(), name="request_list"),
    path("support/requests/new/", views.RequestNewView.as_view(), name="request_new"),
    path("support/requests/<int:pk>/", views.RequestDetailView.as_view(), name="request_detail"),
    path(
        "support/requests/<int:pk>/progress/",
        views.RequestProgressView.as_view(),
        name="request_progress",
    ),
    path(
        "support/requests/<int:pk>/message/",
        views.RequestMessageView.as_view(),
        name="request_message",
    ),
    path(
        "support/requests/<int:pk>/confirm/",
        views.RequestConfirmView.as_view(),
        name="request_confirm",
    ),
    path(
        "support/requests/<int:pk>/cancel/",
        views.RequestCancelView.as_view(),
        name="request_cancel",
    ),
    # Support staff
    path("console/", views.ConsoleListView.as_view(), name="console"),
    path("console/requests/<int:pk>/", views.ConsoleDetailView.as_view(), name="console_detail"),
    path(
        "console/requests/<int:pk>/message/",
        views.ConsoleMessageView.as_view(),
        name="console_message",
    ),
    path(
        "console/requests/<int:pk>/propose/",
        views.ConsoleProposeView.as_view(),
        name="console_propose",
    ),
    path(
        "console/requests/<int:pk>/approve/",
        views.ConsoleApproveView.as_view(),
        name="console_approve",
    ),
    path(
        "console/requests/<int:pk>/reject/",
        views.ConsoleRejectView.as_view(),
        name="console_reject",
    ),
    # Everyone logged in
    path("notifications/", views_everyone.NotificationListView.as_view(), name="notifications"),
    path("live/", views_everyone.LiveView.as_view(), name="live"),
]

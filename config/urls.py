from django.contrib import admin
from django.urls import include, path

from config.views import health

urlpatterns = [
    path("healthz", health, name="health"),
    path("api/v1/", include("config.api.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("accounts.urls")),
    path("", include("crm.urls")),
    path("", include("recyclebin.urls")),
    path("", include("changelog.urls")),
    path("", include("history.urls")),
    path("", include("backups.urls")),
    path("", include("support.urls")),
]

handler404 = "config.views.not_found"
handler500 = "config.views.server_error"

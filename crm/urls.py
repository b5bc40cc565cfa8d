"""Browser pages of the CRM. Per entity type (crm.entities.ENTITIES), e.g. for companies:
``crm:company_list`` /companies/, ``crm:company_detail`` /companies/<pk>/,
``crm:company_create`` /companies/new/, ``crm:company_edit`` /companies/<pk>/edit/ and
``crm:company_delete`` /companies/<pk>/delete/."""

from django.urls import path

from crm import views
from crm.entities import ENTITIES

app_name = "crm"

urlpatterns = [path("crm/", views.DashboardView.as_view(), name="dashboard")]

for entity_type, entity in ENTITIES.items():
    prefix = entity.url_name
    urlpatterns += [
        path(
            f"{prefix}/",
            views.RecordListView.as_view(entity=entity),
            name=f"{entity_type}_list",
        ),
        path(
            f"{prefix}/new/",
            views.RecordCreateView.as_view(entity=entity),
            name=f"{entity_type}_create",
        ),
        path(
            f"{prefix}/<int:pk>/",
            views.RecordDetailView.as_view(entity=entity),
            name=f"{entity_type}_detail",
        ),
        path(
            f"{prefix}/<int:pk>/edit/",
            views.RecordEditView.as_view(entity=entity),
            name=f"{entity_type}_edit",
        ),
        path(
            f"{prefix}/<int:pk>/delete/",
            views.RecordDeleteView.as_view(entity=entity),
            name=f"{entity_type}_delete",
        ),
    ]

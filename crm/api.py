"""The CRM's REST endpoints (API.md, "CRM"): thin views over crm.selectors and crm.services."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from crm import filters, selectors, serializers, services
from crm.entities import ENTITIES, Entity


class RecordViewSet(viewsets.ModelViewSet):
    entity: Entity
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return self.entity.model.objects.none()
        return selectors.records_for_account(
            account=self.request.user.account, entity=self.entity, with_links=False
        )

    def perform_destroy(self, instance):
        services.record_delete(record=instance, actor=self.request.user)

    def search_records(self, queryset, words):
        """``?search=``'s filter (core.api.filters.TextSearchFilter)."""
        return selectors.records_search(queryset, self.entity, words)

    def search_window_rows(self):
        """What a search's window is counted over (core.api.pagination): the account's rows of
        the type, those in the bin too, so that the (account, id) index finds the window's
        edge by itself, without reading the table."""
        return self.entity.model.objects.filter(account=self.request.user.account)


def _viewset(entity_type: str, filterset: type) -> type[RecordViewSet]:
    entity = ENTITIES[entity_type]
    name = entity.verbose_name
    viewset = type(
        f"{entity.model.__name__}ViewSet",
        (RecordViewSet,),
        {
            "entity": entity,
            "serializer_class": serializers.SERIALIZERS[entity_type],
            "filterset_class": filterset,
            "search_fields": entity.search_fields,
            "search_window": entity.search_window,
            "ordering_fields": entity.ordering_fields,
            "__doc__": f"The account's {entity.verbose_name_plural}.",
        },
    )
    a = "an" if name[:1].lower() in "aeiou" else "a"  # "an activity", not "a activity"
    return extend_schema_view(
        list=extend_schema(summary=f"List {entity.verbose_name_plural}, newest first"),
        create=extend_schema(summary=f"Create {a} {name}"),
        retrieve=extend_schema(summary=f"Get {a} {name}"),
        update=extend_schema(summary=f"Replace {a} {name}"),
        partial_update=extend_schema(summary=f"Change some fields of {a} {name}"),
        destroy=extend_schema(summary=f"Delete {a} {name}"),
    )(extend_schema(tags=[str(entity.verbose_name_plural)])(viewset))


CompanyViewSet = _viewset("company", filters.CompanyFilter)
ContactViewSet = _viewset("contact", filters.ContactFilter)
LeadViewSet = _viewset("lead", filters.LeadFilter)
DealViewSet = _viewset("deal", filters.DealFilter)
ActivityViewSet = _viewset("activity", filters.ActivityFilter)

VIEWSETS = (CompanyViewSet, ContactViewSet, LeadViewSet, DealViewSet, ActivityViewSet)

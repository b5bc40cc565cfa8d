"""``?field=`` filters of the CRM lists (django-filter). Links filter by id without looking the
id up, so another account's id simply matches nothing."""

import django_filters

from core.api.filters import RecordIdFilter, StrictBooleanFilter, UtcDateTimeFilter
from crm.models import Activity, Company, Contact, Deal, Lead


class RecordFilter(django_filters.FilterSet):
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")


def link_filter(field: str) -> django_filters.NumberFilter:
    return RecordIdFilter(field_name=f"{field}_id")


class CompanyFilter(RecordFilter):
    class Meta:
        model = Company
        fields = {"industry": ["exact"]}


class ContactFilter(RecordFilter):
    company = link_filter("company")

    class Meta:
        model = Contact
        fields = {"email": ["exact"]}


class LeadFilter(RecordFilter):
    class Meta:
        model = Lead
        fields = {"status": ["exact"], "source": ["exact"]}


class DealFilter(RecordFilter):
    company = link_filter("company")
    contact = link_filter("contact")
    close_after = django_filters.DateFilter(field_name="close_date", lookup_expr="gte")
    close_before = django_filters.DateFilter(field_name="close_date", lookup_expr="lte")

    class Meta:
        model = Deal
        fields = {"stage": ["exact"], "currency": ["exact"]}


class ActivityFilter(RecordFilter):
    lead = link_filter("lead")
    deal = link_filter("deal")
    contact = link_filter("contact")
    company = link_filter("company")
    due_after = UtcDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")
    completed = StrictBooleanFilter()

    class Meta:
        model = Activity
        fields = {"type": ["exact"]}

"""``?field=`` filters of the CRM lists (django-filter). Links filter by id without looking the
id up, so another account's id simply matches nothing."""

import django_filters
from django import forms

from config.api.filters import UtcDateTimeFilter
from crm.models import Activity, Company, Contact, Deal, Lead

MAX_ID = 2**63 - 1  # BigAutoField


def positive_int_or_none(value) -> int | None:
    """A query parameter meant as an id or a page size: a whole number from 1 to MAX_ID, or
    None for anything else (so it never overflows a query)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


class RecordFilter(django_filters.FilterSet):
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UtcDateTimeFilter(field_name="updated_at", lookup_expr="gte")


class RecordIdFilter(django_filters.NumberFilter):
    """A whole number in the id range: ``1.5`` is no id (not id 1), and an id beyond the range
    would overflow SQLite's integers."""

    field_class = forms.IntegerField


def link_filter(field: str) -> django_filters.NumberFilter:
    return RecordIdFilter(field_name=f"{field}_id", min_value=1, max_value=MAX_ID)


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

    class Meta:
        model = Activity
        fields = {"type": ["exact"], "completed": ["exact"]}

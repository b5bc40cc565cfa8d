"""The support API's list filters (django-filter)."""

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from core.api.filters import RecordIdFilter, StrictBooleanFilter, UtcDateTimeFilter
from support.models import Notification, RequestKind, RequestStatus, RestoreRequest


class StatusesFilter(django_filters.MultipleChoiceFilter):
    """``?status=open,proposed`` (a comma list) or the parameter repeated."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", RequestStatus.choices)
        kwargs.setdefault("widget", forms.CheckboxSelectMultiple)
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)


class RestoreRequestFilter(django_filters.FilterSet):
    status = StatusesFilter(label=_("Status"))
    kind = django_filters.ChoiceFilter(label=_("Kind"), choices=RequestKind.choices)
    account = RecordIdFilter(label=_("Account"), field_name="account_id")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = RestoreRequest
        fields = ["status", "kind", "account", "created_after", "created_before"]

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and hasattr(data, "getlist"):
            data = data.copy()
            values = [v for raw in data.getlist("status") for v in raw.split(",") if v]
            data.setlist("status", values)
        super().__init__(data, *args, **kwargs)


class NotificationFilter(django_filters.FilterSet):
    unread = StrictBooleanFilter(label=_("Unread only"), field_name="read_at", lookup_expr="isnull")

    class Meta:
        model = Notification
        fields = ["unread"]

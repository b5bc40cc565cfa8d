"""How a record's field reads on a page: choice labels, links to linked records, dates in the
active time zone and language, a dash for nothing."""

from django import template
from django.db import models
from django.template.defaultfilters import linebreaks_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from crm.entities import Entity, entity_for_model
from crm.models import CrmRecord

register = template.Library()

EMPTY = mark_safe('<span class="muted">—</span>')  # noqa: S308 (a constant)


@register.filter
def record_url(record: CrmRecord, action: str = "detail") -> str:
    """``{{ record|record_url }}``, ``{{ record|record_url:"edit" }}``."""
    entity = entity_for_model(type(record))
    return reverse(f"crm:{entity.type.value}_{action}", args=[record.pk])


@register.filter
def entity_url(entity: Entity, action: str = "list") -> str:
    """``{{ entity|entity_url }}`` (the list), ``{{ entity|entity_url:"create" }}``."""
    return reverse(f"crm:{entity.type.value}_{action}")


@register.filter
def field_label(record_or_model, name: str) -> str:
    return capfirst(record_or_model._meta.get_field(name).verbose_name)


@register.simple_tag
def field_value(record: CrmRecord, name: str):
    field = record._meta.get_field(name)
    value = getattr(record, name)
    if value is None or value == "":
        return EMPTY
    if field.choices:
        return getattr(record, f"get_{name}_display")()
    if isinstance(value, CrmRecord):
        return format_html('<a href="{}">{}</a>', record_url(value), value)
    if isinstance(field, models.BooleanField):
        return _("Yes") if value else _("No")
    if isinstance(field, models.DateTimeField):
        return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(field, models.DateField):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(field, models.DecimalField):
        return number_format(value, decimal_pos=field.decimal_places, force_grouping=True)
    if isinstance(field, models.EmailField):
        return format_html('<a href="mailto:{}">{}</a>', value, value)
    if isinstance(field, models.URLField) and value.startswith(("https://", "http://")):
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', value, value)
    if isinstance(field, models.TextField):
        return linebreaks_filter(value, autoescape=True)
    return str(value)

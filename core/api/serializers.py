"""API bodies every app shares: the error every refusal has, a reference to a user, a sum of
money, and the input rule that a value comes in the JSON type the schema gives it."""

import re
from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

AMOUNT_PATTERN = r"^\d{1,12}(\.\d{1,2})?$"


class ErrorSerializer(serializers.Serializer):
    """Every refusal: a sentence for people and a code for programs."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Only on validation errors (400): the messages per field.",
    )


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": AMOUNT_PATTERN, "example": "2300.00"}
)
class AmountField(serializers.DecimalField):
    """A sum of money as API.md writes it: a decimal string, at most 12 digits before the point
    and 2 after (``"2300"``, ``"2300.50"``); DRF's own field would also take ``"1e3"``."""

    default_error_messages = {
        "not_amount": _('Enter an amount such as "2300" or "2300.50" (a string).'),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data == "":
            self.fail("not_amount")  # DRF would read "" as null
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not re.fullmatch(AMOUNT_PATTERN, data):
            self.fail("not_amount")
        return super().to_internal_value(data)


def type_errors(fields: Mapping[str, serializers.Field], data: Mapping) -> dict[str, list]:
    """``{name: [error]}`` for each value of ``data`` that is not of the JSON type its field
    documents (DRF would read ``123`` as the text "123", ``"true"`` as a yes, ``"12"`` as an
    id), or longer than its maxLength as sent. DRF's own messages and codes; ``null`` is left
    to the field (``allow_null``)."""
    errors = {}
    for name, field in fields.items():
        if field.read_only or name not in data:
            continue
        error = _type_error(field, data[name])
        if error is not None:
            errors[name] = [error]
    return errors


def _error(field: serializers.Field, key: str, **values: Any) -> ErrorDetail:
    return ErrorDetail(str(field.error_messages[key]).format(**values), code=key)


def _type_error(field: serializers.Field, value: Any) -> ErrorDetail | None:
    if value is None:
        return None
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else _error(field, "invalid")
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if whole and not isinstance(value, bool):
            return None
        if isinstance(field, serializers.IntegerField):
            return _error(field, "invalid")
        return _error(field, "incorrect_type", data_type=type(value).__name__)
    if isinstance(field, serializers.ListField | serializers.MultipleChoiceField):
        if not isinstance(value, list):
            return _error(field, "not_a_list", input_type=type(value).__name__)
        child = getattr(field, "child", None)
        if child is None:
            return None
        return next((e for item in value if (e := _type_error(child, item)) is not None), None)
    text_fields = (
        serializers.CharField,
        serializers.ChoiceField,
        serializers.DecimalField,
        serializers.DateField,
        serializers.DateTimeField,
    )
    if not isinstance(field, text_fields):
        return None
    if not isinstance(value, str):
        return ErrorDetail(str(_("Must be a string.")), code="invalid")
    longest = getattr(field, "max_length", None)
    if isinstance(field, serializers.CharField) and longest and len(value) > longest:
        # Counted as sent, as the schema's maxLength counts (DRF counts after trimming).
        return _error(field, "max_length", max_length=longest)
    return None


def unknown_errors(fields: Mapping[str, serializers.Field], data: Mapping) -> dict[str, list]:
    """``{name: [message]}`` for each name of ``data`` the body does not know: a mistyped field
    must not be silently dropped. The read-only fields (``id``, ``created_at``...) are ignored,
    so a client may send back what it read."""
    known = ", ".join(name for name, field in fields.items() if not field.read_only)
    message = _("Unknown field. Known: %(known)s.") % {"known": known}
    return {
        name: [ErrorDetail(message, code="unknown_field")] for name in data if name not in fields
    }


# For request bodies: refuse an unknown field, and a value whose JSON type is not the
# documented one (400). (A comment: a docstring would be every body's schema description.)
class JsonTypesMixin:
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            fields = self.fields  # type: ignore[attr-defined]
            errors = unknown_errors(fields, data) | type_errors(fields, data)
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


# A request body (no docstring: the schema would show it as every body's description).
# ``schema_rules``: JSON Schema keywords added to its schema, for a rule across fields
# (``{"oneOf": [{"required": ["ids"]}, {"required": ["filter"]}]}``), so that the schema says
# what the server refuses.
class BodySerializer(JsonTypesMixin, serializers.Serializer):
    schema_rules: dict = {}


# A request body that writes a model.
class BodyModelSerializer(JsonTypesMixin, serializers.ModelSerializer):
    pass


class BodyRulesExtension(OpenApiSerializerExtension):
    """Documents a BodySerializer with its ``schema_rules``."""

    target_class = BodySerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        rules = getattr(self.target, "schema_rules", {})
        return schema | rules if direction == "request" else schema

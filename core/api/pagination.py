import json

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, connection
from django.db.models import BigIntegerField, ExpressionWrapper, F, Q
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.settings import api_settings


class NewestFirstCursorPagination(CursorPagination):
    """API.md's list envelope ``{results, next, previous}``: keyset pages that stay fast however
    deep, newest first unless ``?ordering=`` says otherwise, ``?page_size=`` up to 200.

    DRF's own cursor keys on the ordering field alone: it skips or repeats rows where values tie
    (stage, status) and cannot continue past an empty value (a deal without amount). Here the key
    is (ordering field, id): ties are broken by id, empty values come last in either direction,
    and every position is unique, so following ``next`` visits every row exactly once."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int:
        """``?page_size=`` from 1 to 200, or the default without it; anything else is refused."""
        given = request.query_params.get(self.page_size_query_param)
        if given is None:
            return self.page_size
        try:
            size = int(given)
        except ValueError:
            size = 0
        if str(size) != given.strip() or not 1 <= size <= self.max_page_size:
            raise serializers.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Enter a whole number from 1 to %(most)s.") % {"most": self.max_page_size}
                    ]
                },
                code="invalid",
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == self.cursor_query_param:
                parameter["schema"]["minLength"] = 1
        return parameters

    def decode_cursor(self, request):
        if request.query_params.get(self.cursor_query_param) == "":
            raise NotFound(self.invalid_cursor_message, code="invalid_cursor")
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise NotFound(self.invalid_cursor_message, code="invalid_cursor") from None
        # Positions are unique, so pages never need an offset; ignore a hand-made one.
        return None if cursor is None else cursor._replace(offset=0)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)[:1]
        self.cursor = self.decode_cursor(request)
        reverse = self.cursor is not None and self.cursor.reverse
        position = None if self.cursor is None else self.cursor.position

        try:
            queryset = queryset.order_by(*self._order_by(queryset.model, reverse=reverse))
            if position is not None:
                queryset = queryset.filter(self._after(queryset.model, position, reverse=reverse))
            results = self._rows(queryset, view, position, reverse=reverse)
        except (ValueError, TypeError, OverflowError, DataError, DjangoValidationError):
            # A cursor whose position does not fit the ordering field (edited by hand).
            raise NotFound(self.invalid_cursor_message, code="invalid_cursor") from None

        self.page = results[: self.page_size]
        following = None
        if len(results) > self.page_size:
            following = self._get_position_from_instance(results[-1], self.ordering)
        if reverse:
            self.page.reverse()
            self.has_next, self.next_position = position is not None, position
            self.has_previous, self.previous_position = following is not None, following
        else:
            self.has_next, self.next_position = following is not None, following
            self.has_previous, self.previous_position = position is not None, position
        return self.page

    def _rows(self, queryset, view, position: str | None, *, reverse: bool) -> list:
        """The page's rows and one more (to know whether a next page exists).

        A search in id order on a view with a ``search_window`` (a type whose search has a
        trigram index on PostgreSQL) is read in two steps, because the planner's one plan
        goes wrong both ways. Walking the list newest first and testing each row (one LIKE
        on the contacts' search column, about 0.2 µs a row) fills a page at once for a
        common term but walks most of the account for a rare one; the trigram index finds a
        rare term's few rows in a millisecond or two but has to fetch and sort every row of
        a common one. Its estimates cannot tell a term matching 0.1% of the rows from one
        matching 2%, and it walked for terms matching a few hundred of 100,000 contacts (45
        ms, bench/crm_api.py). So: first the ``search_window`` rows at the start of the page
        (the walk, bounded); if they hold a page, that is the page. Otherwise the term is
        rare (under a page in the window) and the rest of the page comes from the trigram
        index, ordered by ``id + 0`` so that the planner cannot walk. The rows and their
        order are the same either way."""
        limit = self.page_size + 1
        window = getattr(view, "search_window", None)
        search_param = api_settings.SEARCH_PARAM
        by_pk = len(self._order_by(queryset.model, reverse=reverse)) == 1
        if not (window and by_pk and self.request.query_params.get(search_param)):
            return list(queryset[:limit])
        if connection.vendor != "postgresql":
            return list(queryset[:limit])
        _, descending = self._field()
        descending ^= reverse
        # The rows the window is counted over: the view's list, or what it names for it.
        counted = getattr(view, "search_window_rows", view.get_queryset)()
        listed = counted.order_by(*self._order_by(queryset.model, reverse=reverse))
        if position is not None:
            listed = listed.filter(self._after(queryset.model, position, reverse=reverse))
        edge = list(listed.values_list("pk", flat=True)[window - 1 : window])
        if not edge:  # fewer rows than the window: the walk is bounded already
            return list(queryset[:limit])
        inside, beyond = ("gte", "lt") if descending else ("lte", "gt")
        rows = list(queryset.filter(**{f"pk__{inside}": edge[0]})[:limit])
        if len(rows) == limit:
            return rows
        unwalkable = ExpressionWrapper(F("pk") + 0, output_field=BigIntegerField())
        rest = queryset.filter(**{f"pk__{beyond}": edge[0]}).order_by(
            unwalkable.desc() if descending else unwalkable.asc()
        )
        return rows + list(rest[: limit - len(rows)])

    def _field(self) -> tuple[str, bool]:
        order = self.ordering[0]
        return order.lstrip("-"), order.startswith("-")

    def _order_by(self, model, *, reverse: bool) -> tuple:
        """The list's order (empty values last), or exactly its opposite for ``previous`` pages.
        Plain field names where no value can be empty, so the (account, -id) index serves."""
        field, descending = self._field()
        descending ^= reverse
        sign = "-" if descending else ""
        model_field = _model_field(model, field)
        if model_field is not None and model_field.primary_key:
            return (f"{sign}pk",)
        if model_field is not None and not model_field.null:
            return f"{sign}{field}", f"{sign}pk"
        nulls = {"nulls_first": True} if reverse else {"nulls_last": True}
        return (F(field).desc(**nulls) if descending else F(field).asc(**nulls)), f"{sign}pk"

    def _after(self, model, position: str, *, reverse: bool) -> Q:
        """Rows strictly after ``position`` in the order ``_order_by(reverse=...)`` gives."""
        try:
            value, pk = json.loads(position)
        except (ValueError, TypeError):
            raise ValueError("malformed position") from None
        if not isinstance(pk, int) or isinstance(pk, bool) or not isinstance(value, str | None):
            raise ValueError("malformed position")
        field, descending = self._field()
        cmp = "lt" if descending ^ reverse else "gt"
        model_field = _model_field(model, field)
        if model_field is not None and model_field.primary_key:
            return Q(**{f"pk__{cmp}": pk})
        nullable = model_field is None or model_field.null
        if value is None:
            # Empty values sit at the end going forward, at the start going back.
            after = Q(**{f"{field}__isnull": True, f"pk__{cmp}": pk})
            return after if not reverse else after | Q(**{f"{field}__isnull": False})
        after = Q(**{f"{field}__{cmp}": value}) | Q(**{field: value, f"pk__{cmp}": pk})
        if nullable and not reverse:
            after |= Q(**{f"{field}__isnull": True})
        return after

    def _get_position_from_instance(self, instance, ordering):
        field = ordering[0].lstrip("-")
        value = instance[field] if isinstance(instance, dict) else getattr(instance, field)
        pk = instance["id"] if isinstance(instance, dict) else instance.pk
        return json.dumps([None if value is None else str(value), pk], separators=(",", ":"))


def _model_field(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None

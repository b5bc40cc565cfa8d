from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """API.md's list envelope ``{results, next, previous}``: keyset pages that stay fast however
    deep, newest first unless ``?ordering=`` says otherwise, ``?page_size=`` up to 200."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DataError, DjangoValidationError):
            # A cursor whose position does not fit the ordering field (edited by hand).
            raise NotFound(self.invalid_cursor_message, code="invalid_cursor") from None

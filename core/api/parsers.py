"""The API's JSON parser: DRF's, refusing nesting deeper than any body of the API needs (a
thousand levels made Python's decoder raise RecursionError: a 500 on every JSON endpoint)."""

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 100


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            too_deep = True
        else:
            too_deep = _depth_exceeds(data, MAX_DEPTH)
        if too_deep:
            raise ParseError(
                _("JSON parse error - nested deeper than %(depth)s levels.") % {"depth": MAX_DEPTH}
            )
        return data


def _depth_exceeds(data: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than ``limit`` (iteratively: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False

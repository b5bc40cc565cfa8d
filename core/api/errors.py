"""The API's one exception handler: every error answers ``{"detail": sentence, "code": code}``;
validation errors add ``"errors": {field: [messages]}``."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import RuleViolation

NON_FIELD = "non_field_errors"


def _first_message(errors) -> tuple[str, str]:
    """The first (field, message) of a nested DRF error structure, for the ``detail`` sentence."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            inner_field, message = _first_message(value)
            if field == NON_FIELD:
                return inner_field, message
            return (f"{field}.{inner_field}" if inner_field else field), message
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return "", str(errors)


def _first_code(codes) -> str:
    if isinstance(codes, dict):
        return _first_code(next(iter(codes.values()), "invalid"))
    if isinstance(codes, list):
        return _first_code(codes[0]) if codes else "invalid"
    return str(codes)


def exception_handler(exc, context):
    if isinstance(exc, RuleViolation) and exc.code == "not_found":
        exc = Http404()  # the very answer of a missing id: nothing tells the two apart
    if isinstance(exc, RuleViolation):
        return Response(
            {"detail": exc.message, "code": exc.code}, status=exc.status, headers=exc.headers
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {NON_FIELD: exc.detail}
        field, message = _first_message(errors)
        response.data = {
            "detail": f"{field}: {message}" if field else message,
            "code": _first_code(exc.get_codes()),
            "errors": errors,
        }
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        response.data = {
            "detail": str(exc.detail) if not isinstance(exc.detail, (list, dict)) else str(exc),
            "code": code if isinstance(code, str) else _first_code(code),
        }
    return response


@csrf_exempt  # as DRF's views: a DELETE to a wrong path is a 404, not a CSRF failure
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any other path under ``/api/v1/`` (``/deals/0.5/``, ``/nothing/``): the API's own 404,
    not Django's HTML page."""
    error = exceptions.NotFound()
    return JsonResponse({"detail": str(error.detail), "code": error.default_code}, status=404)

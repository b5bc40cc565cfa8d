"""OpenAPI schema additions: every operation documents the errors it may answer, all in the one
shape of core.api.errors (``{detail, code, errors?}``), so clients and the schema fuzzing in
tests/test_api_fuzz.py know every status the API can send."""

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string", "description": "A sentence a person understands."},
        "code": {"type": "string", "description": "A machine code (API.md lists the rule codes)."},
        "errors": {
            "type": "object",
            "description": "Validation errors: field -> messages.",
            "additionalProperties": True,
        },
    },
    "required": ["detail", "code"],
}

ERRORS = {
    "400": "Invalid input: nothing was changed.",
    "401": "Not authenticated.",
    "403": "Not allowed for this user or plan (`admin_only`, `plan_not_eligible`, ...).",
    "404": "No such object in your account.",
    "409": "A rule refused the change (`invalid_state`, `request_open`, ...).",
    "429": "Too many requests: wait as `Retry-After` says.",
    "503": "The account is being restored (`maintenance`): retry after `Retry-After` seconds.",
}
METHODS = ("get", "post", "put", "patch", "delete")


def errors_document(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the Error component and the error responses."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path, item in result.get("paths", {}).items():
        if path.endswith(("/schema/", "/docs/")):
            continue
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result

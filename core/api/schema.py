"""OpenAPI schema additions: every operation documents the errors it may answer, all in the one
shape of core.api.errors (``{detail, code, errors?}``), and every query parameter says what the
server takes (core.api.filters refuses anything else), so clients and the schema fuzzing in
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
BODY_ERRORS = {
    "413": "The body is larger than the API takes (`too_large`).",
    "415": "The body is not JSON (`unsupported_media_type`): the API takes JSON only.",
}
METHODS = ("get", "post", "put", "patch", "delete")
# Text holds no NUL character (the database cannot store or search one); where it may not be
# blank it needs a character other than white space (the server trims white space away).
BODY_TEXT = "^[^\\u0000]*$"
BODY_TEXT_NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
# Query text is never blank either: an empty parameter is refused (leave it out).
QUERY_TEXT = {"minLength": 1, "pattern": BODY_TEXT_NOT_BLANK}


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
            errors = ERRORS | (BODY_ERRORS if "requestBody" in operation else {})
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result


def query_text_document(result, generator, request, public):
    """drf-spectacular postprocessing hook: query parameters are documented as the API takes
    them: free text as ``QUERY_TEXT``, a list with at least one item."""
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") != "query":
                    continue
                if schema.get("type") == "array":
                    schema["minItems"] = 1
                elif schema.get("type") == "string" and not {"enum", "format"} & set(schema):
                    schema.update(QUERY_TEXT)
    return result


def body_text_document(result, generator, request, public):
    """drf-spectacular postprocessing hook: request bodies are documented as the API takes them:
    plain text as ``BODY_TEXT`` or ``BODY_TEXT_NOT_BLANK``, no field it does not know."""
    components = result.get("components", {}).get("schemas", {})
    seen: set[int] = set()

    def visit(schema) -> None:
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        reference = schema.get("$ref", "")
        if reference.startswith("#/components/schemas/"):
            visit(components.get(reference.rsplit("/", 1)[1]))
        if schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema):
            schema["pattern"] = BODY_TEXT_NOT_BLANK if schema.get("minLength") else BODY_TEXT
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False  # an unknown field is refused
        for key in ("properties",):
            for child in schema.get(key, {}).values():
                visit(child)
        for key in ("items", "additionalProperties"):
            visit(schema.get(key))
        for key in ("allOf", "oneOf", "anyOf"):
            for child in schema.get(key, []):
                visit(child)

    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS or "requestBody" not in operation:
                continue
            body = operation["requestBody"]
            for content in body.get("content", {}).values():
                visit(content.get("schema"))
                if _needs_a_field(content.get("schema", {}), components):
                    body["required"] = True  # so no body at all is no valid body either
    return result


def _needs_a_field(schema: dict, components: dict) -> bool:
    """Whether every valid body names at least one field (its required fields, or a ``oneOf``
    each of whose branches requires one)."""
    reference = schema.get("$ref", "")
    if reference.startswith("#/components/schemas/"):
        schema = components.get(reference.rsplit("/", 1)[1], {})
    branches = schema.get("oneOf", [])
    return bool(schema.get("required")) or bool(
        branches and all(branch.get("required") for branch in branches)
    )

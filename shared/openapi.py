"""The error responses every service gives, written into its OpenAPI document.

FastAPI documents what a route declares (its model, `responses=`) and the 422 of request
validation; the frame and the auth dependency answer more than that on every route: 401/403
when the caller's credentials or scopes are wrong, 400 when a body cannot be parsed at all,
503 when the service's own database is away. Schemathesis (tests/fuzz) holds every response
to the document, so the document says all of it, in one place rather than on every route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

ERROR_MESSAGE = "ErrorMessage"

_ERROR_MESSAGE_SCHEMA: dict[str, Any] = {
    "title": ERROR_MESSAGE,
    "type": "object",
    "properties": {
        "detail": {"title": "Detail", "description": "What went wrong, in one sentence"},
    },
    "required": ["detail"],
}

_AUTHENTICATED = {
    "401": "No credentials, or an invalid, expired or revoked token",
    "403": "The caller's role or API key lacks a scope the operation needs",
}
_WITH_BODY = {"400": "The body could not be parsed at all (JSON that is not UTF-8)"}
_EVERYWHERE = {"503": "The service's database is unavailable; retry later"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_MESSAGE}"}}
        },
    }


def with_error_responses(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the frame's error responses added to every operation (in place).

    Responses a route declares itself are kept. A 422 carries either FastAPI's list of field
    errors or, from a rule checked in the route or the domain, one sentence that names the field.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(ERROR_MESSAGE, _ERROR_MESSAGE_SCHEMA)
    validation = schemas.get("HTTPValidationError")
    if validation is not None:
        listed = validation["properties"]["detail"]
        validation["properties"]["detail"] = {
            "title": "Detail",
            "anyOf": [
                {key: value for key, value in listed.items() if key != "title"},
                {"type": "string"},
            ],
        }
    for path in document.get("paths", {}).values():
        for method, operation in path.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            added = dict(_EVERYWHERE)
            if operation.get("security"):
                added |= _AUTHENTICATED
            if "requestBody" in operation:
                added |= _WITH_BODY
            for status, description in added.items():
                responses.setdefault(status, _error(description))
    return document


def document_error_responses(app: FastAPI) -> None:
    """Make `app.openapi()` include the error responses (built once, then cached by FastAPI)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_error_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

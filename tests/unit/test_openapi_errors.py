"""The frame's error responses are in every service's OpenAPI document (found by tests/fuzz:
401/403/400/503 answered but undocumented, and 422s whose detail is one sentence)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from shared.auth import Scope, requires
from shared.openapi import ERROR_MESSAGE, document_error_responses


class Note(BaseModel):
    text: str


def app_with_routes() -> FastAPI:
    app = FastAPI()
    document_error_responses(app)

    @app.get("/open")
    async def open_route() -> dict[str, str]:
        return {}

    @app.post(
        "/notes",
        dependencies=[requires(Scope.CUSTOMERS_WRITE)],
        responses={403: {"description": "Our own wording"}},
    )
    async def add_note(note: Note) -> Note:
        return note

    return app


def responses(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]["responses"]
    return found


def test_authenticated_operations_document_401_and_403_and_bodies_400() -> None:
    document = app_with_routes().openapi()
    notes = responses(document, "post", "/notes")
    assert {"200", "400", "401", "403", "422", "503"} <= set(notes)
    assert notes["403"]["description"] == "Our own wording", "a route's own entry wins"
    schema = notes["401"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{ERROR_MESSAGE}"}
    assert document["components"]["schemas"][ERROR_MESSAGE]["required"] == ["detail"]


def test_open_operations_without_a_body_get_only_503() -> None:
    open_route = responses(app_with_routes().openapi(), "get", "/open")
    assert set(open_route) == {"200", "503"}


def test_a_422_detail_may_be_field_errors_or_one_sentence() -> None:
    document = app_with_routes().openapi()
    detail = document["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]
    assert {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}} in (
        detail["anyOf"]
    )


def test_the_document_is_built_once() -> None:
    app = app_with_routes()
    assert app.openapi() is app.openapi()

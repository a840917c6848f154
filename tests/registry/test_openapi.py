"""The registry's OpenAPI document is its contract: every operation declares the body it answers with."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_operation_documents_its_success_body(registry_app: FastAPI) -> None:
    doc = registry_app.openapi()
    untyped = []
    for method, path, operation in _operations(doc):
        success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert success, f"{method} {path} documents no success response"
        for code, response in success.items():
            if code == "204":
                continue  # no content, by definition
            schema = (response.get("content") or {}).get("application/json", {}).get("schema")
            if schema is None and not (response.get("content") or {}):
                untyped.append(f"{method} {path} {code}: no body documented")
            elif schema is not None and schema in (
                {},
                {"type": "object"},
                {"type": "object", "additionalProperties": True},
            ):
                untyped.append(f"{method} {path} {code}: an untyped object")
    assert untyped == []


def test_every_route_declares_a_response_model(registry_app: FastAPI) -> None:
    documented = [
        ctx.original_route
        for ctx in iter_route_contexts(registry_app.routes)
        if isinstance(ctx.original_route, APIRoute) and ctx.original_route.include_in_schema
    ]
    assert len(documented) > 50  # the walk sees the routes of the included routers
    missing = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in documented
        if route.response_model is None and route.status_code != 204
    ]
    assert missing == []

"""The gateway's own OpenAPI operations are a contract too: every route declares the body it answers with, and the
merged document keeps them beside the services' (which are fetched live, and absent here)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute

IDENTITY_PATHS = {
    "/auth/token",
    "/auth/logout",
    "/auth/me",
    "/.well-known/jwks.json",
    "/users",
    "/users/{user_id}",
    "/users/{user_id}/disable",
    "/users/{user_id}/enable",
    "/users/{user_id}/reset-password",
    "/audit",
}


def _identity_routes() -> list[APIRoute]:
    """The routes of the gateway's feature routers (the app holds them as included routers)."""
    from gateway.tokens.routes import router as tokens
    from gateway.users.routes import audit_router
    from gateway.users.routes import router as users

    return [r for router in (tokens, users, audit_router) for r in router.routes if isinstance(r, APIRoute)]


def test_every_identity_route_declares_a_response_model() -> None:
    routes = _identity_routes()
    assert {r.path for r in routes} == IDENTITY_PATHS
    missing = [
        f"{sorted(r.methods or ())} {r.path}"
        for r in routes
        if r.response_model is None and r.status_code != 204
    ]
    assert missing == []


def test_every_identity_route_commits_through_the_shared_commit_point() -> None:
    from shared.routing import CommitRoute

    assert all(isinstance(r, CommitRoute) for r in _identity_routes())


async def test_every_identity_operation_documents_a_typed_success_body(gateway: httpx.AsyncClient) -> None:
    doc: dict[str, Any] = (await gateway.get("/openapi.json")).json()
    untyped = []
    for path in IDENTITY_PATHS:
        for method, operation in doc["paths"][path].items():
            success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
            assert success, f"{method} {path} documents no success response"
            for code, response in success.items():
                if code == "204":
                    continue
                schema = (response.get("content") or {}).get("application/json", {}).get("schema")
                if schema in (None, {}, {"type": "object"}, {"type": "object", "additionalProperties": True}):
                    untyped.append(f"{method} {path} {code}")
    assert untyped == []
    assert set(doc["x-jingzhun-unavailable"]) == {"registry", "planning", "assessment"}


async def test_docs_page_points_at_the_merged_document(gateway: httpx.AsyncClient) -> None:
    page = await gateway.get("/docs")
    assert page.status_code == 200
    assert "/openapi.json" in page.text

"""The gateway's own OpenAPI operations are a contract too: every route declares the body it answers with, and the
merged document keeps them beside the services' (which are fetched live, and absent here)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi.routing import APIRoute

from tests.factories import COUNTY, VILLAGE, MakeUser, bearer, token_for

IDENTITY_PATHS = {
    "/auth/token",
    "/auth/logout",
    "/auth/me",
    "/auth/revocations",
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


async def test_the_merged_document_is_served_with_the_gateways_root(gateway: httpx.AsyncClient) -> None:
    doc: dict[str, Any] = (await gateway.get("/openapi.json")).json()
    assert doc["servers"] == [{"url": "/", "description": "The gateway"}]
    assert doc["paths"]["/auth/token"]["post"]["operationId"] == "issueToken"
    assert doc["paths"]["/auth/token"]["post"]["security"] == []
    problem = doc["paths"]["/users"]["get"]["responses"]["401"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert {t["name"] for t in doc["tags"]} >= {"auth", "users", "audit", "operations"}


async def test_redoc_page_points_at_the_merged_document(gateway: httpx.AsyncClient) -> None:
    page = await gateway.get("/redoc")
    assert page.status_code == 200 and 'spec-url="/openapi.json"' in page.text


async def test_creating_a_user_answers_its_location(gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
    """Every 201 says where the record it created is (issue #10: `POST /users` did not)."""
    admin = bearer(await token_for(gateway, await make_user("county_admin", COUNTY)))
    payload = {
        "username": f"new.{uuid.uuid4().hex[:10]}",
        "display_name": "新用户 (new user)",
        "password": "another long passphrase 2026",
        "role": "village_officer",
        "region_code": VILLAGE,
    }
    created = await gateway.post("/users", json=payload, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/users/{created.json()['id']}"
    assert (await gateway.get(created.headers["location"], headers=admin)).json() == created.json()

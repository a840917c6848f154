"""Services call each other with short-lived service tokens from the gateway's client-credentials flow."""

from __future__ import annotations

import httpx

from shared.jwt import KeySet
from shared.service_client import ServiceClient, ServiceTokenProvider
from tests.factories import MakeClient
from tests.harness import running


async def test_service_calls_another_service_with_a_client_credentials_token(
    gateway: httpx.AsyncClient, make_client: MakeClient, db_urls: dict[str, str], keyset: KeySet
) -> None:
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings

    secret = await make_client("registry-service", "service", "000000000000")
    tokens = ServiceTokenProvider(gateway, "registry-service", secret)
    planning_app = create_planning(
        PlanningSettings(environment="test", database_url=db_urls["planning"], json_logs=False), keyset=keyset
    )
    async with running(planning_app):
        client = ServiceClient(
            "http://planning", "jingzhun-planning", tokens, transport=httpx.ASGITransport(app=planning_app)
        )
        try:
            response = await client.get("/me", request_id="chain-1")
            again = await client.get("/me")
        finally:
            await client.aclose()
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "service"
    assert response.json()["sub"] == "client:registry-service"
    assert response.headers["x-request-id"] == "chain-1"
    assert again.status_code == 200
    # The token was cached: one client-credentials exchange for two calls.
    first = await tokens.token("jingzhun-planning")
    assert first == await tokens.token("jingzhun-planning")


async def test_service_token_is_limited_to_its_audience(
    gateway: httpx.AsyncClient, make_client: MakeClient
) -> None:
    secret = await make_client("planning-service", "service", "000000000000")
    tokens = ServiceTokenProvider(gateway, "planning-service", secret)
    token = await tokens.token("jingzhun-registry")
    response = await gateway.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401  # a registry-audience token is not a gateway token


async def test_wrong_client_secret_is_refused(gateway: httpx.AsyncClient, make_client: MakeClient) -> None:
    await make_client("assessment-service", "service", "000000000000")
    tokens = ServiceTokenProvider(gateway, "assessment-service", "wrong-secret")
    try:
        await tokens.token("jingzhun-registry")
    except httpx.HTTPStatusError as exc:
        assert exc.response.status_code == 401
    else:
        raise AssertionError("a wrong secret must not yield a token")

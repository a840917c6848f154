"""Smoke test: a user made in the gateway logs in and the gateway says who they are."""

from __future__ import annotations

import httpx

from tests.factories import MakeUser, bearer, token_for


async def test_login_and_me(gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user("county_admin", "451025000000")
    token = await token_for(gateway, user)
    response = await gateway.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["role"] == "county_admin"

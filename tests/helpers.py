"""Token and assertion helpers shared by the scope, proxy and error tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import httpx

from shared.jwt import SigningKey

ALL_AUDIENCES = ["jingzhun-gateway", "jingzhun-registry", "jingzhun-planning", "jingzhun-assessment"]


def issue(
    signing_key: SigningKey, role: str, region: str, *, sub: str | None = None, **overrides: Any
) -> str:
    """A valid access token signed by the real key (what the gateway would issue)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "jingzhun-gateway",
        "aud": ALL_AUDIENCES,
        "sub": sub or str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "role": role,
        "region": region,
    }
    claims.update(overrides)
    return signing_key.sign(claims)


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def assert_problem(response: httpx.Response, status: int, detail: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` (and `detail` inside its detail, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://jingzhun.example/problems/") and body["title"]
    assert "Traceback" not in response.text
    if detail is not None:
        assert detail in body["detail"], body
    return body


async def disable_client(database_url: str, client_id: str) -> None:
    """Disable a machine client directly in the gateway database (as an operator would)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE gateway_client SET disabled_at = now() WHERE client_id = $1", client_id)
    finally:
        await conn.close()

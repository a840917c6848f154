"""The in-memory revocation list survives a background refresh that read the database too early."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession as SAAsyncSession

from gateway.identity import Revocations
from shared.db import create_engine, session_factory
from shared.problems import Unauthorized
from shared.roles import Principal, Role
from shared.settings import asyncpg_url
from tests.factories import MakeClient, disable_client


def principal(sub: str, jti: str = "j1", issued_at: int | None = None) -> Principal:
    now = int(time.time())
    return Principal(
        sub=sub,
        role=Role.cadre,
        region="451025000000",
        jti=jti,
        issued_at=issued_at or now - 10,
        expires_at=now + 600,
    )


async def test_local_revocation_survives_a_stale_refresh(db_urls: dict[str, str]) -> None:
    engine = create_engine(asyncpg_url(db_urls["gateway"]))
    try:
        sessions = session_factory(engine)
        revocations = Revocations()
        revocations.revoke_subject("user-1", time.time())
        revocations.revoke_jti("jti-9", time.time() + 600)
        # The database knows nothing of either (as if the refresh read before the commit).
        async with sessions() as session:
            await revocations.refresh(session, access_ttl=900)
        for p in (principal("user-1"), principal("user-2", jti="jti-9")):
            try:
                revocations.check(p)
            except Unauthorized:
                continue
            raise AssertionError(f"{p} should still be revoked")
        revocations.check(principal("user-3"))  # unrelated callers pass
        assert isinstance(session, SAAsyncSession)
    finally:
        await engine.dispose()


async def test_disabled_client_is_revoked_after_a_refresh(
    gateway: httpx.AsyncClient, gateway_app: FastAPI, make_client: MakeClient, db_urls: dict[str, str]
) -> None:
    """A disabled machine client's outstanding tokens stop working once the revocation list refreshes."""
    from gateway.identity import refresh_revocations

    secret = await make_client("guangxi-province", "province_system", "450000000000")
    issued = await gateway.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "guangxi-province", "client_secret": secret},
    )
    token = issued.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await gateway.get("/auth/me", headers=headers)).status_code == 200
    await disable_client(db_urls["gateway"], "guangxi-province")
    app = gateway_app
    await refresh_revocations(app.state.revocations, app.state.sessions, access_ttl=900)
    assert (await gateway.get("/auth/me", headers=headers)).status_code == 401

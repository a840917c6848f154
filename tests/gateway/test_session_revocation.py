"""Issue #14 item 5: logout ends the session the access token belongs to (its refresh family), and revoking a family
(logout, refresh-token reuse) revokes the family's live access tokens, on this replica at once and on the others
from the database (gateway/identity.py `Revocations`, access tokens' `sid` claim)."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI

from gateway.identity import Revocations, refresh_revocations
from shared.db import create_engine, session_factory
from shared.jwt import KeySet, SigningKey
from shared.problems import Unauthorized
from shared.roles import Principal, Role
from shared.settings import asyncpg_url
from tests.factories import COUNTY, PROVINCE, MakeClient, MakeUser, assert_problem, bearer, login


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def me(client: httpx.AsyncClient, access: str) -> int:
    return (await client.get("/auth/me", headers=bearer(access))).status_code


def claims(access: str, signing_key: SigningKey) -> dict[str, object]:
    return KeySet(signing_key.jwks()).verify(access, audience="jingzhun-gateway", issuer="jingzhun-gateway")


class TestSidClaim:
    async def test_a_sessions_access_tokens_carry_its_family(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, signing_key: SigningKey
    ) -> None:
        user = await make_user("cadre", COUNTY)
        first = (await login(gateway, user.username)).json()
        second = (await refresh(gateway, first["refresh_token"])).json()
        other = (await login(gateway, user.username)).json()
        sids = [claims(t["access_token"], signing_key).get("sid") for t in (first, second, other)]
        assert sids[0] is not None and sids[0] == sids[1] != sids[2]

    async def test_client_tokens_have_no_session(
        self, gateway: httpx.AsyncClient, make_client: MakeClient, signing_key: SigningKey
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        data = {"grant_type": "client_credentials", "client_id": "guangxi-province", "client_secret": secret}
        access = (await gateway.post("/auth/token", data=data)).json()["access_token"]
        assert "sid" not in claims(access, signing_key)
        assert (await gateway.post("/auth/logout", headers=bearer(access))).status_code == 204
        assert await me(gateway, access) == 401


class TestLogoutEndsTheSession:
    async def test_logout_without_the_refresh_token_ends_the_refresh_family(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        tokens = (await login(gateway, user.username)).json()
        assert (await gateway.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
        assert_problem(await refresh(gateway, tokens["refresh_token"]), 401)

    async def test_logout_ends_the_sessions_other_access_tokens(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        first = (await login(gateway, user.username)).json()
        second = (await refresh(gateway, first["refresh_token"])).json()
        assert await me(gateway, first["access_token"]) == 200
        assert (await gateway.post("/auth/logout", headers=bearer(second["access_token"]))).status_code == 204
        assert await me(gateway, first["access_token"]) == 401
        assert_problem(await refresh(gateway, second["refresh_token"]), 401)

    async def test_logout_leaves_the_users_other_sessions(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        phone = (await login(gateway, user.username)).json()
        laptop = (await login(gateway, user.username)).json()
        assert (await gateway.post("/auth/logout", headers=bearer(phone["access_token"]))).status_code == 204
        assert await me(gateway, laptop["access_token"]) == 200
        assert (await refresh(gateway, laptop["refresh_token"])).status_code == 200

    async def test_another_replica_follows_from_the_database(
        self, gateway: httpx.AsyncClient, gateway_app: FastAPI, make_user: MakeUser, signing_key: SigningKey
    ) -> None:
        user = await make_user("cadre", COUNTY)
        first = (await login(gateway, user.username)).json()
        second = (await refresh(gateway, first["refresh_token"])).json()
        assert (await gateway.post("/auth/logout", headers=bearer(second["access_token"]))).status_code == 204
        other_replica = Revocations()
        await refresh_revocations(other_replica, gateway_app.state.sessions, access_ttl=900)
        c = claims(first["access_token"], signing_key)
        principal = Principal(
            sub=str(c["sub"]),
            role=Role.cadre,
            region=COUNTY,
            jti=str(c["jti"]),
            issued_at=int(str(c["iat"])),
            expires_at=int(str(c["exp"])),
            sid=str(c["sid"]),
        )
        try:
            other_replica.check(principal)
        except Unauthorized:
            pass
        else:
            raise AssertionError("a replica that only read the database still accepts the session's token")


class TestRefreshReuseRevokesAccessTokens:
    async def test_replaying_a_rotated_refresh_token_revokes_the_familys_access_tokens(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        first = (await login(gateway, user.username)).json()
        second = (await refresh(gateway, first["refresh_token"])).json()  # the thief's, say
        assert await me(gateway, second["access_token"]) == 200
        assert_problem(await refresh(gateway, first["refresh_token"]), 401)  # reuse: the family dies
        assert await me(gateway, first["access_token"]) == 401
        assert await me(gateway, second["access_token"]) == 401
        assert_problem(await refresh(gateway, second["refresh_token"]), 401)

    async def test_other_families_are_untouched(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        stolen = (await login(gateway, user.username)).json()
        other = (await login(gateway, user.username)).json()
        await refresh(gateway, stolen["refresh_token"])
        await refresh(gateway, stolen["refresh_token"])
        assert await me(gateway, other["access_token"]) == 200


async def test_a_local_family_revocation_survives_a_stale_refresh(db_urls: dict[str, str]) -> None:
    """Revoked here, not yet committed where the background refresh read: the family stays revoked."""
    engine = create_engine(asyncpg_url(db_urls["gateway"]))
    try:
        revocations = Revocations()
        revocations.revoke_family("family-1", time.time() + 960)
        async with session_factory(engine)() as session:
            await revocations.refresh(session, access_ttl=900)
        now = int(time.time())
        caller = Principal(
            sub="u", role=Role.cadre, region=COUNTY, jti="j", issued_at=now, expires_at=now + 60
        )
        revocations.check(caller)  # no session: unaffected
        revocations.check(replace(caller, sid="family-2"))  # another session: unaffected
        with pytest.raises(Unauthorized):
            revocations.check(replace(caller, sid="family-1"))
    finally:
        await engine.dispose()

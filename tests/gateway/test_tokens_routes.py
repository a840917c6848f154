"""Routes of the tokens feature, one class per route (the token endpoint: one per grant): logins, lockout,
refresh rotation and reuse detection, client credentials, malformed token requests, logout, the caller, JWKS and
the access-token format."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from fastapi import FastAPI

from gateway.identity import refresh_revocations
from gateway.settings import GatewaySettings
from shared.clock import rfc3339
from shared.jwt import KeySet, SigningKey
from tests.factories import (
    COUNTY,
    PROVINCE,
    MakeClient,
    MakeUser,
    User,
    assert_problem,
    bearer,
    disable_client,
    issue,
    login,
    token_for,
)

PROBLEM_JSON = "application/problem+json"
ALL_AUDIENCES = ["jingzhun-gateway", "jingzhun-registry", "jingzhun-planning", "jingzhun-assessment"]


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def client_token(
    client: httpx.AsyncClient, client_id: str, secret: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **extra}
    return await client.post("/auth/token", data=data)


async def audit_events(db_urls: dict[str, str]) -> list[tuple[str, str | None, str | None, str | None]]:
    """(action, actor, target, reason) of every identity audit event, oldest first."""
    conn = await asyncpg.connect(db_urls["gateway"])
    try:
        rows = await conn.fetch(
            "SELECT action, actor, target, detail->>'reason' AS reason FROM gateway_audit_event ORDER BY id"
        )
    finally:
        await conn.close()
    return [(r["action"], r["actor"], r["target"], r["reason"]) for r in rows]


async def user_row(db_urls: dict[str, str], user: User) -> asyncpg.Record:
    conn = await asyncpg.connect(db_urls["gateway"])
    try:
        row = await conn.fetchrow("SELECT * FROM gateway_user WHERE id = $1::uuid", user.id)
    finally:
        await conn.close()
    assert row is not None
    return row


async def throttle_row(
    db_urls: dict[str, str], user: User, *, missing_ok: bool = False
) -> asyncpg.Record | None:
    """The user's login throttle from the test client's address (tests/harness.py: 203.0.113.7)."""
    conn = await asyncpg.connect(db_urls["gateway"])
    try:
        row = await conn.fetchrow(
            "SELECT * FROM gateway_login_throttle WHERE account = $1 AND address = '203.0.113.7'",
            f"user:{user.username}",
        )
    finally:
        await conn.close()
    assert row is not None or missing_ok
    return row


# -- POST /auth/token, grant_type=password -----------------------------------------------------------------
class TestTokenPasswordGrant:
    async def test_valid(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        user = await make_user("cadre", COUNTY)
        response = await login(gateway, user.username)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["access_token"].count(".") == 2
        assert body["refresh_token"] and "." not in body["refresh_token"]
        assert body["refresh_token"] != body["access_token"]
        me = await gateway.get("/auth/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["sub"] == user.id
        assert me.json()["username"] == user.username

    async def test_username_is_matched_case_insensitively_and_trimmed(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        await make_user("cadre", COUNTY, "cadre.li")
        response = await login(gateway, "  Cadre.LI ")
        assert response.status_code == 200, response.text

    async def test_wrong_password(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        user = await make_user("cadre", COUNTY)
        response = await login(gateway, user.username, "not the password")
        body = assert_problem(response, 401, "invalid username or password")
        assert "access_token" not in body
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        wrong_password = await login(gateway, user.username, "not the password")
        unknown_user = await login(gateway, "nobody.here", "not the password")
        assert unknown_user.status_code == wrong_password.status_code == 401
        assert unknown_user.json() == wrong_password.json()
        assert unknown_user.headers["content-type"] == wrong_password.headers["content-type"] == PROBLEM_JSON
        assert unknown_user.headers["www-authenticate"] == wrong_password.headers["www-authenticate"]

    async def test_disabled_user_gets_the_same_answer_as_a_wrong_password(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        disabled = await make_user("cadre", COUNTY, disabled=True)
        other = await make_user("cadre", COUNTY)
        right_password = await login(gateway, disabled.username)
        wrong_password = await login(gateway, other.username, "not the password")
        assert_problem(right_password, 401)
        assert right_password.json() == wrong_password.json()

    async def test_unknown_user_costs_the_same_argon2_verification_as_a_wrong_password(
        self,
        gateway: httpx.AsyncClient,
        gateway_app: FastAPI,
        make_user: MakeUser,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        hasher = gateway_app.state.identity.passwords._hasher
        verified: list[str] = []
        real_verify = PasswordHasher.verify

        # PasswordHasher has __slots__, so the method is wrapped on the class; only this hasher is counted.
        def counting_verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
            if self is hasher:
                verified.append(hash if isinstance(hash, str) else hash.decode())
            return real_verify(self, hash, password)

        monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
        user = await make_user("cadre", COUNTY)

        assert_problem(await login(gateway, user.username, "not the password"), 401)
        assert len(verified) == 1
        user_hash = verified[0]

        assert_problem(await login(gateway, "no.such.user", "not the password"), 401)
        assert len(verified) == 2
        dummy_hash = verified[1]
        assert dummy_hash != user_hash
        # Same algorithm and cost parameters: the same work, whichever branch ran.
        assert extract_parameters(dummy_hash) == extract_parameters(user_hash)
        assert dummy_hash.split("$")[1] == user_hash.split("$")[1] == "argon2id"

        assert (await login(gateway, user.username)).status_code == 200
        assert len(verified) == 3


class TestTokenPasswordLockout:
    async def test_right_password_is_refused_while_locked(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for _ in range(5):  # login_max_failures default
            assert_problem(await login(gateway, user.username, "not the password"), 401)
        # The address-account pair is locked (the account itself is not: tests/gateway/test_login_throttle.py).
        pair = await throttle_row(db_urls, user)
        assert pair is not None and pair["locked_until"] is not None
        locked = await login(gateway, user.username)
        unknown = await login(gateway, "no.such.user", "not the password")
        assert_problem(locked, 401)
        assert locked.json() == unknown.json()  # a locked account does not announce itself

    async def test_fewer_failures_than_the_limit_do_not_lock_and_success_resets_the_count(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for _ in range(4):
            assert_problem(await login(gateway, user.username, "not the password"), 401)
        assert (await user_row(db_urls, user))["failed_logins"] == 4
        assert (await login(gateway, user.username)).status_code == 200
        row = await user_row(db_urls, user)
        assert row["failed_logins"] == 0
        assert row["locked_until"] is None
        assert await throttle_row(db_urls, user, missing_ok=True) is None
        # The count started again: four more failures still do not lock.
        for _ in range(4):
            assert_problem(await login(gateway, user.username, "not the password"), 401)
        assert (await login(gateway, user.username)).status_code == 200

    async def test_account_works_again_once_locked_until_has_passed(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for _ in range(5):
            await login(gateway, user.username, "not the password")
        assert_problem(await login(gateway, user.username), 401)
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            await conn.execute(
                "UPDATE gateway_login_throttle SET locked_until = now() - interval '1 second' WHERE account = $1",
                f"user:{user.username}",
            )
        finally:
            await conn.close()
        assert (await login(gateway, user.username)).status_code == 200

    async def test_lockout_is_audited(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for _ in range(5):
            await login(gateway, user.username, "not the password")
        await login(gateway, user.username)
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            rows = await conn.fetch(
                "SELECT action, detail->>'reason' AS reason FROM gateway_audit_event"
                " WHERE target = $1 ORDER BY id",
                f"user:{user.id}",
            )
        finally:
            await conn.close()
        actions = [(r["action"], r["reason"]) for r in rows]
        assert actions.count(("login_failed", "wrong password")) == 5
        assert ("account_locked", None) in actions
        assert actions[-1] == ("login_failed", "locked")

    async def test_unknown_user_is_audited_though_refused(
        self, gateway: httpx.AsyncClient, db_urls: dict[str, str]
    ) -> None:
        # The refusal keeps its writes (the commit point commits them before answering 401).
        assert_problem(await login(gateway, "No.Such.User", "not the password"), 401)
        assert await audit_events(db_urls) == [
            ("login_failed", None, "username:No.Such.User", "unknown user")
        ]

    async def test_disabled_user_is_audited_as_disabled(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY, disabled=True)
        assert_problem(await login(gateway, user.username), 401)
        assert await audit_events(db_urls) == [("login_failed", user.id, f"user:{user.id}", "disabled")]
        assert (await user_row(db_urls, user))["failed_logins"] == 0


class TestTokenPasswordShortLockout:
    @pytest.fixture
    def gateway_settings(self, gateway_settings: GatewaySettings) -> GatewaySettings:
        return gateway_settings.model_copy(update={"login_lockout_seconds": 1, "login_max_failures": 3})

    async def test_lock_expires_after_the_configured_lockout(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        for _ in range(3):
            assert_problem(await login(gateway, user.username, "not the password"), 401)
        assert_problem(await login(gateway, user.username), 401)
        await asyncio.sleep(1.2)
        response = await login(gateway, user.username)
        assert response.status_code == 200, response.text


# -- POST /auth/token, grant_type=refresh_token ------------------------------------------------------------
class TestTokenRefreshGrant:
    async def test_valid_rotates_the_refresh_token(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        first = (await login(gateway, user.username)).json()
        rotated = await refresh(gateway, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        assert rotated.headers["cache-control"] == "no-store"
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        me = await gateway.get("/auth/me", headers=bearer(second["access_token"]))
        assert me.status_code == 200
        assert me.json()["sub"] == user.id
        assert_problem(await refresh(gateway, first["refresh_token"]), 401, "already used")

    async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        r1 = (await login(gateway, user.username)).json()["refresh_token"]
        r2 = (await refresh(gateway, r1)).json()["refresh_token"]
        r3 = (await refresh(gateway, r2)).json()["refresh_token"]
        assert_problem(await refresh(gateway, r1), 401)  # replay of a stolen, already-rotated token
        # The legitimate holder's newest token is dead too.
        assert_problem(await refresh(gateway, r3), 401, "revoked")

    async def test_reuse_in_one_family_leaves_other_sessions_alone(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        laptop = (await login(gateway, user.username)).json()["refresh_token"]
        phone = (await login(gateway, user.username)).json()["refresh_token"]
        laptop2 = (await refresh(gateway, laptop)).json()["refresh_token"]
        assert_problem(await refresh(gateway, laptop), 401)
        assert_problem(await refresh(gateway, laptop2), 401)
        assert (await refresh(gateway, phone)).status_code == 200

    async def test_a_refused_refresh_changes_nothing(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        token = (await login(gateway, user.username)).json()["refresh_token"]
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            await conn.execute("UPDATE gateway_user SET disabled_at = now() WHERE id = $1::uuid", user.id)
            assert_problem(await refresh(gateway, token), 401, "user disabled")
            rotated = await conn.fetchval(
                "SELECT count(*) FROM gateway_refresh_token WHERE rotated_at IS NOT NULL OR revoked_at IS NOT NULL"
            )
            total = await conn.fetchval("SELECT count(*) FROM gateway_refresh_token")
        finally:
            await conn.close()
        assert (rotated, total) == (0, 1)  # rolled back: neither retired nor replaced

    async def test_reuse_is_audited(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        r1 = (await login(gateway, user.username)).json()["refresh_token"]
        await refresh(gateway, r1)
        await refresh(gateway, r1)
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            count = await conn.fetchval(
                "SELECT count(*) FROM gateway_audit_event"
                " WHERE action = 'refresh_reuse_detected' AND target = $1",
                f"user:{user.id}",
            )
        finally:
            await conn.close()
        assert count == 1

    async def test_unknown_refresh_token_is_401(self, gateway: httpx.AsyncClient) -> None:
        assert_problem(await refresh(gateway, "not-a-refresh-token"), 401, "not recognised")

    async def test_expired_refresh_token_is_401(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        user = await make_user("cadre", COUNTY)
        token = (await login(gateway, user.username)).json()["refresh_token"]
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            await conn.execute(
                "UPDATE gateway_refresh_token SET expires_at = now() - interval '1 second'"
                " WHERE user_id = $1::uuid",
                user.id,
            )
        finally:
            await conn.close()
        assert_problem(await refresh(gateway, token), 401, "expired")

    async def test_an_access_token_is_not_a_refresh_token(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        access = await token_for(gateway, user)
        assert_problem(await refresh(gateway, access), 401)


# -- POST /auth/logout -------------------------------------------------------------------------------------
class TestLogout:
    async def test_valid_revokes_the_access_token_and_the_refresh_family(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        tokens = (await login(gateway, user.username)).json()
        access, refresh_token = tokens["access_token"], tokens["refresh_token"]
        out = await gateway.post(
            "/auth/logout", headers=bearer(access), data={"refresh_token": refresh_token}
        )
        assert out.status_code == 204, out.text
        assert out.content == b""
        assert_problem(await gateway.get("/auth/me", headers=bearer(access)), 401, "revoked")
        assert_problem(await refresh(gateway, refresh_token), 401)

    async def test_logout_survives_a_reload_of_the_revocation_list(
        self, gateway: httpx.AsyncClient, gateway_app: FastAPI, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        access = await token_for(gateway, user)
        assert (await gateway.post("/auth/logout", headers=bearer(access))).status_code == 204
        app = gateway_app
        await refresh_revocations(app.state.revocations, app.state.sessions, access_ttl=900)
        assert_problem(await gateway.get("/auth/me", headers=bearer(access)), 401, "revoked")

    async def test_logout_revokes_only_the_presented_token(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        first = await token_for(gateway, user)
        second = await token_for(gateway, user)
        assert (await gateway.post("/auth/logout", headers=bearer(first))).status_code == 204
        assert (await gateway.get("/auth/me", headers=bearer(second))).status_code == 200

    async def test_logout_cannot_revoke_another_users_refresh_family(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        mallory = await make_user("cadre", COUNTY)
        alice = await make_user("cadre", COUNTY)
        alice_refresh = (await login(gateway, alice.username)).json()["refresh_token"]
        mallory_access = await token_for(gateway, mallory)
        out = await gateway.post(
            "/auth/logout", headers=bearer(mallory_access), data={"refresh_token": alice_refresh}
        )
        assert out.status_code == 204
        assert (await refresh(gateway, alice_refresh)).status_code == 200

    async def test_anonymous(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.post("/auth/logout")
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


# -- POST /auth/token, grant_type=client_credentials -------------------------------------------------------
class TestTokenClientCredentialsGrant:
    async def test_valid_province_client_with_form_fields_gets_an_all_audience_token(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        response = await client_token(gateway, "guangxi-province", secret)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["refresh_token"] is None
        assert body["expires_in"] == 900
        assert body["scope"].split() == ALL_AUDIENCES
        claims = jwt_part(body["access_token"], 1)
        assert claims["sub"] == "client:guangxi-province"
        assert claims["role"] == "province_system"
        assert claims["region"] == PROVINCE
        assert claims["aud"] == ALL_AUDIENCES
        me = await gateway.get("/auth/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200
        assert me.json()["role"] == "province_system"

    async def test_province_client_with_http_basic_gets_a_token(
        self, gateway: httpx.AsyncClient, make_client: MakeClient, registry: httpx.AsyncClient
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        response = await gateway.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=("guangxi-province", secret)
        )
        assert response.status_code == 200, response.text
        me = await registry.get("/me", headers=bearer(response.json()["access_token"]))
        assert me.status_code == 200
        assert me.json()["role"] == "province_system"
        assert me.json()["read_only"] is True

    async def test_wrong_secret_in_form_fields_is_401(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        await make_client("guangxi-province", "province_system", PROVINCE)
        response = await client_token(gateway, "guangxi-province", "wrong-secret")
        assert_problem(response, 401, "invalid client credentials")

    async def test_wrong_secret_with_http_basic_is_401(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        await make_client("guangxi-province", "province_system", PROVINCE)
        response = await gateway.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            auth=("guangxi-province", "wrong-secret"),
        )
        assert_problem(response, 401, "invalid client credentials")

    async def test_unknown_client_gets_the_same_answer_as_a_wrong_secret(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        await make_client("guangxi-province", "province_system", PROVINCE)
        wrong = await client_token(gateway, "guangxi-province", "wrong-secret")
        unknown = await client_token(gateway, "no-such-client", "wrong-secret")
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json() == wrong.json()

    @pytest.mark.parametrize(
        "value", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode()]
    )
    async def test_malformed_basic_credentials_are_401(self, gateway: httpx.AsyncClient, value: str) -> None:
        response = await gateway.post(
            "/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": value}
        )
        assert_problem(response, 401, "malformed Basic")

    async def test_audience_parameter_restricts_the_token(
        self, gateway: httpx.AsyncClient, make_client: MakeClient, registry: httpx.AsyncClient
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        response = await client_token(gateway, "guangxi-province", secret, audience="jingzhun-registry")
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        assert response.json()["scope"] == "jingzhun-registry"
        assert jwt_part(token, 1)["aud"] == ["jingzhun-registry"]
        assert (await registry.get("/me", headers=bearer(token))).status_code == 200
        assert_problem(await gateway.get("/auth/me", headers=bearer(token)), 401, "audience")

    async def test_unknown_audience_is_400(self, gateway: httpx.AsyncClient, make_client: MakeClient) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        response = await client_token(
            gateway, "guangxi-province", secret, audience="https://attacker.example"
        )
        assert_problem(response, 400, "unknown audience")

    async def test_service_token_for_registry_works_there_and_not_on_planning(
        self,
        gateway: httpx.AsyncClient,
        make_client: MakeClient,
        registry: httpx.AsyncClient,
        planning: httpx.AsyncClient,
    ) -> None:
        secret = await make_client("planning-service", "service", "000000000000")
        response = await client_token(gateway, "planning-service", secret, audience="jingzhun-registry")
        assert response.status_code == 200, response.text
        assert response.json()["expires_in"] == 300  # service_token_ttl_seconds
        token = response.json()["access_token"]
        me = await registry.get("/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "service"
        assert me.json()["sub"] == "client:planning-service"
        assert_problem(await planning.get("/me", headers=bearer(token)), 401, "audience")

    async def test_disabled_client_is_refused(
        self, gateway: httpx.AsyncClient, make_client: MakeClient, db_urls: dict[str, str]
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        await disable_client(db_urls["gateway"], "guangxi-province")
        assert_problem(
            await client_token(gateway, "guangxi-province", secret), 401, "invalid client credentials"
        )

    async def test_failed_client_authentication_is_audited_though_refused(
        self, gateway: httpx.AsyncClient, make_client: MakeClient, db_urls: dict[str, str]
    ) -> None:
        await make_client("guangxi-province", "province_system", PROVINCE)
        assert_problem(await client_token(gateway, "guangxi-province", "wrong-secret"), 401)
        assert_problem(
            await client_token(gateway, "x" * 65, "wrong-secret"), 401
        )  # too long to be a client id
        assert await audit_events(db_urls) == [
            ("client_auth_failed", None, "client:guangxi-province", None),
            ("client_auth_failed", None, "client:" + "x" * 64, None),
        ]

    async def test_unknown_audience_writes_nothing(
        self, gateway: httpx.AsyncClient, make_client: MakeClient, db_urls: dict[str, str]
    ) -> None:
        secret = await make_client("guangxi-province", "province_system", PROVINCE)
        assert_problem(await client_token(gateway, "guangxi-province", secret, audience="elsewhere"), 400)
        assert await audit_events(db_urls) == []


# -- POST /auth/token, malformed requests ------------------------------------------------------------------
class TestTokenInvalid:
    @pytest.mark.parametrize(
        "grant_type",
        ["authorization_code", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "PASSWORD"],
    )
    async def test_unsupported_grant_type_is_400(self, gateway: httpx.AsyncClient, grant_type: str) -> None:
        response = await gateway.post(
            "/auth/token", data={"grant_type": grant_type, "username": "x", "password": "y"}
        )
        body = assert_problem(response, 400, "unsupported grant_type")
        assert body["error"] == "unsupported_grant_type"

    @pytest.mark.parametrize(
        "data",
        [
            {"grant_type": "password", "username": "someone"},
            {"grant_type": "password", "password": "something"},
            {"grant_type": "password", "username": "", "password": "something"},
            {"grant_type": "refresh_token"},
            {"grant_type": "refresh_token", "refresh_token": ""},
            {"grant_type": "client_credentials", "client_id": "guangxi-province"},
            {"grant_type": "client_credentials", "client_secret": "secret"},
        ],
        ids=[
            "password-without-password",
            "password-without-username",
            "password-with-empty-username",
            "refresh-without-token",
            "refresh-with-empty-token",
            "client-without-secret",
            "client-without-id",
        ],
    )
    async def test_missing_fields_are_400(self, gateway: httpx.AsyncClient, data: dict[str, str]) -> None:
        assert_problem(await gateway.post("/auth/token", data=data), 400, "required")

    @pytest.mark.parametrize(
        "data", [{}, {"username": "someone", "password": "something"}, {"grant_type": ""}]
    )
    async def test_missing_grant_type_is_400(self, gateway: httpx.AsyncClient, data: dict[str, str]) -> None:
        assert_problem(await gateway.post("/auth/token", data=data), 400, "grant_type")

    async def test_nul_byte_in_a_field_is_400(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.post(
            "/auth/token", data={"grant_type": "password", "username": "a\x00b", "password": "x"}
        )
        assert_problem(response, 400, "NUL")


# -- GET /.well-known/jwks.json ----------------------------------------------------------------------------
class TestJwks:
    async def test_valid_publishes_the_public_rsa_key_only(
        self, gateway: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        response = await gateway.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert "public" in response.headers["cache-control"]
        keys = response.json()["keys"]
        assert len(keys) == 1
        key = keys[0]
        assert key["kty"] == "RSA"
        assert key["kid"] == signing_key.kid
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert key["n"] and key["e"]
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & key.keys()

    async def test_jwks_needs_no_token(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.get("/.well-known/jwks.json", headers={"Authorization": "Bearer garbage"})
        assert response.status_code == 200

    async def test_issued_tokens_verify_against_the_published_jwks(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        user = await make_user("cadre", COUNTY)
        token = await token_for(gateway, user)
        keyset = KeySet((await gateway.get("/.well-known/jwks.json")).json())
        for audience in ALL_AUDIENCES:
            claims = keyset.verify(token, audience=audience, issuer="jingzhun-gateway")
            assert claims["sub"] == user.id


# -- the access tokens POST /auth/token issues -------------------------------------------------------------
class TestTokenAccessTokenFormat:
    async def test_access_token_header_and_claims(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, signing_key: SigningKey
    ) -> None:
        user = await make_user("township_officer", "451025100000")
        before = int(time.time())
        token = await token_for(gateway, user)
        after = int(time.time())
        header, claims = jwt_part(token, 0), jwt_part(token, 1)
        assert header == {"alg": "RS256", "kid": signing_key.kid, "typ": "JWT"}
        assert {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "role", "region"} <= claims.keys()
        assert claims["iss"] == "jingzhun-gateway"
        assert claims["aud"] == ALL_AUDIENCES
        assert claims["sub"] == user.id
        assert claims["role"] == "township_officer"
        assert claims["region"] == "451025100000"
        assert claims["preferred_username"] == user.username
        assert before <= claims["iat"] <= after
        assert claims["nbf"] == claims["iat"]
        assert claims["exp"] - claims["iat"] == 900
        assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
        assert "password" not in json.dumps(claims)

    async def test_every_token_has_its_own_jti(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        user = await make_user("cadre", COUNTY)
        jtis = {jwt_part(await token_for(gateway, user), 1)["jti"] for _ in range(3)}
        assert len(jtis) == 3


# -- GET /auth/me ------------------------------------------------------------------------------------------
class TestMe:
    async def test_anonymous(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.get("/auth/me")
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_valid(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        user = await make_user("township_officer", "451025100000")
        token = await token_for(gateway, user)
        response = await gateway.get("/auth/me", headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body == {
            "sub": user.id,
            "username": user.username,
            "role": "township_officer",
            "region": "451025100000",
            "scope_prefix": "451025100",
            "expires_at": rfc3339(datetime.fromtimestamp(jwt_part(token, 1)["exp"], UTC)),
        }

    async def test_a_registry_token_is_not_a_gateway_token(
        self, gateway: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY, aud=["jingzhun-registry"])
        assert_problem(await gateway.get("/auth/me", headers=bearer(token)), 401, "audience")

"""`Idempotency-Key` (shared/idempotency.py) on the registry's mutating calls (issue #4): replay, reuse, in
progress, expiry, scope. The middleware is the platform's; the registry app drives it here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.clock import utcnow
from shared.idempotency import KEY_TTL, purge_expired
from shared.jwt import SigningKey
from tests.factories import (
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)
from tests.harness import running

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def clerk_sub() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def clerk(signing_key: SigningKey, clerk_sub: str) -> dict[str, str]:
    return auth(issue(signing_key, "village_officer", VILLAGE, sub=clerk_sub))


async def rows(db_urls: dict[str, str], sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        found: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return found
    finally:
        await conn.close()


async def households(db_urls: dict[str, str]) -> int:
    return int((await rows(db_urls, "SELECT count(*) AS n FROM registry_household"))[0]["n"])


async def test_replay_returns_the_stored_response(
    registry: httpx.AsyncClient, clerk: dict[str, str], db_urls: dict[str, str]
) -> None:
    payload = household_payload()
    headers = clerk | {"Idempotency-Key": "create-1"}
    first = await registry.post("/households", json=payload, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await registry.post("/households", json=payload, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert (
        again.headers["etag"] == first.headers["etag"]
        and again.headers["location"] == first.headers["location"]
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"]  # still a fresh request for the logs
    assert await households(db_urls) == 1
    # Without the key the same request runs again (and here is refused: the same person twice).
    assert_problem(await registry.post("/households", json=payload, headers=clerk), 409)


async def test_same_key_different_payload_is_422(
    registry: httpx.AsyncClient, clerk: dict[str, str], db_urls: dict[str, str]
) -> None:
    headers = clerk | {"Idempotency-Key": "k-2"}
    assert (await registry.post("/households", json=household_payload(), headers=headers)).status_code == 201
    other = await registry.post("/households", json=household_payload(), headers=headers)
    assert assert_problem(other, 422)["code"] == "idempotency_key_reused"
    elsewhere = await registry.post("/households/x/members", json={}, headers=headers)
    assert_problem(elsewhere, 422)
    assert await households(db_urls) == 1


async def test_in_progress_is_409(
    registry: httpx.AsyncClient, clerk: dict[str, str], clerk_sub: str, db_urls: dict[str, str]
) -> None:
    now = utcnow()
    await rows(
        db_urls,
        "INSERT INTO registry_idempotency_key (principal, key, method, path, request_hash, state, created_at,"
        " expires_at) VALUES ($1, 'busy', 'POST', '/households', 'x', 'in_progress', $2, $3)",
        clerk_sub,
        now,
        now + KEY_TTL,
    )
    response = await registry.post(
        "/households", json=household_payload(), headers=clerk | {"Idempotency-Key": "busy"}
    )
    body = assert_problem(response, 409)
    assert body["code"] == "idempotency_in_progress" and response.headers["retry-after"] == "1"
    assert await households(db_urls) == 0


async def test_keys_are_per_principal(
    registry: httpx.AsyncClient, clerk: dict[str, str], signing_key: SigningKey, db_urls: dict[str, str]
) -> None:
    other = auth(issue(signing_key, "village_officer", VILLAGE))
    assert (
        await registry.post(
            "/households", json=household_payload(), headers=clerk | {"Idempotency-Key": "same"}
        )
    ).status_code == 201
    response = await registry.post(
        "/households", json=household_payload(), headers=other | {"Idempotency-Key": "same"}
    )
    assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert await households(db_urls) == 2


async def test_refusals_are_stored_and_replayed_but_not_unauthenticated(
    registry: httpx.AsyncClient, clerk: dict[str, str], db_urls: dict[str, str]
) -> None:
    bad = household_payload(members=[])
    headers = clerk | {"Idempotency-Key": "bad"}
    first = await registry.post("/households", json=bad, headers=headers)
    assert_problem(first, 422)
    again = await registry.post("/households", json=bad, headers=headers)
    assert_problem(again, 422)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    # No token: passes through to its 401, nothing stored.
    assert_problem(await registry.post("/households", json=bad, headers={"Idempotency-Key": "anon"}), 401)
    keys = await rows(db_urls, "SELECT key, state FROM registry_idempotency_key ORDER BY key")
    assert [(r["key"], r["state"]) for r in keys] == [("bad", "done")]
    assert_problem(
        await registry.post("/households", json=bad, headers=clerk | {"Idempotency-Key": "x" * 201}), 400
    )


async def test_get_is_not_affected(
    registry: httpx.AsyncClient, clerk: dict[str, str], db_urls: dict[str, str]
) -> None:
    for _ in range(2):
        response = await registry.get("/households", headers=clerk | {"Idempotency-Key": "read"})
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
    assert await rows(db_urls, "SELECT * FROM registry_idempotency_key") == []


async def test_keys_expire_after_30_days_and_are_purged(
    registry_app: FastAPI, clerk: dict[str, str], clerk_sub: str, db_urls: dict[str, str]
) -> None:
    async with running(registry_app) as registry:
        headers = clerk | {"Idempotency-Key": "old"}
        assert (
            await registry.post("/households", json=household_payload(), headers=headers)
        ).status_code == 201
        stored = (await rows(db_urls, "SELECT created_at, expires_at FROM registry_idempotency_key"))[0]
        assert stored["expires_at"] - stored["created_at"] == timedelta(days=30)
        # 31 days later the key is free again: a different request under it runs.
        later = utcnow() + timedelta(days=31)
        registry_app.state.clock = lambda: later
        response = await registry.post("/households", json=household_payload(), headers=headers)
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
        assert await households(db_urls) == 2
        past = datetime.now(UTC) - timedelta(days=40)
        for key in ("a", "b"):
            await rows(
                db_urls,
                "INSERT INTO registry_idempotency_key (principal, key, method, path, request_hash, state,"
                " created_at, expires_at) VALUES ($1, $2, 'POST', '/x', 'h', 'done', $3, $4)",
                clerk_sub,
                key,
                past,
                past + KEY_TTL,
            )
        from services.registry.models import idempotency_key

        assert await purge_expired(registry_app.state.write_pool, idempotency_key) == 2
        left = await rows(db_urls, "SELECT key FROM registry_idempotency_key")
        assert [r["key"] for r in left] == ["old"]


async def test_help_record_correction_with_key(
    registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
) -> None:
    """Corrections are a typical use: the phone retries the same correction after a timeout."""
    from tests.registry.test_help_records_routes import Db, Phone, new_household, record

    db = Db(db_urls["registry"])
    clerk = auth(issue(signing_key, "village_officer", VILLAGE))
    phone = Phone(signing_key, db)
    await phone.register()
    hid = await new_household(registry, clerk, db)
    await phone.pair(hid)
    body = record(hid)
    assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
    fix = {k: v for k, v in body.items() if k not in ("id", "household_id")} | {"correction_reason": "补充"}
    headers = phone.headers | {"If-Match": '"1"', "Idempotency-Key": str(uuid.uuid4())}
    first = await registry.post(f"/help-records/{body['id']}/versions", json=fix, headers=headers)
    assert first.status_code == 201 and first.headers["etag"] == '"2"'
    again = await registry.post(f"/help-records/{body['id']}/versions", json=fix, headers=headers)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == '"2"'
    count = await rows(db_urls, "SELECT count(*) AS n FROM registry_help_record")
    assert count[0]["n"] == 2


async def test_server_errors_release_the_key(
    registry_app: FastAPI, clerk: dict[str, str], db_urls: dict[str, str]
) -> None:
    """A 5xx is not an answer to remember: the retry with the same key runs again."""
    calls: list[int] = []

    async def flaky() -> JSONResponse:
        calls.append(1)
        if len(calls) == 1:
            return JSONResponse({"detail": "down"}, status_code=503)
        return JSONResponse({"ok": True}, status_code=201)

    registry_app.add_api_route("/test-flaky", flaky, methods=["POST"])
    async with running(registry_app) as registry:
        headers = clerk | {"Idempotency-Key": "flaky"}
        assert (await registry.post("/test-flaky", json={}, headers=headers)).status_code == 503
        assert await rows(db_urls, "SELECT * FROM registry_idempotency_key") == []
        assert (await registry.post("/test-flaky", json={}, headers=headers)).status_code == 201
        replay = await registry.post("/test-flaky", json={}, headers=headers)
        assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert len(calls) == 2

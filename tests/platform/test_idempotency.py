"""`Idempotency-Key` (shared/idempotency.py) on the registry's mutating calls (issue #4): replay, reuse, in
progress, expiry, scope. The middleware is the platform's; the registry app drives it here."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared import idempotency
from shared.clock import utcnow
from shared.idempotency import KEY_TTL, purge_expired
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
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


# -- a large upload with a key: hashed as it streams, spooled to disk, memory flat ---------------------------------
UPLOAD_PIECE = b'{"note": "a line of a province upload"}\n' * 1600  # 64 000 bytes


async def upload(pieces: int) -> AsyncIterator[bytes]:
    """The body in pieces as a socket delivers them: a new bytes object each (as a server's receive gives)."""
    for i in range(pieces):
        yield b"%06d" % i + UPLOAD_PIECE[6:]


async def test_a_large_upload_is_hashed_streaming_with_flat_memory(
    registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
) -> None:
    """A 50 MB job upload with a key: the middleware hashes and spools it instead of holding it (memory grows far
    less than the body), the route gets every byte, and a retry of the same bytes (framed otherwise: with a
    Content-Length instead of chunked) is the same request, replayed."""
    pieces = 800
    size = pieces * len(UPLOAD_PIECE)
    admin = auth(issue(signing_key, "county_admin", COUNTY, sub="upload-admin"))
    headers = admin | {"Content-Type": "application/x-ndjson", "Idempotency-Key": "upload-50mb"}
    # A small upload first: what the first request of a process allocates once (caches, prepared statements) is
    # not what a large body costs.
    warm = await registry.post(
        "/jobs/imports", content=upload(2), headers=headers | {"Idempotency-Key": "warm"}
    )
    assert warm.status_code == 202, warm.text
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        first = await registry.post("/jobs/imports", content=upload(pieces), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.status_code == 202, first.text
    assert peak - before < size // 5, f"peak {peak - before} bytes for a {size}-byte body"
    stored = await rows(
        db_urls, "SELECT sum(length(data)) AS n FROM registry_job_chunk WHERE job_id = $1", first.json()["id"]
    )
    assert stored[0]["n"] == size and first.json()["progress"]["lines_total"] == pieces * 1600
    retry = await registry.post(
        "/jobs/imports", content=upload(pieces), headers=headers | {"Content-Length": str(size)}
    )
    assert retry.status_code == 202 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    other = await registry.post("/jobs/imports", content=upload(pieces - 1), headers=headers)
    assert assert_problem(other, 422)["code"] == "idempotency_key_reused"
    assert (await rows(db_urls, "SELECT count(*) AS n FROM registry_job"))[0]["n"] == 2  # and the warm-up's


async def test_the_request_hash_is_unchanged(
    registry: httpx.AsyncClient, clerk: dict[str, str], db_urls: dict[str, str]
) -> None:
    """The streamed hash is the one the whole body always had (keys stored before stay valid): sha256 over the
    method, path, query and body, each preceded by its 8-byte length; with and without a Content-Length."""
    payload = json.dumps(household_payload(), ensure_ascii=False).encode()

    def expected(method: str, path: str, query: bytes, body: bytes) -> str:
        digest = hashlib.sha256()
        for part in (method.encode(), path.encode(), query, body):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    async def chunked() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 100):
            yield payload[i : i + 100]

    sent = clerk | {"Content-Type": "application/json"}
    for key, content in (("sized", payload), ("chunked", chunked())):
        response = await registry.post(
            "/households", content=content, headers=sent | {"Idempotency-Key": key}
        )
        assert response.status_code in (201, 409), response.text
        stored = await rows(db_urls, "SELECT request_hash FROM registry_idempotency_key WHERE key = $1", key)
        assert stored[0]["request_hash"] == expected("POST", "/households", b"", payload)


async def test_a_body_over_the_limit_is_refused_before_anything_runs(
    registry: httpx.AsyncClient,
    clerk: dict[str, str],
    db_urls: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(idempotency, "MAX_BODY_BYTES", 10_000)
    headers = clerk | {"Content-Type": "application/json", "Idempotency-Key": "huge"}
    response = await registry.post("/households", content=upload(2), headers=headers)
    assert assert_problem(response, 413)["code"] == "idempotency_body_too_large"
    assert await rows(db_urls, "SELECT * FROM registry_idempotency_key") == []
    assert await households(db_urls) == 0

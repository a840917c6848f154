"""Import and export jobs (issue #15): 202 with the job's Location, progress, the complete error report paged,
cancel, idempotent retries, a worker that died, scope; and, through the gateway with a 1 s read timeout, an import
job longer than that completes and a retry is not duplicated.

The queue is drained in process (`JobQueue.work(wait=False)`, as the assessment's tests do); the gateway test runs
the worker as a task beside a uvicorn-served registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from services.registry.household_import import service as import_service
from services.registry.jobs import domain as jobs_domain
from services.registry.jobs.queue import QUEUE_SCHEMA, JobQueue
from services.registry.jobs.runner import JobRunner
from services.registry.worker import queue_for
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    VILLAGE,
    assert_problem,
    auth,
    count_rows,
    household_payload,
    issue,
)
from tests.harness import running, serve

NDJSON = {"Content-Type": "application/x-ndjson"}
SUB = "jobs-county-admin"

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "county_admin", COUNTY, sub=SUB), **NDJSON)


def _ndjson(*lines: dict[str, Any] | str) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines).encode()


def _households(n: int) -> list[dict[str, Any]]:
    return [household_payload(VILLAGE) for _ in range(n)]


async def _drain(app: FastAPI) -> None:
    queue, runner = queue_for(app)
    async with queue.opened(runner):
        await queue.work(wait=False)


async def _job(registry: httpx.AsyncClient, headers: dict[str, str], location: str) -> dict[str, Any]:
    response = await registry.get(location.removeprefix("/api/registry"), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestImportJobs:
    async def test_accepted_with_location_then_imported(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        response = await registry.post("/jobs/imports", content=_ndjson(*_households(3)), headers=admin)
        assert response.status_code == 202, response.text
        job = response.json()
        assert response.headers["location"] == f"/jobs/{job['id']}"  # the gateway prefixes it
        assert job["links"]["self"] == f"/api/registry/jobs/{job['id']}"
        assert job["status"] == "queued" and job["kind"] == "import"
        assert job["progress"] == {"lines_total": 3, "lines_done": 0}
        assert job["created_at"].endswith("Z")
        assert await count_rows(db_urls, "registry_household") == 0  # nothing before the worker ran
        await _drain(registry_app)
        job = await _job(registry, admin, response.headers["location"])
        assert job["status"] == "succeeded", job
        assert job["created"] == 3 and job["errors_count"] == 0
        assert job["progress"] == {"lines_total": 3, "lines_done": 3}
        assert job["finished_at"] is not None
        assert await count_rows(db_urls, "registry_household") == 3
        result = await registry.get(f"/jobs/{job['id']}/result", headers=admin)
        assert result.status_code == 200 and result.json()["households"] == 3
        # The stored file is gone once imported; the job is listed.
        assert await count_rows(db_urls, "registry_job_chunk") == 0
        listed = (await registry.get("/jobs", headers=admin)).json()
        assert [j["id"] for j in listed["items"]] == [job["id"]]

    async def test_every_error_is_reported_paged_and_nothing_written(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(import_service, "_CHUNK", 50)  # several chunks: every chunk is checked
        good = _households(20)
        bad = [household_payload("451026100201") for _ in range(300)]  # another county's village: 300 errors
        lines = good[:10] + bad + good[10:]
        response = await registry.post("/jobs/imports", content=_ndjson(*lines), headers=admin)
        assert response.status_code == 202
        await _drain(registry_app)
        job = await _job(registry, admin, response.headers["location"])
        assert job["status"] == "failed" and job["error_code"] == "import_invalid", job
        assert job["errors_count"] == 300 and job["created"] == 0
        seen: list[int] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
            page = (await registry.get(f"/jobs/{job['id']}/errors", params=params, headers=admin)).json()
            pages += 1
            seen += [e["line"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and seen == list(range(11, 311))
        assert await count_rows(db_urls, "registry_household") == 0
        result = await registry.get(f"/jobs/{job['id']}/result", headers=admin)
        assert assert_problem(result, 409)["code"] == "job_failed"

    async def test_the_synchronous_report_counts_every_error(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        bad = [household_payload("451026100201") for _ in range(150)]
        body = assert_problem(
            await registry.post("/households/import", content=_ndjson(*bad), headers=admin), 422
        )
        assert body["error_count"] == 150 and body["truncated"] is True and len(body["errors"]) == 100

    async def test_the_synchronous_import_is_limited_and_points_to_jobs(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        registry_app.state.import_sync_max_lines = 3
        response = await registry.post("/households/import", content=_ndjson(*_households(4)), headers=admin)
        body = assert_problem(response, 422)
        assert body["code"] == "import_too_large" and "POST /jobs/imports" in body["detail"]
        registry_app.state.import_sync_max_bytes = 100
        response = await registry.post("/households/import", content=_ndjson(*_households(1)), headers=admin)
        body = assert_problem(response, 413)
        assert body["code"] == "import_too_large" and "POST /jobs/imports" in body["detail"]
        assert await count_rows(db_urls, "registry_household") == 0

    async def test_cancel_a_queued_job(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        job = (await registry.post("/jobs/imports", content=_ndjson(*_households(2)), headers=admin)).json()
        cancelled = await registry.post(f"/jobs/{job['id']}/cancel", headers=admin)
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        await _drain(registry_app)
        assert (await _job(registry, admin, job["links"]["self"]))["status"] == "cancelled"
        assert await count_rows(db_urls, "registry_household") == 0
        again = await registry.post(f"/jobs/{job['id']}/cancel", headers=admin)
        assert assert_problem(again, 409)["code"] == "job_ended"

    async def test_a_running_import_cancelled_between_chunks_writes_nothing(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(import_service, "_CHUNK", 2)
        job = (await registry.post("/jobs/imports", content=_ndjson(*_households(8)), headers=admin)).json()
        original = JobRunner._progress
        calls = 0

        async def cancel_midway(self: JobRunner, job_id: uuid.UUID, **values: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:  # two chunks were copied in already
                response = await registry.post(f"/jobs/{job_id}/cancel", headers=admin)
                assert response.status_code == 200
            await original(self, job_id, **values)

        monkeypatch.setattr(JobRunner, "_progress", cancel_midway)
        await _drain(registry_app)
        assert (await _job(registry, admin, job["links"]["self"]))["status"] == "cancelled"
        assert await count_rows(db_urls, "registry_household") == 0
        assert await count_rows(db_urls, "registry_member") == 0

    async def test_same_key_same_job_no_duplicates(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        body = _ndjson(*_households(4))
        headers = admin | {"Idempotency-Key": "import-2026-12-06"}
        first = await registry.post("/jobs/imports", content=body, headers=headers)
        assert first.status_code == 202
        await _drain(registry_app)
        retry = await registry.post("/jobs/imports", content=body, headers=headers)
        assert retry.status_code in (200, 202) and retry.headers["location"] == first.headers["location"]
        assert retry.json()["id"] == first.json()["id"]
        await _drain(registry_app)
        assert await count_rows(db_urls, "registry_job") == 1
        assert await count_rows(db_urls, "registry_household") == 4
        other = await registry.post("/jobs/imports", content=_ndjson(*_households(1)), headers=headers)
        assert assert_problem(other, 422)["code"] == "idempotency_key_reused"
        assert await count_rows(db_urls, "registry_job") == 1

    async def test_a_job_left_doing_by_a_dead_worker_is_recovered(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        job = (await registry.post("/jobs/imports", content=_ndjson(*_households(3)), headers=admin)).json()
        # A worker took it and died: its entry `doing`, its heartbeat an hour old; the job `running`.
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            await conn.execute(f"SET search_path TO {QUEUE_SCHEMA}, public")
            worker = await conn.fetchval(
                f"INSERT INTO {QUEUE_SCHEMA}.procrastinate_workers (last_heartbeat)"  # noqa: S608
                " VALUES (now() - interval '1 hour') RETURNING id"
            )
            await conn.execute(
                f"UPDATE {QUEUE_SCHEMA}.procrastinate_jobs SET status = 'doing', worker_id = $1",  # noqa: S608
                worker,
            )
            await conn.execute("UPDATE registry_job SET status = 'running', started_at = now()")
        finally:
            await conn.close()
        queue, runner = queue_for(registry_app)
        async with queue.opened(runner):
            await queue.work(wait=False)  # a `doing` entry is not picked up...
            assert (await _job(registry, admin, job["links"]["self"]))["status"] == "running"
            assert await queue.recover_stalled() == 1  # ...until the next worker's start requeues it
            await queue.work(wait=False)
        done = await _job(registry, admin, job["links"]["self"])
        assert done["status"] == "succeeded" and done["created"] == 3
        assert await count_rows(db_urls, "registry_household") == 3

    async def test_another_principal_finds_no_job(
        self, registry: httpx.AsyncClient, admin: dict[str, str], signing_key: SigningKey
    ) -> None:
        job = (await registry.post("/jobs/imports", content=_ndjson(*_households(1)), headers=admin)).json()
        for other in (
            auth(issue(signing_key, "county_admin", COUNTY)),  # the same county, another person
            auth(issue(signing_key, "county_admin", OTHER_COUNTY, sub=SUB)),  # the same sub, out of scope
        ):
            for path in ("", "/errors", "/result"):
                assert_problem(await registry.get(f"/jobs/{job['id']}{path}", headers=other), 404)
            assert_problem(await registry.post(f"/jobs/{job['id']}/cancel", headers=other), 404)
            assert (await registry.get("/jobs", headers=other)).json()["items"] == []
        assert_problem(await registry.get(f"/jobs/{uuid.uuid4()}", headers=admin), 404)

    async def test_refused_up_front(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = auth(issue(signing_key, "village_officer", VILLAGE), **NDJSON)
        response = await registry.post("/jobs/imports", content=_ndjson(*_households(1)), headers=clerk)
        assert assert_problem(response, 403)["code"] == "import_not_allowed"
        admin = auth(issue(signing_key, "county_admin", COUNTY))
        response = await registry.post("/jobs/imports", content=b"{}", headers=admin)
        assert_problem(response, 415)


class TestExportJobs:
    async def test_an_export_job_keeps_the_file(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, admin: dict[str, str]
    ) -> None:
        await registry.post("/households/import", content=_ndjson(*_households(3)), headers=admin)
        headers = {"Authorization": admin["Authorization"]}
        response = await registry.post("/jobs/exports", json={"dataset": "households"}, headers=headers)
        assert response.status_code == 202, response.text
        await _drain(registry_app)
        job = await _job(registry, headers, response.headers["location"])
        assert job["status"] == "succeeded" and job["created"] == 3, job
        result = await registry.get(f"/jobs/{job['id']}/result", headers=headers)
        lines = [json.loads(x) for x in result.text.splitlines()]
        assert len(lines) == 4 and lines[-1]["_trailer"]["rows"] == 3
        assert result.headers["x-feed-cursor"] == job["result"]["feed_cursor"]

    async def test_a_csv_export_job_keeps_the_csv_file(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, admin: dict[str, str]
    ) -> None:
        await registry.post("/households/import", content=_ndjson(*_households(3)), headers=admin)
        headers = {"Authorization": admin["Authorization"]}
        body = {"dataset": "households", "format": "csv"}
        response = await registry.post("/jobs/exports", json=body, headers=headers)
        assert response.status_code == 202, response.text
        await _drain(registry_app)
        job = await _job(registry, headers, response.headers["location"])
        assert job["status"] == "succeeded" and job["created"] == 3, job
        assert job["result"]["format"] == "csv" and job["result"]["rows"] == 3
        result = await registry.get(f"/jobs/{job['id']}/result", headers=headers)
        assert result.status_code == 200, result.text
        assert result.headers["content-type"] == "text/csv; charset=utf-8"
        assert result.headers["content-disposition"].endswith(f'households-{job["id"]}.csv"')
        assert result.headers["x-feed-cursor"] == job["result"]["feed_cursor"]
        # Excel/WPS read it as UTF-8 by its BOM; a header row, then one CRLF line per household.
        assert result.content.startswith("\ufeff".encode())
        assert len(result.content) == job["result"]["bytes"]
        lines = result.content.decode("utf-8-sig").split("\r\n")
        assert lines[-1] == "" and len(lines) == 1 + 3 + 1
        header = next(csv.reader([lines[0]]))
        assert header[0] == "id" and "village_code" in header
        # The same file as the synchronous export of the same data.
        direct = await registry.get("/exports/households", params={"format": "csv"}, headers=headers)
        assert direct.status_code == 200 and direct.content == result.content

    async def test_cancel_a_queued_export_job(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        await registry.post("/households/import", content=_ndjson(*_households(2)), headers=admin)
        headers = {"Authorization": admin["Authorization"]}
        job = (await registry.post("/jobs/exports", json={"format": "csv"}, headers=headers)).json()
        cancelled = await registry.post(f"/jobs/{job['id']}/cancel", headers=headers)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled" and cancelled.json()["finished_at"] is not None
        await _drain(registry_app)  # the worker meets a cancelled job: it never runs
        after = await _job(registry, headers, job["links"]["self"])
        assert after["status"] == "cancelled" and after["result"] is None and after["started_at"] is None
        result = await registry.get(f"/jobs/{job['id']}/result", headers=headers)
        assert assert_problem(result, 409)["code"] == "job_cancelled"
        assert await count_rows(db_urls, "registry_job_chunk") == 0
        again = await registry.post(f"/jobs/{job['id']}/cancel", headers=headers)
        assert assert_problem(again, 409)["code"] == "job_ended"

    async def test_a_running_export_cancelled_keeps_no_file(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: dict[str, str],
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await registry.post("/households/import", content=_ndjson(*_households(6)), headers=admin)
        headers = {"Authorization": admin["Authorization"]}
        monkeypatch.setattr(jobs_domain, "CHUNK_BYTES", 200)  # many output chunks: progress between them
        job = (await registry.post("/jobs/exports", json={"format": "ndjson"}, headers=headers)).json()
        original = JobRunner._progress
        seen: list[str] = []

        async def cancel_midway(self: JobRunner, job_id: uuid.UUID, **values: Any) -> None:
            if not seen:  # the first chunks of the file are written (uncommitted): cancel now
                running = await _job(registry, headers, job["links"]["self"])
                seen.append(running["status"])
                response = await registry.post(f"/jobs/{job_id}/cancel", headers=headers)
                assert response.status_code == 200, response.text
            await original(self, job_id, **values)

        monkeypatch.setattr(JobRunner, "_progress", cancel_midway)
        audits = await count_rows(db_urls, "registry_audit_event")
        await _drain(registry_app)
        assert seen == ["running"]
        after = await _job(registry, headers, job["links"]["self"])
        assert after["status"] == "cancelled" and after["result"] is None, after
        result = await registry.get(f"/jobs/{job['id']}/result", headers=headers)
        assert assert_problem(result, 409)["code"] == "job_cancelled"
        # The export's transaction was rolled back: no stored file, no audit entry of an export made.
        assert await count_rows(db_urls, "registry_job_chunk") == 0
        assert await count_rows(db_urls, "registry_audit_event") == audits
        assert (await registry.post(f"/jobs/{job['id']}/cancel", headers=headers)).status_code == 409


@contextlib.asynccontextmanager
async def _worker(app: FastAPI) -> AsyncIterator[JobQueue]:
    queue, runner = queue_for(app)
    async with queue.opened(runner):
        task = asyncio.create_task(queue.work(wait=True))
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _finished(client: httpx.AsyncClient, location: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll the job until it ended (the client's side of a job: short requests, whatever the job's length)."""
    for _ in range(300):
        job: dict[str, Any] = (await client.get(location, headers=headers)).json()
        if job["status"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the job did not end: {job}")


class TestThroughTheGateway:
    async def test_a_job_longer_than_the_read_timeout_completes_and_a_retry_is_not_duplicated(
        self,
        registry_app: FastAPI,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from gateway.main import create_app as create_gateway

        monkeypatch.setattr(import_service, "_CHUNK", 2)
        original = JobRunner._progress

        async def slow(self: JobRunner, job_id: uuid.UUID, **values: Any) -> None:
            await asyncio.sleep(0.3)  # 6 chunks: the job takes about 2 s, twice the gateway's read timeout
            await original(self, job_id, **values)

        monkeypatch.setattr(JobRunner, "_progress", slow)
        headers = auth(issue(signing_key, "county_admin", COUNTY, sub=SUB), **NDJSON)
        headers["Idempotency-Key"] = "province-upload-1"
        body = _ndjson(*_households(10), household_payload("451026100201"), *_households(1))
        async with serve(registry_app) as registry_url:
            settings = gateway_settings.model_copy(
                update={"registry_url": registry_url, "proxy_read_timeout": 1.0}
            )
            async with (
                running(create_gateway(settings, signing_key=signing_key)) as gateway,
                _worker(registry_app),
            ):
                started = time.monotonic()
                response = await gateway.post("/api/registry/jobs/imports", content=body, headers=headers)
                assert response.status_code == 202, response.text
                location = response.headers["location"]
                job = await _finished(gateway, location, headers)
                elapsed = time.monotonic() - started
                assert elapsed > 1.0  # longer than the gateway's read timeout
                # The file has one bad line: reported, nothing imported; fix it and send it again (a new key).
                assert job["status"] == "failed" and job["errors_count"] == 1, job
                errors = (await gateway.get(f"{location}/errors", headers=headers)).json()["items"]
                assert [e["line"] for e in errors] == [11]
                fixed = _ndjson(*_households(12))
                headers["Idempotency-Key"] = "province-upload-2"
                response = await gateway.post("/api/registry/jobs/imports", content=fixed, headers=headers)
                assert response.status_code == 202
                location = response.headers["location"]
                retry = await gateway.post("/api/registry/jobs/imports", content=fixed, headers=headers)
                assert retry.headers["location"] == location  # the client's retry: the same job
                job = await _finished(gateway, location, headers)
                assert job["status"] == "succeeded" and job["created"] == 12, job
                retry = await gateway.post("/api/registry/jobs/imports", content=fixed, headers=headers)
                assert retry.headers["location"] == location
                await asyncio.sleep(0.3)
        assert await count_rows(db_urls, "registry_household") == 12
        assert await count_rows(db_urls, "registry_job") == 2

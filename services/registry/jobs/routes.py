"""Job routes (导入导出任务, issue #15): `POST /jobs/imports`, `POST /jobs/exports` (202 Accepted with the job's
`Location`), `GET /jobs`, `GET /jobs/{job_id}`, `GET /jobs/{job_id}/errors`, `GET /jobs/{job_id}/result`,
`POST /jobs/{job_id}/cancel`. A job is its principal's: anyone else gets 404, as for a job that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.registry.household_import.schemas import MAX_SOURCE_DOCUMENT, ImportMode
from services.registry.jobs.schemas import (
    DEFAULT_PAGE,
    MAX_JOB_BYTES,
    MAX_PAGE,
    ExportJobCreate,
    JobErrorPage,
    JobPage,
    JobPublic,
)
from services.registry.jobs.service import Created, JobService, result_chunks
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.problems import UnsupportedMediaType
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])

NDJSON = "application/x-ndjson"

JobId = Annotated[uuid.UUID, Path(description="The job's id")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the last page")
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="The same key and request give the same job (no second one); another request: 422",
        # Documented once, by the shared `IdempotencyKey` parameter every replayable write carries.
        include_in_schema=False,
    ),
]
_MEDIA = {"ndjson": NDJSON, "csv": "text/csv; charset=utf-8"}
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "No such job of yours"}}
_CREATED: dict[int | str, dict[str, Any]] = {
    200: {
        "model": JobPublic,
        "description": "The job an earlier request with the same Idempotency-Key created",
    },
    422: {"description": "Bad parameters, or the Idempotency-Key was used for another request"},
}


def _accepted(created: Created, response: Response) -> JobPublic:
    response.status_code = 202 if created.new else 200
    # The service's own path: the gateway prefixes it (`/api/registry/jobs/{id}`, as `links.self` says).
    response.headers["Location"] = f"/jobs/{created.job.id}"
    return created.job


@router.post(
    "/imports",
    status_code=202,
    response_model=JobPublic,
    dependencies=[require_writer],
    responses={
        **_CREATED,
        403: {"description": "Not a county admin"},
        413: {"description": f"Body larger than {MAX_JOB_BYTES} bytes"},
        415: {"description": "Not application/x-ndjson"},
    },
    summary="Import households from NDJSON as a job: every line checked, every error reported, all or nothing",
    openapi_extra={"requestBody": {"content": {NDJSON: {"schema": {"type": "string"}}}, "required": True}},
)
async def create_import_job(
    request: Request,
    response: Response,
    ctx: ContextDep,
    idempotency_key: IdempotencyKey = None,
    mode: Annotated[ImportMode, Query(description="As `POST /households/import`")] = ImportMode.registration,
    source_document: Annotated[str | None, Query(max_length=MAX_SOURCE_DOCUMENT)] = None,
) -> JobPublic:
    """The same file and parameters as `POST /households/import` (without `dry_run`), for files of any size
    up to 1 GiB: the answer comes at once (202, `Location` of the job); the worker checks every line, then
    imports all households or none. Poll the job; its `links.errors` lists every bad line."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != NDJSON:
        raise UnsupportedMediaType(f"send the file as {NDJSON}")
    created = await JobService(ctx).create_import(
        request.stream(), mode=mode, source_document=source_document, key=idempotency_key
    )
    return _accepted(created, response)


@router.post(
    "/exports",
    status_code=202,
    response_model=JobPublic,
    dependencies=[require_writer],
    responses={
        **_CREATED,
        403: {"description": "A role without exports"},
        404: {"description": "No such region"},
    },
    summary="Export a dataset as a job: the file is kept with the job (`GET /jobs/{job_id}/result`)",
)
async def create_export_job(
    request: Request,
    response: Response,
    ctx: ContextDep,
    body: ExportJobCreate,
    idempotency_key: IdempotencyKey = None,
) -> JobPublic:
    """The dataset, format, fields and region of `GET /exports/{dataset}`, run by the worker."""
    created = await JobService(ctx).create_export(
        body, request.app.state.primary_read_pool, key=idempotency_key
    )
    return _accepted(created, response)


@router.get("", response_model=JobPage, summary="Your jobs, newest first")
async def list_jobs(ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE) -> JobPage:
    """The jobs your login submitted (imports and exports), newest first, in keyset pages (`cursor`, `limit`)."""
    return await JobService(ctx).page(cursor, limit)


@router.get("/{job_id}", response_model=JobPublic, responses=_READ, summary="A job: status, progress, counts")
async def get_job(ctx: ReadContextDep, job_id: JobId) -> JobPublic:
    """Status (queued, running, succeeded, failed, cancelled), progress (`lines_total`, `lines_done`), counts
    (`created`, the complete `errors_count`) and links; another login's job answers 404, as a missing one."""
    return await JobService(ctx).get(job_id)


@router.get(
    "/{job_id}/errors",
    response_model=JobErrorPage,
    responses=_READ,
    summary="Every bad line of an import job, in line order, paged",
)
async def get_job_errors(
    ctx: ReadContextDep, job_id: JobId, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> JobErrorPage:
    """Every bad line of the file (line, JSON pointer, code, message), in line order, in keyset pages: the
    complete report, however many lines are wrong."""
    return await JobService(ctx).errors(job_id, cursor, limit)


@router.get(
    "/{job_id}/result",
    response_model=dict[str, Any],
    responses={
        **_READ,
        200: {"description": "An import's summary (JSON), or an export's file (NDJSON or CSV)"},
        409: {"description": "The job has not succeeded (`job_not_finished`, `job_failed`, `job_cancelled`)"},
    },
    summary="A job's result: an import's summary, or the exported file",
)
async def get_job_result(request: Request, ctx: ReadContextDep, job_id: JobId) -> Any:
    """An import's summary (households created, by village), or an export's file streamed as it was written in
    its snapshot (NDJSON or CSV, with `X-Feed-Cursor`); 409 until the job has succeeded."""
    job = await JobService(ctx).finished(job_id)
    if job.kind == "import":
        return job.result or {}
    fmt = str((job.result or {}).get("format", "ndjson"))
    pool = request.app.state.primary_read_pool

    async def body() -> AsyncIterator[bytes]:
        async for chunk in result_chunks(pool, job_id):
            yield chunk

    return StreamingResponse(
        body(),
        media_type=_MEDIA.get(fmt, NDJSON),
        headers={
            "X-Feed-Cursor": str((job.result or {}).get("feed_cursor", "")),
            "Content-Disposition": f'attachment; filename="{job.params.get("dataset", "export")}-{job_id}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/{job_id}/cancel",
    response_model=JobPublic,
    dependencies=[require_writer],
    responses={**_READ, 409: {"description": "The job has already ended (`job_ended`)"}},
    summary="Cancel a queued or running job (a running import stops between chunks and writes nothing)",
)
async def cancel_job(ctx: ContextDep, job_id: JobId) -> JobPublic:
    """A queued job never runs; a running import stops at its next chunk and, being one transaction, leaves
    nothing written; an ended job answers 409 `job_ended`."""
    return await JobService(ctx).cancel(job_id)

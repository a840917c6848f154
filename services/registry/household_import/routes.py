"""Bulk registration route: `POST /households/import`, an NDJSON file of households, all or nothing.

The hourly limit of rows checked without writing (dry runs, refused imports; issue #14 item 8) is the setting
`REGISTRY_IMPORT_CHECK_ROWS_PER_HOUR` (environment), or `app.state.import_check_rows_per_hour` when a test or
an embedding process sets it; by default `domain.DEFAULT_CHECK_ROWS_PER_HOUR`.

The synchronous import answers within the gateway's read timeout (30 s by default) or not at all: it takes at
most `MAX_SYNC_BYTES` (20 MiB) and `MAX_SYNC_LINES` (10,000 households). Measured here (2 shared cores,
PostgreSQL on the same machine) a migration of full national-form lines runs at about 650 households/s
(1.4 MiB/s): 10,000 households take about 15 s, half the timeout. Larger files are refused (413 / 422
`import_too_large`) with the advice to send them as a job, `POST /jobs/imports` (services/registry/jobs/), which
answers at once and has no such limit. `REGISTRY_IMPORT_SYNC_MAX_BYTES` / `REGISTRY_IMPORT_SYNC_MAX_LINES`
(environment) or `app.state.import_sync_max_bytes` / `import_sync_max_lines` change them (a registry reached
without the gateway, the benchmarks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Annotated

from fastapi import Query, Request

from services.registry.deps import CipherDep
from services.registry.household_import.schemas import (
    DEFAULT_CHECK_ROWS_PER_HOUR,
    MAX_ERRORS,
    MAX_SOURCE_DOCUMENT,
    ImportMode,
    ImportResult,
)
from services.registry.household_import.service import HouseholdImportService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.problems import PayloadTooLarge, UnprocessableEntity, UnsupportedMediaType
from shared.routing import APIRouter

__all__ = ["CHECK_ROWS_SETTING", "MAX_BULK_BYTES", "MAX_SYNC_BYTES", "MAX_SYNC_LINES", "NDJSON", "router"]

router = APIRouter(prefix="/households", tags=["households"])

NDJSON = "application/x-ndjson"
#: 100,000 households of a full national form (bench/registry_data.py) are about 210 MB.
MAX_BULK_BYTES = 256 * 1024 * 1024
#: The environment variable of the hourly limit of rows checked without writing.
CHECK_ROWS_SETTING = "REGISTRY_IMPORT_CHECK_ROWS_PER_HOUR"
#: What the synchronous import takes by default: it must answer within the gateway's 30 s read timeout.
MAX_SYNC_BYTES = 20 * 1024 * 1024
MAX_SYNC_LINES = 10_000
_USE_JOBS = "send larger files as an import job: POST /jobs/imports (the same file and parameters)"


def _sync_limit(request: Request, name: str, default: int) -> int:
    configured = getattr(request.app.state, f"import_sync_max_{name}", None)
    if configured is not None:
        return int(configured)
    return int(os.environ.get(f"REGISTRY_IMPORT_SYNC_MAX_{name.upper()}") or default)


def _check_rows_per_hour(request: Request) -> int:
    configured = getattr(request.app.state, "import_check_rows_per_hour", None)
    if configured is not None:
        return int(configured)
    return int(os.environ.get(CHECK_ROWS_SETTING) or DEFAULT_CHECK_ROWS_PER_HOUR)


def _lines(body: bytearray) -> Iterator[bytes]:
    """The body's lines one at a time (a list of them all would double the memory of a 200 MB file)."""
    start, size = 0, len(body)
    while start < size:
        end = body.find(b"\n", start)
        if end < 0:
            end = size
        yield bytes(body[start:end])
        start = end + 1


@router.post(
    "/import",
    response_model=ImportResult,
    dependencies=[require_writer],
    responses={
        403: {"description": "Not a county admin"},
        409: {
            "description": "Data written meanwhile conflicts with the file, or a migration exceeds village quotas "
            "(`quota_exceeded` with `rows`); nothing was imported"
        },
        413: {"description": "Body larger than 20 MiB (`import_too_large`): use `POST /jobs/imports`"},
        415: {"description": "Not application/x-ndjson"},
        422: {
            "description": f"Per-line `errors` (line, pointer, message, code; the first {MAX_ERRORS}, with "
            "`error_count` of all and `truncated`); nothing written. `registered_requires_migration`: a registered "
            "line outside a migration. `import_too_large`: more than 10,000 households, use `POST /jobs/imports`"
        },
        429: {"description": "Too many rows checked without being imported this hour (`Retry-After`)"},
    },
    summary="Register households identified elsewhere from NDJSON, one household per line; all or nothing",
    openapi_extra={"requestBody": {"content": {NDJSON: {"schema": {"type": "string"}}}, "required": True}},
)
async def import_households(
    request: Request,
    ctx: ContextDep,
    cipher: CipherDep,
    dry_run: Annotated[bool, Query(description="Validate only; write nothing")] = False,
    mode: Annotated[
        ImportMode,
        Query(
            description="`registration`: candidates, registered later through 两公示一公告; `migration`: a "
            "registered history from an older system (county administrators, with `source_document`)"
        ),
    ] = ImportMode.registration,
    source_document: Annotated[
        str | None,
        Query(
            max_length=MAX_SOURCE_DOCUMENT,
            description="A migration's source: the document (文号) or older system the history comes from",
        ),
    ] = None,
) -> ImportResult:
    """Each line: HouseholdCreate fields, optional `status` (`candidate`; `registered` only in a migration),
    optional `income`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != NDJSON:
        raise UnsupportedMediaType(f"send the file as {NDJSON}")
    max_bytes = min(MAX_BULK_BYTES, _sync_limit(request, "bytes", MAX_SYNC_BYTES))
    max_lines = _sync_limit(request, "lines", MAX_SYNC_LINES)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise PayloadTooLarge(
                f"body larger than {max_bytes} bytes, the synchronous import's limit; {_USE_JOBS}",
                code="import_too_large",
                limit_bytes=max_bytes,
            )
    rows = sum(1 for line in _lines(body) if line.strip())
    if rows > max_lines:
        raise UnprocessableEntity(
            f"{rows} households, more than the synchronous import's {max_lines}; {_USE_JOBS}",
            code="import_too_large",
            limit_lines=max_lines,
        )
    return await HouseholdImportService(ctx, cipher).run(
        _lines(body),
        dry_run=dry_run,
        mode=mode,
        source_document=source_document,
        rows=rows,
        check_rows_per_hour=_check_rows_per_hour(request),
    )

"""Bulk registration route: `POST /households/import`, an NDJSON file of households, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Query, Request

from services.registry.deps import CipherDep
from services.registry.household_import.schemas import MAX_ERRORS, ImportResult
from services.registry.household_import.service import HouseholdImportService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.problems import PayloadTooLarge, UnsupportedMediaType
from shared.routing import APIRouter

__all__ = ["MAX_BULK_BYTES", "NDJSON", "router"]

router = APIRouter(prefix="/households", tags=["households"])

NDJSON = "application/x-ndjson"
#: 100,000 households of a full national form (bench/registry_data.py) are about 210 MB.
MAX_BULK_BYTES = 256 * 1024 * 1024


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
        409: {"description": "Data written meanwhile conflicts with the file; nothing was imported"},
        413: {"description": "Body larger than 256 MiB"},
        415: {"description": "Not application/x-ndjson"},
        422: {
            "description": f"Per-line `errors` (line, pointer, message; the first {MAX_ERRORS}); nothing written"
        },
    },
    summary="Register households identified elsewhere from NDJSON, one household per line; all or nothing",
    openapi_extra={"requestBody": {"content": {NDJSON: {"schema": {"type": "string"}}}, "required": True}},
)
async def import_households(
    request: Request,
    ctx: ContextDep,
    cipher: CipherDep,
    dry_run: Annotated[bool, Query(description="Validate only; write nothing")] = False,
) -> ImportResult:
    """Each line: HouseholdCreate fields, optional `status` (candidate|registered), optional `income`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != NDJSON:
        raise UnsupportedMediaType(f"send the file as {NDJSON}")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BULK_BYTES:
            raise PayloadTooLarge(f"body larger than {MAX_BULK_BYTES} bytes")
    return await HouseholdImportService(ctx, cipher).run(_lines(body), dry_run=dry_run)

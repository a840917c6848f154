"""Phone download route (离线同步, issue #4): the calling cadre's paired households, incrementally."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query, Request, Response

from services.registry.sync.schemas import SyncDownload
from services.registry.sync.service import SyncService
from shared.context import ReadContextDep
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["sync"])


@router.get(
    "/sync/download",
    response_model=SyncDownload,
    summary="Phone download: the caller's paired households (cards, last help records), incrementally",
    responses={
        200: {"description": "Households changed since the cursor (all of them when `full`), and removals"},
        400: {"description": "The cursor is not one this server issued (`cursor_invalid`)"},
        403: {"description": "Only cadres download"},
    },
)
async def download_sync(
    ctx: ReadContextDep,
    request: Request,
    cursor: Annotated[
        str | None, Query(max_length=512, description="The `cursor` of your last download; absent: full")
    ] = None,
    records: Annotated[int, Query(ge=1, le=100, description="Help records per household, newest first")] = 20,
) -> Response:
    """Households with an active pairing for the calling cadre; with a cursor, only what changed since.

    The body is `SyncDownload`, sent as PostgreSQL built it (not re-serialised: the measured fast path)."""
    started = time.perf_counter()
    body = await SyncService(ctx, request.app.state.primary_read_pool).download(cursor, records=records)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Server-Timing": f"db;dur={elapsed_ms:.1f}"},
    )

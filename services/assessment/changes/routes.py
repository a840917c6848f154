"""`GET /changes`: the gapless change feed of the caller's view of runs and results, with tombstones and long
polling (issue #15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from services.assessment.changes.schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_WAIT_SECONDS,
    AssessmentChangePage,
)
from services.assessment.changes.service import ChangeService
from shared.context import ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["changes"])


@router.get(
    "/changes",
    response_model=AssessmentChangePage,
    summary="Follow every change of the runs and results you may read: gapless, in commit order",
    responses={
        403: {"description": "Village officers and cadres have no feed (`feed_not_allowed`)"},
        410: {"description": "The cursor is older than the retention (`cursor_expired`): re-export"},
        422: {"description": "A malformed cursor (`invalid_cursor`), an unknown type (`unknown_feed_type`)"},
    },
)
async def read_changes(
    ctx: ReadContextDep,
    request: Request,
    after: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="The `next_cursor` of the last page, or an export's `X-Feed-Cursor`; absent: from "
            "the start (only while the feed was never pruned)",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(max_length=200, description="Comma list of `run`, `result`, `finding` (absent: all)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Changes read at most")] = DEFAULT_LIMIT,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a change when there is none")
    ] = 0,
) -> Response:
    """The changes after `after` in your view, in commit order: a change is delivered only once every
    transaction before it has ended, so none is ever skipped. One item per record (the latest wins), with its
    current state — a run as `GET /runs/{run_id}` answers it, a result or a finding as its export's row — or a
    tombstone (`deleted`, `left_scope`). A run's results change when it is published. The province system and services see
    published runs and their results only (nothing of an unpublished run, not even a tombstone); county admins
    their county's; township officers their county's runs and their township's results; findings by region."""
    body = await ChangeService(ctx, request.app.state.read_pool).read_json(
        after=after, types=types, limit=limit, wait=wait
    )
    return Response(content=body.encode(), media_type="application/json")

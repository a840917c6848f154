"""`GET /changes`: planning's gapless change feed of the caller's region (plans, projects, ledger entries), with
tombstones and long polling (issue #15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from services.planning.changes.schemas import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, PlanningChangePage
from services.planning.changes.service import ChangeService
from shared.context import ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter(tags=["changes"])

#: The tag of these routes, with planning's description (main.py declares it over shared/openapi.py's).
TAGS = {
    "changes": (
        "The change feed of plans, projects and the funds ledger (变更订阅): gapless, in commit order, with "
        "tombstones; follow it from an export's cursor"
    )
}


@router.get(
    "/changes",
    response_model=PlanningChangePage,
    summary="Follow every change of your region's plans, projects and ledger: gapless, in commit order",
    responses={
        403: {"description": "Cadres have no feed (`feed_not_allowed`)"},
        410: {"description": "The cursor is older than the retention (`cursor_expired`): re-export"},
        422: {"description": "A malformed cursor (`invalid_cursor`), an unknown type (`unknown_feed_type`)"},
    },
)
async def read_planning_changes(
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
        Query(max_length=200, description="Comma list of `plan`, `project`, `ledger_entry` (absent: all)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Changes read at most")] = DEFAULT_LIMIT,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a change when there is none")
    ] = 0,
) -> Response:
    """The changes after `after` in the caller's region subtree, in commit order: a change is delivered only once
    every transaction before it has ended, so none is ever skipped. One item per record (the latest wins), with
    its current state (the line the export of its dataset writes: `plan` as in `/exports/plans`, `project` as in
    `/exports/projects`, `ledger_entry` as in `/exports/funds_ledger`) or a `deleted` tombstone. County admins,
    township and village officers, the province system and services."""
    # The body is `PlanningChangePage` written directly (the records' JSON text as PostgreSQL built it).
    body = await ChangeService(ctx, request.app.state.read_pool).read_json(
        after=after, types=types, limit=limit, wait=wait
    )
    return Response(content=body.encode(), media_type="application/json")

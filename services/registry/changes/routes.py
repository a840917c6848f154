"""`GET /changes`: the gapless change feed of the caller's region, with tombstones and long polling (issue #15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import Response

from services.registry.changes.schemas import DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECONDS, ChangePage
from services.registry.changes.service import ChangeService
from shared.context import ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["changes"])


@router.get(
    "/changes",
    response_model=ChangePage,
    summary="Follow every change of your region: gapless, in commit order, with tombstones",
    responses={
        403: {"description": "Cadres have no feed (`feed_not_allowed`): they use `/sync/download`"},
        410: {"description": "The cursor is older than the retention (`cursor_expired`): re-export"},
        422: {
            "description": "A malformed cursor (`invalid_cursor`), an unknown type (`unknown_feed_type`), an "
            "unknown field in `fields` (`unknown_export_field`)"
        },
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
        Query(
            max_length=200, description="Comma list of `household`, `help_record`, `pairing` (absent: all)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Changes read at most")] = DEFAULT_LIMIT,
    fields: Annotated[
        str | None,
        Query(
            max_length=4000,
            description="Per record type, the fields its records carry, in the exports' syntax and catalogue: "
            "`type:field,...` groups separated by `;`, e.g. `household:id,status,village_code,members.id,"
            "members.name;pairing:id,role,valid_to`; a nested name alone (`members`) all its fields; a type not "
            "named: its whole record. Tombstones are unchanged",
        ),
    ] = None,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds to wait for a change when there is none")
    ] = 0,
) -> Response:
    """The changes after `after` in the caller's region subtree, in commit order: a change is delivered only
    once every transaction before it has ended, so none is ever skipped. One item per record (the latest
    wins), with its current state (masked as the API masks it) or a tombstone (`deleted`, `removed`,
    `left_scope`). County admins, township and village officers, the province system and services."""
    # The body is `ChangePage` written directly (the records' JSON text as PostgreSQL built it, never parsed
    # and validated again); `response_model` documents it.
    body = await ChangeService(ctx, request.app.state.read_pool).read_json(
        after=after, types=types, limit=limit, wait=wait, fields=fields
    )
    return Response(content=body.encode(), media_type="application/json")

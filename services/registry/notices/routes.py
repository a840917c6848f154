"""The notice board over HTTP (thin): `/villages/{code}/notices` (JSON) and `/villages/{code}/notices/print`
(the printable page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import HTMLResponse

from services.registry.notices.schemas import NoticeBoardPublic
from services.registry.notices.service import NoticeService, print_board
from shared.context import ContextDep
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/villages", tags=["notices"])

VillagePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The village's 12-digit division code")]
_READ: dict[int | str, dict[str, Any]] = {404: {"description": "No such village, or not in your region"}}


@router.get(
    "/{code}/notices",
    response_model=NoticeBoardPublic,
    responses=_READ,
    summary="The village's running notices as villagers see them (公示)",
)
async def get_notice_board(code: VillagePath, ctx: ContextDep) -> NoticeBoardPublic:
    """Every household of the village now in one of the four notices (identification first and second notice,
    exit first and second notice), grouped by notice: the head's name, natural village and group, household
    size, primary poverty cause, the head's ID number masked (first 6 + last 4), when it was posted, where, and
    the earliest moment it may close; whether an objection is pending. No phone, no bank data, no income."""
    return await NoticeService(ctx).board(code)


@router.get(
    "/{code}/notices/print",
    response_model=NoticeBoardPublic,
    response_class=HTMLResponse,
    responses=_READ,
    summary="The village's running notices as a printable page (HTML, A4)",
)
async def print_notice_board(code: VillagePath, ctx: ContextDep) -> HTMLResponse:
    """The same board as one self-contained HTML page to print and post (A4): one table per notice under its
    Chinese heading, how to object, and the village committee's signature line."""
    return HTMLResponse(
        print_board(await NoticeService(ctx).board(code)), media_type="text/html; charset=utf-8"
    )

"""`GET /code-lists` and `GET /code-lists/{name}`: the labels of every assessment code a client sees (any signed-in
caller)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Response

from services.assessment.code_lists.schemas import CodeListCatalogue, CodeListPublic
from services.assessment.code_lists.service import CodeListService
from shared.auth import PrincipalDep
from shared.code_lists import CACHE_CONTROL
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/code-lists", tags=["code lists"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No code list of that name"}}
CodeListName = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="The list's stable name",
        examples=["assessment_grade"],
    ),
]


@router.get(
    "",
    response_model=CodeListCatalogue,
    summary="Every assessment code list with its codes and zh-CN / English labels (代码表)",
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def list_assessment_code_lists(
    _principal: PrincipalDep,
    response: Response,
    if_none_match: Annotated[str | None, Header(description="An ETag of this catalogue you hold")] = None,
) -> CodeListCatalogue | Response:
    """Every code list (代码表) of the assessment API — subject types, metric units, directions and sources,
    scoring methods, comparisons, veto effects, grades, rounding modes, scheme statuses — and the shared ones
    (roles, region levels), with their codes and zh-CN and English labels; revalidate with If-None-Match."""
    service = CodeListService()
    catalogue, tag = service.catalogue()
    if service.not_modified(if_none_match, tag):
        return Response(status_code=304, headers={"ETag": tag, "Cache-Control": CACHE_CONTROL})
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return catalogue


@router.get(
    "/{name}",
    response_model=CodeListPublic,
    responses=_NOT_FOUND,
    summary="One assessment code list with its codes and zh-CN / English labels",
)
async def get_assessment_code_list(
    name: CodeListName, _principal: PrincipalDep, response: Response
) -> CodeListPublic:
    """One code list (代码表) with its codes and their zh-CN and English labels."""
    found = CodeListService().one(name)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return found

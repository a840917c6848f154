"""`GET /code-lists` and `GET /code-lists/{name}`: the labels of every code a client sees (any signed-in caller)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Response

from services.registry.code_lists.schemas import CodeListCatalogue, CodeListPublic
from services.registry.code_lists.service import CodeListService
from shared.auth import PrincipalDep
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/code-lists", tags=["code lists"])

#: The lists change only with a deploy: a dashboard may keep them an hour, and revalidate with If-None-Match.
_CACHE = "private, max-age=3600"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No code list of that name"}}
CodeListName = Annotated[
    str,
    Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="The list's stable name", examples=["poverty_cause"]),
]


@router.get(
    "",
    response_model=CodeListCatalogue,
    summary="Every code list with its codes and zh-CN / English labels (代码表)",
    responses={304: {"description": "Not modified (If-None-Match matched the ETag)"}},
)
async def list_code_lists(
    _principal: PrincipalDep,
    response: Response,
    if_none_match: Annotated[str | None, Header(description="An ETag of this catalogue you hold")] = None,
) -> CodeListCatalogue | Response:
    """Every code list (代码表) of the API with its codes and their zh-CN and English labels, for forms and
    dashboards; revalidate with If-None-Match."""
    catalogue, tag = CodeListService().catalogue()
    if if_none_match is not None and tag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": tag, "Cache-Control": _CACHE})
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = _CACHE
    return catalogue


@router.get(
    "/{name}",
    response_model=CodeListPublic,
    responses=_NOT_FOUND,
    summary="One code list with its codes and zh-CN / English labels",
)
async def get_code_list(name: CodeListName, _principal: PrincipalDep, response: Response) -> CodeListPublic:
    """One code list (代码表) with its codes and their zh-CN and English labels."""
    found = CodeListService().one(name)
    response.headers["Cache-Control"] = _CACHE
    return found

"""Scheme routes: the format's JSON Schema, the default templates, and schemes with their lifecycle
(`/schemes`, `/schemes/{scheme_id}/…`, `/templates`). Thin: payload in, one service call, a response model out."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.assessment.schemes.schemas import (
    SchemeCreate,
    SchemeJsonSchema,
    SchemePage,
    SchemePublic,
    SchemeStatus,
    SchemeUpdate,
    SubjectType,
    TemplatePage,
    TemplatePublic,
)
from services.assessment.schemes.service import SchemeService, TemplateService
from shared.auth import PrincipalDep, require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import NOT_MODIFIED, IfMatchDep, IfNoneMatchHeader, etag, not_modified, not_modified_response
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter()

#: The tags of these routes, with their descriptions (main.py declares them).
TAGS = {
    "schemes": (
        "Assessment schemes (考核方案) as data: indicators and their scoring methods, vetoes (一票否决), bonuses, "
        "grade bands, commendation rules; validated on save; versions draft → published → locked"
    ),
    "templates": "The default scheme templates (默认考核模板) A-F: household exit, village, cadre, helping unit, "
    "township, CPPCC unit",
}

SchemeId = Annotated[uuid.UUID, Path(description="A scheme version's id")]
TemplateCode = Annotated[str, Path(pattern=r"^[A-Z]$", description="The template's letter (A-F)")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=200)]

_READ: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role does not read assessment schemes (cadres and village officers)"},
    404: {"description": "Missing or outside your region"},
}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only county administrators configure schemes, for their county"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by the lifecycle (`scheme_not_draft`, `scheme_not_published`, …)"},
    422: {
        "description": (
            "The scheme breaks a rule (`scheme_invalid`): `errors[]` names each, with a JSON Pointer to the "
            "indicator and the rule as `code`"
        )
    },
}


def _tagged(response: Response, scheme: SchemePublic) -> SchemePublic:
    response.headers["ETag"] = etag(scheme.revision)
    return scheme


# -- the format ------------------------------------------------------------------------------------------------
@router.get(
    "/schemes/json-schema",
    response_model=SchemeJsonSchema,
    tags=["schemes"],
    summary="The JSON Schema of a scheme document (draft 2020-12)",
)
async def get_scheme_json_schema(_principal: PrincipalDep) -> SchemeJsonSchema:
    """The JSON Schema of the scheme format (`POST /schemes` validates the structure with it; the rules of
    invariant 43 are checked on top): indicators, the eight scoring methods as a union tagged by `method`,
    vetoes, bonuses, grade bands, commendation rules."""
    return SchemeService.json_schema()


# -- templates -------------------------------------------------------------------------------------------------
@router.get(
    "/templates",
    response_model=TemplatePage,
    tags=["templates"],
    summary="The default templates A-F of DOMAIN.md §6.5",
)
async def list_templates(_principal: PrincipalDep) -> TemplatePage:
    """The default templates (one page): A household exit, B village, C cadre, D helping unit, E township,
    F CPPCC unit."""
    return TemplateService().page()


@router.get(
    "/templates/{code}",
    response_model=TemplatePublic,
    tags=["templates"],
    responses={404: {"description": "No such template"}},
    summary="One default template with its whole scheme document",
)
async def get_template(code: TemplateCode, _principal: PrincipalDep) -> TemplatePublic:
    """A template's scheme document, exactly as `POST /schemes` takes it (`POST /schemes?template=B` drafts a
    copy for your county)."""
    return TemplateService().get(code)


# -- schemes ---------------------------------------------------------------------------------------------------
@router.post(
    "/schemes",
    status_code=201,
    response_model=SchemePublic,
    tags=["schemes"],
    dependencies=[require_writer],
    responses=_WRITE,
    summary="Draft a scheme of your county: a document, or a copy of a template (county admin)",
)
async def create_scheme(
    ctx: ContextDep,
    response: Response,
    payload: SchemeCreate | None = None,
    template: Annotated[
        str | None, Query(pattern=r"^[A-Z]$", description="Draft a copy of this template (no body)")
    ] = None,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="With `template`: the year (this year by default)")
    ] = None,
) -> SchemePublic:
    """Draft a scheme for your county: send the document (`GET /schemes/json-schema`), or no body and
    `?template=B` (`&year=2016`). It is validated (invariant 43: siblings sum to their parent, the first level to
    the total, every metric known and of the subject type, every threshold in its metric's unit, grade bands
    cover [0, total], …); a broken rule is a 422 listing every problem with its pointer. `Location` is the
    scheme; its `ETag` the revision."""
    scheme = await SchemeService(ctx).create(payload, template_code=template, year=year)
    response.headers["Location"] = f"/schemes/{scheme.id}"
    return _tagged(response, scheme)


@router.get(
    "/schemes",
    response_model=SchemePage,
    tags=["schemes"],
    responses={**_READ, 400: {"description": "Invalid cursor"}},
    summary="Scheme versions you may read, newest year first (keyset pages)",
)
async def list_schemes(
    ctx: ReadContextDep,
    subject_type: Annotated[
        SubjectType | None, Query(description="Only schemes of this subject type")
    ] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="Only schemes of this year")] = None,
    status: Annotated[SchemeStatus | None, Query(description="Only versions in this status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> SchemePage:
    """The scheme versions of your county (a township officer: its county's; the province: all of it), newest
    year first, optionally of one subject type, year or status."""
    return await SchemeService(ctx).page(
        subject_type=subject_type, year=year, status=status, cursor=cursor, limit=limit
    )


@router.get(
    "/schemes/{scheme_id}",
    response_model=SchemePublic,
    tags=["schemes"],
    responses={**NOT_MODIFIED, **_READ},
    summary="A scheme version: its document, status and place among its versions",
)
async def get_scheme(
    scheme_id: SchemeId, ctx: ReadContextDep, response: Response, if_none_match: IfNoneMatchHeader = None
) -> SchemePublic | Response:
    """A scheme version with its whole document, the metrics it reads, whether it ranks among peers, its status
    and the versions before and after it. The ETag is its revision."""
    scheme = await SchemeService(ctx).get(scheme_id)
    tag = etag(scheme.revision)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    return _tagged(response, scheme)


@router.patch(
    "/schemes/{scheme_id}",
    response_model=SchemePublic,
    tags=["schemes"],
    dependencies=[require_writer],
    responses={
        **_WRITE,
        409: {"description": "Not a draft (`scheme_not_draft`): draft a new version to change it"},
        412: {"description": "Stale If-Match (`current_version` is the current revision)"},
        428: {"description": "If-Match missing"},
    },
    summary="Edit a draft scheme (If-Match: its revision); the members sent replace the stored ones",
)
async def update_scheme(
    scheme_id: SchemeId, payload: SchemeUpdate, version: IfMatchDep, ctx: ContextDep, response: Response
) -> SchemePublic:
    """Edit a draft: each member sent replaces the stored one (`indicators` as a whole); the result is validated
    like a new scheme. A published or locked scheme is never edited."""
    return _tagged(response, await SchemeService(ctx).update(scheme_id, version, payload))


@router.post(
    "/schemes/{scheme_id}/publication",
    response_model=SchemePublic,
    tags=["schemes"],
    dependencies=[require_writer],
    responses={**_WRITE, 409: {"description": "Not a draft (`scheme_not_draft`)"}},
    summary="Publish a draft scheme: runs may use it, it is never edited again (county admin)",
)
async def publish_scheme(scheme_id: SchemeId, ctx: ContextDep, response: Response) -> SchemePublic:
    """Publish a draft (发布). An older published version of the same scheme is marked `superseded_by` it and
    stays readable."""
    return _tagged(response, await SchemeService(ctx).publish(scheme_id))


@router.post(
    "/schemes/{scheme_id}/lock",
    response_model=SchemePublic,
    tags=["schemes"],
    dependencies=[require_writer],
    responses={**_WRITE, 409: {"description": "Not published (`scheme_not_published`)"}},
    summary="Lock a published scheme: its year's results stand on it (county admin)",
)
async def lock_scheme(scheme_id: SchemeId, ctx: ContextDep, response: Response) -> SchemePublic:
    """Lock a published scheme (锁定): nothing about it changes again and no new version is drafted from it."""
    return _tagged(response, await SchemeService(ctx).lock(scheme_id))


@router.post(
    "/schemes/{scheme_id}/versions",
    status_code=201,
    response_model=SchemePublic,
    tags=["schemes"],
    dependencies=[require_writer],
    responses={
        **_WRITE,
        409: {
            "description": (
                "Not published (`scheme_not_published`), locked (`scheme_locked`), or a draft is open "
                "(`draft_open`)"
            )
        },
    },
    summary="Draft a new version of a published scheme (county admin)",
)
async def create_scheme_version(scheme_id: SchemeId, ctx: ContextDep, response: Response) -> SchemePublic:
    """A new draft (version + 1) copied from a published version, to edit and publish; the published one stays
    readable and in force until the new one is published. `Location` is the new version."""
    scheme = await SchemeService(ctx).new_version(scheme_id)
    response.headers["Location"] = f"/schemes/{scheme.id}"
    return _tagged(response, scheme)


@router.get(
    "/schemes/{scheme_id}/versions",
    response_model=SchemePage,
    tags=["schemes"],
    responses={**_READ, 400: {"description": "Invalid cursor"}},
    summary="Every version of the scheme, oldest first",
)
async def list_scheme_versions(
    scheme_id: SchemeId, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 50
) -> SchemePage:
    """Every version of the scheme this version belongs to, oldest first: superseded versions stay readable."""
    return await SchemeService(ctx).versions(scheme_id, cursor=cursor, limit=limit)

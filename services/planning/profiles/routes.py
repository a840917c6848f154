"""Village profile routes: `PUT` / `GET /villages/{code}/profiles/{year}` (村情, If-Match versions)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Response

from services.planning.deps import RegistryDep
from services.planning.profiles.schemas import ProfileFigures, ProfilePublic
from services.planning.profiles.service import ProfileService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import (
    NOT_MODIFIED,
    IfMatchHeader,
    IfNoneMatchHeader,
    etag,
    not_modified,
    not_modified_response,
    parse_if_match,
)
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter(tags=["village profiles"])

#: The tag of these routes, with its description (main.py declares it).
TAGS = {
    "village profiles": (
        "Village profiles (村情): the yearly declared figures, the registry's beside them, and the inconsistencies "
        "flagged"
    )
}

VillagePath = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The village's 12-digit division code")]
YearPath = Annotated[int, Path(ge=2000, le=2100, description="Calendar year")]


async def _profile_version(if_match: IfMatchHeader = None) -> int | None:
    # The first version has nothing to match; the service answers 428 once the profile exists.
    return parse_if_match(if_match, what="profile") if if_match is not None else None


#: The profile version a write is based on (`If-Match`), None for the year's first profile.
ProfileVersionDep = Annotated[int | None, Depends(_profile_version)]

_WRITE: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created: the year's first profile", "model": ProfilePublic},
    403: {"description": "Your role may not write profiles"},
    404: {"description": "Village missing (in the registry too) or outside your region"},
    412: {"description": "Stale If-Match (or If-Match for a profile that does not exist)"},
    422: {
        "description": "Invalid figures, or a year the registry has no figures of "
        "(`registry_year_out_of_range`: before 2013 or in the future)"
    },
    428: {"description": "If-Match missing for a profile that exists"},
    503: {"description": "The registry did not answer (`registry_unavailable`); nothing changed"},
}


@router.put(
    "/villages/{code}/profiles/{year}",
    response_model=ProfilePublic,
    dependencies=[require_writer],
    responses=_WRITE,
    summary="Write a village's yearly profile; the registry's figures are stored beside it and differences flagged",
)
async def put_village_profile(
    code: VillagePath,
    year: YearPath,
    payload: ProfileFigures,
    version: ProfileVersionDep,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> ProfilePublic:
    """Write a village's declared figures for a year (村情: households, population, land, forest, infrastructure,
    collective income, coverage …). The registry's poor households and people, population and incidence of the
    year — as of its 31 December (a household that exited later still counts) — are fetched and stored beside them; figures that disagree are stored and flagged (`flags`), never
    refused. The first version is created (201, `Location`) without If-Match; later ones need it."""
    profile, created = await ProfileService(ctx, registry).put(code, year, version, payload)
    response.headers["ETag"] = etag(profile.version)
    if created:
        response.status_code = 201
        response.headers["Location"] = f"/villages/{code}/profiles/{year}"
    return profile


@router.get(
    "/villages/{code}/profiles/{year}",
    response_model=ProfilePublic,
    responses={
        **NOT_MODIFIED,
        403: {"description": "Cadres do not read profiles"},
        404: {"description": "No profile"},
    },
    summary="A village's profile of a year, with the registry's figures and the flags",
)
async def get_village_profile(
    code: VillagePath,
    year: YearPath,
    ctx: ReadContextDep,
    registry: RegistryDep,
    response: Response,
    if_none_match: IfNoneMatchHeader = None,
) -> ProfilePublic | Response:
    """A village's profile of a year: the declared figures, the registry's figures stored beside them, the figures
    derived from them and every flag with its figures; 304 with If-None-Match while current."""
    profile = await ProfileService(ctx, registry).get(code, year)
    tag = etag(profile.version)
    if not_modified(if_none_match, tag):
        return not_modified_response(tag)
    response.headers["ETag"] = tag
    return profile

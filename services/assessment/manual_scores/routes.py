"""Manual entry routes (`/manual-entries…`): an assessor's value of a manual metric or score of a manual indicator,
its corrections as versions, its evidence. Thin: payload in, one service call, a response model out."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from services.assessment.inspections.schemas import (
    FIRST_YEAR,
    EvidencePublic,
    evidence_download,
    evidence_file,
    evidence_post,
    evidence_upload,
)
from services.assessment.manual_scores.schemas import (
    ManualEntryCorrection,
    ManualEntryCreate,
    ManualEntryPage,
    ManualEntryPublic,
    SubjectType,
)
from services.assessment.manual_scores.service import ManualEntryService
from shared.context import ContextDep, ReadContextDep
from shared.etag import IfMatchDep, etag
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter(tags=["manual-entries"])

#: The tag of these routes, with its description (main.py declares it).
TAGS = {
    "manual-entries": (
        "Assessors' entries (考核人员录入): the value of a manual metric or the score of a manual indicator for a "
        "subject and year, with a written reason (invariant 44); a correction is a new version, the latest counts"
    )
}

EntryId = Annotated[uuid.UUID, Path(description="A manual entry version's id")]
_READ: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role does not read assessors' entries (village officers, cadres)"},
    404: {"description": "Missing or outside your region"},
}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Only county admins and township officers enter figures (`manual_editor_required`), never "
        "for their own region (`own_assessment`)"
    },
    404: {"description": "Missing or outside your region"},
    409: {
        "description": "An entry exists for the subject, year and target (`manual_entry_exists`): correct it"
    },
    422: {"description": "Invalid input: `errors[]` names the field (the metric, the value in its unit, …)"},
}


def _tagged(response: Response, entry: ManualEntryPublic) -> ManualEntryPublic:
    response.headers["ETag"] = etag(entry.latest_version)
    return entry


@router.post(
    "/manual-entries",
    status_code=201,
    response_model=ManualEntryPublic,
    responses=_WRITE,
    summary="Enter a manual metric's value or a manual indicator's score for a subject and year, with the reason",
)
async def create_manual_entry(
    payload: ManualEntryCreate, ctx: ContextDep, response: Response
) -> ManualEntryPublic:
    """Version 1 of an entry: a metric whose source is `manual` (its value in the metric's unit: 1/0, a whole count
    or fen, a percent), or a scheme's `manual` indicator (points in [0, its max]); the written reason is required.
    `Location` is the entry, its `ETag` the latest version (for corrections)."""
    created = await ManualEntryService(ctx).create(payload)
    response.headers["Location"] = f"/manual-entries/{created.id}"
    return _tagged(response, created)


@router.get(
    "/manual-entries",
    response_model=ManualEntryPage,
    responses={**_READ, 400: {"description": "Invalid cursor"}},
    summary="The latest version of each entry in your region (keyset pages)",
)
async def list_manual_entries(
    ctx: ReadContextDep,
    year: Annotated[int | None, Query(ge=FIRST_YEAR, le=2100, description="Only this year")] = None,
    subject_type: Annotated[SubjectType | None, Query(description="Only of this subject type")] = None,
    subject_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this subject")
    ] = None,
    metric_code: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="Only this metric")
    ] = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="Only under this region")] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ManualEntryPage:
    """The entries that count (the latest version of each), by subject and target."""
    return await ManualEntryService(ctx).page(
        year=year,
        subject_type=subject_type,
        subject_id=subject_id,
        metric_code=metric_code,
        region=region,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/manual-entries/{entry_id}",
    response_model=ManualEntryPublic,
    responses=_READ,
    summary="One version of an entry (the ETag is the entry's latest version)",
)
async def get_manual_entry(entry_id: EntryId, ctx: ReadContextDep, response: Response) -> ManualEntryPublic:
    """Any version stays readable; `latest` says whether it is the one that counts."""
    return _tagged(response, await ManualEntryService(ctx).get(entry_id))


@router.get(
    "/manual-entries/{entry_id}/versions",
    response_model=ManualEntryPage,
    responses=_READ,
    summary="Every version of the entry, oldest first",
)
async def list_manual_entry_versions(entry_id: EntryId, ctx: ReadContextDep) -> ManualEntryPage:
    """The entry's versions with their values, reasons and authors (one page)."""
    return await ManualEntryService(ctx).versions(entry_id)


@router.post(
    "/manual-entries/{entry_id}/corrections",
    status_code=201,
    response_model=ManualEntryPublic,
    responses={
        **_WRITE,
        409: {"description": "Corrected meanwhile (`manual_entry_corrected`)"},
        412: {"description": "Stale If-Match (`current_version` is the latest version)"},
        428: {"description": "If-Match missing"},
    },
    summary="Correct an entry (If-Match: its latest version): a new version with the value and why",
)
async def correct_manual_entry(
    entry_id: EntryId,
    payload: ManualEntryCorrection,
    version: IfMatchDep,
    ctx: ContextDep,
    response: Response,
) -> ManualEntryPublic:
    """The next version of the entry; the corrected one stays readable (`GET …/versions`) and stops counting."""
    created = await ManualEntryService(ctx).correct(entry_id, version, payload)
    response.headers["Location"] = f"/manual-entries/{created.id}"
    return _tagged(response, created)


@router.post(
    "/manual-entries/{entry_id}/evidence",
    summary="Attach evidence to the latest version of an entry (raw bytes)",
    **evidence_post(
        {**_WRITE, 409: {"description": "Not the latest version (`entry_superseded`) or too many files"}}
    ),
)
async def add_manual_entry_evidence(
    entry_id: EntryId, request: Request, ctx: ContextDep, response: Response
) -> EvidencePublic:
    """A photo or scanned document by its sha256 (the same bytes again answer the stored file, 200)."""
    attach = functools.partial(ManualEntryService(ctx).attach, entry_id)
    return await evidence_upload(request, response, f"/manual-entries/{entry_id}/evidence", attach)


@router.get(
    "/manual-entries/{entry_id}/evidence/{evidence_id}",
    summary="An entry's evidence file (ETag: its sha256)",
    **evidence_download(_READ),
)
async def get_manual_entry_evidence(
    entry_id: EntryId,
    evidence_id: Annotated[uuid.UUID, Path(description="An evidence file's id")],
    request: Request,
    ctx: ReadContextDep,
) -> Response:
    """The file's bytes, as stored with its media type, cacheable by its hash."""
    return evidence_file(request, await ManualEntryService(ctx).evidence_bytes(entry_id, evidence_id))

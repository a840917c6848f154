"""Inspection routes: inspections and their sample (`/inspections…`), findings and their evidence (`/findings…`),
rectification tasks with the overdue list and the per-region summary (`/rectifications…`), and the inspection
and manual figures of a year (`/figures/{subject_type}`). Thin: payload in, one service call, a response model out.
"""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from services.assessment.deps import RegistryDep
from services.assessment.inspections.schemas import (
    FIGURE_ROWS,
    FIRST_YEAR,
    NDJSON,
    EvidencePublic,
    FindingCategory,
    FindingCreate,
    FindingDismissal,
    FindingPage,
    FindingPublic,
    FindingReview,
    FindingStatus,
    FindingSubjectType,
    InspectionClose,
    InspectionCreate,
    InspectionLevel,
    InspectionPage,
    InspectionPublic,
    InspectionStatus,
    InspectionUpdate,
    RectificationAcceptance,
    RectificationCreate,
    RectificationPage,
    RectificationPublic,
    RectificationReopening,
    RectificationStatus,
    RectificationSubmission,
    RectificationSummary,
    SamplePage,
    SubjectType,
    evidence_download,
    evidence_file,
    evidence_post,
    evidence_upload,
    wants_ndjson,
)
from services.assessment.inspections.service import (
    FigureService,
    FindingService,
    InspectionService,
    RectificationService,
)
from shared.context import Context, ContextDep, ReadContextDep
from shared.etag import IfMatchDep, etag
from shared.pagination import MAX_CURSOR_LENGTH, Page
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter()

#: The tags of these routes, with their descriptions (main.py declares them).
TAGS = {
    "inspections": (
        "The checking chain (检查考核, §6.3): 省抽查 → 市督查 → 县核查 → 乡镇全面抽查 — inspections of a region "
        "and year, the sample drawn from a stored seed (configurable rate; county 10 % of households per township)"
    ),
    "findings": (
        "Inspection findings (检查发现问题): subject, category (识别不准, 资料缺失, 资金违规, 拆户, 空挂户, 优亲厚友, "
        "数据造假), severity, evidence; confirmed by a second person; a deduction or a veto"
    ),
    "rectifications": "Rectification tasks (限期整改, R11): owner, deadline, open → submitted → accepted / reopened; "
    "overdue reporting and a per-region summary",
    "inspection-figures": "The inspection and manual figures of a year per subject (检查与录入考核数据), shaped as "
    "the registry's figure rows: what an assessment run reads besides the registry and planning",
}

InspectionId = Annotated[uuid.UUID, Path(description="An inspection's id")]
FindingId = Annotated[uuid.UUID, Path(description="A finding's id")]
RectificationId = Annotated[uuid.UUID, Path(description="A rectification task's id")]
EvidenceId = Annotated[uuid.UUID, Path(description="An evidence file's id")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=200)]
YearQuery = Annotated[int | None, Query(ge=FIRST_YEAR, le=2100, description="Only this assessment year")]
RegionQuery = Annotated[
    str | None, Query(pattern=r"^[0-9]{12}$", description="Only under this region (12-digit division code)")
]

_READ: dict[int | str, dict[str, Any]] = {404: {"description": "Missing or outside your region"}}
_INSPECTION_WRITE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Only the level's own officers (a township's, a county's) act on it; the province client "
        "reads but never writes (invariant 48)"
    },
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by the lifecycle (`inspection_not_planned`, `findings_unreviewed`, …)"},
    422: {"description": "Invalid input: `errors[]` names each field by its JSON Pointer"},
}
_FINDING_WRITE: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not an inspector or checking officer (`inspector_required`), the reporter reviewing their "
        "own finding (`second_person_required`), or below the inspection's level (`reviewer_level_required`)"
    },
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by the lifecycle (`inspection_closed`, `inspection_not_started`, …)"},
    422: {"description": "Invalid input: `errors[]` names each field by its JSON Pointer"},
    503: {"description": "The registry did not answer (`registry_unavailable`); nothing was stored"},
}
_RECTIFICATION_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not the task's owner (reports) or the checking side (orders, accepts, reopens)"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by the lifecycle (`finding_not_confirmed`, `rectification_open`, …)"},
    422: {"description": "Invalid input (a deadline not after the finding, …): `errors[]` names the field"},
    503: {"description": "The registry did not answer (`registry_unavailable`); nothing was stored"},
}


# -- inspections ------------------------------------------------------------------------------------------------
@router.post(
    "/inspections",
    status_code=201,
    response_model=InspectionPublic,
    tags=["inspections"],
    responses=_INSPECTION_WRITE,
    summary="Plan an inspection of a region (the level's own officers)",
)
async def create_inspection(
    payload: InspectionCreate, ctx: ContextDep, response: Response
) -> InspectionPublic:
    """Plan a check of the chain: 县核查 by the county's admin, 乡镇全面抽查 by the township's officers, of a region
    at or below their own. 省抽查 and 市督查 have no creator yet: the province client is read-only (invariant 48)
    and no role is a provincial or city officer (403 `inspection_creator_required`). Its seed is generated and
    stored; the sample is drawn when it starts. `Location` is the inspection, its `ETag` the revision."""
    created = await InspectionService(ctx).create(payload)
    response.headers["Location"] = f"/inspections/{created.id}"
    response.headers["ETag"] = etag(created.revision)
    return created


@router.get(
    "/inspections",
    response_model=InspectionPage,
    tags=["inspections"],
    responses={400: {"description": "Invalid cursor"}},
    summary="Inspections you may see, newest year first (keyset pages)",
)
async def list_inspections(
    ctx: ReadContextDep,
    year: YearQuery = None,
    level: Annotated[InspectionLevel | None, Query(description="Only this level")] = None,
    status: Annotated[InspectionStatus | None, Query(description="Only in this status")] = None,
    region: RegionQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> InspectionPage:
    """The checks of your region, the checks of regions you lie in, and the checks you inspect."""
    return await InspectionService(ctx).page(
        year=year, level=level, status=status, region=region, cursor=cursor, limit=limit
    )


@router.get(
    "/inspections/{inspection_id}",
    response_model=InspectionPublic,
    tags=["inspections"],
    responses=_READ,
    summary="An inspection: its sampling, status and findings tally",
)
async def get_inspection(
    inspection_id: InspectionId, ctx: ReadContextDep, response: Response
) -> InspectionPublic:
    """An inspection with its seed, its frame's size and digest per township once started, and its findings per
    status. The `ETag` is its revision."""
    found = await InspectionService(ctx).get(inspection_id)
    response.headers["ETag"] = etag(found.revision)
    return found


@router.patch(
    "/inspections/{inspection_id}",
    response_model=InspectionPublic,
    tags=["inspections"],
    responses={
        **_INSPECTION_WRITE,
        412: {"description": "Stale If-Match (`current_version` is the current revision)"},
        428: {"description": "If-Match missing"},
    },
    summary="Edit an inspection (If-Match): the sampling while planned, name and inspectors until closed",
)
async def update_inspection(
    inspection_id: InspectionId,
    payload: InspectionUpdate,
    version: IfMatchDep,
    ctx: ContextDep,
    response: Response,
) -> InspectionPublic:
    """The members sent replace the stored ones; the sampling rate and unit change only before the draw."""
    updated = await InspectionService(ctx).update(inspection_id, version, payload)
    response.headers["ETag"] = etag(updated.revision)
    return updated


@router.post(
    "/inspections/{inspection_id}/start",
    response_model=InspectionPublic,
    tags=["inspections"],
    responses={**_INSPECTION_WRITE, 503: {"description": "The registry did not answer; nothing was drawn"}},
    summary="Start an inspection: draw its sample from the registry's households (planned → in progress)",
)
async def start_inspection(
    inspection_id: InspectionId, ctx: ContextDep, registry: RegistryDep, response: Response
) -> InspectionPublic:
    """The registry's identified households (建档立卡, registered to exited) of the region are the frame; per
    township the households (or villages) are sorted by sha256(seed:id) and the first ceil(rate x n / 100) drawn —
    re-derivable from the seed and the frame (its digest is kept per township)."""
    started = await InspectionService(ctx, registry).start(inspection_id)
    response.headers["ETag"] = etag(started.revision)
    return started


@router.post(
    "/inspections/{inspection_id}/close",
    response_model=InspectionPublic,
    tags=["inspections"],
    responses=_INSPECTION_WRITE,
    summary="Close an inspection once every finding is confirmed or dismissed",
)
async def close_inspection(
    inspection_id: InspectionId, ctx: ContextDep, response: Response, payload: InspectionClose | None = None
) -> InspectionPublic:
    """In progress → closed; a closed inspection takes no new finding, and its sample counts as checked in the
    year's identification accuracy."""
    closed = await InspectionService(ctx).close(inspection_id, payload.note if payload else None)
    response.headers["ETag"] = etag(closed.revision)
    return closed


@router.get(
    "/inspections/{inspection_id}/sample",
    response_model=SamplePage,
    tags=["inspections"],
    responses={
        **_READ,
        400: {"description": "Invalid cursor"},
        403: {
            "description": "The sample of a check under way is withheld from the checked (`sample_withheld`)"
        },
    },
    summary="The households drawn, by township and rank in the draw",
)
async def list_inspection_sample(
    inspection_id: InspectionId,
    ctx: ReadContextDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> SamplePage:
    """Spot checks are unannounced: until closed, only the checking officers and the inspectors see the sample."""
    return await InspectionService(ctx).sample(inspection_id, cursor=cursor, limit=limit)


# -- findings ---------------------------------------------------------------------------------------------------
@router.post(
    "/inspections/{inspection_id}/findings",
    status_code=201,
    response_model=FindingPublic,
    tags=["findings"],
    responses=_FINDING_WRITE,
    summary="Report a finding of an inspection in progress (its inspectors or checking officers)",
)
async def create_finding(
    inspection_id: InspectionId,
    payload: FindingCreate,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> FindingPublic:
    """A finding about a household (its village is read from the registry), a village, a township, a cadre or a
    helping unit inside the region checked; dated between the start and today; with the effect it asks for once
    confirmed (`deduction` of points on an indicator, or a `veto` rule). It counts only once confirmed."""
    created = await FindingService(ctx, registry).report(inspection_id, payload)
    response.headers["Location"] = f"/findings/{created.id}"
    return created


@router.get(
    "/findings",
    response_model=FindingPage,
    tags=["findings"],
    responses={400: {"description": "Invalid cursor"}},
    summary="Findings you may see, newest first (keyset pages)",
)
async def list_findings(
    ctx: ReadContextDep,
    inspection_id: Annotated[uuid.UUID | None, Query(description="Only this inspection's")] = None,
    year: YearQuery = None,
    status: Annotated[FindingStatus | None, Query(description="Only in this status")] = None,
    category: Annotated[FindingCategory | None, Query(description="Only of this category")] = None,
    subject_type: Annotated[
        FindingSubjectType | None, Query(description="Only about this kind of subject")
    ] = None,
    subject_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only about this subject")
    ] = None,
    region: RegionQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> FindingPage:
    """The findings lying in your region, and those of the inspections you inspect."""
    return await FindingService(ctx).page(
        inspection_id=inspection_id,
        year=year,
        status=status,
        category=category,
        subject_type=subject_type,
        subject_id=subject_id,
        region=region,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/findings/{finding_id}",
    response_model=FindingPublic,
    tags=["findings"],
    responses=_READ,
    summary="A finding with its evidence",
)
async def get_finding(finding_id: FindingId, ctx: ReadContextDep) -> FindingPublic:
    """A finding: what, where, how bad, its status and effect, who reported and who reviewed it, its evidence."""
    return await FindingService(ctx).get(finding_id)


@router.post(
    "/findings/{finding_id}/confirmation",
    response_model=FindingPublic,
    tags=["findings"],
    responses=_FINDING_WRITE,
    summary="Confirm a finding (another person than its reporter, at the inspection's level or above)",
)
async def confirm_finding(
    finding_id: FindingId, ctx: ContextDep, payload: FindingReview | None = None
) -> FindingPublic:
    """Reported → confirmed: from now on it counts in the year's figures and its effect applies."""
    return await FindingService(ctx).confirm(finding_id, payload.note if payload else None)


@router.post(
    "/findings/{finding_id}/dismissal",
    response_model=FindingPublic,
    tags=["findings"],
    responses=_FINDING_WRITE,
    summary="Dismiss a finding with the reason (another person than its reporter)",
)
async def dismiss_finding(finding_id: FindingId, payload: FindingDismissal, ctx: ContextDep) -> FindingPublic:
    """Reported or confirmed → dismissed (不予认定): it stops counting; the reason is kept and audited."""
    return await FindingService(ctx).dismiss(finding_id, payload.reason)


@router.post(
    "/findings/{finding_id}/evidence",
    tags=["findings"],
    summary="Attach evidence to a finding (raw bytes; the Content-Type names the format)",
    **evidence_post(_FINDING_WRITE),
)
async def add_finding_evidence(
    finding_id: FindingId, request: Request, ctx: ContextDep, response: Response
) -> EvidencePublic:
    """A photo or scanned document (JPEG, PNG, WebP, PDF; at most 10 MiB; checked by its bytes), stored by its
    sha256: the same bytes again answer the stored file (200)."""
    attach = functools.partial(FindingService(ctx).attach, finding_id)
    return await evidence_upload(request, response, f"/findings/{finding_id}/evidence", attach)


@router.get(
    "/findings/{finding_id}/evidence/{evidence_id}",
    tags=["findings"],
    summary="A finding's evidence file (ETag: its sha256)",
    **evidence_download(_READ),
)
async def get_finding_evidence(
    finding_id: FindingId, evidence_id: EvidenceId, request: Request, ctx: ReadContextDep
) -> Response:
    """The file's bytes, as stored with its media type, cacheable by its hash."""
    return evidence_file(request, await FindingService(ctx).evidence_bytes(finding_id, evidence_id))


# -- rectifications ---------------------------------------------------------------------------------------------
@router.post(
    "/findings/{finding_id}/rectifications",
    status_code=201,
    response_model=RectificationPublic,
    tags=["rectifications"],
    responses=_RECTIFICATION_WRITE,
    summary="Order a confirmed finding's rectification by a deadline (限期整改; the checking side)",
)
async def create_rectification(
    finding_id: FindingId,
    payload: RectificationCreate,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> RectificationPublic:
    """The owner is a user, a helping unit (known to the registry, with the user who answers for it) or a region
    office inside the region checked; the deadline comes after the finding's date. One unfinished task per
    finding."""
    created = await RectificationService(ctx, registry).order(finding_id, payload)
    response.headers["Location"] = f"/rectifications/{created.id}"
    return created


@router.get(
    "/rectifications",
    response_model=RectificationPage,
    tags=["rectifications"],
    responses={400: {"description": "Invalid cursor"}},
    summary="Rectification tasks you may see, nearest deadline first; `overdue=true` for the late ones",
)
async def list_rectifications(
    ctx: ReadContextDep,
    overdue: Annotated[
        bool | None, Query(description="true: waiting for the owner past the deadline; false: the others")
    ] = None,
    region: RegionQuery = None,
    status: Annotated[RectificationStatus | None, Query(description="Only in this status")] = None,
    year: YearQuery = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RectificationPage:
    """Tasks lying in your region and tasks you own; each says whether it is overdue and by how many days (as of
    today, China time)."""
    return await RectificationService(ctx).page(
        region=region, status=status, year=year, overdue=overdue, cursor=cursor, limit=limit
    )


@router.get(
    "/rectifications/summary",
    response_model=RectificationSummary,
    tags=["rectifications"],
    responses=_READ,
    summary="Rectification tasks of a region per child region: per status and overdue",
)
async def get_rectification_summary(
    ctx: ReadContextDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{12}$", description="The region (12-digit division code)")],
    year: YearQuery = None,
) -> RectificationSummary:
    """One row per child region with tasks (the townships of a county, the villages of a township; tasks lying
    at the region itself are its own row), and the total."""
    return await RectificationService(ctx).summary(region, year)


@router.get(
    "/rectifications/{rectification_id}",
    response_model=RectificationPublic,
    tags=["rectifications"],
    responses=_READ,
    summary="A rectification task with its history and evidence",
)
async def get_rectification(rectification_id: RectificationId, ctx: ReadContextDep) -> RectificationPublic:
    """A task: the finding, the owner, the requirement and deadline, the owner's response, every step."""
    return await RectificationService(ctx).get(rectification_id)


@router.post(
    "/rectifications/{rectification_id}/submission",
    response_model=RectificationPublic,
    tags=["rectifications"],
    responses=_RECTIFICATION_WRITE,
    summary="Report the rectification (the owner): open or reopened → submitted",
)
async def submit_rectification(
    rectification_id: RectificationId, payload: RectificationSubmission, ctx: ContextDep
) -> RectificationPublic:
    """The owner says what was done (attach evidence first); a late report is still taken and audited as late."""
    return await RectificationService(ctx).submit(rectification_id, payload.response)


@router.post(
    "/rectifications/{rectification_id}/acceptance",
    response_model=RectificationPublic,
    tags=["rectifications"],
    responses=_RECTIFICATION_WRITE,
    summary="Accept a submitted rectification (销号; the checking side, not the submitter)",
)
async def accept_rectification(
    rectification_id: RectificationId, ctx: ContextDep, payload: RectificationAcceptance | None = None
) -> RectificationPublic:
    """Submitted → accepted: the task is done."""
    return await RectificationService(ctx).accept(rectification_id, payload.note if payload else None)


@router.post(
    "/rectifications/{rectification_id}/reopening",
    response_model=RectificationPublic,
    tags=["rectifications"],
    responses=_RECTIFICATION_WRITE,
    summary="Send a submitted rectification back with the reason (and a new deadline)",
)
async def reopen_rectification(
    rectification_id: RectificationId, payload: RectificationReopening, ctx: ContextDep
) -> RectificationPublic:
    """Submitted → reopened: the owner reports again; past the deadline it is overdue."""
    return await RectificationService(ctx).reopen(rectification_id, payload)


@router.post(
    "/rectifications/{rectification_id}/evidence",
    tags=["rectifications"],
    summary="Attach evidence of the rectification (the owner; raw bytes)",
    **evidence_post(_RECTIFICATION_WRITE),
)
async def add_rectification_evidence(
    rectification_id: RectificationId, request: Request, ctx: ContextDep, response: Response
) -> EvidencePublic:
    """A photo or scanned document of what was done, by its sha256 (the same bytes again answer 200)."""
    attach = functools.partial(RectificationService(ctx).attach, rectification_id)
    return await evidence_upload(request, response, f"/rectifications/{rectification_id}/evidence", attach)


@router.get(
    "/rectifications/{rectification_id}/evidence/{evidence_id}",
    tags=["rectifications"],
    summary="A rectification's evidence file (ETag: its sha256)",
    **evidence_download(_READ),
)
async def get_rectification_evidence(
    rectification_id: RectificationId, evidence_id: EvidenceId, request: Request, ctx: ReadContextDep
) -> Response:
    """The file's bytes, as stored with its media type, cacheable by its hash."""
    found = await RectificationService(ctx).evidence_bytes(rectification_id, evidence_id)
    return evidence_file(request, found)


# -- figures ----------------------------------------------------------------------------------------------------
FigureRegion = Annotated[
    str,
    Query(
        pattern=r"^[0-9]{12}$", description="The region: its subjects are the rows", examples=["451025000000"]
    ),
]
FigureYear = Annotated[
    int, Query(ge=FIRST_YEAR, le=2100, description=f"The assessment year, {FIRST_YEAR} to this year")
]


def _figure_responses(row: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "A page of rows (JSON), or with `Accept: application/x-ndjson` every row, one JSON row "
            "per line",
            "content": {NDJSON: {"schema": {"$ref": f"#/components/schemas/{row.__name__}"}}},
        },
        400: {"description": "A malformed cursor (`cursor_invalid`) or an unknown query parameter"},
        403: {"description": "Only services, the province and county or township officers read figures"},
        404: {"description": "The region lies outside your region"},
    }


async def _figures(
    ctx: Context,
    request: Request,
    subject: SubjectType,
    year: int,
    region: str,
    cursor: str | None,
    limit: int,
) -> Response:
    service = FigureService(ctx)
    if wants_ndjson(request.headers.get("accept")):
        return StreamingResponse(
            await service.ndjson(subject, year, region),
            media_type=NDJSON,
            headers={"Cache-Control": "no-store"},
        )
    body = await service.page_json(subject, year, region, cursor=cursor, limit=limit)
    return Response(body, media_type="application/json")


def _figure_route(subject: SubjectType, function_name: str) -> None:
    row = FIGURE_ROWS[subject]

    async def handler(
        ctx: ReadContextDep,
        request: Request,
        region: FigureRegion,
        year: FigureYear,
        cursor: Cursor = None,
        limit: Annotated[
            int, Query(ge=1, le=1000, description="Rows per page (JSON; NDJSON sends every row)")
        ] = 200,
    ) -> Response:
        return await _figures(ctx, request, subject, year, region, cursor, limit)

    handler.__name__ = function_name
    handler.__doc__ = (
        f"One row per {subject.english.lower()} under the region with inspection data or manual entries of the "
        "year, by id: the counts of confirmed findings per category (0 when none), identification accuracy where "
        "households were checked, the latest manual entries. The row shape of the registry's `/figures/…`."
    )
    router.add_api_route(
        f"/figures/{subject.value}",
        handler,
        methods=["GET"],
        name=function_name,
        response_model=Page[row],  # type: ignore[valid-type]
        responses=_figure_responses(row),
        tags=["inspection-figures"],
        summary=f"Inspection and manual figures of the {subject.english.lower()}s under a region for a year",
    )


for _subject, _name in (
    (SubjectType.village, "list_village_inspection_figures"),
    (SubjectType.township, "list_township_inspection_figures"),
    (SubjectType.cadre, "list_cadre_inspection_figures"),
    (SubjectType.helping_unit, "list_unit_inspection_figures"),
    (SubjectType.cppcc_unit, "list_cppcc_inspection_figures"),
):
    _figure_route(_subject, _name)

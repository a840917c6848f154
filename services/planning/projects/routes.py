"""Project library HTTP routes (项目库): thin handlers, one `ProjectService` call each, a response model out.

Writes to a project's content and decisions name the version they read (`If-Match`) and answer with the new one
(`ETag`); the route class of shared/routing.py commits after the handler. `/projects/overdue-milestones` is
declared before `/projects/{project_id}` so that it is not read as a project id.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from services.planning.deps import RegistryDep
from services.planning.projects.schemas import (
    ATTACHMENT_TYPES,
    MAX_ATTACHMENT_BYTES,
    AcceptanceCreate,
    AcceptanceRecorded,
    ApprovalStepIn,
    AssetCreate,
    AssetPublic,
    AttachmentContent,
    BeneficiariesIn,
    BeneficiariesResult,
    BeneficiaryPublic,
    MilestoneCreate,
    MilestonePublic,
    MilestoneUpdate,
    OverdueMilestone,
    ProjectAttachmentPublic,
    ProjectCategory,
    ProjectCreate,
    ProjectDetail,
    ProjectPublic,
    ProjectQuery,
    ProjectStatus,
    ProjectStepResult,
    ProjectUpdate,
)
from services.planning.projects.service import ProjectService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import IfMatchDep, etag, representation_etag
from shared.pagination import MAX_CURSOR_LENGTH, Page
from shared.problems import PayloadTooLarge
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

#: The tag of these routes, with its description (English, and the Chinese term users know).
TAGS = {
    "projects": (
        "The project library (项目库): projects, their 四议两公开 approval chain, beneficiaries (带贫益贫), "
        "milestones and attachments, completion acceptance (验收) and assets (资产确权)"
    )
}

router = APIRouter(tags=list(TAGS))

ProjectId = Annotated[uuid.UUID, Path(description="Project id (UUID)")]
VillageCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The village's 12-digit division code")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the last page")
]
Limit = Annotated[int, Query(ge=1, le=500)]
Region = Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="Region subtree")]

_REGISTRY: dict[int | str, dict[str, Any]] = {
    503: {"description": "The registry did not answer (`registry_unavailable`): nothing changed; retry"}
}
_READ: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid cursor"},
    404: {"description": "Missing or outside your region"},
    **_REGISTRY,
}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role may not do this (problem `code`: `role_may_not`, `wrong_level`)"},
    404: {"description": "Missing or outside your region"},
    409: {
        "description": "Refused by a rule (problem `code` says which: `wrong_state`, `project_not_editable` …)"
    },
    422: {
        "description": "Invalid input (a household of another village, a date out of order …); nothing changed"
    },
}
_VERSIONED: dict[int | str, dict[str, Any]] = {
    **_WRITE,
    412: {"description": "Stale If-Match: the body carries `current_version`"},
    428: {"description": "If-Match missing"},
}
_FILE_CONTENT: dict[str, Any] = {
    t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(ATTACHMENT_TYPES)
}


def _tagged(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


# -- projects ------------------------------------------------------------------------------------------------------
@router.post(
    "/villages/{code}/projects",
    status_code=201,
    response_model=ProjectPublic,
    responses={**_WRITE, **_REGISTRY},
    dependencies=[require_writer],
    summary="Draft a project of the village's library (项目库; status draft)",
)
async def create_project(
    code: VillageCode, payload: ProjectCreate, ctx: ContextDep, registry: RegistryDep, response: Response
) -> ProjectPublic:
    """Draft a project of the village (项目入库): category, name, quantity and unit, schedule, implementing party,
    responsible person, expected outputs and budget (yuan). The village officer of the village only; `Location`
    is the project, `ETag` its version."""
    project = await ProjectService(ctx, registry).create(code, payload)
    _tagged(response, project.version)
    response.headers["Location"] = f"/projects/{project.id}"
    return project


@router.get(
    "/projects",
    response_model=Page[ProjectPublic],
    responses=_READ,
    summary="List the projects of your region (filters, keyset pages)",
)
async def list_projects(
    ctx: ReadContextDep,
    registry: RegistryDep,
    region: Region = None,
    status: Annotated[ProjectStatus | None, Query(description="Project status")] = None,
    category: Annotated[ProjectCategory | None, Query(description="Project category (项目类别)")] = None,
    plan: Annotated[uuid.UUID | None, Query(description="The village plan's id")] = None,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="Projects whose schedule overlaps the year")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ProjectPublic]:
    """The projects of your region (a cadre: those benefiting a household paired with them), by village, in
    keyset pages (`next_cursor`)."""
    query = ProjectQuery(
        region=region, status=status, category=category, plan_id=plan, year=year, cursor=cursor, limit=limit
    )
    return await ProjectService(ctx, registry).page(query)


@router.get(
    "/projects/overdue-milestones",
    response_model=Page[OverdueMilestone],
    responses=_READ,
    summary="Milestones past their due date and not done, of projects being implemented",
)
async def list_overdue_milestones(
    ctx: ReadContextDep,
    registry: RegistryDep,
    region: Region = None,
    on: Annotated[date | None, Query(description="The day (default: today in China)")] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[OverdueMilestone]:
    """Milestones due before the day and not done (逾期节点), of approved projects being implemented in your
    region, oldest due first."""
    return await ProjectService(ctx, registry).overdue(region, on, cursor, limit)


@router.get(
    "/projects/{project_id}",
    response_model=ProjectDetail,
    responses=_READ,
    summary="A project with its funding, beneficiaries, approval history, implementation, acceptance and assets",
)
async def get_project(
    project_id: ProjectId, ctx: ContextDep, registry: RegistryDep, response: Response
) -> ProjectDetail:
    """A project: its fields, the funding summary (budget, Σ of the funding lines, the funding gap), the
    beneficiaries and the registered poor households among them (带贫益贫), the approval events (四议两公开,
    reviews) and next steps, milestones, attachments, acceptance (验收) and assets (资产确权). The `ETag` names
    the project's version (send it as `If-Match`)."""
    detail = await ProjectService(ctx, registry).detail(project_id)
    response.headers["ETag"] = representation_etag(detail.version, detail.model_dump_json().encode())
    return detail


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectPublic,
    responses=_VERSIONED,
    dependencies=[require_writer],
    summary="Edit a draft or returned project (If-Match)",
)
async def update_project(
    project_id: ProjectId,
    payload: ProjectUpdate,
    version: IfMatchDep,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> ProjectPublic:
    """Edit the fields of a draft or returned project, based on the version you read (`If-Match`)."""
    project = await ProjectService(ctx, registry).update(project_id, version, payload)
    _tagged(response, project.version)
    return project


# -- beneficiaries --------------------------------------------------------------------------------------------------
@router.put(
    "/projects/{project_id}/beneficiaries",
    response_model=BeneficiariesResult,
    responses={**_VERSIONED, **_REGISTRY},
    dependencies=[require_writer],
    summary="Set the households the project benefits (checked with the registry; If-Match)",
)
async def replace_project_beneficiaries(
    project_id: ProjectId,
    payload: BeneficiariesIn,
    version: IfMatchDep,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> BeneficiariesResult:
    """Replace the beneficiary households (受益农户) of a draft or returned project. Each id must be a registry
    household of the project's village (of its township for a township-wide project, 整乡推进): 422 naming the
    first that is not. The poor households reached (带贫益贫) are counted from their registry statuses."""
    result = await ProjectService(ctx, registry).set_beneficiaries(
        project_id, version, payload.household_ids, replace=True
    )
    _tagged(response, result.version)
    return result


@router.post(
    "/projects/{project_id}/beneficiaries",
    response_model=BeneficiariesResult,
    responses={**_VERSIONED, **_REGISTRY},
    dependencies=[require_writer],
    summary="Add households the project benefits (checked with the registry; If-Match)",
)
async def add_project_beneficiaries(
    project_id: ProjectId,
    payload: BeneficiariesIn,
    version: IfMatchDep,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> BeneficiariesResult:
    """Add beneficiary households (受益农户) to a draft or returned project, checked as for the full list."""
    result = await ProjectService(ctx, registry).set_beneficiaries(
        project_id, version, payload.household_ids, replace=False
    )
    _tagged(response, result.version)
    return result


@router.get(
    "/projects/{project_id}/beneficiaries",
    response_model=Page[BeneficiaryPublic],
    responses=_READ,
    summary="The households a project benefits (keyset pages)",
)
async def list_project_beneficiaries(
    project_id: ProjectId,
    ctx: ReadContextDep,
    registry: RegistryDep,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[BeneficiaryPublic]:
    """The project's beneficiary households with their registry status when added and whether they were
    registered poor (带贫益贫), by household id."""
    return await ProjectService(ctx, registry).beneficiaries(project_id, cursor, limit)


# -- the approval chain ---------------------------------------------------------------------------------------------
@router.post(
    "/projects/{project_id}/steps",
    status_code=201,
    response_model=ProjectStepResult,
    responses=_VERSIONED,
    dependencies=[require_writer],
    summary="Record a step of the approval chain: 四议两公开, township review, county approval (If-Match)",
)
async def record_project_step(
    project_id: ProjectId,
    payload: ApprovalStepIn,
    version: IfMatchDep,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> ProjectStepResult:
    """One step of the project's approval chain, in its order and by its level: the village's 四议两公开
    (`party_branch_proposal`, `committees_discussion`, `party_members_review`, `villagers_resolution`,
    `resolution_disclosure`), the township's `township_review`, the county's `county_approval` (which draws the
    funding lines' commitments from their allocations), and later `results_disclosure`. A review that does not
    approve returns the project to the village with its reason. `Location` is the project."""
    result = await ProjectService(ctx, registry).take_step(project_id, version, payload)
    _tagged(response, result.version)
    response.headers["Location"] = f"/projects/{project_id}"
    return result


# -- implementation -------------------------------------------------------------------------------------------------
@router.post(
    "/projects/{project_id}/milestones",
    status_code=201,
    response_model=MilestonePublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Add a milestone to the project's schedule",
)
async def create_project_milestone(
    project_id: ProjectId,
    payload: MilestoneCreate,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> MilestonePublic:
    """A milestone (节点) due within the project's schedule, with its progress; the first progress on an approved
    project starts its implementation (status `in_progress`)."""
    milestone = await ProjectService(ctx, registry).add_milestone(project_id, payload)
    response.headers["Location"] = f"/projects/{project_id}/milestones/{milestone.id}"
    return milestone


@router.patch(
    "/projects/{project_id}/milestones/{milestone_id}",
    response_model=MilestonePublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Report a milestone's progress or correct it",
)
async def update_project_milestone(
    project_id: ProjectId,
    milestone_id: Annotated[uuid.UUID, Path(description="Milestone id")],
    payload: MilestoneUpdate,
    ctx: ContextDep,
    registry: RegistryDep,
) -> MilestonePublic:
    """Report a milestone's progress (percent, the day it was done) or correct its name or due date."""
    return await ProjectService(ctx, registry).update_milestone(project_id, milestone_id, payload)


@router.post(
    "/projects/{project_id}/attachments",
    status_code=201,
    response_model=ProjectAttachmentPublic,
    responses={
        200: {"description": "The same file (by hash) is already attached", "model": ProjectAttachmentPublic},
        **_WRITE,
        413: {"description": f"Larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB"},
        415: {"description": "Not JPEG, PNG, WebP or PDF (by its bytes)"},
    },
    openapi_extra={"requestBody": {"required": True, "content": _FILE_CONTENT}},
    dependencies=[require_writer],
    summary="Attach a photo or document (raw bytes; the Content-Type names the format)",
)
async def add_project_attachment(
    project_id: ProjectId,
    request: Request,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
    milestone_id: Annotated[uuid.UUID | None, Query(description="The milestone it documents")] = None,
) -> ProjectAttachmentPublic:
    """Attach a photo or document of the implementation (照片、文件), read as raw bytes and refused as soon as it
    is too large; the same bytes again answer the stored one (200)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_ATTACHMENT_BYTES:
        raise PayloadTooLarge(f"an attachment is limited to {MAX_ATTACHMENT_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(f"an attachment is limited to {MAX_ATTACHMENT_BYTES} bytes")
        chunks.append(chunk)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    created, meta = await ProjectService(ctx, registry).add_attachment(
        project_id, content_type, b"".join(chunks), milestone_id
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/projects/{project_id}/attachments/{meta.id}"
    return meta


@router.get(
    "/projects/{project_id}/attachments/{attachment_id}",
    response_model=AttachmentContent,
    response_class=Response,
    responses={
        200: {"description": "The file's bytes", "content": _FILE_CONTENT},
        304: {"description": "If-None-Match matched: the file you have"},
        **_READ,
    },
    summary="A photo or document's bytes (ETag: its sha256)",
)
async def get_project_attachment(
    project_id: ProjectId,
    attachment_id: Annotated[uuid.UUID, Path(description="Attachment id")],
    request: Request,
    ctx: ReadContextDep,
    registry: RegistryDep,
) -> Response:
    """A photo or document's bytes, as stored with its media type, cacheable by its hash."""
    found = await ProjectService(ctx, registry).attachment_bytes(project_id, attachment_id)
    tag = f'"{found.sha256}"'
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(
        found.data,
        media_type=found.content_type,
        headers={"ETag": tag, "Cache-Control": "private, max-age=86400, immutable"},
    )


# -- acceptance and assets ------------------------------------------------------------------------------------------
@router.post(
    "/projects/{project_id}/acceptance",
    status_code=201,
    response_model=AcceptanceRecorded,
    responses=_VERSIONED,
    dependencies=[require_writer],
    summary="Record the completion acceptance (验收): passed, or rejected with findings (If-Match)",
)
async def record_project_acceptance(
    project_id: ProjectId,
    payload: AcceptanceCreate,
    version: IfMatchDep,
    ctx: ContextDep,
    registry: RegistryDep,
    response: Response,
) -> AcceptanceRecorded:
    """The county's completion acceptance (竣工验收) of a project being implemented: the day, the findings, who
    accepted and whether it passed (a pass needs every milestone done); the project becomes `accepted` or
    `rejected`. `Location` is the project."""
    recorded = await ProjectService(ctx, registry).accept(project_id, version, payload)
    _tagged(response, recorded.version)
    response.headers["Location"] = f"/projects/{project_id}"
    return recorded


@router.post(
    "/projects/{project_id}/assets",
    status_code=201,
    response_model=AssetPublic,
    responses={**_WRITE, **_REGISTRY},
    dependencies=[require_writer],
    summary="Record an asset the accepted project formed (资产确权)",
)
async def create_project_asset(
    project_id: ProjectId, payload: AssetCreate, ctx: ContextDep, registry: RegistryDep, response: Response
) -> AssetPublic:
    """An asset the project formed (资产确权) after its passed acceptance: type, description, value (yuan), owner
    (village collective, household or cooperative) and the households that benefit (checked with the registry)."""
    asset = await ProjectService(ctx, registry).add_asset(project_id, payload)
    response.headers["Location"] = f"/projects/{project_id}/assets/{asset.id}"
    return asset

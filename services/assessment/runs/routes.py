"""Run routes: ask for a run (202: it runs as a job), read runs, results with explanations, rankings and diffs,
publish, correct, appeal and answer (`/runs`, `/runs/{run_id}/…`, `/appeals/{appeal_id}…`). Thin: payload in, one
service call, a response model out."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.assessment.deps import FigureSourcesDep
from services.assessment.runs.schemas import (
    AppealAnswer,
    AppealCreate,
    AppealPage,
    AppealPublic,
    ResultPage,
    ResultPublic,
    RunCreate,
    RunDiff,
    RunKind,
    RunPage,
    RunPublic,
    RunStatus,
)
from services.assessment.runs.service import RunService
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

router = APIRouter()

TAGS = {
    "runs": (
        "Assessment runs (考核运行): a scheme scored over a region and a year as a job — the figures frozen in a "
        "snapshot, every subject scored in PostgreSQL, results with their explanations and rankings, diffs "
        "between versions, publication (results locked), corrections as new versions, interim and what-if runs"
    ),
    "appeals": "Appeals (申诉) against published results, and the county's answers",
}

RunId = Annotated[uuid.UUID, Path(description="A run's id")]
AppealId = Annotated[uuid.UUID, Path(description="An appeal's id")]
SubjectId = Annotated[
    str,
    Path(
        pattern=r"^[0-9A-Za-z-]{1,64}$",
        description="The subject: a village's or township's code, a cadre's, unit's or household's id",
    ),
]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=500)]

_READ: dict[int | str, dict[str, Any]] = {
    403: {"description": "Your role does not read this (`result_reader_required`, `own_result_only`)"},
    404: {
        "description": "Missing or outside your region (a subject's own result only, for cadres and villages)"
    },
    409: {"description": "The run has no results yet (`run_not_scored`)"},
    503: {
        "description": "The registry did not answer (`registry_unavailable`: a cadre's login is checked there)"
    },
}
_OWNER: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only county administrators run and publish assessments, in their county"},
    404: {"description": "Missing or outside your county"},
}


@router.post(
    "/runs",
    status_code=202,
    response_model=RunPublic,
    tags=["runs"],
    dependencies=[require_writer],
    responses={
        **_OWNER,
        409: {
            "description": "Refused: a draft scheme outside a what-if (`scheme_not_published`), a baseline that is "
            "not a published annual run (`baseline_not_published`), subjects no service lists "
            "(`subjects_unavailable`: a `cppcc_unit` scheme — no service lists CPPCC groups and members, the "
            "registry keeps no register of them; the scheme can be drafted, published and given manual entries, "
            "but not run; `subject_type` names the type)"
        },
        422: {
            "description": "Invalid: a region outside your county, the wrong year, a baseline where none goes"
        },
    },
    summary="Ask for a run of a scheme over a region and year; it runs as a job (county admin)",
)
async def create_run(payload: RunCreate, ctx: ContextDep, response: Response) -> RunPublic:
    """Ask for a run (202 Accepted): `annual`, `interim_june` / `interim_december` (R14: never published) or
    `what_if` (a draft scheme scored against the snapshot of the published run `baseline_run_id`). The run is
    queued; a worker freezes the figures (registry, planning, inspections, manual entries) and scores every
    subject; follow `Location` until `status` is `scored` — or `failed`, with `failure_code` and
    `failure_reason`. A `cppcc_unit` scheme is refused at once (409 `subjects_unavailable`, the detail says why):
    no service lists CPPCC groups and members as subjects."""
    run = await RunService(ctx).create(payload)
    response.headers["Location"] = f"/runs/{run.id}"
    return run


@router.get(
    "/runs",
    response_model=RunPage,
    tags=["runs"],
    responses={400: {"description": "Invalid cursor"}, 403: _READ[403]},
    summary="Runs you may read, newest first (keyset pages)",
)
async def list_runs(
    ctx: ReadContextDep,
    scheme_id: Annotated[uuid.UUID | None, Query(description="Only runs of this scheme version")] = None,
    year: Annotated[int | None, Query(ge=2013, le=2100, description="Only runs of this year")] = None,
    kind: Annotated[RunKind | None, Query(description="Only runs of this kind")] = None,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> RunPage:
    """Runs of your county (the province, cadres and village officers: published ones), newest first."""
    return await RunService(ctx).page(
        scheme_id=scheme_id, year=year, kind=kind, status=status, cursor=cursor, limit=limit
    )


@router.get(
    "/runs/{run_id}",
    response_model=RunPublic,
    tags=["runs"],
    responses={403: _READ[403], 404: _READ[404]},
    summary="A run: its status (or why it failed), version, snapshot and counts",
)
async def get_run(run_id: RunId, ctx: ReadContextDep) -> RunPublic:
    """A run and where it is: queued → freezing → scoring → scored → published, or failed with the reason."""
    return await RunService(ctx).get(run_id)


@router.get(
    "/runs/{run_id}/results",
    response_model=ResultPage,
    tags=["runs"],
    responses={**_READ, 400: {"description": "Invalid cursor"}},
    summary="A run's results ranked within each peer group (keyset pages)",
)
async def list_run_results(
    run_id: RunId,
    ctx: ReadContextDep,
    peer_group: Annotated[
        str | None, Query(pattern=r"^[0-9]{12}$", description="Only this peer group (a township, a county)")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> ResultPage:
    """Results by peer group, then rank: ties share a rank and the next skips (1, 2, 2, 4). County admins see
    their county's, township officers their township's, the province published ones."""
    return await RunService(ctx).results(run_id, peer_group=peer_group, cursor=cursor, limit=limit)


@router.get(
    "/runs/{run_id}/results/{subject_id}",
    response_model=ResultPublic,
    tags=["runs"],
    responses=_READ,
    summary="One subject's result with its explanation: figures, rules, points, vetoes, grade, rank",
)
async def get_run_result(
    run_id: RunId, subject_id: SubjectId, ctx: ReadContextDep, sources: FigureSourcesDep
) -> ResultPublic:
    """A result a cadre can read: per indicator the figure read, the rule applied and the points (zh-CN and
    English), veto hits with the reason shown to the subject (invariant 45), bonus, final score, grade, rank among
    peers with the tie rule. Cadres read their own (their cadre id), village officers their village's."""
    return await RunService(ctx).result(run_id, subject_id, sources)


@router.get(
    "/runs/{run_id}/diff",
    response_model=RunDiff,
    tags=["runs"],
    responses={
        **_READ,
        400: {"description": "Invalid cursor"},
        409: {
            "description": "No run to compare with (`no_previous_run`), or one without results (`run_not_scored`)"
        },
    },
    summary="Subjects whose score, grade or rank moved against another run, and why",
)
async def get_run_diff(
    run_id: RunId,
    ctx: ReadContextDep,
    against: Annotated[
        uuid.UUID | None,
        Query(description="The run before (default: the previous version; a what-if's baseline)"),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> RunDiff:
    """Every subject whose score, grade or rank differs between `against` and this run: by how much, and which
    indicators moved (points before and after) with the figure each read before and after; vetoes that newly held
    or no longer hold."""
    return await RunService(ctx).diff(run_id, against, cursor=cursor, limit=limit)


@router.post(
    "/runs/{run_id}/publication",
    response_model=RunPublic,
    tags=["runs"],
    dependencies=[require_writer],
    responses={
        **_OWNER,
        409: {"description": "Not scored (`run_not_scored`), or never published (`run_not_publishable`)"},
    },
    summary="Publish a scored annual run: its results are locked (county admin)",
)
async def publish_run(run_id: RunId, ctx: ContextDep) -> RunPublic:
    """Publish (公布): the results become official and are never changed (invariant 46; the database refuses any
    change). Interim and what-if runs are never published. An older published version is marked superseded."""
    return await RunService(ctx).publish(run_id)


@router.post(
    "/runs/{run_id}/corrections",
    status_code=202,
    response_model=RunPublic,
    tags=["runs"],
    dependencies=[require_writer],
    responses={
        **_OWNER,
        409: {
            "description": "Not published (`run_not_published`), superseded (`run_superseded`), or no upheld "
            "appeal to correct (`no_upheld_appeal`)"
        },
    },
    summary="Correct a published run after an upheld appeal: a new version, frozen anew (county admin)",
)
async def create_run_correction(run_id: RunId, ctx: ContextDep, response: Response) -> RunPublic:
    """A correction is a new run version (never an edit): the figures are frozen anew and scored; the published
    run stays readable, and is superseded when the correction is published. `Location` is the new run."""
    run = await RunService(ctx).correct(run_id)
    response.headers["Location"] = f"/runs/{run.id}"
    return run


@router.post(
    "/runs/{run_id}/results/{subject_id}/appeals",
    status_code=201,
    response_model=AppealPublic,
    tags=["appeals"],
    dependencies=[require_writer],
    responses={
        403: {"description": "Only the assessed subject or its county appeals"},
        404: _READ[404],
        409: {"description": "The run is not published (`run_not_published`)"},
        503: _READ[503],
    },
    summary="Appeal against a published result (the subject, or its county)",
)
async def create_appeal(
    run_id: RunId,
    subject_id: SubjectId,
    payload: AppealCreate,
    ctx: ContextDep,
    response: Response,
    sources: FigureSourcesDep,
) -> AppealPublic:
    """The assessed subject — a cadre for their own result, a village officer for their village — or their
    county appeals with a reason. `Location` is the appeal."""
    appeal = await RunService(ctx).appeal(run_id, subject_id, payload, sources)
    response.headers["Location"] = f"/appeals/{appeal.id}"
    return appeal


@router.get(
    "/runs/{run_id}/appeals",
    response_model=AppealPage,
    tags=["appeals"],
    responses={400: {"description": "Invalid cursor"}, 403: _READ[403], 404: _READ[404]},
    summary="The appeals against a run's results, oldest first",
)
async def list_run_appeals(
    run_id: RunId, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> AppealPage:
    """The run's appeals (county admins; township officers: their township's subjects)."""
    return await RunService(ctx).appeals(run_id, cursor=cursor, limit=limit)


@router.get(
    "/appeals/{appeal_id}",
    response_model=AppealPublic,
    tags=["appeals"],
    responses={404: {"description": "Missing or not yours to read"}},
    summary="An appeal and its answer",
)
async def get_appeal(appeal_id: AppealId, ctx: ReadContextDep) -> AppealPublic:
    """An appeal: its appellant, and the officers who see its run, read it."""
    return await RunService(ctx).get_appeal(appeal_id)


@router.post(
    "/appeals/{appeal_id}/answer",
    response_model=AppealPublic,
    tags=["appeals"],
    dependencies=[require_writer],
    responses={
        403: {"description": "Only the run's county administrators answer"},
        404: {"description": "Missing or outside your county"},
        409: {"description": "Answered already (`appeal_answered`)"},
    },
    summary="Answer an appeal: upheld (a correction follows) or rejected (county admin)",
)
async def answer_appeal(appeal_id: AppealId, payload: AppealAnswer, ctx: ContextDep) -> AppealPublic:
    """The county answers: `upheld` (then `POST /runs/{run_id}/corrections` makes the corrected version) or
    `rejected`, with the answer shown to the appellant."""
    return await RunService(ctx).answer(appeal_id, payload)

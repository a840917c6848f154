"""Inspection API models: inspections and their sample, findings with their evidence, rectification tasks and
their summary, and the inspection/manual figures rows (the same row shape as the registry's `/figures/…`).

Dates are `YYYY-MM-DD`, times RFC 3339 with `Z`; a sampling rate is a percent string (`"10.00"`); points are
decimal strings (`"2"`, `"0.5"`). The `figures` object of a row has one member per inspection or manual metric of
the subject type (`GET /metric-catalogue`): counts and fen as integers, yes/no as booleans, percents as strings
with two places, `null` when there is no figure.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from fastapi import Request, Response
from pydantic import BaseModel, Field, WithJsonSchema, create_model

from services.assessment.inspections.domain import (
    ATTACHMENT_TYPES,
    FIRST_YEAR,
    MAX_ATTACHMENT_BYTES,
    MAX_INSPECTORS,
    NDJSON,
    EffectKind,
    FindingCategory,
    FindingStatus,
    FindingSubjectType,
    InspectionLevel,
    InspectionStatus,
    OwnerKind,
    RectificationStatus,
    SamplingUnit,
    Severity,
    wants_ndjson,
)
from services.assessment.metrics.domain import CATALOGUE, MetricSource, MetricUnit, SubjectType
from services.assessment.schemes.schemas import Code, Points
from shared.pagination import Page
from shared.problems import PayloadTooLarge
from shared.schemas import Int64, Percent, RegionCode, RequestModel, ResponseModel

__all__ = [
    "ATTACHMENT_TYPES",
    "EVIDENCE_FILE_CONTENT",
    "FIGURE_ROWS",
    "FIRST_YEAR",
    "MAX_ATTACHMENT_BYTES",
    "NDJSON",
    "EffectSpec",
    "EvidenceContent",
    "EvidenceFile",
    "EvidencePublic",
    "FindingBrief",
    "FindingCategory",
    "FindingCreate",
    "FindingDismissal",
    "FindingPage",
    "FindingPublic",
    "FindingReview",
    "FindingStatus",
    "FindingSubjectType",
    "FindingTally",
    "InspectionClose",
    "InspectionCreate",
    "InspectionLevel",
    "InspectionPage",
    "InspectionPublic",
    "InspectionStatus",
    "InspectionUpdate",
    "OwnerSpec",
    "RectificationAcceptance",
    "RectificationCreate",
    "RectificationPage",
    "RectificationPublic",
    "RectificationReopening",
    "RectificationStatus",
    "RectificationStep",
    "RectificationSubmission",
    "RectificationSummary",
    "SampleItem",
    "SamplePage",
    "StratumPublic",
    "SubjectType",
    "SummaryRow",
    "evidence_download",
    "evidence_file",
    "evidence_post",
    "evidence_upload",
    "figure_fields",
    "figure_value",
    "read_evidence",
    "wants_ndjson",
]

Year = Annotated[int, Field(ge=FIRST_YEAR, le=2100, description="The assessment year the check belongs to")]
Sub = Annotated[str, Field(min_length=1, max_length=64, description="A user's id (the token's `sub`)")]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Note = Annotated[str, Field(min_length=1, max_length=2000)]
#: A sampling rate: a percent in (0, 100] with two places at most.
Rate = Annotated[Percent, Field(gt=0, le=100)]


# -- inspections ------------------------------------------------------------------------------------------------
class InspectionCreate(RequestModel):
    """A check of the chain (§6.3): its level, year, the region checked and how it samples."""

    level: InspectionLevel = Field(description="省抽查 / 市督查 / 县核查 / 乡镇全面抽查")
    year: Year
    region_code: RegionCode = Field(description="The region checked: at or below the level's own region")
    name: str = Field(min_length=1, max_length=200, examples=["2016年度县级精准识别核查(新靖镇)"])
    sampling_unit: SamplingUnit = SamplingUnit.household
    sampling_rate: Rate | None = Field(
        None,
        description="Percent of households (or villages) drawn per township; by default 10 (county, city, "
        "province) and 100 (township: a full check)",
    )
    inspectors: list[Sub] = Field(
        default_factory=list, max_length=MAX_INSPECTORS, description="The users who check (any role)"
    )


class InspectionUpdate(RequestModel):
    """The members sent replace the stored ones: the sampling while planned, the name and inspectors until closed."""

    name: str | None = Field(None, min_length=1, max_length=200)
    sampling_unit: SamplingUnit | None = None
    sampling_rate: Rate | None = None
    inspectors: list[Sub] | None = Field(None, max_length=MAX_INSPECTORS)


class InspectionClose(RequestModel):
    note: str | None = Field(None, min_length=1, max_length=2000, description="The check's conclusion")


class StratumPublic(ResponseModel):
    """One township of the frame: households (units: households or villages), how many were drawn, and the
    sha256 of its sorted household ids (the frame the sample was drawn from)."""

    code: str
    frame_size: int
    units: int
    drawn: int
    digest: str


class FindingTally(ResponseModel):
    reported: int
    confirmed: int
    dismissed: int


class InspectionPublic(ResponseModel):
    id: uuid.UUID
    level: InspectionLevel
    year: int
    region_code: str
    owner_region: str = Field(
        description="The region whose officers check (the county of a county verification)"
    )
    name: str
    sampling_unit: SamplingUnit
    sampling_rate: Percent
    seed: str = Field(description="The draw's seed: the sample is re-derived from it and the same frame")
    status: InspectionStatus
    inspectors: list[str]
    frame_size: int | None = Field(description="Households in the frame when the sample was drawn")
    frame_digest: str | None
    sample_size: int | None
    strata: list[StratumPublic] | None
    findings: FindingTally
    closing_note: str | None
    revision: int
    created_at: datetime
    created_by: str
    started_at: datetime | None
    started_by: str | None
    closed_at: datetime | None
    closed_by: str | None


InspectionPage = Page[InspectionPublic]


class SampleItem(ResponseModel):
    """A household of the sample: where it lives, the township it was drawn in, its rank in that draw."""

    household_id: uuid.UUID
    village_code: str
    stratum: str
    rank: int


SamplePage = Page[SampleItem]


# -- findings ---------------------------------------------------------------------------------------------------
class EffectSpec(RequestModel):
    """What the finding does once confirmed: `points` off the indicator `code` (deduction), or the veto rule
    `code` of the scheme (veto; no points)."""

    kind: EffectKind
    code: Code = Field(description="The indicator's code (deduction) or the veto rule's code (veto)")
    points: Points | None = Field(None, description="Deduction only: the points taken off (> 0)")


class EffectPublic(ResponseModel):
    kind: EffectKind
    code: str
    points: Points | None


class FindingCreate(RequestModel):
    """A finding of an inspection in progress: what it is about, what is wrong, how bad, when it was found."""

    subject_type: FindingSubjectType
    subject_id: str = Field(
        min_length=1,
        max_length=64,
        description="A village's or township's division code; a household's, cadre's or helping unit's id",
    )
    region_code: RegionCode | None = Field(
        None, description="Where it was found: required for a cadre or a helping unit (the village checked)"
    )
    category: FindingCategory
    severity: Severity
    description: Text
    found_on: date = Field(
        description="The day it was found: not before the inspection started, not in the future"
    )
    effect: EffectSpec | None = None


class FindingReview(RequestModel):
    note: str | None = Field(None, min_length=1, max_length=2000)


class FindingDismissal(RequestModel):
    reason: Note


class EvidencePublic(ResponseModel):
    """A photo or document; its bytes are at `…/evidence/{evidence_id}`."""

    id: uuid.UUID
    sha256: str
    content_type: str
    size: int
    uploaded_at: datetime
    uploaded_by: str


#: An evidence file as the server answers it: its raw bytes, typed by the `Content-Type`.
EvidenceContent = Annotated[bytes, WithJsonSchema({"type": "string", "format": "binary"})]


# -- evidence over HTTP: one upload and one download for findings, rectifications and manual entries ------------
#: The request and response body of an evidence file in OpenAPI: one binary per accepted media type.
EVIDENCE_FILE_CONTENT: dict[str, Any] = {
    t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(ATTACHMENT_TYPES)
}


class EvidenceFile(Protocol):
    """A stored evidence file's bytes (inspections/repository.py `EvidenceBytes`)."""

    @property
    def sha256(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def data(self) -> bytes: ...


async def read_evidence(request: Request) -> tuple[str, bytes]:
    """The raw body of an upload and its media type, refused (413) as soon as it is too large."""
    too_large = f"evidence is limited to {MAX_ATTACHMENT_BYTES} bytes"
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_ATTACHMENT_BYTES:
        raise PayloadTooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
    return request.headers.get("content-type", "").split(";")[0].strip().lower(), b"".join(chunks)


async def evidence_upload(
    request: Request,
    response: Response,
    location: str,
    attach: Callable[[str, bytes], Awaitable[tuple[bool, EvidencePublic]]],
) -> EvidencePublic:
    """An upload route's whole body: read the file, `attach(content_type, data)` (the feature's service call),
    answer 201 for a new file or 200 for the same bytes again, `Location` the file under `location`."""
    content_type, data = await read_evidence(request)
    created, meta = await attach(content_type, data)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"{location}/{meta.id}"
    return meta


def evidence_file(request: Request, found: EvidenceFile) -> Response:
    """A download's answer: the bytes with their media type, ETag their sha256 (304 on If-None-Match), cacheable
    (the content never changes under its hash)."""
    tag = f'"{found.sha256}"'
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return Response(
        found.data,
        media_type=found.content_type,
        headers={"ETag": tag, "Cache-Control": "private, max-age=86400, immutable"},
    )


def evidence_post(write: dict[int | str, dict[str, Any]]) -> dict[str, Any]:
    """The route options of an upload (`@router.post(path, **evidence_post(write_errors), …)`)."""
    return {
        "status_code": 201,
        "response_model": EvidencePublic,
        "openapi_extra": {"requestBody": {"required": True, "content": EVIDENCE_FILE_CONTENT}},
        "responses": {
            200: {"description": "The same file (by hash) is already attached", "model": EvidencePublic},
            **write,
            413: {"description": f"Larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB"},
            415: {"description": "Not JPEG, PNG, WebP or PDF (by its bytes)"},
        },
    }


def evidence_download(read: dict[int | str, dict[str, Any]]) -> dict[str, Any]:
    """The route options of a download (`@router.get(path, **evidence_download(read_errors), …)`)."""
    return {
        "response_model": EvidenceContent,
        "response_class": Response,
        "responses": {
            200: {"description": "The file's bytes", "content": EVIDENCE_FILE_CONTENT},
            304: {"description": "If-None-Match matched: the file you have"},
            **read,
        },
    }


class FindingPublic(ResponseModel):
    id: uuid.UUID
    inspection_id: uuid.UUID
    inspection_level: InspectionLevel
    year: int
    subject_type: FindingSubjectType
    subject_id: str
    region_code: str = Field(
        description="Where it lies: the place itself, a household's village, where found"
    )
    category: FindingCategory
    severity: Severity
    description: str
    found_on: date
    status: FindingStatus
    counts: bool = Field(description="Confirmed: it counts in the year's figures and its effect applies")
    effect: EffectPublic | None
    reported_at: datetime
    reported_by: str
    reviewed_at: datetime | None
    reviewed_by: str | None
    review_note: str | None
    revision: int
    evidence: list[EvidencePublic]


FindingPage = Page[FindingPublic]


class FindingBrief(ResponseModel):
    id: uuid.UUID
    category: FindingCategory
    severity: Severity
    subject_type: FindingSubjectType
    subject_id: str
    found_on: date


# -- rectifications ---------------------------------------------------------------------------------------------
class OwnerSpec(RequestModel):
    """Who rectifies: a user (`id` their user id), a helping unit (`id` its registry id; `responsible_sub`
    answers for it), or the office of a region (`id` its division code: its officers answer)."""

    kind: OwnerKind
    id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)
    responsible_sub: Sub | None = Field(None, description="The user who reports for the owner")


class OwnerPublic(ResponseModel):
    kind: OwnerKind
    id: str
    name: str | None
    responsible_sub: str | None


class RectificationCreate(RequestModel):
    """限期整改: a confirmed finding's rectification, by its owner, before the deadline."""

    owner: OwnerSpec
    deadline: date = Field(description="After the finding's date, and not in the past")
    requirement: Note = Field(description="What is to be rectified (整改要求)")


class RectificationSubmission(RequestModel):
    response: Text = Field(description="What was done (整改情况); attach evidence before submitting")


class RectificationAcceptance(RequestModel):
    note: str | None = Field(None, min_length=1, max_length=2000)


class RectificationReopening(RequestModel):
    reason: Note
    deadline: date | None = Field(None, description="A new deadline (after the finding, not in the past)")


class RectificationStep(ResponseModel):
    seq: int
    step: str = Field(description="ordered, submitted, accepted or reopened")
    note: str | None
    deadline: date | None
    at: datetime
    by: str


class RectificationPublic(ResponseModel):
    id: uuid.UUID
    finding_id: uuid.UUID
    inspection_id: uuid.UUID
    year: int
    region_code: str
    finding: FindingBrief
    owner: OwnerPublic
    requirement: str
    deadline: date
    status: RectificationStatus
    overdue: bool = Field(description="Waiting for the owner (open or reopened) past the deadline")
    days_overdue: int
    response: str | None
    submitted_at: datetime | None
    submitted_by: str | None
    reviewed_at: datetime | None
    reviewed_by: str | None
    rounds: int = Field(description="How many times the owner has reported")
    revision: int
    created_at: datetime
    created_by: str
    history: list[RectificationStep]
    evidence: list[EvidencePublic]


RectificationPage = Page[RectificationPublic]


class SummaryRow(ResponseModel):
    """Rectification tasks of one region (a child of the region asked for, or that region itself)."""

    region_code: str
    total: int
    open: int
    submitted: int
    reopened: int
    accepted: int
    overdue: int


class RectificationSummary(ResponseModel):
    region_code: str
    year: int | None
    as_of: date = Field(description="The day overdue is counted on (China date)")
    total: SummaryRow
    regions: list[SummaryRow] = Field(description="One row per child region with tasks, by code")


# -- figures ----------------------------------------------------------------------------------------------------
def _wire(unit: MetricUnit) -> Any:
    if unit is MetricUnit.bool:
        return bool | None
    if unit is MetricUnit.percent:
        return Percent | None
    return Int64 | None


def figure_fields(subject_type: SubjectType) -> tuple[str, ...]:
    """The inspection and manual metrics of a subject type (the members of its `figures`), by code."""
    return tuple(
        code
        for code, m in CATALOGUE.items()
        if m.source in (MetricSource.inspection, MetricSource.manual) and subject_type in m.subject_types
    )


def _figures_model(subject_type: SubjectType) -> type[BaseModel]:
    fields: dict[str, Any] = {
        code: (
            _wire(CATALOGUE[code].unit),
            Field(
                None,
                description=f"{CATALOGUE[code].label} ({CATALOGUE[code].unit.label}). "
                f"{CATALOGUE[code].description or CATALOGUE[code].english}".strip(),
            ),
        )
        for code in figure_fields(subject_type)
    }
    name = "".join(p.capitalize() for p in subject_type.value.split("_")) + "InspectionFigures"
    model: type[BaseModel] = create_model(name, __base__=ResponseModel, **fields)
    model.__doc__ = f"The inspection and manual figures of a {subject_type.english.lower()} for a year."
    return model


def _row_model(subject_type: SubjectType, figures: type[BaseModel]) -> type[BaseModel]:
    name = "".join(p.capitalize() for p in subject_type.value.split("_")) + "InspectionFigureRow"
    model: type[BaseModel] = create_model(
        name,
        __base__=ResponseModel,
        subject_type=(Literal[subject_type.value], subject_type.value),  # type: ignore[arg-type]
        id=(str, Field(description="The subject: a village's or township's division code, else its id")),
        year=(int, Field(description="The assessment year Y")),
        name=(
            str | None,
            Field(description="The assessment holds no names: the registry's figures have them"),
        ),
        parent_code=(
            str | None,
            Field(
                description="The region the subject is grouped under: a village's township, a township's county"
            ),
        ),
        parent_name=(str | None, Field(description="Null: the registry's figures name it")),
        figures=(figures, ...),
    )
    model.__doc__ = f"A {subject_type.english.lower()} and its inspection and manual figures."
    return model


#: The row model of each subject type with inspection or manual figures.
FIGURE_ROWS: dict[SubjectType, type[BaseModel]] = {
    t: _row_model(t, _figures_model(t))
    for t in (
        SubjectType.village,
        SubjectType.township,
        SubjectType.cadre,
        SubjectType.helping_unit,
        SubjectType.cppcc_unit,
    )
}


def figure_value(unit: MetricUnit, value: Decimal) -> Any:
    """A figure as its row member holds it: bool, int, or the Decimal (a percent)."""
    if unit is MetricUnit.bool:
        return value != 0
    if unit is MetricUnit.percent:
        return value.quantize(Decimal("0.01"))
    return int(value)

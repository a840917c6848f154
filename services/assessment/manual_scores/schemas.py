"""Manual entry API models: an assessor's value of a manual metric or score of a manual indicator, versioned.

A value is a decimal string in the metric's unit (`"1"` yes, `"0"` no, `"4"` meetings, `"85.5"` percent, fen
whole) or, for an indicator, points (`"8.5"`); a number is accepted on input.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from services.assessment.inspections.schemas import FIRST_YEAR, EvidencePublic, SubjectType
from services.assessment.manual_scores.domain import MAX_REASON
from services.assessment.schemes.schemas import Code, Figure, MetricCode
from shared.pagination import Page
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "ManualEntryCorrection",
    "ManualEntryCreate",
    "ManualEntryPage",
    "ManualEntryPublic",
    "SubjectType",
]

Reason = Annotated[
    str, Field(min_length=1, max_length=MAX_REASON, description="Why (invariant 44): required")
]


class ManualEntryCreate(RequestModel):
    """An assessor's entry for a subject and year: a manual metric's `value` (`metric_code`), or a manual
    indicator's score (`scheme_id` and `indicator_code`; `value` is the points)."""

    subject_type: SubjectType
    subject_id: str = Field(
        min_length=1,
        max_length=64,
        description="A village's or township's division code, else the subject's id",
    )
    region_code: RegionCode | None = Field(
        None, description="Where the subject is assessed: required unless it is a village or township"
    )
    year: int = Field(ge=FIRST_YEAR, le=2100)
    metric_code: MetricCode | None = Field(None, description="A metric whose source is `manual`")
    scheme_id: uuid.UUID | None = Field(
        None, description="With `indicator_code`: the scheme version it belongs to"
    )
    indicator_code: Code | None = Field(None, description="A leaf indicator whose method is `manual`")
    value: Figure
    reason: Reason


class ManualEntryCorrection(RequestModel):
    """A correction: the new value and why (the version corrected stays readable)."""

    value: Figure
    reason: Reason


class ManualEntryPublic(ResponseModel):
    id: uuid.UUID
    lineage_id: uuid.UUID = Field(description="The entry (its first version's id): every version shares it")
    version: int
    latest_version: int
    latest: bool = Field(description="This version is the one that counts")
    supersedes: uuid.UUID | None
    subject_type: SubjectType
    subject_id: str
    region_code: str
    year: int
    metric_code: str | None
    scheme_id: uuid.UUID | None
    scheme_lineage_id: uuid.UUID | None
    indicator_code: str | None
    value: Figure
    reason: str
    evidence_required: bool = Field(description="The indicator asks for evidence (invariant 44)")
    evidence: list[EvidencePublic]
    created_at: datetime
    created_by: str


ManualEntryPage = Page[ManualEntryPublic]

"""API models of village plans (DOMAIN.md §5.1): plans and their targets, the approval steps, amendments, actuals
and progress, and the village exit checklist (一低七有, §5.4)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from services.planning.indicators.domain import CODE_PATTERN
from services.planning.indicators.schemas import Direction, IndicatorValue, Unit
from services.planning.plans.domain import (
    CheckResult,
    ExitItem,
    PlanStatus,
    PlanStep,
    PlanType,
    ProgressState,
)
from shared.pagination import Page
from shared.roles import Role
from shared.schemas import INT32_MAX, Percent, RequestModel, ResponseModel

__all__ = [
    "ActivationIn",
    "ActualIn",
    "ActualPublic",
    "ActualsSet",
    "AmendmentCreate",
    "AssemblyIn",
    "AssemblyPublic",
    "ChecklistItemPublic",
    "ClosureIn",
    "CountyApprovalIn",
    "ExitChecklistPublic",
    "PlanCreate",
    "PlanEventPublic",
    "PlanPage",
    "PlanPublic",
    "PlanStatus",
    "PlanSummary",
    "PlanType",
    "PlanUpdate",
    "ProgressPublic",
    "ReturnIn",
    "TargetIn",
    "TargetProgress",
    "TargetPublic",
    "TownshipReviewIn",
    "ValueAt",
    "YearActualsPublic",
]

Year = Annotated[int, Field(ge=2000, le=2100, examples=[2015])]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
IndicatorCode = Annotated[str, Field(pattern=CODE_PATTERN, examples=["poverty_incidence"])]
Title = Annotated[str, Field(min_length=1, max_length=200, examples=["新民村整村脱贫项目规划书"])]
Summary = Annotated[str, Field(max_length=10_000)]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]
Remark = Annotated[str, Field(max_length=1000)]


class ValueAt(RequestModel):
    """A value of an indicator in a year (a baseline or a target)."""

    value: IndicatorValue
    year: Year


class TargetIn(RequestModel):
    """A target of the plan (invariant 40): a catalogue indicator, its unit and direction, baseline and target."""

    indicator_code: IndicatorCode
    unit: Unit
    direction: Direction
    baseline: ValueAt
    target: ValueAt


Targets = Annotated[list[TargetIn], Field(max_length=80)]


class PlanCreate(RequestModel):
    """A plan the village drafts (一村一策)."""

    plan_type: PlanType
    title: Title
    summary: Summary | None = None
    start_year: Year
    end_year: Year
    targets: Targets = Field(default_factory=list)


class PlanUpdate(RequestModel):
    """Changes to a draft (If-Match); `targets`, when given, replaces them all."""

    plan_type: PlanType | None = None
    title: Title | None = None
    summary: Summary | None = None
    start_year: Year | None = None
    end_year: Year | None = None
    targets: Targets | None = None


class AmendmentCreate(RequestModel):
    """An amendment of an approved plan: a new version, a draft, with the changes given (the rest copied)."""

    reason: Reason
    plan_type: PlanType | None = None
    title: Title | None = None
    summary: Summary | None = None
    start_year: Year | None = None
    end_year: Year | None = None
    targets: Targets | None = None


class AssemblyIn(RequestModel):
    """The villager representatives' assembly (村民代表会议) that passed the plan: quorum two thirds of its members,
    passed by more than half of those present."""

    held_on: date
    representatives: Annotated[Count, Field(description="Members of the assembly (组成人员)", examples=[45])]
    present: Annotated[Count, Field(description="Members present (到会人数)", examples=[38])]
    votes_for: Annotated[Count, Field(examples=[35])]
    votes_against: Count = 0
    votes_abstaining: Count = 0
    minutes_ref: (
        Annotated[str, Field(max_length=200, description="The minutes (会议记录) reference")] | None
    ) = None
    poor_household_representatives: (
        Annotated[Count, Field(description="Poor households' representatives among those present")] | None
    ) = None


class TownshipReviewIn(RequestModel):
    opinion: Remark | None = Field(None, description="The township's opinion (审核意见)")


class CountyApprovalIn(RequestModel):
    document_number: Annotated[str, Field(max_length=100, description="批复文号")] | None = None
    opinion: Remark | None = None


class ActivationIn(RequestModel):
    note: Remark | None = None


class ClosureIn(RequestModel):
    reason: Remark | None = None


class ReturnIn(RequestModel):
    reason: Reason


class ActualIn(RequestModel):
    indicator_code: IndicatorCode
    value: IndicatorValue
    source: Annotated[str, Field(max_length=200, description="Where the figure comes from")] | None = None


class ActualsSet(RequestModel):
    """A year's actuals of the plan's indicators; each changed value is a new version (append-only)."""

    values: Annotated[list[ActualIn], Field(min_length=1, max_length=80)]


# -- answers --------------------------------------------------------------------------------------------------
class ValueAtPublic(ResponseModel):
    value: IndicatorValue
    year: int


class ProgressPublic(ResponseModel):
    state: ProgressState
    percent: Percent | None = Field(description="The share of the way from baseline to target, 0-100")


class ActualPublic(ResponseModel):
    """The village's value of an indicator in a year (its newest version)."""

    indicator_code: str
    year: int
    value: IndicatorValue
    version: int = Field(description="Versions are appended: the newest counts")
    source: str | None
    recorded_at: datetime
    recorded_by: str


class TargetPublic(ResponseModel):
    indicator_code: str
    label_zh: str
    label_en: str
    unit: Unit
    direction: Direction
    baseline: ValueAtPublic
    target: ValueAtPublic
    latest_actual: ActualPublic | None = Field(
        description="The newest year's actual (from the baseline year on)"
    )
    progress: ProgressPublic


class AssemblyPublic(ResponseModel):
    held_on: date
    representatives: int
    present: int
    votes_for: int
    votes_against: int
    votes_abstaining: int
    minutes_ref: str | None
    poor_household_representatives: int | None


class PlanEventPublic(ResponseModel):
    """One step of the plan version's history (append-only)."""

    seq: int
    step: PlanStep
    status_after: PlanStatus
    at: datetime
    actor: str
    role: Role
    reason: str | None
    opinion: str | None
    document_number: str | None
    note: str | None
    assembly: AssemblyPublic | None
    amends: uuid.UUID | None = Field(description="The version an amendment amends")
    superseded_by: uuid.UUID | None = Field(description="The amendment that superseded this version")


class PlanSummary(ResponseModel):
    """A plan version in a list."""

    id: uuid.UUID
    lineage_id: uuid.UUID = Field(description="Every version of one plan shares it")
    version: int = Field(description="The plan's version in its lineage (1, then one per amendment)")
    supersedes: uuid.UUID | None
    village_code: str
    plan_type: PlanType
    title: str
    start_year: int
    end_year: int
    status: PlanStatus
    row_version: int = Field(description='The record\'s version: its ETag ("3"), sent back as If-Match')
    created_at: datetime
    updated_at: datetime


class PlanPublic(PlanSummary):
    """A plan version with its targets (and their progress) and its history."""

    summary: str | None
    created_by: str
    targets: list[TargetPublic]
    history: list[PlanEventPublic]


#: A page of plan versions.
PlanPage = Page[PlanSummary]


class TargetProgress(ResponseModel):
    indicator_code: str
    actual: IndicatorValue | None
    progress: ProgressPublic


class YearActualsPublic(ResponseModel):
    """A year's actuals of a plan's indicators, and the progress they make."""

    plan_id: uuid.UUID
    village_code: str
    year: int
    values: list[ActualPublic]
    progress: list[TargetProgress]


class ChecklistItemPublic(ResponseModel):
    item: ExitItem
    result: CheckResult
    figure: IndicatorValue | None = Field(description="The village's figure for the year")
    threshold: IndicatorValue | None = Field(description="What it is held against (null: not set)")
    comparison: str = Field(description="`<` (below the threshold) or `>=` (at least)", examples=["<"])
    source: str | None = Field(
        description="`registry`, `profile` (its stored registry figures or declared figures), `indicator:<code>`"
    )
    note: str


class ExitChecklistPublic(ResponseModel):
    """The village exit checklist of a year (一低七有): met only when every item is met."""

    village_code: str
    year: int
    result: CheckResult
    items: list[ChecklistItemPublic]

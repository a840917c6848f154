"""Run API models: asking for a run, the run with its lifecycle, results with their explanations, rankings, diffs,
appeals. Points and figures are decimal strings (`"86.76"`, `"7.1"`), never JSON numbers; codes are zh-CN-labelled
code lists."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema

from services.assessment.metrics.domain import SubjectType
from services.assessment.runs.domain import AppealDecision, AppealStatus, IndicatorRule, RunKind, RunStatus
from services.assessment.schemes.domain import Grade, MethodKind, VetoEffect
from services.assessment.schemes.schemas import Figure, Points, plain_decimal
from shared.pagination import Page
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "AppealAnswer",
    "AppealCreate",
    "AppealPage",
    "AppealPublic",
    "BonusHitPublic",
    "CausePublic",
    "CommendationPublic",
    "IndicatorResultPublic",
    "ResultPage",
    "ResultPublic",
    "ResultSummary",
    "RunCreate",
    "RunDiff",
    "RunKind",
    "RunPage",
    "RunPublic",
    "RunStatus",
    "SubjectMovePublic",
    "VetoHitPublic",
]

#: A change of points: may be negative.
SIGNED_POINTS_PATTERN = r"^-?[0-9]{1,6}(\.[0-9]{1,4})?$"
SignedPoints = Annotated[
    Decimal,
    PlainSerializer(plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SIGNED_POINTS_PATTERN,
            "description": "A change of points, a decimal string (negative when it fell)",
            "examples": ["-2.5"],
        }
    ),
]


class RunCreate(RequestModel):
    """Ask for a run: a scheme version, a year and a region of your county."""

    scheme_id: uuid.UUID = Field(description="The scheme version (published; a draft only for `what_if`)")
    year: int = Field(ge=2013, le=2100, description="The assessment year (the scheme's year)")
    region: RegionCode = Field(description="Your county, or a township of it: its subjects are assessed")
    kind: RunKind = RunKind.annual
    baseline_run_id: uuid.UUID | None = Field(
        None, description="`what_if` only: the published run whose snapshot the scheme is scored against"
    )


class RunPublic(ResponseModel):
    """A run and where it is in its lifecycle (queued → freezing → scoring → scored → published, or failed)."""

    id: uuid.UUID
    scheme_id: uuid.UUID
    scheme_name: str
    scheme_version: int
    lineage_id: uuid.UUID = Field(description="The scheme's lineage: runs of its versions form one series")
    subject_type: SubjectType
    region_code: str
    county_code: str
    year: int
    kind: RunKind
    version: int = Field(description="The run's version in its series (scheme, year, region, kind)")
    status: RunStatus
    baseline_run_id: uuid.UUID | None = Field(description="A what-if's baseline (the published run)")
    snapshot_run_id: uuid.UUID = Field(description="The run whose frozen snapshot was scored")
    corrects_run_id: uuid.UUID | None = Field(description="The published run this version corrects")
    superseded_by: uuid.UUID | None = Field(description="A newer published version of this run")
    failure_code: str | None = Field(description="Why it failed (`registry_unavailable`, …)")
    failure_reason: str | None
    subjects: int | None = Field(description="Subjects assessed (once frozen)")
    absent_metrics: list[str] = Field(description="Metrics the scheme reads that no subject had a figure of")
    created_at: datetime
    created_by: str
    started_at: datetime | None
    frozen_at: datetime | None
    scored_at: datetime | None
    failed_at: datetime | None
    published_at: datetime | None
    published_by: str | None


RunPage = Page[RunPublic]


class ResultSummary(ResponseModel):
    """A subject's result in a ranking: score, grade, rank among its peers."""

    subject_id: str
    name: str
    region_code: str
    parent_code: str | None = Field(description="Its peer group: a village's township, a township's county")
    parent_name: str | None
    score: Points
    grade: Grade
    rank: int = Field(description="Rank among the peer group (ties share a rank; the next skips: 1, 2, 2, 4)")
    peers: int
    vetoed: bool


ResultPage = Page[ResultSummary]


class IndicatorResultPublic(ResponseModel):
    """One indicator of a result: the figure read, the target, the rule applied, the points and why."""

    code: str
    name: str
    name_en: str | None
    parent_code: str | None
    level: int
    kind: Literal["group", "leaf"]
    method: MethodKind | None
    metric: str | None
    metric_label: str | None = Field(description="The metric's zh-CN label")
    max_points: Points
    value: Figure | None = Field(description="The figure read from the snapshot")
    target: Figure | None = Field(description="What it was compared with (a target, a band, an inner total)")
    points: Points
    rule: IndicatorRule
    explanation_zh: str = Field(examples=["按完成比例:15 \u00d7 34/40 = 12.75"])
    explanation_en: str = Field(examples=["15 \u00d7 34/40 = 12.75"])


class VetoHitPublic(ResponseModel):
    """A veto that held (一票否决, invariant 45), with the reason shown to the subject."""

    code: str
    name: str
    effect: VetoEffect
    reason: str
    metric: str
    metric_label: str
    value: Figure


class BonusHitPublic(ResponseModel):
    code: str
    name: str
    points: Points


class CommendationPublic(ResponseModel):
    code: str
    name: str
    eligible: bool
    award_fen: int | None
    explanation_zh: str
    explanation_en: str


class ResultPublic(ResponseModel):
    """A subject's result with its whole explanation, readable by a cadre: per indicator the figure, the rule and
    the points (depth first), veto hits with their reasons, bonus, score, grade and rank."""

    run_id: uuid.UUID
    run_status: RunStatus
    kind: RunKind
    year: int
    subject_type: SubjectType
    subject_id: str
    name: str
    region_code: str
    parent_code: str | None
    parent_name: str | None
    raw_total: Points
    bonus: Points
    score_by_points: Points = Field(
        description="raw + bonus, clamped to [0, total] and rounded (before vetoes)"
    )
    score: Points
    grade: Grade
    grade_by_score: Grade
    rank: int
    peers: int
    tie_rule_zh: str
    tie_rule_en: str
    vetoes: list[VetoHitPublic]
    bonus_hits: list[BonusHitPublic]
    not_evaluated: list[str] = Field(description="Vetoes and bonus rules whose figure was absent")
    promotion_blocked: bool = Field(description="R7: 不得提拔重用、不得调整工作岗位")
    commendations: list[CommendationPublic]
    indicators: list[IndicatorResultPublic]
    explanation_zh: str = Field(examples=["86.76 + 加分 0 = 86.76,良好"])
    explanation_en: str = Field(examples=["86.76 + bonus 0 = 86.76: Good"])


class CausePublic(ResponseModel):
    """What moved a subject: an indicator whose points changed (with the figure it read before and after), or a
    veto that newly held or no longer holds."""

    kind: Literal["indicator", "veto"]
    code: str
    name: str
    metric: str | None
    metric_label: str | None
    points_before: Points | None
    points_after: Points | None
    points_change: SignedPoints | None
    value_before: Figure | None
    value_after: Figure | None


class SubjectMovePublic(ResponseModel):
    """A subject whose score, grade or rank moved between two runs, by how much, and why."""

    subject_id: str
    name: str
    score_before: Points | None
    score_after: Points | None
    score_change: SignedPoints | None
    grade_before: Grade | None
    grade_after: Grade | None
    rank_before: int | None
    rank_after: int | None
    rank_change: int | None = Field(description="Places gained (positive) or lost (negative)")
    causes: list[CausePublic]


class RunDiff(ResponseModel):
    """The subjects that moved between `against_run_id` (before) and `run_id` (after), by subject (keyset)."""

    run_id: uuid.UUID
    against_run_id: uuid.UUID
    items: list[SubjectMovePublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class AppealCreate(RequestModel):
    reason: str = Field(
        min_length=1, max_length=2000, description="Why the result is wrong (shown to the county)"
    )


class AppealAnswer(RequestModel):
    decision: AppealDecision
    answer: str = Field(
        min_length=1, max_length=2000, description="The county's answer, shown to the subject"
    )


class AppealPublic(ResponseModel):
    """An appeal against a published result; an upheld one is corrected by a new run version."""

    id: uuid.UUID
    run_id: uuid.UUID
    subject_id: str
    reason: str
    status: AppealStatus
    filed_by: str
    filed_at: datetime
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None
    correction_run_id: uuid.UUID | None


AppealPage = Page[AppealPublic]

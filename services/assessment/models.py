"""Assessment tables: SQLModel classes named `assessment_*` (the audit and Idempotency-Key tables come from shared/).

A scheme version is one `assessment_scheme` row holding its validated document (JSONB, what the API answers) and,
beside it, the same scheme flattened for set-based scoring (a run scores every subject with `INSERT … SELECT`
joining these rows to its snapshot of figures; `scoring/domain.py` gives each formula):

- `assessment_indicator`: one row per indicator (groups and leaves, embedded schemes' included) with the method
  and its numeric parameters as columns;
- `assessment_indicator_band`: the bands of tiered (`bound`) and rank (`top_percent` in `bound`) indicators;
- `assessment_scheme_rule`: vetoes, bonus rules and commendation rules;
- `assessment_grade_band`: the grade bands.

The flat rows are rewritten with the document while the version is a draft and never after. Points are
`numeric(10, 4)`, figures `numeric(20, 4)`, money integer fen (BIGINT): never a float.

A run (`assessment_run`) scores one scheme version for a year and a region. Its snapshot is append-only:
`assessment_snapshot_subject` (who is assessed, with the peer group), `assessment_snapshot` (one figure per subject
and metric, NULL when absent) and `assessment_snapshot_manual` (assessors' scores of manual indicators). Scoring
writes `assessment_result_indicator` (points per subject and indicator, with the rule applied and its parameters)
and `assessment_result` (totals, vetoes, grade, rank among peers) once; both refuse UPDATE and DELETE, and refuse
rows for a published run (invariant 46). `assessment_appeal` holds appeals against published results.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlmodel import Field, SQLModel

from shared.audit import audit_table
from shared.db import CODE_COLLATION
from shared.idempotency import idempotency_table

__all__ = [
    "Appeal",
    "AssessmentScheme",
    "ChangeFeedEntry",
    "ChangeFeedHorizon",
    "Evidence",
    "Finding",
    "GradeBandRow",
    "IndicatorBandRow",
    "IndicatorRow",
    "Inspection",
    "InspectionSample",
    "ManualEntry",
    "Rectification",
    "RectificationEvent",
    "Result",
    "ResultIndicator",
    "Run",
    "SchemeRule",
    "SnapshotManual",
    "SnapshotSubject",
    "SnapshotValue",
    "audit_event",
    "idempotency_key",
]

_TS = sa.DateTime(timezone=True)
_POINTS = sa.Numeric(10, 4)
_FIGURE = sa.Numeric(20, 4)


def _scheme_fk() -> sa.ForeignKey:
    return sa.ForeignKey("assessment_scheme.id", ondelete="CASCADE")


def _scheme_fk_plain() -> sa.ForeignKey:
    return sa.ForeignKey("assessment_scheme.id")


class AssessmentScheme(SQLModel, table=True):
    """One version of an assessment scheme of a county: draft → published → locked."""

    __tablename__ = "assessment_scheme"
    __table_args__ = (
        sa.UniqueConstraint("lineage_id", "version", name="uq_assessment_scheme_lineage_version"),
        sa.CheckConstraint("version >= 1", name="ck_assessment_scheme_version"),
        sa.CheckConstraint("status IN ('draft', 'published', 'locked')", name="ck_assessment_scheme_status"),
        sa.CheckConstraint("total_points > 0", name="ck_assessment_scheme_total"),
        sa.Index("ix_assessment_scheme_region", "region_code", "year"),
        # One open draft per scheme at a time (a concurrent second new version is refused by the database).
        sa.Index(
            "uq_assessment_scheme_open_draft",
            "lineage_id",
            unique=True,
            postgresql_where=sa.text("status = 'draft'"),
        ),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    #: Every version of one scheme shares it (the first version's id).
    lineage_id: uuid.UUID = Field(sa_column=sa.Column("lineage_id", UUID(as_uuid=True), nullable=False))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False))
    supersedes: uuid.UUID | None = Field(default=None, sa_column=sa.Column("supersedes", UUID(as_uuid=True)))
    superseded_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("superseded_by", UUID(as_uuid=True))
    )
    region_code: str = Field(
        sa_column=sa.Column("region_code", sa.String(12, collation=CODE_COLLATION), nullable=False)
    )
    subject_type: str = Field(sa_column=sa.Column("subject_type", sa.String(24), nullable=False))
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    name: str = Field(sa_column=sa.Column("name", sa.String(200), nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False, server_default="draft"))
    total_points: Decimal = Field(sa_column=sa.Column("total_points", _POINTS, nullable=False))
    rounding_places: int = Field(sa_column=sa.Column("rounding_places", sa.SmallInteger, nullable=False))
    rounding_mode: str = Field(sa_column=sa.Column("rounding_mode", sa.String(16), nullable=False))
    bonus_cap: Decimal = Field(sa_column=sa.Column("bonus_cap", _POINTS, nullable=False))
    #: The validated scheme document (SchemeDocument), as the API answers it.
    document: dict[str, Any] = Field(sa_column=sa.Column("document", JSONB, nullable=False))
    template_code: str | None = Field(default=None, sa_column=sa.Column("template_code", sa.String(8)))
    #: Edits of this version: its ETag.
    revision: int = Field(sa_column=sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", _TS, nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column("published_at", _TS))
    published_by: str | None = Field(default=None, sa_column=sa.Column("published_by", sa.String(64)))
    locked_at: datetime | None = Field(default=None, sa_column=sa.Column("locked_at", _TS))
    locked_by: str | None = Field(default=None, sa_column=sa.Column("locked_by", sa.String(64)))


class IndicatorRow(SQLModel, table=True):
    """An indicator of a scheme version, flat: a group or a leaf with its method's parameters as columns."""

    __tablename__ = "assessment_indicator"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('group', 'leaf')", name="ck_assessment_indicator_kind"),
        sa.CheckConstraint("max_points >= 0", name="ck_assessment_indicator_points"),
        sa.Index("ix_assessment_indicator_metric", "metric"),
    )

    scheme_id: uuid.UUID = Field(
        sa_column=sa.Column("scheme_id", UUID(as_uuid=True), _scheme_fk(), primary_key=True)
    )
    code: str = Field(sa_column=sa.Column("code", sa.String(32), primary_key=True))
    parent_code: str | None = Field(default=None, sa_column=sa.Column("parent_code", sa.String(32)))
    level: int = Field(sa_column=sa.Column("level", sa.SmallInteger, nullable=False))
    position: int = Field(sa_column=sa.Column("position", sa.SmallInteger, nullable=False))
    pointer: str = Field(sa_column=sa.Column("pointer", sa.String(400), nullable=False))
    kind: str = Field(sa_column=sa.Column("kind", sa.String(8), nullable=False))
    max_points: Decimal = Field(sa_column=sa.Column("max_points", _POINTS, nullable=False))
    method: str | None = Field(default=None, sa_column=sa.Column("method", sa.String(16)))
    metric: str | None = Field(default=None, sa_column=sa.Column("metric", sa.String(64)))
    comparison: str | None = Field(default=None, sa_column=sa.Column("comparison", sa.String(16)))
    target: Decimal | None = Field(default=None, sa_column=sa.Column("target", _FIGURE))
    target_metric: str | None = Field(default=None, sa_column=sa.Column("target_metric", sa.String(64)))
    zero_value: Decimal | None = Field(default=None, sa_column=sa.Column("zero_value", _FIGURE))
    per_occurrence: Decimal | None = Field(default=None, sa_column=sa.Column("per_occurrence", _POINTS))
    floor_points: Decimal | None = Field(default=None, sa_column=sa.Column("floor_points", _POINTS))
    peer_group: str | None = Field(default=None, sa_column=sa.Column("peer_group", sa.String(16)))
    inner_total: Decimal | None = Field(default=None, sa_column=sa.Column("inner_total", _POINTS))
    evidence_required: bool = Field(
        default=False,
        sa_column=sa.Column("evidence_required", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )


class IndicatorBandRow(SQLModel, table=True):
    """A band of a tiered indicator (`bound`) or of a rank indicator (`bound` is its top_percent)."""

    __tablename__ = "assessment_indicator_band"

    scheme_id: uuid.UUID = Field(
        sa_column=sa.Column("scheme_id", UUID(as_uuid=True), _scheme_fk(), primary_key=True)
    )
    indicator_code: str = Field(sa_column=sa.Column("indicator_code", sa.String(32), primary_key=True))
    position: int = Field(sa_column=sa.Column("position", sa.SmallInteger, primary_key=True))
    bound: Decimal = Field(sa_column=sa.Column("bound", _FIGURE, nullable=False))
    points: Decimal = Field(sa_column=sa.Column("points", _POINTS, nullable=False))


class SchemeRule(SQLModel, table=True):
    """A veto, bonus or commendation rule of a scheme version (`kind`), with its condition as columns."""

    __tablename__ = "assessment_scheme_rule"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('veto', 'bonus', 'commendation')", name="ck_assessment_scheme_rule_kind"
        ),
    )

    scheme_id: uuid.UUID = Field(
        sa_column=sa.Column("scheme_id", UUID(as_uuid=True), _scheme_fk(), primary_key=True)
    )
    kind: str = Field(sa_column=sa.Column("kind", sa.String(16), primary_key=True))
    code: str = Field(sa_column=sa.Column("code", sa.String(32), primary_key=True))
    position: int = Field(sa_column=sa.Column("position", sa.SmallInteger, nullable=False))
    metric: str | None = Field(default=None, sa_column=sa.Column("metric", sa.String(64)))
    op: str | None = Field(default=None, sa_column=sa.Column("op", sa.String(4)))
    value: Decimal | None = Field(default=None, sa_column=sa.Column("value", _FIGURE))
    effect: str | None = Field(default=None, sa_column=sa.Column("effect", sa.String(32)))
    points: Decimal | None = Field(default=None, sa_column=sa.Column("points", _POINTS))
    reason: str | None = Field(default=None, sa_column=sa.Column("reason", sa.String(1000)))
    subject_kind: str | None = Field(default=None, sa_column=sa.Column("subject_kind", sa.String(40)))
    min_grade: str | None = Field(default=None, sa_column=sa.Column("min_grade", sa.String(24)))
    min_fen: int | None = Field(default=None, sa_column=sa.Column("min_fen", sa.BigInteger))
    award_fen: int | None = Field(default=None, sa_column=sa.Column("award_fen", sa.BigInteger))


class GradeBandRow(SQLModel, table=True):
    """A grade band of a scheme version: scores in [min_points, max_points) (the top band closed at the total)."""

    __tablename__ = "assessment_grade_band"

    scheme_id: uuid.UUID = Field(
        sa_column=sa.Column("scheme_id", UUID(as_uuid=True), _scheme_fk(), primary_key=True)
    )
    grade: str = Field(sa_column=sa.Column("grade", sa.String(24), primary_key=True))
    min_points: Decimal = Field(sa_column=sa.Column("min_points", _POINTS, nullable=False))
    max_points: Decimal = Field(sa_column=sa.Column("max_points", _POINTS, nullable=False))
    position: int = Field(sa_column=sa.Column("position", sa.SmallInteger, nullable=False))


def _run_fk(*, cascade: bool = False) -> sa.ForeignKey:
    return sa.ForeignKey("assessment_run.id", ondelete="CASCADE" if cascade else None)


_SUBJECT = sa.String(64)
_STATUSES = "'queued', 'freezing', 'scoring', 'scored', 'published', 'failed'"
_KINDS = "'annual', 'interim_june', 'interim_december', 'what_if'"


class Run(SQLModel, table=True):
    """One run of a scheme version over a region and a year: queued → freezing → scoring → scored → published,
    or failed with a visible reason. `version` counts the runs of one series (scheme lineage, year, region,
    kind); `snapshot_run_id` is the run whose snapshot it scores (its own, or a what-if's published baseline)."""

    __tablename__ = "assessment_run"
    __table_args__ = (
        sa.UniqueConstraint(
            "lineage_id", "year", "region_code", "kind", "version", name="uq_assessment_run_series_version"
        ),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="ck_assessment_run_status"),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name="ck_assessment_run_kind"),
        sa.CheckConstraint("version >= 1", name="ck_assessment_run_version"),
        sa.CheckConstraint("status <> 'published' OR kind = 'annual'", name="ck_assessment_run_publishable"),
        sa.Index("ix_assessment_run_region", "region_code", "year"),
        sa.Index("ix_assessment_run_scheme", "scheme_id"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    scheme_id: uuid.UUID = Field(
        sa_column=sa.Column("scheme_id", UUID(as_uuid=True), _scheme_fk_plain(), nullable=False)
    )
    lineage_id: uuid.UUID = Field(sa_column=sa.Column("lineage_id", UUID(as_uuid=True), nullable=False))
    scheme_version: int = Field(sa_column=sa.Column("scheme_version", sa.Integer, nullable=False))
    scheme_revision: int = Field(sa_column=sa.Column("scheme_revision", sa.Integer, nullable=False))
    #: The scheme document as it was when the run was asked for (names and labels of the explanations).
    scheme_document: dict[str, Any] = Field(sa_column=sa.Column("scheme_document", JSONB, nullable=False))
    subject_type: str = Field(sa_column=sa.Column("subject_type", sa.String(24), nullable=False))
    region_code: str = Field(
        sa_column=sa.Column("region_code", sa.String(12, collation=CODE_COLLATION), nullable=False)
    )
    county_code: str = Field(
        sa_column=sa.Column("county_code", sa.String(12, collation=CODE_COLLATION), nullable=False)
    )
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    kind: str = Field(sa_column=sa.Column("kind", sa.String(20), nullable=False))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    baseline_run_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("baseline_run_id", UUID(as_uuid=True), _run_fk())
    )
    snapshot_run_id: uuid.UUID = Field(
        sa_column=sa.Column("snapshot_run_id", UUID(as_uuid=True), nullable=False)
    )
    corrects_run_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("corrects_run_id", UUID(as_uuid=True), _run_fk())
    )
    superseded_by: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("superseded_by", UUID(as_uuid=True))
    )
    failure_code: str | None = Field(default=None, sa_column=sa.Column("failure_code", sa.String(48)))
    failure_reason: str | None = Field(default=None, sa_column=sa.Column("failure_reason", sa.String(2000)))
    subjects: int | None = Field(default=None, sa_column=sa.Column("subjects", sa.Integer))
    #: Metrics the scheme reads that no subject had a figure of (they scored 0 everywhere).
    absent_metrics: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column("absent_metrics", JSONB, nullable=False, server_default="[]"),
    )
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", _TS, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=sa.Column("started_at", _TS))
    frozen_at: datetime | None = Field(default=None, sa_column=sa.Column("frozen_at", _TS))
    scored_at: datetime | None = Field(default=None, sa_column=sa.Column("scored_at", _TS))
    failed_at: datetime | None = Field(default=None, sa_column=sa.Column("failed_at", _TS))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column("published_at", _TS))
    published_by: str | None = Field(default=None, sa_column=sa.Column("published_by", sa.String(64)))


class SnapshotSubject(SQLModel, table=True):
    """A subject of a run's snapshot: who, where (its region, its peer group) and its kind (append-only)."""

    __tablename__ = "assessment_snapshot_subject"

    run_id: uuid.UUID = Field(sa_column=sa.Column("run_id", UUID(as_uuid=True), _run_fk(), primary_key=True))
    subject_id: str = Field(sa_column=sa.Column("subject_id", _SUBJECT, primary_key=True))
    name: str = Field(sa_column=sa.Column("name", sa.String(200), nullable=False))
    #: The subject's own region (a village's or township's code; a cadre's, unit's or household's region).
    region_code: str = Field(
        sa_column=sa.Column("region_code", sa.String(12, collation=CODE_COLLATION), nullable=False)
    )
    #: Its peer group for rankings: a village's township, a township's county, a cadre's region.
    parent_code: str | None = Field(
        default=None, sa_column=sa.Column("parent_code", sa.String(12, collation=CODE_COLLATION))
    )
    parent_name: str | None = Field(default=None, sa_column=sa.Column("parent_name", sa.String(200)))
    kind: str | None = Field(default=None, sa_column=sa.Column("kind", sa.String(40)))


class SnapshotValue(SQLModel, table=True):
    """One frozen figure: a subject's metric in the run's year (NULL: the source had no figure). Append-only."""

    __tablename__ = "assessment_snapshot"

    run_id: uuid.UUID = Field(sa_column=sa.Column("run_id", UUID(as_uuid=True), _run_fk(), primary_key=True))
    subject_id: str = Field(sa_column=sa.Column("subject_id", _SUBJECT, primary_key=True))
    metric_code: str = Field(sa_column=sa.Column("metric_code", sa.String(64), primary_key=True))
    value: Decimal | None = Field(default=None, sa_column=sa.Column("value", _FIGURE))
    source: str = Field(sa_column=sa.Column("source", sa.String(16), nullable=False))


class SnapshotManual(SQLModel, table=True):
    """An assessor's score of a manual indicator, frozen with the run (append-only)."""

    __tablename__ = "assessment_snapshot_manual"

    run_id: uuid.UUID = Field(sa_column=sa.Column("run_id", UUID(as_uuid=True), _run_fk(), primary_key=True))
    subject_id: str = Field(sa_column=sa.Column("subject_id", _SUBJECT, primary_key=True))
    indicator_code: str = Field(sa_column=sa.Column("indicator_code", sa.String(32), primary_key=True))
    points: Decimal = Field(sa_column=sa.Column("points", _POINTS, nullable=False))
    reason: str = Field(sa_column=sa.Column("reason", sa.String(2000), nullable=False))


class ResultIndicator(SQLModel, table=True):
    """A subject's points on one indicator of a run, and why: the figure read, the target, the rule applied as a
    code, the exact value before rounding and the rule's parameters. Written once by the set-based scorer.

    `run_id` names a run without a foreign key: the statement trigger `assessment_results_checked()` checks (and
    locks) the runs once per statement instead of once per row (migration asse0006)."""

    __tablename__ = "assessment_result_indicator"
    __table_args__ = (sa.CheckConstraint("points >= 0", name="ck_assessment_result_indicator_points"),)

    run_id: uuid.UUID = Field(sa_column=sa.Column("run_id", UUID(as_uuid=True), primary_key=True))
    subject_id: str = Field(sa_column=sa.Column("subject_id", _SUBJECT, primary_key=True))
    indicator_code: str = Field(sa_column=sa.Column("indicator_code", sa.String(32), primary_key=True))
    parent_code: str | None = Field(default=None, sa_column=sa.Column("parent_code", sa.String(32)))
    level: int = Field(sa_column=sa.Column("level", sa.SmallInteger, nullable=False))
    position: int = Field(sa_column=sa.Column("position", sa.SmallInteger, nullable=False))
    kind: str = Field(sa_column=sa.Column("kind", sa.String(8), nullable=False))
    method: str | None = Field(default=None, sa_column=sa.Column("method", sa.String(16)))
    metric: str | None = Field(default=None, sa_column=sa.Column("metric", sa.String(64)))
    max_points: Decimal = Field(sa_column=sa.Column("max_points", _POINTS, nullable=False))
    value: Decimal | None = Field(default=None, sa_column=sa.Column("value", _FIGURE))
    target: Decimal | None = Field(default=None, sa_column=sa.Column("target", _FIGURE))
    exact: Decimal | None = Field(default=None, sa_column=sa.Column("exact", sa.Numeric))
    points: Decimal = Field(sa_column=sa.Column("points", _POINTS, nullable=False))
    rule: str = Field(sa_column=sa.Column("rule", sa.String(32), nullable=False))
    params: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column("params", JSONB, nullable=False, server_default="{}")
    )


class Result(SQLModel, table=True):
    """A subject's result of a run: raw total, bonus (capped), veto hits with reasons, final score (clamped),
    grade, commendations and rank among peers. Written once by the set-based scorer."""

    __tablename__ = "assessment_result"
    __table_args__ = (sa.Index("ix_assessment_result_peer", "run_id", "peer_group", "rank"),)

    run_id: uuid.UUID = Field(sa_column=sa.Column("run_id", UUID(as_uuid=True), _run_fk(), primary_key=True))
    subject_id: str = Field(sa_column=sa.Column("subject_id", _SUBJECT, primary_key=True))
    raw_total: Decimal = Field(sa_column=sa.Column("raw_total", _POINTS, nullable=False))
    bonus: Decimal = Field(sa_column=sa.Column("bonus", _POINTS, nullable=False))
    score_by_points: Decimal = Field(sa_column=sa.Column("score_by_points", _POINTS, nullable=False))
    score: Decimal = Field(sa_column=sa.Column("score", _POINTS, nullable=False))
    grade: str = Field(sa_column=sa.Column("grade", sa.String(24), nullable=False))
    grade_by_score: str = Field(sa_column=sa.Column("grade_by_score", sa.String(24), nullable=False))
    #: Grades ordered from the lowest band (0) up: rankings sort by it before the score.
    grade_order: int = Field(sa_column=sa.Column("grade_order", sa.SmallInteger, nullable=False))
    bonus_hits: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column("bonus_hits", JSONB, nullable=False, server_default="[]")
    )
    vetoes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column("vetoes", JSONB, nullable=False, server_default="[]")
    )
    not_evaluated: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column("not_evaluated", JSONB, nullable=False, server_default="[]"),
    )
    promotion_blocked: bool = Field(sa_column=sa.Column("promotion_blocked", sa.Boolean, nullable=False))
    commendations: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column("commendations", JSONB, nullable=False, server_default="[]"),
    )
    peer_group: str = Field(
        sa_column=sa.Column("peer_group", sa.String(12, collation=CODE_COLLATION), nullable=False)
    )
    rank: int = Field(sa_column=sa.Column("rank", sa.Integer, nullable=False))
    peers: int = Field(sa_column=sa.Column("peers", sa.Integer, nullable=False))


class Appeal(SQLModel, table=True):
    """An appeal against a published result (invariant 46): open → upheld | rejected; an upheld one is
    corrected by a new run version (`correction_run_id`), never by an edit."""

    __tablename__ = "assessment_appeal"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'upheld', 'rejected')", name="ck_assessment_appeal_status"),
        sa.Index("ix_assessment_appeal_run", "run_id", "subject_id"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    run_id: uuid.UUID = Field(sa_column=sa.Column("run_id", UUID(as_uuid=True), _run_fk(), nullable=False))
    subject_id: str = Field(sa_column=sa.Column("subject_id", _SUBJECT, nullable=False))
    #: The subject's region (scope of the appeal).
    region_code: str = Field(
        sa_column=sa.Column("region_code", sa.String(12, collation=CODE_COLLATION), nullable=False)
    )
    reason: str = Field(sa_column=sa.Column("reason", sa.String(2000), nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    filed_by: str = Field(sa_column=sa.Column("filed_by", sa.String(64), nullable=False))
    filed_role: str = Field(sa_column=sa.Column("filed_role", sa.String(32), nullable=False))
    filed_at: datetime = Field(sa_column=sa.Column("filed_at", _TS, nullable=False))
    answer: str | None = Field(default=None, sa_column=sa.Column("answer", sa.String(2000)))
    answered_by: str | None = Field(default=None, sa_column=sa.Column("answered_by", sa.String(64)))
    answered_at: datetime | None = Field(default=None, sa_column=sa.Column("answered_at", _TS))
    correction_run_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("correction_run_id", UUID(as_uuid=True), _run_fk())
    )


audit_event = audit_table("assessment_audit_event", SQLModel.metadata)
idempotency_key = idempotency_table("assessment_idempotency_key", SQLModel.metadata)


# -- inspections, findings, rectifications (inspections/), manual entries (manual_scores/) ----------------------
#: Region codes compare byte-wise (prefix scope filters on a plain btree index).
def _region(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(12, collation=CODE_COLLATION), nullable=nullable)


class Inspection(SQLModel, table=True):
    """A check of the chain (§6.3): level, year, the region checked, the sampling and its seed, the inspectors;
    planned → in_progress (the sample drawn) → closed."""

    __tablename__ = "assessment_inspection"
    __table_args__ = (
        sa.CheckConstraint(
            "level IN ('province', 'city', 'county', 'township')", name="ck_assessment_inspection_level"
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'closed')", name="ck_assessment_inspection_status"
        ),
        sa.CheckConstraint("sampling_unit IN ('household', 'village')", name="ck_assessment_inspection_unit"),
        sa.CheckConstraint(
            "sampling_rate > 0 AND sampling_rate <= 100", name="ck_assessment_inspection_rate"
        ),
        sa.Index("ix_assessment_inspection_region", "region_code", "year"),
        sa.Index("ix_assessment_inspection_inspectors", "inspectors", postgresql_using="gin"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    level: str = Field(sa_column=sa.Column("level", sa.String(16), nullable=False))
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    #: The region checked (the inspection's scope) and the prefix every code inside it starts with.
    region_code: str = Field(sa_column=_region("region_code"))
    scope_prefix: str = Field(sa_column=_region("scope_prefix"))
    #: The region whose officers check (the county of a county verification, …).
    owner_region: str = Field(sa_column=_region("owner_region"))
    name: str = Field(sa_column=sa.Column("name", sa.String(200), nullable=False))
    sampling_unit: str = Field(sa_column=sa.Column("sampling_unit", sa.String(16), nullable=False))
    sampling_rate: Decimal = Field(sa_column=sa.Column("sampling_rate", sa.Numeric(5, 2), nullable=False))
    #: The draw's seed (hex): the sample is re-derived from it and the same frame.
    seed: str = Field(sa_column=sa.Column("seed", sa.String(32), nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    inspectors: list[str] = Field(
        sa_column=sa.Column(
            "inspectors", sa.ARRAY(sa.String(64)), nullable=False, server_default=sa.text("'{}'")
        )
    )
    frame_size: int | None = Field(default=None, sa_column=sa.Column("frame_size", sa.Integer))
    frame_digest: str | None = Field(default=None, sa_column=sa.Column("frame_digest", sa.String(64)))
    sample_size: int | None = Field(default=None, sa_column=sa.Column("sample_size", sa.Integer))
    #: Per township: frame size, units, drawn, the frame's digest.
    strata: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column("strata", JSONB))
    closing_note: str | None = Field(default=None, sa_column=sa.Column("closing_note", sa.String(2000)))
    revision: int = Field(sa_column=sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", _TS, nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=sa.Column("started_at", _TS))
    started_by: str | None = Field(default=None, sa_column=sa.Column("started_by", sa.String(64)))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column("closed_at", _TS))
    closed_by: str | None = Field(default=None, sa_column=sa.Column("closed_by", sa.String(64)))


def _inspection_fk() -> sa.ForeignKey:
    return sa.ForeignKey("assessment_inspection.id", ondelete="CASCADE")


class InspectionSample(SQLModel, table=True):
    """A household of an inspection's sample: where it lives, the township it was drawn in, its rank there."""

    __tablename__ = "assessment_inspection_sample"
    __table_args__ = (sa.Index("ix_assessment_inspection_sample_village", "village_code"),)

    inspection_id: uuid.UUID = Field(
        sa_column=sa.Column("inspection_id", UUID(as_uuid=True), _inspection_fk(), primary_key=True)
    )
    household_id: uuid.UUID = Field(sa_column=sa.Column("household_id", UUID(as_uuid=True), primary_key=True))
    village_code: str = Field(sa_column=_region("village_code"))
    stratum: str = Field(sa_column=_region("stratum"))
    rank: int = Field(sa_column=sa.Column("rank", sa.Integer, nullable=False))


class Finding(SQLModel, table=True):
    """A finding of an inspection: its subject and where it lies, category, severity, the effect it asks for;
    reported → confirmed / dismissed (by a second person). Only confirmed findings count."""

    __tablename__ = "assessment_finding"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('reported', 'confirmed', 'dismissed')", name="ck_assessment_finding_status"
        ),
        sa.CheckConstraint(
            "severity IN ('minor', 'major', 'critical')", name="ck_assessment_finding_severity"
        ),
        sa.CheckConstraint(
            "(effect_kind IS NULL AND effect_code IS NULL AND effect_points IS NULL)"
            " OR (effect_kind = 'deduction' AND effect_code IS NOT NULL AND effect_points > 0)"
            " OR (effect_kind = 'veto' AND effect_code IS NOT NULL AND effect_points IS NULL)",
            name="ck_assessment_finding_effect",
        ),
        sa.Index("ix_assessment_finding_region", "year", "region_code"),
        sa.Index("ix_assessment_finding_subject", "subject_type", "subject_id", "year"),
        sa.Index("ix_assessment_finding_inspection", "inspection_id", "status"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    inspection_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "inspection_id", UUID(as_uuid=True), sa.ForeignKey("assessment_inspection.id"), nullable=False
        )
    )
    #: The inspection's year (what the figures of a year count).
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    subject_type: str = Field(sa_column=sa.Column("subject_type", sa.String(16), nullable=False))
    subject_id: str = Field(sa_column=sa.Column("subject_id", sa.String(64), nullable=False))
    #: Where it lies: a place's own code, a household's village, where a cadre's or unit's finding was made.
    region_code: str = Field(sa_column=_region("region_code"))
    category: str = Field(sa_column=sa.Column("category", sa.String(24), nullable=False))
    severity: str = Field(sa_column=sa.Column("severity", sa.String(16), nullable=False))
    description: str = Field(sa_column=sa.Column("description", sa.String(4000), nullable=False))
    found_on: date = Field(sa_column=sa.Column("found_on", sa.Date, nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    effect_kind: str | None = Field(default=None, sa_column=sa.Column("effect_kind", sa.String(16)))
    effect_code: str | None = Field(default=None, sa_column=sa.Column("effect_code", sa.String(32)))
    effect_points: Decimal | None = Field(default=None, sa_column=sa.Column("effect_points", _POINTS))
    reported_at: datetime = Field(sa_column=sa.Column("reported_at", _TS, nullable=False))
    reported_by: str = Field(sa_column=sa.Column("reported_by", sa.String(64), nullable=False))
    reviewed_at: datetime | None = Field(default=None, sa_column=sa.Column("reviewed_at", _TS))
    reviewed_by: str | None = Field(default=None, sa_column=sa.Column("reviewed_by", sa.String(64)))
    review_note: str | None = Field(default=None, sa_column=sa.Column("review_note", sa.String(2000)))
    revision: int = Field(sa_column=sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", _TS, nullable=False))


class Rectification(SQLModel, table=True):
    """限期整改 (R11): a confirmed finding's rectification by its owner before a deadline; open → submitted →
    accepted / reopened. One unfinished task per finding (the partial unique index)."""

    __tablename__ = "assessment_rectification"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('open', 'submitted', 'accepted', 'reopened')",
            name="ck_assessment_rectification_status",
        ),
        sa.CheckConstraint(
            "owner_kind IN ('user', 'helping_unit', 'region_office')",
            name="ck_assessment_rectification_owner",
        ),
        sa.Index(
            "uq_assessment_rectification_unfinished",
            "finding_id",
            unique=True,
            postgresql_where=sa.text("status <> 'accepted'"),
        ),
        sa.Index("ix_assessment_rectification_region", "region_code", "status", "deadline"),
        sa.Index("ix_assessment_rectification_responsible", "responsible_sub"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    finding_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "finding_id", UUID(as_uuid=True), sa.ForeignKey("assessment_finding.id"), nullable=False
        )
    )
    inspection_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "inspection_id", UUID(as_uuid=True), sa.ForeignKey("assessment_inspection.id"), nullable=False
        )
    )
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    #: The finding's region (where the rectification is due).
    region_code: str = Field(sa_column=_region("region_code"))
    owner_kind: str = Field(sa_column=sa.Column("owner_kind", sa.String(16), nullable=False))
    owner_id: str = Field(sa_column=sa.Column("owner_id", sa.String(64), nullable=False))
    owner_name: str | None = Field(default=None, sa_column=sa.Column("owner_name", sa.String(200)))
    #: The user who answers for the owner (required for a unit).
    responsible_sub: str | None = Field(default=None, sa_column=sa.Column("responsible_sub", sa.String(64)))
    requirement: str = Field(sa_column=sa.Column("requirement", sa.String(2000), nullable=False))
    deadline: date = Field(sa_column=sa.Column("deadline", sa.Date, nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    response: str | None = Field(default=None, sa_column=sa.Column("response", sa.String(4000)))
    submitted_at: datetime | None = Field(default=None, sa_column=sa.Column("submitted_at", _TS))
    submitted_by: str | None = Field(default=None, sa_column=sa.Column("submitted_by", sa.String(64)))
    reviewed_at: datetime | None = Field(default=None, sa_column=sa.Column("reviewed_at", _TS))
    reviewed_by: str | None = Field(default=None, sa_column=sa.Column("reviewed_by", sa.String(64)))
    rounds: int = Field(sa_column=sa.Column("rounds", sa.Integer, nullable=False, server_default="0"))
    revision: int = Field(sa_column=sa.Column("revision", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", _TS, nullable=False))


class RectificationEvent(SQLModel, table=True):
    """A step of a rectification (ordered, submitted, accepted, reopened) with its text: append-only."""

    __tablename__ = "assessment_rectification_event"
    __table_args__ = (
        sa.CheckConstraint(
            "step IN ('ordered', 'submitted', 'accepted', 'reopened')",
            name="ck_assessment_rectification_step",
        ),
    )

    rectification_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "rectification_id",
            UUID(as_uuid=True),
            sa.ForeignKey("assessment_rectification.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    seq: int = Field(sa_column=sa.Column("seq", sa.Integer, primary_key=True))
    step: str = Field(sa_column=sa.Column("step", sa.String(16), nullable=False))
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(4000)))
    deadline: date | None = Field(default=None, sa_column=sa.Column("deadline", sa.Date))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False))
    by: str = Field(sa_column=sa.Column("by", sa.String(64), nullable=False))


class ManualEntry(SQLModel, table=True):
    """One version of an assessor's entry: a manual metric's value or a manual indicator's score, for a subject
    and year, with the reason. Append-only: a correction is the next version of the same lineage."""

    __tablename__ = "assessment_manual_entry"
    __table_args__ = (
        sa.UniqueConstraint("lineage_id", "version", name="uq_assessment_manual_entry_version"),
        sa.CheckConstraint("version >= 1", name="ck_assessment_manual_entry_version"),
        sa.CheckConstraint(
            "(metric_code IS NOT NULL) <> (indicator_code IS NOT NULL)",
            name="ck_assessment_manual_entry_target",
        ),
        # One entry per subject, year and target: the first versions are unique, later ones share their lineage.
        sa.Index(
            "uq_assessment_manual_entry_key",
            "subject_type",
            "subject_id",
            "year",
            "target",
            unique=True,
            postgresql_where=sa.text("version = 1"),
        ),
        sa.Index("ix_assessment_manual_entry_region", "year", "subject_type", "region_code"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    #: Every version of one entry shares it (the first version's id).
    lineage_id: uuid.UUID = Field(sa_column=sa.Column("lineage_id", UUID(as_uuid=True), nullable=False))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False))
    supersedes: uuid.UUID | None = Field(default=None, sa_column=sa.Column("supersedes", UUID(as_uuid=True)))
    subject_type: str = Field(sa_column=sa.Column("subject_type", sa.String(24), nullable=False))
    subject_id: str = Field(sa_column=sa.Column("subject_id", sa.String(64), nullable=False))
    region_code: str = Field(sa_column=_region("region_code"))
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    #: `metric:<code>` or `indicator:<scheme lineage>:<code>`: the same for every version.
    target: str = Field(sa_column=sa.Column("target", sa.String(120), nullable=False))
    metric_code: str | None = Field(default=None, sa_column=sa.Column("metric_code", sa.String(64)))
    scheme_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column("scheme_id", UUID(as_uuid=True)))
    scheme_lineage_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("scheme_lineage_id", UUID(as_uuid=True))
    )
    indicator_code: str | None = Field(default=None, sa_column=sa.Column("indicator_code", sa.String(32)))
    value: Decimal = Field(sa_column=sa.Column("value", _FIGURE, nullable=False))
    reason: str = Field(sa_column=sa.Column("reason", sa.String(2000), nullable=False))
    evidence_required: bool = Field(
        default=False,
        sa_column=sa.Column("evidence_required", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


class Evidence(SQLModel, table=True):
    """A photo or document attached to a finding, a rectification or a manual entry, by content hash."""

    __tablename__ = "assessment_evidence"
    __table_args__ = (
        sa.UniqueConstraint("owner_type", "owner_id", "sha256", name="uq_assessment_evidence_hash"),
        sa.CheckConstraint(
            "owner_type IN ('finding', 'rectification', 'manual_entry')", name="ck_assessment_evidence_owner"
        ),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    owner_type: str = Field(sa_column=sa.Column("owner_type", sa.String(16), nullable=False))
    owner_id: uuid.UUID = Field(sa_column=sa.Column("owner_id", UUID(as_uuid=True), nullable=False))
    sha256: str = Field(sa_column=sa.Column("sha256", sa.String(64), nullable=False))
    content_type: str = Field(sa_column=sa.Column("content_type", sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column("size", sa.Integer, nullable=False))
    data: bytes = Field(sa_column=sa.Column("data", sa.LargeBinary, nullable=False))
    uploaded_at: datetime = Field(sa_column=sa.Column("uploaded_at", _TS, nullable=False))
    uploaded_by: str = Field(sa_column=sa.Column("uploaded_by", sa.String(64), nullable=False))


class Xid8(sa.types.UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (`xid8`, `pg_current_xact_id()`); read and written as text."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


# Reflection (alembic's comparison of models and migrations) knows the type by name.
postgresql_base.ischema_names.setdefault("xid8", Xid8)


#: The province change feed (issue #15, migration asse0007): one row per change of a run or a result, written by
#: triggers; `txid` is the writing transaction (the gapless rule of services/assessment/changes).
class ChangeFeedEntry(SQLModel, table=True):
    __tablename__ = "assessment_change"
    __table_args__ = (
        sa.Index("ix_assessment_change_txid", "txid", "seq"),
        sa.Index("ix_assessment_change_at", "at"),
    )

    seq: int | None = Field(default=None, sa_column=sa.Column("seq", sa.BigInteger, primary_key=True))
    txid: str | None = Field(
        default=None,
        sa_column=sa.Column("txid", Xid8(), nullable=False, server_default=sa.text("pg_current_xact_id()")),
    )
    record_type: str = Field(sa_column=sa.Column("record_type", sa.String(32), nullable=False))
    #: `run`: the run's id; `result`: `<run id>:<subject id>`.
    record_id: str = Field(sa_column=sa.Column("record_id", sa.String(120), nullable=False))
    #: A run's county, a result's subject region (as frozen in its snapshot); regions never change here.
    region_code: str | None = Field(default=None, sa_column=sa.Column("region_code", sa.String(12)))
    old_region_code: str | None = Field(default=None, sa_column=sa.Column("old_region_code", sa.String(12)))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False, server_default=sa.func.now()))


#: The highest transaction id ever pruned from the feed (one row; asse0007): cursors at or below it answer 410.
class ChangeFeedHorizon(SQLModel, table=True):
    __tablename__ = "assessment_change_horizon"
    __table_args__ = (sa.CheckConstraint("id", name="ck_assessment_change_horizon_one_row"),)

    id: bool = Field(
        default=True, sa_column=sa.Column("id", sa.Boolean, primary_key=True, server_default=sa.text("true"))
    )
    pruned_txid: str | None = Field(default=None, sa_column=sa.Column("pruned_txid", Xid8()))

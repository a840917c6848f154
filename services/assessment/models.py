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
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel

from shared.audit import audit_table
from shared.db import CODE_COLLATION
from shared.idempotency import idempotency_table

__all__ = [
    "AssessmentScheme",
    "GradeBandRow",
    "IndicatorBandRow",
    "IndicatorRow",
    "SchemeRule",
    "audit_event",
    "idempotency_key",
]

_TS = sa.DateTime(timezone=True)
_POINTS = sa.Numeric(10, 4)
_FIGURE = sa.Numeric(20, 4)


def _scheme_fk() -> sa.ForeignKey:
    return sa.ForeignKey("assessment_scheme.id", ondelete="CASCADE")


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


audit_event = audit_table("assessment_audit_event", SQLModel.metadata)
idempotency_key = idempotency_table("assessment_idempotency_key", SQLModel.metadata)

"""Assessment schemes: versions with their validated documents, the flat indicator, band, rule and grade rows
for set-based scoring, the audit log (append-only) and the Idempotency-Key table.

Revision ID: asse0002
Revises: asse0001
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql

revision: str = "asse0002"
down_revision: str | None = "asse0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("assessment_audit_event",)


def _scheme_id() -> list[Any]:
    return [
        sa.Column("scheme_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["scheme_id"], ["assessment_scheme.id"], ondelete="CASCADE"),
    ]


def upgrade() -> None:
    op.create_table(
        "assessment_audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_assessment_audit_event_actor", "assessment_audit_event", ["actor", "at"], unique=False
    )
    op.create_index("ix_assessment_audit_event_at", "assessment_audit_event", ["at"], unique=False)
    op.create_index(
        "ix_assessment_audit_event_record", "assessment_audit_event", ["record_id", "at"], unique=False
    )
    op.create_index(
        "ix_assessment_audit_event_region", "assessment_audit_event", ["region_code", "id"], unique=False
    )
    op.create_table(
        "assessment_idempotency_key",
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key"),
    )
    op.create_index(
        "ix_assessment_idempotency_key_expires", "assessment_idempotency_key", ["expires_at"], unique=False
    )
    op.create_table(
        "assessment_scheme",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lineage_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.UUID(), nullable=True),
        sa.Column("superseded_by", sa.UUID(), nullable=True),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("subject_type", sa.String(length=24), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("total_points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("rounding_places", sa.SmallInteger(), nullable=False),
        sa.Column("rounding_mode", sa.String(length=16), nullable=False),
        sa.Column("bonus_cap", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("template_code", sa.String(length=8), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=True),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'published', 'locked')", name="ck_assessment_scheme_status"),
        sa.CheckConstraint("total_points > 0", name="ck_assessment_scheme_total"),
        sa.CheckConstraint("version >= 1", name="ck_assessment_scheme_version"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lineage_id", "version", name="uq_assessment_scheme_lineage_version"),
    )
    op.create_index("ix_assessment_scheme_region", "assessment_scheme", ["region_code", "year"], unique=False)
    op.create_index(
        "uq_assessment_scheme_open_draft",
        "assessment_scheme",
        ["lineage_id"],
        unique=True,
        postgresql_where=sa.text("status = 'draft'"),
    )
    op.create_table(
        "assessment_grade_band",
        *_scheme_id(),
        sa.Column("grade", sa.String(length=24), nullable=False),
        sa.Column("min_points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("max_points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scheme_id", "grade"),
    )
    op.create_table(
        "assessment_indicator",
        *_scheme_id(),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("pointer", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("max_points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=True),
        sa.Column("comparison", sa.String(length=16), nullable=True),
        sa.Column("target", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("target_metric", sa.String(length=64), nullable=True),
        sa.Column("zero_value", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("per_occurrence", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("floor_points", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("peer_group", sa.String(length=16), nullable=True),
        sa.Column("inner_total", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("evidence_required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.CheckConstraint("kind IN ('group', 'leaf')", name="ck_assessment_indicator_kind"),
        sa.CheckConstraint("max_points >= 0", name="ck_assessment_indicator_points"),
        sa.PrimaryKeyConstraint("scheme_id", "code"),
    )
    op.create_index("ix_assessment_indicator_metric", "assessment_indicator", ["metric"], unique=False)
    op.create_table(
        "assessment_indicator_band",
        *_scheme_id(),
        sa.Column("indicator_code", sa.String(length=32), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("bound", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("scheme_id", "indicator_code", "position"),
    )
    op.create_table(
        "assessment_scheme_rule",
        *_scheme_id(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=True),
        sa.Column("op", sa.String(length=4), nullable=True),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("effect", sa.String(length=32), nullable=True),
        sa.Column("points", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("subject_kind", sa.String(length=40), nullable=True),
        sa.Column("min_grade", sa.String(length=24), nullable=True),
        sa.Column("min_fen", sa.BigInteger(), nullable=True),
        sa.Column("award_fen", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('veto', 'bonus', 'commendation')", name="ck_assessment_scheme_rule_kind"
        ),
        sa.PrimaryKeyConstraint("scheme_id", "kind", "code"),
    )
    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.drop_table("assessment_scheme_rule")
    op.drop_table("assessment_indicator_band")
    op.drop_index("ix_assessment_indicator_metric", table_name="assessment_indicator")
    op.drop_table("assessment_indicator")
    op.drop_table("assessment_grade_band")
    op.drop_index("uq_assessment_scheme_open_draft", table_name="assessment_scheme")
    op.drop_index("ix_assessment_scheme_region", table_name="assessment_scheme")
    op.drop_table("assessment_scheme")
    op.drop_index("ix_assessment_idempotency_key_expires", table_name="assessment_idempotency_key")
    op.drop_table("assessment_idempotency_key")
    op.drop_index("ix_assessment_audit_event_region", table_name="assessment_audit_event")
    op.drop_index("ix_assessment_audit_event_record", table_name="assessment_audit_event")
    op.drop_index("ix_assessment_audit_event_at", table_name="assessment_audit_event")
    op.drop_index("ix_assessment_audit_event_actor", table_name="assessment_audit_event")
    op.drop_table("assessment_audit_event")

"""Assessment inspections (§6.3): inspections with their drawn sample, findings, rectification tasks (限期整改) and
their append-only steps, manual indicator entries (append-only versions), and evidence by content hash.

Revision ID: asse0003
Revises: asse0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql

revision: str = "asse0003"
down_revision: str | None = "asse0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Steps of a rectification and versions of a manual entry are history: never rewritten.
APPEND_ONLY = ("assessment_rectification_event", "assessment_manual_entry")


def _region(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=12, collation="C"), nullable=False)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "assessment_inspection",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        _region("region_code"),
        _region("scope_prefix"),
        _region("owner_region"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sampling_unit", sa.String(length=16), nullable=False),
        sa.Column("sampling_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("seed", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "inspectors", sa.ARRAY(sa.String(length=64)), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("frame_size", sa.Integer(), nullable=True),
        sa.Column("frame_digest", sa.String(length=64), nullable=True),
        sa.Column("sample_size", sa.Integer(), nullable=True),
        sa.Column("strata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("closing_note", sa.String(length=2000), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _ts("updated_at"),
        _ts("started_at", nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        _ts("closed_at", nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "level IN ('province', 'city', 'county', 'township')", name="ck_assessment_inspection_level"
        ),
        sa.CheckConstraint("sampling_unit IN ('household', 'village')", name="ck_assessment_inspection_unit"),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'closed')", name="ck_assessment_inspection_status"
        ),
        sa.CheckConstraint(
            "sampling_rate > 0 AND sampling_rate <= 100", name="ck_assessment_inspection_rate"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_assessment_inspection_inspectors",
        "assessment_inspection",
        ["inspectors"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_assessment_inspection_region", "assessment_inspection", ["region_code", "year"], unique=False
    )
    op.create_table(
        "assessment_inspection_sample",
        sa.Column("inspection_id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        _region("village_code"),
        _region("stratum"),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["inspection_id"], ["assessment_inspection.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("inspection_id", "household_id"),
    )
    op.create_index(
        "ix_assessment_inspection_sample_village",
        "assessment_inspection_sample",
        ["village_code"],
        unique=False,
    )
    op.create_table(
        "assessment_finding",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("inspection_id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        _region("region_code"),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=4000), nullable=False),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("effect_kind", sa.String(length=16), nullable=True),
        sa.Column("effect_code", sa.String(length=32), nullable=True),
        sa.Column("effect_points", sa.Numeric(precision=10, scale=4), nullable=True),
        _ts("reported_at"),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        _ts("reviewed_at", nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("review_note", sa.String(length=2000), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        _ts("updated_at"),
        sa.CheckConstraint(
            "(effect_kind IS NULL AND effect_code IS NULL AND effect_points IS NULL)"
            " OR (effect_kind = 'deduction' AND effect_code IS NOT NULL AND effect_points > 0)"
            " OR (effect_kind = 'veto' AND effect_code IS NOT NULL AND effect_points IS NULL)",
            name="ck_assessment_finding_effect",
        ),
        sa.CheckConstraint(
            "severity IN ('minor', 'major', 'critical')", name="ck_assessment_finding_severity"
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'confirmed', 'dismissed')", name="ck_assessment_finding_status"
        ),
        sa.ForeignKeyConstraint(["inspection_id"], ["assessment_inspection.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_assessment_finding_inspection", "assessment_finding", ["inspection_id", "status"], unique=False
    )
    op.create_index(
        "ix_assessment_finding_region", "assessment_finding", ["year", "region_code"], unique=False
    )
    op.create_index(
        "ix_assessment_finding_subject",
        "assessment_finding",
        ["subject_type", "subject_id", "year"],
        unique=False,
    )
    op.create_table(
        "assessment_rectification",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("inspection_id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        _region("region_code"),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("responsible_sub", sa.String(length=64), nullable=True),
        sa.Column("requirement", sa.String(length=2000), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response", sa.String(length=4000), nullable=True),
        _ts("submitted_at", nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        _ts("reviewed_at", nullable=True),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("rounds", sa.Integer(), server_default="0", nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _ts("updated_at"),
        sa.CheckConstraint(
            "owner_kind IN ('user', 'helping_unit', 'region_office')",
            name="ck_assessment_rectification_owner",
        ),
        sa.CheckConstraint(
            "status IN ('open', 'submitted', 'accepted', 'reopened')",
            name="ck_assessment_rectification_status",
        ),
        sa.ForeignKeyConstraint(["finding_id"], ["assessment_finding.id"]),
        sa.ForeignKeyConstraint(["inspection_id"], ["assessment_inspection.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_assessment_rectification_region",
        "assessment_rectification",
        ["region_code", "status", "deadline"],
        unique=False,
    )
    op.create_index(
        "ix_assessment_rectification_responsible",
        "assessment_rectification",
        ["responsible_sub"],
        unique=False,
    )
    op.create_index(
        "uq_assessment_rectification_unfinished",
        "assessment_rectification",
        ["finding_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'accepted'"),
    )
    op.create_table(
        "assessment_rectification_event",
        sa.Column("rectification_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=4000), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        _ts("at"),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "step IN ('ordered', 'submitted', 'accepted', 'reopened')",
            name="ck_assessment_rectification_step",
        ),
        sa.ForeignKeyConstraint(["rectification_id"], ["assessment_rectification.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("rectification_id", "seq"),
    )
    op.create_table(
        "assessment_manual_entry",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lineage_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.UUID(), nullable=True),
        sa.Column("subject_type", sa.String(length=24), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        _region("region_code"),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=120), nullable=False),
        sa.Column("metric_code", sa.String(length=64), nullable=True),
        sa.Column("scheme_id", sa.UUID(), nullable=True),
        sa.Column("scheme_lineage_id", sa.UUID(), nullable=True),
        sa.Column("indicator_code", sa.String(length=32), nullable=True),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("evidence_required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "(metric_code IS NOT NULL) <> (indicator_code IS NOT NULL)",
            name="ck_assessment_manual_entry_target",
        ),
        sa.CheckConstraint("version >= 1", name="ck_assessment_manual_entry_version"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lineage_id", "version", name="uq_assessment_manual_entry_version"),
    )
    op.create_index(
        "ix_assessment_manual_entry_region",
        "assessment_manual_entry",
        ["year", "subject_type", "region_code"],
        unique=False,
    )
    op.create_index(
        "uq_assessment_manual_entry_key",
        "assessment_manual_entry",
        ["subject_type", "subject_id", "year", "target"],
        unique=True,
        postgresql_where=sa.text("version = 1"),
    )
    op.create_table(
        "assessment_evidence",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_type", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _ts("uploaded_at"),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "owner_type IN ('finding', 'rectification', 'manual_entry')", name="ck_assessment_evidence_owner"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_type", "owner_id", "sha256", name="uq_assessment_evidence_hash"),
    )
    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.drop_table("assessment_evidence")
    op.drop_index("uq_assessment_manual_entry_key", table_name="assessment_manual_entry")
    op.drop_index("ix_assessment_manual_entry_region", table_name="assessment_manual_entry")
    op.drop_table("assessment_manual_entry")
    op.drop_table("assessment_rectification_event")
    op.drop_index("uq_assessment_rectification_unfinished", table_name="assessment_rectification")
    op.drop_index("ix_assessment_rectification_responsible", table_name="assessment_rectification")
    op.drop_index("ix_assessment_rectification_region", table_name="assessment_rectification")
    op.drop_table("assessment_rectification")
    op.drop_index("ix_assessment_finding_subject", table_name="assessment_finding")
    op.drop_index("ix_assessment_finding_region", table_name="assessment_finding")
    op.drop_index("ix_assessment_finding_inspection", table_name="assessment_finding")
    op.drop_table("assessment_finding")
    op.drop_index("ix_assessment_inspection_sample_village", table_name="assessment_inspection_sample")
    op.drop_table("assessment_inspection_sample")
    op.drop_index("ix_assessment_inspection_region", table_name="assessment_inspection")
    op.drop_index("ix_assessment_inspection_inspectors", table_name="assessment_inspection")
    op.drop_table("assessment_inspection")

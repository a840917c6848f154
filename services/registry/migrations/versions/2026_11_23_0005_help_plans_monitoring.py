"""Household help plans (versions, acknowledgements, progress) and monitoring rounds with findings.

Revision ID: reg0005
Revises: reg0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql, drop_trigger_function_sql, row_trigger_sql

revision: str = "reg0005"
down_revision: str | None = "reg0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Plan versions, acknowledgements and progress entries are history: never rewritten.
APPEND_ONLY = ("registry_help_plan", "registry_help_plan_ack", "registry_help_plan_progress")


def upgrade() -> None:
    op.create_table(
        "registry_monitoring_round",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("township_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("half", sa.String(length=2), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["township_code"],
            ["registry_region.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("township_code", "year", "half"),
    )
    op.create_table(
        "registry_help_plan",
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("year_from", sa.Integer(), nullable=False),
        sa.Column("year_to", sa.Integer(), nullable=False),
        sa.Column("target_exit_year", sa.Integer(), nullable=False),
        sa.Column("items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("expected_income_gain_fen", sa.BigInteger(), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("year_from <= year_to", name="ck_registry_help_plan_years"),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("household_id", "version"),
    )
    op.create_table(
        "registry_help_plan_progress",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name="ck_registry_help_plan_progress_percent"),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_registry_help_plan_progress_item",
        "registry_help_plan_progress",
        ["household_id", "item_id", "id"],
        unique=False,
    )
    op.create_table(
        "registry_help_plan_ack",
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("signatory", sa.String(length=64), nullable=False),
        sa.Column("acknowledged_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id", "version"],
            ["registry_help_plan.household_id", "registry_help_plan.version"],
        ),
        sa.PrimaryKeyConstraint("household_id", "version"),
    )
    op.create_table(
        "registry_monitoring_finding",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("round_id", sa.UUID(), nullable=False),
        sa.Column("pairing_id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("cadre_id", sa.UUID(), nullable=False),
        sa.Column("projects", sa.Text(), nullable=False),
        sa.Column("funds_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("visits_in_year", sa.Integer(), nullable=False),
        sa.Column("flags", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["cadre_id"],
            ["registry_cadre.id"],
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["registry_monitoring_round.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "pairing_id"),
    )

    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)
    # Phones sync plans: a new plan version or progress entry is a change of the household.
    body = "INSERT INTO registry_change (household_id, kind) VALUES (NEW.household_id, 'help_plan')"
    for table in ("registry_help_plan", "registry_help_plan_progress"):
        for statement in row_trigger_sql(table, "change_feed", "AFTER INSERT", body):
            op.execute(statement)


def downgrade() -> None:
    for table in ("registry_help_plan", "registry_help_plan_progress"):
        for statement in drop_trigger_function_sql(table, "change_feed"):
            op.execute(statement)
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.drop_table("registry_monitoring_finding")
    op.drop_table("registry_help_plan_ack")
    op.drop_table("registry_help_plan_progress")
    op.drop_table("registry_help_plan")
    op.drop_table("registry_monitoring_round")

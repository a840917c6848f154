"""Households, members, incomes, workflow events, membership changes, flags, quota overrides, population, audit.

Revision ID: reg0003
Revises: reg0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql

revision: str = "reg0003"
down_revision: str | None = "reg0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: History tables: the application may insert and read, never rewrite (invariants 18 and 50).
APPEND_ONLY = ("registry_workflow_event", "registry_audit_event", "registry_membership_change")


def upgrade() -> None:
    op.create_table(
        "registry_audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=True),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_registry_audit_event_actor", "registry_audit_event", ["actor", "at"], unique=False)
    op.create_index(
        "ix_registry_audit_event_region", "registry_audit_event", ["region_code", "id"], unique=False
    )
    op.create_index("ix_registry_audit_event_at", "registry_audit_event", ["at"], unique=False)
    op.create_index(
        "ix_registry_audit_event_record", "registry_audit_event", ["record_id", "at"], unique=False
    )
    op.create_table(
        "registry_membership_change",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_household_id", sa.UUID(), nullable=True),
        sa.Column("to_household_id", sa.UUID(), nullable=True),
        sa.Column("from_member_id", sa.UUID(), nullable=True),
        sa.Column("to_member_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_registry_membership_change_from_household_id"),
        "registry_membership_change",
        ["from_household_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_registry_membership_change_person_id"),
        "registry_membership_change",
        ["person_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_registry_membership_change_to_household_id"),
        "registry_membership_change",
        ["to_household_id"],
        unique=False,
    )
    op.create_table(
        "registry_household",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("natural_village", sa.String(length=64), nullable=True),
        sa.Column("villager_group", sa.String(length=32), nullable=True),
        sa.Column("national_household_code", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=32), server_default="candidate", nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=True),
        sa.Column("returned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("objection_open", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("identification_year", sa.Integer(), nullable=False),
        sa.Column("quota_year", sa.Integer(), nullable=False),
        sa.Column("head_name", sa.String(length=64, collation="C"), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("labor_count", sa.Integer(), nullable=False),
        sa.Column("has_labor_capacity", sa.Boolean(), nullable=False),
        sa.Column("poverty_cause_primary", sa.String(length=32), nullable=True),
        sa.Column(
            "poverty_causes_other",
            postgresql.ARRAY(sa.String(length=32)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("poverty_attribute", sa.String(length=16), nullable=True),
        sa.Column("main_income_source", sa.String(length=32), nullable=True),
        sa.Column("dangerous_house_grade", sa.String(length=1), nullable=True),
        sa.Column("income_year", sa.Integer(), nullable=True),
        sa.Column("net_income", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("per_capita_net_income", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("contact_phone_enc", sa.Text(), nullable=True),
        sa.Column("contact_phone_masked", sa.String(length=32), nullable=True),
        sa.Column("bank_account_enc", sa.Text(), nullable=True),
        sa.Column("bank_account_masked", sa.String(length=40), nullable=True),
        sa.Column("bank_name", sa.String(length=64), nullable=True),
        sa.Column("origin_household_id", sa.UUID(), nullable=True),
        sa.Column("origin_kind", sa.String(length=16), nullable=True),
        sa.Column("formed_on", sa.Date(), nullable=True),
        sa.Column("flags", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False),
        sa.Column("planned_exit_year", sa.Integer(), nullable=True),
        sa.Column("exit_effective_year", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("household_size >= 0 AND labor_count >= 0", name="ck_registry_household_counts"),
        sa.CheckConstraint("version >= 1", name="ck_registry_household_version"),
        sa.ForeignKeyConstraint(
            ["origin_household_id"],
            ["registry_household.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_code"],
            ["registry_region.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("national_household_code"),
    )
    op.create_index(
        "ix_registry_household_head_name", "registry_household", ["head_name", "id"], unique=False
    )
    op.create_index(
        "ix_registry_household_income", "registry_household", ["per_capita_net_income", "id"], unique=False
    )
    op.create_index(
        "ix_registry_household_quota", "registry_household", ["village_code", "quota_year"], unique=False
    )
    op.create_index(
        "ix_registry_household_status_village",
        "registry_household",
        ["status", "village_code", "id"],
        unique=False,
    )
    op.create_index(
        "ix_registry_household_village_id", "registry_household", ["village_code", "id"], unique=False
    )
    op.create_table(
        "registry_region_population",
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("population >= 0", name="ck_registry_region_population_population"),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["registry_region.code"],
        ),
        sa.PrimaryKeyConstraint("region_code", "year"),
    )
    op.create_table(
        "registry_household_flag",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_by", sa.String(length=64), nullable=True),
        sa.Column("clear_reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_registry_household_flag_open",
        "registry_household_flag",
        ["household_id", "code"],
        unique=True,
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.create_table(
        "registry_household_income",
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wage", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("operating", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("property", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("transfer", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("operating_expenses", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("net_income", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("per_capita_net_income", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("surveyed_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("household_size >= 1", name="ck_registry_household_income_size"),
        sa.CheckConstraint(
            "wage >= 0 AND operating >= 0 AND property >= 0 AND transfer >= 0 AND operating_expenses >= 0",
            name="ck_registry_household_income_nonnegative",
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("household_id", "year", "version"),
    )
    op.create_table(
        "registry_member",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("relation", sa.String(length=24), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("ethnicity", sa.String(length=16), nullable=True),
        sa.Column("birth_year_month", sa.String(length=7), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_number_index", sa.String(length=64), nullable=True),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("no_id_reason", sa.String(length=200), nullable=True),
        sa.Column("labor_capacity", sa.String(length=24), nullable=False),
        sa.Column("health_status", sa.String(length=24), nullable=False),
        sa.Column("education_level", sa.String(length=24), nullable=True),
        sa.Column("school_status", sa.String(length=32), nullable=True),
        sa.Column("resident", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("annual_personal_income", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("left_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_registry_member_household", "registry_member", ["household_id", "active"], unique=False
    )
    op.create_index(op.f("ix_registry_member_person_id"), "registry_member", ["person_id"], unique=False)
    op.create_index(
        "ux_registry_member_active_person",
        "registry_member",
        ["id_number_index"],
        unique=True,
        postgresql_where=sa.text("active AND id_number_index IS NOT NULL"),
    )
    op.create_index(
        "ux_registry_member_one_head",
        "registry_member",
        ["household_id"],
        unique=True,
        postgresql_where=sa.text("active AND relation = 'head'"),
    )
    op.create_table(
        "registry_quota_override",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_code"],
            ["registry_region.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("household_id", "year"),
    )
    op.create_table(
        "registry_workflow_event",
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("status_after", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.UUID(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("household_id", "seq"),
    )

    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.drop_table("registry_workflow_event")
    op.drop_table("registry_quota_override")
    op.drop_table("registry_member")
    op.drop_table("registry_household_income")
    op.drop_table("registry_household_flag")
    op.drop_table("registry_region_population")
    op.drop_table("registry_household")
    op.drop_table("registry_membership_change")
    op.drop_table("registry_audit_event")

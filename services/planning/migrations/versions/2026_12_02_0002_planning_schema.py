"""The planning schema: village profiles, indicators and plans, projects and their approvals, money, risk funds.

Money is integer fen with CHECK constraints that hold under concurrency (allocation draws within the allocation,
0 <= disbursed <= received <= committed per funding line, risk-fund balances never negative). The ledger, the
plan and project events, the indicator actuals, the risk-fund entries and the audit log are append-only.

Revision ID: plan0002
Revises: plan0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql

revision: str = "plan0002"
down_revision: str | None = "plan0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = (
    "planning_plan_event",
    "planning_project_event",
    "planning_indicator_actual",
    "planning_ledger_entry",
    "planning_risk_fund_entry",
    "planning_line_transfer",
    "planning_audit_event",
)


def upgrade() -> None:
    op.create_table(
        "planning_allocation",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("county_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("document_number", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("drawn_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("amount_fen >= 0", name="ck_planning_allocation_amount"),
        sa.CheckConstraint("drawn_fen >= 0 AND drawn_fen <= amount_fen", name="ck_planning_allocation_drawn"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("county_code", "document_number", name="uq_planning_allocation_document"),
    )
    op.create_index(
        "ix_planning_allocation_county", "planning_allocation", ["county_code", "year"], unique=False
    )
    op.create_table(
        "planning_audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("record_type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_planning_audit_event_actor", "planning_audit_event", ["actor", "at"], unique=False)
    op.create_index("ix_planning_audit_event_at", "planning_audit_event", ["at"], unique=False)
    op.create_index(
        "ix_planning_audit_event_record", "planning_audit_event", ["record_id", "at"], unique=False
    )
    op.create_index(
        "ix_planning_audit_event_region", "planning_audit_event", ["region_code", "id"], unique=False
    )
    op.create_table(
        "planning_earmark_rule",
        sa.Column("county_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), server_default="catalogue", nullable=False),
        sa.PrimaryKeyConstraint("county_code", "source", "category"),
    )
    op.create_table(
        "planning_force_majeure_event",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "planning_idempotency_key",
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
        "ix_planning_idempotency_key_expires", "planning_idempotency_key", ["expires_at"], unique=False
    )
    op.create_table(
        "planning_indicator",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("label_zh", sa.String(length=128), nullable=False),
        sa.Column("label_en", sa.String(length=128), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("county_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="catalogue", nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "planning_plan",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("lineage_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.UUID(), nullable=True),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("plan_type", sa.String(length=24), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("start_year", sa.Integer(), nullable=False),
        sa.Column("end_year", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), server_default="draft", nullable=False),
        sa.Column("row_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("start_year <= end_year", name="ck_planning_plan_years"),
        sa.CheckConstraint("version >= 1", name="ck_planning_plan_version"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lineage_id", "version", name="uq_planning_plan_lineage_version"),
    )
    op.create_index("ix_planning_plan_village", "planning_plan", ["village_code", "start_year"], unique=False)
    op.create_table(
        "planning_risk_fund_account",
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("balance_fen >= 0", name="ck_planning_risk_fund_account_balance"),
        sa.PrimaryKeyConstraint("village_code"),
    )
    op.create_table(
        "planning_village_profile",
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("declared", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column(
            "registry_figures", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("flags", postgresql.ARRAY(sa.String(length=40)), server_default="{}", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("village_code", "year"),
    )
    op.create_table(
        "planning_indicator_actual",
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_code"],
            ["planning_indicator.code"],
        ),
        sa.PrimaryKeyConstraint("village_code", "indicator_code", "year", "version"),
    )
    op.create_table(
        "planning_plan_event",
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("status_after", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["planning_plan.id"],
        ),
        sa.PrimaryKeyConstraint("plan_id", "seq"),
    )
    op.create_table(
        "planning_plan_indicator",
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("indicator_code", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("baseline_value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("baseline_year", sa.Integer(), nullable=False),
        sa.Column("target_value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("target_year", sa.Integer(), nullable=False),
        sa.CheckConstraint("baseline_year <= target_year", name="ck_planning_plan_indicator_years"),
        sa.ForeignKeyConstraint(
            ["indicator_code"],
            ["planning_indicator.code"],
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["planning_plan.id"],
        ),
        sa.PrimaryKeyConstraint("plan_id", "indicator_code"),
    )
    op.create_table(
        "planning_project",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("plan_id", sa.UUID(), nullable=True),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("natural_village", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("finishes_on", sa.Date(), nullable=True),
        sa.Column("implementing_party", sa.String(length=200), nullable=True),
        sa.Column("responsible_person", sa.String(length=64), nullable=True),
        sa.Column("expected_outputs", sa.Text(), nullable=True),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), server_default="draft", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("budget_fen >= 0", name="ck_planning_project_budget"),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["planning_plan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_planning_project_plan", "planning_project", ["plan_id"], unique=False)
    op.create_index("ix_planning_project_village", "planning_project", ["village_code", "id"], unique=False)
    op.create_table(
        "planning_acceptance",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("accepted_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "planning_asset",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("asset_type", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("owner_kind", sa.String(length=24), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column(
            "beneficiary_household_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("value_fen >= 0", name="ck_planning_asset_value"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "planning_funding_line",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("funder", sa.String(length=200), nullable=False),
        sa.Column("allocation_id", sa.UUID(), nullable=True),
        sa.Column("committed_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disbursed_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("drawn", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "committed_fen >= 0 AND received_fen >= 0 AND disbursed_fen >= 0 AND disbursed_fen <= received_fen AND received_fen <= committed_fen",
            name="ck_planning_funding_line_counters",
        ),
        sa.ForeignKeyConstraint(
            ["allocation_id"],
            ["planning_allocation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_planning_funding_line_allocation", "planning_funding_line", ["allocation_id"], unique=False
    )
    op.create_index("ix_planning_funding_line_project", "planning_funding_line", ["project_id"], unique=False)
    op.create_table(
        "planning_milestone",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("percent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name="ck_planning_milestone_percent"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "planning_project_attachment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("milestone_id", sa.UUID(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "sha256", name="uq_planning_project_attachment_hash"),
    )
    op.create_table(
        "planning_project_beneficiary",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("status_when_added", sa.String(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("project_id", "household_id"),
    )
    op.create_table(
        "planning_project_event",
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("status_after", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("project_id", "seq"),
    )
    op.create_table(
        "planning_risk_fund_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=True),
        sa.Column("household_id", sa.UUID(), nullable=True),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "kind <> 'payout' OR event_id IS NOT NULL", name="ck_planning_risk_fund_entry_payout_event"
        ),
        sa.CheckConstraint("amount_fen > 0", name="ck_planning_risk_fund_entry_amount"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["planning_force_majeure_event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_planning_risk_fund_entry_village",
        "planning_risk_fund_entry",
        ["village_code", "id"],
        unique=False,
    )
    op.create_table(
        "planning_ledger_entry",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("line_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.Column("payee", sa.String(length=200), nullable=True),
        sa.Column("voucher", sa.String(length=100), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("reverses", sa.BigInteger(), nullable=True),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("amount_fen <> 0", name="ck_planning_ledger_entry_amount"),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["planning_funding_line.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_planning_ledger_entry_line", "planning_ledger_entry", ["line_id", "id"], unique=False)
    op.create_index(
        "ix_planning_ledger_entry_project", "planning_ledger_entry", ["project_id", "id"], unique=False
    )
    op.create_table(
        "planning_line_transfer",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("from_line_id", sa.UUID(), nullable=False),
        sa.Column("to_line_id", sa.UUID(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("approval_document", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name="ck_planning_line_transfer_amount"),
        sa.ForeignKeyConstraint(
            ["from_line_id"],
            ["planning_funding_line.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["planning_project.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_line_id"],
            ["planning_funding_line.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.drop_table("planning_line_transfer")
    op.drop_index("ix_planning_ledger_entry_project", table_name="planning_ledger_entry")
    op.drop_index("ix_planning_ledger_entry_line", table_name="planning_ledger_entry")
    op.drop_table("planning_ledger_entry")
    op.drop_index("ix_planning_risk_fund_entry_village", table_name="planning_risk_fund_entry")
    op.drop_table("planning_risk_fund_entry")
    op.drop_table("planning_project_event")
    op.drop_table("planning_project_beneficiary")
    op.drop_table("planning_project_attachment")
    op.drop_table("planning_milestone")
    op.drop_index("ix_planning_funding_line_project", table_name="planning_funding_line")
    op.drop_index("ix_planning_funding_line_allocation", table_name="planning_funding_line")
    op.drop_table("planning_funding_line")
    op.drop_table("planning_asset")
    op.drop_table("planning_acceptance")
    op.drop_index("ix_planning_project_village", table_name="planning_project")
    op.drop_index("ix_planning_project_plan", table_name="planning_project")
    op.drop_table("planning_project")
    op.drop_table("planning_plan_indicator")
    op.drop_table("planning_plan_event")
    op.drop_table("planning_indicator_actual")
    op.drop_table("planning_village_profile")
    op.drop_table("planning_risk_fund_account")
    op.drop_index("ix_planning_plan_village", table_name="planning_plan")
    op.drop_table("planning_plan")
    op.drop_table("planning_indicator")
    op.drop_index("ix_planning_idempotency_key_expires", table_name="planning_idempotency_key")
    op.drop_table("planning_idempotency_key")
    op.drop_table("planning_force_majeure_event")
    op.drop_table("planning_earmark_rule")
    op.drop_index("ix_planning_audit_event_region", table_name="planning_audit_event")
    op.drop_index("ix_planning_audit_event_record", table_name="planning_audit_event")
    op.drop_index("ix_planning_audit_event_at", table_name="planning_audit_event")
    op.drop_index("ix_planning_audit_event_actor", table_name="planning_audit_event")
    op.drop_table("planning_audit_event")
    op.drop_index("ix_planning_allocation_county", table_name="planning_allocation")
    op.drop_table("planning_allocation")

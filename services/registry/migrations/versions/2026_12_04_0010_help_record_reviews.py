"""Reviews of flagged help records (issue #13 item 14): a township or county officer accepts or rejects what a
flag doubts. An accepted `clock_skew` review makes the record count as a visit again.

Append-only, one review per record version and flag; the record's household comes to the phones again.

Revision ID: reg0010
Revises: reg0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrate import append_only_sql, drop_append_only_sql, drop_trigger_function_sql, row_trigger_sql

revision: str = "reg0010"
down_revision: str | None = "reg0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "registry_help_record_review"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("flag", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id", "version"], ["registry_help_record.id", "registry_help_record.version"]
        ),
        sa.PrimaryKeyConstraint("record_id", "version", "flag"),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'rejected')", name="ck_registry_help_record_review_outcome"
        ),
    )
    for statement in append_only_sql(TABLE):
        op.execute(statement)
    body = "INSERT INTO registry_change (household_id, kind) VALUES (NEW.household_id, 'help_record')"
    for statement in row_trigger_sql(TABLE, "change_feed", "AFTER INSERT", body):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_trigger_function_sql(TABLE, "change_feed"):
        op.execute(statement)
    for statement in drop_append_only_sql(TABLE):
        op.execute(statement)
    op.drop_table(TABLE)

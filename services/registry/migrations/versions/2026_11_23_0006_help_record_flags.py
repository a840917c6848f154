"""Flags raised on a stored help record by a record that arrived later (impossible speed, both ends).

Revision ID: reg0006
Revises: reg0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrate import append_only_sql, drop_append_only_sql, drop_trigger_function_sql, row_trigger_sql

revision: str = "reg0006"
down_revision: str | None = "reg0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "registry_help_record_flag"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("flag", sa.String(length=32), nullable=False),
        sa.Column("because_of", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id", "version"], ["registry_help_record.id", "registry_help_record.version"]
        ),
        sa.PrimaryKeyConstraint("record_id", "version", "flag", "because_of"),
    )
    for statement in append_only_sql(TABLE):
        op.execute(statement)
    # The flagged record's household comes to the phones again, with the flag.
    body = "INSERT INTO registry_change (household_id, kind) VALUES (NEW.household_id, 'help_record')"
    for statement in row_trigger_sql(TABLE, "change_feed", "AFTER INSERT", body):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_trigger_function_sql(TABLE, "change_feed"):
        op.execute(statement)
    for statement in drop_append_only_sql(TABLE):
        op.execute(statement)
    op.drop_table(TABLE)

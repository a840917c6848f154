"""A household moved to another county (issue #15): the two-step handover (迁出申请 / 迁入确认).

`registry_household_transfer`: one request of the source county office to hand a household over to a village of
another county, and its outcome (pending, accepted by the destination county office, rejected by it, or cancelled
by the source). At most one pending transfer per household (a partial unique index).

Revision ID: reg0015
Revises: reg0014
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "reg0015"
down_revision: str | None = "reg0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_household_transfer",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
        sa.Column(
            "from_village_code",
            sa.String(12, collation="C"),
            sa.ForeignKey("registry_region.code"),
            nullable=False,
        ),
        sa.Column(
            "to_village_code",
            sa.String(12, collation="C"),
            sa.ForeignKey("registry_region.code"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("document_reference", sa.String(128), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'cancelled')",
            name="ck_registry_household_transfer_status",
        ),
    )
    op.create_index(
        "uq_registry_household_transfer_pending",
        "registry_household_transfer",
        ["household_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_registry_household_transfer_to",
        "registry_household_transfer",
        ["to_village_code", "status"],
    )
    op.create_index(
        "ix_registry_household_transfer_from",
        "registry_household_transfer",
        ["from_village_code", "status"],
    )


def downgrade() -> None:
    op.drop_table("registry_household_transfer")

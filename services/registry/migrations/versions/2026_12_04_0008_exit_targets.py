"""Yearly exit targets (年度减贫任务), decomposed county → township → village (DOMAIN.md §2.10, §2.13 step 1).

One row per region and year: the people and households the level above expects the region to bring out of
poverty that year (invariant 25). The rows are set top-down like the scale-control quotas (`registry_quota`).

Revision ID: reg0008
Revises: reg0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reg0008"
down_revision: str | None = "reg0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_exit_target",
        sa.Column(
            "region_code",
            sa.String(12, collation="C"),
            sa.ForeignKey("registry_region.code"),
            primary_key=True,
        ),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.CheckConstraint("people >= 0", name="ck_registry_exit_target_people"),
        sa.CheckConstraint(
            "households >= 0 AND households <= people", name="ck_registry_exit_target_households"
        ),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_registry_exit_target_year"),
    )


def downgrade() -> None:
    op.drop_table("registry_exit_target")

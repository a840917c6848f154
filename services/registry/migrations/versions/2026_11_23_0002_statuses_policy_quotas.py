"""Region statuses per year, versioned policy parameters, scale-control quotas.

Revision ID: reg0002
Revises: reg0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reg0002"
down_revision: str | None = "reg0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
STATUSES = (
    "poor_county",
    "old_revolutionary_base",
    "poor_village",
    "national_poor_village",
    "provincial_poor_village",
    "extremely_poor_natural_village",
    "designated_help_village",
)


def _code() -> sa.String:
    return sa.String(12, collation="C")


def upgrade() -> None:
    op.create_table(
        "registry_region_status",
        sa.Column("region_code", _code(), sa.ForeignKey("registry_region.code"), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(40), primary_key=True),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.CheckConstraint(
            "status IN (" + ",".join(f"'{s}'" for s in STATUSES) + ")",
            name="ck_registry_region_status_status",
        ),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_registry_region_status_year"),
    )
    op.create_table(
        "registry_policy_parameter",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("region_code", _code(), sa.ForeignKey("registry_region.code"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Numeric(18, 4), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.UniqueConstraint("region_code", "year", "name", "version"),
        sa.CheckConstraint("version >= 1", name="ck_registry_policy_parameter_version"),
    )
    op.create_table(
        "registry_quota",
        sa.Column("region_code", _code(), sa.ForeignKey("registry_region.code"), primary_key=True),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.CheckConstraint("people >= 0", name="ck_registry_quota_people"),
    )


def downgrade() -> None:
    op.drop_table("registry_quota")
    op.drop_table("registry_policy_parameter")
    op.drop_table("registry_region_status")

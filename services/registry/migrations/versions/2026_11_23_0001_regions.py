"""Region tree keyed by statistical division codes.

Revision ID: reg0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reg0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_region",
        sa.Column("code", sa.String(12, collation="C"), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("parent_code", sa.String(12, collation="C"), sa.ForeignKey("registry_region.code")),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name="ck_registry_region_code"),
        sa.CheckConstraint(
            "level IN ('province','prefecture','county','township','village')",
            name="ck_registry_region_level",
        ),
        sa.CheckConstraint(
            "parent_code IS NULL OR code LIKE rtrim(parent_code, '0') || '%'",
            name="ck_registry_region_parent_is_ancestor",
        ),
    )
    op.create_index("ix_registry_region_parent_code", "registry_region", ["parent_code"])


def downgrade() -> None:
    op.drop_table("registry_region")

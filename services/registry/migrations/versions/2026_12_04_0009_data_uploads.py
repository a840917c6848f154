"""The yearly upload of a township's data to the national information system (数据上传, invariant 20).

One row per township and data year: when the township reported its upload of year Y's data (due by the end of
February of Y+1), who reported it, and the reference the national system gave. The end-January update is not
stored: it is read from the incomes recorded (registry figures, `deadline_jan_update_met`).

Revision ID: reg0009
Revises: reg0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reg0009"
down_revision: str | None = "reg0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_data_upload",
        sa.Column(
            "region_code",
            sa.String(12, collation="C"),
            sa.ForeignKey("registry_region.code"),
            primary_key=True,
        ),
        sa.Column("year", sa.Integer(), primary_key=True),
        sa.Column("uploaded_at", TS, nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="ck_registry_data_upload_year"),
    )


def downgrade() -> None:
    op.drop_table("registry_data_upload")

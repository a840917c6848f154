"""The helping unit's responsible person signs as themself (issue #13 item 10): `responsible_sub` ties a gateway
login to a helping unit's responsible person (帮扶单位责任人). When it is set, only that login records the unit's
signature of the unit's help records; when it is not, a township or county officer records it (the fallback).

Revision ID: reg0014
Revises: reg0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "reg0014"
down_revision: str | None = "reg0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("registry_helping_unit", sa.Column("responsible_sub", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("registry_helping_unit", "responsible_sub")

"""Login throttles per account and client address; an index for the revoked refresh families.

Revision ID: gw0002
Revises: gw0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "gw0002"
down_revision: str | None = "gw0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_login_throttle",
        sa.Column("account", sa.String(80), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", TS),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_gateway_login_throttle_updated_at", "gateway_login_throttle", ["updated_at"])
    op.create_index("ix_gateway_refresh_token_revoked_at", "gateway_refresh_token", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_gateway_refresh_token_revoked_at", table_name="gateway_refresh_token")
    op.drop_table("gateway_login_throttle")

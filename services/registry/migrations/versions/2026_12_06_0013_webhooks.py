"""Signed webhook subscriptions (issue #15): a subscription per client and dataset, and its deliveries.

- `registry_webhook`: one subscription, its owner (login, role, region: the subscription's scope), its URL and
  feed types, its status (active, paused, failing with the reason), the feed cursor it has been delivered up to,
  the secret's generation (the secret itself is derived from `REGISTRY_WEBHOOK_KEY` and the id: nothing secret is
  stored) and when it was last rotated (the previous secret also signs for a day after), and when the worker next
  looks at it.
- `registry_webhook_delivery`: one signed POST of a page of the feed (its cursor range, the exact body, so every
  retry sends the same bytes under the same `webhook-id`), its attempts (time, status code or error, duration),
  and when it is tried next. Deleted with its subscription.

Revision ID: reg0013
Revises: reg0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

revision: str = "reg0013"
down_revision: str | None = "reg0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_webhook",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("owner_sub", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("region_code", sa.String(12, collation="C"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("types", ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("rotated_at", TS, nullable=True),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('active', 'paused', 'failing')", name="ck_registry_webhook_status"),
    )
    op.create_index("ix_registry_webhook_owner", "registry_webhook", ["owner_sub", "created_at", "id"])
    op.create_index("ix_registry_webhook_due", "registry_webhook", ["status", "next_attempt_at"])
    op.create_table(
        "registry_webhook_delivery",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "webhook_id",
            UUID(as_uuid=True),
            sa.ForeignKey("registry_webhook.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column("next_cursor", sa.Text(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_attempt_at", TS, nullable=True),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'superseded')", name="ck_registry_webhook_delivery_status"
        ),
    )
    op.create_index(
        "ix_registry_webhook_delivery_webhook",
        "registry_webhook_delivery",
        ["webhook_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("registry_webhook_delivery")
    op.drop_table("registry_webhook")

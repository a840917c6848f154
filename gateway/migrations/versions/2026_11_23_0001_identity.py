"""Identity: users, machine clients, refresh-token families, revoked access tokens, audit.

Revision ID: gw0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "gw0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_user",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("region_code", sa.String(12, collation="C"), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", TS),
        sa.Column("disabled_at", TS),
        sa.Column("tokens_not_before", TS),
        sa.Column("created_by", sa.Uuid()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("region_code ~ '^[0-9]{12}$'", name="ck_gateway_user_region_code"),
        sa.CheckConstraint(
            "role IN ('county_admin','township_officer','village_officer','cadre')",
            name="ck_gateway_user_role",
        ),
        sa.CheckConstraint("username = lower(username)", name="ck_gateway_user_username_lower"),
    )
    op.create_index("ix_gateway_user_region_code", "gateway_user", ["region_code"])

    op.create_table(
        "gateway_client",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("region_code", sa.String(12, collation="C"), nullable=False),
        sa.Column("description", sa.String(256), nullable=False, server_default=""),
        sa.Column("disabled_at", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("role IN ('province_system','service')", name="ck_gateway_client_role"),
        sa.CheckConstraint("region_code ~ '^[0-9]{12}$'", name="ck_gateway_client_region_code"),
    )

    op.create_table(
        "gateway_refresh_token",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("gateway_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("rotated_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_index("ix_gateway_refresh_token_family_id", "gateway_refresh_token", ["family_id"])
    op.create_index("ix_gateway_refresh_token_user_id", "gateway_refresh_token", ["user_id"])

    op.create_table(
        "gateway_revoked_access_token",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index(
        "ix_gateway_revoked_access_token_expires_at", "gateway_revoked_access_token", ["expires_at"]
    )

    op.create_table(
        "gateway_audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.String(64)),
        sa.Column("actor_role", sa.String(32)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("detail", pg.JSONB(), nullable=False, server_default="{}"),
    )
    op.create_index("ix_gateway_audit_event_at", "gateway_audit_event", ["at"])
    op.create_index("ix_gateway_audit_event_target", "gateway_audit_event", ["target"])
    # Append-only: the application role may insert and read, never rewrite history.
    op.execute(
        "CREATE FUNCTION gateway_audit_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'gateway_audit_event is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER gateway_audit_event_no_rewrite BEFORE UPDATE OR DELETE ON gateway_audit_event"
        " FOR EACH ROW EXECUTE FUNCTION gateway_audit_event_immutable()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS gateway_audit_event_no_rewrite ON gateway_audit_event")
    op.execute("DROP FUNCTION IF EXISTS gateway_audit_event_immutable()")
    for table in (
        "gateway_audit_event",
        "gateway_revoked_access_token",
        "gateway_refresh_token",
        "gateway_client",
        "gateway_user",
    ):
        op.drop_table(table)

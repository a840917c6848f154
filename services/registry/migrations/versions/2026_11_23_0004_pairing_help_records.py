"""Helping units, cadres, village assignments, pairings (bitemporal), help records with confirmations and
attachments, idempotency keys, the change feed for phone sync, household location.

Revision ID: reg0004
Revises: reg0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql, drop_trigger_function_sql, row_trigger_sql

revision: str = "reg0004"
down_revision: str | None = "reg0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Help records and their confirmations are append-only (invariant 31): corrections are new versions.
APPEND_ONLY = ("registry_help_record", "registry_help_confirmation")

#: Every change a phone must see lands in registry_change (household, cadre, kind), written by the database
#: itself so that no code path can forget it.
CHANGE_TRIGGERS = {
    "registry_household": "INSERT INTO registry_change (household_id, kind) VALUES (NEW.id, 'household')",
    "registry_help_record": "INSERT INTO registry_change (household_id, cadre_id, kind)"
    " VALUES (NEW.household_id, NEW.cadre_id, 'help_record')",
    "registry_help_confirmation": "INSERT INTO registry_change (household_id, kind)"
    " SELECT household_id, 'help_record' FROM registry_help_record WHERE id = NEW.record_id LIMIT 1",
    "registry_pairing": "INSERT INTO registry_change (household_id, cadre_id, kind)"
    " VALUES (NEW.household_id, NEW.cadre_id, 'pairing')",
}


def upgrade() -> None:
    op.create_table(
        "registry_change",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("cadre_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_registry_change_cadre", "registry_change", ["cadre_id", "seq"], unique=False)
    op.create_index("ix_registry_change_household", "registry_change", ["household_id", "seq"], unique=False)
    op.create_table(
        "registry_help_confirmation",
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("party", sa.String(length=24), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(length=64), nullable=False),
        sa.Column("signatory", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("record_id", "party"),
    )
    op.create_table(
        "registry_idempotency_key",
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key"),
    )
    op.create_index(
        "ix_registry_idempotency_key_expires", "registry_idempotency_key", ["expires_at"], unique=False
    )
    op.create_table(
        "registry_helping_unit",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("liaison_name", sa.String(length=64), nullable=True),
        sa.Column("leader_max_households", sa.Integer(), server_default="1", nullable=False),
        sa.Column("middle_cadres_per_household", sa.Integer(), server_default="2", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["registry_region.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_code", "name"),
    )
    op.create_table(
        "registry_attachment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("record_id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "sha256"),
    )
    op.create_index("ix_registry_attachment_sha256", "registry_attachment", ["sha256"], unique=False)
    op.create_table(
        "registry_cadre",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position_level", sa.String(length=16), nullable=False),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("phone_masked", sa.String(length=32), nullable=True),
        sa.Column("user_sub", sa.String(length=64), nullable=True),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"],
            ["registry_region.code"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["registry_helping_unit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_sub"),
    )
    op.create_index("ix_registry_cadre_unit", "registry_cadre", ["unit_id"], unique=False)
    op.create_table(
        "registry_help_record",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("cadre_id", sa.UUID(), nullable=False),
        sa.Column("record_type", sa.String(length=24), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("gps_lat", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("gps_lon", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("money_fen", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("goods", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("measures", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("flags", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("correction_reason", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("money_fen >= 0", name="ck_registry_help_record_money"),
        sa.CheckConstraint("version >= 1", name="ck_registry_help_record_version"),
        sa.ForeignKeyConstraint(
            ["cadre_id"],
            ["registry_cadre.id"],
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.PrimaryKeyConstraint("id", "version"),
    )
    op.create_index(
        "ix_registry_help_record_cadre", "registry_help_record", ["cadre_id", "device_time"], unique=False
    )
    op.create_index(
        "ix_registry_help_record_household",
        "registry_help_record",
        ["household_id", "device_time"],
        unique=False,
    )
    op.create_table(
        "registry_pairing",
        sa.Column("row_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("household_id", sa.UUID(), nullable=False),
        sa.Column("cadre_id", sa.UUID(), nullable=False),
        sa.Column("unit_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=24), nullable=True),
        sa.Column("successor_id", sa.UUID(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_registry_pairing_dates"),
        sa.ForeignKeyConstraint(
            ["cadre_id"],
            ["registry_cadre.id"],
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["registry_household.id"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["registry_helping_unit.id"],
        ),
        sa.PrimaryKeyConstraint("row_id"),
    )
    op.create_index("ix_registry_pairing_cadre", "registry_pairing", ["cadre_id", "valid_from"], unique=False)
    op.create_index(
        "ix_registry_pairing_household", "registry_pairing", ["household_id", "valid_from"], unique=False
    )
    op.create_index(
        "ux_registry_pairing_current",
        "registry_pairing",
        ["id"],
        unique=True,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.create_table(
        "registry_village_assignment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("village_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("cadre_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("end_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["cadre_id"],
            ["registry_cadre.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_code"],
            ["registry_region.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_registry_village_assignment_village",
        "registry_village_assignment",
        ["village_code", "starts_on"],
        unique=False,
    )
    op.add_column("registry_household", sa.Column("gps_lat", sa.Numeric(precision=9, scale=6), nullable=True))
    op.add_column("registry_household", sa.Column("gps_lon", sa.Numeric(precision=9, scale=6), nullable=True))

    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)
    # Pairing rows are facts: the only change allowed is closing the transaction time of the current row.
    op.execute(
        "CREATE FUNCTION registry_pairing_supersede_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF TG_OP = 'DELETE' OR OLD.superseded_at IS NOT NULL OR NEW.superseded_at IS NULL"
        " OR (to_jsonb(NEW) - 'superseded_at') <> (to_jsonb(OLD) - 'superseded_at') THEN"
        " RAISE EXCEPTION 'registry_pairing rows are superseded, never rewritten'; END IF;"
        " RETURN NEW; END $$"
    )
    op.execute(
        "CREATE TRIGGER registry_pairing_no_rewrite BEFORE UPDATE OR DELETE ON registry_pairing"
        " FOR EACH ROW EXECUTE FUNCTION registry_pairing_supersede_only()"
    )
    for table, body in CHANGE_TRIGGERS.items():
        for statement in row_trigger_sql(table, "change_feed", "AFTER INSERT OR UPDATE", body):
            op.execute(statement)


def downgrade() -> None:
    for table in CHANGE_TRIGGERS:
        for statement in drop_trigger_function_sql(table, "change_feed"):
            op.execute(statement)
    op.execute("DROP TRIGGER IF EXISTS registry_pairing_no_rewrite ON registry_pairing")
    op.execute("DROP FUNCTION IF EXISTS registry_pairing_supersede_only()")
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.drop_column("registry_household", "gps_lon")
    op.drop_column("registry_household", "gps_lat")
    op.drop_table("registry_village_assignment")
    op.drop_table("registry_pairing")
    op.drop_table("registry_help_record")
    op.drop_table("registry_cadre")
    op.drop_table("registry_attachment")
    op.drop_table("registry_helping_unit")
    op.drop_table("registry_idempotency_key")
    op.drop_table("registry_help_confirmation")
    op.drop_table("registry_change")

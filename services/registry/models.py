"""Registry tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from shared.db import CODE_COLLATION, utcnow

__all__ = [
    "PolicyParameter",
    "Quota",
    "Region",
    "RegionStatus",
    "attachment",
    "audit_event",
    "cadre",
    "change",
    "help_confirmation",
    "help_plan",
    "help_plan_ack",
    "help_plan_progress",
    "help_record",
    "helping_unit",
    "household",
    "household_flag",
    "household_income",
    "idempotency_key",
    "member",
    "membership_change",
    "monitoring_finding",
    "monitoring_round",
    "pairing",
    "quota_override",
    "region_population",
    "region_table",
    "village_assignment",
    "workflow_event",
]


class Region(SQLModel, table=True):
    """A node of the administrative tree, keyed by its 12-digit statistical division code (DOMAIN.md §1.1)."""

    __tablename__ = "registry_region"

    code: str = Field(primary_key=True, sa_type=sa.String(12, collation=CODE_COLLATION))
    name: str = Field(max_length=128)
    level: str = Field(max_length=16)
    parent_code: str | None = Field(
        default=None,
        sa_type=sa.String(12, collation=CODE_COLLATION),
        foreign_key="registry_region.code",
        index=True,
    )
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


def _code_fk() -> sa.String:
    return sa.String(12, collation=CODE_COLLATION)


class RegionStatus(SQLModel, table=True):
    """A special status a region holds in one year (贫困县, 贫困村, ...; DOMAIN.md §1.1)."""

    __tablename__ = "registry_region_status"

    region_code: str = Field(primary_key=True, sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int = Field(primary_key=True)
    status: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: str = Field(max_length=64)


class PolicyParameter(SQLModel, table=True):
    """One version of a policy parameter for a region and year (append-only; DOMAIN.md §2.8)."""

    __tablename__ = "registry_policy_parameter"
    __table_args__ = (sa.UniqueConstraint("region_code", "year", "name", "version"),)

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    region_code: str = Field(sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int
    name: str = Field(max_length=64)
    value: Decimal = Field(sa_type=sa.Numeric(18, 4))
    version: int
    valid_from: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: str = Field(max_length=64)
    reason: str = Field(max_length=500)


class Quota(SQLModel, table=True):
    """Scale-control quota (规模控制) of a region for a year, in people (DOMAIN.md §2.10)."""

    __tablename__ = "registry_quota"

    region_code: str = Field(primary_key=True, sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int = Field(primary_key=True)
    people: int
    version: int = 1
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: str = Field(max_length=64)


# -- households (DOMAIN.md §2.2-§2.7, §2.9-§2.15) ---------------------------------------------------------------
# Core tables: the service reads and writes them with SQLAlchemy Core (one statement per use, rows as tuples), so
# a household card or a list page costs no ORM bookkeeping. Extended sections of the national form live in
# JSONB columns validated by the API models (services/registry/households/schemas.py).

_TS = sa.DateTime(timezone=True)
_MONEY = sa.Numeric(14, 2)


def _code_col(name: str, *, nullable: bool = True, fk: bool = True) -> sa.Column[str]:
    args: list[Any] = [sa.ForeignKey("registry_region.code")] if fk else []
    return sa.Column(name, _code_fk(), *args, nullable=nullable)


household = sa.Table(
    "registry_household",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    _code_col("village_code", nullable=False),
    sa.Column("natural_village", sa.String(64)),  # 自然村 (屯): no statistical code of its own
    sa.Column("villager_group", sa.String(32)),  # 村民小组
    sa.Column("national_household_code", sa.String(40), unique=True),
    sa.Column("status", sa.String(32), nullable=False, server_default="candidate"),
    sa.Column("chain", sa.String(16)),
    sa.Column("returned", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("objection_open", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("identification_year", sa.Integer, nullable=False),
    # The scale-control year the household counts against: its identification year, or the year of its return.
    sa.Column("quota_year", sa.Integer, nullable=False),
    sa.Column("head_name", sa.String(64, collation=CODE_COLLATION), nullable=False),
    sa.Column("household_size", sa.Integer, nullable=False),
    sa.Column("labor_count", sa.Integer, nullable=False),
    sa.Column("has_labor_capacity", sa.Boolean, nullable=False),
    sa.Column("poverty_cause_primary", sa.String(32)),
    sa.Column("poverty_causes_other", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
    sa.Column("poverty_attribute", sa.String(16)),
    sa.Column("main_income_source", sa.String(32)),
    sa.Column("dangerous_house_grade", sa.String(1)),
    sa.Column("income_year", sa.Integer),
    sa.Column("net_income", _MONEY),
    sa.Column("per_capita_net_income", _MONEY),
    sa.Column("details", JSONB, nullable=False, server_default="{}"),
    sa.Column("contact_phone_enc", sa.Text),
    sa.Column("contact_phone_masked", sa.String(32)),
    sa.Column("bank_account_enc", sa.Text),
    sa.Column("bank_account_masked", sa.String(40)),
    sa.Column("bank_name", sa.String(64)),
    sa.Column("origin_household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id")),
    sa.Column("origin_kind", sa.String(16)),
    sa.Column("formed_on", sa.Date),
    sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
    sa.Column("gps_lat", sa.Numeric(9, 6)),
    sa.Column("gps_lon", sa.Numeric(9, 6)),
    sa.Column("planned_exit_year", sa.Integer),
    sa.Column("exit_effective_year", sa.Integer),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.CheckConstraint("household_size >= 0 AND labor_count >= 0", name="ck_registry_household_counts"),
    sa.CheckConstraint("version >= 1", name="ck_registry_household_version"),
    sa.Index("ix_registry_household_village_id", "village_code", "id"),
    sa.Index("ix_registry_household_status_village", "status", "village_code", "id"),
    sa.Index("ix_registry_household_head_name", "head_name", "id"),
    sa.Index("ix_registry_household_income", "per_capita_net_income", "id"),
    sa.Index("ix_registry_household_quota", "village_code", "quota_year"),
)

member = sa.Table(
    "registry_member",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("person_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("relation", sa.String(24), nullable=False),
    sa.Column("sex", sa.String(8), nullable=False),
    sa.Column("ethnicity", sa.String(16)),
    sa.Column("birth_year_month", sa.String(7), nullable=False),
    sa.Column("id_number_enc", sa.Text),
    sa.Column("id_number_index", sa.String(64)),
    sa.Column("id_number_masked", sa.String(18)),
    sa.Column("no_id_reason", sa.String(200)),
    sa.Column("labor_capacity", sa.String(24), nullable=False),
    sa.Column("health_status", sa.String(24), nullable=False),
    sa.Column("education_level", sa.String(24)),
    sa.Column("school_status", sa.String(32)),
    sa.Column("resident", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("annual_personal_income", _MONEY),
    sa.Column("details", JSONB, nullable=False, server_default="{}"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("joined_on", sa.Date, nullable=False),
    sa.Column("left_on", sa.Date),
    sa.Column("left_reason", sa.String(32)),
    sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Index("ix_registry_member_household", "household_id", "active"),
    # Invariant 2: a person is an active member of at most one household in the whole registry.
    sa.Index(
        "ux_registry_member_active_person",
        "id_number_index",
        unique=True,
        postgresql_where=sa.text("active AND id_number_index IS NOT NULL"),
    ),
    # Invariant 4 (at most one; the service checks at least one): one active head per household.
    sa.Index(
        "ux_registry_member_one_head",
        "household_id",
        unique=True,
        postgresql_where=sa.text("active AND relation = 'head'"),
    ),
)

household_income = sa.Table(
    "registry_household_income",
    SQLModel.metadata,
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("wage", _MONEY, nullable=False),
    sa.Column("operating", _MONEY, nullable=False),
    sa.Column("property", _MONEY, nullable=False),
    sa.Column("transfer", _MONEY, nullable=False),
    sa.Column("operating_expenses", _MONEY, nullable=False),
    sa.Column("household_size", sa.Integer, nullable=False),
    sa.Column("net_income", _MONEY, nullable=False),
    sa.Column("per_capita_net_income", _MONEY, nullable=False),
    sa.Column("surveyed_on", sa.Date),
    sa.Column("note", sa.String(500)),
    sa.Column("recorded_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.CheckConstraint(
        "wage >= 0 AND operating >= 0 AND property >= 0 AND transfer >= 0 AND operating_expenses >= 0",
        name="ck_registry_household_income_nonnegative",
    ),
    sa.CheckConstraint("household_size >= 1", name="ck_registry_household_income_size"),
)

workflow_event = sa.Table(
    "registry_workflow_event",
    SQLModel.metadata,
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("command", sa.String(32), nullable=False),
    sa.Column("at", _TS, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(1000)),
    sa.Column("data", JSONB, nullable=False, server_default="{}"),
    sa.Column("status_after", sa.String(32), nullable=False),
    sa.Column("batch_id", UUID(as_uuid=True)),
    sa.Column("request_id", sa.String(64)),
)

membership_change = sa.Table(
    "registry_membership_change",
    SQLModel.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("person_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("from_household_id", UUID(as_uuid=True), index=True),
    sa.Column("to_household_id", UUID(as_uuid=True), index=True),
    sa.Column("from_member_id", UUID(as_uuid=True)),
    sa.Column("to_member_id", UUID(as_uuid=True)),
    sa.Column("at", _TS, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
)

household_flag = sa.Table(
    "registry_household_flag",
    SQLModel.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("detail", JSONB, nullable=False, server_default="{}"),
    sa.Column("raised_at", _TS, nullable=False),
    sa.Column("cleared_at", _TS),
    sa.Column("cleared_by", sa.String(64)),
    sa.Column("clear_reason", sa.String(500)),
    sa.Index(
        "ux_registry_household_flag_open",
        "household_id",
        "code",
        unique=True,
        postgresql_where=sa.text("cleared_at IS NULL"),
    ),
)

quota_override = sa.Table(
    "registry_quota_override",
    SQLModel.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    _code_col("village_code", nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.UniqueConstraint("household_id", "year"),
)

region_population = sa.Table(
    "registry_region_population",
    SQLModel.metadata,
    _code_col("region_code", nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("population", sa.Integer, nullable=False),
    sa.Column("households", sa.Integer),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("updated_by", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("region_code", "year"),
    sa.CheckConstraint("population >= 0", name="ck_registry_region_population_population"),
)

audit_event = sa.Table(
    "registry_audit_event",
    SQLModel.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("record_type", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("household_id", UUID(as_uuid=True)),
    _code_col("region_code", fk=False),
    sa.Column("reason", sa.String(1000)),
    sa.Column("detail", JSONB, nullable=False, server_default="{}"),
    sa.Column("request_id", sa.String(64)),
    sa.Index("ix_registry_audit_event_record", "record_id", "at"),
    sa.Index("ix_registry_audit_event_actor", "actor", "at"),
    sa.Index("ix_registry_audit_event_at", "at"),
    sa.Index("ix_registry_audit_event_region", "region_code", "id"),
)


#: The region table for Core queries (SQLModel types its attributes as plain Python values).
region_table: sa.Table = Region.__table__  # type: ignore[attr-defined]


# -- pairing, help records, offline sync (DOMAIN.md §3-§4, issue #4) --------------------------------------------
helping_unit = sa.Table(
    "registry_helping_unit",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    _code_col("region_code", nullable=False),
    sa.Column("liaison_name", sa.String(64)),
    # Unit ratio policy (DOMAIN.md §3.1 P1): checked with warnings, configurable per unit.
    sa.Column("leader_max_households", sa.Integer, nullable=False, server_default="1"),
    sa.Column("middle_cadres_per_household", sa.Integer, nullable=False, server_default="2"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("region_code", "name"),
)

cadre = sa.Table(
    "registry_cadre",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("unit_id", UUID(as_uuid=True), sa.ForeignKey("registry_helping_unit.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("position_level", sa.String(16), nullable=False),
    sa.Column("position", sa.String(64)),
    sa.Column("phone_enc", sa.Text),
    sa.Column("phone_masked", sa.String(32)),
    # The Jingzhun user (gateway `sub`) who logs in as this cadre; null until the cadre gets a login.
    sa.Column("user_sub", sa.String(64), unique=True),
    _code_col("region_code", nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Index("ix_registry_cadre_unit", "unit_id"),
)

village_assignment = sa.Table(
    "registry_village_assignment",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    _code_col("village_code", nullable=False),
    sa.Column("cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False),
    sa.Column("role", sa.String(24), nullable=False),
    sa.Column("starts_on", sa.Date, nullable=False),
    sa.Column("ends_on", sa.Date),
    sa.Column("end_reason", sa.String(500)),
    sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Index("ix_registry_village_assignment_village", "village_code", "starts_on"),
)

# Bitemporal: valid time (valid_from .. valid_to, exclusive, in China dates) says who was responsible on a day;
# transaction time (recorded_at .. superseded_at) says what the registry knew when. A change never updates a
# row's facts: it supersedes the current row of the logical pairing with a new row.
pairing = sa.Table(
    "registry_pairing",
    SQLModel.metadata,
    sa.Column("row_id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("id", UUID(as_uuid=True), nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False),
    sa.Column("unit_id", UUID(as_uuid=True), sa.ForeignKey("registry_helping_unit.id"), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_to", sa.Date),
    sa.Column("end_reason", sa.String(24)),
    sa.Column("successor_id", UUID(as_uuid=True)),
    sa.Column("reason", sa.String(500)),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.Column("superseded_at", _TS),
    sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_registry_pairing_dates"),
    sa.Index(
        "ux_registry_pairing_current", "id", unique=True, postgresql_where=sa.text("superseded_at IS NULL")
    ),
    sa.Index("ix_registry_pairing_household", "household_id", "valid_from"),
    sa.Index("ix_registry_pairing_cadre", "cadre_id", "valid_from"),
)

help_record = sa.Table(
    "registry_help_record",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),  # generated by the client (offline phones)
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False),
    sa.Column("record_type", sa.String(24), nullable=False),
    sa.Column("device_time", _TS, nullable=False),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("device_id", sa.String(64)),
    sa.Column("place", sa.String(200)),
    sa.Column("gps_lat", sa.Numeric(9, 6)),
    sa.Column("gps_lon", sa.Numeric(9, 6)),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("money_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("goods", JSONB, nullable=False, server_default="[]"),
    sa.Column("measures", JSONB, nullable=False, server_default="[]"),
    sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("correction_reason", sa.String(500)),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.CheckConstraint("money_fen >= 0", name="ck_registry_help_record_money"),
    sa.CheckConstraint("version >= 1", name="ck_registry_help_record_version"),
    sa.Index("ix_registry_help_record_household", "household_id", "device_time"),
    sa.Index("ix_registry_help_record_cadre", "cadre_id", "device_time"),
)

#: A flag raised on a stored version by a record that arrived later (its neighbour in an impossible trip).
help_record_flag = sa.Table(
    "registry_help_record_flag",
    SQLModel.metadata,
    sa.Column("record_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("flag", sa.String(32), primary_key=True),
    sa.Column("because_of", UUID(as_uuid=True), primary_key=True),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False),
    sa.Column("raised_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.ForeignKeyConstraint(
        ["record_id", "version"], ["registry_help_record.id", "registry_help_record.version"]
    ),
)

help_confirmation = sa.Table(
    "registry_help_confirmation",
    SQLModel.metadata,
    sa.Column("record_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("party", sa.String(24), primary_key=True),  # household_head, village_director, unit_responsible
    sa.Column("confirmed_at", _TS, nullable=False),
    sa.Column("confirmed_by", sa.String(64), nullable=False),
    sa.Column("signatory", sa.String(64), nullable=False),
    sa.Column("note", sa.String(500)),
)

attachment = sa.Table(
    "registry_attachment",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("record_id", UUID(as_uuid=True), nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("uploaded_at", _TS, nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.UniqueConstraint("record_id", "sha256"),
    sa.Index("ix_registry_attachment_sha256", "sha256"),
)

idempotency_key = sa.Table(
    "registry_idempotency_key",
    SQLModel.metadata,
    sa.Column("principal", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # in_progress, done
    sa.Column("response_status", sa.Integer),
    sa.Column("response_headers", JSONB),
    sa.Column("response_body", sa.LargeBinary),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("expires_at", _TS, nullable=False),
    sa.Index("ix_registry_idempotency_key_expires", "expires_at"),
)

#: Feed of changes per household for incremental phone sync; appended by triggers (migration reg0004).
change = sa.Table(
    "registry_change",
    SQLModel.metadata,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("household_id", UUID(as_uuid=True), nullable=False),
    sa.Column("cadre_id", UUID(as_uuid=True)),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("at", _TS, nullable=False, server_default=sa.func.now()),
    sa.Index("ix_registry_change_household", "household_id", "seq"),
    sa.Index("ix_registry_change_cadre", "cadre_id", "seq"),
)


# -- household help plans (一户一策, DOMAIN.md §4.3) and monitoring rounds (§2.17) -------------------------------
help_plan = sa.Table(
    "registry_help_plan",
    SQLModel.metadata,
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("year_from", sa.Integer, nullable=False),
    sa.Column("year_to", sa.Integer, nullable=False),
    sa.Column("target_exit_year", sa.Integer, nullable=False),
    sa.Column(
        "items", JSONB, nullable=False
    ),  # the measures of this version (stable item ids across versions)
    sa.Column("expected_income_gain_fen", sa.BigInteger, nullable=False),
    sa.Column("cost_fen", sa.BigInteger, nullable=False),
    sa.Column("note", sa.String(1000)),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.CheckConstraint("year_from <= year_to", name="ck_registry_help_plan_years"),
)

help_plan_ack = sa.Table(
    "registry_help_plan_ack",
    SQLModel.metadata,
    sa.Column("household_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("signatory", sa.String(64), nullable=False),
    sa.Column("acknowledged_on", sa.Date, nullable=False),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.ForeignKeyConstraint(
        ["household_id", "version"], ["registry_help_plan.household_id", "registry_help_plan.version"]
    ),
)

help_plan_progress = sa.Table(
    "registry_help_plan_progress",
    SQLModel.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("item_id", UUID(as_uuid=True), nullable=False),
    sa.Column("percent", sa.Integer, nullable=False),
    sa.Column("completed_on", sa.Date),
    sa.Column("note", sa.String(1000)),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.CheckConstraint("percent BETWEEN 0 AND 100", name="ck_registry_help_plan_progress_percent"),
    sa.Index("ix_registry_help_plan_progress_item", "household_id", "item_id", "id"),
)

monitoring_round = sa.Table(
    "registry_monitoring_round",
    SQLModel.metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    _code_col("township_code", nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("half", sa.String(2), nullable=False),  # H1 = June round, H2 = December round
    sa.Column("opened_at", _TS, nullable=False),
    sa.Column("opened_by", sa.String(64), nullable=False),
    sa.Column("closed_at", _TS),
    sa.Column("closed_by", sa.String(64)),
    sa.Column("summary", sa.Text),
    sa.UniqueConstraint("township_code", "year", "half"),
)

monitoring_finding = sa.Table(
    "registry_monitoring_finding",
    SQLModel.metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("round_id", UUID(as_uuid=True), sa.ForeignKey("registry_monitoring_round.id"), nullable=False),
    sa.Column("pairing_id", UUID(as_uuid=True), nullable=False),
    sa.Column("household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False),
    sa.Column("cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False),
    sa.Column("projects", sa.Text, nullable=False),
    sa.Column("funds_fen", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("results", sa.Text, nullable=False),
    sa.Column("visits_in_year", sa.Integer, nullable=False),
    sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}"),
    sa.Column("recorded_at", _TS, nullable=False),
    sa.Column("recorded_by", sa.String(64), nullable=False),
    sa.UniqueConstraint("round_id", "pairing_id"),
)

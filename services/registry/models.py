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
    "audit_event",
    "household",
    "household_flag",
    "household_income",
    "member",
    "membership_change",
    "quota_override",
    "region_population",
    "region_table",
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

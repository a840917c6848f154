"""Registry tables: SQLModel classes named `registry_*` (the audit and Idempotency-Key tables come from shared/)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlmodel import Field, SQLModel

from shared.audit import audit_table
from shared.clock import utcnow
from shared.db import CODE_COLLATION
from shared.idempotency import idempotency_table

__all__ = [
    "Attachment",
    "Cadre",
    "ChangeFeedEntry",
    "DataUpload",
    "ExitTarget",
    "HelpConfirmation",
    "HelpPlan",
    "HelpPlanAck",
    "HelpPlanProgress",
    "HelpRecord",
    "HelpRecordFlag",
    "HelpRecordReview",
    "HelpingUnit",
    "Household",
    "HouseholdFlag",
    "HouseholdIncome",
    "HouseholdTransfer",
    "Member",
    "MembershipChange",
    "MonitoringFinding",
    "MonitoringRound",
    "Pairing",
    "PolicyParameter",
    "Quota",
    "QuotaOverride",
    "Region",
    "RegionPopulation",
    "RegionStatus",
    "VillageAssignment",
    "Webhook",
    "WebhookDelivery",
    "WorkflowEvent",
    "audit_event",
    "idempotency_key",
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


class ExitTarget(SQLModel, table=True):
    """The yearly exit target (年度减贫任务) of a region: people and households to exit that year (invariant 25)."""

    __tablename__ = "registry_exit_target"

    region_code: str = Field(primary_key=True, sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int = Field(primary_key=True)
    people: int
    households: int
    version: int = 1
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: str = Field(max_length=64)


class DataUpload(SQLModel, table=True):
    """A township's upload of a year's data to the national information system (数据上传, invariant 20)."""

    __tablename__ = "registry_data_upload"

    region_code: str = Field(primary_key=True, sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int = Field(primary_key=True)
    uploaded_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    uploaded_by: str = Field(max_length=64)
    reference: str = Field(max_length=200)


# -- households (DOMAIN.md §2.2-§2.7, §2.9-§2.15) ---------------------------------------------------------------
# Core tables: the service reads and writes them with SQLAlchemy Core (one statement per use, rows as tuples), so
# a household card or a list page costs no ORM bookkeeping. Extended sections of the national form live in
# JSONB columns validated by the API models (services/registry/households/schemas.py).

_TS = sa.DateTime(timezone=True)
_MONEY = sa.Numeric(14, 2)


def _code_col(name: str, *, nullable: bool = True, fk: bool = True) -> sa.Column[str]:
    args: list[Any] = [sa.ForeignKey("registry_region.code")] if fk else []
    return sa.Column(name, _code_fk(), *args, nullable=nullable)


class Household(SQLModel, table=True):
    __tablename__ = "registry_household"
    __table_args__ = (
        sa.CheckConstraint("household_size >= 0 AND labor_count >= 0", name="ck_registry_household_counts"),
        sa.CheckConstraint("version >= 1", name="ck_registry_household_version"),
        sa.Index("ix_registry_household_village_id", "village_code", "id"),
        sa.Index("ix_registry_household_status_village", "status", "village_code", "id"),
        sa.Index("ix_registry_household_head_name", "head_name", "id"),
        sa.Index("ix_registry_household_income", "per_capita_net_income", "id"),
        sa.Index("ix_registry_household_quota", "village_code", "quota_year"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    village_code: str = Field(sa_column=_code_col("village_code", nullable=False))
    natural_village: str | None = Field(
        default=None, sa_column=sa.Column("natural_village", sa.String(64))
    )  # 自然村 (屯): no statistical code of its own
    villager_group: str | None = Field(
        default=None, sa_column=sa.Column("villager_group", sa.String(32))
    )  # 村民小组
    national_household_code: str | None = Field(
        default=None, sa_column=sa.Column("national_household_code", sa.String(40), unique=True)
    )
    status: str = Field(
        sa_column=sa.Column("status", sa.String(32), nullable=False, server_default="candidate")
    )
    chain: str | None = Field(default=None, sa_column=sa.Column("chain", sa.String(16)))
    returned: bool = Field(
        sa_column=sa.Column("returned", sa.Boolean, nullable=False, server_default=sa.text("false"))
    )
    objection_open: bool = Field(
        sa_column=sa.Column("objection_open", sa.Boolean, nullable=False, server_default=sa.text("false"))
    )
    identification_year: int = Field(sa_column=sa.Column("identification_year", sa.Integer, nullable=False))
    quota_year: int = Field(sa_column=sa.Column("quota_year", sa.Integer, nullable=False))
    head_name: str = Field(
        sa_column=sa.Column("head_name", sa.String(64, collation=CODE_COLLATION), nullable=False)
    )
    household_size: int = Field(sa_column=sa.Column("household_size", sa.Integer, nullable=False))
    labor_count: int = Field(sa_column=sa.Column("labor_count", sa.Integer, nullable=False))
    has_labor_capacity: bool = Field(sa_column=sa.Column("has_labor_capacity", sa.Boolean, nullable=False))
    poverty_cause_primary: str | None = Field(
        default=None, sa_column=sa.Column("poverty_cause_primary", sa.String(32))
    )
    poverty_causes_other: list[str] = Field(
        sa_column=sa.Column("poverty_causes_other", ARRAY(sa.String(32)), nullable=False, server_default="{}")
    )
    poverty_attribute: str | None = Field(
        default=None, sa_column=sa.Column("poverty_attribute", sa.String(16))
    )
    main_income_source: str | None = Field(
        default=None, sa_column=sa.Column("main_income_source", sa.String(32))
    )
    dangerous_house_grade: str | None = Field(
        default=None, sa_column=sa.Column("dangerous_house_grade", sa.String(1))
    )
    income_year: int | None = Field(default=None, sa_column=sa.Column("income_year", sa.Integer))
    net_income: Decimal | None = Field(default=None, sa_column=sa.Column("net_income", _MONEY))
    per_capita_net_income: Decimal | None = Field(
        default=None, sa_column=sa.Column("per_capita_net_income", _MONEY)
    )
    details: dict[str, Any] = Field(
        sa_column=sa.Column("details", JSONB, nullable=False, server_default="{}")
    )
    contact_phone_enc: str | None = Field(default=None, sa_column=sa.Column("contact_phone_enc", sa.Text))
    contact_phone_masked: str | None = Field(
        default=None, sa_column=sa.Column("contact_phone_masked", sa.String(32))
    )
    bank_account_enc: str | None = Field(default=None, sa_column=sa.Column("bank_account_enc", sa.Text))
    bank_account_masked: str | None = Field(
        default=None, sa_column=sa.Column("bank_account_masked", sa.String(40))
    )
    bank_name: str | None = Field(default=None, sa_column=sa.Column("bank_name", sa.String(64)))
    origin_household_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column(
            "origin_household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id")
        ),
    )
    origin_kind: str | None = Field(default=None, sa_column=sa.Column("origin_kind", sa.String(16)))
    formed_on: date | None = Field(default=None, sa_column=sa.Column("formed_on", sa.Date))
    flags: list[str] = Field(
        sa_column=sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}")
    )
    gps_lat: Decimal | None = Field(default=None, sa_column=sa.Column("gps_lat", sa.Numeric(9, 6)))
    gps_lon: Decimal | None = Field(default=None, sa_column=sa.Column("gps_lon", sa.Numeric(9, 6)))
    planned_exit_year: int | None = Field(default=None, sa_column=sa.Column("planned_exit_year", sa.Integer))
    exit_effective_year: int | None = Field(
        default=None, sa_column=sa.Column("exit_effective_year", sa.Integer)
    )
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now())
    )
    updated_by: str = Field(sa_column=sa.Column("updated_by", sa.String(64), nullable=False))


class Member(SQLModel, table=True):
    __tablename__ = "registry_member"
    __table_args__ = (
        sa.Index("ix_registry_member_household", "household_id", "active"),
        sa.Index(
            "ux_registry_member_active_person",
            "id_number_index",
            unique=True,
            postgresql_where=sa.text("active AND id_number_index IS NOT NULL"),
        ),
        sa.Index(
            "ux_registry_member_one_head",
            "household_id",
            unique=True,
            postgresql_where=sa.text("active AND relation = 'head'"),
        ),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    person_id: uuid.UUID = Field(
        sa_column=sa.Column("person_id", UUID(as_uuid=True), nullable=False, index=True)
    )
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    name: str = Field(sa_column=sa.Column("name", sa.String(64), nullable=False))
    relation: str = Field(sa_column=sa.Column("relation", sa.String(24), nullable=False))
    sex: str = Field(sa_column=sa.Column("sex", sa.String(8), nullable=False))
    ethnicity: str | None = Field(default=None, sa_column=sa.Column("ethnicity", sa.String(16)))
    birth_year_month: str = Field(sa_column=sa.Column("birth_year_month", sa.String(7), nullable=False))
    id_number_enc: str | None = Field(default=None, sa_column=sa.Column("id_number_enc", sa.Text))
    id_number_index: str | None = Field(default=None, sa_column=sa.Column("id_number_index", sa.String(64)))
    id_number_masked: str | None = Field(default=None, sa_column=sa.Column("id_number_masked", sa.String(18)))
    no_id_reason: str | None = Field(default=None, sa_column=sa.Column("no_id_reason", sa.String(200)))
    labor_capacity: str = Field(sa_column=sa.Column("labor_capacity", sa.String(24), nullable=False))
    health_status: str = Field(sa_column=sa.Column("health_status", sa.String(24), nullable=False))
    education_level: str | None = Field(default=None, sa_column=sa.Column("education_level", sa.String(24)))
    school_status: str | None = Field(default=None, sa_column=sa.Column("school_status", sa.String(32)))
    resident: bool = Field(
        sa_column=sa.Column("resident", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    annual_personal_income: Decimal | None = Field(
        default=None, sa_column=sa.Column("annual_personal_income", _MONEY)
    )
    details: dict[str, Any] = Field(
        sa_column=sa.Column("details", JSONB, nullable=False, server_default="{}")
    )
    active: bool = Field(
        sa_column=sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    joined_on: date = Field(sa_column=sa.Column("joined_on", sa.Date, nullable=False))
    left_on: date | None = Field(default=None, sa_column=sa.Column("left_on", sa.Date))
    left_reason: str | None = Field(default=None, sa_column=sa.Column("left_reason", sa.String(32)))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now())
    )
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now())
    )


class HouseholdIncome(SQLModel, table=True):
    __tablename__ = "registry_household_income"
    __table_args__ = (
        sa.CheckConstraint(
            "wage >= 0 AND operating >= 0 AND property >= 0 AND transfer >= 0 AND operating_expenses >= 0",
            name="ck_registry_household_income_nonnegative",
        ),
        sa.CheckConstraint("household_size >= 1", name="ck_registry_household_income_size"),
    )

    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), primary_key=True
        )
    )
    year: int = Field(sa_column=sa.Column("year", sa.Integer, primary_key=True))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    wage: Decimal = Field(sa_column=sa.Column("wage", _MONEY, nullable=False))
    operating: Decimal = Field(sa_column=sa.Column("operating", _MONEY, nullable=False))
    property: Decimal = Field(sa_column=sa.Column("property", _MONEY, nullable=False))
    transfer: Decimal = Field(sa_column=sa.Column("transfer", _MONEY, nullable=False))
    operating_expenses: Decimal = Field(sa_column=sa.Column("operating_expenses", _MONEY, nullable=False))
    household_size: int = Field(sa_column=sa.Column("household_size", sa.Integer, nullable=False))
    net_income: Decimal = Field(sa_column=sa.Column("net_income", _MONEY, nullable=False))
    per_capita_net_income: Decimal = Field(
        sa_column=sa.Column("per_capita_net_income", _MONEY, nullable=False)
    )
    surveyed_on: date | None = Field(default=None, sa_column=sa.Column("surveyed_on", sa.Date))
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(500)))
    recorded_at: datetime = Field(
        sa_column=sa.Column("recorded_at", _TS, nullable=False, server_default=sa.func.now())
    )
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


class WorkflowEvent(SQLModel, table=True):
    __tablename__ = "registry_workflow_event"

    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), primary_key=True
        )
    )
    seq: int = Field(sa_column=sa.Column("seq", sa.Integer, primary_key=True))
    command: str = Field(sa_column=sa.Column("command", sa.String(32), nullable=False))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False))
    actor: str = Field(sa_column=sa.Column("actor", sa.String(64), nullable=False))
    role: str = Field(sa_column=sa.Column("role", sa.String(32), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column("reason", sa.String(1000)))
    data: dict[str, Any] = Field(sa_column=sa.Column("data", JSONB, nullable=False, server_default="{}"))
    status_after: str = Field(sa_column=sa.Column("status_after", sa.String(32), nullable=False))
    batch_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column("batch_id", UUID(as_uuid=True)))
    request_id: str | None = Field(default=None, sa_column=sa.Column("request_id", sa.String(64)))


class MembershipChange(SQLModel, table=True):
    __tablename__ = "registry_membership_change"

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    person_id: uuid.UUID = Field(
        sa_column=sa.Column("person_id", UUID(as_uuid=True), nullable=False, index=True)
    )
    kind: str = Field(sa_column=sa.Column("kind", sa.String(16), nullable=False))
    from_household_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("from_household_id", UUID(as_uuid=True), index=True)
    )
    to_household_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("to_household_id", UUID(as_uuid=True), index=True)
    )
    from_member_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("from_member_id", UUID(as_uuid=True))
    )
    to_member_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("to_member_id", UUID(as_uuid=True))
    )
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False))
    actor: str = Field(sa_column=sa.Column("actor", sa.String(64), nullable=False))
    reason: str = Field(sa_column=sa.Column("reason", sa.String(500), nullable=False))


class HouseholdFlag(SQLModel, table=True):
    __tablename__ = "registry_household_flag"
    __table_args__ = (
        sa.Index(
            "ux_registry_household_flag_open",
            "household_id",
            "code",
            unique=True,
            postgresql_where=sa.text("cleared_at IS NULL"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    code: str = Field(sa_column=sa.Column("code", sa.String(32), nullable=False))
    detail: dict[str, Any] = Field(sa_column=sa.Column("detail", JSONB, nullable=False, server_default="{}"))
    raised_at: datetime = Field(sa_column=sa.Column("raised_at", _TS, nullable=False))
    cleared_at: datetime | None = Field(default=None, sa_column=sa.Column("cleared_at", _TS))
    cleared_by: str | None = Field(default=None, sa_column=sa.Column("cleared_by", sa.String(64)))
    clear_reason: str | None = Field(default=None, sa_column=sa.Column("clear_reason", sa.String(500)))


class QuotaOverride(SQLModel, table=True):
    __tablename__ = "registry_quota_override"
    __table_args__ = (sa.UniqueConstraint("household_id", "year"),)

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    village_code: str = Field(sa_column=_code_col("village_code", nullable=False))
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    reason: str = Field(sa_column=sa.Column("reason", sa.String(500), nullable=False))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


class RegionPopulation(SQLModel, table=True):
    __tablename__ = "registry_region_population"
    __table_args__ = (
        sa.PrimaryKeyConstraint("region_code", "year"),
        sa.CheckConstraint("population >= 0", name="ck_registry_region_population_population"),
    )

    region_code: str = Field(sa_column=_code_col("region_code", nullable=False))
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    population: int = Field(sa_column=sa.Column("population", sa.Integer, nullable=False))
    households: int | None = Field(default=None, sa_column=sa.Column("households", sa.Integer))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now())
    )
    updated_by: str = Field(sa_column=sa.Column("updated_by", sa.String(64), nullable=False))


#: The registry's audit log (invariant 50): the common columns of shared.audit, plus the household concerned.
audit_event = audit_table(
    "registry_audit_event", SQLModel.metadata, sa.Column("household_id", UUID(as_uuid=True))
)


# -- pairing, help records, offline sync (DOMAIN.md §3-§4, issue #4) --------------------------------------------
class HelpingUnit(SQLModel, table=True):
    __tablename__ = "registry_helping_unit"
    __table_args__ = (sa.UniqueConstraint("region_code", "name"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    name: str = Field(sa_column=sa.Column("name", sa.String(128), nullable=False))
    kind: str = Field(sa_column=sa.Column("kind", sa.String(32), nullable=False))
    region_code: str = Field(sa_column=_code_col("region_code", nullable=False))
    liaison_name: str | None = Field(default=None, sa_column=sa.Column("liaison_name", sa.String(64)))
    #: The gateway login of the unit's responsible person (帮扶单位责任人, reg0014): who signs its help records.
    responsible_sub: str | None = Field(default=None, sa_column=sa.Column("responsible_sub", sa.String(64)))
    leader_max_households: int = Field(
        sa_column=sa.Column("leader_max_households", sa.Integer, nullable=False, server_default="1")
    )
    middle_cadres_per_household: int = Field(
        sa_column=sa.Column("middle_cadres_per_household", sa.Integer, nullable=False, server_default="2")
    )
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now())
    )


class Cadre(SQLModel, table=True):
    __tablename__ = "registry_cadre"
    __table_args__ = (sa.Index("ix_registry_cadre_unit", "unit_id"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    unit_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "unit_id", UUID(as_uuid=True), sa.ForeignKey("registry_helping_unit.id"), nullable=False
        )
    )
    name: str = Field(sa_column=sa.Column("name", sa.String(64), nullable=False))
    position_level: str = Field(sa_column=sa.Column("position_level", sa.String(16), nullable=False))
    position: str | None = Field(default=None, sa_column=sa.Column("position", sa.String(64)))
    phone_enc: str | None = Field(default=None, sa_column=sa.Column("phone_enc", sa.Text))
    phone_masked: str | None = Field(default=None, sa_column=sa.Column("phone_masked", sa.String(32)))
    user_sub: str | None = Field(default=None, sa_column=sa.Column("user_sub", sa.String(64), unique=True))
    region_code: str = Field(sa_column=_code_col("region_code", nullable=False))
    active: bool = Field(
        sa_column=sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true"))
    )
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=sa.func.now())
    )


class VillageAssignment(SQLModel, table=True):
    __tablename__ = "registry_village_assignment"
    __table_args__ = (sa.Index("ix_registry_village_assignment_village", "village_code", "starts_on"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    village_code: str = Field(sa_column=_code_col("village_code", nullable=False))
    cadre_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False
        )
    )
    role: str = Field(sa_column=sa.Column("role", sa.String(24), nullable=False))
    starts_on: date = Field(sa_column=sa.Column("starts_on", sa.Date, nullable=False))
    ends_on: date | None = Field(default=None, sa_column=sa.Column("ends_on", sa.Date))
    end_reason: str | None = Field(default=None, sa_column=sa.Column("end_reason", sa.String(500)))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=sa.func.now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


# Bitemporal: valid time (valid_from .. valid_to, exclusive, in China dates) says who was responsible on a day;
# transaction time (recorded_at .. superseded_at) says what the registry knew when. A change never updates a
# row's facts: it supersedes the current row of the logical pairing with a new row.
class Pairing(SQLModel, table=True):
    __tablename__ = "registry_pairing"
    __table_args__ = (
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_registry_pairing_dates"),
        sa.Index(
            "ux_registry_pairing_current",
            "id",
            unique=True,
            postgresql_where=sa.text("superseded_at IS NULL"),
        ),
        sa.Index("ix_registry_pairing_household", "household_id", "valid_from"),
        sa.Index("ix_registry_pairing_cadre", "cadre_id", "valid_from"),
    )

    row_id: int | None = Field(
        default=None, sa_column=sa.Column("row_id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), nullable=False))
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    cadre_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False
        )
    )
    unit_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "unit_id", UUID(as_uuid=True), sa.ForeignKey("registry_helping_unit.id"), nullable=False
        )
    )
    role: str = Field(sa_column=sa.Column("role", sa.String(16), nullable=False))
    valid_from: date = Field(sa_column=sa.Column("valid_from", sa.Date, nullable=False))
    valid_to: date | None = Field(default=None, sa_column=sa.Column("valid_to", sa.Date))
    end_reason: str | None = Field(default=None, sa_column=sa.Column("end_reason", sa.String(24)))
    successor_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("successor_id", UUID(as_uuid=True))
    )
    reason: str | None = Field(default=None, sa_column=sa.Column("reason", sa.String(500)))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))
    superseded_at: datetime | None = Field(default=None, sa_column=sa.Column("superseded_at", _TS))


class HelpRecord(SQLModel, table=True):
    __tablename__ = "registry_help_record"
    __table_args__ = (
        sa.CheckConstraint("money_fen >= 0", name="ck_registry_help_record_money"),
        sa.CheckConstraint("version >= 1", name="ck_registry_help_record_version"),
        sa.Index("ix_registry_help_record_household", "household_id", "device_time"),
        sa.Index("ix_registry_help_record_cadre", "cadre_id", "device_time"),
    )

    id: uuid.UUID = Field(
        sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True)
    )  # generated by the client (offline phones)
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    cadre_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False
        )
    )
    record_type: str = Field(sa_column=sa.Column("record_type", sa.String(24), nullable=False))
    device_time: datetime = Field(sa_column=sa.Column("device_time", _TS, nullable=False))
    received_at: datetime = Field(sa_column=sa.Column("received_at", _TS, nullable=False))
    device_id: str | None = Field(default=None, sa_column=sa.Column("device_id", sa.String(64)))
    place: str | None = Field(default=None, sa_column=sa.Column("place", sa.String(200)))
    gps_lat: Decimal | None = Field(default=None, sa_column=sa.Column("gps_lat", sa.Numeric(9, 6)))
    gps_lon: Decimal | None = Field(default=None, sa_column=sa.Column("gps_lon", sa.Numeric(9, 6)))
    content: str = Field(sa_column=sa.Column("content", sa.Text, nullable=False))
    money_fen: int = Field(
        sa_column=sa.Column("money_fen", sa.BigInteger, nullable=False, server_default="0")
    )
    goods: list[Any] = Field(sa_column=sa.Column("goods", JSONB, nullable=False, server_default="[]"))
    measures: list[Any] = Field(sa_column=sa.Column("measures", JSONB, nullable=False, server_default="[]"))
    flags: list[str] = Field(
        sa_column=sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}")
    )
    payload_hash: str = Field(sa_column=sa.Column("payload_hash", sa.String(64), nullable=False))
    correction_reason: str | None = Field(
        default=None, sa_column=sa.Column("correction_reason", sa.String(500))
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


#: A flag raised on a stored version by a record that arrived later (its neighbour in an impossible trip).
class HelpRecordFlag(SQLModel, table=True):
    __tablename__ = "registry_help_record_flag"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["record_id", "version"], ["registry_help_record.id", "registry_help_record.version"]
        ),
    )

    record_id: uuid.UUID = Field(sa_column=sa.Column("record_id", UUID(as_uuid=True), primary_key=True))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    flag: str = Field(sa_column=sa.Column("flag", sa.String(32), primary_key=True))
    because_of: uuid.UUID = Field(sa_column=sa.Column("because_of", UUID(as_uuid=True), primary_key=True))
    household_id: uuid.UUID = Field(sa_column=sa.Column("household_id", UUID(as_uuid=True), nullable=False))
    raised_at: datetime = Field(
        sa_column=sa.Column("raised_at", _TS, nullable=False, server_default=sa.func.now())
    )


class HelpRecordReview(SQLModel, table=True):
    """An officer's review of a flag on a help record version (append-only; issue #13 item 14)."""

    __tablename__ = "registry_help_record_review"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["record_id", "version"], ["registry_help_record.id", "registry_help_record.version"]
        ),
        sa.CheckConstraint(
            "outcome IN ('accepted', 'rejected')", name="ck_registry_help_record_review_outcome"
        ),
    )

    record_id: uuid.UUID = Field(sa_column=sa.Column("record_id", UUID(as_uuid=True), primary_key=True))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    flag: str = Field(sa_column=sa.Column("flag", sa.String(32), primary_key=True))
    household_id: uuid.UUID = Field(sa_column=sa.Column("household_id", UUID(as_uuid=True), nullable=False))
    outcome: str = Field(sa_column=sa.Column("outcome", sa.String(16), nullable=False))
    reason: str = Field(sa_column=sa.Column("reason", sa.String(1000), nullable=False))
    reviewed_by: str = Field(sa_column=sa.Column("reviewed_by", sa.String(64), nullable=False))
    reviewed_at: datetime = Field(sa_column=sa.Column("reviewed_at", _TS, nullable=False))


class HelpConfirmation(SQLModel, table=True):
    __tablename__ = "registry_help_confirmation"

    record_id: uuid.UUID = Field(sa_column=sa.Column("record_id", UUID(as_uuid=True), primary_key=True))
    party: str = Field(
        sa_column=sa.Column("party", sa.String(24), primary_key=True)
    )  # household_head, village_director, unit_responsible
    confirmed_at: datetime = Field(sa_column=sa.Column("confirmed_at", _TS, nullable=False))
    confirmed_by: str = Field(sa_column=sa.Column("confirmed_by", sa.String(64), nullable=False))
    signatory: str = Field(sa_column=sa.Column("signatory", sa.String(64), nullable=False))
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(500)))


class Attachment(SQLModel, table=True):
    __tablename__ = "registry_attachment"
    __table_args__ = (
        sa.UniqueConstraint("record_id", "sha256"),
        sa.Index("ix_registry_attachment_sha256", "sha256"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    record_id: uuid.UUID = Field(sa_column=sa.Column("record_id", UUID(as_uuid=True), nullable=False))
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    sha256: str = Field(sa_column=sa.Column("sha256", sa.String(64), nullable=False))
    content_type: str = Field(sa_column=sa.Column("content_type", sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column("size", sa.Integer, nullable=False))
    data: bytes = Field(sa_column=sa.Column("data", sa.LargeBinary, nullable=False))
    uploaded_at: datetime = Field(sa_column=sa.Column("uploaded_at", _TS, nullable=False))
    uploaded_by: str = Field(sa_column=sa.Column("uploaded_by", sa.String(64), nullable=False))


idempotency_key = idempotency_table("registry_idempotency_key", SQLModel.metadata)


class Xid8(sa.types.UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (`xid8`, `pg_current_xact_id()`); read and written as text."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


# Reflection (alembic's comparison of models and migrations) knows the type by name.
postgresql_base.ischema_names.setdefault("xid8", Xid8)


#: Feed of changes per household for incremental phone sync; appended by triggers (migration reg0004).
class ChangeFeedEntry(SQLModel, table=True):
    __tablename__ = "registry_change"
    __table_args__ = (
        sa.Index("ix_registry_change_household", "household_id", "seq"),
        sa.Index("ix_registry_change_cadre", "cadre_id", "seq"),
        sa.Index("ix_registry_change_txid", "txid", "seq"),
    )

    seq: int | None = Field(
        default=None, sa_column=sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    household_id: uuid.UUID = Field(sa_column=sa.Column("household_id", UUID(as_uuid=True), nullable=False))
    cadre_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column("cadre_id", UUID(as_uuid=True)))
    kind: str = Field(sa_column=sa.Column("kind", sa.String(24), nullable=False))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False, server_default=sa.func.now()))
    # The province feed (reg0011, services/registry/changes): the writing transaction, the record, its village.
    txid: str | None = Field(
        default=None,
        sa_column=sa.Column("txid", Xid8(), nullable=False, server_default=sa.text("pg_current_xact_id()")),
    )
    record_type: str | None = Field(default=None, sa_column=sa.Column("record_type", sa.String(16)))
    record_id: uuid.UUID | None = Field(default=None, sa_column=sa.Column("record_id", UUID(as_uuid=True)))
    village_code: str | None = Field(default=None, sa_column=sa.Column("village_code", sa.String(12)))
    old_village_code: str | None = Field(default=None, sa_column=sa.Column("old_village_code", sa.String(12)))


#: The highest transaction id ever pruned from the feed (one row; reg0011): cursors at or below it answer 410.
class ChangeFeedHorizon(SQLModel, table=True):
    __tablename__ = "registry_change_horizon"
    __table_args__ = (sa.CheckConstraint("id", name="ck_registry_change_horizon_one_row"),)

    id: bool = Field(
        default=True, sa_column=sa.Column("id", sa.Boolean, primary_key=True, server_default=sa.text("true"))
    )
    pruned_txid: str | None = Field(default=None, sa_column=sa.Column("pruned_txid", Xid8()))


# -- household help plans (一户一策, DOMAIN.md §4.3) and monitoring rounds (§2.17) -------------------------------
class HelpPlan(SQLModel, table=True):
    __tablename__ = "registry_help_plan"
    __table_args__ = (sa.CheckConstraint("year_from <= year_to", name="ck_registry_help_plan_years"),)

    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), primary_key=True
        )
    )
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    year_from: int = Field(sa_column=sa.Column("year_from", sa.Integer, nullable=False))
    year_to: int = Field(sa_column=sa.Column("year_to", sa.Integer, nullable=False))
    target_exit_year: int = Field(sa_column=sa.Column("target_exit_year", sa.Integer, nullable=False))
    items: list[dict[str, Any]] = Field(sa_column=sa.Column("items", JSONB, nullable=False))
    expected_income_gain_fen: int = Field(
        sa_column=sa.Column("expected_income_gain_fen", sa.BigInteger, nullable=False)
    )
    cost_fen: int = Field(sa_column=sa.Column("cost_fen", sa.BigInteger, nullable=False))
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(1000)))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


class HelpPlanAck(SQLModel, table=True):
    __tablename__ = "registry_help_plan_ack"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["household_id", "version"], ["registry_help_plan.household_id", "registry_help_plan.version"]
        ),
    )

    household_id: uuid.UUID = Field(sa_column=sa.Column("household_id", UUID(as_uuid=True), primary_key=True))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    signatory: str = Field(sa_column=sa.Column("signatory", sa.String(64), nullable=False))
    acknowledged_on: date = Field(sa_column=sa.Column("acknowledged_on", sa.Date, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


class HelpPlanProgress(SQLModel, table=True):
    __tablename__ = "registry_help_plan_progress"
    __table_args__ = (
        sa.CheckConstraint("percent BETWEEN 0 AND 100", name="ck_registry_help_plan_progress_percent"),
        sa.Index("ix_registry_help_plan_progress_item", "household_id", "item_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    item_id: uuid.UUID = Field(sa_column=sa.Column("item_id", UUID(as_uuid=True), nullable=False))
    percent: int = Field(sa_column=sa.Column("percent", sa.Integer, nullable=False))
    completed_on: date | None = Field(default=None, sa_column=sa.Column("completed_on", sa.Date))
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(1000)))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


class HouseholdTransfer(SQLModel, table=True):
    """A household handed over to a village of another county (迁出申请 / 迁入确认, issue #15, reg0015)."""

    __tablename__ = "registry_household_transfer"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'cancelled')",
            name="ck_registry_household_transfer_status",
        ),
        sa.Index(
            "uq_registry_household_transfer_pending",
            "household_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_registry_household_transfer_to", "to_village_code", "status"),
        sa.Index("ix_registry_household_transfer_from", "from_village_code", "status"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    from_village_code: str = Field(sa_column=_code_col("from_village_code", nullable=False))
    to_village_code: str = Field(sa_column=_code_col("to_village_code", nullable=False))
    reason: str = Field(sa_column=sa.Column("reason", sa.String(32), nullable=False))
    effective_date: date = Field(sa_column=sa.Column("effective_date", sa.Date, nullable=False))
    document_reference: str | None = Field(
        default=None, sa_column=sa.Column("document_reference", sa.String(128))
    )
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.Text))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    requested_by: str = Field(sa_column=sa.Column("requested_by", sa.String(64), nullable=False))
    requested_at: datetime = Field(sa_column=sa.Column("requested_at", _TS, nullable=False))
    decided_by: str | None = Field(default=None, sa_column=sa.Column("decided_by", sa.String(64)))
    decided_at: datetime | None = Field(default=None, sa_column=sa.Column("decided_at", _TS))
    decision_reason: str | None = Field(default=None, sa_column=sa.Column("decision_reason", sa.Text))


class MonitoringRound(SQLModel, table=True):
    __tablename__ = "registry_monitoring_round"
    __table_args__ = (sa.UniqueConstraint("township_code", "year", "half"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    township_code: str = Field(sa_column=_code_col("township_code", nullable=False))
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    half: str = Field(
        sa_column=sa.Column("half", sa.String(2), nullable=False)
    )  # H1 = June round, H2 = December round
    opened_at: datetime = Field(sa_column=sa.Column("opened_at", _TS, nullable=False))
    opened_by: str = Field(sa_column=sa.Column("opened_by", sa.String(64), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column("closed_at", _TS))
    closed_by: str | None = Field(default=None, sa_column=sa.Column("closed_by", sa.String(64)))
    summary: str | None = Field(default=None, sa_column=sa.Column("summary", sa.Text))


class MonitoringFinding(SQLModel, table=True):
    __tablename__ = "registry_monitoring_finding"
    __table_args__ = (sa.UniqueConstraint("round_id", "pairing_id"),)

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    round_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "round_id", UUID(as_uuid=True), sa.ForeignKey("registry_monitoring_round.id"), nullable=False
        )
    )
    pairing_id: uuid.UUID = Field(sa_column=sa.Column("pairing_id", UUID(as_uuid=True), nullable=False))
    household_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "household_id", UUID(as_uuid=True), sa.ForeignKey("registry_household.id"), nullable=False
        )
    )
    cadre_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "cadre_id", UUID(as_uuid=True), sa.ForeignKey("registry_cadre.id"), nullable=False
        )
    )
    projects: str = Field(sa_column=sa.Column("projects", sa.Text, nullable=False))
    funds_fen: int = Field(
        sa_column=sa.Column("funds_fen", sa.BigInteger, nullable=False, server_default="0")
    )
    results: str = Field(sa_column=sa.Column("results", sa.Text, nullable=False))
    visits_in_year: int = Field(sa_column=sa.Column("visits_in_year", sa.Integer, nullable=False))
    flags: list[str] = Field(
        sa_column=sa.Column("flags", ARRAY(sa.String(32)), nullable=False, server_default="{}")
    )
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


# -- import and export jobs (issue #15, migration reg0012; services/registry/jobs/) ------------------------------
class Job(SQLModel, table=True):
    """An import or export job: its principal's scope, Idempotency-Key, progress and result."""

    __tablename__ = "registry_job"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('import', 'export')", name="ck_registry_job_kind"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="ck_registry_job_status",
        ),
        sa.UniqueConstraint("principal_sub", "idempotency_key", name="uq_registry_job_idempotency"),
        sa.Index("ix_registry_job_principal", "principal_sub", "created_at", "id"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    kind: str = Field(sa_column=sa.Column("kind", sa.String(16), nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    principal_sub: str = Field(sa_column=sa.Column("principal_sub", sa.String(64), nullable=False))
    role: str = Field(sa_column=sa.Column("role", sa.String(32), nullable=False))
    region_code: str = Field(sa_column=sa.Column("region_code", sa.String(12, collation="C"), nullable=False))
    idempotency_key: str | None = Field(sa_column=sa.Column("idempotency_key", sa.String(255), nullable=True))
    request_hash: str = Field(sa_column=sa.Column("request_hash", sa.String(64), nullable=False))
    lines_total: int = Field(
        sa_column=sa.Column("lines_total", sa.Integer, nullable=False, server_default="0")
    )
    lines_done: int = Field(sa_column=sa.Column("lines_done", sa.Integer, nullable=False, server_default="0"))
    created: int = Field(sa_column=sa.Column("created", sa.Integer, nullable=False, server_default="0"))
    errors_count: int = Field(
        sa_column=sa.Column("errors_count", sa.Integer, nullable=False, server_default="0")
    )
    params: dict[str, Any] = Field(
        sa_column=sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    )
    result: dict[str, Any] | None = Field(sa_column=sa.Column("result", JSONB, nullable=True))
    error_code: str | None = Field(sa_column=sa.Column("error_code", sa.String(64), nullable=True))
    error_detail: str | None = Field(sa_column=sa.Column("error_detail", sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    started_at: datetime | None = Field(sa_column=sa.Column("started_at", _TS, nullable=True))
    finished_at: datetime | None = Field(sa_column=sa.Column("finished_at", _TS, nullable=True))


class JobError(SQLModel, table=True):
    """One bad line of an import job, numbered `n` in line order (the keyset of its pages)."""

    __tablename__ = "registry_job_error"

    job_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "job_id",
            UUID(as_uuid=True),
            sa.ForeignKey("registry_job.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    n: int = Field(sa_column=sa.Column("n", sa.Integer, primary_key=True, autoincrement=False))
    line: int = Field(sa_column=sa.Column("line", sa.Integer, nullable=False))
    pointer: str = Field(sa_column=sa.Column("pointer", sa.Text, nullable=False))
    code: str | None = Field(sa_column=sa.Column("code", sa.String(64), nullable=True))
    message: str = Field(sa_column=sa.Column("message", sa.Text, nullable=False))


class JobChunk(SQLModel, table=True):
    """A job's input (`in`: an import's NDJSON) or output (`out`: an export's file), in chunks of at most 1 MiB."""

    __tablename__ = "registry_job_chunk"
    __table_args__ = (sa.CheckConstraint("kind IN ('in', 'out')", name="ck_registry_job_chunk_kind"),)

    job_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "job_id",
            UUID(as_uuid=True),
            sa.ForeignKey("registry_job.id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    kind: str = Field(sa_column=sa.Column("kind", sa.String(3), primary_key=True))
    seq: int = Field(sa_column=sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=sa.Column("data", sa.LargeBinary, nullable=False))


class Webhook(SQLModel, table=True):
    """A signed webhook subscription (issue #15): its owner's scope, URL, feed types, status and cursor."""

    __tablename__ = "registry_webhook"
    __table_args__ = (
        sa.CheckConstraint("status IN ('active', 'paused', 'failing')", name="ck_registry_webhook_status"),
        sa.Index("ix_registry_webhook_owner", "owner_sub", "created_at", "id"),
        sa.Index("ix_registry_webhook_due", "status", "next_attempt_at"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    owner_sub: str = Field(sa_column=sa.Column("owner_sub", sa.String(64), nullable=False))
    role: str = Field(sa_column=sa.Column("role", sa.String(32), nullable=False))
    region_code: str = Field(sa_column=sa.Column("region_code", sa.String(12, collation="C"), nullable=False))
    url: str = Field(sa_column=sa.Column("url", sa.Text, nullable=False))
    types: list[str] = Field(sa_column=sa.Column("types", ARRAY(sa.Text), nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    status_reason: str | None = Field(sa_column=sa.Column("status_reason", sa.Text, nullable=True))
    cursor: str = Field(sa_column=sa.Column("cursor", sa.Text, nullable=False))
    generation: int = Field(sa_column=sa.Column("generation", sa.Integer, nullable=False, server_default="1"))
    rotated_at: datetime | None = Field(sa_column=sa.Column("rotated_at", _TS, nullable=True))
    next_attempt_at: datetime = Field(sa_column=sa.Column("next_attempt_at", _TS, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column("updated_at", _TS, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One signed POST of a feed page to a subscription: the exact body, its attempts, its next attempt."""

    __tablename__ = "registry_webhook_delivery"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'superseded')", name="ck_registry_webhook_delivery_status"
        ),
        sa.Index("ix_registry_webhook_delivery_webhook", "webhook_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    webhook_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "webhook_id",
            UUID(as_uuid=True),
            sa.ForeignKey("registry_webhook.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    cursor: str = Field(sa_column=sa.Column("cursor", sa.Text, nullable=False))
    next_cursor: str = Field(sa_column=sa.Column("next_cursor", sa.Text, nullable=False))
    item_count: int = Field(sa_column=sa.Column("item_count", sa.Integer, nullable=False))
    body: str = Field(sa_column=sa.Column("body", sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(16), nullable=False))
    attempts: list[dict[str, Any]] = Field(
        sa_column=sa.Column("attempts", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb"))
    )
    attempt_count: int = Field(
        sa_column=sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0")
    )
    first_attempt_at: datetime | None = Field(sa_column=sa.Column("first_attempt_at", _TS, nullable=True))
    next_attempt_at: datetime = Field(sa_column=sa.Column("next_attempt_at", _TS, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    delivered_at: datetime | None = Field(sa_column=sa.Column("delivered_at", _TS, nullable=True))

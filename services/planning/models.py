"""Planning tables: SQLModel classes named `planning_*` (the audit and Idempotency-Key tables come from shared/).

Money is integer fen everywhere (BIGINT, never a float). The money invariants of DOMAIN.md §5 are enforced by the
database as well as by the domain rules, so that they hold under concurrency:

- an allocation's `drawn_fen` (the approved budgets drawing on it) never exceeds its `amount_fen` (CHECK);
- a funding line's counters satisfy 0 <= disbursed <= received <= committed (CHECK, invariant 38), moved only by
  ledger entries in the same transaction;
- the ledger, the plan and project events and the risk-fund entries are append-only (triggers refuse UPDATE and
  DELETE); a reversal is a new negative entry;
- a village's risk-fund balance never goes below zero (CHECK, invariant 42).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field, SQLModel

from shared.audit import audit_table
from shared.db import CODE_COLLATION
from shared.idempotency import idempotency_table

__all__ = [
    "Acceptance",
    "Allocation",
    "Asset",
    "ChangeFeedEntry",
    "ChangeFeedHorizon",
    "EarmarkRule",
    "ForceMajeureEvent",
    "FundingLine",
    "Indicator",
    "IndicatorActual",
    "LedgerEntry",
    "LineTransfer",
    "Milestone",
    "Plan",
    "PlanEvent",
    "PlanIndicator",
    "Project",
    "ProjectAttachment",
    "ProjectBeneficiary",
    "ProjectEvent",
    "RiskFundAccount",
    "RiskFundEntry",
    "VillageProfile",
    "audit_event",
    "idempotency_key",
]

_TS = sa.DateTime(timezone=True)


def _code(nullable: bool = False) -> sa.Column[str]:
    return sa.Column(sa.String(12, collation=CODE_COLLATION), nullable=nullable)


def _now() -> Any:
    return sa.func.now()


# -- village profiles (§5.2) ------------------------------------------------------------------------------------
class VillageProfile(SQLModel, table=True):
    """A village's yearly profile: the declared figures, the registry's figures beside them, and the flags."""

    __tablename__ = "planning_village_profile"

    village_code: str = Field(
        sa_column=sa.Column("village_code", sa.String(12, collation=CODE_COLLATION), primary_key=True)
    )
    year: int = Field(sa_column=sa.Column("year", sa.Integer, primary_key=True))
    #: The declared figures (§5.2: households, population, resident population, area, land, forest, coverage …).
    declared: dict[str, Any] = Field(
        sa_column=sa.Column("declared", JSONB, nullable=False, server_default="{}")
    )
    #: The registry's figures for the year when the profile was saved (poor households and people, population).
    registry_figures: dict[str, Any] = Field(
        sa_column=sa.Column("registry_figures", JSONB, nullable=False, server_default="{}")
    )
    flags: list[str] = Field(
        sa_column=sa.Column("flags", ARRAY(sa.String(40)), nullable=False, server_default="{}")
    )
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=_now())
    )
    updated_by: str = Field(sa_column=sa.Column("updated_by", sa.String(64), nullable=False))


# -- indicators (§5.3) -------------------------------------------------------------------------------------------
class Indicator(SQLModel, table=True):
    """An indicator of the catalogue (shipped as data) or one a county added (`county_code`)."""

    __tablename__ = "planning_indicator"

    code: str = Field(sa_column=sa.Column("code", sa.String(64), primary_key=True))
    label_zh: str = Field(sa_column=sa.Column("label_zh", sa.String(128), nullable=False))
    label_en: str = Field(sa_column=sa.Column("label_en", sa.String(128), nullable=False))
    unit: str = Field(sa_column=sa.Column("unit", sa.String(16), nullable=False))
    direction: str = Field(sa_column=sa.Column("direction", sa.String(16), nullable=False))
    county_code: str | None = Field(default=None, sa_column=_code(nullable=True))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=_now())
    )
    created_by: str = Field(
        sa_column=sa.Column("created_by", sa.String(64), nullable=False, server_default="catalogue")
    )


# -- village plans (§5.1) ----------------------------------------------------------------------------------------
class Plan(SQLModel, table=True):
    """One version of a village plan; an amendment is a new version (`supersedes`) through the same chain."""

    __tablename__ = "planning_plan"
    __table_args__ = (
        sa.CheckConstraint("start_year <= end_year", name="ck_planning_plan_years"),
        sa.CheckConstraint("version >= 1", name="ck_planning_plan_version"),
        sa.UniqueConstraint("lineage_id", "version", name="uq_planning_plan_lineage_version"),
        sa.Index("ix_planning_plan_village", "village_code", "start_year"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    #: The plan across its amendments: every version of one plan shares it.
    lineage_id: uuid.UUID = Field(sa_column=sa.Column("lineage_id", UUID(as_uuid=True), nullable=False))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False))
    supersedes: uuid.UUID | None = Field(default=None, sa_column=sa.Column("supersedes", UUID(as_uuid=True)))
    village_code: str = Field(sa_column=_code())
    plan_type: str = Field(sa_column=sa.Column("plan_type", sa.String(24), nullable=False))
    title: str = Field(sa_column=sa.Column("title", sa.String(200), nullable=False))
    start_year: int = Field(sa_column=sa.Column("start_year", sa.Integer, nullable=False))
    end_year: int = Field(sa_column=sa.Column("end_year", sa.Integer, nullable=False))
    summary: str | None = Field(default=None, sa_column=sa.Column("summary", sa.Text))
    status: str = Field(sa_column=sa.Column("status", sa.String(24), nullable=False, server_default="draft"))
    row_version: int = Field(
        sa_column=sa.Column("row_version", sa.Integer, nullable=False, server_default="1")
    )
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=_now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=_now())
    )


class PlanEvent(SQLModel, table=True):
    """A step in a plan's approval history (append-only): assembly, reviews, returns, activation, closure."""

    __tablename__ = "planning_plan_event"

    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "plan_id", UUID(as_uuid=True), sa.ForeignKey("planning_plan.id"), primary_key=True
        )
    )
    seq: int = Field(sa_column=sa.Column("seq", sa.Integer, primary_key=True))
    step: str = Field(sa_column=sa.Column("step", sa.String(32), nullable=False))
    data: dict[str, Any] = Field(sa_column=sa.Column("data", JSONB, nullable=False, server_default="{}"))
    reason: str | None = Field(default=None, sa_column=sa.Column("reason", sa.String(1000)))
    status_after: str = Field(sa_column=sa.Column("status_after", sa.String(24), nullable=False))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False))
    actor: str = Field(sa_column=sa.Column("actor", sa.String(64), nullable=False))
    role: str = Field(sa_column=sa.Column("role", sa.String(32), nullable=False))


class PlanIndicator(SQLModel, table=True):
    """A target of a plan (invariant 40): unit, baseline (value, year), target (value, year), direction."""

    __tablename__ = "planning_plan_indicator"
    __table_args__ = (
        sa.CheckConstraint("baseline_year <= target_year", name="ck_planning_plan_indicator_years"),
    )

    plan_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "plan_id", UUID(as_uuid=True), sa.ForeignKey("planning_plan.id"), primary_key=True
        )
    )
    indicator_code: str = Field(
        sa_column=sa.Column(
            "indicator_code", sa.String(64), sa.ForeignKey("planning_indicator.code"), primary_key=True
        )
    )
    unit: str = Field(sa_column=sa.Column("unit", sa.String(16), nullable=False))
    direction: str = Field(sa_column=sa.Column("direction", sa.String(16), nullable=False))
    baseline_value: Decimal = Field(sa_column=sa.Column("baseline_value", sa.Numeric(18, 4), nullable=False))
    baseline_year: int = Field(sa_column=sa.Column("baseline_year", sa.Integer, nullable=False))
    target_value: Decimal = Field(sa_column=sa.Column("target_value", sa.Numeric(18, 4), nullable=False))
    target_year: int = Field(sa_column=sa.Column("target_year", sa.Integer, nullable=False))


class IndicatorActual(SQLModel, table=True):
    """The value an indicator reached in a year, for a village (append-only versions: the newest counts)."""

    __tablename__ = "planning_indicator_actual"

    village_code: str = Field(
        sa_column=sa.Column("village_code", sa.String(12, collation=CODE_COLLATION), primary_key=True)
    )
    indicator_code: str = Field(
        sa_column=sa.Column(
            "indicator_code", sa.String(64), sa.ForeignKey("planning_indicator.code"), primary_key=True
        )
    )
    year: int = Field(sa_column=sa.Column("year", sa.Integer, primary_key=True))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, primary_key=True))
    value: Decimal = Field(sa_column=sa.Column("value", sa.Numeric(18, 4), nullable=False))
    source: str | None = Field(default=None, sa_column=sa.Column("source", sa.String(200)))
    recorded_at: datetime = Field(
        sa_column=sa.Column("recorded_at", _TS, nullable=False, server_default=_now())
    )
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


# -- projects (§5.5, §5.7, §5.8) ---------------------------------------------------------------------------------
class Project(SQLModel, table=True):
    """A project of the library: where, what, how much, who; its approval state and budget."""

    __tablename__ = "planning_project"
    __table_args__ = (
        sa.CheckConstraint("budget_fen >= 0", name="ck_planning_project_budget"),
        sa.Index("ix_planning_project_village", "village_code", "id"),
        sa.Index("ix_planning_project_plan", "plan_id"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    plan_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("plan_id", UUID(as_uuid=True), sa.ForeignKey("planning_plan.id"))
    )
    village_code: str = Field(sa_column=_code())
    natural_village: str | None = Field(default=None, sa_column=sa.Column("natural_village", sa.String(64)))
    category: str = Field(sa_column=sa.Column("category", sa.String(40), nullable=False))
    name: str = Field(sa_column=sa.Column("name", sa.String(200), nullable=False))
    quantity: Decimal | None = Field(default=None, sa_column=sa.Column("quantity", sa.Numeric(14, 2)))
    unit: str | None = Field(default=None, sa_column=sa.Column("unit", sa.String(16)))
    starts_on: date | None = Field(default=None, sa_column=sa.Column("starts_on", sa.Date))
    finishes_on: date | None = Field(default=None, sa_column=sa.Column("finishes_on", sa.Date))
    implementing_party: str | None = Field(
        default=None, sa_column=sa.Column("implementing_party", sa.String(200))
    )
    responsible_person: str | None = Field(
        default=None, sa_column=sa.Column("responsible_person", sa.String(64))
    )
    expected_outputs: str | None = Field(default=None, sa_column=sa.Column("expected_outputs", sa.Text))
    budget_fen: int = Field(sa_column=sa.Column("budget_fen", sa.BigInteger, nullable=False))
    status: str = Field(sa_column=sa.Column("status", sa.String(24), nullable=False, server_default="draft"))
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(
        sa_column=sa.Column("created_at", _TS, nullable=False, server_default=_now())
    )
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=_now())
    )


class ProjectEvent(SQLModel, table=True):
    """A step of a project's approval and life (append-only): 四议两公开, reviews, returns, start, completion."""

    __tablename__ = "planning_project_event"

    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), primary_key=True
        )
    )
    seq: int = Field(sa_column=sa.Column("seq", sa.Integer, primary_key=True))
    step: str = Field(sa_column=sa.Column("step", sa.String(32), nullable=False))
    data: dict[str, Any] = Field(sa_column=sa.Column("data", JSONB, nullable=False, server_default="{}"))
    reason: str | None = Field(default=None, sa_column=sa.Column("reason", sa.String(1000)))
    status_after: str = Field(sa_column=sa.Column("status_after", sa.String(24), nullable=False))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False))
    actor: str = Field(sa_column=sa.Column("actor", sa.String(64), nullable=False))
    role: str = Field(sa_column=sa.Column("role", sa.String(32), nullable=False))


class ProjectBeneficiary(SQLModel, table=True):
    """A registry household a project benefits (checked over HTTP: it exists and lies in the project's area)."""

    __tablename__ = "planning_project_beneficiary"

    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), primary_key=True
        )
    )
    household_id: uuid.UUID = Field(sa_column=sa.Column("household_id", UUID(as_uuid=True), primary_key=True))
    village_code: str = Field(sa_column=_code())
    #: The household's registry status when it was added (a registered poor household counts for 带贫益贫).
    status_when_added: str = Field(sa_column=sa.Column("status_when_added", sa.String(32), nullable=False))
    added_at: datetime = Field(sa_column=sa.Column("added_at", _TS, nullable=False, server_default=_now()))
    added_by: str = Field(sa_column=sa.Column("added_by", sa.String(64), nullable=False))


class Milestone(SQLModel, table=True):
    """A milestone of a project's schedule, with its progress."""

    __tablename__ = "planning_milestone"
    __table_args__ = (sa.CheckConstraint("percent BETWEEN 0 AND 100", name="ck_planning_milestone_percent"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), nullable=False
        )
    )
    name: str = Field(sa_column=sa.Column("name", sa.String(200), nullable=False))
    due_on: date = Field(sa_column=sa.Column("due_on", sa.Date, nullable=False))
    percent: int = Field(sa_column=sa.Column("percent", sa.Integer, nullable=False, server_default="0"))
    done_on: date | None = Field(default=None, sa_column=sa.Column("done_on", sa.Date))
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(1000)))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=_now())
    )
    updated_by: str = Field(sa_column=sa.Column("updated_by", sa.String(64), nullable=False))


class ProjectAttachment(SQLModel, table=True):
    """A photo or document of a project's implementation, by content hash (like a help record's photos)."""

    __tablename__ = "planning_project_attachment"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "sha256", name="uq_planning_project_attachment_hash"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), nullable=False
        )
    )
    milestone_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("milestone_id", UUID(as_uuid=True))
    )
    sha256: str = Field(sa_column=sa.Column("sha256", sa.String(64), nullable=False))
    content_type: str = Field(sa_column=sa.Column("content_type", sa.String(64), nullable=False))
    size: int = Field(sa_column=sa.Column("size", sa.Integer, nullable=False))
    data: bytes = Field(sa_column=sa.Column("data", sa.LargeBinary, nullable=False))
    uploaded_at: datetime = Field(sa_column=sa.Column("uploaded_at", _TS, nullable=False))
    uploaded_by: str = Field(sa_column=sa.Column("uploaded_by", sa.String(64), nullable=False))


class Acceptance(SQLModel, table=True):
    """The completion acceptance (验收) of a project: findings, result, who accepted."""

    __tablename__ = "planning_acceptance"

    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), primary_key=True
        )
    )
    accepted_on: date = Field(sa_column=sa.Column("accepted_on", sa.Date, nullable=False))
    passed: bool = Field(sa_column=sa.Column("passed", sa.Boolean, nullable=False))
    findings: str = Field(sa_column=sa.Column("findings", sa.Text, nullable=False))
    accepted_by: str = Field(sa_column=sa.Column("accepted_by", sa.String(200), nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


class Asset(SQLModel, table=True):
    """An asset a project formed (资产确权): type, value, owner and the households that benefit."""

    __tablename__ = "planning_asset"
    __table_args__ = (sa.CheckConstraint("value_fen >= 0", name="ck_planning_asset_value"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), nullable=False
        )
    )
    asset_type: str = Field(sa_column=sa.Column("asset_type", sa.String(40), nullable=False))
    description: str = Field(sa_column=sa.Column("description", sa.String(500), nullable=False))
    value_fen: int = Field(sa_column=sa.Column("value_fen", sa.BigInteger, nullable=False))
    owner_kind: str = Field(sa_column=sa.Column("owner_kind", sa.String(24), nullable=False))
    owner_name: str = Field(sa_column=sa.Column("owner_name", sa.String(200), nullable=False))
    beneficiary_household_ids: list[uuid.UUID] = Field(
        sa_column=sa.Column(
            "beneficiary_household_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default="{}"
        )
    )
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


# -- money (§5.6, §5.9, §5.10) -----------------------------------------------------------------------------------
class Allocation(SQLModel, table=True):
    """A county's yearly allocation from one funding source (文号, amount); approved budgets draw on it."""

    __tablename__ = "planning_allocation"
    __table_args__ = (
        sa.CheckConstraint("amount_fen >= 0", name="ck_planning_allocation_amount"),
        sa.CheckConstraint("drawn_fen >= 0 AND drawn_fen <= amount_fen", name="ck_planning_allocation_drawn"),
        sa.UniqueConstraint("county_code", "document_number", name="uq_planning_allocation_document"),
        sa.Index("ix_planning_allocation_county", "county_code", "year"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    county_code: str = Field(sa_column=_code())
    year: int = Field(sa_column=sa.Column("year", sa.Integer, nullable=False))
    source: str = Field(sa_column=sa.Column("source", sa.String(40), nullable=False))
    document_number: str = Field(sa_column=sa.Column("document_number", sa.String(100), nullable=False))
    amount_fen: int = Field(sa_column=sa.Column("amount_fen", sa.BigInteger, nullable=False))
    #: The sum of the committed amounts of approved projects' lines drawing on this allocation.
    drawn_fen: int = Field(
        sa_column=sa.Column("drawn_fen", sa.BigInteger, nullable=False, server_default="0")
    )
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(500)))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


class FundingLine(SQLModel, table=True):
    """One funding line of a project: a source, its funder, the committed amount and what was received and paid."""

    __tablename__ = "planning_funding_line"
    __table_args__ = (
        # Invariant 38, held by the database whatever the order of concurrent entries: 0 <= paid <= in <= promised.
        sa.CheckConstraint(
            "committed_fen >= 0 AND received_fen >= 0 AND disbursed_fen >= 0"
            " AND disbursed_fen <= received_fen AND received_fen <= committed_fen",
            name="ck_planning_funding_line_counters",
        ),
        sa.Index("ix_planning_funding_line_project", "project_id"),
        sa.Index("ix_planning_funding_line_allocation", "allocation_id"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), nullable=False
        )
    )
    source: str = Field(sa_column=sa.Column("source", sa.String(40), nullable=False))
    funder: str = Field(sa_column=sa.Column("funder", sa.String(200), nullable=False))
    allocation_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column("allocation_id", UUID(as_uuid=True), sa.ForeignKey("planning_allocation.id")),
    )
    committed_fen: int = Field(sa_column=sa.Column("committed_fen", sa.BigInteger, nullable=False))
    received_fen: int = Field(
        sa_column=sa.Column("received_fen", sa.BigInteger, nullable=False, server_default="0")
    )
    disbursed_fen: int = Field(
        sa_column=sa.Column("disbursed_fen", sa.BigInteger, nullable=False, server_default="0")
    )
    #: Set when the project's approval drew this line's commitment from its allocation.
    drawn: bool = Field(
        sa_column=sa.Column("drawn", sa.Boolean, nullable=False, server_default=sa.text("false"))
    )
    version: int = Field(sa_column=sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    created_at: datetime = Field(sa_column=sa.Column("created_at", _TS, nullable=False))
    created_by: str = Field(sa_column=sa.Column("created_by", sa.String(64), nullable=False))


class EarmarkRule(SQLModel, table=True):
    """专款专用: whether a funding source may pay a project category (the shipped default, or a county's own)."""

    __tablename__ = "planning_earmark_rule"

    #: "" for the shipped default matrix; a county code for that county's overrides.
    county_code: str = Field(
        sa_column=sa.Column("county_code", sa.String(12, collation=CODE_COLLATION), primary_key=True)
    )
    source: str = Field(sa_column=sa.Column("source", sa.String(40), primary_key=True))
    category: str = Field(sa_column=sa.Column("category", sa.String(40), primary_key=True))
    allowed: bool = Field(sa_column=sa.Column("allowed", sa.Boolean, nullable=False))
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=_now())
    )
    updated_by: str = Field(
        sa_column=sa.Column("updated_by", sa.String(64), nullable=False, server_default="catalogue")
    )


class LedgerEntry(SQLModel, table=True):
    """A receipt onto a funding line or a disbursement from it (append-only; a reversal is a negative entry)."""

    __tablename__ = "planning_ledger_entry"
    __table_args__ = (
        sa.CheckConstraint("amount_fen <> 0", name="ck_planning_ledger_entry_amount"),
        sa.Index("ix_planning_ledger_entry_line", "line_id", "id"),
        sa.Index("ix_planning_ledger_entry_project", "project_id", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    line_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "line_id", UUID(as_uuid=True), sa.ForeignKey("planning_funding_line.id"), nullable=False
        )
    )
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), nullable=False
        )
    )
    kind: str = Field(sa_column=sa.Column("kind", sa.String(16), nullable=False))  # receipt, disbursement
    amount_fen: int = Field(sa_column=sa.Column("amount_fen", sa.BigInteger, nullable=False))
    stage: str | None = Field(default=None, sa_column=sa.Column("stage", sa.String(16)))
    payee: str | None = Field(default=None, sa_column=sa.Column("payee", sa.String(200)))
    voucher: str | None = Field(default=None, sa_column=sa.Column("voucher", sa.String(100)))
    approved_by: str | None = Field(default=None, sa_column=sa.Column("approved_by", sa.String(200)))
    reverses: int | None = Field(default=None, sa_column=sa.Column("reverses", sa.BigInteger))
    entry_date: date = Field(sa_column=sa.Column("entry_date", sa.Date, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


class LineTransfer(SQLModel, table=True):
    """Money moved between two funding lines of a project (渠道不乱): recorded with the county's re-approval."""

    __tablename__ = "planning_line_transfer"
    __table_args__ = (sa.CheckConstraint("amount_fen > 0", name="ck_planning_line_transfer_amount"),)

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id"), nullable=False
        )
    )
    from_line_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "from_line_id", UUID(as_uuid=True), sa.ForeignKey("planning_funding_line.id"), nullable=False
        )
    )
    to_line_id: uuid.UUID = Field(
        sa_column=sa.Column(
            "to_line_id", UUID(as_uuid=True), sa.ForeignKey("planning_funding_line.id"), nullable=False
        )
    )
    amount_fen: int = Field(sa_column=sa.Column("amount_fen", sa.BigInteger, nullable=False))
    approval_document: str = Field(sa_column=sa.Column("approval_document", sa.String(100), nullable=False))
    reason: str = Field(sa_column=sa.Column("reason", sa.String(1000), nullable=False))
    approved_at: datetime = Field(sa_column=sa.Column("approved_at", _TS, nullable=False))
    approved_by: str = Field(sa_column=sa.Column("approved_by", sa.String(64), nullable=False))


# -- risk fund (§5.12) -------------------------------------------------------------------------------------------
class ForceMajeureEvent(SQLModel, table=True):
    """A recorded force-majeure event (drought, flood, epidemic …) a risk-fund payout answers."""

    __tablename__ = "planning_force_majeure_event"

    id: uuid.UUID = Field(sa_column=sa.Column("id", UUID(as_uuid=True), primary_key=True))
    village_code: str = Field(sa_column=_code())
    kind: str = Field(sa_column=sa.Column("kind", sa.String(40), nullable=False))
    occurred_on: date = Field(sa_column=sa.Column("occurred_on", sa.Date, nullable=False))
    description: str = Field(sa_column=sa.Column("description", sa.String(1000), nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


class RiskFundAccount(SQLModel, table=True):
    """A village's risk fund (项目风险金): its balance, never below zero (invariant 42)."""

    __tablename__ = "planning_risk_fund_account"
    __table_args__ = (sa.CheckConstraint("balance_fen >= 0", name="ck_planning_risk_fund_account_balance"),)

    village_code: str = Field(
        sa_column=sa.Column("village_code", sa.String(12, collation=CODE_COLLATION), primary_key=True)
    )
    balance_fen: int = Field(
        sa_column=sa.Column("balance_fen", sa.BigInteger, nullable=False, server_default="0")
    )
    updated_at: datetime = Field(
        sa_column=sa.Column("updated_at", _TS, nullable=False, server_default=_now())
    )


class RiskFundEntry(SQLModel, table=True):
    """A contribution to a village's risk fund or a payout from it (append-only; a payout names its event)."""

    __tablename__ = "planning_risk_fund_entry"
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="ck_planning_risk_fund_entry_amount"),
        sa.CheckConstraint(
            "kind <> 'payout' OR event_id IS NOT NULL", name="ck_planning_risk_fund_entry_payout_event"
        ),
        sa.Index("ix_planning_risk_fund_entry_village", "village_code", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)
    )
    village_code: str = Field(sa_column=_code())
    kind: str = Field(sa_column=sa.Column("kind", sa.String(16), nullable=False))  # contribution, payout
    amount_fen: int = Field(sa_column=sa.Column("amount_fen", sa.BigInteger, nullable=False))
    project_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column("project_id", UUID(as_uuid=True), sa.ForeignKey("planning_project.id")),
    )
    household_id: uuid.UUID | None = Field(
        default=None, sa_column=sa.Column("household_id", UUID(as_uuid=True))
    )
    event_id: uuid.UUID | None = Field(
        default=None,
        sa_column=sa.Column("event_id", UUID(as_uuid=True), sa.ForeignKey("planning_force_majeure_event.id")),
    )
    note: str | None = Field(default=None, sa_column=sa.Column("note", sa.String(500)))
    entry_date: date = Field(sa_column=sa.Column("entry_date", sa.Date, nullable=False))
    recorded_at: datetime = Field(sa_column=sa.Column("recorded_at", _TS, nullable=False))
    recorded_by: str = Field(sa_column=sa.Column("recorded_by", sa.String(64), nullable=False))


# -- the province change feed (issue #15, migration plan0004, services/planning/changes) --------------------------
class Xid8(sa.types.UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (`xid8`, `pg_current_xact_id()`); read and written as text."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


class ChangeFeedEntry(SQLModel, table=True):
    """A change of a plan, a project or a ledger entry (written by the triggers of plan0004, never by code)."""

    __tablename__ = "planning_change"
    __table_args__ = (
        sa.Index("ix_planning_change_txid", "txid", "seq"),
        sa.Index("ix_planning_change_at", "at"),
    )

    seq: int | None = Field(default=None, sa_column=sa.Column("seq", sa.BigInteger, primary_key=True))
    txid: str | None = Field(
        default=None,
        sa_column=sa.Column("txid", Xid8(), nullable=False, server_default=sa.text("pg_current_xact_id()")),
    )
    record_type: str = Field(sa_column=sa.Column("record_type", sa.String(32), nullable=False))
    #: A plan's or project's UUID, or a ledger entry's number, as text.
    record_id: str = Field(sa_column=sa.Column("record_id", sa.Text, nullable=False))
    village_code: str | None = Field(default=None, sa_column=sa.Column("village_code", sa.String(12)))
    old_village_code: str | None = Field(default=None, sa_column=sa.Column("old_village_code", sa.String(12)))
    at: datetime = Field(sa_column=sa.Column("at", _TS, nullable=False, server_default=_now()))


class ChangeFeedHorizon(SQLModel, table=True):
    """The highest transaction id ever pruned from the feed (one row): cursors at or below it answer 410."""

    __tablename__ = "planning_change_horizon"
    __table_args__ = (sa.CheckConstraint("id", name="ck_planning_change_horizon_one_row"),)

    id: bool = Field(
        default=True, sa_column=sa.Column("id", sa.Boolean, primary_key=True, server_default=sa.text("true"))
    )
    pruned_txid: str | None = Field(default=None, sa_column=sa.Column("pruned_txid", Xid8()))


#: The planning audit log (invariant 50): the common columns of shared.audit, plus the project concerned.
audit_event = audit_table(
    "planning_audit_event", SQLModel.metadata, sa.Column("project_id", UUID(as_uuid=True))
)
idempotency_key = idempotency_table("planning_idempotency_key", SQLModel.metadata)

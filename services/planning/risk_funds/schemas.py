"""Risk fund API models (项目风险金, DOMAIN.md §5.12): contributions, force-majeure events, payouts, the account."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from services.planning.risk_funds.domain import ForceMajeureKind, RiskFundEntryKind
from shared.pagination import Page
from shared.schemas import RequestModel, ResponseModel, Yuan

__all__ = [
    "ContributionCreate",
    "ForceMajeureCreate",
    "ForceMajeureKind",
    "ForceMajeurePage",
    "ForceMajeurePublic",
    "PayoutCreate",
    "RiskFundAccountPublic",
    "RiskFundEntryKind",
    "RiskFundEntryPage",
    "RiskFundEntryPublic",
]

#: An amount that moves: more than zero, at most two decimals (a fraction of a fen is a 422).
Amount = Annotated[Yuan, Field(gt=0)]
Note = Annotated[str, Field(max_length=500)]


class ContributionCreate(RequestModel):
    """A payment into the village's risk fund from a planting/breeding project or one of its households."""

    project_id: uuid.UUID = Field(
        description="The project the contribution comes from (a project of the village)"
    )
    household_id: uuid.UUID | None = Field(
        None, description="The beneficiary household that pays (none: the project itself pays)"
    )
    amount_yuan: Amount
    entry_date: date
    note: Note | None = None


class ForceMajeureCreate(RequestModel):
    """A force-majeure event that struck the village's production (the ground of every payout)."""

    kind: ForceMajeureKind
    occurred_on: date
    description: Annotated[str, Field(min_length=1, max_length=1000)]


class ForceMajeurePublic(ResponseModel):
    id: uuid.UUID
    village_code: str
    kind: ForceMajeureKind
    occurred_on: date
    description: str
    recorded_at: datetime
    recorded_by: str


ForceMajeurePage = Page[ForceMajeurePublic]


class PayoutCreate(RequestModel):
    """Production relief out of the fund for a recorded event (at most the balance)."""

    event_id: uuid.UUID
    amount_yuan: Amount
    entry_date: date
    household_id: uuid.UUID | None = Field(
        None, description="The household relieved (a beneficiary of one of the village's projects)"
    )
    project_id: uuid.UUID | None = Field(None, description="The project whose production was struck")
    note: Note | None = None


class RiskFundEntryPublic(ResponseModel):
    """An entry of the fund's ledger (append-only)."""

    id: int
    village_code: str
    kind: RiskFundEntryKind
    amount_yuan: Yuan
    project_id: uuid.UUID | None
    household_id: uuid.UUID | None
    event_id: uuid.UUID | None
    note: str | None
    entry_date: date
    recorded_at: datetime
    recorded_by: str


RiskFundEntryPage = Page[RiskFundEntryPublic]


class RiskFundAccountPublic(ResponseModel):
    """A village's risk fund: its balance (never below zero, invariant 42) and what went in and out."""

    village_code: str
    balance_yuan: Yuan
    contributed_yuan: Yuan
    paid_out_yuan: Yuan
    entries: int
    updated_at: datetime | None

"""Monitoring API models (监测, DOMAIN.md §2.17, §3.3): rounds, findings per pairing, overdue and visit reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from services.registry.monitoring.domain import Half, OverdueState
from shared.schemas import RegionCode, RequestModel, ResponseModel, Yuan

__all__ = [
    "FindingCreate",
    "FindingCreated",
    "FindingPublic",
    "Half",
    "OverdueReport",
    "OverdueRoundPublic",
    "OverdueState",
    "RoundClose",
    "RoundCreate",
    "RoundFinding",
    "RoundPublic",
    "RoundWithFindings",
    "VisitFrequencyReport",
    "VisitShortfall",
]


class RoundCreate(RequestModel):
    """Open the June (H1) or December (H2) round of a township."""

    township_code: RegionCode
    year: Annotated[int, Field(ge=2000, le=2100)]
    half: Half


class FindingCreate(RequestModel):
    """What the round found for one pairing: projects, funds and results per the handbook (扶贫手册)."""

    pairing_id: uuid.UUID
    projects: Annotated[str, Field(min_length=1, max_length=2000, description="Help projects (帮扶项目)")]
    funds_yuan: Annotated[Yuan, Field(le=Decimal("99999999.99"))] = Decimal("0.00")
    results: Annotated[str, Field(min_length=1, max_length=2000, description="Help results (帮扶成效)")]


class RoundClose(RequestModel):
    summary: Annotated[str, Field(min_length=1, max_length=10_000, description="Summary for the county")]
    empty_reason: Annotated[
        str | None,
        Field(
            default=None,
            max_length=2000,
            description="Why the round closes without any finding (required then; 空轮次原因)",
        ),
    ] = None


class RoundPublic(ResponseModel):
    """A monitoring round (监测轮次) of a township."""

    id: uuid.UUID
    township_code: str
    year: int
    half: Half
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    closed_by: str | None
    summary: str | None


class FindingPublic(ResponseModel):
    """A round's finding on one pairing."""

    id: int
    round_id: uuid.UUID
    pairing_id: uuid.UUID
    household_id: uuid.UUID
    cadre_id: uuid.UUID
    projects: str
    funds_fen: int
    results: str
    visits_in_year: int = Field(description="Help visits the pairing's cadre recorded in the round's year")
    flags: list[str] = Field(
        description="`visits_below_minimum` when below the policy minimum (invariant 33)"
    )
    recorded_at: datetime
    recorded_by: str


class FindingCreated(FindingPublic):
    minimum_visits: int = Field(description="The policy minimum the visits were compared with")


class RoundFinding(FindingPublic):
    cadre_name: str
    head_name: str
    funds_yuan: Yuan


class RoundWithFindings(RoundPublic):
    findings: list[RoundFinding]


class OverdueRoundPublic(ResponseModel):
    township_code: str
    name: str
    year: int
    half: Half
    due: date
    state: OverdueState


class OverdueReport(ResponseModel):
    """Townships whose June or December round was not closed by its due date (invariant 20)."""

    region: str
    on: date
    items: list[OverdueRoundPublic]


class VisitShortfall(ResponseModel):
    """A pairing in force during the year whose cadre visited less often than the minimum."""

    pairing_id: uuid.UUID
    household_id: uuid.UUID
    head_name: str
    village_code: str
    cadre_name: str
    visits: int


class VisitFrequencyReport(ResponseModel):
    region: str
    year: int
    minimum_visits: int
    items: list[VisitShortfall]

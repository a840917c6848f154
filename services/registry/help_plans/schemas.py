"""Help plan API models (一户一策, DOMAIN.md §4.3): measures from the catalogue of §4.1 (invariants 34, 35)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from services.registry.help_plans.domain import FundingSource, Measure
from shared.schemas import RequestModel, ResponseModel
from shared.schemas import Yuan as _Yuan

__all__ = [
    "AcknowledgementPublic",
    "FundingSource",
    "Measure",
    "PlanAck",
    "PlanItem",
    "PlanItemPublic",
    "PlanPublic",
    "PlanSet",
    "ProgressIn",
    "ProgressPublic",
]

Yuan = Annotated[_Yuan, Field(le=Decimal("99999999.99"))]


class PlanItem(RequestModel):
    item_id: uuid.UUID | None = Field(
        None, description="Keep an item's id across versions; new items get one"
    )
    measure: Measure
    description: Annotated[str, Field(min_length=1, max_length=1000)]
    responsible_cadre_id: uuid.UUID
    due_date: date
    expected_income_gain_yuan: Yuan = Decimal("0.00")
    cost_yuan: Yuan = Decimal("0.00")
    funding_source: FundingSource | None = None
    funding_amount_yuan: Yuan | None = None


class PlanSet(RequestModel):
    """A new version of the household's plan (帮扶计划)."""

    year_from: Annotated[int, Field(ge=2000, le=2100)]
    year_to: Annotated[int, Field(ge=2000, le=2100)]
    target_exit_year: Annotated[int, Field(ge=2000, le=2100)]
    items: Annotated[list[PlanItem], Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(max_length=1000)] | None = None


class PlanAck(RequestModel):
    """The household head's acknowledgement (签字确认) of a version."""

    version: Annotated[int, Field(ge=1)]
    signatory: Annotated[str, Field(min_length=1, max_length=64, description="The household head who signed")]
    acknowledged_on: date


class ProgressIn(RequestModel):
    percent: Annotated[int, Field(ge=0, le=100)]
    completed_on: date | None = None
    note: Annotated[str, Field(max_length=1000)] | None = None


class ProgressPublic(ResponseModel):
    """One progress entry on a measure (appended, never changed)."""

    percent: int
    completed_on: date | None
    note: str | None
    recorded_at: datetime
    recorded_by: str


class PlanItemPublic(ResponseModel):
    """A measure of the plan as stored in its version, with the progress recorded on it."""

    item_id: uuid.UUID
    measure: Measure
    description: str
    responsible_cadre_id: uuid.UUID
    due_date: date
    expected_income_gain_yuan: _Yuan
    cost_yuan: _Yuan
    funding_source: FundingSource | None
    funding_amount_yuan: _Yuan | None
    funding_gap_yuan: _Yuan = Field(
        Decimal("0.00"),
        description="Cost not covered by the funding line (invariant 36: flagged, not hidden)",
    )
    flags: list[str] = Field(default_factory=list, description="`funding_gap` when the funding falls short")
    progress: ProgressPublic | None = Field(None, description="The latest entry")
    progress_history: list[ProgressPublic] = Field(
        default_factory=list, description="Every entry, oldest first"
    )


class AcknowledgementPublic(ResponseModel):
    signatory: str
    acknowledged_on: date
    recorded_by: str


class PlanPublic(ResponseModel):
    """One version of a household's help plan (一户一策); its version is its ETag."""

    household_id: uuid.UUID
    version: int
    year_from: int
    year_to: int
    target_exit_year: int
    expected_income_gain_yuan: _Yuan = Field(description="Sum over the items")
    cost_yuan: _Yuan = Field(description="Sum over the items")
    funding_gap_yuan: _Yuan = Field(Decimal("0.00"), description="Sum of the items' funding gaps")
    note: str | None
    created_at: datetime
    created_by: str
    acknowledged: AcknowledgementPublic | None = Field(
        description="The head's acknowledgement of this version"
    )
    items: list[PlanItemPublic]

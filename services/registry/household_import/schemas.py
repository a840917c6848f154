"""Bulk registration API models: one NDJSON line (a household) and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.registry.household_import.domain import MAX_ERRORS
from services.registry.households.schemas import HouseholdCreate, IncomeSet, Year

__all__ = ["MAX_ERRORS", "BulkHousehold", "BulkIncome", "ImportLineError", "ImportResult"]


class BulkIncome(IncomeSet):
    """The income of one reference year, with the year."""

    year: Year


class BulkHousehold(HouseholdCreate):
    """One NDJSON line: `HouseholdCreate` plus where it stands and, optionally, an income year."""

    status: Literal["candidate", "registered"] = Field(
        "candidate", description="`registered`: identified elsewhere, its history starts at registration"
    )
    income: BulkIncome | None = None


class ImportLineError(BaseModel):
    line: int
    pointer: str = Field(description="JSON pointer (RFC 6901) of the field; empty for the whole line")
    message: str


class ImportResult(BaseModel):
    """What an import wrote (or, with `dry_run`, would write); `errors` is empty on success."""

    dry_run: bool
    households: int = 0
    members: int = 0
    registered: int = 0
    errors: list[ImportLineError] = Field(default_factory=list)

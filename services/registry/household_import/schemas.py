"""Bulk registration API models: one NDJSON line (a household) and the answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.registry.household_import.domain import (
    DEFAULT_CHECK_ROWS_PER_HOUR,
    MAX_ERRORS,
    MAX_SOURCE_DOCUMENT,
    ImportMode,
)
from services.registry.households.schemas import HouseholdCreate, IncomeSet, Year

__all__ = [
    "DEFAULT_CHECK_ROWS_PER_HOUR",
    "MAX_ERRORS",
    "MAX_SOURCE_DOCUMENT",
    "BulkHousehold",
    "BulkIncome",
    "ImportLineError",
    "ImportMode",
    "ImportResult",
]


class BulkIncome(IncomeSet):
    """The income of one reference year, with the year."""

    year: Year


class BulkHousehold(HouseholdCreate):
    """One NDJSON line: `HouseholdCreate` plus where it stands and, optionally, an income year."""

    status: Literal["candidate", "registered"] = Field(
        "candidate",
        description="`registered` only in a migration (`mode=migration`): identified elsewhere, its history "
        "starts at registration; an ordinary import brings candidates",
    )
    income: BulkIncome | None = None


class ImportLineError(BaseModel):
    line: int
    pointer: str = Field(description="JSON pointer (RFC 6901) of the field; empty for the whole line")
    message: str
    code: str | None = Field(
        None,
        description="Stable code of the error where it has one: `registered_requires_migration`, "
        "`person_already_member` (in your scope), `person_registration_conflict` (not in your scope)",
    )


class ImportResult(BaseModel):
    """What an import wrote (or, with `dry_run`, would write); `errors` is empty on success."""

    dry_run: bool
    mode: str = Field("registration", description="`registration` (candidates) or `migration`")
    source_document: str | None = None
    households: int = 0
    members: int = 0
    registered: int = 0
    errors: list[ImportLineError] = Field(default_factory=list)

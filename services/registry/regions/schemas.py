"""API models of the region tree, statuses, policy parameters, quotas and population."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, WithJsonSchema

from services.registry.regions.domain import ParameterKind, RegionStatusKind
from shared.pagination import Page
from shared.roles import RegionLevel
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "EffectiveParameter",
    "ImportResult",
    "PolicyParameterSet",
    "PolicyPublic",
    "PopulationSet",
    "QuotaChild",
    "QuotaPublic",
    "QuotaSet",
    "RegionCreate",
    "RegionPage",
    "RegionPublic",
    "RegionStatusKind",
    "StatusesPublic",
    "StatusesSet",
]


class RegionCreate(RequestModel):
    code: RegionCode
    name: Annotated[str, Field(min_length=1, max_length=128, examples=["新靖镇"])]
    parent_code: RegionCode | None = Field(
        None, description="Nearest existing ancestor; derived when omitted"
    )


class RegionPublic(ResponseModel):
    code: str
    name: str
    level: RegionLevel
    parent_code: str | None
    version: int
    created_at: datetime
    updated_at: datetime


#: A page of regions, by code.
RegionPage = Page[RegionPublic]


class StatusesSet(RequestModel):
    statuses: Annotated[list[RegionStatusKind], Field(max_length=7, examples=[["poor_village"]])]


class StatusesPublic(ResponseModel):
    region_code: str
    statuses_by_year: dict[int, list[RegionStatusKind]] = Field(
        description="Year → statuses held that year (years without statuses are absent)"
    )


class ImportResult(ResponseModel):
    dry_run: bool
    rows: int
    created: int
    updated: int = Field(description="Existing regions whose name changed")
    unchanged: int


#: A policy parameter's value: whole yuan, days or counts (`"3500"`), or a percentage with two places (`"4.50"`).
POLICY_VALUE_PATTERN = r"^-?[0-9]+(\.[0-9]{1,2})?$"


def _policy_text(value: int | Decimal) -> str:
    return str(value) if isinstance(value, int) else f"{value:.2f}"


#: One wire type for every parameter (a decimal string); a number is accepted on input too.
PolicyValue = Annotated[
    int | Decimal,
    PlainSerializer(_policy_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": POLICY_VALUE_PATTERN,
            "description": 'Whole yuan, days or counts (`"3500"`), or a percentage with two places (`"4.50"`)',
            "examples": ["3500"],
        }
    ),
]


class PolicyParameterSet(RequestModel):
    value: Annotated[
        PolicyValue,
        Field(description="Whole yuan/days, or a percentage with at most two decimals", examples=["3500"]),
    ]
    reason: Annotated[str, Field(min_length=1, max_length=500, examples=["县定标准 (county line)"])]


class EffectiveParameter(ResponseModel):
    name: str
    kind: ParameterKind
    description: str
    value: PolicyValue | None
    source: str = Field(description="'region' (a row along the ancestor chain), 'default' or 'unset'")
    region_code: str | None = Field(None, description="The region whose row applies (source 'region')")
    version: int | None = None
    valid_from: datetime | None = None
    created_by: str | None = None
    reason: str | None = None


class PolicyPublic(ResponseModel):
    region_code: str
    year: int
    parameters: list[EffectiveParameter]


class QuotaSet(RequestModel):
    people: Annotated[int, Field(ge=0, le=2**31 - 1, examples=[5996])]


class QuotaChild(ResponseModel):
    region_code: str
    name: str
    people: int | None
    used: int = Field(
        description="People in households counted against this year's quota (past village review)"
    )


class QuotaPublic(ResponseModel):
    region_code: str
    year: int
    people: int | None = Field(description="This region's quota; null when none is set")
    version: int | None
    allocated: int = Field(description="Sum of the quotas of the child regions")
    remaining: int | None = Field(description="people - allocated; null when no quota is set")
    used: int = Field(description="People in households of this region counted against this year's quota")
    warnings: list[str] = Field(
        default_factory=list,
        description="`equal_distribution` when every child got the same quota (平均分配, invariant 26)",
    )
    children: list[QuotaChild]


class PopulationSet(RequestModel):
    """A region's registered rural population for a year (the base of poverty incidence)."""

    population: Annotated[int, Field(ge=0, le=2**31 - 1, examples=[1560])]
    households: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None

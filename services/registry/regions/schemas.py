"""Registry API models."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from shared.roles import RegionLevel
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "ImportResult",
    "PolicyParameterSet",
    "PolicyPublic",
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


class RegionPage(ResponseModel):
    items: list[RegionPublic]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null at the end")


class RegionStatusKind(enum.StrEnum):
    """Special statuses a region holds per year (DOMAIN.md §1.1)."""

    poor_county = "poor_county"  # 贫困县
    old_revolutionary_base = "old_revolutionary_base"  # 老区
    poor_village = "poor_village"  # 贫困村
    national_poor_village = "national_poor_village"  # 国定扶贫村
    provincial_poor_village = "provincial_poor_village"  # 省扶贫村
    extremely_poor_natural_village = "extremely_poor_natural_village"  # 特困自然村
    designated_help_village = "designated_help_village"  # 定点帮扶村


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


class PolicyParameterSet(RequestModel):
    value: Annotated[
        int | Decimal,
        Field(description="Integer yuan/days, or a percentage with at most two decimals", examples=[3500]),
    ]
    reason: Annotated[str, Field(min_length=1, max_length=500, examples=["县定标准 (county line)"])]


class EffectiveParameter(ResponseModel):
    name: str
    kind: str
    description: str
    value: int | Decimal | None
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

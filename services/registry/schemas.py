"""Registry API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from shared.regions import RegionLevel
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = ["RegionCreate", "RegionPage", "RegionPublic"]


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

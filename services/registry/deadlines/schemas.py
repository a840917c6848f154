"""API models of the yearly update and upload deadlines (invariant 20)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field

from services.registry.deadlines.domain import DeadlineState
from shared.schemas import RequestModel, ResponseModel, UtcDatetime

__all__ = ["DeadlinePublic", "DeadlinesPublic", "TownshipDeadlines", "UploadRecord", "UploadReport"]


class UploadReport(RequestModel):
    """A township's upload of a year's data to the national information system (扶贫开发信息系统)."""

    reference: Annotated[str, Field(min_length=1, max_length=200, examples=["国扶办系统回执 2015-0217-0031"])]


class UploadRecord(ResponseModel):
    region_code: str
    year: int = Field(description="The year whose data was uploaded")
    uploaded_at: UtcDatetime
    uploaded_by: str
    reference: str


class DeadlinePublic(ResponseModel):
    due: dt.date = Field(description="The last day (China date)")
    state: DeadlineState
    state_label: str
    done_at: UtcDatetime | None = Field(description="When it was done (the upload); null for the update")


class TownshipDeadlines(ResponseModel):
    region_code: str
    name: str
    update: DeadlinePublic = Field(
        description="The update of the year's data by 31 January (incomes recorded)"
    )
    upload: DeadlinePublic = Field(description="The upload to the national system by the end of February")


class DeadlinesPublic(ResponseModel):
    region_code: str
    year: int = Field(description="The data year Y: deadlines fall in January and February of Y+1")
    townships: list[TownshipDeadlines]

"""API models of the metric catalogue (`GET /metric-catalogue`)."""

from __future__ import annotations

from pydantic import Field

from services.assessment.metrics.domain import Direction, MetricSource, MetricUnit, SubjectType
from shared.pagination import Page
from shared.schemas import ResponseModel

__all__ = ["Direction", "MetricPage", "MetricPublic", "MetricSource", "MetricUnit", "SubjectType"]


class MetricPublic(ResponseModel):
    """A metric of the catalogue: one figure per subject and year that schemes read."""

    code: str = Field(examples=["poverty_incidence"])
    label_zh: str = Field(description="The zh-CN name (中文名称)", examples=["贫困发生率"])
    label_en: str
    unit: MetricUnit
    direction: Direction
    source: MetricSource
    subject_types: list[SubjectType] = Field(description="The subjects that have this figure")
    description: str


#: A page of metrics, by code.
MetricPage = Page[MetricPublic]

"""API models of the indicator catalogue, and the one wire type of an indicator's values (`IndicatorValue`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, WithJsonSchema

from services.planning.indicators.domain import CODE_PATTERN, VALUE_LIMIT, Direction, IndicatorOrigin, Unit
from shared.pagination import Page
from shared.schemas import RequestModel, ResponseModel

__all__ = [
    "VALUE_PATTERN",
    "Direction",
    "IndicatorCreate",
    "IndicatorOrigin",
    "IndicatorPage",
    "IndicatorPublic",
    "IndicatorValue",
    "Unit",
    "plain_decimal",
]

#: An indicator's value on the wire: a decimal string with up to four places (`"14.1"`, `"1718"`, `"0.3"`).
VALUE_PATTERN = r"^-?[0-9]+(\.[0-9]{1,4})?$"


def plain_decimal(value: Decimal) -> str:
    """A decimal as plain text without trailing zeros or exponent: 14.1000 → "14.1", 100 → "100"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


#: The value of an indicator (a baseline, a target, an actual, a checklist figure): one decimal-string type;
#: a number or a string with at most four places is accepted on input. The unit's range is a domain rule.
IndicatorValue = Annotated[
    Decimal,
    Field(ge=-VALUE_LIMIT, le=VALUE_LIMIT, decimal_places=4),
    PlainSerializer(plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": VALUE_PATTERN,
            "description": "A decimal string with at most four places, in the indicator's unit",
            "examples": ["14.1"],
        }
    ),
]


class IndicatorCreate(RequestModel):
    """An indicator the county adds to its catalogue (县自定指标)."""

    code: Annotated[str, Field(pattern=CODE_PATTERN, examples=["mushroom_households"])]
    label_zh: Annotated[str, Field(min_length=1, max_length=128, examples=["食用菌种植户数"])]
    label_en: Annotated[str, Field(min_length=1, max_length=128, examples=["Mushroom-growing households"])]
    unit: Unit
    direction: Direction


class IndicatorPublic(ResponseModel):
    """An indicator of the catalogue: the shipped ones (DOMAIN.md §5.3) and the county's own."""

    code: str
    label_zh: str = Field(description="The zh-CN name (中文名称)")
    label_en: str
    unit: Unit
    direction: Direction
    origin: IndicatorOrigin
    county_code: str | None = Field(description="The county that added it; null for the shipped catalogue")
    created_at: datetime
    created_by: str


#: A page of indicators, by code.
IndicatorPage = Page[IndicatorPublic]

"""Base request/response models and constrained scalar types.

Request models reject unknown fields (no mass assignment) and NUL bytes anywhere in the payload; integers
are range-checked against PostgreSQL's column types before a query is ever sent.

Exact numbers have one wire type each, documented as such in every OpenAPI document (never `anyOf: [number,
string]`, which generated Kotlin and Java clients turn into empty classes):

- money (`Yuan`, `SignedYuan`): a decimal string with exactly two places, `"5200.00"` (integer fen fields stay
  integers);
- other exact decimals: `Percent` (`"4.50"`) and `Quantity` (areas, 亩, km, goods: `"12.50"`), strings with
  their own patterns;
- GPS (`Latitude`, `Longitude`): a JSON number with its bounds and at most six decimals (WGS-84).

Times (`UtcDatetime` in bodies, `QueryDatetime` in query parameters) must lie, in UTC, within years 1-9999
(what Python's `datetime` holds): `0001-01-01T00:00:00+14:00` is a valid RFC 3339 text whose UTC value is in
year 0, and converting it for the database used to raise `OverflowError`, a 500. Such a time is a 422 with the
validation code `datetime_out_of_range`.

Input stays lenient (a number or a string is read as a `Decimal`, and the bounds and places are checked); the
answer always has the documented form.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

#: Validation-context key: the input is known to hold no NUL character (see RequestModel).
NUL_CHECKED = "nul_checked"

__all__ = [
    "MONEY_PATTERN",
    "NUL_CHECKED",
    "PERCENT_PATTERN",
    "QUANTITY_PATTERN",
    "Int32",
    "Int64",
    "Latitude",
    "Longitude",
    "Percent",
    "PositiveInt32",
    "Quantity",
    "QueryDatetime",
    "RegionCode",
    "RequestModel",
    "ResponseModel",
    "SignedYuan",
    "UtcDatetime",
    "Yuan",
    "reject_nul",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{12}$"),
    Field(description="12-digit statistical division code (统计用区划代码)", examples=["451025100201"]),
]

#: Money on the wire: yuan as a decimal string with exactly two places (negative only where a type says so).
MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
#: A percentage: 0-100 (or more, for a ratio that may exceed it) with exactly two places.
PERCENT_PATTERN = r"^[0-9]{1,4}\.[0-9]{2}$"
#: A non-negative quantity (an area in m² or 亩, a distance in km, a count of goods) with exactly two places.
QUANTITY_PATTERN = r"^[0-9]+\.[0-9]{2}$"
#: Every money amount fits PostgreSQL's numeric(14, 2) (features bound their inputs more tightly).
_MONEY_LIMIT = Decimal("999999999999.99")


def _two_places(value: Decimal) -> str:
    """A decimal as fixed-point text with exactly two places ("5200.00", never "5.2E+3")."""
    return f"{value:.2f}"


def _decimal_string(pattern: str, description: str, example: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": pattern, "description": description, "examples": [example]}
    )


_AS_TEXT = PlainSerializer(_two_places, return_type=str, when_used="json")

#: Money (元), >= 0: `"5200.00"` on the wire; a number or a string with at most two places is accepted.
Yuan = Annotated[
    Decimal,
    Field(ge=0, le=_MONEY_LIMIT, decimal_places=2),
    _AS_TEXT,
    _decimal_string(MONEY_PATTERN, "Yuan (元), a decimal string with two places", "5200.00"),
]
#: Money that may be negative (a net income after operating expenses): `"-120.00"`.
SignedYuan = Annotated[
    Decimal,
    Field(ge=-_MONEY_LIMIT, le=_MONEY_LIMIT, decimal_places=2),
    _AS_TEXT,
    _decimal_string(MONEY_PATTERN, "Yuan (元), a decimal string with two places; may be negative", "-120.00"),
]
#: A percentage with two places: `"4.50"`.
Percent = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("9999.99"), decimal_places=2),
    _AS_TEXT,
    _decimal_string(PERCENT_PATTERN, "Percent, a decimal string with two places", "4.50"),
]
#: A non-negative quantity with at most two places (m², 亩, km, goods): `"12.50"`.
Quantity = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("99999999.99"), decimal_places=2),
    _AS_TEXT,
    _decimal_string(QUANTITY_PATTERN, "A quantity, a decimal string with two places", "12.50"),
]


def _degrees(value: Decimal) -> float:
    return float(value)


_AS_NUMBER = PlainSerializer(_degrees, return_type=float, when_used="json")
#: WGS-84 latitude in degrees: a JSON number in -90..90 with at most six decimals.
Latitude = Annotated[
    Decimal,
    Field(ge=-90, le=90, max_digits=9, decimal_places=6),
    _AS_NUMBER,
    WithJsonSchema(
        {
            "type": "number",
            "minimum": -90,
            "maximum": 90,
            "description": "WGS-84 latitude in degrees, at most six decimals",
            "examples": [23.456789],
        }
    ),
]
#: WGS-84 longitude in degrees: a JSON number in -180..180 with at most six decimals.
Longitude = Annotated[
    Decimal,
    Field(ge=-180, le=180, max_digits=9, decimal_places=6),
    _AS_NUMBER,
    WithJsonSchema(
        {
            "type": "number",
            "minimum": -180,
            "maximum": 180,
            "description": "WGS-84 longitude in degrees, at most six decimals",
            "examples": [106.123456],
        }
    ),
]


def _utc_in_range(value: datetime) -> datetime:
    """An aware time in UTC, or a validation error when its UTC value leaves years 1-9999; a naive time as is
    (the types below say whether one is accepted at all)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_out_of_range", "the time in UTC must lie within years 1 to 9999"
        ) from None


_IN_RANGE = AfterValidator(_utc_in_range)
#: A timezone-aware time whose UTC value lies within years 1-9999, normalised to UTC (request bodies).
UtcDatetime = Annotated[AwareDatetime, _IN_RANGE]
#: A time filter of a query string: its UTC value within years 1-9999 (normalised to UTC). A naive time passes,
#: for the route's own rule to refuse with its code (`timezone_required`).
QueryDatetime = Annotated[datetime, _IN_RANGE]


def reject_nul(value: Any) -> Any:
    """Walk a decoded JSON value and raise if any string (key or value) holds a NUL byte.

    PostgreSQL text cannot store NUL; letting one through turns a client error into a 500.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("strings must not contain NUL (\\u0000) characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value


class RequestModel(BaseModel):
    """Base for every request body: unknown fields are an error, strings are stripped of nothing."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any, info: ValidationInfo) -> Any:
        # Callers that checked the raw input already (bulk loaders: no `\u0000` in the line) say so in the
        # validation context; nested models would otherwise walk their subtree once per level.
        if isinstance(info.context, dict) and info.context.get(NUL_CHECKED):
            return data
        return reject_nul(data)


class ResponseModel(BaseModel):
    """Base for response bodies, built from ORM rows.

    A field with a default is still always in the answer, so the document marks every field required (generated
    clients get non-optional properties); an answer that leaves fields out is not a `ResponseModel`."""

    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

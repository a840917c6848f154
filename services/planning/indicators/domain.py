"""Indicator rules (指标库, DOMAIN.md §5.3, §7 invariants 9 and 40). Pure: standard library and shared/ pure modules.

| rule | DOMAIN.md | here |
|---|---|---|
| every indicator has a unit and a direction (increase / decrease) | §5.3; invariant 40 | `Unit`, `Direction` |
| percentages lie in 0-100, ‰ in -1000..1000 (population growth may fall), counts are whole and >= 0, a yes/no indicator is 0 or 1, money and areas are >= 0 | invariants 8, 9, 40 | `check_value` |
| the catalogue is shipped (plan0003); a county administrator adds the county's own, seen in that county only | §5.3 ("a county may add its own", issue #11) | `require_indicator_editor`, `county_of` |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum, code_list
from shared.roles import PREFIX_LENGTH, RegionLevel, Role, level_of

__all__ = [
    "CODE_PATTERN",
    "INDICATOR_EDITORS",
    "VALUE_LIMIT",
    "Direction",
    "IndicatorDef",
    "IndicatorOrigin",
    "Unit",
    "check_code",
    "check_value",
    "county_of",
    "require_indicator_editor",
]


@code_list("planning_indicator_unit", "指标单位", "Indicator unit")
class Unit(LabelledEnum):
    """The unit of an indicator's values (DOMAIN.md §5.3, column "Unit")."""

    percent = "percent", "百分比(%)", "Percent"
    permille = "permille", "千分比(‰)", "Per mille"
    people = "people", "人"
    households = "households", "户"
    pieces = "pieces", "个(处、座、件)", "Pieces (a count of things)"
    yuan = "yuan", "元"
    mu = "mu", "亩"
    km = "km", "公里", "Kilometres"
    m3 = "m3", "立方米", "Cubic metres"
    ratio = "ratio", "比值"
    bool = "bool", "是否(1 是 / 0 否)", "Yes (1) or no (0)"


@code_list("planning_indicator_direction", "指标方向", "Indicator direction")
class Direction(LabelledEnum):
    """Which way an indicator improves (invariant 40)."""

    increase = "increase", "越高越好(增加)", "Increase"
    decrease = "decrease", "越低越好(减少)", "Decrease"


@code_list("planning_indicator_origin", "指标来源", "Indicator origin")
class IndicatorOrigin(LabelledEnum):
    """Where an indicator of the catalogue comes from."""

    catalogue = "catalogue", "省定指标库(DOMAIN.md §5.3)", "Shipped catalogue"
    county = "county", "县自定指标", "Added by the county"


#: An indicator code: snake_case, as the shipped ones.
CODE_PATTERN = r"^[a-z][a-z0-9_]{2,63}$"
_CODE = re.compile(CODE_PATTERN)
#: Values fit the columns (numeric(18, 4)).
VALUE_LIMIT = Decimal("99999999999999.9999")

#: Who adds an indicator to the catalogue: the county poverty office, for its county.
INDICATOR_EDITORS: frozenset[Role] = frozenset({Role.county_admin})

_WHOLE = frozenset({Unit.people, Unit.households, Unit.pieces})


@dataclass(frozen=True, slots=True)
class IndicatorDef:
    """What the rules need of an indicator: its unit and direction, and the county that owns it (None: shipped)."""

    code: str
    unit: Unit
    direction: Direction
    county_code: str | None = None


def require_indicator_editor(role: Role, region: str) -> None:
    """Only a county administrator adds indicators, for the county they are bound to."""
    if role not in INDICATOR_EDITORS or level_of(region) is not RegionLevel.county:
        raise NotAllowed(
            "indicator_editor_required", "only county administrators add indicators to the catalogue"
        )


def check_code(code: str) -> None:
    if not _CODE.match(code):
        raise Invalid("indicator_code_invalid", f"indicator code {code!r} is not snake_case", pointer="/code")


def county_of(region_code: str) -> str | None:
    """The county a region lies in (its own code for a county), None above the county level."""
    level = level_of(region_code)
    if level in (RegionLevel.national, RegionLevel.province, RegionLevel.prefecture):
        return None
    return region_code[: PREFIX_LENGTH[RegionLevel.county]].ljust(12, "0")


def check_value(unit: Unit, value: Decimal, *, pointer: str) -> None:
    """A value is possible in its unit (invariants 8, 9, 40): `Invalid` ("value_out_of_range") otherwise."""

    def refuse(why: str) -> Invalid:
        return Invalid(
            "value_out_of_range", f"{pointer}: {why}", pointer=pointer, unit=str(unit), value=str(value)
        )

    if not value.is_finite() or abs(value) > VALUE_LIMIT:
        raise refuse("not a finite number in range")
    if value != value.quantize(Decimal("0.0001")):
        raise refuse("at most four decimal places")
    if unit is Unit.percent and not Decimal(0) <= value <= Decimal(100):
        raise refuse("a percentage lies between 0 and 100")
    if unit is Unit.permille:
        if not Decimal(-1000) <= value <= Decimal(1000):
            raise refuse("a per-mille value lies between -1000 and 1000")
        return
    if unit is Unit.bool and value not in (Decimal(0), Decimal(1)):
        raise refuse("a yes/no indicator is 1 (yes) or 0 (no)")
    if value < 0:
        raise refuse(f"a value in {unit} is not negative")
    if unit in _WHOLE and value != value.to_integral_value():
        raise refuse(f"a value in {unit} is a whole number")
    if unit is Unit.yuan and value != value.quantize(Decimal("0.01")):
        raise refuse("money has at most two decimal places (fen)")

"""Policy parameters (DOMAIN.md §2.8): the catalogue and its defaults, in this one module.

Thresholds are never written into logic. Each parameter has a spec here (its kind, unit and bounds) and
optionally a default that applies from a given year on when no region along the ancestor chain defines it.
Regions override defaults with versioned rows in `registry_policy_parameter` (append-only).

| name                                 | kind    | default              | source                          |
|--------------------------------------|---------|----------------------|---------------------------------|
| identification_income_line_yuan      | yuan    | 2736 from 2013       | national line, DOMAIN.md §2.8 F1 |
| notice_days                          | days    | 7                    | DOMAIN.md §2.9 (S 002)          |
| village_exit_incidence_max_percent   | percent | none (set per region: 8, 4, 2 or 3 %) | DOMAIN.md §2.8 |
| exit_income_line_yuan                | yuan    | none (set per region) | DOMAIN.md §2.8                 |
| min_visits_per_household_per_year    | count   | 4 (quarterly)        | DOMAIN.md §3.3 [D]              |

Money is integer yuan; percentages are Decimal with at most two places; nothing is a float.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["PARAMETERS", "ParameterKind", "ParameterSpec", "default_for"]


class ParameterKind(enum.StrEnum):
    yuan = "yuan"  # integer yuan
    days = "days"  # integer days
    percent = "percent"  # Decimal, 0..100, two places


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    kind: ParameterKind
    description: str
    #: (first year, value): the default applies from that year until a later entry replaces it.
    defaults: tuple[tuple[int, int | Decimal], ...] = field(default=())
    minimum: Decimal = Decimal(0)
    maximum: Decimal = Decimal(10_000_000)


PARAMETERS: dict[str, ParameterSpec] = {
    "identification_income_line_yuan": ParameterSpec(
        ParameterKind.yuan,
        "Per-capita annual net income line for identification (yuan)",
        defaults=((2013, 2736),),
    ),
    "notice_days": ParameterSpec(
        ParameterKind.days,
        "Length of each public notice (公示期), days",
        defaults=((0, 7),),
        minimum=Decimal(1),
        maximum=Decimal(365),
    ),
    "village_exit_incidence_max_percent": ParameterSpec(
        ParameterKind.percent,
        "Village exit: poverty incidence must be below this percentage",
        maximum=Decimal(100),
    ),
    "min_visits_per_household_per_year": ParameterSpec(
        ParameterKind.days,
        "Help visits each paired household should receive per year (below: flagged in monitoring)",
        defaults=((0, 4),),
        maximum=Decimal(365),
    ),
    "exit_income_line_yuan": ParameterSpec(
        ParameterKind.yuan,
        "Per-capita annual net income a household must stably reach to exit (yuan)",
    ),
}


def default_for(name: str, year: int) -> int | Decimal | None:
    """The catalogue default of `name` for `year`, or None."""
    value = None
    for first_year, candidate in sorted(PARAMETERS[name].defaults):
        if first_year <= year:
            value = candidate
    return value

"""Village profile rules (村情, DOMAIN.md §5.2; §7 invariants 8-10, 41; fixtures F4-F6 of §9). Pure.

A village declares its yearly figures (from its plan documents); the registry's figures for the same year (poor
households and people, population, incidence) are fetched over HTTP and stored beside them, never typed in.
Figures that disagree — with the registry, or with each other — are **stored and flagged, never refused**
(invariants 10 and 41: the seeds themselves hold such figures, and the point is to show them):

| flag | check | DOMAIN.md |
|---|---|---|
| `poor_households_differ_from_registry`, `poor_people_differ_from_registry`, `population_differs_from_registry` | a declared figure ≠ the registry's figure for the year | invariant 41 |
| `measure_breakdown_differs` | the poor households (people) listed by help measure do not add up to the poor households (people): a household may hold several measures, or the figures are wrong | invariant 41; F5 (89 / 285 by measure vs 87 / 270) |
| `incidence_inconsistent` | declared incidence ≠ declared poor people ÷ population x 100 by more than 0.1 point | invariant 41; F3, F4 |
| `incidence_differs_from_registry` | declared incidence ≠ the registry's incidence by more than 0.1 point | invariant 41 |
| `resident_above_population` | resident population > total population | invariant 10 |
| `coverage_above_population` | a count of people covered (NCMS, pension, 低保, poor people, people with safe water) > the population | invariant 10; F6 (NCMS 1,680 > 1,560) |
| `poor_households_above_households` | declared poor households > households | invariant 10 |
| `income_ratio_inconsistent` | declared ratio to the district average ≠ income ÷ district average x 100 by more than 1 point | F4 ("78 %" for 5,463 ÷ 5,185 = 105.4 %) |
| `arable_parts_exceed_total` | paddy + dry land > arable land | §5.2 (arable land by kind) |
| `renovated_above_dangerous_houses` | renovated dangerous houses > dangerous houses | invariant 10 |

Money is computed in fen (`fen`, `yuan`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum, code_list
from shared.roles import RegionLevel, Role, level_of

__all__ = [
    "INCIDENCE_TOLERANCE",
    "INCOME_RATIO_TOLERANCE",
    "PROFILE_EDITORS",
    "PROFILE_READERS",
    "DeclaredFigures",
    "Derived",
    "Flag",
    "ProfileFlag",
    "RegistryFigures",
    "check",
    "derive",
    "fen",
    "flag_codes",
    "require_editor",
    "require_reader",
    "require_village",
    "yuan",
]

#: Declared and computed incidence may differ by rounding: up to 0.1 percentage point is agreement.
INCIDENCE_TOLERANCE = Decimal("0.1")
#: The seeds write the ratio to the district average as a whole percentage ("78 %"): 1 point is agreement.
INCOME_RATIO_TOLERANCE = Decimal("1")
_CENT = Decimal("0.01")

#: Who writes a village's profile: its officers, and the county poverty office.
PROFILE_EDITORS: frozenset[Role] = frozenset({Role.village_officer, Role.county_admin})
#: Who reads profiles and plans (in scope): every officer, the province client and the services, not cadres
#: (a cadre's scope is their paired households, not a region).
PROFILE_READERS: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.village_officer, Role.province_system, Role.service}
)


@code_list("planning_profile_flag", "村情数据疑点", "Village profile flag")
class ProfileFlag(LabelledEnum):
    """An inconsistency found in a village profile (stored and shown, never refused)."""

    poor_households_differ_from_registry = (
        "poor_households_differ_from_registry",
        "填报贫困户数与建档立卡系统不符",
        "Declared poor households differ from the registry",
    )
    poor_people_differ_from_registry = (
        "poor_people_differ_from_registry",
        "填报贫困人口与建档立卡系统不符",
        "Declared poor people differ from the registry",
    )
    population_differs_from_registry = (
        "population_differs_from_registry",
        "填报人口与系统登记人口不符",
        "Declared population differs from the registry",
    )
    incidence_inconsistent = (
        "incidence_inconsistent",
        "贫困发生率与贫困人口、总人口不符",
        "Declared incidence is not poor people / population",
    )
    incidence_differs_from_registry = (
        "incidence_differs_from_registry",
        "填报贫困发生率与系统不符",
        "Declared incidence differs from the registry",
    )
    resident_above_population = (
        "resident_above_population",
        "常住人口多于总人口",
        "Resident population above the population",
    )
    coverage_above_population = (
        "coverage_above_population",
        "覆盖人数超过总人口",
        "A coverage count above the population",
    )
    poor_households_above_households = (
        "poor_households_above_households",
        "贫困户数多于总户数",
        "Poor households above all households",
    )
    income_ratio_inconsistent = (
        "income_ratio_inconsistent",
        "人均纯收入占区县平均比例计算不符",
        "Income ratio to the district average does not compute",
    )
    arable_parts_exceed_total = (
        "arable_parts_exceed_total",
        "水田旱地之和超过耕地面积",
        "Paddy and dry land exceed the arable land",
    )
    measure_breakdown_differs = (
        "measure_breakdown_differs",
        "分措施帮扶户数、人数之和与贫困户数、人数不符",
        "The breakdown by help measure does not add up",
    )
    renovated_above_dangerous_houses = (
        "renovated_above_dangerous_houses",
        "已改造危房多于危房总数",
        "Renovated dangerous houses above their number",
    )


@dataclass(frozen=True, slots=True)
class DeclaredFigures:
    """The declared figures the checks read (None: not declared). Money in fen."""

    households: int | None = None
    population: int | None = None
    resident_population: int | None = None
    poor_households: int | None = None
    poor_people: int | None = None
    incidence_percent: Decimal | None = None
    ncms_participants: int | None = None
    pension_participants: int | None = None
    dibao_people: int | None = None
    safe_water_people: int | None = None
    per_capita_net_income_fen: int | None = None
    district_average_income_fen: int | None = None
    income_ratio_percent: Decimal | None = None
    arable_total_mu: Decimal | None = None
    paddy_mu: Decimal | None = None
    dry_mu: Decimal | None = None
    dangerous_houses: int | None = None
    dangerous_houses_renovated: int | None = None
    #: The sums of the breakdown of the poor by help measure (None: no breakdown declared).
    measure_households: int | None = None
    measure_people: int | None = None


@dataclass(frozen=True, slots=True)
class RegistryFigures:
    """The registry's figures of the village for the year (`population` None: none recorded for the year)."""

    poor_households: int
    poor_people: int
    population: int | None
    incidence_percent: Decimal | None


@dataclass(frozen=True, slots=True)
class Flag:
    """One inconsistency: which figure (`field`), its value, and what it was compared with."""

    code: ProfileFlag
    field: str
    value: Decimal
    compared_with: Decimal
    message: str


@dataclass(frozen=True, slots=True)
class Derived:
    """Figures computed from the declared ones (never typed in)."""

    incidence_percent: Decimal | None
    per_capita_arable_mu: Decimal | None
    income_ratio_percent: Decimal | None


#: The counts of people that cannot exceed the population (invariant 10), with their names for messages.
_COVERAGE: tuple[tuple[str, str], ...] = (
    ("ncms_participants", "NCMS participants (新农合参合人数)"),
    ("pension_participants", "pension insured (养老保险参保人数)"),
    ("dibao_people", "低保 people"),
    ("safe_water_people", "people with safe drinking water"),
    ("poor_people", "poor people"),
)


def fen(amount: Decimal) -> int:
    """Yuan (two places at most) as integer fen."""
    return int((amount * 100).to_integral_value())


def yuan(amount_fen: int) -> Decimal:
    """Integer fen as yuan with two places."""
    return (Decimal(amount_fen) / 100).quantize(_CENT)


def _percent(part: int | Decimal, whole: int | Decimal) -> Decimal:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(_CENT, rounding=ROUND_HALF_UP)


def derive(declared: DeclaredFigures) -> Derived:
    """Incidence (poor people ÷ population), arable land per person, income ÷ district average, from the
    declared figures."""
    population = declared.population
    incidence = None
    arable = None
    if population:
        if declared.poor_people is not None:
            incidence = _percent(declared.poor_people, population)
        if declared.arable_total_mu is not None:
            arable = (declared.arable_total_mu / population).quantize(_CENT, rounding=ROUND_HALF_UP)
    ratio = None
    if declared.per_capita_net_income_fen is not None and declared.district_average_income_fen:
        ratio = _percent(declared.per_capita_net_income_fen, declared.district_average_income_fen)
    return Derived(incidence_percent=incidence, per_capita_arable_mu=arable, income_ratio_percent=ratio)


def check(declared: DeclaredFigures, registry: RegistryFigures | None) -> list[Flag]:
    """Every inconsistency of the declared figures, with the registry's and among themselves (never raises)."""
    flags: list[Flag] = []

    def flag(code: ProfileFlag, field: str, value: int | Decimal, other: int | Decimal, message: str) -> None:
        flags.append(Flag(code, field, Decimal(value), Decimal(other), message))

    if registry is not None:
        if declared.poor_households is not None and declared.poor_households != registry.poor_households:
            flag(
                ProfileFlag.poor_households_differ_from_registry,
                "poor_households",
                declared.poor_households,
                registry.poor_households,
                f"{declared.poor_households} poor households declared, {registry.poor_households} registered",
            )
        if declared.poor_people is not None and declared.poor_people != registry.poor_people:
            flag(
                ProfileFlag.poor_people_differ_from_registry,
                "poor_people",
                declared.poor_people,
                registry.poor_people,
                f"{declared.poor_people} poor people declared, {registry.poor_people} registered",
            )
        if (
            declared.population is not None
            and registry.population is not None
            and declared.population != registry.population
        ):
            flag(
                ProfileFlag.population_differs_from_registry,
                "population",
                declared.population,
                registry.population,
                f"population {declared.population} declared, {registry.population} recorded in the registry",
            )
        if (
            declared.incidence_percent is not None
            and registry.incidence_percent is not None
            and abs(declared.incidence_percent - registry.incidence_percent) > INCIDENCE_TOLERANCE
        ):
            flag(
                ProfileFlag.incidence_differs_from_registry,
                "incidence_percent",
                declared.incidence_percent,
                registry.incidence_percent,
                f"incidence {declared.incidence_percent} % declared, {registry.incidence_percent} % in the registry",
            )
    population = declared.population
    if declared.incidence_percent is not None and declared.poor_people is not None and population:
        computed = Decimal(declared.poor_people) * 100 / population
        if abs(declared.incidence_percent - computed) > INCIDENCE_TOLERANCE:
            flag(
                ProfileFlag.incidence_inconsistent,
                "incidence_percent",
                declared.incidence_percent,
                computed.quantize(_CENT, rounding=ROUND_HALF_UP),
                f"incidence {declared.incidence_percent} % declared; {declared.poor_people} / {population} is "
                f"{computed.quantize(_CENT, rounding=ROUND_HALF_UP)} %",
            )
    if population is not None:
        if declared.resident_population is not None and declared.resident_population > population:
            flag(
                ProfileFlag.resident_above_population,
                "resident_population",
                declared.resident_population,
                population,
                f"resident population {declared.resident_population} above the population {population}",
            )
        for field, name in _COVERAGE:
            count = getattr(declared, field)
            if count is not None and count > population:
                flag(
                    ProfileFlag.coverage_above_population,
                    field,
                    count,
                    population,
                    f"{count} {name} in a village of {population} people",
                )
    if (
        declared.poor_households is not None
        and declared.households is not None
        and declared.poor_households > declared.households
    ):
        flag(
            ProfileFlag.poor_households_above_households,
            "poor_households",
            declared.poor_households,
            declared.households,
            f"{declared.poor_households} poor households among {declared.households} households",
        )
    for field, total, declared_total, registered in (
        ("poor_by_measure.households", declared.measure_households, declared.poor_households,
         registry.poor_households if registry else None),
        ("poor_by_measure.people", declared.measure_people, declared.poor_people,
         registry.poor_people if registry else None),
    ):  # fmt: skip
        poor = declared_total if declared_total is not None else registered
        if total is not None and poor is not None and total != poor:
            flag(
                ProfileFlag.measure_breakdown_differs,
                field,
                total,
                poor,
                f"the breakdown by measure adds up to {total}, the poor count is {poor}",
            )
    derived = derive(declared)
    if (
        declared.income_ratio_percent is not None
        and derived.income_ratio_percent is not None
        and abs(declared.income_ratio_percent - derived.income_ratio_percent) > INCOME_RATIO_TOLERANCE
    ):
        flag(
            ProfileFlag.income_ratio_inconsistent,
            "income_ratio_to_district_percent",
            declared.income_ratio_percent,
            derived.income_ratio_percent,
            f"ratio {declared.income_ratio_percent} % declared; income / district average is "
            f"{derived.income_ratio_percent} %",
        )
    if declared.arable_total_mu is not None:
        parts = (declared.paddy_mu or Decimal(0)) + (declared.dry_mu or Decimal(0))
        if parts > declared.arable_total_mu:
            flag(
                ProfileFlag.arable_parts_exceed_total,
                "arable_land",
                parts,
                declared.arable_total_mu,
                f"paddy and dry land {parts} mu exceed the arable land {declared.arable_total_mu} mu",
            )
    if (
        declared.dangerous_houses is not None
        and declared.dangerous_houses_renovated is not None
        and declared.dangerous_houses_renovated > declared.dangerous_houses
    ):
        flag(
            ProfileFlag.renovated_above_dangerous_houses,
            "dangerous_houses_renovated",
            declared.dangerous_houses_renovated,
            declared.dangerous_houses,
            f"{declared.dangerous_houses_renovated} renovated of {declared.dangerous_houses} dangerous houses",
        )
    return flags


def flag_codes(flags: Iterable[Flag]) -> list[str]:
    """The distinct flag codes, sorted (what the `flags` column stores, for queries)."""
    return sorted({f.code.value for f in flags})


def require_village(code: str) -> None:
    """Profiles and plans are kept for administrative villages (the code's level)."""
    if level_of(code) is not RegionLevel.village:
        raise Invalid("not_a_village", f"{code} is not a village code", parameter="code")


def require_editor(role: Role) -> None:
    if role not in PROFILE_EDITORS:
        raise NotAllowed("profile_editor_required", f"role '{role}' may not write village profiles")


def require_reader(role: Role) -> None:
    if role not in PROFILE_READERS:
        raise NotAllowed("profile_reader_required", f"role '{role}' does not read village profiles and plans")

"""The rules of the region tree, its yearly statuses, the policy parameters and scale-control quotas. Pure.

Checkable against DOMAIN.md:
- §1.1 the administrative tree: a region's parent is its nearest existing ancestor (levels may be skipped); the
  county administrator edits the tree below the county; statuses belong to the level they describe.
- §2.8 policy parameters: a catalogue of named, typed, bounded parameters; a region's value is the newest version
  along village → township → county → prefecture → province, else the catalogue default for the year.
- §2.10 scale control (规模控制, invariants 24-26): quotas are set top-down (county admin: county and townships;
  township officer: villages); the children of a region never total more than its quota, and a quota never falls
  below what its children were given nor below the people already counted against it; identified people in a
  village stay within its quota unless the county records an override; every child with the same quota
  (平均分配) is warned about.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from shared.errors import Invalid, Missing, NotAllowed, Refused, TooLarge
from shared.labels import LabelledEnum, code_list
from shared.roles import Principal, RegionLevel, Role, ancestors_of, is_region_code, level_of

__all__ = [
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "PARAMETERS",
    "POPULATION_RECORDERS",
    "QUOTA_LEVELS",
    "QUOTA_SETTERS",
    "STATUS_LEVELS",
    "EffectiveValue",
    "ImportPlan",
    "ImportRow",
    "KnownRegion",
    "ParameterKind",
    "ParameterSpec",
    "PolicyVersion",
    "QuotaCheck",
    "RegionStatusKind",
    "check_income_lines",
    "check_population",
    "check_quota_against_children",
    "check_quota_against_parent",
    "check_quota_against_used",
    "check_registration",
    "check_statuses",
    "default_for",
    "distribution_warnings",
    "effective_parameters",
    "parent_for_new_region",
    "parse_import",
    "parse_parameter_value",
    "plan_import",
    "quota_parent",
    "region_must_exist",
    "require_population_recorder",
    "require_quota_setter",
    "require_status_editor",
    "require_tree_editor",
    "stored_value",
]


# -- the tree (§1.1) ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KnownRegion:
    """What the rules need to know of an existing region."""

    code: str
    name: str
    parent_code: str | None


def require_tree_editor(principal: Principal) -> None:
    """Only a county administrator edits the region tree (below their county)."""
    if principal.role is not Role.county_admin:
        raise NotAllowed("tree_editor_required", "only county administrators edit the region tree")


def parent_for_new_region(
    principal: Principal, code: str, parent_code: str | None, existing: Iterable[str]
) -> str:
    """The parent of a new region `code`: the given `parent_code` if it is an existing ancestor, else the
    nearest existing ancestor. `existing` holds the codes (among `ancestors_of(code)`) that exist."""
    require_tree_editor(principal)
    if not is_region_code(code):
        raise Invalid("code_invalid", "not a valid statistical division code", field="code")
    if not principal.covers(code) or code == principal.region:
        raise NotAllowed("outside_county", "the region lies outside your county")
    candidates = ancestors_of(code)
    known = set(existing)
    if parent_code is not None:
        if parent_code not in candidates:
            raise Invalid(
                "parent_not_ancestor", "parent_code is not an ancestor of code", field="parent_code"
            )
        if parent_code not in known:
            raise Invalid("parent_missing", "parent region does not exist", field="parent_code")
        return parent_code
    nearest = next((c for c in candidates if c in known), None)
    if nearest is None:
        raise Invalid("no_ancestor", "no ancestor region exists; create the parent first", field="code")
    return nearest


# -- CSV import of the tree --------------------------------------------------------------------------------
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
_COLUMNS = ("code", "name", "parent_code")


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    code: str
    name: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import would do; `errors` (row, field, message) when it must not run at all."""

    rows: int
    creates: tuple[KnownRegion, ...] = ()
    renames: tuple[KnownRegion, ...] = ()  # with the new name
    unchanged: int = 0
    errors: tuple[dict[str, object], ...] = ()


def parse_import(body: bytes) -> tuple[list[ImportRow], list[dict[str, object]]]:
    """The rows of a region CSV (`code,name[,parent_code]`, UTF-8, optional BOM) and the per-row format errors."""
    if len(body) > MAX_IMPORT_BYTES:
        raise TooLarge("file_too_large", f"CSV larger than {MAX_IMPORT_BYTES} bytes")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("not_utf8", "the CSV must be UTF-8", field="body") from exc
    if "\x00" in text:
        raise Invalid("nul_character", "the CSV must not contain NUL characters", field="body")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if header[:2] != ["code", "name"] or not set(header) <= set(_COLUMNS) or len(set(header)) != len(header):
        raise Invalid(
            "header_invalid",
            "the header must be code,name or code,name,parent_code",
            errors=[{"row": 1, "field": "header", "message": "expected code,name[,parent_code]"}],
        )
    rows: list[ImportRow] = []
    errors: list[dict[str, object]] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise TooLarge("too_many_rows", f"more than {MAX_IMPORT_ROWS} rows")
        if len(values) != len(header):
            errors.append({"row": line, "field": None, "message": f"expected {len(header)} columns"})
            continue
        record = dict(zip(header, (v.strip() for v in values), strict=True))
        rows.append(ImportRow(line, record["code"], record["name"], record.get("parent_code") or None))
    if not rows and not errors:
        raise Invalid("empty", "the CSV has no rows", errors=[])
    return rows, errors


def plan_import(
    principal: Principal,
    rows: Sequence[ImportRow],
    format_errors: Sequence[dict[str, object]],
    existing: Mapping[str, KnownRegion],
) -> ImportPlan:
    """Validate every row against the tree (`existing`: the regions among the rows' codes and ancestors) and the
    rows before it; all or nothing: any error means the plan carries errors and creates nothing."""
    require_tree_editor(principal)
    errors = list(format_errors)
    known = set(existing)  # codes that exist in the database or earlier in the file
    seen: set[str] = set()
    creates: list[KnownRegion] = []
    renames: list[KnownRegion] = []
    unchanged = 0

    def fail(row: ImportRow, field_name: str, message: str) -> None:
        errors.append({"row": row.line, "field": field_name, "message": message})

    for row in rows:
        bad = len(errors)
        if not 1 <= len(row.name) <= 128:
            fail(row, "name", "name must be 1 to 128 characters")
        if not is_region_code(row.code):
            fail(row, "code", "not a valid statistical division code")
            continue
        if not principal.covers(row.code) or row.code == principal.region:
            fail(row, "code", "the region lies outside your county")
            continue
        if row.code in seen:
            fail(row, "code", "code appears more than once in the file")
            continue
        seen.add(row.code)
        ancestors = ancestors_of(row.code)
        current = existing.get(row.code)
        parent: str | None
        if row.parent_code is not None:
            if row.parent_code not in ancestors:
                fail(row, "parent_code", "parent_code is not an ancestor of code")
            elif row.parent_code not in known:
                fail(row, "parent_code", "parent region does not exist (in the database or earlier rows)")
            elif current is not None and current.parent_code != row.parent_code:
                fail(row, "parent_code", "an existing region cannot be moved; only its name is updated")
            parent = row.parent_code
        else:
            parent = current.parent_code if current else next((c for c in ancestors if c in known), None)
            if parent is None:
                fail(row, "code", "no ancestor region exists in the database or earlier rows")
        if len(errors) > bad:
            continue
        known.add(row.code)
        if current is None:
            creates.append(KnownRegion(row.code, row.name, parent))
        elif current.name != row.name:
            renames.append(KnownRegion(row.code, row.name, current.parent_code))
        else:
            unchanged += 1
    errors.sort(key=lambda e: int(str(e["row"])))
    return ImportPlan(len(rows), tuple(creates), tuple(renames), unchanged, tuple(errors))


# -- statuses --------------------------------------------------------------------------------------------------
@code_list("region_status", "区域特殊身份", "Region status")
class RegionStatusKind(LabelledEnum):
    """Special statuses a region holds per year (DOMAIN.md §1.1)."""

    poor_county = "poor_county", "贫困县"
    old_revolutionary_base = "old_revolutionary_base", "老区", "Old revolutionary base county"
    poor_village = "poor_village", "贫困村"
    national_poor_village = "national_poor_village", "国定扶贫村", "Nationally designated poor village"
    provincial_poor_village = "provincial_poor_village", "省扶贫村", "Provincially designated poor village"
    extremely_poor_natural_village = "extremely_poor_natural_village", "特困自然村"
    designated_help_village = "designated_help_village", "定点帮扶村", "Designated-help village"


#: Which level of region may hold which status (natural villages are recorded on their village).
STATUS_LEVELS: dict[RegionStatusKind, RegionLevel] = {
    RegionStatusKind.poor_county: RegionLevel.county,
    RegionStatusKind.old_revolutionary_base: RegionLevel.county,
    RegionStatusKind.poor_village: RegionLevel.village,
    RegionStatusKind.national_poor_village: RegionLevel.village,
    RegionStatusKind.provincial_poor_village: RegionLevel.village,
    RegionStatusKind.extremely_poor_natural_village: RegionLevel.village,
    RegionStatusKind.designated_help_village: RegionLevel.village,
}


def require_status_editor(principal: Principal) -> None:
    """County administrators set region statuses."""
    if principal.role is not Role.county_admin:
        raise NotAllowed("status_editor_required", "only county administrators set region statuses")


def check_statuses(
    principal: Principal, level: RegionLevel, statuses: Iterable[RegionStatusKind]
) -> list[str]:
    """The statuses to store for a region of `level` (sorted, unique)."""
    require_status_editor(principal)
    wanted = sorted(set(statuses))
    for status in wanted:
        if STATUS_LEVELS[status] != level:
            raise Invalid(
                "status_level",
                f"status {status} applies to a {STATUS_LEVELS[status]}, not a {level}",
                field="statuses",
            )
    return [str(s) for s in wanted]


# -- policy parameters (§2.8) ------------------------------------------------------------------------------------
@code_list("parameter_kind", "参数类型", "Policy parameter kind")
class ParameterKind(LabelledEnum):
    yuan = "yuan", "元(整数)", "Yuan (whole number)"  # integer yuan
    days = "days", "整数(天数或次数)", "Whole number (days or a count)"  # integer days
    percent = "percent", "百分比", "Percentage"  # Decimal, 0..100, two places


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    kind: ParameterKind
    description: str
    #: (first year, value): the default applies from that year until a later entry replaces it.
    defaults: tuple[tuple[int, int | Decimal], ...] = field(default=())
    minimum: Decimal = Decimal(0)
    maximum: Decimal = Decimal(10_000_000)
    #: Set when the minimum is a statutory floor (the parameter may only be stricter): its source, for the refusal.
    statutory_minimum: str | None = None


#: The catalogue. Thresholds are never written into logic: each rule reads its parameter by name.
#:
#: | name                               | kind    | default               | source                           |
#: |------------------------------------|---------|-----------------------|----------------------------------|
#: | identification_income_line_yuan    | yuan    | 2736 from 2013        | national line, DOMAIN.md §2.8 F1 |
#: | notice_days                        | days    | 7 (statutory minimum) | DOMAIN.md §2.9 (S 002)           |
#: | village_exit_incidence_max_percent | percent | none (8, 4, 2 or 3 %) | DOMAIN.md §2.8                   |
#: | exit_income_line_yuan              | yuan    | none (set per region) | DOMAIN.md §2.8                   |
#: | min_visits_per_household_per_year  | count   | 4 (quarterly)         | DOMAIN.md §3.3 [D]               |
#: | village_exit_collective_income_min_yuan | yuan | none (8,000 in S 001#13) | DOMAIN.md §5.4 一低七有     |
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
        # "公示期7天" [S 002]: a region may lengthen its notices, never shorten them.
        minimum=Decimal(7),
        maximum=Decimal(365),
        statutory_minimum="公示期7天 (seed 002, DOMAIN.md §2.9)",
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
    "village_exit_collective_income_min_yuan": ParameterSpec(
        ParameterKind.yuan,
        "Village exit (一低七有): the village collective's yearly income must reach this (yuan)",
    ),
}


def default_for(name: str, year: int) -> int | Decimal | None:
    """The catalogue default of `name` for `year`, or None."""
    value = None
    for first_year, candidate in sorted(PARAMETERS[name].defaults):
        if first_year <= year:
            value = candidate
    return value


def parse_parameter_value(principal: Principal, name: str, value: int | Decimal) -> Decimal:
    """The value to store for parameter `name` (county administrators set them): known name, finite, whole
    numbers for yuan and days, two places for percentages, within the parameter's bounds."""
    if principal.role is not Role.county_admin:
        raise NotAllowed("policy_editor_required", "only county administrators set policy parameters")
    spec = PARAMETERS.get(name)
    if spec is None:
        raise Invalid(
            "unknown_parameter", f"unknown policy parameter {name!r}", field="name", known=sorted(PARAMETERS)
        )
    number = Decimal(value)
    if not number.is_finite():
        raise Invalid("value_invalid", "value must be a finite number", field="value")
    if spec.kind is ParameterKind.percent:
        if number != number.quantize(Decimal("0.01")):
            raise Invalid("value_invalid", "a percentage has at most two decimal places", field="value")
    elif number != number.to_integral_value():
        raise Invalid("value_invalid", f"{spec.kind} values are whole numbers", field="value")
    if spec.statutory_minimum is not None and number < spec.minimum:
        raise Invalid(
            "below_statutory_minimum",
            f"{name} may not be below the statutory minimum of {spec.minimum} ({spec.statutory_minimum})",
            field="value",
            minimum=int(spec.minimum),
        )
    if not spec.minimum <= number <= spec.maximum:
        raise Invalid(
            "value_out_of_range", f"value must be between {spec.minimum} and {spec.maximum}", field="value"
        )
    return number


def check_income_lines(name: str, value: Decimal, effective: Mapping[str, int | Decimal | None]) -> None:
    """The exit line is never below the identification line of the same region and year (§2.8: a household
    leaves poverty above the line it entered under): 422 `exit_line_below_identification_line` either way round —
    an exit line set below the identification line, or an identification line raised above the exit line."""
    lines = dict(effective) | {name: value}
    exit_line, identification_line = (
        lines.get("exit_income_line_yuan"),
        lines.get("identification_income_line_yuan"),
    )
    if name not in ("exit_income_line_yuan", "identification_income_line_yuan"):
        return
    if (
        exit_line is not None
        and identification_line is not None
        and Decimal(exit_line) < Decimal(identification_line)
    ):
        raise Invalid(
            "exit_line_below_identification_line",
            f"the exit income line ({exit_line} yuan) may not be below the identification income line "
            f"({identification_line} yuan) of the same region and year",
            field="value",
            exit_income_line_yuan=int(exit_line),
            identification_income_line_yuan=int(identification_line),
        )


def stored_value(kind: ParameterKind, value: Decimal) -> int | Decimal:
    """A stored value as the rules use it: percentages as two-place Decimals, the rest as integers."""
    if kind is ParameterKind.percent:
        return value.quantize(Decimal("0.01"))
    return int(value)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One stored version of a parameter for a region and year."""

    region_code: str
    name: str
    value: Decimal
    version: int
    valid_from: datetime
    created_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class EffectiveValue:
    """The value of a parameter for a region and year, and where it comes from."""

    name: str
    spec: ParameterSpec
    value: int | Decimal | None
    source: str  # "region", "default" or "unset"
    row: PolicyVersion | None = None


def effective_parameters(code: str, year: int, newest: Iterable[PolicyVersion]) -> list[EffectiveValue]:
    """Every catalogue parameter for region `code` in `year`: the newest version from the nearest region along the
    ancestor chain (`newest` holds the newest version per region and name), else the default for the year."""
    rank = {c: i for i, c in enumerate([code, *ancestors_of(code)])}  # nearest first
    best: dict[str, PolicyVersion] = {}
    for row in newest:
        if row.region_code not in rank:
            continue
        held = best.get(row.name)
        if held is None or rank[row.region_code] < rank[held.region_code]:
            best[row.name] = row
    out = []
    for name, spec in PARAMETERS.items():
        chosen = best.get(name)
        if chosen is not None:
            out.append(EffectiveValue(name, spec, stored_value(spec.kind, chosen.value), "region", chosen))
        else:
            default = default_for(name, year)
            out.append(EffectiveValue(name, spec, default, "unset" if default is None else "default"))
    return out


# -- scale-control quotas (§2.10) -----------------------------------------------------------------------------
#: Which role sets quotas of which level (county → townships → villages).
QUOTA_SETTERS: dict[Role, frozenset[RegionLevel]] = {
    Role.county_admin: frozenset({RegionLevel.county, RegionLevel.township}),
    Role.township_officer: frozenset({RegionLevel.village}),
}
#: The levels that hold quotas.
QUOTA_LEVELS = frozenset({RegionLevel.county, RegionLevel.township, RegionLevel.village})


def require_quota_setter(role: Role, level: RegionLevel) -> None:
    if level not in QUOTA_SETTERS.get(role, frozenset()):
        raise NotAllowed("quota_setter_required", f"role '{role}' may not set the quota of a {level}")


def quota_parent(code: str, level: RegionLevel, parent_code: str | None) -> str | None:
    """The region whose quota bounds `code`'s: its parent, when that holds quotas (a county's does not)."""
    if level is RegionLevel.county or parent_code is None:
        return None
    return parent_code if level_of(parent_code) in QUOTA_LEVELS else None


def check_quota_against_parent(
    parent: str, year: int, parent_quota: int | None, siblings: int, people: int
) -> None:
    """Invariant 25: the quotas below a region never total more than its own (set top-down)."""
    if parent_quota is None:
        raise Refused(
            "parent_quota_missing",
            f"region {parent} has no quota for {year}; set it first (quotas are decomposed top-down)",
            parent=parent,
            parent_quota=None,
        )
    if siblings + people > parent_quota:
        raise Refused(
            "parent_quota_exceeded",
            f"quotas below {parent} would total {siblings + people}, more than its quota of {parent_quota}",
            parent=parent,
            parent_quota=parent_quota,
            would_be_sum=siblings + people,
        )


def check_quota_against_children(code: str, allocated: int, people: int) -> None:
    """A quota never falls below what its children were already given."""
    if people < allocated:
        raise Refused(
            "below_children",
            f"the quotas below {code} already total {allocated}, more than {people}",
            parent=code,
            parent_quota=people,
            would_be_sum=allocated,
        )


def check_quota_against_used(code: str, year: int, used: int, people: int) -> None:
    """Issue #13 item 9: a quota never falls below the people already counted against it (households of the year
    past an approved village review, overrides included)."""
    if people < used:
        raise Invalid(
            "quota_below_used",
            f"{used} people of {code} are already counted against the quota of {year}, more than {people}",
            field="/people",
            region_code=code,
            year=year,
            used=used,
            people=people,
        )


def distribution_warnings(child_quotas: Iterable[int]) -> list[str]:
    """Invariant 26: every child given the same quota (平均分配) is warned about."""
    quotas = list(child_quotas)
    return ["equal_distribution"] if len(quotas) >= 2 and len(set(quotas)) == 1 else []


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    """A registration that the village quota admits; `over` when only a county override lets it through."""

    quota: int | None
    used: int
    over: bool


def check_registration(
    village: str, year: int, quota: int | None, used: int, people: int, *, overridden: bool
) -> QuotaCheck:
    """Invariant 24: identified people in a village stay within its quota unless the county recorded an override
    for this household; `over` when the registration goes over the quota under such an override (to be flagged).

    `used` counts the people already counted against the year's quota in the village, without this household.
    """
    if quota is None:
        if overridden:
            return QuotaCheck(quota, used, over=False)
        raise Refused(
            "quota_missing",
            f"village {village} has no scale-control quota for {year}; the township sets it first",
            village_code=village,
            year=year,
        )
    over = used + people > quota
    if over and not overridden:
        raise Refused(
            "quota_exceeded",
            f"registering {people} more people would exceed the village quota ({used} of {quota} used); "
            "a county administrator may record an override with a reason",
            quota=quota,
            used=used,
            household_size=people,
        )
    return QuotaCheck(quota, used, over)


# -- population (the base of incidence) -------------------------------------------------------------------------
#: Who records a region's registered rural population.
POPULATION_RECORDERS = frozenset({Role.county_admin, Role.township_officer, Role.village_officer})


def require_population_recorder(role: Role) -> None:
    if role not in POPULATION_RECORDERS:
        raise NotAllowed("population_recorder_required", f"role '{role}' may not record population")


def check_population(
    population: int, households: int | None, *, poor_people: int, poor_households: int
) -> None:
    """Invariant 10 (E for a recorded figure; W only in imports): coverage counts never exceed their base.

    The population is refused when it is below the poor people the registry counts in the region for the year
    (an incidence above 100 %, e.g. 13 poor people over a population of 3 = 433 %), or below its own household
    count (a household has at least one person); the household count is refused below the poor households.
    """
    if population < poor_people:
        raise Refused(
            "population_below_poor",
            f"a population of {population} is below the {poor_people} poor people registered in the region "
            "(invariant 10: coverage counts do not exceed the population base)",
            field="/population",
            poor_people=poor_people,
        )
    if households is not None and households > population:
        raise Invalid(
            "households_exceed_population",
            f"{households} households are more than {population} people: each household has at least 1 person",
            field="/households",
        )
    if households is not None and households < poor_households:
        raise Refused(
            "households_below_poor",
            f"{households} households are fewer than the {poor_households} poor households registered "
            "in the region (invariant 10)",
            field="/households",
            poor_households=poor_households,
        )


def region_must_exist(found: bool, code: str) -> None:
    """Out of scope answers exactly like missing (404)."""
    if not found:
        raise Missing("region_not_found", f"region {code} not found")

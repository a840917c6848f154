"""Report rules (报表, DOMAIN.md §5.7-§5.10; invariants 36, 38, 48): who reads which county, what a report's year
is, how rates and CSV text are written. Pure — the standard library, `shared.roles`, `shared.errors`,
`shared.labels` and the process's other domain modules; the figures themselves, money written as yuan included,
are computed by PostgreSQL (reports/repository.py), never summed here.

| rule | DOMAIN.md / issue #11 | here |
|---|---|---|
| a project belongs to the year its schedule starts (`starts_on`): the year whose allocations its lines draw on (funds' `check_allocation_link`); a project without a start date is in no year's report; its money counts in that year whatever the date of the entry | §5.6 (yearly allocations), §5.7 | `year_bounds` (and bench/planning.py `REPORT_SQL`) |
| budget execution counts the projects the county approved (approved, in progress, accepted, failed acceptance): before approval a line's commitment is a plan, no money moves | §5.8, §5.10; invariant 39 | `EXECUTED_STATUSES` |
| received and disbursed are the ledger's sums (a reversal is a negative entry, so it nets out) | §5.10; invariant 38 | repository SQL |
| the rate is disbursed ÷ committed in percent with two places, none when nothing is committed | issue #11 Reports | repository SQL (`round(100.0 * d / nullif(c, 0), 2)`), `execution_rate` |
| allocations are made to the county per year and source (资金下达): they compare with the lines by source at county or township level, not per village, township or category | §5.6, §5.9 | `allocated_applies` |
| progress is the mean of the project's milestones' percentages (two places), none without milestones | issue #11 Implementation | `progress_percent` (and the repository SQL) |
| county admins read their county, township officers their township of their county (the county named must be theirs), the province client all of its province; other roles may not | §1.4; invariant 48; issue #11 Access | `READERS`, `report_scope` (`role_may_not`, `not_a_county`, `not_a_township`, `not_a_village`) |
| money in a report, JSON and CSV, is yuan with two decimals (`*_yuan`, the API's one convention) from integer fen, exactly (never a float) | invariant 8; issue #11 Reports | repository SQL (`yuan_sql`) |
| a CSV text cell that a spreadsheet would read as a formula is quoted | issue #11 Reports | `text_cell` |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.planning.projects.domain import CLOSED, IMPLEMENTING, ProjectStatus
from shared.errors import Invalid, Missing, NotAllowed
from shared.labels import LabelledEnum, code_list
from shared.roles import RegionLevel, Role, level_of, scope_prefix

__all__ = [
    "CSV_MEDIA_TYPE",
    "EXECUTED_STATUSES",
    "READERS",
    "UNFUNDED",
    "GroupBy",
    "ReportFormat",
    "ReportScope",
    "allocated_applies",
    "county_of",
    "execution_rate",
    "progress_percent",
    "report_scope",
    "require_reader",
    "text_cell",
    "wants_csv",
    "year_bounds",
]

CSV_MEDIA_TYPE = "text/csv"


# -- code lists -------------------------------------------------------------------------------------------------
@code_list("planning_report_group_by", "预算执行汇总口径", "Budget-execution grouping")
class GroupBy(LabelledEnum):
    """What a budget-execution report has one row per."""

    township = "township", "按乡镇", "Per township"
    village = "village", "按行政村", "Per village"
    source = "source", "按资金来源", "Per funding source"
    category = "category", "按项目类别", "Per project category"


@code_list("planning_report_format", "报表格式", "Report format")
class ReportFormat(LabelledEnum):
    """The representation of a report: JSON (default) or CSV (UTF-8 with a BOM, for spreadsheets)."""

    json = "json", "JSON"
    csv = "csv", "CSV 表格", "CSV"


#: The projects budget execution counts: those the county approved, being implemented or with their acceptance
#: decided (projects/domain.py); the split of a project not approved yet is a plan, not a commitment.
EXECUTED_STATUSES: frozenset[ProjectStatus] = IMPLEMENTING | CLOSED

#: The row key of projects without any funding line when a report is grouped by source (未落实资金来源).
UNFUNDED = "unfunded"

#: Who reads the reports: the county's office, its townships' specialists, the provincial system.
READERS: frozenset[Role] = frozenset({Role.county_admin, Role.township_officer, Role.province_system})


# -- who reads what ---------------------------------------------------------------------------------------------
def require_reader(role: Role) -> None:
    """403 for a role that reads no report (the region is checked after: out of scope is 404)."""
    if role not in READERS:
        raise NotAllowed(
            "role_may_not",
            f"role '{role}' may not read reports",
            role=str(role),
            allowed=sorted(READERS),
        )


def county_of(code: str) -> str:
    """The county a township or village lies in: its first six digits."""
    return code[:6] + "000000"


@dataclass(frozen=True, slots=True)
class ReportScope:
    """The region a report covers: the county named, narrowed by its filters and by the caller's own scope."""

    county_code: str
    township_code: str | None
    village_code: str | None
    #: Every village of the report has a code starting with this (the most specific of the county, the
    #: filters and the caller's region).
    prefix: str
    #: The most specific region the request named (the one whose existence the registry confirms).
    named: str

    @property
    def like(self) -> str:
        """`prefix` as a LIKE pattern (digits only: nothing to escape)."""
        return self.prefix + "%"


def _level(code: str, level: RegionLevel, name: str) -> None:
    if level_of(code) is not level:
        raise Invalid(f"not_a_{level.value}", f"{code} is not a {level.value}'s code", field=name)


def report_scope(
    *,
    role: Role,
    region: str,
    county: str,
    township: str | None = None,
    village: str | None = None,
) -> ReportScope:
    """The region a report covers for a caller with `role` bound to `region`: the role first (403), then the
    codes' levels (422), then the regions (404, like a region that does not exist: a county that is not the
    caller's, a township or village outside the county, the caller's or each other's)."""
    require_reader(role)
    _level(county, RegionLevel.county, "county")
    if township is not None:
        _level(township, RegionLevel.township, "township")
    if village is not None:
        _level(village, RegionLevel.village, "village")
    own = scope_prefix(region)
    county_prefix = scope_prefix(county)
    # A county is the caller's when it lies in their region (a county admin, the province) or their region lies in
    # it (a township officer of the county).
    if not (county_prefix.startswith(own) or own.startswith(county_prefix)):
        raise Missing("county_missing", f"county {county} not found", region_code=county)
    prefix = county_prefix
    for code in (township, village):
        if code is None:
            continue
        narrower = scope_prefix(code)
        if not narrower.startswith(prefix):
            raise Missing("region_missing", f"region {code} not found in {county}", region_code=code)
        prefix = narrower
    if not (prefix.startswith(own) or own.startswith(prefix)):
        raise Missing(
            "region_missing", f"region {village or township} not found", region_code=village or township
        )
    named = village or township or county
    return ReportScope(
        county_code=county,
        township_code=township,
        village_code=village,
        prefix=max(prefix, own, key=len),
        named=named,
    )


# -- what a report counts ---------------------------------------------------------------------------------------
def year_bounds(year: int) -> tuple[date, date]:
    """The projects of a year: `starts_on` in [first, next year's first)."""
    return date(year, 1, 1), date(year + 1, 1, 1)


def allocated_applies(group_by: GroupBy, scope: ReportScope) -> bool:
    """Whether the county's allocations compare with the rows: by source, at county or township level (an
    allocation is the county's pool per source and year; a village or a category has none of its own)."""
    return group_by is GroupBy.source and scope.village_code is None and len(scope.prefix) <= 9


_CENT = Decimal("0.01")


def execution_rate(disbursed_fen: int, committed_fen: int) -> Decimal | None:
    """Disbursed as a percentage of committed, two places (half up, as PostgreSQL's `round`); None when nothing
    is committed."""
    if committed_fen == 0:
        return None
    return (Decimal(disbursed_fen) * 100 / Decimal(committed_fen)).quantize(_CENT, rounding=ROUND_HALF_UP)


def progress_percent(percents: Iterable[int]) -> Decimal | None:
    """The mean of the milestones' percentages, two places (half up, as PostgreSQL's `round`); None without
    milestones."""
    values = list(percents)
    if not values:
        return None
    return (Decimal(sum(values)) / Decimal(len(values))).quantize(_CENT, rounding=ROUND_HALF_UP)


# -- representations --------------------------------------------------------------------------------------------
def wants_csv(format_: ReportFormat | None, accept: str | None) -> bool:
    """CSV when `?format=csv`, or with no `format` when the Accept header asks for text/csv."""
    if format_ is not None:
        return format_ is ReportFormat.csv
    if not accept:
        return False
    return any(part.split(";")[0].strip().lower() == CSV_MEDIA_TYPE for part in accept.split(","))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str:
    """A text cell as a spreadsheet should show it: a value starting like a formula (`=`, `+`, `-`, `@`) is
    prefixed with `'` so that it stays text (CSV injection)."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value

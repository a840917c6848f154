"""Report API models (报表): budget execution, project progress, overdue milestones — as JSON, and the columns of
their CSV form.

Money speaks the API's one convention: yuan as a decimal string with exactly two places (`*_yuan`, `Yuan`:
`"1750000.00"`), from the ledger's integer fen exactly — PostgreSQL writes each amount as that text
(reports/repository.py `yuan_sql`, never a float), and a report's CSV has the same figures in its `*_yuan`
columns. Rates and progress are `Percent` strings with two places. The JSON of a report is written from
PostgreSQL's rows directly (reports/service.py; tests check it validates against these models), so these models
document it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pydantic_core
from pydantic import BaseModel, Field

from services.planning.projects.domain import ProjectCategory, ProjectStatus
from services.planning.projects.schemas import OverdueMilestone
from services.planning.reports.domain import GroupBy, ReportFormat, wants_csv
from shared.schemas import Percent, ResponseModel, Yuan

__all__ = [
    "BUDGET_COLUMNS",
    "BUDGET_KEY_COLUMNS",
    "OVERDUE_COLUMNS",
    "PROGRESS_COLUMNS",
    "BudgetExecutionQuery",
    "BudgetExecutionReport",
    "BudgetExecutionRow",
    "BudgetExecutionTotals",
    "CsvExport",
    "GroupBy",
    "OverdueMilestone",
    "OverdueMilestonesQuery",
    "OverdueMilestonesReport",
    "ProjectProgressQuery",
    "ProjectProgressReport",
    "ProjectProgressRow",
    "ProjectProgressTotals",
    "ReportFormat",
    "report_json",
    "wants_csv",
]

_RATE = "Disbursed ÷ committed x 100, two places; null when nothing is committed"
_ALLOCATED = (
    "The county's allocations (资金下达) of the year from this source. Allocations are made to the county per source"
    " and year, so this is given only with `group_by=source` at county or township level (for a township: the"
    " county's pool its projects draw on); null for other groupings and for a village"
)
_COMMITTED = "Σ the projects' funding lines' commitments"
_RECEIVED = "Σ receipts on those lines in the ledger, reversals netted (a reversal is a negative entry)"
_DISBURSED = (
    "Σ disbursements from those lines in the ledger, reversals netted (a reversal is a negative entry)"
)


# == budget execution ============================================================================================
class BudgetExecutionQuery(BaseModel):
    """A budget-execution request (the route's query parameters)."""

    county: str
    year: int
    group_by: GroupBy = GroupBy.village
    township: str | None = None
    village: str | None = None


class BudgetExecutionTotals(ResponseModel):
    """The report's totals: every project of the report once."""

    projects: int = Field(description="Approved projects starting in the year")
    allocated_yuan: Yuan | None = Field(description=_ALLOCATED + " (here: Σ over the sources)")
    committed_yuan: Yuan = Field(description=_COMMITTED)
    received_yuan: Yuan = Field(description=_RECEIVED)
    disbursed_yuan: Yuan = Field(description=_DISBURSED)
    rate: Percent | None = Field(description=_RATE)


class BudgetExecutionRow(ResponseModel):
    """One row: a township, a village, a funding source or a project category."""

    key: str = Field(
        description="The township's or village's code, the source's or the category's code; with"
        " `group_by=source`, `unfunded` for projects without any funding line",
        examples=["451025100201"],
    )
    label: str | None = Field(
        description="The zh-CN label of the source or category (未落实资金来源 for `unfunded`); null for regions"
    )
    projects: int = Field(
        description="Approved projects starting in the year (by source: those with a line of the source, so a"
        " project may count in several rows)"
    )
    allocated_yuan: Yuan | None = Field(description=_ALLOCATED)
    committed_yuan: Yuan = Field(description=_COMMITTED)
    received_yuan: Yuan = Field(description=_RECEIVED)
    disbursed_yuan: Yuan = Field(description=_DISBURSED)
    rate: Percent | None = Field(description=_RATE)


class BudgetExecutionReport(ResponseModel):
    """Budget execution (预算执行) of a county's projects of one year, from the ledger: what the approved projects'
    funding lines commit, what arrived (到位) and what was paid out (拨付), per row and in total.

    The year: a project belongs to the year its schedule starts (`starts_on`, the year whose allocations its lines
    draw on); all of its money counts there, whatever the dates of the ledger entries. Projects without a start
    date are in no year's report; projects not approved yet (drafts, under review, returned) are not counted."""

    county_code: str
    township_code: str | None = Field(
        description="The township the report is narrowed to (filter or your scope)"
    )
    village_code: str | None = Field(description="The village the report is narrowed to")
    year: int
    group_by: GroupBy
    rows: list[BudgetExecutionRow] = Field(description="By key")
    totals: BudgetExecutionTotals


#: CSV: the column of the row's key, by grouping (Chinese and English).
BUDGET_KEY_COLUMNS: dict[GroupBy, str] = {
    GroupBy.township: "乡镇代码 township_code",
    GroupBy.village: "行政村代码 village_code",
    GroupBy.source: "资金来源 source",
    GroupBy.category: "项目类别 category",
}
#: CSV: the other columns of budget execution.
BUDGET_COLUMNS: tuple[str, ...] = (
    "名称 label",
    "项目数 projects",
    "下达资金(元) allocated_yuan",
    "承诺资金(元) committed_yuan",
    "到位资金(元) received_yuan",
    "已拨付(元) disbursed_yuan",
    "执行率(%) rate",
)


# == project progress ============================================================================================
class ProjectProgressQuery(BaseModel):
    county: str
    year: int
    township: str | None = None
    village: str | None = None


class ProjectProgressRow(ResponseModel):
    """One project: where it stands, its milestones, its money, its acceptance."""

    project_id: uuid.UUID
    village_code: str
    name: str
    category: ProjectCategory
    status: ProjectStatus
    milestones_done: int
    milestones_total: int
    progress_percent: Percent | None = Field(
        description="Mean of the milestones' percentages, two places; null without milestones"
    )
    budget_yuan: Yuan = Field(examples=["1750000.00"])
    disbursed_yuan: Yuan = Field(description="Σ disbursements in the ledger, reversals netted")
    accepted: bool = Field(description="The completion acceptance (验收) passed")


class ProjectProgressTotals(ResponseModel):
    projects: int
    budget_yuan: Yuan
    disbursed_yuan: Yuan
    accepted: int = Field(description="Projects whose completion acceptance passed")


class ProjectProgressReport(ResponseModel):
    """Every project of the county (or township, or village) starting in the year, whatever its status, by
    village then id: its status, milestones done of all, progress, budget, what was disbursed, accepted or not."""

    county_code: str
    township_code: str | None
    village_code: str | None
    year: int
    rows: list[ProjectProgressRow]
    totals: ProjectProgressTotals


PROGRESS_COLUMNS: tuple[str, ...] = (
    "项目编号 project_id",
    "行政村代码 village_code",
    "项目名称 name",
    "项目类别 category",
    "状态 status",
    "已完成节点 milestones_done",
    "节点总数 milestones_total",
    "进度(%) progress_percent",
    "预算(元) budget_yuan",
    "已拨付(元) disbursed_yuan",
    "已验收 accepted",
)


# == overdue milestones ==========================================================================================
class OverdueMilestonesQuery(BaseModel):
    county: str
    as_of: date | None = None
    township: str | None = None
    village: str | None = None


class OverdueMilestonesReport(ResponseModel):
    """Milestones due before the day and not done (逾期节点), of the county's projects being implemented, oldest due
    first — the list of `GET /projects/overdue-milestones`, whole."""

    county_code: str
    township_code: str | None
    village_code: str | None
    as_of: date = Field(description="The day (default: today in China)")
    rows: list[OverdueMilestone]
    total: int


OVERDUE_COLUMNS: tuple[str, ...] = (
    "项目编号 project_id",
    "项目名称 project_name",
    "行政村代码 village_code",
    "节点编号 milestone_id",
    "节点名称 milestone",
    "计划完成日期 due_on",
    "进度(%) percent",
    "逾期天数 days_overdue",
)


# == CSV =========================================================================================================
@dataclass(frozen=True, slots=True)
class CsvExport:
    """A CSV answer: its file name and its bytes, produced while they are sent (UTF-8, the BOM first)."""

    filename: str
    chunks: AsyncIterator[bytes]


def report_json(body: dict[str, Any]) -> bytes:
    """The JSON of a report from plain values (no model per row: the rows are PostgreSQL's, already typed; a test
    checks the answer validates against the report's model)."""
    return pydantic_core.to_json(body)

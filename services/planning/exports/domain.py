"""The rules of planning's snapshot exports (issue #15), pure: which datasets, who may export, their fields.

- **Datasets** (`PlanningDataset`), each the REST read of one record, nested parts included:
  - `plans` (村级规划): every plan version (superseded ones too, as `GET /villages/{code}/plans` lists them) as
    `PlanPublic` (`GET /plans/{plan_id}`): its targets (指标目标: baseline, target, the newest actual, progress)
    and its approval history (审批记录) nested;
  - `projects` (项目库): every project as `ProjectPublic` with the detail's beneficiary counts (受益户数, 其中
    贫困户数) and its milestones (进度节点) nested;
  - `funds_ledger` (资金台账): every entry of the funds ledger as `LedgerEntryPublic`, amounts in yuan exact
    (decimal strings with two places, from integer fen), reversals as negative entries naming what they reverse.
  Unknown: 404 `unknown_export_dataset`. The catalogues are held to the response models by the pure tests
  (tests/planning/test_exports_domain.py).
- **Who** (DOMAIN.md §1.4, the planning read rules `PROFILE_READERS`, `MONEY_READERS`): county admins, township
  and village officers (their region subtree), the province client (read-only) and internal services. Cadres
  read a project through their paired households, never a region's books: no bulk export (403
  `export_not_allowed`).
- **Fields**, **rows**, **CSV**, the trailer: shared/exchange/export.py, the same for every service.
"""

from __future__ import annotations

from services.planning.funds.domain import MONEY_READERS
from services.planning.profiles.domain import PROFILE_READERS
from shared.errors import NotAllowed
from shared.exchange.export import Dataset, Nested
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "DATASETS",
    "EXPORT_ROLES",
    "FUNDS_LEDGER",
    "LEDGER_ENTRY_FIELDS",
    "MILESTONE_FIELDS",
    "PLANS",
    "PLAN_EVENT_FIELDS",
    "PLAN_FIELDS",
    "PROJECTS",
    "PROJECT_FIELDS",
    "TARGET_FIELDS",
    "ExportFormat",
    "PlanningDataset",
    "check_exporter",
]


class PlanningDataset(LabelledEnum):
    """What a planning export carries."""

    plans = "plans", "村级规划(含指标目标及审批记录)", "Village plans with targets and history"
    projects = "projects", "项目库(含进度节点及受益户数)", "Projects with milestones and beneficiary counts"
    funds_ledger = "funds_ledger", "资金台账", "Funds ledger entries"


class ExportFormat(LabelledEnum):
    """The file formats of an export."""

    ndjson = "ndjson", "NDJSON 每行一条记录", "NDJSON, one record per line"
    csv = "csv", "CSV 表格 (Excel, WPS)", "CSV for Excel/WPS"


#: Roles with a bulk export of their region subtree: those that read plans, projects and the books.
EXPORT_ROLES: frozenset[Role] = PROFILE_READERS & MONEY_READERS

#: `PlanPublic` (plans/schemas.py) without its lists, which are nested below.
PLAN_FIELDS: tuple[str, ...] = (
    "id",
    "lineage_id",
    "version",
    "supersedes",
    "village_code",
    "plan_type",
    "title",
    "start_year",
    "end_year",
    "status",
    "row_version",
    "created_at",
    "updated_at",
    "summary",
    "created_by",
)
#: `TargetPublic`: `baseline`, `target` (`{value, year}`), `latest_actual` (`ActualPublic` or null), `progress`.
TARGET_FIELDS: tuple[str, ...] = (
    "indicator_code",
    "label_zh",
    "label_en",
    "unit",
    "direction",
    "baseline",
    "target",
    "latest_actual",
    "progress",
)
#: `PlanEventPublic`.
PLAN_EVENT_FIELDS: tuple[str, ...] = (
    "seq",
    "step",
    "status_after",
    "at",
    "actor",
    "role",
    "reason",
    "opinion",
    "document_number",
    "note",
    "assembly",
    "amends",
    "superseded_by",
)
#: `ProjectPublic` (projects/schemas.py) and the detail's beneficiary counts.
PROJECT_FIELDS: tuple[str, ...] = (
    "id",
    "plan_id",
    "village_code",
    "natural_village",
    "category",
    "name",
    "quantity",
    "unit",
    "starts_on",
    "finishes_on",
    "implementing_party",
    "responsible_person",
    "expected_outputs",
    "budget_yuan",
    "status",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "beneficiaries_count",
    "poor_beneficiaries_count",
)
#: `MilestonePublic`.
MILESTONE_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "due_on",
    "percent",
    "done_on",
    "note",
    "updated_at",
    "updated_by",
)
#: `LedgerEntryPublic` (funds/schemas.py).
LEDGER_ENTRY_FIELDS: tuple[str, ...] = (
    "id",
    "line_id",
    "project_id",
    "kind",
    "amount_yuan",
    "stage",
    "payee",
    "voucher",
    "approved_by",
    "reverses",
    "reversed_by",
    "entry_date",
    "recorded_at",
    "recorded_by",
)

PLANS = Dataset(
    PlanningDataset.plans,
    PLAN_FIELDS,
    (Nested("targets", TARGET_FIELDS, many=True), Nested("history", PLAN_EVENT_FIELDS, many=True)),
    "plan.export",
)
PROJECTS = Dataset(
    PlanningDataset.projects,
    PROJECT_FIELDS,
    (Nested("milestones", MILESTONE_FIELDS, many=True),),
    "project.export",
)
FUNDS_LEDGER = Dataset(PlanningDataset.funds_ledger, LEDGER_ENTRY_FIELDS, (), "ledger.export")
DATASETS: tuple[Dataset[PlanningDataset], ...] = (PLANS, PROJECTS, FUNDS_LEDGER)


def check_exporter(role: Role, dataset: Dataset[PlanningDataset]) -> None:
    """Cadres (and any role not listed) have no bulk export."""
    if role not in EXPORT_ROLES:
        raise NotAllowed(
            "export_not_allowed",
            f"role '{role}' has no {dataset.name.value} export; it is for officers, the province system and"
            " services",
            role=str(role),
        )

"""The rules of the assessment's snapshot exports (issue #15), pure: which datasets, who may export them, what a
row carries.

- **Datasets** (`ExportDataset`): `runs` (考核运行: every run the caller may read, as `GET /runs/{run_id}` answers
  it, `RunPublic`) and `results` (考核结果: every subject's result of those runs that have results, with its
  indicator breakdown, veto hits, bonus hits and commendations nested, as `GET /runs/{run_id}/results/{subject_id}`
  answers them, `ResultPublic`, without the prose explanations: they are the single-result route's). An unknown
  dataset is 404 `unknown_export_dataset`.
- **Who** (issue #12 Access, `runs.domain.reader_for`): county admins (their county's runs and results, any
  status), township officers (their county's runs; their township's subjects' results), the province client and
  services (published runs and their results, in their region). Village officers and cadres read their own
  result only (`own_result_only` on the REST lists): they have no bulk export (403 `export_not_allowed`).
- `findings` (检查发现问题: every inspection finding of the caller's region, as `GET /findings/{finding_id}`
  answers it, with its effect, its evidence's metadata and its rectification tasks (限期整改: owner, deadline,
  status, overdue as of the export's date, history, evidence) nested). By region, as the findings' own reads
  scope them (an inspector's findings outside their region are read with `GET /findings`).
- **Unpublished results** reach exactly the callers who read them over REST: the province and services never see
  a run that is not published, nor its results, in an export or the feed.
- **Fields**: each dataset's top-level fields, and `<nested>.<field>` (`indicators.points`, `vetoes.reason` ...);
  a nested name alone selects all its fields; unknown: 422 `unknown_export_field`.
- **Values** are the API's: points and figures decimal strings without trailing zeros (`"86.76"`, `"15"`), times
  RFC 3339 in UTC with `Z`, codes as their code-list values.
"""

from __future__ import annotations

from shared.errors import NotAllowed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "BONUS_FIELDS",
    "COMMENDATION_FIELDS",
    "EFFECT_FIELDS",
    "EVIDENCE_FIELDS",
    "EXPORT_ROLES",
    "FINDING_FIELDS",
    "INDICATOR_FIELDS",
    "RECTIFICATION_FIELDS",
    "RESULT_FIELDS",
    "RUN_FIELDS",
    "VETO_FIELDS",
    "ExportDataset",
    "ExportFormat",
    "check_exporter",
    "result_id",
]


class ExportDataset(LabelledEnum):
    """What an assessment export carries."""

    runs = "runs", "考核运行", "Assessment runs"
    results = "results", "考核结果(含指标得分明细)", "Assessment results with their indicator breakdown"
    findings = "findings", "检查发现问题(含整改)", "Inspection findings with their rectifications"


class ExportFormat(LabelledEnum):
    """The file formats of an export."""

    ndjson = "ndjson", "NDJSON 每行一条记录", "NDJSON, one record per line"
    csv = "csv", "CSV 表格 (Excel, WPS)", "CSV for Excel/WPS"


#: Roles with a bulk export (and the change feed): those that list results over REST.
EXPORT_ROLES: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.province_system, Role.service}
)

#: `RunPublic` (runs/schemas.py), in its order.
RUN_FIELDS: tuple[str, ...] = (
    "id",
    "scheme_id",
    "scheme_name",
    "scheme_version",
    "lineage_id",
    "subject_type",
    "region_code",
    "county_code",
    "year",
    "kind",
    "version",
    "status",
    "baseline_run_id",
    "snapshot_run_id",
    "corrects_run_id",
    "superseded_by",
    "failure_code",
    "failure_reason",
    "subjects",
    "absent_metrics",
    "created_at",
    "created_by",
    "started_at",
    "frozen_at",
    "scored_at",
    "failed_at",
    "published_at",
    "published_by",
)
#: `ResultPublic` without its lists (nested below) and its prose (`explanation_*`, `tie_rule_*`); `id` is the
#: result's feed id (`<run id>:<subject id>`), `vetoed` and `peer_group` as the ranking (`ResultSummary`) has them.
RESULT_FIELDS: tuple[str, ...] = (
    "id",
    "run_id",
    "run_status",
    "kind",
    "year",
    "subject_type",
    "subject_id",
    "name",
    "region_code",
    "parent_code",
    "parent_name",
    "peer_group",
    "raw_total",
    "bonus",
    "score_by_points",
    "score",
    "grade",
    "grade_by_score",
    "rank",
    "peers",
    "vetoed",
    "not_evaluated",
    "promotion_blocked",
)
#: `IndicatorResultPublic` without its prose explanation; depth first, as the REST result lists them.
INDICATOR_FIELDS: tuple[str, ...] = (
    "code",
    "name",
    "name_en",
    "parent_code",
    "level",
    "kind",
    "method",
    "metric",
    "metric_label",
    "max_points",
    "value",
    "target",
    "points",
    "rule",
)
#: `VetoHitPublic`.
VETO_FIELDS: tuple[str, ...] = ("code", "name", "effect", "reason", "metric", "metric_label", "value")
#: `BonusHitPublic`.
BONUS_FIELDS: tuple[str, ...] = ("code", "name", "points")
#: `CommendationPublic` without its prose explanation.
COMMENDATION_FIELDS: tuple[str, ...] = ("code", "name", "eligible", "award_fen")

#: `FindingPublic` (inspections/schemas.py) without its effect and evidence (nested below).
FINDING_FIELDS: tuple[str, ...] = (
    "id",
    "inspection_id",
    "inspection_level",
    "year",
    "subject_type",
    "subject_id",
    "region_code",
    "category",
    "severity",
    "description",
    "found_on",
    "status",
    "counts",
    "reported_at",
    "reported_by",
    "reviewed_at",
    "reviewed_by",
    "review_note",
    "revision",
)
#: `EffectPublic` (a deduction or a veto; null when the finding asks for none).
EFFECT_FIELDS: tuple[str, ...] = ("kind", "code", "points")
#: `EvidencePublic` (the metadata; the bytes are at `/findings/{finding_id}/evidence/{evidence_id}`).
EVIDENCE_FIELDS: tuple[str, ...] = ("id", "sha256", "content_type", "size", "uploaded_at", "uploaded_by")
#: `RectificationPublic` without its `finding` (the row it is nested in): owner, history and evidence nested in
#: each; `overdue` and `days_overdue` as of the export's date (China).
RECTIFICATION_FIELDS: tuple[str, ...] = (
    "id",
    "finding_id",
    "inspection_id",
    "year",
    "region_code",
    "owner",
    "requirement",
    "deadline",
    "status",
    "overdue",
    "days_overdue",
    "response",
    "submitted_at",
    "submitted_by",
    "reviewed_at",
    "reviewed_by",
    "rounds",
    "revision",
    "created_at",
    "created_by",
    "history",
    "evidence",
)


def check_exporter(role: Role, what: str) -> None:
    """Village officers and cadres (and any role not listed) read their own result only: no bulk export."""
    if role not in EXPORT_ROLES:
        raise NotAllowed(
            "export_not_allowed",
            f"role '{role}' has no {what} export; you read your own result: GET /runs/{{run_id}}/results/"
            "{subject_id}",
            role=str(role),
        )


def result_id(run_id: str, subject_id: str) -> str:
    """A result's id in exports and the feed: its run and its subject."""
    return f"{run_id}:{subject_id}"

"""Every SQL statement of planning's exports, and the record JSON the change feed shares with them.

A record is built by PostgreSQL as the JSON the REST read answers for it, never respelt in Python:

- a plan version (`plan_json`): `PlanPublic` (GET /plans/{plan_id}): its columns, its targets (by indicator code)
  with the catalogue's labels, the newest actual of the village from the baseline year on and the progress made
  (plans/domain.py `progress`, the same arithmetic), and its history (by seq);
- a project (`project_json`): `ProjectPublic` (GET /projects/{id}) with the detail's `beneficiaries_count`,
  `poor_beneficiaries_count` (the registry statuses of projects/domain.py `POOR_STATUSES` when added) and
  `milestones` (by due date, then id);
- a ledger entry (`ledger_entry_json`): `LedgerEntryPublic` (GET /ledger-entries/{id}), amounts in yuan text
  exact from integer fen (reports/repository.py `yuan_sql`), `reversed_by` the entry reversing it.

Values are written as the models write them: times through `rfc3339_sql`, indicator values as plain decimals
(`trim_scale`: "14.1", "100"), percentages and quantities with two places.

An export reads every record of its dataset under the region prefix ($1, with `%`) through a server-side cursor
(`ExportRepository.rows`), in one statement per dataset, in the snapshot the service opened (the feed cursor is
read in it first: shared/exchange/feed_sql.py `snapshot_cursor`). Scope: a plan or
a project by its village, a ledger entry by its project's village; nothing outside the prefix can be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import asyncpg

from services.planning.exports.domain import PlanningDataset
from services.planning.projects.domain import POOR_STATUSES
from services.planning.reports.repository import yuan_sql
from shared.exchange.feed_sql import snapshot, snapshot_cursor
from shared.sql_json import rfc3339_sql

__all__ = [
    "CHUNK",
    "EXPORT_SQL",
    "RECORD_SQL",
    "ExportRepository",
    "ledger_entry_json",
    "plan_json",
    "project_json",
]

_t = rfc3339_sql


def _value(expr: str) -> str:
    """An indicator value (numeric(18, 4)) as `IndicatorValue` writes it: plain, no trailing zeros."""
    return f"trim_scale({expr})::text"


def _progress(actual: str, target: str, baseline: str, increase: str) -> str:
    """`ProgressPublic` of an actual against a target (plans/domain.py `progress`): met at or past the target;
    else the share of the way from the baseline, capped to 0-100, two places; regressed when worse than the
    baseline; no data without an actual."""
    met = f"(CASE WHEN {increase} THEN {actual} >= {target} ELSE {actual} <= {target} END)"
    worse = f"(CASE WHEN {increase} THEN {actual} < {baseline} ELSE {actual} > {baseline} END)"
    share = (
        f"round(least(greatest(CASE WHEN {target} = {baseline} THEN 0"
        f" ELSE ({actual} - {baseline}) * 100 / ({target} - {baseline}) END, 0), 100), 2)::text"
    )
    return (
        "json_build_object("
        f"'state', CASE WHEN {actual} IS NULL THEN 'no_data' WHEN {met} THEN 'met'"
        f" WHEN {worse} THEN 'regressed' ELSE 'in_progress' END,"
        f" 'percent', CASE WHEN {actual} IS NULL THEN NULL WHEN {met} THEN '100.00' ELSE {share} END)"
    )


_ACTUAL = f"""json_build_object(
  'indicator_code', a.indicator_code, 'year', a.year, 'value', {_value("a.value")}, 'version', a.version,
  'source', a.source, 'recorded_at', {_t("a.recorded_at")}, 'recorded_by', a.recorded_by)"""

_TARGET = f"""json_build_object(
  'indicator_code', t.indicator_code, 'label_zh', coalesce(i.label_zh, t.indicator_code),
  'label_en', coalesce(i.label_en, t.indicator_code), 'unit', t.unit, 'direction', t.direction,
  'baseline', json_build_object('value', {_value("t.baseline_value")}, 'year', t.baseline_year),
  'target', json_build_object('value', {_value("t.target_value")}, 'year', t.target_year),
  'latest_actual', CASE WHEN a.indicator_code IS NOT NULL THEN {_ACTUAL} END,
  'progress', {_progress("a.value", "t.target_value", "t.baseline_value", "t.direction = 'increase'")})"""

_ASSEMBLY = """json_build_object(
  'held_on', e.data->'held_on', 'representatives', e.data->'representatives', 'present', e.data->'present',
  'votes_for', e.data->'votes_for', 'votes_against', e.data->'votes_against',
  'votes_abstaining', e.data->'votes_abstaining', 'minutes_ref', e.data->'minutes_ref',
  'poor_household_representatives', e.data->'poor_household_representatives')"""

_EVENT = f"""json_build_object(
  'seq', e.seq, 'step', e.step, 'status_after', e.status_after, 'at', {_t("e.at")}, 'actor', e.actor,
  'role', e.role, 'reason', e.reason, 'opinion', e.data->'opinion', 'document_number', e.data->'document_number',
  'note', e.data->'note', 'assembly', CASE WHEN e.step = 'assembly' THEN {_ASSEMBLY} END,
  'amends', e.data->'amends', 'superseded_by', e.data->'by')"""


def plan_json(p: str = "p") -> str:
    """`PlanPublic` of the plan version row `p` as one JSON object."""
    return f"""json_build_object(
  'id', {p}.id, 'lineage_id', {p}.lineage_id, 'version', {p}.version, 'supersedes', {p}.supersedes,
  'village_code', {p}.village_code, 'plan_type', {p}.plan_type, 'title', {p}.title,
  'start_year', {p}.start_year, 'end_year', {p}.end_year, 'status', {p}.status, 'row_version', {p}.row_version,
  'created_at', {_t(f"{p}.created_at")}, 'updated_at', {_t(f"{p}.updated_at")}, 'summary', {p}.summary,
  'created_by', {p}.created_by,
  'targets', (SELECT coalesce(json_agg({_TARGET} ORDER BY t.indicator_code), '[]'::json)
    FROM planning_plan_indicator t LEFT JOIN planning_indicator i ON i.code = t.indicator_code
    LEFT JOIN LATERAL (
      SELECT x.* FROM planning_indicator_actual x
      WHERE x.village_code = {p}.village_code AND x.indicator_code = t.indicator_code AND x.year >= t.baseline_year
      ORDER BY x.year DESC, x.version DESC LIMIT 1) a ON true
    WHERE t.plan_id = {p}.id),
  'history', (SELECT coalesce(json_agg({_EVENT} ORDER BY e.seq), '[]'::json)
    FROM planning_plan_event e WHERE e.plan_id = {p}.id))"""  # noqa: S608 - constant SQL


_POOR = ", ".join(f"'{s}'" for s in sorted(POOR_STATUSES))
_MILESTONE = f"""json_build_object(
  'id', m.id, 'name', m.name, 'due_on', m.due_on, 'percent', m.percent, 'done_on', m.done_on, 'note', m.note,
  'updated_at', {_t("m.updated_at")}, 'updated_by', m.updated_by)"""


def project_json(p: str = "p") -> str:
    """`ProjectPublic` of the project row `p`, with its beneficiary counts and milestones, as one JSON object."""
    return f"""json_build_object(
  'id', {p}.id, 'plan_id', {p}.plan_id, 'village_code', {p}.village_code, 'natural_village', {p}.natural_village,
  'category', {p}.category, 'name', {p}.name, 'quantity', {p}.quantity::text, 'unit', {p}.unit,
  'starts_on', {p}.starts_on, 'finishes_on', {p}.finishes_on, 'implementing_party', {p}.implementing_party,
  'responsible_person', {p}.responsible_person, 'expected_outputs', {p}.expected_outputs,
  'budget_yuan', {yuan_sql(f"{p}.budget_fen")}, 'status', {p}.status, 'version', {p}.version,
  'created_at', {_t(f"{p}.created_at")}, 'created_by', {p}.created_by, 'updated_at', {_t(f"{p}.updated_at")},
  'beneficiaries_count', (SELECT count(*) FROM planning_project_beneficiary b WHERE b.project_id = {p}.id),
  'poor_beneficiaries_count', (SELECT count(*) FROM planning_project_beneficiary b
    WHERE b.project_id = {p}.id AND b.status_when_added IN ({_POOR})),
  'milestones', (SELECT coalesce(json_agg({_MILESTONE} ORDER BY m.due_on, m.id), '[]'::json)
    FROM planning_milestone m WHERE m.project_id = {p}.id))"""  # noqa: S608 - constant SQL


def ledger_entry_json(e: str = "e") -> str:
    """`LedgerEntryPublic` of the ledger row `e` as one JSON object."""
    return f"""json_build_object(
  'id', {e}.id, 'line_id', {e}.line_id, 'project_id', {e}.project_id, 'kind', {e}.kind,
  'amount_yuan', {yuan_sql(f"{e}.amount_fen")}, 'stage', {e}.stage, 'payee', {e}.payee, 'voucher', {e}.voucher,
  'approved_by', {e}.approved_by, 'reverses', {e}.reverses,
  'reversed_by', (SELECT min(r.id) FROM planning_ledger_entry r WHERE r.reverses = {e}.id),
  'entry_date', {e}.entry_date, 'recorded_at', {_t(f"{e}.recorded_at")}, 'recorded_by', {e}.recorded_by)"""  # noqa: S608


#: Each dataset's rows (JSON text) under the prefix $1 (with `%`), in a stable order (village, then the record).
EXPORT_SQL: dict[PlanningDataset, str] = {
    PlanningDataset.plans: f"""
SELECT ({plan_json()})::text FROM planning_plan p
WHERE p.village_code LIKE $1 ORDER BY p.village_code, p.lineage_id, p.version""",  # noqa: S608 - constant SQL
    PlanningDataset.projects: f"""
SELECT ({project_json()})::text FROM planning_project p
WHERE p.village_code LIKE $1 ORDER BY p.village_code, p.id""",  # noqa: S608 - constant SQL
    PlanningDataset.funds_ledger: f"""
SELECT ({ledger_entry_json()})::text FROM planning_ledger_entry e JOIN planning_project p ON p.id = e.project_id
WHERE p.village_code LIKE $1 ORDER BY e.id""",  # noqa: S608 - constant SQL
}

_IN = "p.village_code LIKE $2"
#: The feed's record statements (shared/exchange/feed_sql.py): $1 the ids (text[]), $2 the prefix with `%`;
#: `id`, `in_scope`, `status` (none here), `record` (JSON text when in scope).
RECORD_SQL: dict[str, str] = {
    "plan": f"""
SELECT p.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN ({plan_json()})::text END AS record
FROM planning_plan p WHERE p.id = ANY($1::text[]::uuid[])""",  # noqa: S608 - constant SQL
    "project": f"""
SELECT p.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN ({project_json()})::text END AS record
FROM planning_project p WHERE p.id = ANY($1::text[]::uuid[])""",  # noqa: S608 - constant SQL
    "ledger_entry": f"""
SELECT e.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN ({ledger_entry_json()})::text END AS record
FROM planning_ledger_entry e JOIN planning_project p ON p.id = e.project_id
WHERE e.id = ANY($1::text[]::bigint[])""",  # noqa: S608 - constant SQL
}


#: Rows fetched per round trip of the server-side cursor (memory stays flat however large the region).
CHUNK = 200


class ExportRepository:
    """The statements of one export, inside its snapshot."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def snapshot(cls, pool: asyncpg.Pool) -> AsyncIterator[ExportRepository]:
        """A read-only REPEATABLE READ transaction on the read pool: one snapshot for the cursor and every row."""
        async with snapshot(pool) as conn:
            yield cls(conn)

    async def feed_cursor(self) -> str:
        """The change feed's position in this snapshot (the first statement: it fixes the snapshot)."""
        return await snapshot_cursor(self.conn)

    async def rows(self, dataset: PlanningDataset, prefix: str) -> AsyncGenerator[list[str], None]:
        """The records (JSON text) of `dataset` under `prefix`, `CHUNK` at a time."""
        cursor = await self.conn.cursor(EXPORT_SQL[dataset], prefix + "%")
        while True:
            rows = await cursor.fetch(CHUNK)
            if rows:
                yield [row[0] for row in rows]
            if len(rows) < CHUNK:
                return

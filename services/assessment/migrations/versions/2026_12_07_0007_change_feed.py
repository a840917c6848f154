"""The assessment's change feed (变更订阅, issue #15): `assessment_change` and its horizon, and the triggers that
write it for every run, result and inspection finding.

`assessment_change` (shared/exchange/feed_ddl.py `change_table_sql`) holds one row per change of a record: the
writing transaction (`txid`, `pg_current_xact_id()`: the gapless rule of services/assessment/changes), its
sequence, the record (`run`: a run's id; `result`: `<run id>:<subject id>`; `finding`: a finding's id) and the
region a reader's scope is matched against (a run's county, a result's subject region as frozen in the snapshot,
a finding's region). `assessment_change_horizon` holds one row: the highest txid ever pruned, so a cursor older
than the retention is told apart (410) from a valid one.

Triggers:
- `assessment_run` (a row trigger: runs are few): every insert, update and delete; when a run is published (scored →
  published), each of its results changes too (their `run_status`, and who may read them), one
  INSERT … SELECT of them;
- `assessment_result` (statement triggers over a transition table): the scorer writes every result of a run in
  one INSERT … SELECT (runs/repository.py), so the feed rows of that statement are written by one INSERT … SELECT
  over its new rows, never once per row; likewise on delete (results are append-only: only an operator's purge).
  The indicator rows are written by the same statement as their result and belong to it: no trigger of their own;
- `assessment_finding` (`record_trigger_sql`: insert, update, delete; a changed region names the old one too), and
  a finding's rectifications, their steps and the evidence of either: the finding changed.

Revision ID: asse0007
Revises: asse0006
Create Date: 2026-12-07
"""

# ruff: noqa: S608 - trigger bodies are constant SQL

from collections.abc import Sequence

from alembic import op

from shared.exchange.feed_ddl import change_table_sql, drop_change_table_sql, record_trigger_sql
from shared.migrate import drop_trigger_function_sql, row_trigger_sql

revision: str = "asse0007"
down_revision: str | None = "asse0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSERT = "INSERT INTO assessment_change (record_type, record_id, region_code)"

#: A run: itself; when its status changed, each of its results (their subject's region, from its snapshot).
_RUN = f"""
IF TG_OP = 'DELETE' THEN
  {_INSERT} VALUES ('run', OLD.id::text, OLD.county_code);
  RETURN NULL;
END IF;
{_INSERT} VALUES ('run', NEW.id::text, NEW.county_code);
IF TG_OP = 'UPDATE' AND NEW.status = 'published' AND OLD.status IS DISTINCT FROM 'published' THEN
  {_INSERT}
  SELECT 'result', r.run_id::text || ':' || r.subject_id, s.region_code
  FROM assessment_result r
  JOIN assessment_snapshot_subject s ON s.run_id = NEW.snapshot_run_id AND s.subject_id = r.subject_id
  WHERE r.run_id = NEW.id;
END IF"""


def _results_function(name: str, rows: str) -> str:
    """A statement trigger's function writing one feed row per result in the transition table `rows`."""
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {_INSERT}
  SELECT 'result', n.run_id::text || ':' || n.subject_id, coalesce(s.region_code, r.county_code)
  FROM {rows} n
  JOIN assessment_run r ON r.id = n.run_id
  LEFT JOIN assessment_snapshot_subject s ON s.run_id = r.snapshot_run_id AND s.subject_id = n.subject_id;
  RETURN NULL;
END $$
"""


#: A finding's rectification, a rectification's step, a finding's or a rectification's evidence: the finding
#: changed (its `rectifications`, `evidence`).
_RECTIFICATION = f"{_INSERT} VALUES ('finding', NEW.finding_id::text, NEW.region_code)"
_STEP = (
    f"{_INSERT} SELECT 'finding', r.finding_id::text, r.region_code FROM assessment_rectification r"
    " WHERE r.id = NEW.rectification_id"
)


def _of_evidence(row: str) -> str:
    return (
        f"{_INSERT} SELECT 'finding', f.id::text, f.region_code FROM assessment_finding f"
        f" WHERE {row}.owner_type = 'finding' AND f.id = {row}.owner_id"
        f" UNION ALL SELECT 'finding', r.finding_id::text, r.region_code FROM assessment_rectification r"
        f" WHERE {row}.owner_type = 'rectification' AND r.id = {row}.owner_id"
    )


_EVIDENCE = f"IF TG_OP = 'DELETE' THEN {_of_evidence('OLD')}; ELSE {_of_evidence('NEW')}; END IF"

#: table -> (timing, body) of its `<table>_change_feed` row trigger (findings' own: `record_trigger_sql`).
FINDING_TRIGGERS: dict[str, tuple[str, str]] = {
    "assessment_rectification": ("AFTER INSERT OR UPDATE", _RECTIFICATION),
    "assessment_rectification_event": ("AFTER INSERT", _STEP),
    "assessment_evidence": ("AFTER INSERT OR DELETE", _EVIDENCE),
}


def upgrade() -> None:
    for statement in change_table_sql("assessment", id_type="varchar(120)"):
        op.execute(statement)
    # Runs and results written before this revision have no feed rows: a client starts from an export.
    op.execute(
        "UPDATE assessment_change_horizon SET pruned_txid = pg_current_xact_id()"
        " WHERE EXISTS (SELECT 1 FROM assessment_run)"
    )
    for statement in row_trigger_sql(
        "assessment_run", "change_feed", "AFTER INSERT OR UPDATE OR DELETE", _RUN
    ):
        op.execute(statement)
    for statement in record_trigger_sql("assessment", "assessment_finding", "finding"):
        op.execute(statement)
    for table, (timing, body) in FINDING_TRIGGERS.items():
        for statement in row_trigger_sql(table, "change_feed", timing, body):
            op.execute(statement)
    op.execute(_results_function("assessment_result_change_feed", "new_results"))
    op.execute(_results_function("assessment_result_change_feed_gone", "old_results"))
    op.execute(
        "CREATE TRIGGER assessment_result_change_feed AFTER INSERT ON assessment_result"
        " REFERENCING NEW TABLE AS new_results FOR EACH STATEMENT EXECUTE FUNCTION assessment_result_change_feed()"
    )
    op.execute(
        "CREATE TRIGGER assessment_result_change_feed_gone AFTER DELETE ON assessment_result"
        " REFERENCING OLD TABLE AS old_results FOR EACH STATEMENT"
        " EXECUTE FUNCTION assessment_result_change_feed_gone()"
    )


def downgrade() -> None:
    for name in ("change_feed", "change_feed_gone"):
        for statement in drop_trigger_function_sql("assessment_result", name):
            op.execute(statement)
    for table in ("assessment_run", "assessment_finding", *FINDING_TRIGGERS):
        for statement in drop_trigger_function_sql(table, "change_feed"):
            op.execute(statement)
    for statement in drop_change_table_sql("assessment"):
        op.execute(statement)

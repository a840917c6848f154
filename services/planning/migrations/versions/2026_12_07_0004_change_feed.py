"""The planning change feed (变更订阅, issue #15): `planning_change`, its horizon, and the triggers writing it.

`planning_change` (shared/exchange/feed_ddl.py) holds one row per change of a record the exports carry:
`record_type` `plan` (a plan version with its targets and history), `project` (a project of the library with its
milestones and beneficiary counts) or `ledger_entry` (an entry of the funds ledger); `record_id` its id as text
(plans and projects are UUIDs, ledger entries bigints); `village_code` the record's village (a ledger entry's:
its project's). `planning_change_horizon` holds the highest txid ever pruned (410 for older cursors).

Triggers (insert, update and delete; the append-only tables refuse the last two before any AFTER trigger runs):

- a plan row, its targets (`planning_plan_indicator`: replaced as a whole on edit) and its history events: the
  plan; an indicator actual (its newest value feeds each target's `latest_actual` and `progress`): every plan of
  the village with a target on that indicator;
- a project row, its milestones and its beneficiaries: the project;
- a ledger entry: the entry, and when it reverses one, the reversed entry too (its `reversed_by` changed).

A plan or project never changes village (no route moves one): `old_village_code` would name the former village of
one that did (`record_trigger_sql`), so the feed has no `left_scope` tombstones in practice; a row deleted is a
`deleted` tombstone.

Revision ID: plan0004
Revises: plan0003
Create Date: 2026-12-07
"""

# ruff: noqa: S608 - trigger bodies are constant SQL built from constants

from collections.abc import Sequence

from alembic import op

from shared.exchange.feed_ddl import change_table_sql, drop_change_table_sql, record_trigger_sql
from shared.migrate import drop_trigger_function_sql, row_trigger_sql

revision: str = "plan0004"
down_revision: str | None = "plan0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREFIX = "planning"
_CODE = "village_code"
_ALL = "AFTER INSERT OR UPDATE OR DELETE"


def _parent(record_type: str, table: str, column: str) -> str:
    """A child row (a target, a milestone …): its parent `table` row named by `column`, with its village."""

    def insert(row: str) -> str:
        return (
            f"INSERT INTO {_PREFIX}_change (record_type, record_id, {_CODE})"
            f" SELECT '{record_type}', x.id::text, x.village_code FROM {table} x WHERE x.id = {row}.{column}"
        )

    return f"IF TG_OP = 'DELETE' THEN {insert('OLD')}; ELSE {insert('NEW')}; END IF"


#: An indicator actual: every plan of the village with a target on the indicator (its latest actual changed).
_ACTUAL = (
    f"INSERT INTO {_PREFIX}_change (record_type, record_id, {_CODE})"
    " SELECT 'plan', p.id::text, p.village_code FROM planning_plan p"
    " JOIN planning_plan_indicator t ON t.plan_id = p.id AND t.indicator_code = NEW.indicator_code"
    " WHERE p.village_code = NEW.village_code"
)

#: A ledger entry, and the entry it reverses (whose `reversed_by` it now is), with their project's village.
_LEDGER = (
    f"INSERT INTO {_PREFIX}_change (record_type, record_id, {_CODE})"
    " SELECT 'ledger_entry', e.id::text, p.village_code"
    " FROM (VALUES (NEW.id), (NEW.reverses)) AS e(id) JOIN planning_project p ON p.id = NEW.project_id"
    " WHERE e.id IS NOT NULL"
)

#: The tables whose rows are records (their own id and village): table -> record type.
RECORDS: dict[str, str] = {"planning_plan": "plan", "planning_project": "project"}
#: The other tables: table -> (timing, body) of its `<table>_change_feed` trigger.
TRIGGERS: dict[str, tuple[str, str]] = {
    "planning_plan_indicator": (_ALL, _parent("plan", "planning_plan", "plan_id")),
    "planning_plan_event": ("AFTER INSERT", _parent("plan", "planning_plan", "plan_id")),
    "planning_indicator_actual": ("AFTER INSERT", _ACTUAL),
    "planning_milestone": (_ALL, _parent("project", "planning_project", "project_id")),
    "planning_project_beneficiary": (_ALL, _parent("project", "planning_project", "project_id")),
    "planning_ledger_entry": ("AFTER INSERT", _LEDGER),
}


def upgrade() -> None:
    for statement in change_table_sql(_PREFIX, code_column=_CODE, id_type="text"):
        op.execute(statement)
    for table, record_type in RECORDS.items():
        for statement in record_trigger_sql(_PREFIX, table, record_type, code_column=_CODE):
            op.execute(statement)
    for table, (timing, body) in TRIGGERS.items():
        for statement in row_trigger_sql(table, "change_feed", timing, body):
            op.execute(statement)


def downgrade() -> None:
    for table in [*RECORDS, *TRIGGERS]:
        for statement in drop_trigger_function_sql(table, "change_feed"):
            op.execute(statement)
    for statement in drop_change_table_sql(_PREFIX):
        op.execute(statement)

"""The DDL of a service's change feed (issue #15), as plain SQL strings for its migrations (frozen in behaviour).

`change_table_sql("planning")` creates:

- `planning_change`: `seq` (bigserial, the primary key), `txid` (`xid8`, default `pg_current_xact_id()`: the
  writing transaction), `record_type` and `record_id` (what changed), `<code_column>` and `old_<code_column>`
  (the record's region when written, and its former one when it moved: the row reaches readers of both), `at`;
  with the index `ix_planning_change_txid` on `(txid, seq)` the feed reads in;
- `planning_change_horizon`: one row, the highest txid ever pruned (NULL: never), so a cursor older than the
  retention answers 410 (shared/exchange/feed.py `start_position`).

Rows are written by the service's row triggers (`shared.migrate.row_trigger_sql`), one `change_insert_sql` each;
shared/exchange/feed_sql.py `prune` deletes old rows and raises the horizon.
"""

# ruff: noqa: S608 - DDL and trigger statements built from the service's constant names, never from input

from __future__ import annotations

from shared.migrate import drop_trigger_function_sql, row_trigger_sql

__all__ = [
    "change_insert_sql",
    "change_table_sql",
    "drop_change_table_sql",
    "drop_record_trigger_sql",
    "record_trigger_sql",
]


def change_table_sql(prefix: str, *, code_column: str = "region_code", id_type: str = "uuid") -> list[str]:
    """Statements creating `<prefix>_change` (with its `(txid, seq)` index) and `<prefix>_change_horizon`."""
    return [
        f"CREATE TABLE {prefix}_change ("
        " seq bigserial PRIMARY KEY,"
        " txid xid8 NOT NULL DEFAULT pg_current_xact_id(),"
        " record_type varchar(32) NOT NULL,"
        f" record_id {id_type} NOT NULL,"
        f" {code_column} varchar(12),"
        f" old_{code_column} varchar(12),"
        " at timestamptz NOT NULL DEFAULT now())",
        f"CREATE INDEX ix_{prefix}_change_txid ON {prefix}_change (txid, seq)",
        f"CREATE INDEX ix_{prefix}_change_at ON {prefix}_change (at)",
        f"CREATE TABLE {prefix}_change_horizon ("
        " id boolean PRIMARY KEY DEFAULT true,"
        " pruned_txid xid8,"
        f" CONSTRAINT ck_{prefix}_change_horizon_one_row CHECK (id))",
        f"INSERT INTO {prefix}_change_horizon (id, pruned_txid) VALUES (true, NULL)",
    ]


def drop_change_table_sql(prefix: str) -> list[str]:
    return [f"DROP TABLE IF EXISTS {prefix}_change_horizon", f"DROP TABLE IF EXISTS {prefix}_change"]


def change_insert_sql(
    prefix: str,
    record_type: str,
    record_id: str,
    code: str,
    old_code: str = "NULL",
    *,
    code_column: str = "region_code",
) -> str:
    """The PL/pgSQL statement a trigger runs for one change: `record_id`, `code`, `old_code` are SQL expressions
    (`NEW.id`, `NEW.region_code`, `CASE WHEN ... THEN OLD.region_code END`), `record_type` a constant."""
    return (
        f"INSERT INTO {prefix}_change (record_type, record_id, {code_column}, old_{code_column})"
        f" VALUES ('{record_type}', {record_id}, {code}, {old_code})"
    )


def record_trigger_sql(
    prefix: str,
    table: str,
    record_type: str,
    *,
    id_column: str = "id",
    code_column: str = "region_code",
    table_code_column: str | None = None,
) -> list[str]:
    """The row trigger `<table>_change_feed` writing one change of `record_type` per insert, update and delete
    of a table whose rows carry their own id and region code (`table_code_column`, default `code_column`); an
    update that changes the region also names the old one. Records reached through another table (a child row
    changing its parent) write their own body with `change_insert_sql` and `shared.migrate.row_trigger_sql`."""
    code = table_code_column or code_column
    moved = f"TG_OP = 'UPDATE' AND OLD.{code} IS DISTINCT FROM NEW.{code}"
    deleted = change_insert_sql(
        prefix, record_type, f"OLD.{id_column}", f"OLD.{code}", code_column=code_column
    )
    written = change_insert_sql(
        prefix,
        record_type,
        f"NEW.{id_column}",
        f"NEW.{code}",
        f"CASE WHEN {moved} THEN OLD.{code} END",
        code_column=code_column,
    )
    body = f"IF TG_OP = 'DELETE' THEN {deleted}; ELSE {written}; END IF"
    return row_trigger_sql(table, "change_feed", "AFTER INSERT OR UPDATE OR DELETE", body)


def drop_record_trigger_sql(table: str) -> list[str]:
    return drop_trigger_function_sql(table, "change_feed")

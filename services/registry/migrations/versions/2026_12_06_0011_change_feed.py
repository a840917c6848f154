"""The province change feed (issue #15): transaction ids, record identities and villages on every change row.

`registry_change` gains `txid` (the writing transaction, `pg_current_xact_id()`), `record_type` / `record_id`
(household, help_record or pairing, and its id), `village_code` (the household's village when written) and
`old_village_code` (set when a household's village changed: the record may have left a reader's scope). The
triggers are replaced so that every insert, update and delete of a household, its members and incomes, a help
record (and its confirmations, flags and reviews) and a pairing writes such a row; the columns the phones'
download reads (household_id, cadre_id, kind) are written as before. `registry_change_horizon` holds one row:
the highest txid ever pruned, so a cursor older than the retention can be told apart (410) from a valid one.

Revision ID: reg0011
Revises: reg0010
Create Date: 2026-12-06
"""

# ruff: noqa: S608 - trigger bodies are constant SQL built from constants

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrate import drop_trigger_function_sql, row_trigger_sql

revision: str = "reg0011"
down_revision: str | None = "reg0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLS = "household_id, cadre_id, kind, record_type, record_id, village_code, old_village_code"
_MOVED = "TG_OP = 'UPDATE' AND OLD.village_code IS DISTINCT FROM NEW.village_code"

#: A household row: itself; when its village changed, also each of its help records and current pairings (they
#: leave a region with it).
_HOUSEHOLD = f"""
IF TG_OP = 'DELETE' THEN
  INSERT INTO registry_change ({_COLS}) VALUES (OLD.id, NULL, 'household', 'household', OLD.id, OLD.village_code, NULL);
  RETURN NULL;
END IF;
INSERT INTO registry_change ({_COLS}) VALUES (NEW.id, NULL, 'household', 'household', NEW.id, NEW.village_code,
  CASE WHEN {_MOVED} THEN OLD.village_code END);
IF {_MOVED} THEN
  INSERT INTO registry_change ({_COLS})
  SELECT DISTINCT ON (r.id) NEW.id, r.cadre_id, 'help_record', 'help_record', r.id, NEW.village_code, OLD.village_code
  FROM registry_help_record r WHERE r.household_id = NEW.id ORDER BY r.id, r.version DESC;
  INSERT INTO registry_change ({_COLS})
  SELECT NEW.id, p.cadre_id, 'pairing', 'pairing', p.id, NEW.village_code, OLD.village_code
  FROM registry_pairing p WHERE p.household_id = NEW.id AND p.superseded_at IS NULL;
END IF"""


def _of_household(household: str) -> str:
    """A household-level change for a member or income row (its household's card changed)."""
    return (
        f"INSERT INTO registry_change ({_COLS}) SELECT h.id, NULL, 'household', 'household', h.id, h.village_code,"
        f" NULL FROM registry_household h WHERE h.id = {household}"
    )


#: A member or income row: inserted, updated or deleted, its household's card changed.
_CHILD = (
    f"IF TG_OP = 'DELETE' THEN {_of_household('OLD.household_id')};"
    f" ELSE {_of_household('NEW.household_id')}; END IF"
)


def _record(record: str, household: str, cadre: str = "NULL") -> str:
    """A help-record change (the record `record` of household `household`)."""
    return (
        f"INSERT INTO registry_change ({_COLS}) SELECT h.id, {cadre}, 'help_record', 'help_record', {record},"
        f" h.village_code, NULL FROM registry_household h WHERE h.id = {household}"
    )


#: table -> (timing, body) of its `<table>_change_feed` trigger.
NEW_TRIGGERS: dict[str, tuple[str, str]] = {
    "registry_household": ("AFTER INSERT OR UPDATE OR DELETE", _HOUSEHOLD),
    "registry_member": ("AFTER INSERT OR UPDATE OR DELETE", _CHILD),
    "registry_household_income": ("AFTER INSERT OR UPDATE OR DELETE", _CHILD),
    "registry_help_record": ("AFTER INSERT", _record("NEW.id", "NEW.household_id", "NEW.cadre_id")),
    "registry_help_confirmation": (
        "AFTER INSERT",
        f"INSERT INTO registry_change ({_COLS}) SELECT r.household_id, NULL, 'help_record', 'help_record', r.id,"
        " h.village_code, NULL FROM registry_help_record r JOIN registry_household h ON h.id = r.household_id"
        " WHERE r.id = NEW.record_id LIMIT 1",
    ),
    "registry_help_record_flag": ("AFTER INSERT", _record("NEW.record_id", "NEW.household_id")),
    "registry_help_record_review": ("AFTER INSERT", _record("NEW.record_id", "NEW.household_id")),
    "registry_pairing": (
        "AFTER INSERT OR UPDATE",
        f"INSERT INTO registry_change ({_COLS}) SELECT NEW.household_id, NEW.cadre_id, 'pairing', 'pairing', NEW.id,"
        " h.village_code, NULL FROM registry_household h WHERE h.id = NEW.household_id",
    ),
}

#: The triggers as reg0004, reg0006 and reg0010 wrote them (restored by the downgrade); members and incomes had none.
OLD_TRIGGERS: dict[str, tuple[str, str]] = {
    "registry_household": (
        "AFTER INSERT OR UPDATE",
        "INSERT INTO registry_change (household_id, kind) VALUES (NEW.id, 'household')",
    ),
    "registry_help_record": (
        "AFTER INSERT OR UPDATE",
        "INSERT INTO registry_change (household_id, cadre_id, kind) VALUES (NEW.household_id, NEW.cadre_id, 'help_record')",
    ),
    "registry_help_confirmation": (
        "AFTER INSERT OR UPDATE",
        "INSERT INTO registry_change (household_id, kind)"
        " SELECT household_id, 'help_record' FROM registry_help_record WHERE id = NEW.record_id LIMIT 1",
    ),
    "registry_pairing": (
        "AFTER INSERT OR UPDATE",
        "INSERT INTO registry_change (household_id, cadre_id, kind) VALUES (NEW.household_id, NEW.cadre_id, 'pairing')",
    ),
    "registry_help_record_flag": (
        "AFTER INSERT",
        "INSERT INTO registry_change (household_id, kind) VALUES (NEW.household_id, 'help_record')",
    ),
    "registry_help_record_review": (
        "AFTER INSERT",
        "INSERT INTO registry_change (household_id, kind) VALUES (NEW.household_id, 'help_record')",
    ),
}


def _install(triggers: dict[str, tuple[str, str]]) -> None:
    for table, (timing, body) in triggers.items():
        for statement in row_trigger_sql(table, "change_feed", timing, body):
            op.execute(statement)


def _drop(tables: Sequence[str]) -> None:
    for table in tables:
        for statement in drop_trigger_function_sql(table, "change_feed"):
            op.execute(statement)


def upgrade() -> None:
    op.execute("ALTER TABLE registry_change ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()")
    op.add_column("registry_change", sa.Column("record_type", sa.String(16), nullable=True))
    op.add_column("registry_change", sa.Column("record_id", sa.UUID(), nullable=True))
    op.add_column("registry_change", sa.Column("village_code", sa.String(12), nullable=True))
    op.add_column("registry_change", sa.Column("old_village_code", sa.String(12), nullable=True))
    op.create_index("ix_registry_change_txid", "registry_change", ["txid", "seq"], unique=False)
    op.create_table(
        "registry_change_horizon",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("pruned_txid", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint("id", name="ck_registry_change_horizon_one_row"),
    )
    op.execute(
        "ALTER TABLE registry_change_horizon ALTER COLUMN pruned_txid TYPE xid8 USING pruned_txid::xid8"
    )
    op.execute("INSERT INTO registry_change_horizon (id, pruned_txid) VALUES (true, NULL)")
    # A feed already pruned before this revision: its rows carry no txid, so mark everything before now pruned.
    op.execute(
        "UPDATE registry_change_horizon SET pruned_txid = pg_current_xact_id()"
        " WHERE (SELECT min(seq) FROM registry_change) > 1"
    )
    _drop(list(NEW_TRIGGERS))
    _install(NEW_TRIGGERS)


def downgrade() -> None:
    _drop(list(NEW_TRIGGERS))
    _install(OLD_TRIGGERS)
    op.drop_table("registry_change_horizon")
    op.drop_index("ix_registry_change_txid", table_name="registry_change")
    for column in ("old_village_code", "village_code", "record_id", "record_type", "txid"):
        op.drop_column("registry_change", column)

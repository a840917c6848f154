"""The results' checks once per statement, not once per row (issue #12). The set-based scorer writes a run's
results in one statement (runs/repository.py); per row, the `…_unpublished` trigger (a PL/pgSQL call and a lookup
of the run) and the foreign key of `assessment_result_indicator.run_id` (an RI trigger: a lookup and a lock of the
run) cost more than the rows themselves (bench/assessment.py, bench/README.md).

* `assessment_result_indicator_unpublished` and `assessment_result_unpublished` become AFTER INSERT … FOR EACH
  STATEMENT triggers over the statement's new rows (a transition table) running `assessment_results_checked()`:
  the runs the rows name are locked FOR KEY SHARE, as a foreign key locks them; a run that does not exist fails
  the statement as a foreign key does (SQLSTATE 23503); a published run fails it (invariant 46, as before).
* `assessment_result_indicator_run_id_fkey` is dropped: that statement trigger is its check on insert. What a
  foreign key also refuses on the other side cannot happen: a run is never deleted (`assessment_run_locked`), and
  a run's id never changes (`assessment_run_id_fixed`, added here). `assessment_result` keeps its foreign key (one
  row per subject, not per indicator), so every result row still names a run declaratively.

Revision ID: asse0006
Revises: asse0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "asse0006"
down_revision: str | None = "asse0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESULTS = ("assessment_result_indicator", "assessment_result")

#: Per statement: every new row's run exists (locked FOR KEY SHARE, as a foreign key locks it) and is not
#: published (invariant 46).
RESULTS_CHECKED = """
CREATE FUNCTION assessment_results_checked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  runs uuid[];
  found integer;
  published uuid;
BEGIN
  SELECT array_agg(DISTINCT n.run_id) INTO runs FROM new_rows n;
  IF runs IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT count(*), (array_agg(r.id) FILTER (WHERE r.status = 'published'))[1] INTO found, published
  FROM (SELECT id, status FROM assessment_run WHERE id = ANY(runs) FOR KEY SHARE) r;
  IF found < cardinality(runs) THEN
    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
      MESSAGE = format('insert into %I names a run that does not exist (assessment_run.id)', TG_TABLE_NAME);
  END IF;
  IF published IS NOT NULL THEN
    RAISE EXCEPTION 'the results of run % are published: they are never changed (invariant 46)', published;
  END IF;
  RETURN NULL;
END $$
"""

#: A run's id never changes (rows name it without a foreign key; a run is never deleted either).
RUN_ID_FIXED = """
CREATE FUNCTION assessment_run_id_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the id of run % never changes', OLD.id;
END $$
"""

#: The row-level function of asse0004, restored by the downgrade.
ROW_FUNCTION = """
CREATE FUNCTION assessment_result_unpublished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM assessment_run WHERE id = NEW.run_id AND status = 'published') THEN
    RAISE EXCEPTION 'the results of run % are published: they are never changed (invariant 46)', NEW.run_id;
  END IF;
  RETURN NEW;
END $$
"""


def upgrade() -> None:
    for table in RESULTS:
        op.execute(f"DROP TRIGGER {table}_unpublished ON {table}")
    op.execute("DROP FUNCTION assessment_result_unpublished()")
    op.execute(RESULTS_CHECKED)
    for table in RESULTS:
        op.execute(
            f"CREATE TRIGGER {table}_unpublished AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
            " FOR EACH STATEMENT EXECUTE FUNCTION assessment_results_checked()"
        )
    op.execute(RUN_ID_FIXED)
    op.execute(
        "CREATE TRIGGER assessment_run_id_fixed BEFORE UPDATE OF id ON assessment_run FOR EACH ROW"
        " WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION assessment_run_id_fixed()"
    )
    op.drop_constraint(
        "assessment_result_indicator_run_id_fkey", "assessment_result_indicator", type_="foreignkey"
    )


def downgrade() -> None:
    op.create_foreign_key(
        "assessment_result_indicator_run_id_fkey",
        "assessment_result_indicator",
        "assessment_run",
        ["run_id"],
        ["id"],
    )
    op.execute("DROP TRIGGER assessment_run_id_fixed ON assessment_run")
    op.execute("DROP FUNCTION assessment_run_id_fixed()")
    for table in RESULTS:
        op.execute(f"DROP TRIGGER {table}_unpublished ON {table}")
    op.execute("DROP FUNCTION assessment_results_checked()")
    op.execute(ROW_FUNCTION)
    for table in RESULTS:
        op.execute(
            f"CREATE TRIGGER {table}_unpublished BEFORE INSERT ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION assessment_result_unpublished()"
        )

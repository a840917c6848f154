"""Assessment runs: the run, its append-only snapshot (subjects, figures, manual scores), the results written once
by the set-based scorer (per indicator and per subject), appeals; the scheme's rounding as a SQL function; triggers
that keep snapshots and results append-only and refuse any change to a published run's results (invariant 46).

Revision ID: asse0004
Revises: asse0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.migrate import append_only_sql, drop_append_only_sql

revision: str = "asse0004"
down_revision: str | None = "asse0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Written once: a snapshot is never edited, a result is never edited (a correction is a new run).
APPEND_ONLY = (
    "assessment_snapshot_subject",
    "assessment_snapshot",
    "assessment_snapshot_manual",
    "assessment_result_indicator",
    "assessment_result",
)
RESULTS = ("assessment_result_indicator", "assessment_result")

#: R(x) of scoring/domain.py: x >= 0 rounded to `places` by the scheme's mode (half_up: PostgreSQL's round, ties
#: away from zero; down: trunc; half_even: ties to the even digit).
ROUND_SQL = """
CREATE FUNCTION assessment_round(x numeric, places integer, mode text) RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE mode
    WHEN 'down' THEN trunc(x, places)
    WHEN 'half_even' THEN CASE
      WHEN x * power(10::numeric, places) - trunc(x * power(10::numeric, places)) = 0.5
      THEN trunc(x, places)
           + CASE WHEN mod(trunc(x * power(10::numeric, places)), 2) = 1 THEN power(10::numeric, -places) ELSE 0 END
      ELSE round(x, places) END
    ELSE round(x, places) END
$$
"""

#: Invariant 46: no result row is added to a published run (and, append-only, none is ever changed).
NO_RESULTS_AFTER_PUBLICATION = """
CREATE FUNCTION assessment_result_unpublished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM assessment_run WHERE id = NEW.run_id AND status = 'published') THEN
    RAISE EXCEPTION 'the results of run % are published: they are never changed (invariant 46)', NEW.run_id;
  END IF;
  RETURN NEW;
END $$
"""

#: A published run is never changed, except to say which run superseded it; a run is never deleted.
RUN_LOCK = """
CREATE FUNCTION assessment_run_locked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'assessment runs are never deleted';
  END IF;
  IF OLD.status = 'published' AND (to_jsonb(NEW) - 'superseded_by' - 'updated_at')
       IS DISTINCT FROM (to_jsonb(OLD) - 'superseded_by' - 'updated_at') THEN
    RAISE EXCEPTION 'run % is published: it is never changed (invariant 46)', OLD.id;
  END IF;
  RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "assessment_run",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("scheme_id", sa.UUID(), nullable=False),
        sa.Column("lineage_id", sa.UUID(), nullable=False),
        sa.Column("scheme_version", sa.Integer(), nullable=False),
        sa.Column("scheme_revision", sa.Integer(), nullable=False),
        sa.Column("scheme_document", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("subject_type", sa.String(length=24), nullable=False),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("county_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("baseline_run_id", sa.UUID(), nullable=True),
        sa.Column("snapshot_run_id", sa.UUID(), nullable=False),
        sa.Column("corrects_run_id", sa.UUID(), nullable=True),
        sa.Column("superseded_by", sa.UUID(), nullable=True),
        sa.Column("failure_code", sa.String(length=48), nullable=True),
        sa.Column("failure_reason", sa.String(length=2000), nullable=True),
        sa.Column("subjects", sa.Integer(), nullable=True),
        sa.Column(
            "absent_metrics", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('annual', 'interim_june', 'interim_december', 'what_if')", name="ck_assessment_run_kind"
        ),
        sa.CheckConstraint("status <> 'published' OR kind = 'annual'", name="ck_assessment_run_publishable"),
        sa.CheckConstraint(
            "status IN ('queued', 'freezing', 'scoring', 'scored', 'published', 'failed')",
            name="ck_assessment_run_status",
        ),
        sa.CheckConstraint("version >= 1", name="ck_assessment_run_version"),
        sa.ForeignKeyConstraint(
            ["baseline_run_id"],
            ["assessment_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["corrects_run_id"],
            ["assessment_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["assessment_scheme.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "lineage_id", "year", "region_code", "kind", "version", name="uq_assessment_run_series_version"
        ),
    )
    op.create_index("ix_assessment_run_region", "assessment_run", ["region_code", "year"], unique=False)
    op.create_index("ix_assessment_run_scheme", "assessment_run", ["scheme_id"], unique=False)
    op.create_table(
        "assessment_appeal",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("filed_role", sa.String(length=32), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.String(length=2000), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("correction_run_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'upheld', 'rejected')", name="ck_assessment_appeal_status"),
        sa.ForeignKeyConstraint(
            ["correction_run_id"],
            ["assessment_run.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["assessment_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assessment_appeal_run", "assessment_appeal", ["run_id", "subject_id"], unique=False)
    op.create_table(
        "assessment_result",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("raw_total", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("bonus", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("score_by_points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("score", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("grade", sa.String(length=24), nullable=False),
        sa.Column("grade_by_score", sa.String(length=24), nullable=False),
        sa.Column("grade_order", sa.SmallInteger(), nullable=False),
        sa.Column("bonus_hits", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("vetoes", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column(
            "not_evaluated", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("promotion_blocked", sa.Boolean(), nullable=False),
        sa.Column(
            "commendations", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("peer_group", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("peers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["assessment_run.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "subject_id"),
    )
    op.create_index(
        "ix_assessment_result_peer", "assessment_result", ["run_id", "peer_group", "rank"], unique=False
    )
    op.create_table(
        "assessment_result_indicator",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("indicator_code", sa.String(length=32), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=True),
        sa.Column("max_points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("target", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("exact", sa.Numeric(), nullable=True),
        sa.Column("points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.CheckConstraint("points >= 0", name="ck_assessment_result_indicator_points"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["assessment_run.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "subject_id", "indicator_code"),
    )
    op.create_table(
        "assessment_snapshot",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("metric_code", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["assessment_run.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "subject_id", "metric_code"),
    )
    op.create_table(
        "assessment_snapshot_manual",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("indicator_code", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["assessment_run.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "subject_id", "indicator_code"),
    )
    op.create_table(
        "assessment_snapshot_subject",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=12, collation="C"), nullable=False),
        sa.Column("parent_code", sa.String(length=12, collation="C"), nullable=True),
        sa.Column("parent_name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["assessment_run.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "subject_id"),
    )
    op.execute(ROUND_SQL)
    for table in APPEND_ONLY:
        for statement in append_only_sql(table):
            op.execute(statement)
    op.execute(NO_RESULTS_AFTER_PUBLICATION)
    for table in RESULTS:
        op.execute(
            f"CREATE TRIGGER {table}_unpublished BEFORE INSERT ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION assessment_result_unpublished()"
        )
    op.execute(RUN_LOCK)
    op.execute(
        "CREATE TRIGGER assessment_run_locked BEFORE UPDATE OR DELETE ON assessment_run"
        " FOR EACH ROW EXECUTE FUNCTION assessment_run_locked()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS assessment_run_locked ON assessment_run")
    op.execute("DROP FUNCTION IF EXISTS assessment_run_locked()")
    for table in RESULTS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_unpublished ON {table}")
    op.execute("DROP FUNCTION IF EXISTS assessment_result_unpublished()")
    for table in APPEND_ONLY:
        for statement in drop_append_only_sql(table):
            op.execute(statement)
    op.execute("DROP FUNCTION IF EXISTS assessment_round(numeric, integer, text)")
    op.drop_table("assessment_snapshot_subject")
    op.drop_table("assessment_snapshot_manual")
    op.drop_table("assessment_snapshot")
    op.drop_table("assessment_result_indicator")
    op.drop_index("ix_assessment_result_peer", table_name="assessment_result")
    op.drop_table("assessment_result")
    op.drop_index("ix_assessment_appeal_run", table_name="assessment_appeal")
    op.drop_table("assessment_appeal")
    op.drop_index("ix_assessment_run_scheme", table_name="assessment_run")
    op.drop_index("ix_assessment_run_region", table_name="assessment_run")
    op.drop_table("assessment_run")

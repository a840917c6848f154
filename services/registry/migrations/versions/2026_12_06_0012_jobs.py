"""Import and export jobs (issue #15): the registry's job queue and the jobs' own records.

- procrastinate's schema (jobs, workers, events; its types and functions) in a PostgreSQL schema of the registry's
  own, `registry_queue`, as asse0005 does for the assessment (`assessment_queue`): the SQL is procrastinate's
  `SchemaManager.get_schema()` for the version pinned in requirements.lock.
- `registry_job`: one import or export job, its principal (sub, role, region: the job's scope), its
  Idempotency-Key with the request's hash (unique per principal and key), its progress and counts, the params it
  was asked with, the result (an import's summary, an export's size) and the error detail of a failed job.
- `registry_job_error`: every bad line of an import (line, JSON pointer, code, message), paged by (job, line, n).
- `registry_job_chunk`: the job's input (an import's NDJSON) and output (an export's file) as bytea chunks of at
  most 1 MiB (`kind` in|out, `seq`): the route stores the body as it arrives and the worker reads it chunk by
  chunk, so neither holds a whole file in memory. Chunks rather than large objects: they are ordinary rows
  (deleted with their job by the foreign key's cascade, dumped and replicated like any table, no lo_unlink).

Revision ID: reg0012
Revises: reg0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.util import await_only

revision: str = "reg0012"
down_revision: str | None = "reg0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "registry_queue"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(f"SET LOCAL search_path TO {SCHEMA}, public")
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(SchemaManager.get_schema()))
    op.execute("SET LOCAL search_path TO DEFAULT")

    op.create_table(
        "registry_job",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("principal_sub", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("region_code", sa.String(12, collation="C"), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("lines_total", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lines_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("errors_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("params", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("result", JSONB(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.CheckConstraint("kind IN ('import', 'export')", name="ck_registry_job_kind"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="ck_registry_job_status",
        ),
        sa.UniqueConstraint("principal_sub", "idempotency_key", name="uq_registry_job_idempotency"),
    )
    op.create_index("ix_registry_job_principal", "registry_job", ["principal_sub", "created_at", "id"])
    op.create_table(
        "registry_job_error",
        sa.Column(
            "job_id",
            UUID(as_uuid=True),
            sa.ForeignKey("registry_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("n", sa.Integer(), primary_key=True),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("pointer", sa.Text(), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_table(
        "registry_job_chunk",
        sa.Column(
            "job_id",
            UUID(as_uuid=True),
            sa.ForeignKey("registry_job.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(3), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("kind IN ('in', 'out')", name="ck_registry_job_chunk_kind"),
    )


def downgrade() -> None:
    op.drop_table("registry_job_chunk")
    op.drop_table("registry_job_error")
    op.drop_table("registry_job")
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

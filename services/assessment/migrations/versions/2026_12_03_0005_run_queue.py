"""The run queue: procrastinate's schema (its jobs, workers and events tables, types and functions) in a PostgreSQL
schema of the assessment's own, `assessment_queue`, so its tables sit beside no other process's (the four may share
one database) and the assessment's `public` tables stay `assessment_*`. The queue's connections put
`assessment_queue` first on their search path (services/assessment/queue.py); the assessment defers a run's job in
the transaction that creates the run, with the same search path for that statement.

The SQL is procrastinate's own (`SchemaManager.get_schema()`, what `procrastinate schema --apply` runs) for the
version pinned in requirements.lock. Upgrading procrastinate takes a new migration applying the files of its
`sql/migrations/` between the two versions, in this schema.

Revision ID: asse0005
Revises: asse0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.util import await_only

revision: str = "asse0005"
down_revision: str | None = "asse0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "assessment_queue"


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    # Unqualified names in procrastinate's script land in the queue's schema (for this transaction only).
    op.execute(f"SET LOCAL search_path TO {SCHEMA}, public")
    # A script of many statements: asyncpg runs it with the simple query protocol, on the migration's connection
    # and in its transaction (a prepared statement holds one command).
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(SchemaManager.get_schema()))
    op.execute("SET LOCAL search_path TO DEFAULT")


def downgrade() -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

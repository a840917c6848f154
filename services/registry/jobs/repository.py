"""Every SQL statement of import and export jobs: the job rows (scoped to their principal), the queue entry
deferred with a job, the stored input/output chunks and the error report.

A request's statements run in its unit of work (`ctx.session`); the worker's (jobs/runner.py) in transactions of
its own, one per step. A job is visible only to its principal, and only while the principal's scope holds the
job's region (`scope_filter`): anyone else finds no job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from services.registry.jobs.queue import QUEUE_SCHEMA, defer_arguments
from services.registry.models import Job, JobChunk, JobError
from shared.context import Context
from shared.db import execute, raw_connection, scope_filter
from shared.roles import Principal

__all__ = ["JobRepository", "read_chunks"]

_ACTIVE = ("queued", "running")


class JobRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _mine(self, principal: Principal | None = None) -> list[Any]:
        who = principal or self.ctx.principal
        return [col(Job.principal_sub) == who.sub, scope_filter(who, col(Job.region_code))]

    # -- requests ---------------------------------------------------------------------------------------------
    async def by_key(self, key: str) -> Job | None:
        query = select(Job).where(
            col(Job.principal_sub) == self.ctx.principal.sub, col(Job.idempotency_key) == key
        )
        return (await self.session.exec(query)).first()

    async def get(self, job_id: uuid.UUID) -> Job | None:
        query = (
            select(Job).where(col(Job.id) == job_id, *self._mine()).execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def page(self, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Job]:
        """The principal's jobs, newest first, after the keyset `(created_at, id)` of the last one served."""
        query = select(Job).where(*self._mine())
        if after is not None:
            query = query.where(sa.tuple_(col(Job.created_at), col(Job.id)) < sa.tuple_(*after))
        query = query.order_by(col(Job.created_at).desc(), col(Job.id).desc()).limit(limit)
        return list(await self.session.exec(query))

    async def errors(self, job_id: uuid.UUID, after: int, limit: int) -> list[JobError]:
        query = (
            select(JobError)
            .where(col(JobError.job_id) == job_id, col(JobError.n) > after)
            .order_by(col(JobError.n))
            .limit(limit)
        )
        return list(await self.session.exec(query))

    async def add(self, job: Job) -> None:
        """A new job and its queue entry, in this transaction: the entry exists exactly when the job does."""
        self.session.add(job)
        await self.session.flush()

    async def defer(self, job_id: uuid.UUID) -> None:
        entry = defer_arguments(job_id)
        saved = (await execute(self.session, sa.text("SELECT current_setting('search_path')"))).scalar_one()
        await execute(
            self.session,
            sa.text("SELECT set_config('search_path', :path, true)"),
            {"path": f"{QUEUE_SCHEMA}, {saved}"},
        )
        await execute(
            self.session,
            sa.text(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, NULL, CAST(:args AS jsonb),"
                " NULL)::procrastinate_job_to_defer_v1])"
            ),
            {
                "queue": entry["queue"],
                "task": entry["task"],
                "lock": entry["lock"],
                "args": json.dumps(entry["args"]),
            },
        )
        await execute(self.session, sa.text("SELECT set_config('search_path', :path, true)"), {"path": saved})

    async def save(self, job: Job) -> None:
        self.session.add(job)
        await self.session.flush()

    async def drop(self, job: Job) -> None:
        """A job not kept (a retry of an earlier one): it and its stored chunks (the foreign key cascades)."""
        await execute(self.session, sa.delete(Job).where(col(Job.id) == job.id))
        self.session.expunge(job)

    async def add_chunk(self, job_id: uuid.UUID, kind: str, seq: int, data: bytes) -> None:
        await execute(
            self.session,
            sa.insert(JobChunk).values(job_id=job_id, kind=kind, seq=seq, data=data),
        )

    async def set_total(self, job_id: uuid.UUID, lines: int) -> None:
        await execute(self.session, sa.update(Job).where(col(Job.id) == job_id).values(lines_total=lines))

    async def cancel(self, job_id: uuid.UUID, now: datetime) -> bool:
        """queued or running → cancelled; False when the job had ended meanwhile."""
        statement = (
            sa.update(Job)
            .where(col(Job.id) == job_id, col(Job.status).in_(_ACTIVE))
            .values(status="cancelled", finished_at=now)
            .returning(col(Job.id))
        )
        return (await execute(self.session, statement)).first() is not None

    # -- the worker -----------------------------------------------------------------------------------------
    async def locked(self, job_id: uuid.UUID) -> Job | None:
        """The job, locked for its start (any principal: the worker acts for the job's own)."""
        query = select(Job).where(col(Job.id) == job_id).with_for_update()
        return (await self.session.exec(query)).first()

    async def update(self, job_id: uuid.UUID, *, only_active: bool = True, **values: Any) -> str | None:
        """Set `values` on a job that has not ended (`only_active`); its status after, None if it had ended."""
        statement = sa.update(Job).where(col(Job.id) == job_id)
        if only_active:
            statement = statement.where(col(Job.status).in_(_ACTIVE))
        row = (await execute(self.session, statement.values(**values).returning(col(Job.status)))).first()
        return None if row is None else str(row[0])

    async def status(self, job_id: uuid.UUID) -> str | None:
        row = (await execute(self.session, sa.select(col(Job.status)).where(col(Job.id) == job_id))).first()
        return None if row is None else str(row[0])

    async def replace_errors(
        self, job_id: uuid.UUID, rows: Sequence[tuple[int, str, str | None, str]]
    ) -> None:
        """The job's error report: every bad line (line, pointer, code, message), numbered in line order; one COPY."""
        await execute(self.session, sa.delete(JobError).where(col(JobError.job_id) == job_id))
        if not rows:
            return
        conn = await raw_connection(self.session)
        await conn.copy_records_to_table(
            "registry_job_error",
            columns=("job_id", "n", "line", "pointer", "code", "message"),
            records=[(job_id, n, *row) for n, row in enumerate(rows, start=1)],
        )

    async def delete_chunks(self, job_id: uuid.UUID, kind: str) -> None:
        await execute(
            self.session,
            sa.delete(JobChunk).where(col(JobChunk.job_id) == job_id, col(JobChunk.kind) == kind),
        )


async def read_chunks(pool: Any, job_id: uuid.UUID, kind: str) -> AsyncIterator[bytes]:
    """A job's stored chunks in order, one query per chunk (memory: one chunk), on an asyncpg pool."""
    seq = -1
    while True:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT seq, data FROM registry_job_chunk WHERE job_id = $1 AND kind = $2 AND seq > $3"
                " ORDER BY seq LIMIT 1",
                job_id,
                kind,
                seq,
            )
        if row is None:
            return
        seq = row["seq"]
        yield bytes(row["data"])

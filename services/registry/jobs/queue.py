"""The registry's job queue: import and export jobs on procrastinate (PostgreSQL), as the assessment's runs are
(services/assessment/queue.py; the same pattern).

- Its schema is the registry's own `registry_queue` (migration reg0012); its connections put it first on their
  search path.
- A job's queue entry is deferred **in the transaction that creates the job** (`defer_sql`, jobs/repository.py):
  it exists exactly when the job does, and no worker picks a job that is not committed.
- The worker is its own process, `python -m services.registry.worker` (started by `make run`, the Deployment
  `registry-worker`, the compose service `registry-worker`); `REGISTRY_RUN_WORKER=true` runs it inside the
  registry process instead (one process for a small installation). Tests drain the queue in process:
  `JobQueue.work(wait=False)`.
- On start, entries left `doing` by a worker that died (no heartbeat) are put back to `todo`. An import is one
  transaction that also marks its job succeeded, so a job cut off wrote nothing and runs again from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import procrastinate
from procrastinate import JobContext

__all__ = ["JOB_TASK", "QUEUE", "QUEUE_SCHEMA", "JobQueue", "defer_arguments", "libpq_url"]

_log = logging.getLogger("jingzhun.registry.jobs")

QUEUE_SCHEMA = "registry_queue"
QUEUE = "registry_jobs"
JOB_TASK = "registry.job"
SHUTDOWN_GRACE_SECONDS = 10.0
RESTART_SECONDS = 5.0
#: Seconds without a heartbeat after which a worker is taken for dead and its jobs are retried.
STALLED_SECONDS = 30

JobHandler = Callable[[uuid.UUID], Awaitable[None]]


def libpq_url(database_url: str) -> str:
    """The database URL as libpq (psycopg) reads it: without SQLAlchemy's `+asyncpg` driver name."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


def defer_arguments(job_id: uuid.UUID) -> dict[str, Any]:
    """What a job's queue entry is deferred with (the repository inserts it in the job's transaction)."""
    return {"queue": QUEUE, "task": JOB_TASK, "lock": f"job:{job_id}", "args": {"job_id": str(job_id)}}


class JobQueue:
    """The procrastinate app of one registry worker: its connector, the job task, the worker loop."""

    def __init__(self, database_url: str | None, *, concurrency: int = 2) -> None:
        self.concurrency = concurrency
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(database_url or "postgresql://nobody@127.0.0.1:9/none"),
            kwargs={
                "options": f"-c search_path={QUEUE_SCHEMA}",
                "application_name": "jingzhun-registry-queue",
            },
            min_size=0,
            max_size=concurrency + 2,
        )
        self.app = procrastinate.App(connector=connector)
        self.handler: JobHandler | None = None

        @self.app.task(name=JOB_TASK, queue=QUEUE, pass_context=True)
        async def run_job(context: JobContext, job_id: str) -> None:
            handler: JobHandler | None = (context.additional_context or {}).get("handler") or self.handler
            assert handler is not None, "the queue's handler is set by whoever opens it"
            await handler(uuid.UUID(job_id))

    @contextlib.asynccontextmanager
    async def opened(self, handler: JobHandler) -> AsyncIterator[JobQueue]:
        self.handler = handler
        async with self.app.open_async():
            yield self

    async def work(self, *, wait: bool) -> None:
        """Run the worker: until stopped (`wait`), or until the queue is empty (tests)."""
        await self.app.run_worker_async(
            queues=[QUEUE],
            wait=wait,
            concurrency=self.concurrency,
            install_signal_handlers=False,
            shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
            delete_jobs="successful",
            listen_notify=wait,
            additional_context={"handler": self.handler},
        )

    async def recover_stalled(self, *, seconds: float = STALLED_SECONDS) -> int:
        """Put back to `todo` the entries of workers that stopped sending heartbeats (a process that died)."""
        stalled = list(
            await self.app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=seconds)
        )
        for job in stalled:
            await self.app.job_manager.retry_job(job)
        return len(stalled)

    async def supervise(self) -> None:
        """Recover stalled jobs, work, and start again after an error (a database that went away)."""
        while True:
            try:
                recovered = await self.recover_stalled()
                if recovered:
                    _log.warning("requeued %d stalled registry job(s)", recovered)
                await self.work(wait=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("the registry job worker stopped; starting again in %.0f s", RESTART_SECONDS)
                await asyncio.sleep(RESTART_SECONDS)

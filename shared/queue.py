"""A service's task queue on procrastinate (PostgreSQL): the registry's import/export jobs
(services/registry/jobs/queue.py) and the assessment's runs (services/assessment/queue.py) are both one.

Why procrastinate: long work must survive the request that asked for it, run once and fail visibly; procrastinate
keeps its jobs in PostgreSQL, the database each service has anyway, with LISTEN/NOTIFY for low latency, a worker
that runs inside our own event loop, retries and stalled-job recovery, so no broker is added to the platform.

- Each service's queue lives in a PostgreSQL schema of its own (`QueueSpec.schema`, created by the service's
  migration), which the queue's connections put first on their search path.
- A record's queue entry is deferred **in the transaction that creates the record** (the repository inserts
  `defer_arguments` with `procrastinate_defer_jobs_v1`): the entry exists exactly when the record does, and a
  worker never picks an entry whose record is not committed.
- Tests drain a queue in process (`TaskQueue.work(wait=False)`).
- On start (`supervise`), entries left `doing` by a worker that died (no heartbeat for `STALLED_SECONDS`) are put
  back to `todo`; each service's handler makes a second run of a record safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

import procrastinate
from procrastinate import JobContext

__all__ = [
    "RESTART_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "STALLED_SECONDS",
    "Handler",
    "QueueSpec",
    "TaskQueue",
    "libpq_url",
]

#: Seconds a stopping worker gives a running task before aborting it (the task runs again on the next start).
SHUTDOWN_GRACE_SECONDS = 10.0
#: Seconds before a worker that stopped on an error (a database that went away) is started again.
RESTART_SECONDS = 5.0
#: Seconds without a heartbeat after which a worker is taken for dead and its entries are retried.
STALLED_SECONDS = 30.0
#: Where a queue without a database points (the process starts, and /readyz reports, without one).
_NOWHERE = "postgresql://nobody@127.0.0.1:9/none"

#: Runs the task of one record, by its id.
Handler = Callable[[uuid.UUID], Awaitable[None]]


def libpq_url(database_url: str) -> str:
    """The database URL as libpq (psycopg) reads it: without SQLAlchemy's `+asyncpg` driver name."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """What tells one service's queue from another's."""

    schema: str  # the PostgreSQL schema of the queue's tables, types and functions
    queue: str
    task: str
    argument: str  # the task's one argument, the record's id (`job_id`, `run_id`)
    lock_prefix: str  # one entry of a record runs at a time: its lock is `<prefix>:<id>`
    application_name: str
    noun: str  # what a record is called in the logs ("registry job")
    logger: str

    def defer_arguments(self, record_id: uuid.UUID) -> dict[str, Any]:
        """What a record's entry is deferred with (the repository inserts it in the record's transaction)."""
        return {
            "queue": self.queue,
            "task": self.task,
            "lock": f"{self.lock_prefix}:{record_id}",
            "args": {self.argument: str(record_id)},
        }


class TaskQueue:
    """The procrastinate app of one service process: its connector, the one task, the worker loop."""

    def __init__(self, spec: QueueSpec, database_url: str | None, *, concurrency: int) -> None:
        self.spec = spec
        self.concurrency = concurrency
        self._log = logging.getLogger(spec.logger)
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(database_url or _NOWHERE),
            kwargs={"options": f"-c search_path={spec.schema}", "application_name": spec.application_name},
            # min_size=0: the process starts (and /readyz reports) without a database, like the other pools.
            min_size=0,
            max_size=concurrency + 2,
        )
        self.app = procrastinate.App(connector=connector)
        self.handler: Handler | None = None

        @self.app.task(name=spec.task, queue=spec.queue, pass_context=True)
        async def run_task(context: JobContext, /, **args: str) -> None:
            handler: Handler | None = (context.additional_context or {}).get("handler") or self.handler
            assert handler is not None, "the queue's handler is set by whoever opens it"
            await handler(uuid.UUID(args[spec.argument]))

    @contextlib.asynccontextmanager
    async def opened(self, handler: Handler) -> AsyncIterator[Self]:
        """The queue's connections while the block runs; `handler` runs one record's task."""
        self.handler = handler
        async with self.app.open_async():
            yield self

    async def work(self, *, wait: bool) -> None:
        """Run the worker: until stopped (`wait`), or until the queue is empty (tests)."""
        await self.app.run_worker_async(
            queues=[self.spec.queue],
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
            await self.app.job_manager.get_stalled_jobs(
                queue=self.spec.queue, seconds_since_heartbeat=seconds
            )
        )
        for job in stalled:
            await self.app.job_manager.retry_job(job)
        return len(stalled)

    async def supervise(self) -> None:
        """Recover stalled entries, work, and start again after an error (a database that went away)."""
        while True:
            try:
                recovered = await self.recover_stalled()
                if recovered:
                    self._log.warning("requeued %d stalled %s(s)", recovered, self.spec.noun)
                await self.work(wait=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception(
                    "the %s worker stopped; starting again in %.0f s", self.spec.noun, RESTART_SECONDS
                )
                await asyncio.sleep(RESTART_SECONDS)

    @contextlib.asynccontextmanager
    async def worker(self) -> AsyncIterator[None]:
        """The worker as a task of the running event loop while the block runs (cancelled gracefully after)."""
        name = f"{self.spec.noun.replace(' ', '-')}-worker"
        task = asyncio.create_task(self.supervise(), name=name)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

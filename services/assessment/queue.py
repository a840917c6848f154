"""The run queue: assessment runs are jobs on a PostgreSQL-backed queue (procrastinate, its PsycopgConnector).

Why procrastinate: a run over a county is long work (issue #12) that must survive the request that asked for it,
run once, and fail visibly; procrastinate keeps its jobs in PostgreSQL — the database the assessment has anyway —
with LISTEN/NOTIFY for low latency, a worker that runs inside our own event loop, retries and stalled-job recovery,
so no broker is added to the platform. Its schema lives in the assessment's own PostgreSQL schema
`assessment_queue` (migration asse0005), which its connections put first on their search path.

- A run's job is deferred **in the transaction that creates the run** (`defer_sql`): the job exists exactly when
  the run does, and a worker never picks a job whose run is not committed yet.
- The worker runs in the assessment process's lifespan (`worker`), so `make run` needs no extra process; set
  `RUN_WORKER=false` to run it elsewhere (`python -m procrastinate --app=… worker` with the same app is possible,
  but not needed by anything here). Tests drain the queue in process: `RunQueue.work(wait=False)`.
- On start, jobs left `doing` by a worker that died (no heartbeat) are put back to `todo`; the run's job resumes
  from the run's status (each step commits once, so a step interrupted left nothing behind).
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

from services.assessment.settings import AssessmentSettings

__all__ = ["QUEUE", "QUEUE_SCHEMA", "RUN_TASK", "RunQueue", "defer_arguments", "libpq_url"]

_log = logging.getLogger("jingzhun.assessment.queue")

#: The PostgreSQL schema of the queue's tables, types and functions.
QUEUE_SCHEMA = "assessment_queue"
#: The queue of assessment runs, and the task that runs one.
QUEUE = "assessment_runs"
RUN_TASK = "assessment.run"
#: Seconds a stopping worker gives a running job before aborting it (the job resumes on the next start).
SHUTDOWN_GRACE_SECONDS = 10.0
#: Seconds before a worker that stopped on an error (a database that went away) is started again.
RESTART_SECONDS = 5.0

RunHandler = Callable[[uuid.UUID], Awaitable[None]]


def libpq_url(database_url: str) -> str:
    """The database URL as libpq (psycopg) reads it: without SQLAlchemy's `+asyncpg` driver name."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


def defer_arguments(run_id: uuid.UUID) -> dict[str, Any]:
    """What the run's job is deferred with (the repository inserts it in the run's transaction)."""
    return {"queue": QUEUE, "task": RUN_TASK, "lock": f"run:{run_id}", "args": {"run_id": str(run_id)}}


class RunQueue:
    """The procrastinate app of one assessment process: its connector, the run task, the worker."""

    def __init__(self, settings: AssessmentSettings) -> None:
        self.settings = settings
        url = libpq_url(settings.database_url or "postgresql://nobody@127.0.0.1:9/none")
        connector = procrastinate.PsycopgConnector(
            conninfo=url,
            kwargs={
                "options": f"-c search_path={QUEUE_SCHEMA}",
                "application_name": "jingzhun-assessment-queue",
            },
            # min_size=0: the process starts (and /readyz reports) without a database, like the other pools.
            min_size=0,
            max_size=settings.run_concurrency + 2,
        )
        self.app = procrastinate.App(connector=connector)
        self.handler: RunHandler | None = None

        @self.app.task(name=RUN_TASK, queue=QUEUE, pass_context=True)
        async def run_assessment(context: JobContext, run_id: str) -> None:
            handler: RunHandler | None = (context.additional_context or {}).get("handler") or self.handler
            assert handler is not None, "the queue's handler is set by main.py's lifespan"
            await handler(uuid.UUID(run_id))

    @contextlib.asynccontextmanager
    async def opened(self, handler: RunHandler) -> AsyncIterator[RunQueue]:
        """The queue's connections for the app's lifetime; `handler` runs one run."""
        self.handler = handler
        async with self.app.open_async():
            yield self

    async def work(self, *, wait: bool) -> None:
        """Run the worker: until stopped (`wait`), or until the queue is empty (tests)."""
        await self.app.run_worker_async(
            queues=[QUEUE],
            wait=wait,
            concurrency=self.settings.run_concurrency,
            install_signal_handlers=False,
            shutdown_graceful_timeout=SHUTDOWN_GRACE_SECONDS,
            delete_jobs="successful",
            listen_notify=wait,
            additional_context={"handler": self.handler},
        )

    async def recover_stalled(self) -> int:
        """Put back to `todo` the jobs of workers that stopped sending heartbeats (a process that died)."""
        stalled = list(await self.app.job_manager.get_stalled_jobs(queue=QUEUE))
        for job in stalled:
            await self.app.job_manager.retry_job(job)
        return len(stalled)

    async def supervise(self) -> None:
        """The lifespan's worker: recover stalled jobs, work, and start again after an error."""
        while True:
            try:
                recovered = await self.recover_stalled()
                if recovered:
                    _log.warning("requeued %d stalled assessment run(s)", recovered)
                await self.work(wait=True)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("the assessment run worker stopped; starting again in %.0f s", RESTART_SECONDS)
                await asyncio.sleep(RESTART_SECONDS)

    @contextlib.asynccontextmanager
    async def worker(self) -> AsyncIterator[None]:
        """The worker as a task of the app's event loop while the block runs (cancelled gracefully after)."""
        task = asyncio.create_task(self.supervise(), name="assessment-run-worker")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

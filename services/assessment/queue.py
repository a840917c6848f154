"""The run queue: assessment runs are jobs on a PostgreSQL-backed queue (procrastinate, its PsycopgConnector); the
connector, the worker loop and stalled-job recovery are shared/queue.py's, this module says which queue.

A run over a county is long work (issue #12) that must survive the request that asked for it, run once, and fail
visibly (why procrastinate: shared/queue.py). Its schema lives in the assessment's own PostgreSQL schema
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

import uuid
from typing import Any

from services.assessment.settings import AssessmentSettings
from shared.queue import Handler, QueueSpec, TaskQueue, libpq_url

__all__ = [
    "QUEUE",
    "QUEUE_SCHEMA",
    "RUN_TASK",
    "SPEC",
    "RunHandler",
    "RunQueue",
    "defer_arguments",
    "libpq_url",
]

#: The PostgreSQL schema of the queue's tables, types and functions.
QUEUE_SCHEMA = "assessment_queue"
#: The queue of assessment runs, and the task that runs one.
QUEUE = "assessment_runs"
RUN_TASK = "assessment.run"

SPEC = QueueSpec(
    schema=QUEUE_SCHEMA,
    queue=QUEUE,
    task=RUN_TASK,
    argument="run_id",
    lock_prefix="run",
    application_name="jingzhun-assessment-queue",
    noun="assessment run",
    logger="jingzhun.assessment.queue",
)

RunHandler = Handler


def defer_arguments(run_id: uuid.UUID) -> dict[str, Any]:
    """What the run's job is deferred with (the repository inserts it in the run's transaction)."""
    return SPEC.defer_arguments(run_id)


class RunQueue(TaskQueue):
    """The procrastinate app of one assessment process: its connector, the run task, the worker."""

    def __init__(self, settings: AssessmentSettings) -> None:
        super().__init__(SPEC, settings.database_url, concurrency=settings.run_concurrency)
        self.settings = settings

"""The registry's job queue: import and export jobs on procrastinate (PostgreSQL), as the assessment's runs are;
the connector, the worker loop and stalled-job recovery are shared/queue.py's, this module says which queue.

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

import uuid
from typing import Any

from shared.queue import STALLED_SECONDS, Handler, QueueSpec, TaskQueue, libpq_url

__all__ = [
    "JOB_TASK",
    "QUEUE",
    "QUEUE_SCHEMA",
    "SPEC",
    "STALLED_SECONDS",
    "JobHandler",
    "JobQueue",
    "defer_arguments",
    "libpq_url",
]

QUEUE_SCHEMA = "registry_queue"
QUEUE = "registry_jobs"
JOB_TASK = "registry.job"

SPEC = QueueSpec(
    schema=QUEUE_SCHEMA,
    queue=QUEUE,
    task=JOB_TASK,
    argument="job_id",
    lock_prefix="job",
    application_name="jingzhun-registry-queue",
    noun="registry job",
    logger="jingzhun.registry.jobs",
)

JobHandler = Handler


def defer_arguments(job_id: uuid.UUID) -> dict[str, Any]:
    """What a job's queue entry is deferred with (the repository inserts it in the job's transaction)."""
    return SPEC.defer_arguments(job_id)


class JobQueue(TaskQueue):
    """The procrastinate app of one registry worker: its connector, the job task, the worker loop."""

    def __init__(self, database_url: str | None, *, concurrency: int = 2) -> None:
        super().__init__(SPEC, database_url, concurrency=concurrency)

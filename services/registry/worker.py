"""The registry's job worker (导入导出任务的执行进程): `python -m services.registry.worker`.

It runs the procrastinate worker on the registry's queue (services/registry/jobs/queue.py) and the signed-webhook
delivery loop (services/registry/webhooks/delivery.py) with the registry's
own settings (the same environment: `REGISTRY_DATABASE_URL`, `PII_KEYS_FILE`, ...): the registry app's lifespan is
entered for its database engine, pools and personal-data cipher, and no HTTP is served. On start, jobs left
`doing` by a worker that died are put back in the queue; it stops on SIGTERM/SIGINT, giving a running job
`SHUTDOWN_GRACE_SECONDS` (a job cut off is retried by the next worker and writes nothing twice).

`make run` starts it beside the services; in Kubernetes it is the Deployment `registry-worker`, in compose the
service `registry-worker`. `REGISTRY_RUN_WORKER=true` runs the same worker inside the registry process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI

from services.registry.jobs.queue import JobQueue
from services.registry.jobs.runner import JobRunner
from services.registry.webhooks.delivery import WebhookDeliverer, deliver_forever

__all__ = ["deliverer_for", "in_process", "main", "queue_for", "run"]

_log = logging.getLogger("jingzhun.registry.worker")


def deliverer_for(app: FastAPI) -> WebhookDeliverer | None:
    """The webhook deliverer of a started registry app (services/registry/webhooks/delivery.py); None when
    webhooks are not configured (production without `REGISTRY_WEBHOOK_KEY`)."""
    key = app.state.settings.webhook_signing_key()
    if key is None:
        _log.warning("REGISTRY_WEBHOOK_KEY is not set: no webhook deliveries")
        return None
    return WebhookDeliverer(
        app.state.sessions,
        app.state.read_pool,
        key,
        app.state.clock,
        allow_private=app.state.settings.webhook_private_networks_allowed(),
    )


async def _deliveries(app: FastAPI) -> None:
    deliverer = deliverer_for(app)
    if deliverer is not None:
        await deliver_forever(deliverer)


def queue_for(app: FastAPI) -> tuple[JobQueue, JobRunner]:
    """The queue and the job handler of a started registry app (its lifespan entered)."""
    settings = app.state.settings
    runner = JobRunner(app.state.sessions, app.state.write_pool, app.state.cipher, app.state.clock)
    return JobQueue(settings.database_url, concurrency=settings.job_concurrency), runner


@contextlib.asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[None]:
    """The worker as a task of the app's event loop while the block runs (`REGISTRY_RUN_WORKER=true`)."""
    queue, runner = queue_for(app)
    async with queue.opened(runner):
        task = asyncio.create_task(queue.supervise(), name="registry-job-worker")
        hooks = asyncio.create_task(_deliveries(app), name="registry-webhooks")
        try:
            yield
        finally:
            for running in (hooks, task):
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running


async def run() -> None:
    from services.registry.main import create_app
    from services.registry.settings import RegistrySettings

    settings = RegistrySettings()
    app = create_app(settings.model_copy(update={"run_worker": False}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        queue, runner = queue_for(app)
        async with queue.opened(runner):
            task = asyncio.create_task(queue.supervise(), name="registry-job-worker")
            hooks = asyncio.create_task(_deliveries(app), name="registry-webhooks")
            _log.info("registry job worker started (jobs and webhook deliveries)")
            await stop.wait()
            for running in (hooks, task):
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
    _log.info("registry job worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run())


if __name__ == "__main__":
    main()

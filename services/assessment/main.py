"""Assessment service: annual assessment and scoring (考核, DOMAIN.md §6) — the metric catalogue, schemes as data
with their templates and lifecycle, and runs: snapshots, set-based scoring, results with explanations, rankings,
diffs, publication, appeals, interim and what-if runs.

The lifespan opens the registry and planning clients (as the `assessment-service` client, tokens from the gateway)
and the run queue (procrastinate, services/assessment/queue.py); unless `RUN_WORKER=false`, the queue's worker runs
in this process's event loop, so `make run` needs no extra process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.assessment.changes.routes import router as changes_router
from services.assessment.changes.service import prune_change_feed
from services.assessment.code_lists.routes import router as code_lists_router
from services.assessment.exports.routes import router as exports_router
from services.assessment.inspections.routes import TAGS as INSPECTION_TAGS
from services.assessment.inspections.routes import router as inspections_router
from services.assessment.local_figures import AssessmentLocalFigures
from services.assessment.manual_scores.routes import TAGS as MANUAL_TAGS
from services.assessment.manual_scores.routes import router as manual_scores_router
from services.assessment.metrics.routes import TAGS as METRIC_TAGS
from services.assessment.metrics.routes import router as metrics_router
from services.assessment.models import idempotency_key
from services.assessment.queue import RunQueue
from services.assessment.registry import open_service_clients
from services.assessment.runs.jobs import RunJobs
from services.assessment.runs.routes import TAGS as RUN_TAGS
from services.assessment.runs.routes import router as runs_router
from services.assessment.schemes.routes import TAGS as SCHEME_TAGS
from services.assessment.schemes.routes import router as schemes_router
from services.assessment.schemes.schemas import untag_locations
from services.assessment.settings import AssessmentSettings
from services.assessment.sources import LocalFigures, open_sources
from shared.app import build_service_app
from shared.jwt import KeySet
from shared.routes import me_router

__all__ = ["create_app", "housekeeping"]

_log = logging.getLogger("jingzhun.assessment")

#: Housekeeping runs this often: change-feed rows older than the retention are deleted (issue #15).
HOUSEKEEPING_INTERVAL_SECONDS = 3600.0


async def housekeeping(app: FastAPI) -> dict[str, int]:
    """One round of housekeeping; the counts removed."""
    retention = app.state.settings.change_feed_retention_days
    changes = await prune_change_feed(app.state.write_pool, now=app.state.clock(), retention_days=retention)
    return {"changes": changes}


async def _housekeeping_loop(app: FastAPI) -> None:
    """Housekeeping every hour (a failure is logged and retried at the next tick)."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)
        try:
            removed = await housekeeping(app)
            if any(removed.values()):
                _log.info("housekeeping", extra=removed)
        except Exception:  # the database may be briefly away; the next tick tries again
            _log.exception("housekeeping failed")


def create_app(
    settings: AssessmentSettings | None = None,
    *,
    keyset: KeySet | None = None,
    registry_transport: httpx.AsyncBaseTransport | None = None,
    planning_transport: httpx.AsyncBaseTransport | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
    local_figures: LocalFigures | None = None,
) -> FastAPI:
    """The assessment app; the transports let tests reach in-process services, `local_figures` is where runs read
    inspection and manual figures (by default the assessment's own inspections and manual entries)."""
    settings = settings or AssessmentSettings()
    queue = RunQueue(settings)

    @contextlib.asynccontextmanager
    async def assessment_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            clients = await stack.enter_async_context(
                open_service_clients(
                    app,
                    settings,
                    registry_transport=registry_transport,
                    planning_transport=planning_transport,
                    gateway_transport=gateway_transport,
                )
            )
            sources = await stack.enter_async_context(open_sources(app, settings, clients))
            jobs = RunJobs(
                app.state.sessions,
                sources,
                local_figures or AssessmentLocalFigures(),
                lambda: app.state.clock(),
            )
            app.state.run_queue = await stack.enter_async_context(queue.opened(jobs))
            if settings.run_worker:
                await stack.enter_async_context(queue.worker())
            keeper = asyncio.create_task(_housekeeping_loop(app))
            try:
                yield
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper

    app = build_service_app(
        settings,
        title="Jingzhun assessment",
        description=(
            "Annual assessment and scoring (考核): the metric catalogue, schemes as data, templates A-F; runs with "
            "frozen snapshots, set-based scoring, explanations, rankings, diffs, publication and appeals."
        ),
        routers=[
            me_router,
            code_lists_router,
            metrics_router,
            schemes_router,
            runs_router,
            inspections_router,
            manual_scores_router,
            exports_router,
            changes_router,
        ],
        tags={**METRIC_TAGS, **SCHEME_TAGS, **RUN_TAGS, **INSPECTION_TAGS, **MANUAL_TAGS},
        keyset=keyset,
        gateway_transport=gateway_transport,
        idempotency_keys=idempotency_key,
        extra_lifespan=assessment_lifespan,
    )
    shared_handler = app.exception_handlers[RequestValidationError]

    async def _untagged(request: Request, exc: Exception) -> Response:
        # A scheme's `method` is a tagged union: pydantic puts the tag in an error's location
        # (/indicators/0/method/threshold/unit); the pointer into the body has no such segment.
        assert isinstance(exc, RequestValidationError)
        fixed = RequestValidationError(untag_locations(exc.errors()), body=exc.body)
        answer = shared_handler(request, fixed)
        return answer if isinstance(answer, Response) else await answer

    app.add_exception_handler(RequestValidationError, _untagged)
    return app

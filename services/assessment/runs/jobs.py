"""A run's job (what the queue's worker runs, services/assessment/queue.py): take the run, freeze its snapshot,
score it — each step in a transaction of its own, opened and committed here (`session.begin()`: the job's commit
point, as shared/routing.py is the requests').

1. **start**: the run, locked, goes queued → freezing (a what-if, which scores a published run's snapshot, goes
   straight to scoring);
2. **freeze**: every row of the registry's (and, when the scheme reads planning metrics, planning's)
   `GET /figures/{subject_type}` for the run's region and year, page by page with retries (sources.py) — no
   transaction is open meanwhile; then one transaction writes the whole snapshot (with the inspection and manual
   figures read in it) by COPY and moves the run to scoring. A pull that fails fails the run with the source and
   the reason, and nothing of the snapshot exists;
3. **score**: one transaction scores every subject in SQL (runs/repository.py) and marks the run scored.

A failure at any step marks the run `failed` with a code and a reason a county officer can read. A job cut off by
a stopping process resumes from the run's status when the queue gives it again.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.metrics.domain import MetricSource
from services.assessment.runs.service import RunJobService
from services.assessment.sources import FigureSources, LocalFigures, PullFailed
from shared.context import Context
from shared.errors import DomainError
from shared.roles import NATIONAL_CODE, Principal, Role

__all__ = ["RUNNER", "RunJobs"]

_log = logging.getLogger("jingzhun.assessment.runs")

#: Who the job acts as (the audit log's actor of a run's steps).
RUNNER = Principal(sub="assessment-run-worker", role=Role.service, region=NATIONAL_CODE)


class RunJobs:
    """The queue's handler: runs one run (by id) to its end."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sources: FigureSources,
        local: LocalFigures,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.sources = sources
        self.local = local
        self.clock = clock

    @contextlib.asynccontextmanager
    async def _step(self, run_id: uuid.UUID) -> AsyncIterator[RunJobService]:
        """One step's transaction: committed when the block ends, rolled back when it raises."""
        async with self.sessions() as session, session.begin():
            ctx = Context(principal=RUNNER, session=session, now=self.clock(), request_id=f"run-{run_id}")
            yield RunJobService(ctx)

    async def __call__(self, run_id: uuid.UUID) -> None:
        async with self._step(run_id) as steps:
            plan = await steps.start(run_id)
        if plan is None:
            return
        try:
            if plan.freeze:
                request_id = f"run-{run_id}"
                registry = await self.sources.registry.rows(
                    plan.subject_type, plan.region_code, plan.year, request_id=request_id
                )
                planning = None
                if plan.remote.get(MetricSource.planning):
                    planning = await self.sources.planning.rows(
                        plan.subject_type, plan.region_code, plan.year, request_id=request_id
                    )
                async with self._step(run_id) as steps:
                    await steps.store_snapshot(plan, registry, planning, self.local)
            async with self._step(run_id) as steps:
                await steps.score(run_id)
        except PullFailed as exc:
            await self._fail(run_id, exc.code, exc.reason)
        except DomainError as exc:
            await self._fail(run_id, exc.code, exc.message)
        except Exception as exc:
            _log.exception("assessment run %s failed", run_id)
            await self._fail(run_id, "run_error", f"{type(exc).__name__}: {exc}")

    async def _fail(self, run_id: uuid.UUID, code: str, reason: str) -> None:
        _log.warning("assessment run %s failed: %s (%s)", run_id, code, reason)
        async with self._step(run_id) as steps:
            await steps.fail(run_id, code, reason)

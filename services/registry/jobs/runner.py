"""A job's run (what the queue's worker calls, jobs/queue.py), each step in a transaction of its own opened and
committed here (`session.begin()`: the job's commit point, as shared/routing.py is the requests').

1. **start**: the job, locked, goes queued → running (a job met `running` again was cut off by a worker that died:
   it runs again from the start; an ended job is left alone);
2. **import**: one transaction runs household_import's service over the stored file with every error kept
   (`max_errors=None`), and marks the job succeeded in the same transaction — so a job cut off (a dead worker) or
   cancelled between chunks wrote nothing, and a retried job cannot import twice. Progress (lines checked, errors
   so far) is committed between chunks by short transactions of their own, which also see a cancellation. A
   file with errors: the job fails with `import_invalid` and its complete error report (`registry_job_error`);
   **export**: one transaction streams ExportService's snapshot into the job's output chunks and audits it.

The job acts as its principal (sub, role, region as they asked): the import's and export's own checks of role and
scope apply as for a request.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.exports.domain import ExportFormat
from services.registry.exports.service import ExportService
from services.registry.household_import.domain import ImportMode
from services.registry.household_import.service import HouseholdImportService
from services.registry.jobs import domain
from services.registry.jobs.domain import JobStatus
from services.registry.jobs.repository import JobRepository, read_chunks
from services.registry.models import Job
from services.registry.pii import PersonalDataCipher
from shared.context import Context
from shared.problems import AppError
from shared.roles import NATIONAL_CODE, Principal, Role

__all__ = ["RUNNER", "JobCancelled", "JobRunner", "lines_of"]

_log = logging.getLogger("jingzhun.registry.jobs")

#: Who starts and ends jobs (the job's own principal does its work).
RUNNER = Principal(sub="registry-job-worker", role=Role.service, region=NATIONAL_CODE)


class JobCancelled(Exception):
    """The job was cancelled while it ran: its transaction is rolled back."""


async def lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a file stored in chunks (a line may span two chunks); memory: one chunk and one line."""
    rest = b""
    async for chunk in chunks:
        data = rest + chunk
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            yield data[start:end]
            start = end + 1
        rest = data[start:]
    if rest:
        yield rest


def _principal(job: Job) -> Principal:
    return Principal(sub=job.principal_sub, role=Role(job.role), region=job.region_code)


class JobRunner:
    """The queue's handler: runs one job (by id) to its end."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pool: Any,
        cipher: PersonalDataCipher,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.pool = pool  # asyncpg pool on the primary: the stored input, the export's snapshot
        self.cipher = cipher
        self.clock = clock

    @contextlib.asynccontextmanager
    async def _step(self, job_id: uuid.UUID, principal: Principal = RUNNER) -> AsyncIterator[Context]:
        async with self.sessions() as session, session.begin():
            yield Context(principal=principal, session=session, now=self.clock(), request_id=f"job-{job_id}")

    async def _start(self, job_id: uuid.UUID) -> Job | None:
        async with self._step(job_id) as ctx:
            repo = JobRepository(ctx)
            job = await repo.locked(job_id)
            if job is None or job.status in domain.ENDED:
                return None
            job.status = JobStatus.running.value
            job.started_at = job.started_at or ctx.now
            job.lines_done = 0
            await repo.save(job)
            return job

    async def _progress(self, job_id: uuid.UUID, **values: Any) -> None:
        """Commit progress now; a job cancelled meanwhile stops here."""
        async with self._step(job_id) as ctx:
            if await JobRepository(ctx).update(job_id, **values) is None:
                raise JobCancelled(str(job_id))

    async def _fail(self, job_id: uuid.UUID, code: str, detail: str) -> None:
        async with self._step(job_id) as ctx:
            await JobRepository(ctx).update(
                job_id,
                status=JobStatus.failed.value,
                error_code=code,
                error_detail=detail,
                finished_at=ctx.now,
            )

    async def __call__(self, job_id: uuid.UUID) -> None:
        job = await self._start(job_id)
        if job is None:
            return
        try:
            if job.kind == "import":
                await self._import(job)
            else:
                await self._export(job)
        except JobCancelled:
            _log.info("job %s cancelled", job_id)
        except Exception as exc:
            _log.exception("job %s failed", job_id)
            await self._fail(job_id, "job_error", f"the job stopped on an error ({type(exc).__name__})")

    async def _import(self, job: Job) -> None:
        job_id = job.id

        async def on_chunk(done: int, errors: int) -> None:
            await self._progress(job_id, lines_done=done, errors_count=errors)

        async with self._step(job_id, _principal(job)) as ctx:
            repo = JobRepository(ctx)
            try:
                result = await HouseholdImportService(ctx, self.cipher).run(
                    lines_of(read_chunks(self.pool, job_id, "in")),
                    mode=ImportMode(job.params.get("mode", ImportMode.registration.value)),
                    source_document=job.params.get("source_document"),
                    rows=job.lines_total,
                    max_errors=None,
                    on_chunk=on_chunk,
                )
            except AppError as exc:
                # The import's savepoint undid every row; its audit entry of the check, the job's failure and
                # its complete error report are committed together.
                errors = list(exc.extensions.get("errors") or [])
                await repo.replace_errors(
                    job_id,
                    [(e["line"], e.get("pointer", ""), e.get("code"), e["message"]) for e in errors],
                )
                count = int(exc.extensions.get("error_count") or len(errors))
                if (
                    await repo.update(
                        job_id,
                        status=JobStatus.failed.value,
                        error_code=str(exc.extensions.get("code") or exc.slug),
                        error_detail=exc.detail,
                        errors_count=count,
                        lines_done=job.lines_total,
                        finished_at=ctx.now,
                    )
                    is None
                ):
                    raise JobCancelled(str(job_id)) from None
                return
            summary = result.model_dump(mode="json", exclude={"errors"})
            if (
                await repo.update(
                    job_id,
                    status=JobStatus.succeeded.value,
                    created=result.households,
                    errors_count=0,
                    lines_done=job.lines_total,
                    result=summary,
                    finished_at=ctx.now,
                )
                is None
            ):
                raise JobCancelled(str(job_id))  # cancelled at the last moment: the whole import is undone
            await repo.delete_chunks(job_id, "in")

    async def _export(self, job: Job) -> None:
        job_id = job.id
        params = job.params
        async with self._step(job_id, _principal(job)) as ctx:
            repo = JobRepository(ctx)
            await repo.delete_chunks(job_id, "out")
            service = ExportService(ctx, self.pool)
            export = await service.start(
                fmt=ExportFormat(params.get("format", "ndjson")),
                region=params.get("region"),
                fields=params.get("fields"),
                dataset=params.get("dataset", "households"),
            )
            buffer, seq, size = bytearray(), 0, 0
            try:
                async for text in export.chunks():
                    buffer.extend(text.encode())
                    while len(buffer) >= domain.CHUNK_BYTES:
                        await repo.add_chunk(job_id, "out", seq, bytes(buffer[: domain.CHUNK_BYTES]))
                        size += domain.CHUNK_BYTES
                        del buffer[: domain.CHUNK_BYTES]
                        seq += 1
                        await self._progress(job_id, lines_done=export.rows)
            finally:
                await export.close()
            if buffer:
                await repo.add_chunk(job_id, "out", seq, bytes(buffer))
                size += len(buffer)
            await service.audit(export)
            if (
                await repo.update(
                    job_id,
                    status=JobStatus.succeeded.value,
                    created=export.rows,
                    lines_total=export.rows,
                    lines_done=export.rows,
                    result={
                        "rows": export.rows,
                        "bytes": size,
                        "format": str(export.format),
                        "feed_cursor": export.feed_cursor,
                        "as_of": export.as_of,
                    },
                    finished_at=ctx.now,
                )
                is None
            ):
                raise JobCancelled(str(job_id))

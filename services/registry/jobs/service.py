"""Job use cases for requests: create an import or export job (idempotent by key), read it, its errors, its
result, cancel it, list the caller's jobs. No SQL here (jobs/repository.py) and no commit (the request's unit of
work commits the job, its stored input and its queue entry together)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.registry.exports.service import ExportService
from services.registry.household_import import domain as imports
from services.registry.household_import.domain import ImportMode
from services.registry.jobs import domain
from services.registry.jobs.domain import JobKind, JobStatus
from services.registry.jobs.repository import JobRepository, read_chunks
from services.registry.jobs.schemas import (
    ExportJobCreate,
    JobErrorPage,
    JobErrorPublic,
    JobLinks,
    JobPage,
    JobProgress,
    JobPublic,
)
from services.registry.models import Job
from shared.context import Context
from shared.errors import DomainError
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import Conflict, NotFound, PayloadTooLarge, from_domain

__all__ = ["JOB_PATH", "Created", "JobService", "public", "result_chunks"]

#: Where a job is reached through the gateway (its `Location`).
JOB_PATH = "/api/registry/jobs/{id}"


@dataclass(frozen=True, slots=True)
class Created:
    job: JobPublic
    new: bool  # False: an earlier request with the same Idempotency-Key made it


def public(job: Job) -> JobPublic:
    here = JOB_PATH.format(id=job.id)
    return JobPublic(
        id=job.id,
        kind=JobKind(job.kind),
        status=JobStatus(job.status),
        progress=JobProgress(lines_total=job.lines_total, lines_done=job.lines_done),
        created=job.created,
        errors_count=job.errors_count,
        params=job.params,
        result=job.result,
        error_code=job.error_code,
        error_detail=job.error_detail,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        links=JobLinks(self=here, errors=f"{here}/errors", result=f"{here}/result"),
    )


def result_chunks(pool: Any, job_id: uuid.UUID) -> AsyncIterator[bytes]:
    """An export job's file, chunk by chunk (after `JobService.finished` found the job the caller's)."""
    return read_chunks(pool, job_id, "out")


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except DomainError as exc:
        raise from_domain(exc) from None


class JobService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = JobRepository(ctx)

    def _new(self, kind: JobKind, params: dict[str, Any]) -> Job:
        p = self.ctx.principal
        return Job(
            id=uuid.uuid4(),
            kind=kind.value,
            status=JobStatus.queued.value,
            principal_sub=p.sub,
            role=p.role.value,
            region_code=p.region,
            idempotency_key=None,
            request_hash="",
            lines_total=0,
            lines_done=0,
            created=0,
            errors_count=0,
            params=params,
            result=None,
            error_code=None,
            error_detail=None,
            created_at=self.ctx.now,
            started_at=None,
            finished_at=None,
        )

    async def _keyed(self, job: Job, digest: str, key: str | None) -> Created:
        """The job under its key: the earlier job when the key was used for the same request (this one is
        dropped with its stored input), 422 when it was used for another; else this job, queued."""
        if key is not None:
            earlier = await self.repo.by_key(key)
            if earlier is not None:
                _checked(domain.check_key, earlier.request_hash, digest)
                await self.repo.drop(job)
                return Created(public(earlier), new=False)
        job.idempotency_key = key
        job.request_hash = digest
        await self.repo.save(job)
        await self.repo.defer(job.id)
        return Created(public(job), new=True)

    async def create_import(
        self,
        body: AsyncIterator[bytes],
        *,
        mode: ImportMode,
        source_document: str | None,
        key: str | None,
    ) -> Created:
        """An import job of the NDJSON `body`, stored in chunks as it arrives (checked by the worker)."""
        _checked(imports.require_importer, self.ctx.principal.role)
        document = _checked(imports.check_mode, mode, source_document)
        params = {"mode": mode.value, "source_document": document}
        digest = domain.RequestDigest(JobKind.import_.value, json.dumps(params, sort_keys=True))
        job = self._new(JobKind.import_, params)
        await self.repo.add(job)
        buffer, seq, size, lines, last = bytearray(), 0, 0, 0, b"\n"
        async for piece in body:
            if not piece:
                continue
            size += len(piece)
            if size > domain.MAX_JOB_BYTES:
                raise PayloadTooLarge(
                    f"body larger than {domain.MAX_JOB_BYTES} bytes; split the file", code="job_too_large"
                )
            digest.update(piece)
            lines += piece.count(b"\n")
            last = piece[-1:]
            buffer.extend(piece)
            while len(buffer) >= domain.CHUNK_BYTES:
                await self.repo.add_chunk(job.id, "in", seq, bytes(buffer[: domain.CHUNK_BYTES]))
                del buffer[: domain.CHUNK_BYTES]
                seq += 1
        if buffer:
            await self.repo.add_chunk(job.id, "in", seq, bytes(buffer))
        job.lines_total = lines + (last != b"\n")
        return await self._keyed(job, digest.hexdigest(), key)

    async def create_export(self, request: ExportJobCreate, read_pool: Any, *, key: str | None) -> Created:
        """An export job; its dataset, fields, region and the caller's role are checked now (403/404/422)."""
        export = await ExportService(self.ctx, read_pool).start(
            fmt=request.format, region=request.region, fields=request.fields, dataset=request.dataset.value
        )
        await export.close()
        params = request.model_dump(mode="json") | {"region": export.region}
        digest = domain.RequestDigest(JobKind.export.value, json.dumps(params, sort_keys=True))
        job = self._new(JobKind.export, params)
        await self.repo.add(job)
        return await self._keyed(job, digest.hexdigest(), key)

    async def job(self, job_id: uuid.UUID) -> Job:
        job = await self.repo.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job

    async def get(self, job_id: uuid.UUID) -> JobPublic:
        return public(await self.job(job_id))

    async def page(self, cursor: str | None, limit: int) -> JobPage:
        after: tuple[datetime, uuid.UUID] | None = None
        if cursor:
            at, last = decode_cursor(cursor, "jobs", (datetime, uuid.UUID))
            assert isinstance(at, datetime) and isinstance(last, uuid.UUID)
            after = (at, last)
        jobs = await self.repo.page(after, limit + 1)
        more = len(jobs) > limit
        jobs = jobs[:limit]
        next_cursor = encode_cursor("jobs", jobs[-1].created_at, jobs[-1].id) if more else None
        return JobPage(items=[public(j) for j in jobs], next_cursor=next_cursor)

    async def errors(self, job_id: uuid.UUID, cursor: str | None, limit: int) -> JobErrorPage:
        """Every bad line of an import job, in line order, a page at a time (keyset on the line's number)."""
        await self.job(job_id)
        after = 0
        if cursor:
            (n,) = decode_cursor(cursor, "job_errors", (int,))
            assert isinstance(n, int)
            after = n
        rows = await self.repo.errors(job_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return JobErrorPage(
            items=[
                JobErrorPublic(line=r.line, pointer=r.pointer, code=r.code, message=r.message) for r in rows
            ],
            next_cursor=encode_cursor("job_errors", rows[-1].n) if more else None,
        )

    async def finished(self, job_id: uuid.UUID) -> Job:
        """The job, once it succeeded (409 `job_not_finished` before, `job_failed` / `job_cancelled` after)."""
        job = await self.job(job_id)
        if job.status != JobStatus.succeeded.value:
            code = {"failed": "job_failed", "cancelled": "job_cancelled"}.get(job.status, "job_not_finished")
            raise Conflict(f"the job has no result: it is {job.status}", code=code, status=job.status)
        return job

    async def cancel(self, job_id: uuid.UUID) -> JobPublic:
        job = await self.job(job_id)
        _checked(domain.check_cancel, job.status)
        if not await self.repo.cancel(job_id, self.ctx.now):
            raise Conflict("the job ended meanwhile; it cannot be cancelled", code="job_ended")
        return public(await self.job(job_id))

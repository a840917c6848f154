"""The phones' busiest write on its fast path: `POST /help-records` as a plain Starlette route, with group commit.

Measured by bench/visits.py (a). The route skips FastAPI's dependency solving but keeps the documented
route's contract (routes.py `create_help_record`): the same authentication, the same problems (401/403, 415,
422 validation problem+json, 404/403/409 from the rules), the same `HelpRecordPublic` answer, `ETag` and
`Location`. It reuses the feature's rules (`service.submission` and `service.store_new` over `domain.py`) and
takes "now" — and so the China date that decides whether the pairing is active — from the app clock.

Group commit (`RecordWriter`): a POST hands its validated record to `submit` and waits. When fewer than
`MAX_FLUSHES` flushes are running, one starts at once with what is waiting (an idle server adds no delay);
records that arrive meanwhile wait for the next flush, which takes them all (up to `MAX_GROUP`). A flush is
`store_new` on a write-pool connection in autocommit: its one INSERT is the only write, committed (synchronous
commit as configured) before any POST is answered, so every 201 is durable. Under load this turns N round
trips and N commits into three statements and one commit. Two flushes can hold the same id (a retry sent while
the first is being stored): the second waits on the primary key for the first to commit and then answers it as
a retry.

One bad record never sinks the others: a record refused by a rule gets its own problem; if the database
refuses the whole statement, the group is retried one record per statement and only the culprit fails. A flush
runs in its own task, so a client that disconnects mid-request cannot cancel its neighbours' write. A retry of
a stored record is answered through a session (`shared.routing.unit_of_work`), which reads the record back.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from fastapi.exceptions import RequestValidationError
from prometheus_client import Histogram
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from services.registry.help_records.repository import HelpRecordStore
from services.registry.help_records.schemas import (
    DEVICE_TIME_HEADER,
    HelpRecordCreate,
    HelpRecordPublic,
    device_sent_at,
)
from services.registry.help_records.service import (
    HelpRecordService,
    Outcome,
    Submission,
    created_public,
    store_new,
    submission,
)
from shared.auth import current_principal
from shared.context import context_for
from shared.etag import etag
from shared.observability import LabelledRoute
from shared.problems import Forbidden, UnsupportedMediaType
from shared.routing import refuse_unknown_parameters, unit_of_work

__all__ = ["MAX_FLUSHES", "MAX_GROUP", "RecordWriter", "create_route"]

_log = logging.getLogger("jingzhun.registry.help_records")

#: At most this many records share one transaction (the batch endpoint's limit).
MAX_GROUP = 500
#: Flushes in flight at once: while one waits for its commit to reach the disk, the next group is stored.
MAX_FLUSHES = 2

#: How many records each flush stored together (on /metrics): 1s mean no load, or no grouping.
GROUP_SIZE = Histogram(
    "jingzhun_help_record_group_size",
    "Help records stored by one group-commit flush",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 500),
)


class RecordWriter:
    """Groups the records of concurrent POSTs into shared autocommit INSERTs on the write pool."""

    def __init__(self, pool: asyncpg.Pool, *, max_flushes: int = MAX_FLUSHES) -> None:
        self._pool = pool
        self._max_flushes = max_flushes
        self._waiting: list[tuple[Submission, asyncio.Future[Outcome]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self.groups = 0  # flushes so far (observability and tests)
        self.records = 0

    async def submit(self, item: Submission) -> Outcome:
        """Store one record with whatever else is waiting; its outcome once the write is durable."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._flushers) < self._max_flushes:
            task = asyncio.create_task(self._flush_all())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        # shield: a cancelled request stops waiting, the group's write goes on.
        return await asyncio.shield(future)

    async def _flush_all(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            await self._flush(group)

    async def _flush(self, group: list[tuple[Submission, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes = await self._store([item for item, _ in group])
        except Exception as exc:
            if len(group) > 1 and isinstance(exc, asyncpg.PostgresError):
                _log.warning("a group of %d records failed (%s); storing them one by one", len(group), exc)
                for one in group:
                    await self._flush([one])
                return
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        self.groups += 1
        self.records += len(group)
        GROUP_SIZE.observe(len(group))
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _store(self, items: list[Submission]) -> list[Outcome]:
        # No BEGIN/COMMIT round trips: `store_new` writes with one statement (atomic, and committed durably in
        # autocommit); what it reads before is only checks, which the statement's ON CONFLICT makes race-safe.
        async with self._pool.acquire() as conn:
            return await store_new(HelpRecordStore(conn), items)

    async def drain(self) -> None:
        """Wait for the running flush (shutdown: answer what was accepted before closing the pool)."""
        if self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)


def _answer(record: HelpRecordPublic, status_code: int) -> Response:
    return Response(
        record.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": etag(record.version), "Location": f"/help-records/{record.id}"},
    )


async def _create_endpoint(request: Request) -> Response:
    """`POST /help-records` as a plain Starlette route (see the module docstring)."""
    refuse_unknown_parameters(request, frozenset())  # it takes no query parameter
    principal = await current_principal(request)
    if principal.read_only:
        raise Forbidden(f"role '{principal.role}' is read-only")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("send the record as application/json")
    try:
        payload = HelpRecordCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
    sent_at = device_sent_at(request.headers.get(DEVICE_TIME_HEADER))
    # New records (nearly all): grouped with the POSTs that arrive together into one write on the write pool.
    writer: RecordWriter = request.app.state.record_writer
    outcome = await writer.submit(submission(payload, principal, request.app.state.clock(), sent_at))
    if outcome.error is not None:
        if outcome.collision:  # another login's id: the caller gets the plain refusal, the audit gets who
            async with unit_of_work(request) as session:
                await HelpRecordService(context_for(request, session, principal)).audit_collision(
                    payload.id, payload.household_id
                )
        raise outcome.error
    if outcome.row is not None:
        return _answer(created_public(outcome.row), 201)
    async with unit_of_work(request) as session:
        created, record = await HelpRecordService(context_for(request, session, principal)).create(
            payload, sent_at
        )
    return _answer(record, 201 if created else 200)


#: Put before the routers by services.registry.main; the FastAPI route in routes.py documents it.
create_route = LabelledRoute("/help-records", _create_endpoint, methods=["POST"])

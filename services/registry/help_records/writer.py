"""Group commit for the phones' single POSTs: the records that arrive together share one transaction.

A POST hands its validated record to `RecordWriter.submit` and waits. When fewer than `MAX_FLUSHES` flushes
are running, one starts at once with what is waiting (an idle server adds no delay); records that arrive
meanwhile wait for the next flush, which takes them all (up to `MAX_GROUP`). A flush is `store.store_new` in
one transaction on the write pool, committed (synchronous commit as configured) before any POST is answered,
so every 201 is durable. Under load this turns N round trips and N commits into three statements and one
commit. Two flushes can hold the same id (a retry sent while the first is being stored): the second waits on
the primary key for the first to commit and then answers it as a retry.

One bad record never sinks the others: a record refused by a rule gets its own problem; if the database
refuses the whole statement, the group is retried one record per transaction and only the culprit fails.
A flush runs in its own task, so a client that disconnects mid-request cannot cancel its neighbours' write.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from prometheus_client import Histogram

from services.registry.help_records.store import NewRecord, Outcome, store_new

__all__ = ["MAX_GROUP", "RecordWriter"]

_log = logging.getLogger("jingzhun.registry.helprecords")

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
    def __init__(self, pool: asyncpg.Pool, *, max_flushes: int = MAX_FLUSHES) -> None:
        self._pool = pool
        self._max_flushes = max_flushes
        self._waiting: list[tuple[NewRecord, asyncio.Future[Outcome]]] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self.groups = 0  # flushes so far (observability and tests)
        self.records = 0

    async def submit(self, item: NewRecord) -> Outcome:
        """Store one record with whatever else is waiting; its outcome once the transaction committed."""
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

    async def _flush(self, group: list[tuple[NewRecord, asyncio.Future[Outcome]]]) -> None:
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

    async def _store(self, items: list[NewRecord]) -> list[Outcome]:
        # No BEGIN/COMMIT round trips: `store_new` writes with one statement (atomic, and committed durably in
        # autocommit); what it reads before is only checks, which the statement's ON CONFLICT makes race-safe.
        async with self._pool.acquire() as conn:
            return await store_new(conn, items)

    async def drain(self) -> None:
        """Wait for the running flush (shutdown: answer what was accepted before closing the pool)."""
        if self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)

"""The assessment's change-feed use case (issue #15): one page of the caller's view, or a long poll for one.

`ChangeService.read_json` checks the caller and the parameters before anything is read, then, in one snapshot of
the read pool, decides where to start (the cursor against the pruned horizon: 410 `cursor_expired` when rows may
be lost), reads the finished rows after it (changes/repository.py) and the current state of their records, and
answers the page (shared/exchange/feed.py `assemble`, `page_json`: the records' JSON spliced in as PostgreSQL
wrote it). With `wait`, a read that finds nothing lets the connection go, sleeps and reads again
(shared/exchange/poll.py `long_poll`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.assessment.changes import domain
from services.assessment.changes.domain import RecordType
from services.assessment.changes.repository import FeedRepository, prune_changes
from services.assessment.exports.repository import Scope
from services.assessment.exports.service import scope_of
from shared.context import Context
from shared.errors import DomainError
from shared.exchange.cursor import decode_position, encode_position, gone
from shared.exchange.feed import (
    CurrentRecord,
    CursorExpired,
    FeedPage,
    Position,
    assemble,
    latest,
    page_json,
    parse_types,
    start_position,
)
from shared.exchange.feed_sql import snapshot
from shared.exchange.poll import long_poll
from shared.problems import from_domain

__all__ = ["DEFAULT_RETENTION_DAYS", "POLL_SECONDS", "ChangeService", "prune_change_feed"]

#: A long poll reads again this often (each read a short snapshot; no connection is held while sleeping).
POLL_SECONDS = 0.5
#: Feed rows are kept this long (`ASSESSMENT_CHANGE_FEED_RETENTION_DAYS`); an older cursor answers 410.
DEFAULT_RETENTION_DAYS = 90


class ChangeService:
    """The feed of the caller's view; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def read_json(self, *, after: str | None, types: str | None, limit: int, wait: float) -> str:
        """The page as the JSON text of `AssessmentChangePage`."""
        try:
            domain.check_reader(self.ctx.principal.role)
            wanted = parse_types(types, RecordType)
            cursor = decode_position(after) if after is not None else None
        except DomainError as exc:
            raise from_domain(exc) from None
        scope = scope_of(self.ctx)

        async def read(start: Position | None) -> FeedPage[RecordType]:
            try:
                return await self._page(start, wanted, scope, limit)
            except CursorExpired as exc:
                raise gone(exc) from None  # 410, `Link: </exports/results>; rel="alternate"`

        return page_json(await long_poll(read, cursor, wait=wait, poll_seconds=POLL_SECONDS))

    async def _page(
        self, cursor: Position | None, types: frozenset[RecordType], scope: Scope, limit: int
    ) -> FeedPage[RecordType]:
        async with snapshot(self.read_pool) as conn:
            repo = FeedRepository(conn)
            head = await repo.head()
            start = start_position(cursor, head.horizon, export=domain.EXPORT_PATH)
            rows = await repo.changes(start, types, scope, limit + 1, head.xmin)
            has_more = len(rows) > limit
            rows = rows[:limit]
            current: dict[tuple[RecordType, str], CurrentRecord] = {}
            changed = latest(rows)
            for kind in RecordType:
                ids = [c.id for c in changed if c.type is kind]
                for record_id, record in (await repo.records(kind, ids, scope)).items():
                    current[(kind, record_id)] = record
        next_position = rows[-1].position if has_more else max(start, Position(head.xmin, 0))
        return FeedPage(assemble(rows, current), encode_position(next_position), has_more)


async def prune_change_feed(pool: Any, *, now: datetime, retention_days: int = DEFAULT_RETENTION_DAYS) -> int:
    """Housekeeping: delete the feed rows older than the retention; how many (the horizon is raised: 410)."""
    return await prune_changes(pool, before=now - timedelta(days=retention_days))

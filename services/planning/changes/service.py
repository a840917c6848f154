"""Planning's change-feed use cases (issue #15): a page of the caller's region (or a long poll for one), and the
retention's pruning.

`ChangeService.read_json` checks the caller and the parameters before anything is read, then reads one page in
one snapshot of the read pool (shared/exchange/feed_sql.py `read_page` over changes/repository.py `SOURCE`):
where to start (the cursor against the pruned horizon: 410 when rows may be lost), the finished rows after it,
the current state of their records. With `wait`, a read that finds nothing lets the connection go, sleeps
`POLL_SECONDS` and reads again (shared/exchange/poll.py), until a change arrives or the wait is over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.planning.changes import domain
from services.planning.changes.domain import RecordType
from services.planning.changes.repository import SOURCE, prune_changes
from shared.context import Context
from shared.errors import DomainError
from shared.exchange.cursor import Gone, decode_position
from shared.exchange.feed import CursorExpired, FeedPage, Position, page_json
from shared.exchange.feed_sql import read_page
from shared.exchange.poll import long_poll
from shared.problems import from_domain
from shared.roles import scope_prefix

__all__ = ["POLL_SECONDS", "ChangeService", "prune_change_feed"]

#: A long poll reads again this often (each read a short snapshot; no connection is held while sleeping).
POLL_SECONDS = 0.5


class ChangeService:
    """The feed of the caller's region subtree; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def read_json(self, *, after: str | None, types: str | None, limit: int, wait: float) -> str:
        """The page as the JSON text of `PlanningChangePage`, each record's JSON as PostgreSQL wrote it."""
        principal = self.ctx.principal
        try:
            domain.check_reader(principal.role)
            wanted = domain.parse_types(types)
            cursor = decode_position(after) if after is not None else None
        except DomainError as exc:
            raise from_domain(exc) from None
        prefix = scope_prefix(principal.region)

        async def page(start: Position | None) -> FeedPage[RecordType]:
            try:
                return await read_page(self.read_pool, SOURCE, start, wanted, prefix, limit)
            except CursorExpired as exc:
                links = ", ".join(f'<{path}>; rel="alternate"' for path in domain.EXPORTS)
                exports = list(domain.EXPORTS)
                raise Gone(exc.message, code=exc.code, headers={"Link": links}, exports=exports) from None

        return page_json(await long_poll(page, cursor, wait=wait, poll_seconds=POLL_SECONDS))


async def prune_change_feed(pool: Any, *, now: datetime, retention_days: int | None = None) -> int:
    """Housekeeping: delete the feed rows older than the retention; how many. The pruned horizon is recorded
    (a cursor from before it: 410)."""
    return await prune_changes(pool, before=domain.retention_cutoff(now, retention_days))

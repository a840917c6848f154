"""The change-feed use case (issue #15): one page of the caller's region, or a long poll for one.

`ChangeService.read` checks the caller and the parameters before anything is read, then, in one snapshot of the
read pool (changes/repository.py), decides where to start (the cursor against the pruned horizon: 410 when rows
may be lost), reads the finished rows after it and the current state of their records, and answers the page
(changes/domain.py `assemble`). With `wait`, a read that finds nothing lets the connection go, sleeps
`POLL_SECONDS` and reads again, until a change arrives or the wait is over (then an empty page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.registry.changes import domain
from services.registry.changes.domain import FeedItem, Position, RecordType
from services.registry.changes.repository import FeedRepository
from services.registry.changes.schemas import ChangeItem, ChangePage, decode_position
from services.registry.exports.domain import FieldSelection
from shared.clock import rfc3339
from shared.context import Context
from shared.errors import DomainError
from shared.exchange.cursor import Gone, gone
from shared.exchange.feed import FeedPage
from shared.exchange.feed import page_json as _page_json
from shared.exchange.poll import long_poll
from shared.problems import from_domain
from shared.roles import scope_prefix

__all__ = ["POLL_SECONDS", "ChangeService", "Gone", "page_json"]

#: A long poll reads again this often (each read a short snapshot; no connection is held while sleeping).
POLL_SECONDS = 0.5


class ChangeService:
    """The feed of the caller's region subtree; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def read(
        self, *, after: str | None, types: str | None, limit: int, wait: float, fields: str | None = None
    ) -> ChangePage:
        """The page as `ChangePage` (records parsed)."""
        page = await self._read(after=after, types=types, limit=limit, wait=wait, fields=fields)
        return ChangePage(
            items=[_wire(i) for i in page.items], next_cursor=page.next_cursor, has_more=page.has_more
        )

    async def read_json(
        self, *, after: str | None, types: str | None, limit: int, wait: float, fields: str | None = None
    ) -> str:
        """The page as the JSON text of `ChangePage`, each record's JSON passed through as PostgreSQL wrote it
        (never parsed and written again; help records and pairings with `fields=` are projected here)."""
        page = await self._read(after=after, types=types, limit=limit, wait=wait, fields=fields)
        return page_json(page)

    async def _read(
        self, *, after: str | None, types: str | None, limit: int, wait: float, fields: str | None
    ) -> FeedPage[RecordType]:
        principal = self.ctx.principal
        try:
            domain.check_reader(principal.role)
            wanted = domain.parse_types(types)
            selections = domain.parse_fields(fields)
            cursor = decode_position(after) if after is not None else None
        except DomainError as exc:
            raise from_domain(exc) from None
        prefix = scope_prefix(principal.region)

        async def page(start: Position | None) -> FeedPage[RecordType]:
            try:
                return await FeedRepository.page(
                    self.read_pool, start, wanted, prefix, limit, selections.get(RecordType.household)
                )
            except domain.CursorExpired as exc:
                raise gone(exc) from None  # 410, `Link` to the household export

        result = await long_poll(page, cursor, wait=wait, poll_seconds=POLL_SECONDS)
        # Households come selected from PostgreSQL; help records and pairings are projected from their record.
        projected: dict[RecordType, FieldSelection] = {
            t: s for t, s in selections.items() if t is not RecordType.household
        }
        if not projected:
            return result
        items = [domain.select(i, projected.get(i.type)) for i in result.items]
        return FeedPage(items, result.next_cursor, result.has_more)


def _record(record: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return json.loads(record) if isinstance(record, str) else dict(record)


def _wire(item: FeedItem[RecordType]) -> ChangeItem:
    return ChangeItem(
        type=item.type,
        id=item.id,
        op=item.op,
        reason=item.reason,
        at=rfc3339(item.at),
        record=_record(item.record),
    )


def page_json(page: FeedPage[RecordType]) -> str:
    """The page as `ChangePage`'s JSON text (shared/exchange/feed.py `page_json`: records spliced in as read)."""
    return _page_json(page)

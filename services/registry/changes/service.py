"""The change-feed use case (issue #15): one page of the caller's region, or a long poll for one.

`ChangeService.read` checks the caller and the parameters before anything is read, then, in one snapshot of the
read pool (changes/repository.py), decides where to start (the cursor against the pruned horizon: 410 when rows
may be lost), reads the finished rows after it and the current state of their records, and answers the page
(changes/domain.py `assemble`). With `wait`, a read that finds nothing lets the connection go, sleeps
`POLL_SECONDS` and reads again, until a change arrives or the wait is over (then an empty page).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.registry.changes import domain
from services.registry.changes.domain import Change, CurrentRecord, FeedItem, Position, RecordType
from services.registry.changes.repository import FeedRepository
from services.registry.changes.schemas import ChangeItem, ChangePage, decode_position, encode_position
from shared.clock import rfc3339
from shared.context import Context
from shared.errors import DomainError
from shared.problems import AppError, from_domain
from shared.roles import scope_prefix

__all__ = ["POLL_SECONDS", "ChangeService", "Gone", "page_json"]

#: A long poll reads again this often (each read a short snapshot; no connection is held while sleeping).
POLL_SECONDS = 0.5


class Gone(AppError):
    status, slug, title = 410, "gone", "Gone"


class ChangeService:
    """The feed of the caller's region subtree; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def read(self, *, after: str | None, types: str | None, limit: int, wait: float) -> ChangePage:
        """The page as `ChangePage` (records parsed)."""
        page = await self._read(after=after, types=types, limit=limit, wait=wait)
        return ChangePage(
            items=[_wire(i) for i in page.items], next_cursor=page.next_cursor, has_more=page.has_more
        )

    async def read_json(self, *, after: str | None, types: str | None, limit: int, wait: float) -> str:
        """The page as the JSON text of `ChangePage`, each record's JSON passed through as PostgreSQL wrote it
        (never parsed and written again)."""
        page = await self._read(after=after, types=types, limit=limit, wait=wait)
        return page_json(page)

    async def _read(self, *, after: str | None, types: str | None, limit: int, wait: float) -> _Page:
        principal = self.ctx.principal
        try:
            domain.check_reader(principal.role)
            wanted = domain.parse_types(types)
            cursor = decode_position(after) if after is not None else None
        except DomainError as exc:
            raise from_domain(exc) from None
        prefix = scope_prefix(principal.region)
        deadline = time.monotonic() + wait
        while True:
            page = await self._page(cursor, wanted, prefix, limit)
            if page.items or page.has_more or time.monotonic() + POLL_SECONDS > deadline:
                return page
            cursor = decode_position(page.next_cursor)  # past rows of other regions and types: not read again
            await asyncio.sleep(POLL_SECONDS)

    async def _page(
        self, cursor: Position | None, types: frozenset[RecordType], prefix: str, limit: int
    ) -> _Page:
        async with FeedRepository.snapshot(self.read_pool) as repo:
            head = await repo.head()
            try:
                start = domain.start_position(cursor, head.horizon)
            except domain.CursorExpired as exc:
                raise Gone(
                    exc.message,
                    code=exc.code,
                    headers={"Link": '</exports/households>; rel="alternate"'},
                    **exc.details,
                ) from None
            rows = await repo.changes(start, types, prefix, limit + 1)
            has_more = len(rows) > limit
            rows = rows[:limit]
            current = await self._current(repo, domain.latest(rows), prefix)
        if has_more:
            next_position = rows[-1].position
        else:
            next_position = max(start, Position(head.xmin, 0))
        return _Page(domain.assemble(rows, current), encode_position(next_position), has_more)

    @staticmethod
    async def _current(
        repo: FeedRepository, changes: list[Change], prefix: str
    ) -> dict[tuple[RecordType, str], CurrentRecord]:
        out: dict[tuple[RecordType, str], CurrentRecord] = {}
        for kind in RecordType:
            ids = [c.id for c in changes if c.type is kind]
            for record_id, (in_scope, text, status) in (await repo.records(kind, ids, prefix)).items():
                out[(kind, record_id)] = CurrentRecord(in_scope=in_scope, record=text, status=status)
        return out


@dataclass(frozen=True, slots=True)
class _Page:
    items: list[FeedItem]
    next_cursor: str
    has_more: bool


def _record(record: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return json.loads(record) if isinstance(record, str) else dict(record)


def _wire(item: FeedItem) -> ChangeItem:
    return ChangeItem(
        type=item.type,
        id=item.id,
        op=item.op,
        reason=item.reason,
        at=rfc3339(item.at),
        record=_record(item.record),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _item_json(item: FeedItem) -> str:
    """One `ChangeItem` as JSON text (its keys in the model's order), the record's text spliced in as read."""
    record = item.record
    text = "null" if record is None else record if isinstance(record, str) else _json(record)
    reason = "null" if item.reason is None else _json(item.reason.value)
    return (
        f'{{"type":{_json(item.type.value)},"id":{_json(item.id)},"op":{_json(item.op.value)},'
        f'"reason":{reason},"at":{_json(rfc3339(item.at))},"record":{text}}}'
    )


def page_json(page: _Page) -> str:
    """The page as `ChangePage`'s JSON text."""
    items = ",".join(_item_json(i) for i in page.items)
    more = "true" if page.has_more else "false"
    return f'{{"items":[{items}],"next_cursor":{_json(page.next_cursor)},"has_more":{more}}}'

"""The long poll of a change feed (`wait=`): read, and while nothing is ready, sleep and read again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TypeVar

from shared.exchange.cursor import decode_position
from shared.exchange.feed import FeedPage, Position

__all__ = ["long_poll"]

E = TypeVar("E", bound=Enum)


async def long_poll(
    read: Callable[[Position | None], Awaitable[FeedPage[E]]],
    cursor: Position | None,
    *,
    wait: float,
    poll_seconds: float,
) -> FeedPage[E]:
    """`read(cursor)` until it has items or more is ready, or `wait` seconds are over (then its empty page).

    Each read is a snapshot of its own; between reads the cursor moves to the empty page's (past rows of other
    regions and types, never read again) and nothing is held while sleeping."""
    deadline = time.monotonic() + wait
    while True:
        page = await read(cursor)
        if page.items or page.has_more or time.monotonic() + poll_seconds > deadline:
            return page
        cursor = decode_position(page.next_cursor)
        await asyncio.sleep(poll_seconds)

"""Keyset pages: the `Page[T]` every list answers with, and the one codec for every keyset cursor.

A cursor is opaque to clients: base64url (no padding) of a compact JSON array `[kind, value, ...]`, where `kind`
names the ordering it continues (a list sorted by village cannot be continued with a cursor of a list sorted by
income) and the values are the sort key of the last item served, in order. Cursors are validated, not signed: a
forged one can only move the caller within what they may already see (scope is applied to every query), so a
malformed one, one of another ordering or one whose values do not fit their type is a 400 problem.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from shared.problems import BadRequest

__all__ = ["MAX_CURSOR_LENGTH", "CursorValue", "Page", "decode_cursor", "encode_cursor"]

T = TypeVar("T")

#: Every cursor query parameter is at most this long.
MAX_CURSOR_LENGTH = 400
_INT64 = 2**63 - 1
#: Decimals in a cursor are money: they must fit numeric(14, 2), the column they come from, or PostgreSQL refuses
#: the comparison (`numeric field overflow`) instead of the cursor being refused.
_DECIMAL_LIMIT = Decimal("999999999999.99")
_DECIMAL_PLACES = 2

CursorValue = str | int | Decimal | datetime | date | uuid.UUID | None


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; `next_cursor` continues it (null on the last page)."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null when this page is the last"
    )


def _plain(value: CursorValue) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("cursor times must be timezone-aware")
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID | date):
        return str(value)
    return value


def encode_cursor(kind: str, *values: CursorValue) -> str:
    """The cursor continuing the ordering `kind` after the item whose sort key is `values`."""
    raw = json.dumps([kind, *(_plain(v) for v in values)], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _typed(value: Any, kind: type[Any]) -> CursorValue:
    if value is None:
        return None
    if kind is str:
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError("expected a string")
        return value
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or not -_INT64 <= value <= _INT64:
            raise ValueError("expected a 64-bit integer")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a {kind.__name__} as text")
    if kind is Decimal:
        number = Decimal(value)
        if not number.is_finite() or abs(number) > _DECIMAL_LIMIT:
            raise ValueError("decimal out of range")
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -_DECIMAL_PLACES:
            raise ValueError(f"decimal with more than {_DECIMAL_PLACES} places")
        return number
    if kind is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        # OverflowError (an ArithmeticError, refused below) when its UTC value leaves years 1-9999, which the
        # database driver would otherwise raise as a 500 while sending it.
        return moment.astimezone(UTC)
    if kind is date:
        return date.fromisoformat(value)
    if kind is uuid.UUID:
        return uuid.UUID(value)
    raise TypeError(f"unsupported cursor type {kind!r}")  # pragma: no cover - a programming error


def decode_cursor(cursor: str, kind: str, types: Sequence[type[Any]]) -> tuple[CursorValue, ...]:
    """The sort key a cursor of ordering `kind` carries, as `types`; 400 when it is not such a cursor."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or not parts:
            raise ValueError("not a cursor")
        if parts[0] != kind:
            raise ValueError("cursor belongs to another ordering")
        values = parts[1:]
        if len(values) != len(types):
            raise ValueError("cursor has the wrong number of values")
        return tuple(_typed(v, t) for v, t in zip(values, types, strict=True))
    except (ValueError, TypeError, AttributeError, ArithmeticError, InvalidOperation, binascii.Error) as exc:
        raise BadRequest(f"invalid cursor: {exc}", code="cursor_invalid") from exc

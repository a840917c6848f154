"""The feed cursor as opaque text (shared/pagination.py's codec, kind `feed`, values `(txid, seq)`), and the 410
problem of a cursor older than the retention."""

from __future__ import annotations

from shared.errors import Invalid
from shared.exchange.feed import CURSOR_KIND, CursorExpired, Position
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import AppError

__all__ = ["Gone", "decode_position", "encode_position", "gone"]


class Gone(AppError):
    status, slug, title = 410, "gone", "Gone"


def gone(exc: CursorExpired) -> Gone:
    """The 410 problem of an expired cursor: its code and details (`export`), and `Link: <export>;
    rel="alternate"` naming the export to start again from, when there is one."""
    export = exc.details.get("export")
    headers = {"Link": f'<{export}>; rel="alternate"'} if export else None
    return Gone(exc.message, code=exc.code, headers=headers, **exc.details)


def encode_position(position: Position) -> str:
    """The cursor text of a feed position (opaque to clients)."""
    return encode_cursor(CURSOR_KIND, position.txid, position.seq)


def decode_position(text: str) -> Position:
    """The position a cursor names; 422 `invalid_cursor` (a domain error) when it is not a feed cursor."""
    try:
        txid, seq = decode_cursor(text, CURSOR_KIND, (int, int))
    except AppError:
        raise Invalid("invalid_cursor", "the cursor is not a change-feed cursor") from None
    assert isinstance(txid, int) and isinstance(seq, int)
    return Position(txid, seq)

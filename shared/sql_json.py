"""SQL fragments for JSON that PostgreSQL builds itself, written exactly as the response models write it.

The hot reads (the household card, the phone download, a help record) are built as JSON by PostgreSQL and sent as
the text it returns; their models (pydantic) must read that text and write it back unchanged. PostgreSQL's own
JSON of a `timestamptz` is `2026-12-02T13:32:44.35108+00:00` (the session's offset, trailing zeros cut), pydantic's
is `2026-12-02T13:32:44.351080Z`: every time a statement puts into JSON goes through `rfc3339_sql`, which writes
pydantic's form whatever the session's TimeZone. Dates (`date`) need nothing: PostgreSQL writes `YYYY-MM-DD`.
"""

from __future__ import annotations

__all__ = ["rfc3339_sql"]


def rfc3339_sql(expr: str) -> str:
    """The SQL text of the `timestamptz` expression `expr` in the wire format of every time (RFC 3339 in UTC with
    `Z`, six digits of microseconds, none when they are zero: as pydantic and `shared.clock.rfc3339` write an
    aware UTC datetime); SQL NULL stays NULL (JSON null)."""
    return f"(replace(to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || 'Z')"

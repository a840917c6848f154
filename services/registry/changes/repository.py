"""Every SQL statement of the change feed, on the asyncpg read pool, inside one REPEATABLE READ snapshot.

A read (`FeedRepository.page`, shared/exchange/feed_sql.py `read_page` over `registry_change`) first takes the
snapshot's xmin and the pruned horizon, then the feed rows after the cursor with `txid` below that xmin (the
gapless rule, shared/exchange/feed.py) in `(txid, seq)` order (index `ix_registry_change_txid`), then the current
state of the page's records, all in the same snapshot: one statement per record type (below), never one per
record. Households are the export's row of every field
(exports/repository.py `household_row_json`: the card's own fragments, masked, with members and latest income), help records `HelpRecordPublic`
(help_records/repository.py `record_json`), pairings their current row.

Scope: the rows are those whose village (or, for a move, former village) lies under the caller's prefix; a
record's JSON is built only when its household's village lies under it, so nothing out of scope is ever read
out (the service tells "left your region" from "gone" by the `in_scope` flag alone).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection

import asyncpg

from services.registry.changes.domain import EXPORT_PATH, Position, RecordType, is_removed
from services.registry.exports.domain import FieldSelection
from services.registry.exports.repository import household_row_json
from services.registry.help_records.repository import record_json
from shared.exchange import feed_sql
from shared.exchange.feed import FeedPage
from shared.exchange.feed_sql import snapshot_cursor
from shared.sql_json import rfc3339_sql

__all__ = ["FEED", "FeedRepository", "households_sql", "snapshot_cursor"]

_IN = "h.village_code LIKE $2"


def households_sql(selection: FieldSelection) -> str:
    """The households $1 (ids) as export rows of the selected fields (`fields=household:...`; every field by
    default) when in the scope $2 (prefix with `%`): only the selected fragments are built."""
    return f"""
SELECT h.id::text AS id, {_IN} AS in_scope, h.status,
       CASE WHEN {_IN} THEN ({household_row_json(selection)})::text END AS record
FROM registry_household h JOIN registry_region v ON v.code = h.village_code
WHERE h.id = ANY($1::uuid[])
"""  # noqa: S608 - built from the catalogue's constant fragments


_HOUSEHOLDS_SQL = households_sql(FieldSelection.everything())

_RECORD, _SIGNATURES = record_json("x")
#: The newest version of the help records $1 as `HelpRecordPublic` when their household is in the scope $2.
_HELP_RECORDS_SQL = f"""
SELECT x.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN ({_RECORD})::text END AS record
FROM (SELECT DISTINCT ON (r.id) r.* FROM registry_help_record r WHERE r.id = ANY($1::uuid[])
      ORDER BY r.id, r.version DESC) x
JOIN registry_household h ON h.id = x.household_id
{_SIGNATURES}
"""  # noqa: S608 - constant SQL

_t = rfc3339_sql
#: The current rows of the pairings $1 (as `PairingPublic`) when their household is in the scope $2.
_PAIRINGS_SQL = f"""
SELECT p.id::text AS id, {_IN} AS in_scope, NULL::text AS status,
       CASE WHEN {_IN} THEN json_build_object(
         'row_id', p.row_id, 'id', p.id, 'household_id', p.household_id, 'cadre_id', p.cadre_id,
         'unit_id', p.unit_id, 'role', p.role, 'valid_from', p.valid_from, 'valid_to', p.valid_to,
         'end_reason', p.end_reason, 'successor_id', p.successor_id, 'reason', p.reason,
         'recorded_at', {_t("p.recorded_at")}, 'recorded_by', p.recorded_by,
         'superseded_at', {_t("p.superseded_at")})::text END AS record
FROM registry_pairing p JOIN registry_household h ON h.id = p.household_id
WHERE p.id = ANY($1::uuid[]) AND p.superseded_at IS NULL
"""  # noqa: S608 - constant SQL

_RECORDS_SQL = {
    RecordType.household: _HOUSEHOLDS_SQL,
    RecordType.help_record: _HELP_RECORDS_SQL,
    RecordType.pairing: _PAIRINGS_SQL,
}


#: The registry's feed: its tables, the statement of each record type, and its `removed` rule.
FEED = feed_sql.FeedSource(
    RecordType,
    change_table="registry_change",
    horizon_table="registry_change_horizon",
    records_sql=_RECORDS_SQL,
    removed=is_removed,
    export=EXPORT_PATH,
)


@functools.lru_cache(maxsize=64)
def _feed(households: FieldSelection) -> feed_sql.FeedSource[RecordType]:
    """The feed whose household records carry the fields `households` selects (built in PostgreSQL)."""
    if households.is_everything():
        return FEED
    return dataclasses.replace(
        FEED, records_sql={**_RECORDS_SQL, RecordType.household: households_sql(households)}
    )


class FeedRepository:
    """The statements of one feed page, in one snapshot of the read pool."""

    @staticmethod
    async def page(
        pool: asyncpg.Pool,
        cursor: Position | None,
        types: Collection[RecordType],
        prefix: str,
        limit: int,
        households: FieldSelection | None = None,
    ) -> FeedPage[RecordType]:
        """Up to `limit` changes after `cursor` of `types` in the region `prefix`, as items (`CursorExpired`
        when the cursor is older than the retention); household records with the fields `households` selects
        (None: every field)."""
        source = FEED if households is None else _feed(households)
        return await feed_sql.read_page(pool, source, cursor, types, prefix, limit)

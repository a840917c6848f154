"""The shared exchange machinery (shared/exchange, issue #15) on a record type of its own: the pure rules, and the
change table, trigger, gapless read, scope, tombstones and retention against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from shared.errors import Invalid, Missing
from shared.exchange import export, feed, feed_ddl, feed_sql
from shared.exchange.cursor import decode_position, encode_position, gone
from shared.labels import LabelledEnum

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)


class Kind(LabelledEnum):
    thing = "thing", "事物"
    other = "other", "别的"


class Set(LabelledEnum):
    things = "things", "事物"


THINGS = export.Dataset(
    Set.things,
    ("id", "name", "region_code"),
    (export.Nested("parts", ("id", "size"), many=True), export.Nested("owner", ("name",), many=False)),
    "thing.export",
)


class TestFeedRules:
    def test_types_of_any_enum(self) -> None:
        assert feed.parse_types(None, Kind) == frozenset(Kind)
        assert feed.parse_types("thing", Kind) == {Kind.thing}
        with pytest.raises(Invalid) as err:
            feed.parse_types("thing,nope", Kind, code="unknown_thing_type")
        assert err.value.code == "unknown_thing_type"

    def test_removed_is_the_services_rule(self) -> None:
        change = feed.Change(feed.Position(5, 1), Kind.thing, "a", T0)
        current = {(Kind.thing, "a"): feed.CurrentRecord(True, '{"id":"a"}', "closed")}
        assert feed.assemble([change], current)[0].op is feed.Op.upsert
        closed = feed.assemble([change], current, lambda c, r: r.status == "closed")[0]
        assert (closed.op, closed.reason) == (feed.Op.tombstone, feed.Reason.removed)

    def test_page_json_splices_the_record_text(self) -> None:
        item = feed.FeedItem(Kind.thing, "a", feed.Op.upsert, None, T0, '{"id":"a","n":1}')
        page = json.loads(feed.page_json(feed.FeedPage([item], "c", False)))
        assert page == {
            "items": [
                {
                    "type": "thing",
                    "id": "a",
                    "op": "upsert",
                    "reason": None,
                    "at": "2026-12-07T09:00:00Z",
                    "record": {"id": "a", "n": 1},
                }
            ],
            "next_cursor": "c",
            "has_more": False,
        }

    def test_expired_cursor_names_the_export(self) -> None:
        with pytest.raises(feed.CursorExpired) as err:
            feed.start_position(feed.Position(3, 0), 3, export="/exports/things")
        problem = gone(err.value)
        assert problem.status == 410 and problem.headers == {"Link": '</exports/things>; rel="alternate"'}
        assert decode_position(encode_position(feed.Position(7, 2))) == feed.Position(7, 2)


class TestExportRules:
    def test_fields_of_any_dataset(self) -> None:
        sel = export.parse_fields("name,parts.size,owner", THINGS)
        assert sel.names() == ["name", "parts.size", "owner.name"]
        assert export.parse_fields(None, THINGS).is_everything() and not sel.is_everything()
        with pytest.raises(Invalid) as err:
            export.parse_fields("id,parts.colour", THINGS)
        assert err.value.details == {"field": "parts.colour"}
        with pytest.raises(Missing):
            export.dataset_of("nope", [THINGS])
        assert export.dataset_of("things", [THINGS]) is THINGS

    async def test_file_chunks_csv_and_ndjson(self) -> None:
        sel = export.parse_fields("id,parts,owner", THINGS)
        record: dict[str, Any] = {"id": "=1", "parts": [{"id": "p", "size": 2}], "owner": {"name": "王"}}

        async def chunks() -> AsyncIterator[list[dict[str, Any]]]:
            yield [record]

        progress = export.ExportProgress()
        pieces = export.record_pieces(chunks(), sel, csv_format=True)  # type: ignore[arg-type]
        text = "".join(
            [
                t
                async for t in export.file_chunks(
                    pieces, sel, progress, csv_format=True, feed_cursor="c", as_of="t"
                )
            ]
        )
        assert text == '\ufeffid,parts,owner.name\r\n\'=1,"[{""id"":""p"",""size"":2}]",王\r\n'
        assert (progress.rows, progress.complete) == (1, True)
        progress = export.ExportProgress()
        pieces = export.record_pieces(chunks(), sel, csv_format=False)  # type: ignore[arg-type]
        lines = [
            json.loads(t)
            for t in "".join(
                [
                    t
                    async for t in export.file_chunks(
                        pieces, sel, progress, csv_format=False, feed_cursor="c", as_of="t"
                    )
                ]
            ).splitlines()
        ]
        assert lines == [record, {"_trailer": {"rows": 1, "feed_cursor": "c", "as_of": "t"}}]


_RECORD_SQL = """
SELECT t.id::text AS id, t.region_code LIKE $2 AS in_scope, t.status,
       CASE WHEN t.region_code LIKE $2 THEN json_build_object('id', t.id, 'name', t.name)::text END AS record
FROM zzx_thing t WHERE t.id = ANY($1::uuid[])
"""
SOURCE = feed_sql.FeedSource(
    Kind,
    "zzx_change",
    "zzx_change_horizon",
    {Kind.thing: _RECORD_SQL, Kind.other: _RECORD_SQL},
    removed=lambda change, current: current.status == "closed",
    export="/exports/things",
    code_column="region_code",
)
A, B = "530102001001", "530103001001"


async def settle(conn: asyncpg.Connection, patience: float = 60.0) -> None:
    """Wait until every committed feed row is final (its txid below the feed's bound: a transaction of this
    database still open holds the feed back, never loses a change)."""
    deadline = time.monotonic() + patience
    while not await conn.fetchval(
        f"SELECT coalesce(max(txid), '0'::xid8)::text::bigint < {feed_sql.BOUND_SQL} FROM zzx_change"  # noqa: S608 - constant SQL
    ):
        assert time.monotonic() < deadline, "the server kept a transaction open too long"
        await asyncio.sleep(0.05)


class TestFeedTables:
    @pytest.fixture
    async def pool(self, db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
        url = db_urls["registry"]
        conn = await asyncpg.connect(url)
        await conn.execute(
            "CREATE TABLE zzx_thing (id uuid PRIMARY KEY, region_code varchar(12), name text, status text)"
        )
        for statement in feed_ddl.change_table_sql("zzx") + feed_ddl.record_trigger_sql(
            "zzx", "zzx_thing", "thing"
        ):
            await conn.execute(statement)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=3)
        try:
            yield pool
        finally:
            await pool.close()
            for statement in feed_ddl.drop_record_trigger_sql("zzx_thing") + feed_ddl.drop_change_table_sql(
                "zzx"
            ):
                await conn.execute(statement)
            await conn.execute("DROP TABLE zzx_thing")
            await conn.close()

    async def test_follow_a_table(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            one = await conn.fetchval(
                "INSERT INTO zzx_thing VALUES (gen_random_uuid(), $1, 'a', 'open') RETURNING id::text", A
            )
            two = await conn.fetchval(
                "INSERT INTO zzx_thing VALUES (gen_random_uuid(), $1, 'b', 'open') RETURNING id::text", A
            )
            # a transaction still open is not delivered, and nothing after it is skipped
            await settle(conn)
            open_tx = await pool.acquire()
            tx = open_tx.transaction()
            await tx.start()
            await open_tx.execute("UPDATE zzx_thing SET name = 'b2' WHERE id = $1::uuid", two)
            page = await feed_sql.read_page(pool, SOURCE, None, set(Kind), A[:6], 10)
            assert [(i.id, i.op) for i in page.items] == [(one, feed.Op.upsert), (two, feed.Op.upsert)]
            await tx.commit()
            await pool.release(open_tx)
            await settle(conn)
            page = await feed_sql.read_page(
                pool, SOURCE, decode_position(page.next_cursor), set(Kind), A[:6], 10
            )
            assert [(i.id, json.loads(str(i.record))["name"]) for i in page.items] == [(two, "b2")]
            cursor = decode_position(page.next_cursor)
            await conn.execute("UPDATE zzx_thing SET region_code = $1 WHERE id = $2::uuid", B, one)
            await conn.execute("UPDATE zzx_thing SET status = 'closed' WHERE id = $1::uuid", two)
            await settle(conn)
            page = await feed_sql.read_page(pool, SOURCE, cursor, set(Kind), A[:9], 10)
            assert [(i.id, i.reason) for i in page.items] == [
                (one, feed.Reason.left_scope),
                (two, feed.Reason.removed),
            ]
            await conn.execute("DELETE FROM zzx_thing WHERE id = $1::uuid", two)
            await settle(conn)
            page = await feed_sql.read_page(
                pool, SOURCE, decode_position(page.next_cursor), set(Kind), A[:9], 10
            )
            assert [(i.id, i.reason) for i in page.items] == [(two, feed.Reason.deleted)]
            async with feed_sql.snapshot(pool) as snap:
                assert decode_position(await feed_sql.snapshot_cursor(snap)).seq == 0
        assert await feed_sql.prune(pool, "zzx", before=datetime(2100, 1, 1, tzinfo=UTC)) == 6
        with pytest.raises(feed.CursorExpired):
            await feed_sql.read_page(pool, SOURCE, cursor, set(Kind), A[:6], 10)

    async def test_another_databases_transaction_does_not_hold_the_feed_back(
        self, pool: asyncpg.Pool, db_urls: dict[str, str]
    ) -> None:
        """The cluster's xmin counts every database: a transaction open elsewhere (here the planning database,
        an id taken) would stall the feed. The bound ignores it; one open in this database still holds it."""
        elsewhere = await asyncpg.connect(db_urls["planning"])
        here = await pool.acquire()
        try:
            other_tx = elsewhere.transaction()
            await other_tx.start()
            other_xid = int(await elsewhere.fetchval("SELECT pg_current_xact_id()::text"))
            async with pool.acquire() as conn:
                one = await conn.fetchval(
                    "INSERT INTO zzx_thing VALUES (gen_random_uuid(), $1, 'a', 'open') RETURNING id::text", A
                )
                await settle(conn)
                page = await feed_sql.read_page(pool, SOURCE, None, set(Kind), A[:6], 10)
                assert [i.id for i in page.items] == [one]
                assert decode_position(page.next_cursor).txid > other_xid  # past the other database's txid
                cursor = decode_position(page.next_cursor)
                # a transaction of this database (an id taken, nothing in the feed yet) holds the feed back
                here_tx = here.transaction()
                await here_tx.start()
                here_xid = int(await here.fetchval("SELECT pg_current_xact_id()::text"))
                two = await conn.fetchval(
                    "INSERT INTO zzx_thing VALUES (gen_random_uuid(), $1, 'b', 'open') RETURNING id::text", A
                )
                page = await feed_sql.read_page(pool, SOURCE, cursor, set(Kind), A[:6], 10)
                assert page.items == []
                assert decode_position(page.next_cursor).txid <= here_xid
                await here.execute("UPDATE zzx_thing SET name = 'b2' WHERE id = $1::uuid", two)
                await here_tx.commit()
                await settle(conn)
                after = decode_position(page.next_cursor)
                page = await feed_sql.read_page(pool, SOURCE, after, set(Kind), A[:6], 10)
                assert [(i.id, json.loads(str(i.record))["name"]) for i in page.items] == [(two, "b2")]
            await other_tx.rollback()
        finally:
            await pool.release(here)
            await elsewhere.close()

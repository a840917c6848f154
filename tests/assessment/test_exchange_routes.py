"""The assessment's snapshot exports and change feed (issue #15) against a real PostgreSQL: the export's rows are
the REST answers (runs as `GET /runs/{id}`, results as `GET /runs/{id}/results/{subject}` without the prose),
NDJSON with its trailer cursor, CSV with a BOM, gzip, field selection reaching nested fields; export + feed from
its cursor = the live state; the feed is gapless with a transaction held open across others' commits; tombstones
on delete; 410 once pruned; scope (another county, a township) and roles (the province sees published runs only,
village officers and cadres have no bulk access). Runs are the worked example's (tests/assessment/
test_runs_routes.py `world`: stand-in registry and planning, the real queue drained in process)."""

# ruff: noqa: S608, F811 - the tests' own statements (ids from the API); `world` is the imported fixture

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from services.assessment.changes.service import prune_change_feed
from services.assessment.main import housekeeping
from tests.assessment.test_runs_routes import V1, V2, V3, World, world  # noqa: F401 - the fixture
from tests.factories import Headers, assert_problem

#: The prose of a REST result the export leaves to the single-result route.
_PROSE = {"explanation_zh", "explanation_en", "tie_rule_zh", "tie_rule_en"}


def _lines(response: httpx.Response) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert response.status_code == 200, response.text
    *rows, trailer = [json.loads(line) for line in response.text.splitlines()]
    return rows, trailer["_trailer"]


async def _export(world: World, dataset: str, headers: Headers, **params: str) -> httpx.Response:
    return await world.client.get(f"/exports/{dataset}", params=params, headers=headers)


async def _feed(world: World, headers: Headers, after: str | None = None, **params: Any) -> dict[str, Any]:
    query = {**params, **({"after": after} if after else {})}
    response = await world.client.get("/changes", params=query, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _follow(world: World, headers: Headers, after: str) -> tuple[list[dict[str, Any]], str]:
    """Every item after `after` until caught up, and the cursor then."""
    items: list[dict[str, Any]] = []
    while True:
        page = await _feed(world, headers, after, limit=2)
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return items, after


def _mirror(rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """An export's rows by id, with feed items applied in order."""
    state = {r["id"]: r for r in rows}
    for item in items:
        if item["op"] == "upsert":
            state[item["id"]] = item["record"]
        else:
            state.pop(item["id"], None)
    return state


async def _execute(world: World, *statements: str) -> None:
    conn = await asyncpg.connect(world.db_url)
    try:
        async with conn.transaction():
            for statement in statements:
                await conn.execute(statement)
    finally:
        await conn.close()


class TestExports:
    async def test_runs_are_the_rest_runs_with_the_feed_cursor_in_the_trailer(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        response = await _export(world, "runs", world.admin)
        rows, trailer = _lines(response)
        assert rows == [run]  # exactly GET /runs/{id}
        assert trailer["rows"] == 1 and trailer["feed_cursor"] == response.headers["x-feed-cursor"]
        assert response.headers["content-type"].startswith("application/x-ndjson")

    async def test_results_are_the_rest_results_with_their_indicators_depth_first(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        rows, trailer = _lines(await _export(world, "results", world.admin))
        assert trailer["rows"] == 3 and {r["subject_id"] for r in rows} == {V1, V2, V3}
        for row in rows:
            rest = (
                await world.client.get(f"/runs/{run['id']}/results/{row['subject_id']}", headers=world.admin)
            ).json()
            assert row["id"] == f"{run['id']}:{row['subject_id']}"
            for key, value in rest.items():
                if key == "indicators":
                    assert row[key] == [{k: v for k, v in i.items() if k not in _PROSE} for i in value]
                elif key == "commendations":
                    assert row[key] == [{k: v for k, v in c.items() if k not in _PROSE} for c in value]
                elif key not in _PROSE:
                    assert row[key] == value, key
        vetoed = next(r for r in rows if r["subject_id"] == V2)
        assert (
            vetoed["vetoed"] and vetoed["grade"] == "unqualified" and "拆户" in vetoed["vetoes"][0]["reason"]
        )

    async def test_csv_gzip_and_fields_reaching_nested_fields(self, world: World) -> None:
        await world.run(await world.scheme("B"))
        response = await world.client.get(
            "/exports/results",
            params={"format": "csv", "fields": "subject_id,score,grade,indicators.code,indicators.points"},
            headers={**world.admin, "Accept-Encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-encoding"] == "gzip"
        text = response.content.decode()  # httpx decoded the gzip body
        assert text.startswith("\ufeff") and "\r\n" in text
        table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert table[0] == ["subject_id", "score", "grade", "indicators"]
        by_subject = {r[0]: r for r in table[1:]}
        assert by_subject[V1][1:3] == ["86.76", "good"]
        indicators = json.loads(by_subject[V1][3])
        assert indicators[0] == {"code": "B1", "points": "27.75"} and set(indicators[1]) == {"code", "points"}
        raw = await world.client.get(
            "/exports/runs",
            params={"fields": "id,status"},
            headers={**world.admin, "Accept-Encoding": "gzip"},
        )
        assert raw.headers["content-encoding"] == "gzip"
        unknown = await _export(world, "results", world.admin, fields="indicators.nope")
        assert assert_problem(unknown, 422)["code"] == "unknown_export_field"
        missing = await _export(world, "households", world.admin)
        assert assert_problem(missing, 404)["code"] == "unknown_export_dataset"


class TestScopeAndRoles:
    async def test_unpublished_results_reach_only_who_reads_them(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        for dataset in ("runs", "results"):
            rows, _ = _lines(await _export(world, dataset, world.province))
            assert rows == []  # scored, not published: the province reads published runs only
        start = (await _feed(world, world.admin))["next_cursor"]
        assert (await _feed(world, world.province))["items"] == []  # not even a tombstone
        published = await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        assert published.status_code == 200, published.text
        rows, _ = _lines(await _export(world, "results", world.province))
        assert {r["subject_id"] for r in rows} == {V1, V2, V3}
        page = await _feed(world, world.province)
        assert {(i["type"], i["op"]) for i in page["items"]} == {("run", "upsert"), ("result", "upsert")}
        assert len([i for i in page["items"] if i["type"] == "result"]) == 3
        # the county follows the publication: the run and each result (`run_status`) changed
        items, _ = await _follow(world, world.admin, start)
        assert {i["record"]["run_status"] for i in items if i["type"] == "result"} == {"published"}

    async def test_another_county_and_a_township_see_their_own(self, world: World) -> None:
        await world.run(await world.scheme("B"))
        for dataset in ("runs", "results"):
            rows, _ = _lines(await _export(world, dataset, world.other_admin))
            assert rows == []
        assert (await _feed(world, world.other_admin))["items"] == []
        rows, _ = _lines(await _export(world, "results", world.township))
        assert {r["subject_id"] for r in rows} == {V1, V2}  # their township's subjects
        runs, _ = _lines(await _export(world, "runs", world.township))
        assert len(runs) == 1  # the county's runs
        page = await _feed(world, world.township, types="result")
        assert {i["record"]["subject_id"] for i in page["items"]} == {V1, V2}

    async def test_village_officers_and_cadres_have_no_bulk_access(self, world: World) -> None:
        for headers in (world.clerk, world.cadre):
            assert (
                assert_problem(await _export(world, "results", headers), 403)["code"] == "export_not_allowed"
            )
            refused = await world.client.get("/changes", headers=headers)
            assert assert_problem(refused, 403)["code"] == "feed_not_allowed"

    async def test_bad_cursor_and_type(self, world: World) -> None:
        bad = await world.client.get("/changes", params={"after": "nope"}, headers=world.admin)
        assert assert_problem(bad, 422)["code"] == "invalid_cursor"
        unknown = await world.client.get("/changes", params={"types": "household"}, headers=world.admin)
        assert assert_problem(unknown, 422)["code"] == "unknown_feed_type"


class TestFeed:
    async def test_export_then_feed_from_its_cursor_is_the_live_state(self, world: World) -> None:
        scheme = await world.scheme("B")
        first = await world.run(scheme)
        exported, trailer = _lines(await _export(world, "results", world.admin))
        runs_exported, runs_trailer = _lines(await _export(world, "runs", world.admin))
        # then: the run is published, a second version is run
        await world.client.post(f"/runs/{first['id']}/publication", headers=world.admin)
        await world.run(scheme)
        items, _ = await _follow(world, world.admin, trailer["feed_cursor"])
        results = _mirror(exported, [i for i in items if i["type"] == "result"])
        live, _ = _lines(await _export(world, "results", world.admin))
        assert results == {r["id"]: r for r in live} and len(live) == 6
        run_items, _ = await _follow(world, world.admin, runs_trailer["feed_cursor"])
        runs = _mirror(runs_exported, [i for i in run_items if i["type"] == "run"])
        live_runs, _ = _lines(await _export(world, "runs", world.admin))
        assert runs == {r["id"]: r for r in live_runs} and len(live_runs) == 2

    async def test_gapless_with_a_transaction_held_open(self, world: World) -> None:
        first = await world.run(await world.scheme("B"))
        second = await world.run(await world.scheme("B"))
        cursor = (await _feed(world, world.admin))["next_cursor"]
        held = await asyncpg.connect(world.db_url)
        try:
            tx = held.transaction()
            await tx.start()
            # the held transaction writes first (an earlier txid and seq) and stays open
            await held.execute(
                "UPDATE assessment_run SET updated_at = now() WHERE id = $1", uuid.UUID(first["id"])
            )
            # another transaction writes later and commits
            await _execute(world, f"UPDATE assessment_run SET updated_at = now() WHERE id = '{second['id']}'")
            page = await _feed(world, world.admin, cursor)
            assert page["items"] == []  # the later commit waits behind the open transaction: nothing skipped
            await tx.commit()
        finally:
            await held.close()
        items, _ = await _follow(world, world.admin, page["next_cursor"])
        assert [i["id"] for i in items] == [first["id"], second["id"]]  # both, in commit-safe order

    async def test_a_transaction_of_another_database_does_not_hold_the_feed_back(
        self, world: World, db_urls: dict[str, str]
    ) -> None:
        run = await world.run(await world.scheme("B"))
        cursor = (await _feed(world, world.admin))["next_cursor"]
        elsewhere = await asyncpg.connect(db_urls["registry"])  # the same cluster, another database
        try:
            tx = elsewhere.transaction()
            await tx.start()
            await elsewhere.fetchval("SELECT pg_current_xact_id()")  # an xid, held open
            await _execute(world, f"UPDATE assessment_run SET updated_at = now() WHERE id = '{run['id']}'")
            page = await _feed(world, world.admin, cursor)
            assert [i["id"] for i in page["items"]] == [run["id"]]  # it never writes here: not waited for
            await tx.rollback()
        finally:
            await elsewhere.close()

    async def test_concurrent_writers_lose_nothing(self, world: World) -> None:
        runs = [await world.run(await world.scheme("B")) for _ in range(2)]
        cursor = (await _feed(world, world.admin))["next_cursor"]
        seen: list[str] = []

        async def writer(run_id: str, times: int) -> None:
            conn = await asyncpg.connect(world.db_url)
            try:
                for _ in range(times):
                    async with conn.transaction():
                        await conn.execute(
                            "UPDATE assessment_run SET updated_at = now() WHERE id = $1", uuid.UUID(run_id)
                        )
                        await asyncio.sleep(0.01)
            finally:
                await conn.close()

        async def reader(stop: asyncio.Event) -> None:
            nonlocal cursor
            while not stop.is_set():
                page = await _feed(world, world.admin, cursor)
                seen.extend(i["id"] for i in page["items"])
                cursor = page["next_cursor"]

        stop = asyncio.Event()
        reading = asyncio.create_task(reader(stop))
        await asyncio.gather(*(writer(r["id"], 10) for r in runs))
        stop.set()
        await reading
        items, _ = await _follow(world, world.admin, cursor)
        seen.extend(i["id"] for i in items)
        assert set(seen) == {r["id"] for r in runs}  # every writer's last change reached the reader

    async def test_tombstones_when_records_are_purged(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        cursor = (await _feed(world, world.admin))["next_cursor"]
        guards = [
            ("assessment_run", "assessment_run_locked"),
            ("assessment_result", "assessment_result_no_rewrite"),
            ("assessment_result_indicator", "assessment_result_indicator_no_rewrite"),
            ("assessment_snapshot", "assessment_snapshot_no_rewrite"),
            ("assessment_snapshot_subject", "assessment_snapshot_subject_no_rewrite"),
        ]
        run_id = run["id"]
        await _execute(
            world,
            *(f"ALTER TABLE {t} DISABLE TRIGGER {g}" for t, g in guards),
            f"DELETE FROM assessment_result_indicator WHERE run_id = '{run_id}'",  # an operator's purge
            f"DELETE FROM assessment_result WHERE run_id = '{run_id}'",
            f"DELETE FROM assessment_snapshot WHERE run_id = '{run_id}'",
            f"DELETE FROM assessment_snapshot_subject WHERE run_id = '{run_id}'",
            f"DELETE FROM assessment_run WHERE id = '{run_id}'",
            *(f"ALTER TABLE {t} ENABLE TRIGGER {g}" for t, g in guards),
        )
        items, _ = await _follow(world, world.admin, cursor)
        assert {(i["type"], i["op"], i["reason"]) for i in items} == {
            ("run", "tombstone", "deleted"),
            ("result", "tombstone", "deleted"),
        }
        assert {i["id"] for i in items if i["type"] == "result"} == {f"{run_id}:{v}" for v in (V1, V2, V3)}
        assert all(i["record"] is None for i in items)

    async def test_a_cursor_older_than_the_retention_answers_410(self, world: World) -> None:
        await world.run(await world.scheme("B"))
        old = await _feed(world, world.admin, limit=1)
        assert old["has_more"] and old["items"]
        assert await housekeeping(world.app) == {"changes": 0}  # within the 90 days kept: nothing pruned
        now = world.app.state.clock()
        removed = await prune_change_feed(world.app.state.write_pool, now=now + timedelta(days=91))
        assert removed > 0
        gone = await world.client.get("/changes", params={"after": old["next_cursor"]}, headers=world.admin)
        problem = assert_problem(gone, 410)
        assert problem["code"] == "cursor_expired" and "exports/results" in gone.headers["link"]
        assert_problem(
            await world.client.get("/changes", headers=world.admin), 410
        )  # no cursor: not from start
        # an export's cursor is valid again
        _, trailer = _lines(await _export(world, "results", world.admin))
        assert (await _feed(world, world.admin, trailer["feed_cursor"]))["items"] == []

    async def test_long_poll_answers_when_a_change_arrives(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        cursor = (await _feed(world, world.admin))["next_cursor"]

        async def later() -> None:
            await asyncio.sleep(0.6)
            await _execute(world, f"UPDATE assessment_run SET updated_at = now() WHERE id = '{run['id']}'")

        writing = asyncio.create_task(later())
        page = await _feed(world, world.admin, cursor, wait=10)
        await writing
        assert [i["id"] for i in page["items"]] == [run["id"]]

"""`GET /changes` (issue #15): the gapless change feed with tombstones, scope, retention and long polling.

Households go through the API (`POST /households`, `PATCH`), so the triggers writing the feed are the real ones;
a move to another county is an UPDATE of the village (the relocation route is another feature's). The gap test
holds a transaction open on a raw connection while another commits; the province mirror follows the feed from
an export while writer tasks add, change, move and remove households concurrently.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from services.registry.changes.domain import Position
from services.registry.changes.schemas import decode_position, encode_position
from services.registry.sync.service import prune_change_feed
from shared.clock import utcnow
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    create_household,
    household_payload,
    issue,
    settle_feed,
)

pytestmark = pytest.mark.usefixtures("seed_regions")
PATH = "/changes"


@pytest.fixture
async def db(db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        yield conn
    finally:
        await conn.close()


def headers(key: SigningKey, role: str, region: str) -> dict[str, str]:
    return auth(issue(key, role, region)) | {"Accept-Encoding": "identity"}


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return headers(signing_key, "village_officer", VILLAGE)


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return headers(signing_key, "county_admin", COUNTY)


@pytest.fixture
def province(signing_key: SigningKey) -> dict[str, str]:
    return headers(signing_key, "province_system", COUNTY)


async def add_other_county(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO registry_region (code, name, level, parent_code) VALUES"
        " ($1, '德保县', 'county', '451000000000'), ($2, '城关镇', 'township', $1), ($3, '那甲村', 'village', $2)",
        OTHER_COUNTY,
        OTHER_COUNTY_TOWNSHIP,
        OTHER_COUNTY_VILLAGE,
    )


async def feed(
    registry: httpx.AsyncClient, who: dict[str, str], after: str | None = None, **params: Any
) -> dict[str, Any]:
    query = {k: v for k, v in {"after": after, **params}.items() if v is not None}
    response = await registry.get(PATH, params=query, headers=who)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def settle(registry: httpx.AsyncClient, patience: float = 60.0) -> None:
    """Wait until every committed feed row is final (tests/factories.py `settle_feed`: below the feed's bound).

    A transaction of the registry's database still open (other tests of this session) holds the feed back, never
    loses a change. Tests that read "everything so far" wait for it here, so what they assert does not depend on
    what else the server runs."""
    await settle_feed(registry_url(registry), "registry_change", patience)


_URLS: dict[int, str] = {}


def registry_url(registry: httpx.AsyncClient) -> str:
    return _URLS[0]


@pytest.fixture(autouse=True)
def _remember_url(db_urls: dict[str, str]) -> None:
    _URLS[0] = db_urls["registry"]


async def drain(
    registry: httpx.AsyncClient,
    who: dict[str, str],
    after: str | None = None,
    *,
    settled: bool = True,
    types: str | None = None,
) -> tuple[list[Any], str]:
    """Every item from `after` until caught up (after `settle`, unless told not to); and the last cursor."""
    if settled:
        await settle(registry)
    items: list[Any] = []
    while True:
        page = await feed(registry, who, after, types=types)
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            assert after is not None
            return items, after


async def patch(registry: httpx.AsyncClient, who: dict[str, str], hid: str, **fields: Any) -> None:
    card = await registry.get(f"/households/{hid}", headers=who)
    assert card.status_code == 200, card.text
    tag = '"' + str(card.json()["version"]) + '"'
    response = await registry.patch(f"/households/{hid}", json=fields, headers=who | {"If-Match": tag})
    assert response.status_code == 200, response.text


class TestFeed:
    async def test_upserts_in_order_with_the_card(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], admin: dict[str, str]
    ) -> None:
        first = await create_household(registry, clerk, size=3)
        second = await create_household(registry, clerk, head="韦国良", size=2)
        items, cursor = await drain(registry, admin)
        assert [i["id"] for i in items] == [first, second]
        assert all(i["op"] == "upsert" and i["reason"] is None and i["type"] == "household" for i in items)
        assert items[0]["at"].endswith("Z")
        record = items[0]["record"]
        assert len(record["members"]) == 3 and record["latest_income"] is None
        export = await registry.get("/exports/households", headers=admin | {"Accept-Encoding": "identity"})
        rows = {json.loads(x)["id"]: json.loads(x) for x in export.text.splitlines()[:-1]}
        assert record == rows[first]  # the export's shape, value for value
        again = await feed(registry, admin, cursor)
        assert again["items"] == [] and again["has_more"] is False

    async def test_dedup_within_a_page_latest_wins(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], admin: dict[str, str]
    ) -> None:
        hid = await create_household(registry, clerk)
        await patch(registry, clerk, hid, natural_village="新屯")
        items, _ = await drain(registry, admin)
        assert [i["id"] for i in items] == [hid]
        assert items[0]["record"]["natural_village"] == "新屯"

    async def test_limit_pages_and_has_more(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], admin: dict[str, str]
    ) -> None:
        ids = [await create_household(registry, clerk, head=f"户主{i}") for i in range(3)]
        await settle(registry)
        page = await feed(registry, admin, limit=1)
        assert page["has_more"] is True and [i["id"] for i in page["items"]] == ids[:1]
        rest, _ = await drain(registry, admin, page["next_cursor"])
        # A household's creation writes several rows (the household, its members): its later rows follow.
        assert [i["id"] for i in rest if i["id"] != ids[0]] == ids[1:]

    async def test_masked_for_the_province(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], province: dict[str, str]
    ) -> None:
        await create_household(registry, clerk)
        items, _ = await drain(registry, province)
        member = items[0]["record"]["members"][0]
        masked = member["resident_id_number"]
        assert (
            len(masked) == 18
            and "*" in masked
            and masked[:6] == household_payload()["members"][0]["resident_id_number"][:6]
        )
        assert member["phone"].endswith("1234") and member["phone"] != "13907761234"

    async def test_types_filter(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], admin: dict[str, str]
    ) -> None:
        await create_household(registry, clerk)
        await settle(registry)
        only = await feed(registry, admin, types="pairing")
        assert only["items"] == []
        both = await feed(registry, admin, types="household,pairing")
        assert len(both["items"]) == 1
        response = await registry.get(PATH, params={"types": "member"}, headers=admin)
        assert assert_problem(response, 422)["code"] == "unknown_feed_type"


class TestScope:
    async def test_other_region_sees_nothing(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], signing_key: SigningKey
    ) -> None:
        await create_household(registry, clerk)
        sibling = headers(signing_key, "village_officer", SIBLING_VILLAGE)
        other_county = headers(signing_key, "county_admin", OTHER_COUNTY)
        assert (await drain(registry, sibling))[0] == []
        assert (await drain(registry, other_county))[0] == []
        township = headers(signing_key, "township_officer", TOWNSHIP)
        assert len((await drain(registry, township))[0]) == 1

    async def test_cadre_is_refused(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        cadre = headers(signing_key, "cadre", VILLAGE)
        response = await registry.get(PATH, headers=cadre)
        assert assert_problem(response, 403)["code"] == "feed_not_allowed"

    async def test_move_out_is_a_left_scope_tombstone_and_move_in_an_upsert(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        signing_key: SigningKey,
        db: asyncpg.Connection,
    ) -> None:
        await add_other_county(db)
        hid = await create_household(registry, clerk)
        _, cursor = await drain(registry, admin)
        other = headers(signing_key, "county_admin", OTHER_COUNTY)
        _, other_cursor = await drain(registry, other)
        await db.execute(
            "UPDATE registry_household SET village_code = $2 WHERE id = $1", hid, OTHER_COUNTY_VILLAGE
        )
        items, _ = await drain(registry, admin, cursor)
        assert [(i["id"], i["op"], i["reason"], i["record"]) for i in items] == [
            (hid, "tombstone", "left_scope", None)
        ]
        arrived, _ = await drain(registry, other, other_cursor)
        assert [(i["id"], i["op"]) for i in arrived] == [(hid, "upsert")]

    async def test_removed_and_deleted_tombstones(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        db: asyncpg.Connection,
    ) -> None:
        hid = await create_household(registry, clerk)
        _, cursor = await drain(registry, admin)
        await db.execute("UPDATE registry_household SET status = 'removed' WHERE id = $1", hid)
        items, cursor = await drain(registry, admin, cursor)
        assert [(i["op"], i["reason"]) for i in items] == [("tombstone", "removed")]
        # Bad input changes nothing: the feed stays where it was.
        for bad in ("not-a-cursor", encode_position(Position(1, 1))[:-2] + "!!"):
            response = await registry.get(PATH, params={"after": bad}, headers=admin)
            assert assert_problem(response, 422)["code"] == "invalid_cursor"
        assert (await feed(registry, admin, cursor))["items"] == []


class TestRecords:
    async def test_help_records_and_pairings_follow_their_household(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        signing_key: SigningKey,
        db: asyncpg.Connection,
    ) -> None:
        from tests.registry.test_sync_routes import World

        await add_other_county(db)
        world = World(db, registry, clerk, signing_key)
        await world.setup()
        household = await world.household()
        pairing = await world.pair(household, world.cadre_a)
        record = await world.record(household, at=utcnow())
        await db.execute(
            "INSERT INTO registry_help_confirmation (record_id, party, signatory, confirmed_at, confirmed_by)"
            " VALUES ($1, 'household_head', '黄志强', now(), 'test')",
            record,
        )
        items, cursor = await drain(registry, admin, types="help_record,pairing")
        by_type = {i["type"]: i for i in items}
        assert (
            sorted(by_type) == ["help_record", "pairing"] and len(items) == 2
        )  # the confirmation: de-duplicated
        assert by_type["pairing"]["id"] == str(pairing) and by_type["pairing"]["record"]["role"] == "primary"
        help_record = by_type["help_record"]["record"]
        assert help_record["id"] == str(record) and help_record["money_yuan"] == "123.45"
        assert help_record["confirmations"][0]["party"] == "household_head"
        same = await registry.get(f"/help-records/{record}", headers=admin)
        assert same.status_code == 200, same.text
        assert help_record == same.json()  # the REST read and the feed write a record alike
        await db.execute(
            "UPDATE registry_household SET village_code = $2 WHERE id = $1", household, OTHER_COUNTY_VILLAGE
        )
        moved, _ = await drain(registry, admin, cursor, types="help_record,pairing")
        assert sorted((i["type"], i["op"], i["reason"]) for i in moved) == [
            ("help_record", "tombstone", "left_scope"),
            ("pairing", "tombstone", "left_scope"),
        ]


class TestRetention:
    async def test_cursor_older_than_the_pruned_horizon_is_gone(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        db: asyncpg.Connection,
        db_urls: dict[str, str],
    ) -> None:
        await create_household(registry, clerk)
        await settle(registry)  # the cluster's xmin is past every pruned row (so an export's cursor is too)
        old = (await feed(registry, admin, limit=1))["next_cursor"]
        assert (await registry.get(PATH, headers=admin)).status_code == 200  # never pruned: from the start
        await db.execute("UPDATE registry_change SET at = at - interval '400 days'")
        pool = await asyncpg.create_pool(db_urls["registry"], min_size=1, max_size=1)
        try:
            assert await prune_change_feed(pool, now=utcnow()) > 0
        finally:
            await pool.close()
        horizon = await db.fetchval("SELECT pruned_txid::text::bigint FROM registry_change_horizon")
        assert horizon is not None and horizon >= decode_position(old).txid
        for after in (old, None):
            response = await registry.get(PATH, params={"after": after} if after else {}, headers=admin)
            problem = assert_problem(response, 410)
            assert problem["code"] == "cursor_expired"
            assert problem["export"] == "/exports/households"
            assert "exports/households" in response.headers["link"]
        # An export's cursor (taken after the prune) is valid.
        export = await registry.get("/exports/households", headers=admin | {"Accept-Encoding": "identity"})
        assert (await feed(registry, admin, export.headers["x-feed-cursor"]))["items"] == []


class TestLongPoll:
    async def test_wait_returns_early_when_a_write_lands(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], admin: dict[str, str]
    ) -> None:
        _, cursor = await drain(registry, admin)

        async def write_soon() -> str:
            await asyncio.sleep(0.6)
            return await create_household(registry, clerk)

        started = time.monotonic()
        writer = asyncio.create_task(write_soon())
        page = await feed(registry, admin, cursor, wait=2)
        elapsed = time.monotonic() - started
        hid = await writer
        if page["items"]:  # the poll answered as soon as the write was final, well before the 2 s
            assert [i["id"] for i in page["items"]] == [hid] and elapsed < 1.9
        else:  # another session of the server held the cluster's xmin back for the whole wait
            assert elapsed >= 1.4
        items, _ = await drain(registry, admin, page["next_cursor"])
        assert [i["id"] for i in page["items"] + items] == [hid]

    async def test_wait_with_nothing_answers_empty_after_the_wait(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        _, cursor = await drain(registry, admin)
        started = time.monotonic()
        page = await feed(registry, admin, cursor, wait=1)
        assert page["items"] == [] and time.monotonic() - started >= 0.5
        assert decode_position(page["next_cursor"]) >= decode_position(cursor)


class TestGapless:
    async def test_open_transaction_is_delivered_after_it_commits(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        hid_a = await create_household(registry, clerk, head="甲")
        hid_b = await create_household(registry, clerk, head="乙")
        _, cursor = await drain(registry, admin)
        a = await asyncpg.connect(db_urls["registry"])
        try:
            tx = a.transaction()
            await tx.start()
            # A takes the lower seq and stays open.
            await a.execute("UPDATE registry_household SET natural_village = 'A屯' WHERE id = $1", hid_a)
            seq_a = await a.fetchval("SELECT max(seq) FROM registry_change")
            await patch(registry, clerk, hid_b, natural_village="B屯")  # B commits after A's write
            items, stopped = await drain(registry, admin, cursor, settled=False)
            assert items == []  # B is not delivered past A
            assert decode_position(stopped).txid <= int(await a.fetchval("SELECT pg_current_xact_id()::text"))
            await tx.commit()
        finally:
            await a.close()
        items, _ = await drain(registry, admin, stopped)
        assert [i["id"] for i in items] == [hid_a, hid_b]
        assert (
            items[0]["record"]["natural_village"] == "A屯" and items[1]["record"]["natural_village"] == "B屯"
        )
        assert seq_a is not None


class TestProvinceMirror:
    async def test_export_then_follow_equals_the_source(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        province: dict[str, str],
        db: asyncpg.Connection,
        db_urls: dict[str, str],
    ) -> None:
        await add_other_county(db)
        seeded = [await create_household(registry, clerk, head=f"原户{i}") for i in range(4)]
        export = await registry.get("/exports/households", headers=province | {"Accept-Encoding": "identity"})
        lines = [json.loads(x) for x in export.text.splitlines()]
        mirror: dict[str, dict[str, Any]] = {r["id"]: r for r in lines[:-1]}
        cursor = lines[-1]["_trailer"]["feed_cursor"]
        assert cursor == export.headers["x-feed-cursor"]
        tombstones: dict[str, str] = {}
        rng = random.Random(15)

        async def writer(n: int) -> None:
            mine: list[str] = []
            for i in range(4):
                mine.append(await create_household(registry, clerk, head=f"写{n}户{i}"))
                await patch(registry, clerk, rng.choice(mine), natural_village=f"屯{n}{i}")
                await asyncio.sleep(0)

        async def mover() -> None:
            await db.execute(
                "UPDATE registry_household SET village_code = $2 WHERE id = $1",
                seeded[0],
                OTHER_COUNTY_VILLAGE,
            )
            await db.execute("UPDATE registry_household SET status = 'removed' WHERE id = $1", seeded[1])

        async def holder() -> None:
            conn = await asyncpg.connect(db_urls["registry"])
            try:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE registry_household SET natural_village = '久屯' WHERE id = $1", seeded[2]
                    )
                    await asyncio.sleep(0.8)  # others commit meanwhile
            finally:
                await conn.close()

        def apply(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item["op"] == "upsert":
                    mirror[item["id"]] = item["record"]
                else:
                    mirror.pop(item["id"], None)
                    tombstones[item["id"]] = item["reason"]

        async def follow(until: asyncio.Future[None]) -> str:
            after: str = cursor
            while True:
                done = until.done()
                page = await feed(registry, province, after, wait=0.5)
                apply(page["items"])
                after = page["next_cursor"]
                if done and not page["has_more"] and not page["items"]:
                    return after

        writers = asyncio.gather(writer(1), writer(2), writer(3), mover(), holder())
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        follower = asyncio.create_task(follow(finished))
        await writers
        finished.set_result(None)

        await settle(registry)
        apply((await drain(registry, province, await follower))[0])
        source = await registry.get("/exports/households", headers=province | {"Accept-Encoding": "identity"})
        truth = {r["id"]: r for r in (json.loads(x) for x in source.text.splitlines()[:-1])}
        live = {k: v for k, v in truth.items() if v["workflow_status"] not in ("removed", "dissolved")}
        assert mirror == live  # record for record: nothing lost, nothing stale
        assert len(mirror) == 4 - 2 + 12
        assert tombstones == {seeded[0]: "left_scope", seeded[1]: "removed"}
        assert mirror[seeded[2]]["natural_village"] == "久屯"


def test_retention_is_documented() -> None:
    from services.registry.settings import RegistrySettings

    assert RegistrySettings.model_fields["change_feed_retention_days"].default >= 1
    assert timedelta(days=1)


async def drain_fields(
    registry: httpx.AsyncClient, who: dict[str, str], fields: str, **params: Any
) -> list[Any]:
    """Every item from the start with `fields=` (after `settle`)."""
    await settle(registry)
    items: list[Any] = []
    after: str | None = None
    while True:
        page = await feed(registry, who, after, fields=fields, **params)
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return items


class TestFields:
    SELECTION = "household:id,status,village_code,members.id,members.name,latest_income.per_capita_net_income"

    async def test_household_records_carry_the_selection_as_the_export_does(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], admin: dict[str, str]
    ) -> None:
        hid = await create_household(registry, clerk, size=2)
        items = await drain_fields(registry, admin, self.SELECTION)
        record = items[0]["record"]
        assert list(record) == ["id", "village_code", "status", "members", "latest_income"]  # catalogue order
        assert [list(m) for m in record["members"]] == [["id", "name"], ["id", "name"]]
        fields = self.SELECTION.removeprefix("household:")
        export = await registry.get(
            "/exports/households", params={"fields": fields}, headers=admin | {"Accept-Encoding": "identity"}
        )
        assert json.loads(export.text.splitlines()[0]) == record and record["id"] == hid  # the export's row
        full = await drain(registry, admin)
        assert {k: full[0][0]["record"][k] for k in ("id", "status", "village_code")} == {
            k: record[k] for k in ("id", "status", "village_code")
        }

    async def test_help_records_and_pairings_are_projected_and_tombstones_unchanged(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        signing_key: SigningKey,
        db: asyncpg.Connection,
    ) -> None:
        from tests.registry.test_sync_routes import World

        await add_other_county(db)
        world = World(db, registry, clerk, signing_key)
        await world.setup()
        household = await world.household()
        await world.pair(household, world.cadre_a)
        await world.record(household, at=utcnow())
        items = await drain_fields(
            registry,
            admin,
            "help_record:id,money_yuan,confirmations.party;pairing:id,role",
            types="help_record,pairing",
        )
        by_type = {i["type"]: i["record"] for i in items}
        assert list(by_type["help_record"]) == ["id", "money_yuan", "confirmations"]
        assert by_type["help_record"]["money_yuan"] == "123.45" and by_type["pairing"] == {
            "id": by_type["pairing"]["id"],
            "role": "primary",
        }
        await db.execute(
            "UPDATE registry_household SET village_code = $2 WHERE id = $1", household, OTHER_COUNTY_VILLAGE
        )
        gone = await drain_fields(registry, admin, "pairing:id", types="pairing")
        assert [(i["op"], i["reason"], i["record"]) for i in gone][-1] == ("tombstone", "left_scope", None)

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ("household:id,members.colour", "unknown_export_field"),
            ("household:id,cadre.name", "unknown_export_field"),
            ("pairing:id,cadre.name", "unknown_export_field"),  # the feed's pairing carries no cadre
            ("member:id", "unknown_feed_type"),
            ("id,status", "unknown_feed_type"),  # a field list needs its type
            ("household:id;household:status", "unknown_export_field"),
        ],
    )
    async def test_unknown_fields_and_types_are_refused(
        self, registry: httpx.AsyncClient, admin: dict[str, str], fields: str, code: str
    ) -> None:
        response = await registry.get(PATH, params={"fields": fields}, headers=admin)
        assert assert_problem(response, 422)["code"] == code

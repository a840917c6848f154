"""The household export's rows built in PostgreSQL (exports/repository.py `household_rows_sql`) against the old
path: the whole card (`card_statement`), parsed, projected in Python (`domain.project`). Same rows, same keys in the
same order, same values and masks, for every selection; and the change feed's household records likewise.

Households go through the API (the card, masks and triggers are the real ones): members, one who left, incomes of
two years with a second version of one, and a household with no income at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.registry.exports import domain
from services.registry.exports.repository import ExportRepository, household_rows_sql
from services.registry.households.repository import CARD_FIELDS, CARD_OBJECT, card_statement
from shared.jwt import SigningKey
from tests.factories import VILLAGE, auth, create_household, issue

pytestmark = pytest.mark.usefixtures("seed_regions")
PLAIN = {"Accept-Encoding": "identity"}
_OLD_SQL = card_statement("h.village_code LIKE $1 ORDER BY h.village_code, h.id", columns="::text AS card")
SELECTIONS = [
    None,
    "id,head_name,members.name,latest_income.per_capita_net_income",
    "members",
    "latest_income",
    "id,contact_phone,bank_account,members.resident_id_number,members.phone,status,flags,created_at",
    "latest_income.year,latest_income.version,members.joined_on,version",
]


@pytest.fixture
async def db(db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "village_officer", VILLAGE)) | PLAIN


async def _version(registry: httpx.AsyncClient, clerk: dict[str, str], hid: str) -> dict[str, Any]:
    card: dict[str, Any] = (await registry.get(f"/households/{hid}", headers=clerk)).json()
    return card


async def put_income(
    registry: httpx.AsyncClient, clerk: dict[str, str], hid: str, year: int, wage: str
) -> None:
    income = {
        "wage": wage,
        "operating": "2600",
        "property": "0",
        "transfer": "600",
        "operating_expenses": "1000",
    }
    card = await _version(registry, clerk, hid)
    response = await registry.put(
        f"/households/{hid}/incomes/{year}", json=income, headers=clerk | {"If-Match": f'"{card["version"]}"'}
    )
    assert response.status_code in (200, 201), response.text


@pytest.fixture
async def households(registry: httpx.AsyncClient, clerk: dict[str, str]) -> list[str]:
    first = await create_household(registry, clerk, size=4)
    await put_income(registry, clerk, first, 2013, "3000")
    await put_income(registry, clerk, first, 2014, "3100")
    await put_income(registry, clerk, first, 2014, "3300")  # a second version of the newest year
    await put_income(registry, clerk, first, 2012, "100")  # an older year written last
    second = await create_household(registry, clerk, head="韦国良", size=2)  # no income
    third = await create_household(registry, clerk, head="蒙秀英", size=3)
    card = await _version(registry, clerk, third)
    son = next(m for m in card["members"] if m["relation"] == "son")
    response = await registry.post(
        f"/households/{third}/members/{son['id']}/leave",
        json={"on": "2020-01-01", "reason": "death", "note": "病故"},
        headers=clerk | {"If-Match": f'"{card["version"]}"'},
    )
    assert response.status_code == 200, response.text
    return [first, second, third]


def _text(row: Any) -> str:
    """Order-sensitive: two rows are the same only with the same keys in the same order."""
    return json.dumps(row, ensure_ascii=False)


async def _old(db: asyncpg.Connection, selection: domain.FieldSelection) -> list[str]:
    cards = [json.loads(r[0]) for r in await db.fetch(_OLD_SQL, VILLAGE[:9] + "%")]
    return [_text(domain.project(card, selection)) for card in cards]


async def _new(db: asyncpg.Connection, selection: domain.FieldSelection) -> list[str]:
    return [_text(json.loads(r[0])) for r in await db.fetch(household_rows_sql(selection), VILLAGE[:9] + "%")]


class TestRowsAsTheOldPath:
    @pytest.mark.parametrize("fields", SELECTIONS)
    async def test_same_rows(self, db: asyncpg.Connection, households: list[str], fields: str | None) -> None:
        selection = domain.parse_fields(fields)
        old = await _old(db, selection)
        assert len(old) == 3
        assert await _new(db, selection) == old

    async def test_latest_income_is_the_newest_year_newest_version(
        self, db: asyncpg.Connection, households: list[str]
    ) -> None:
        rows = {r["id"]: r for r in map(json.loads, await _new(db, domain.parse_fields("id,latest_income")))}
        first = rows[households[0]]["latest_income"]
        assert (first["year"], first["version"], first["wage"]) == (2014, 2, "3300.00")
        assert rows[households[1]]["latest_income"] is None

    async def test_left_member_absent(self, db: asyncpg.Connection, households: list[str]) -> None:
        rows = {
            r["id"]: r for r in map(json.loads, await _new(db, domain.parse_fields("id,members.relation")))
        }
        assert [m["relation"] for m in rows[households[2]]["members"]].count("son") == 0
        assert len(rows[households[0]]["members"]) == 4

    async def test_the_export_route_writes_these_rows(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        db: asyncpg.Connection,
        households: list[str],
    ) -> None:
        response = await registry.get("/exports/households", headers=clerk)
        assert response.status_code == 200, response.text
        body = [_text(json.loads(line)) for line in response.text.splitlines()]
        assert body[:-1] == await _old(db, domain.FieldSelection.everything())
        assert json.loads(body[-1])["_trailer"]["rows"] == 3

    async def test_csv_matches_the_old_projection(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        db: asyncpg.Connection,
        households: list[str],
    ) -> None:
        fields = SELECTIONS[1]
        selection = domain.parse_fields(fields)
        response = await registry.get(f"/exports/households?format=csv&fields={fields}", headers=clerk)
        assert response.status_code == 200, response.text
        rows = [domain.csv_row(json.loads(t), selection) for t in await _old(db, selection)]
        expected = domain.BOM + domain.csv_lines([domain.csv_header(selection), *rows])
        assert response.text == expected

    async def test_feed_records_are_the_old_projection(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        db: asyncpg.Connection,
        households: list[str],
    ) -> None:
        response = await registry.get("/changes?types=household&limit=1000", headers=clerk)
        assert response.status_code == 200, response.text
        records = {i["id"]: _text(i["record"]) for i in response.json()["items"]}
        old = await _old(db, domain.FieldSelection.everything())
        assert sorted(records.values()) == sorted(old)


class TestCardFragments:
    async def test_the_card_is_every_fragment_in_order(
        self, db: asyncpg.Connection, households: list[str]
    ) -> None:
        cards = [json.loads(r[0]) for r in await db.fetch(_OLD_SQL, VILLAGE[:9] + "%")]
        assert [list(card) for card in cards] == [list(CARD_FIELDS)] * 3
        assert CARD_OBJECT in _OLD_SQL

    def test_every_export_field_is_a_card_fragment(self) -> None:
        assert set(domain.HOUSEHOLD_FIELDS) <= set(CARD_FIELDS)


class TestFetchAhead:
    async def test_rows_in_order_one_chunk_ahead(
        self, db_urls: dict[str, str], households: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(ExportRepository, "CHUNK", 2)
        selection = domain.parse_fields("id")
        pool = await asyncpg.create_pool(db_urls["registry"], min_size=1, max_size=1)
        try:
            async with ExportRepository.snapshot(pool) as repo:
                chunks = [c async for c in repo.household_rows(selection, VILLAGE[:9])]
        finally:
            await pool.close()
        assert [len(c) for c in chunks] == [2, 1]
        assert [json.loads(t)["id"] for c in chunks for t in c] == sorted(households)

    async def test_a_caller_that_leaves_stops_the_fetch_ahead(
        self, db_urls: dict[str, str], households: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(ExportRepository, "CHUNK", 1)
        pool = await asyncpg.create_pool(db_urls["registry"], min_size=1, max_size=1)
        try:
            async with ExportRepository.snapshot(pool) as repo:
                rows = repo.household_rows(domain.parse_fields("id"), VILLAGE[:9])
                first = await anext(rows)
                for _ in range(3):
                    await asyncio.sleep(0)  # the fetch of the second chunk is on the wire now
                await rows.aclose()
                assert len(first) == 1
            # The snapshot ended cleanly (no fetch left running on its connection) and the pool serves again.
            assert await pool.fetchval("SELECT 1") == 1
        finally:
            await pool.close()

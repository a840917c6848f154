"""Monitoring routes (监测, issue #4): June/December rounds, findings per pairing, overdue and visit reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
    pair,
    registered_household,
    unit_and_cadres,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

FINDING = {"projects": "养羊项目", "funds_yuan": "8000.00", "results": "人均增收 1000 元"}
ROUND = {"township_code": TOWNSHIP, "year": 2015, "half": "H2"}


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY, "county-1")


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "township_officer", TOWNSHIP, "township-1")


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")


async def insert_visits(
    db_urls: dict[str, str], household_id: str, cadre_id: str, times: list[datetime]
) -> None:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        for t in times:
            await conn.execute(
                "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
                " received_at, content, payload_hash, created_by) VALUES ($1, 1, $2, $3, 'visit', $4, $4, '走访', 'h', 'x')",
                uuid.uuid4(),
                uuid.UUID(household_id),
                uuid.UUID(cadre_id),
                t,
            )
    finally:
        await conn.close()


@dataclass
class Monitored:
    """Two households of 新靖镇 paired since 2015-01-01: a (王, visited quarterly) and b (李, visited once)."""

    a: str
    b: str
    pa: str
    pb: str


@pytest.fixture
async def monitored(
    registry: httpx.AsyncClient,
    registry_app: FastAPI,
    admin: Headers,
    clerk: Headers,
    db_urls: dict[str, str],
) -> Monitored:
    _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff")
    a, b = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
    pa = (await pair(registry, admin, a, wang, "2015-01-01"))["id"]
    pb = (await pair(registry, admin, b, li, "2015-01-01"))["id"]
    quarterly = [datetime(2015, m, 10, 2, tzinfo=UTC) for m in (2, 5, 8, 11)]
    await insert_visits(db_urls, a, wang, quarterly)
    await insert_visits(db_urls, b, li, quarterly[:1])
    registry_app.state.clock = lambda: datetime(2015, 12, 20, 2, tzinfo=UTC)  # the December round, on time
    return Monitored(a, b, pa, pb)


async def open_round(registry: httpx.AsyncClient, township: Headers) -> str:
    opened = await registry.post("/monitoring/rounds", json=ROUND, headers=township)
    assert opened.status_code == 201, opened.text
    round_id: str = opened.json()["id"]
    return round_id


class TestOpenRound:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/monitoring/rounds", json=ROUND), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, clerk: Headers, signing_key: SigningKey
    ) -> None:
        assert_problem(
            await registry.post(
                "/monitoring/rounds",
                json={"township_code": TOWNSHIP, "year": 2015, "half": "H1"},
                headers=clerk,
            ),
            403,
        )
        cadre = headers_for(signing_key, "cadre", COUNTY)
        assert_problem(await registry.post("/monitoring/rounds", json=ROUND, headers=cadre), 403)

    async def test_other_region(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(await registry.post("/monitoring/rounds", json=ROUND, headers=other), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, township: Headers) -> None:
        village = ROUND | {"township_code": VILLAGE}
        assert (
            assert_problem(await registry.post("/monitoring/rounds", json=village, headers=township), 422)[
                "code"
            ]
            == "not_a_township"
        )
        assert_problem(
            await registry.post("/monitoring/rounds", json=ROUND | {"half": "Q3"}, headers=township), 422
        )

    async def test_valid(self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers) -> None:
        opened = await registry.post("/monitoring/rounds", json=ROUND, headers=township)
        assert opened.status_code == 201, opened.text
        body = opened.json()
        assert body["township_code"] == TOWNSHIP and body["year"] == 2015 and body["half"] == "H2"
        assert body["opened_at"] == "2015-12-20T02:00:00Z" and body["opened_by"] == "township-1"
        assert body["closed_at"] is None and body["summary"] is None
        assert_problem(
            await registry.post(
                "/monitoring/rounds",
                json={"township_code": TOWNSHIP, "year": 2015, "half": "H2"},
                headers=township,
            ),
            409,
        )


class TestAddFinding:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers
    ) -> None:
        rid = await open_round(registry, township)
        body = FINDING | {"pairing_id": monitored.pa}
        assert_problem(await registry.post(f"/monitoring/rounds/{rid}/findings", json=body), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, clerk: Headers
    ) -> None:
        rid = await open_round(registry, township)
        body = FINDING | {"pairing_id": monitored.pa}
        assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/findings", json=body, headers=clerk), 403
        )

    async def test_other_region(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, signing_key: SigningKey
    ) -> None:
        rid = await open_round(registry, township)
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        body = FINDING | {"pairing_id": monitored.pa}
        assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/findings", json=body, headers=other), 404
        )

    async def test_invalid(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers
    ) -> None:
        rid = await open_round(registry, township)
        stranger = FINDING | {"pairing_id": str(uuid.uuid4())}
        problem = assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/findings", json=stranger, headers=township), 422
        )
        assert problem["code"] == "no_such_pairing" and problem["field"] == "/pairing_id"
        negative = FINDING | {"pairing_id": monitored.pa, "funds_yuan": "-1"}
        assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/findings", json=negative, headers=township), 422
        )

    async def test_valid(self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers) -> None:
        rid = await open_round(registry, township)
        fa = await registry.post(
            f"/monitoring/rounds/{rid}/findings",
            json=FINDING | {"pairing_id": monitored.pa},
            headers=township,
        )
        fb = await registry.post(
            f"/monitoring/rounds/{rid}/findings",
            json=FINDING | {"pairing_id": monitored.pb},
            headers=township,
        )
        assert fa.status_code == 201 and fb.status_code == 201
        assert fa.json()["visits_in_year"] == 4 and fa.json()["flags"] == []
        assert fb.json()["visits_in_year"] == 1 and fb.json()["flags"] == ["visits_below_minimum"]
        assert fa.json()["minimum_visits"] == 4 and fa.json()["funds_fen"] == 800_000
        assert fa.json()["household_id"] == monitored.a and fa.json()["round_id"] == rid
        assert_problem(
            await registry.post(
                f"/monitoring/rounds/{rid}/findings",
                json=FINDING | {"pairing_id": monitored.pa},
                headers=township,
            ),
            409,
        )

    async def test_closed_round(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers
    ) -> None:
        rid = await open_round(registry, township)
        closed = await registry.post(
            f"/monitoring/rounds/{rid}/close",
            json={"summary": "两户均按计划推进", "empty_reason": "本轮仅核对台账"},
            headers=township,
        )
        assert closed.status_code == 200, closed.text
        problem = assert_problem(
            await registry.post(
                f"/monitoring/rounds/{rid}/findings",
                json=FINDING | {"pairing_id": monitored.pb},
                headers=township,
            ),
            409,
        )
        assert problem["code"] == "round_closed"


class TestCloseRound:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers
    ) -> None:
        rid = await open_round(registry, township)
        assert_problem(await registry.post(f"/monitoring/rounds/{rid}/close", json={"summary": "x"}), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, clerk: Headers
    ) -> None:
        rid = await open_round(registry, township)
        assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/close", json={"summary": "x"}, headers=clerk), 403
        )

    async def test_other_region(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, signing_key: SigningKey
    ) -> None:
        rid = await open_round(registry, township)
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/close", json={"summary": "x"}, headers=other), 404
        )

    async def test_invalid(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers
    ) -> None:
        rid = await open_round(registry, township)
        assert_problem(
            await registry.post(f"/monitoring/rounds/{rid}/close", json={"summary": ""}, headers=township),
            422,
        )

    async def test_valid(self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers) -> None:
        rid = await open_round(registry, township)
        for pid in (monitored.pa, monitored.pb):
            await registry.post(
                f"/monitoring/rounds/{rid}/findings", json=FINDING | {"pairing_id": pid}, headers=township
            )
        closed = await registry.post(
            f"/monitoring/rounds/{rid}/close", json={"summary": "两户均按计划推进"}, headers=township
        )
        assert closed.json()["closed_at"].startswith("2015-12-20"), closed.text
        assert (
            closed.status_code == 200 and closed.json()["closed_at"] and len(closed.json()["findings"]) == 2
        )
        assert closed.json()["summary"] == "两户均按计划推进" and closed.json()["closed_by"] == "township-1"
        again = await registry.post(
            f"/monitoring/rounds/{rid}/close", json={"summary": "x"}, headers=township
        )
        assert assert_problem(again, 409)["code"] == "round_closed"


class TestGetRound:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers
    ) -> None:
        rid = await open_round(registry, township)
        assert_problem(await registry.get(f"/monitoring/rounds/{rid}"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, signing_key: SigningKey
    ) -> None:
        rid = await open_round(registry, township)
        cadre_h = headers_for(signing_key, "cadre", COUNTY)
        assert_problem(await registry.get(f"/monitoring/rounds/{rid}", headers=cadre_h), 404)
        other_township = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(await registry.get(f"/monitoring/rounds/{rid}", headers=other_township), 404)
        assert_problem(await registry.get(f"/monitoring/rounds/{uuid.uuid4()}", headers=township), 404)

    async def test_valid(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, admin: Headers
    ) -> None:
        rid = await open_round(registry, township)
        await registry.post(
            f"/monitoring/rounds/{rid}/findings",
            json=FINDING | {"pairing_id": monitored.pb},
            headers=township,
        )
        shown = await registry.get(f"/monitoring/rounds/{rid}", headers=admin)
        assert shown.status_code == 200 and shown.json()["id"] == rid
        (finding,) = shown.json()["findings"]
        assert finding["pairing_id"] == monitored.pb and finding["funds_yuan"] == "8000.00"
        assert finding["cadre_name"] == "干部1" and finding["head_name"] == "黄志强"
        assert finding["flags"] == ["visits_below_minimum"]


class TestOverdue:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/monitoring/overdue?region={COUNTY}"), 401)

    async def test_other_region(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        cadre_h = headers_for(signing_key, "cadre", COUNTY)
        assert_problem(await registry.get(f"/monitoring/overdue?region={COUNTY}", headers=cadre_h), 404)
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(await registry.get(f"/monitoring/overdue?region={TOWNSHIP}", headers=other), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(await registry.get("/monitoring/overdue", headers=admin), 422)

    async def test_valid(
        self, registry: httpx.AsyncClient, monitored: Monitored, township: Headers, admin: Headers
    ) -> None:
        rid = await open_round(registry, township)
        closed = await registry.post(
            f"/monitoring/rounds/{rid}/close",
            json={"summary": "两户均按计划推进", "empty_reason": "本轮仅核对台账"},
            headers=township,
        )
        assert closed.status_code == 200, closed.text
        # Overdue: the 2015 June round of 新靖镇 never happened; 化峒镇 has none at all.
        report = (
            await registry.get(f"/monitoring/overdue?region={COUNTY}&on=2016-01-15", headers=admin)
        ).json()
        assert report["region"] == COUNTY and report["on"] == "2016-01-15"
        overdue = report["items"]
        states = {(o["township_code"], o["year"], o["half"]): o["state"] for o in overdue}
        assert states[(TOWNSHIP, 2015, "H1")] == "missing" and (TOWNSHIP, 2015, "H2") not in states
        assert states[("451025101000", 2015, "H2")] == "missing"
        h1 = next(o for o in overdue if (o["township_code"], o["half"]) == (TOWNSHIP, "H1"))
        assert h1["due"] == "2015-06-30" and h1["name"]
        today = (await registry.get(f"/monitoring/overdue?region={TOWNSHIP}", headers=admin)).json()
        assert today["on"] == "2015-12-20"  # the app clock, in China


class TestVisitFrequency:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2015"), 401)

    async def test_other_region(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        cadre_h = headers_for(signing_key, "cadre", COUNTY)
        assert_problem(
            await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2015", headers=cadre_h), 404
        )
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(
            await registry.get(f"/monitoring/visit-frequency?region={TOWNSHIP}&year=2015", headers=other), 404
        )

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(
            await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=1999", headers=admin), 422
        )

    async def test_valid(self, registry: httpx.AsyncClient, monitored: Monitored, admin: Headers) -> None:
        freq = (
            await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2015", headers=admin)
        ).json()
        assert freq["minimum_visits"] == 4 and [i["household_id"] for i in freq["items"]] == [monitored.b]
        assert freq["items"][0]["visits"] == 1 and freq["items"][0]["cadre_name"] == "干部1"
        assert (
            freq["items"][0]["pairing_id"] == monitored.pb
            and freq["region"] == COUNTY
            and freq["year"] == 2015
        )
        before = (
            await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2014", headers=admin)
        ).json()
        assert before["items"] == []  # not yet paired in 2014

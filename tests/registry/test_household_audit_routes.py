"""Population and the audit log as the household routes fill them (moved from tests/test_household_queries.py).

`PUT /regions/{code}/population/{year}` (the base of poverty incidence) and `GET /audit` (county administrators)
belong to the regions and audit features; these tests drive them with the writes and unmasked reads of households.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.jwt import SigningKey
from tests.factories import assert_problem, auth, issue
from tests.registry.test_households_routes import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    create_named,
    put_population,
    sql,
)

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-jiuzhou"))


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "township_officer", TOWNSHIP, sub="officer-xinjing"))


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "county_admin", COUNTY, sub="admin-jingxi"))


async def add_other_county(db_urls: dict[str, str]) -> None:
    await sql(
        db_urls,
        "INSERT INTO registry_region (code, name, level, parent_code) VALUES"
        " ($1, '德保县', 'county', '451000000000'), ($2, '城关镇', 'township', $1), ($3, '那甲村', 'village', $2)",
        OTHER_COUNTY,
        OTHER_COUNTY_TOWNSHIP,
        OTHER_COUNTY_VILLAGE,
    )


class TestPutPopulation:
    async def test_valid_invalid_and_scope(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        admin: Headers,
        township: Headers,
        clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        assert (await put_population(registry, clerk, VILLAGE, 2014, 1200, 300)).status_code == 204
        rows = await sql(
            db_urls,
            "SELECT region_code, year, population, households, updated_by FROM registry_region_population",
        )
        assert [tuple(r) for r in rows] == [(VILLAGE, 2014, 1200, 300, "clerk-jiuzhou")]
        # Upsert: the same region and year is replaced, not duplicated.
        response = await put_population(registry, township, VILLAGE, 2014, 1250)
        assert response.status_code == 204 and response.content == b""
        rows = await sql(
            db_urls,
            "SELECT region_code, year, population, households, updated_by FROM registry_region_population",
        )
        assert [tuple(r) for r in rows] == [(VILLAGE, 2014, 1250, None, "officer-xinjing")]
        assert (await put_population(registry, township, TOWNSHIP, 2015, 5000)).status_code == 204
        assert (await put_population(registry, admin, COUNTY, 2014, 0)).status_code == 204
        assert len(await sql(db_urls, "SELECT 1 FROM registry_region_population")) == 3
        events = await sql(
            db_urls,
            "SELECT record_id, region_code, detail FROM registry_audit_event WHERE action = 'population.set' ORDER BY id",
        )
        assert [(e["record_id"], e["region_code"]) for e in events] == [
            (VILLAGE, VILLAGE),
            (VILLAGE, VILLAGE),
            (TOWNSHIP, TOWNSHIP),
            (COUNTY, COUNTY),
        ]
        assert json.loads(events[1]["detail"]) == {"year": 2014, "population": 1250, "households": None}
        # Roles that may not record population.
        for role, region in (("province_system", "450000000000"), ("cadre", COUNTY)):
            headers = auth(issue(signing_key, role, region))
            assert_problem(await put_population(registry, headers, VILLAGE, 2014, 1), 403)
        # Regions outside the caller's scope, or missing, are 404.
        for headers, code in (
            (clerk, SIBLING_VILLAGE),
            (clerk, TOWNSHIP),
            (township, OTHER_TOWNSHIP),
            (township, OTHER_VILLAGE),
            (township, COUNTY),
            (auth(issue(signing_key, "county_admin", OTHER_COUNTY)), VILLAGE),
            (admin, "451025100299"),
        ):
            assert_problem(await put_population(registry, headers, code, 2014, 1), 404)
        # Invalid values.
        for body, year in (
            ({"population": -1}, 2014),
            ({"population": 10, "households": -1}, 2014),
            ({"population": "many"}, 2014),
            ({}, 2014),
            ({"population": 10, "extra": 1}, 2014),
            ({"population": 10}, 1999),
        ):
            assert_problem(
                await registry.put(f"/regions/{VILLAGE}/population/{year}", json=body, headers=admin), 422
            )
        assert_problem(
            await registry.put("/regions/4510/population/2014", json={"population": 1}, headers=admin), 422
        )
        # Nothing refused changed anything.
        rows = await sql(
            db_urls, "SELECT population FROM registry_region_population WHERE region_code = $1", VILLAGE
        )
        assert [r["population"] for r in rows] == [1250]


class TestAuditLog:
    async def test_wrong_role(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, township: Headers, clerk: Headers
    ) -> None:
        for headers in (
            township,
            clerk,
            auth(issue(signing_key, "province_system", "450000000000")),
            auth(issue(signing_key, "cadre", COUNTY)),
        ):
            assert_problem(await registry.get("/audit", headers=headers), 403)

    async def test_valid_filters_and_pages(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        admin: Headers,
        township: Headers,
        clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        await add_other_county(db_urls)
        h1 = await create_named(registry, clerk)
        h2 = await create_named(registry, clerk, head="李四")
        patched = await registry.patch(
            f"/households/{h1}", json={"bank_name": "邮政储蓄"}, headers=township | {"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        assert (await registry.get(f"/households/{h1}?unmask=true", headers=admin)).status_code == 200
        assert (await put_population(registry, admin, VILLAGE, 2014, 1000)).status_code == 204
        other_admin = auth(issue(signing_key, "county_admin", OTHER_COUNTY, sub="admin-debao"))
        foreign = await create_named(registry, other_admin, OTHER_COUNTY_VILLAGE)
        assert (
            await put_population(registry, other_admin, OTHER_COUNTY_TOWNSHIP, 2014, 10)
        ).status_code == 204

        everything = (await registry.get("/audit", headers=admin)).json()
        assert everything["next_cursor"] is None
        log = everything["items"]
        assert [e["action"] for e in log] == [
            "population.set",
            "pii.read",
            "household.update",
            "household.create",
            "household.create",
        ]
        assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)  # newest first
        assert all(e["region_code"].startswith("451025") for e in log)
        assert foreign not in {e["record_id"] for e in log} and "admin-debao" not in {e["actor"] for e in log}
        update = log[2]
        assert update["actor"] == "officer-xinjing" and update["role"] == "township_officer"
        assert update["household_id"] == h1 and update["record_type"] == "household"
        datetime.fromisoformat(update["at"])

        async def audit(params: dict[str, Any], headers: Headers = admin) -> list[dict[str, Any]]:
            items: list[dict[str, Any]]
            response = await registry.get("/audit", params=params, headers=headers)
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            return items

        assert [e["action"] for e in await audit({"record_id": h1})] == [
            "pii.read",
            "household.update",
            "household.create",
        ]
        assert [e["action"] for e in await audit({"household_id": h2})] == ["household.create"]
        assert [e["record_id"] for e in await audit({"record_id": VILLAGE})] == [VILLAGE]
        assert {e["record_id"] for e in await audit({"actor": "clerk-jiuzhou"})} == {h1, h2}
        assert [e["record_id"] for e in await audit({"action": "household.create"})] == [h2, h1]
        assert await audit({"action": "household.create", "actor": "officer-xinjing"}) == []
        assert [e["action"] for e in await audit({"household_id": h1, "actor": "admin-jingxi"})] == [
            "pii.read"
        ]
        # The other county's events are invisible here, even when asked for by name, and visible there.
        assert await audit({"household_id": foreign}) == []
        assert await audit({"record_id": foreign}) == []
        assert await audit({"actor": "admin-debao"}) == []
        theirs = await audit({}, headers=other_admin)
        assert [e["action"] for e in theirs] == ["population.set", "household.create"]
        assert all(e["region_code"].startswith("451026") for e in theirs)

        # Time windows: since is inclusive, until exclusive; timezones are required.
        ats = [datetime.fromisoformat(e["at"]) for e in log]
        middle = ats[2]
        assert [e["id"] for e in await audit({"since": middle.isoformat()})] == [
            e["id"] for e in log if datetime.fromisoformat(e["at"]) >= middle
        ]
        assert [e["id"] for e in await audit({"until": middle.isoformat()})] == [
            e["id"] for e in log if datetime.fromisoformat(e["at"]) < middle
        ]
        window = await audit(
            {"since": ats[-1].isoformat(), "until": (ats[0] + timedelta(seconds=1)).isoformat()}
        )
        assert len(window) == 5
        assert await audit({"since": (ats[0] + timedelta(seconds=1)).isoformat()}) == []
        assert await audit({"until": "2000-01-01T00:00:00Z"}) == []
        since_z = (ats[-1] - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert len(await audit({"since": since_z})) == 5
        for params in (
            {"since": "2026-01-01T00:00:00"},
            {"until": "2026-01-01T00:00:00"},
            {"since": "2026-01-02T00:00:00+08:00", "until": "2026-01-01T00:00:00+08:00"},
            {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
            {"since": "yesterday"},
            {"household_id": "not-a-uuid"},
            {"cursor": 0},
            {"limit": 0},
        ):
            assert_problem(await registry.get("/audit", params=params, headers=admin), 422)

        # Keyset pages: newest first, next_cursor until the last page.
        pages: list[list[int]] = []
        cursor = None
        while True:
            body = (
                await registry.get(
                    "/audit", params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=admin
                )
            ).json()
            pages.append([e["id"] for e in body["items"]])
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert cursor == pages[-1][-1]
        assert pages == [[e["id"] for e in log[i : i + 2]] for i in range(0, 5, 2)]
        # Paging combines with a filter; an exact multiple ends without a dangling cursor.
        first = (
            await registry.get("/audit", params={"action": "household.create", "limit": 1}, headers=admin)
        ).json()
        assert [e["record_id"] for e in first["items"]] == [h2] and first["next_cursor"] is not None
        second = (
            await registry.get(
                "/audit",
                params={"action": "household.create", "limit": 1, "cursor": first["next_cursor"]},
                headers=admin,
            )
        ).json()
        assert [e["record_id"] for e in second["items"]] == [h1] and second["next_cursor"] is None
        exact = (await registry.get("/audit", params={"limit": 5}, headers=admin)).json()
        assert len(exact["items"]) == 5 and exact["next_cursor"] is None

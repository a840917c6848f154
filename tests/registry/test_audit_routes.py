"""`GET /audit`: the registry's audit log (county administrators), as the writes and unmasked reads fill it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.jwt import SigningKey
from shared.pagination import decode_cursor, encode_cursor
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    auth,
    create_household,
    issue,
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
        h1 = await create_household(registry, clerk)
        h2 = await create_household(registry, clerk, head="李四")
        patched = await registry.patch(
            f"/households/{h1}", json={"bank_name": "邮政储蓄"}, headers=township | {"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        assert (await registry.get(f"/households/{h1}?unmask=true", headers=admin)).status_code == 200
        assert (await put_population(registry, admin, VILLAGE, 2014, 1000)).status_code == 204
        other_admin = auth(issue(signing_key, "county_admin", OTHER_COUNTY, sub="admin-debao"))
        foreign = await create_household(registry, other_admin, OTHER_COUNTY_VILLAGE)
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
            {"limit": 0},
        ):
            assert_problem(await registry.get("/audit", params=params, headers=admin), 422)

        # A cursor is opaque: a number, another list's cursor or garbage is 400 cursor_invalid.
        for bad in ("0", encode_cursor("region", VILLAGE), "!!!"):
            body = assert_problem(await registry.get("/audit", params={"cursor": bad}, headers=admin), 400)
            assert body["code"] == "cursor_invalid"

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
            assert decode_cursor(cursor, "audit", [int]) == (pages[-1][-1],)  # opaque: the last id served
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

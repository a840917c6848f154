"""Routes of the yearly exit targets (年度减贫任务, invariant 25-26): one class per route.

In scope works, out of scope is 404 (like missing), a role that may not set the level is 403, invalid input and
a sum over the parent's target are 422 and change nothing; progress counts the exits the county re-reviewed in
the year (China time) and flags a shortfall once the year is over, never filling a target in.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PREFECTURE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    count_rows,
    household_payload,
    issue,
    sql,
)

YEAR = 2015

pytestmark = pytest.mark.usefixtures("seed_regions")

Headers = dict[str, str]


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "county_admin", COUNTY, sub="county-1"))


@pytest.fixture
def officer(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1"))


def _url(code: str, year: int = YEAR) -> str:
    return f"/regions/{code}/exit-targets/{year}"


async def _put(
    registry: httpx.AsyncClient, code: str, people: int, households: int, headers: Headers
) -> dict[str, Any]:
    response = await registry.put(
        _url(code), json={"people": people, "households": households}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _decompose(registry: httpx.AsyncClient, admin: Headers, officer: Headers) -> None:
    await _put(registry, COUNTY, 1000, 300, admin)
    await _put(registry, TOWNSHIP, 600, 180, admin)
    await _put(registry, VILLAGE, 250, 70, officer)


class TestPutExitTarget:
    async def test_valid_decomposition(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers, db_urls: dict[str, str]
    ) -> None:
        county = await _put(registry, COUNTY, 1000, 300, admin)
        assert (county["people"], county["households"], county["version"]) == (1000, 300, 1)
        township = await _put(registry, TOWNSHIP, 600, 180, admin)
        assert township["people"] == 600
        village = await _put(registry, VILLAGE, 250, 70, officer)
        assert (village["people"], village["households"]) == (250, 70)
        again = await _put(registry, VILLAGE, 240, 70, officer)
        assert (again["people"], again["version"]) == (240, 2)
        audit = await sql(
            db_urls,
            "SELECT action, record_id FROM registry_audit_event WHERE action = 'exit_target.set' ORDER BY id",
        )
        assert [r["record_id"] for r in audit] == [
            f"{c}/{YEAR}" for c in (COUNTY, TOWNSHIP, VILLAGE, VILLAGE)
        ]

    async def test_villages_cannot_total_more_than_the_township(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers
    ) -> None:
        await _decompose(registry, admin, officer)
        body = assert_problem(
            await registry.put(
                _url(SIBLING_VILLAGE), json={"people": 351, "households": 10}, headers=officer
            ),
            422,
        )
        assert body["code"] == "exit_target_exceeds_parent"
        assert (body["parent"], body["measure"], body["parent_target"], body["would_be_sum"]) == (
            TOWNSHIP,
            "people",
            600,
            601,
        )
        body = assert_problem(
            await registry.put(
                _url(SIBLING_VILLAGE), json={"people": 300, "households": 111}, headers=officer
            ),
            422,
        )
        assert (body["measure"], body["parent_target"], body["would_be_sum"]) == ("households", 180, 181)
        township = (await registry.get(_url(TOWNSHIP), headers=officer)).json()
        assert township["allocated"] == {"people": 250, "households": 70}  # nothing changed
        await _put(registry, SIBLING_VILLAGE, 350, 110, officer)

    async def test_townships_cannot_total_more_than_the_county(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers
    ) -> None:
        await _decompose(registry, admin, officer)
        body = assert_problem(
            await registry.put(_url(OTHER_TOWNSHIP), json={"people": 401, "households": 100}, headers=admin),
            422,
        )
        assert (body["parent"], body["parent_target"], body["would_be_sum"]) == (COUNTY, 1000, 1001)

    async def test_a_target_cannot_fall_below_its_children(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers
    ) -> None:
        await _decompose(registry, admin, officer)
        body = assert_problem(
            await registry.put(_url(TOWNSHIP), json={"people": 249, "households": 180}, headers=admin), 422
        )
        assert (body["code"], body["would_be_sum"]) == ("exit_target_below_children", 250)
        assert (await registry.get(_url(TOWNSHIP), headers=admin)).json()["people"] == 600

    async def test_the_parent_target_comes_first(self, registry: httpx.AsyncClient, officer: Headers) -> None:
        body = assert_problem(
            await registry.put(_url(VILLAGE), json={"people": 1, "households": 1}, headers=officer), 409
        )
        assert (body["code"], body["parent"]) == ("exit_target_parent_missing", TOWNSHIP)

    @pytest.mark.parametrize(
        ("role", "region", "target"),
        [
            ("township_officer", TOWNSHIP, TOWNSHIP),  # a township does not set its own target
            ("county_admin", COUNTY, VILLAGE),  # villages are split by the township (§2.13 step 1)
            ("village_officer", VILLAGE, VILLAGE),
            ("cadre", COUNTY, TOWNSHIP),
            ("province_system", PROVINCE, COUNTY),  # read-only
        ],
    )
    async def test_wrong_role_is_403(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        role: str,
        region: str,
        target: str,
        db_urls: dict[str, str],
    ) -> None:
        response = await registry.put(
            _url(target), json={"people": 1, "households": 1}, headers=auth(issue(signing_key, role, region))
        )
        assert_problem(response, 403)
        assert await count_rows(db_urls, "registry_exit_target") == 0

    async def test_out_of_scope_is_404(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers, db_urls: dict[str, str]
    ) -> None:
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            await conn.execute(
                "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, '那坡县', 'county', $2)",
                OTHER_COUNTY,
                PREFECTURE,
            )
        finally:
            await conn.close()
        body = {"people": 1, "households": 1}
        assert_problem(await registry.put(_url(OTHER_VILLAGE), json=body, headers=officer), 404)
        assert_problem(await registry.put(_url(COUNTY), json=body, headers=officer), 404)
        assert_problem(await registry.put(_url(OTHER_COUNTY), json=body, headers=admin), 404)
        hidden = assert_problem(await registry.get(_url(OTHER_TOWNSHIP), headers=officer), 404)
        missing = assert_problem(await registry.get(_url("451025100299"), headers=officer), 404)
        assert hidden["title"] == missing["title"]
        assert await count_rows(db_urls, "registry_exit_target") == 0

    @pytest.mark.parametrize(
        "body",
        [
            {"people": -1, "households": 0},
            {"people": 3, "households": 4},  # more households than people
            {"people": "many", "households": 1},
            {"people": 1.5, "households": 1},
            {"people": 10},
            {},
            {"people": 1, "households": 1, "x": 2},
        ],
    )
    async def test_invalid_input_is_422(
        self, registry: httpx.AsyncClient, admin: Headers, body: dict[str, Any], db_urls: dict[str, str]
    ) -> None:
        assert_problem(await registry.put(_url(COUNTY), json=body, headers=admin), 422)
        assert await count_rows(db_urls, "registry_exit_target") == 0

    async def test_invalid_year_is_422(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        body = {"people": 1, "households": 1}
        assert_problem(await registry.put(_url(COUNTY, 1999), json=body, headers=admin), 422)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _exited_household(
    registry: httpx.AsyncClient,
    clerk: Headers,
    db_urls: dict[str, str],
    village: str,
    size: int,
    reviewed_at: datetime,
) -> None:
    """A household of `size` whose exit the county re-reviewed (approved) at `reviewed_at`, recorded as the
    workflow records it (the exit chain itself is walked by the identification route tests)."""
    response = await registry.post("/households", json=household_payload(village, size=size), headers=clerk)
    assert response.status_code == 201, response.text
    await sql(
        db_urls,
        "INSERT INTO registry_workflow_event (household_id, seq, command, at, actor, role, status_after)"
        " VALUES ($1, 1, 'county_review', $2, 'county-1', 'county_admin', 'exit_county_reviewed'),"
        " ($1, 2, 'announce', $2, 'county-1', 'county_admin', 'exited')",
        uuid.UUID(response.json()["id"]),
        reviewed_at,
    )


class TestGetExitTarget:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(_url(COUNTY)), 401)

    async def test_children_progress_and_shortfall(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        admin: Headers,
        officer: Headers,
        db_urls: dict[str, str],
    ) -> None:
        registry_app.state.clock = clock = _Clock(datetime(2015, 11, 1, 2, tzinfo=UTC))
        await _decompose(registry, admin, officer)
        await _put(registry, SIBLING_VILLAGE, 100, 30, officer)
        # 旧州村: 4 + 3 people exited in 2015 (the second at 23:59 on 31 Dec, China time); one in 2014 and one
        # reviewed at 00:00 on 1 Jan 2016 do not count for 2015 (invariant 19).
        end_of_2015 = datetime(2015, 12, 31, 16, tzinfo=UTC)
        await _exited_household(registry, officer, db_urls, VILLAGE, 4, datetime(2015, 6, 1, 2, tzinfo=UTC))
        await _exited_household(registry, officer, db_urls, VILLAGE, 3, end_of_2015 - timedelta(minutes=1))
        await _exited_household(registry, officer, db_urls, VILLAGE, 5, datetime(2014, 6, 1, 2, tzinfo=UTC))
        await _exited_household(registry, officer, db_urls, VILLAGE, 6, end_of_2015)
        await _exited_household(
            registry, officer, db_urls, SIBLING_VILLAGE, 2, datetime(2015, 3, 1, 2, tzinfo=UTC)
        )
        response = await registry.get(_url(TOWNSHIP), headers=officer)
        assert response.status_code == 200, response.text
        township = response.json()
        assert (township["people"], township["households"], township["version"]) == (600, 180, 1)
        assert township["allocated"] == {"people": 350, "households": 100}
        assert township["remaining"] == {"people": 250, "households": 80}
        assert township["exited"] == {"people": 9, "households": 3}
        assert township["shortfall"] == {"people": 591, "households": 177}
        assert township["flags"] == []  # 2015 is under way: no shortfall flagged yet
        assert township["warnings"] == []
        children = {c["region_code"]: c for c in township["children"]}
        assert children[VILLAGE]["exited"] == {"people": 7, "households": 2}
        assert children[VILLAGE]["shortfall"] == {"people": 243, "households": 68}
        assert children[SIBLING_VILLAGE]["exited"] == {"people": 2, "households": 1}
        # 2016: the year is over; the shortfall is flagged, the targets stay as set (never filled in).
        clock.now = datetime(2016, 1, 2, 2, tzinfo=UTC)
        township = (await registry.get(_url(TOWNSHIP), headers=officer)).json()
        assert township["flags"] == ["shortfall"] and township["people"] == 600
        children = {c["region_code"]: c for c in township["children"]}
        assert children[VILLAGE]["flags"] == ["shortfall"] and children[VILLAGE]["people"] == 250
        village = (await registry.get(_url(VILLAGE), headers=officer)).json()
        assert (village["children"], village["allocated"]) == ([], {"people": 0, "households": 0})
        next_year = (await registry.get(_url(VILLAGE, 2016), headers=officer)).json()
        assert (next_year["people"], next_year["shortfall"], next_year["exited"]["people"]) == (None, None, 6)

    async def test_a_child_without_a_target_is_not_filled_in(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers
    ) -> None:
        await _decompose(registry, admin, officer)
        county = (await registry.get(_url(COUNTY), headers=admin)).json()
        children = {c["region_code"]: c for c in county["children"]}
        assert children[OTHER_TOWNSHIP]["people"] is None and children[OTHER_TOWNSHIP]["shortfall"] is None
        assert children[TOWNSHIP]["people"] == 600
        empty = (await registry.get(_url(COUNTY, 2016), headers=admin)).json()
        assert (empty["people"], empty["version"], empty["remaining"]) == (None, None, None)

    async def test_equal_split_is_warned_not_refused(
        self, registry: httpx.AsyncClient, admin: Headers, officer: Headers
    ) -> None:
        """Invariant 26 (平均分配): every village the same target is a warning on the township's view."""
        await _decompose(registry, admin, officer)
        assert (await registry.get(_url(TOWNSHIP), headers=officer)).json()["warnings"] == []
        await _put(registry, SIBLING_VILLAGE, 250, 70, officer)
        assert (await registry.get(_url(TOWNSHIP), headers=officer)).json()["warnings"] == [
            "equal_distribution"
        ]
        await _put(registry, SIBLING_VILLAGE, 200, 60, officer)
        assert (await registry.get(_url(TOWNSHIP), headers=officer)).json()["warnings"] == []

    async def test_in_scope_readers(self, registry: httpx.AsyncClient, signing_key: SigningKey, admin: Headers,
                                    officer: Headers) -> None:  # fmt: skip
        await _decompose(registry, admin, officer)
        clerk = auth(issue(signing_key, "village_officer", VILLAGE))
        assert (await registry.get(_url(VILLAGE), headers=clerk)).json()["people"] == 250
        province = auth(issue(signing_key, "province_system", PROVINCE))
        assert (await registry.get(_url(COUNTY), headers=province)).json()["people"] == 1000
        assert_problem(await registry.get(_url(TOWNSHIP), headers=clerk), 404)  # above the clerk's village
        other = auth(issue(signing_key, "village_officer", SIBLING_VILLAGE))
        assert_problem(await registry.get(_url(VILLAGE), headers=other), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(await registry.get("/regions/4510250/exit-targets/2015", headers=admin), 422)
        assert_problem(await registry.get(_url(COUNTY, 2101), headers=admin), 422)

"""Village profile routes (村情, DOMAIN.md §5.2): the declared figures beside the registry's (read over HTTP), the
flags (invariants 10, 41), If-Match versions; one class per route."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    exited_since,
    headers_for,
    put_population,
    registered_household,
    registered_since,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

URL = f"/villages/{VILLAGE}/profiles/2015"
#: Households registered on New Year's day 2015 count as poor as of 31 December 2015 (and after, until they exit).
REGISTERED_2015 = datetime(2015, 1, 1, 10, tzinfo=CHINA_TIME)


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY, "county-1")


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "township_officer", TOWNSHIP, "township-1")


@pytest.fixture
def stranger(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", OTHER_VILLAGE, "clerk-2")


@pytest.fixture
def cadre(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "cadre", COUNTY, "cadre-1")


def figures(**extra: Any) -> dict[str, Any]:
    """F6's village (seed 001#12): 428 households, 1,560 people, NCMS 1,680 participants (above the population)."""
    body: dict[str, Any] = {
        "villager_groups": 14,
        "natural_villages": 18,
        "households": 428,
        "population": 1560,
        "area_km2": "7.00",
        "arable_land": {"total_mu": "1859.00"},
        "infrastructure": {"grid_coverage_percent": "100.00", "mobile_coverage_percent": "90.00", "tv_coverage_percent": "75.00"},
        "ncms_participants": 1680,
        "ncms_participation_percent": "100.00",
        "dibao_people": 53,
        "pension_coverage_percent": "99.70",
        "dangerous_houses_renovated_percent": "68.00",
        "collective_income_yuan": "8000.00",
    }  # fmt: skip
    body.update(extra)
    return body


class TestPutVillageProfile:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.put(URL, json=figures()), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, stranger: Headers) -> None:
        assert_problem(await planning.put(URL, json=figures(), headers=stranger), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, township: Headers, cadre: Headers) -> None:
        body = assert_problem(await planning.put(URL, json=figures(), headers=township), 403)
        assert body["code"] == "profile_editor_required"
        assert_problem(await planning.put(URL, json=figures(), headers=cadre), 403)

    @pytest.mark.parametrize(
        ("change", "pointer"),
        [
            ({"population": -1}, "/population"),
            ({"collective_income_yuan": "8000.005"}, "/collective_income_yuan"),  # a fraction of a fen
            ({"collective_income_yuan": "-1.00"}, "/collective_income_yuan"),  # negative money
            ({"forest_cover_percent": "101.00"}, "/forest_cover_percent"),
            ({"typed_in_poor": 3}, "/typed_in_poor"),  # unknown members are refused
        ],
    )
    async def test_invalid(
        self, planning: httpx.AsyncClient, clerk: Headers, change: dict[str, Any], pointer: str
    ) -> None:
        body = assert_problem(await planning.put(URL, json=figures(**change), headers=clerk), 422)
        assert body["errors"][0]["pointer"] == pointer

    async def test_not_a_village(self, planning: httpx.AsyncClient, admin: Headers) -> None:
        body = assert_problem(
            await planning.put(f"/villages/{TOWNSHIP}/profiles/2015", json={}, headers=admin), 422
        )
        assert body["code"] == "not_a_village"

    async def test_unknown_village(self, planning: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(
            await planning.put("/villages/451025100299/profiles/2015", json={}, headers=admin), 404
        )

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        assert (await put_population(registry, admin, VILLAGE, 2015, 1560)).status_code == 204
        household = await registered_household(registry, clerk, db_urls)
        await registered_since(db_urls, [household], REGISTERED_2015)
        response = await planning.put(URL, json=figures(), headers=clerk)
        assert response.status_code == 201, response.text
        assert response.headers["location"] == URL and response.headers["etag"] == '"1"'
        profile = response.json()
        assert profile["declared"]["ncms_participants"] == 1680
        assert profile["declared"]["collective_income_yuan"] == "8000.00"
        assert profile["declared"]["infrastructure"]["tv_coverage_percent"] == "75.00"
        registry_figures = profile["registry"]
        assert (registry_figures["poor_households"], registry_figures["poor_people"]) == (1, 3)
        assert (registry_figures["population"], registry_figures["incidence_percent"]) == (1560, "0.19")
        assert registry_figures["fetched_at"].endswith("Z")
        assert profile["derived"]["per_capita_arable_mu"] == "1.19"
        assert [(f["code"], f["field"], f["value"], f["compared_with"]) for f in profile["flags"]] == [
            ("coverage_above_population", "ncms_participants", "1680", "1560")
        ]
        assert profile["version"] == 1 and profile["updated_by"] == "clerk-1"

    async def test_the_registry_figures_are_of_that_year(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        """The registry's figures are as of 31 December of the profile's year, not today's statuses (issue #11):
        a household that exited in 2016 still counts for 2015; those registered in 2016 count for 2016 only."""
        for year in (2015, 2016):
            assert (await put_population(registry, admin, VILLAGE, year, 300)).status_code == 204
        stays, leaves, *late = [await registered_household(registry, clerk, db_urls) for _ in range(4)]
        await registered_since(db_urls, [stays, leaves], REGISTERED_2015)
        await registered_since(db_urls, late, datetime(2016, 2, 1, 10, tzinfo=CHINA_TIME))
        await exited_since(db_urls, [leaves], datetime(2016, 3, 1, 10, tzinfo=CHINA_TIME))
        # Today's statuses would say 3 poor households (stays and the two late ones): the years say otherwise.
        seen = {}
        for year in (2015, 2016):
            response = await planning.put(
                f"/villages/{VILLAGE}/profiles/{year}",
                json=figures(population=300, poor_households=3, poor_people=9),
                headers=clerk,
            )
            assert response.status_code == 201, response.text
            body = response.json()
            registry_figures = body["registry"]
            seen[year] = (
                registry_figures["poor_households"],
                registry_figures["poor_people"],
                registry_figures["population"],
                registry_figures["incidence_percent"],
                {f["code"] for f in body["flags"]},
            )
        assert seen[2015] == (
            2,
            6,
            300,
            "2.00",
            {
                "coverage_above_population",
                "poor_households_differ_from_registry",
                "poor_people_differ_from_registry",
            },
        )  # stays and leaves: leaves exited in 2016, after the year's end
        assert seen[2016] == (3, 9, 300, "3.00", {"coverage_above_population"})  # stays and the late two

    async def test_a_year_the_registry_has_no_figures_of(
        self, planning: httpx.AsyncClient, clerk: Headers
    ) -> None:
        """Before 2013 (precise poverty alleviation) the registry has no figures: 422, nothing written."""
        response = await planning.put(f"/villages/{VILLAGE}/profiles/2012", json=figures(), headers=clerk)
        assert assert_problem(response, 422)["code"] == "registry_year_out_of_range"
        assert_problem(await planning.get(f"/villages/{VILLAGE}/profiles/2012", headers=clerk), 404)

    async def test_versions(self, planning: httpx.AsyncClient, clerk: Headers, admin: Headers) -> None:
        assert (await planning.put(URL, json=figures(), headers=clerk)).status_code == 201
        body = assert_problem(await planning.put(URL, json=figures(), headers=clerk), 428)
        assert "If-Match" in body["detail"]
        stale = await planning.put(URL, json=figures(), headers={**clerk, "If-Match": '"7"'})
        assert assert_problem(stale, 412)["current_version"] == 1
        fixed = await planning.put(
            URL, json=figures(ncms_participants=1500), headers={**admin, "If-Match": '"1"'}
        )
        assert fixed.status_code == 200, fixed.text
        assert fixed.headers["etag"] == '"2"' and fixed.json()["flags"] == []
        assert fixed.json()["updated_by"] == "county-1"
        first = await planning.put(
            "/villages/451025100201/profiles/2016", json={}, headers={**clerk, "If-Match": '"1"'}
        )
        assert_problem(first, 412)

    async def test_registry_down(self, planning_registry_down: httpx.AsyncClient, clerk: Headers) -> None:
        response = await planning_registry_down.put(URL, json=figures(), headers=clerk)
        body = assert_problem(response, 503)
        assert body["code"] == "registry_unavailable" and response.headers["retry-after"]
        after = await planning_registry_down.get(URL, headers=clerk)
        assert_problem(after, 404)  # nothing was written


class TestGetVillageProfile:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(URL), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, clerk: Headers, stranger: Headers) -> None:
        assert (await planning.put(URL, json=figures(), headers=clerk)).status_code == 201
        assert_problem(await planning.get(URL, headers=stranger), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, clerk: Headers, cadre: Headers) -> None:
        assert (await planning.put(URL, json=figures(), headers=clerk)).status_code == 201
        assert (
            assert_problem(await planning.get(URL, headers=cadre), 403)["code"] == "profile_reader_required"
        )

    async def test_invalid(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        body = assert_problem(await planning.get(f"/villages/{VILLAGE}/profiles/1999", headers=clerk), 422)
        assert body["errors"][0]["parameter"] == "year"

    async def test_valid(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, signing_key: SigningKey
    ) -> None:
        assert_problem(await planning.get(URL, headers=township), 404)  # none yet
        assert (await planning.put(URL, json=figures(), headers=clerk)).status_code == 201
        province = headers_for(signing_key, "province_system", "450000000000")
        for who in (township, province):
            response = await planning.get(URL, headers=who)
            assert response.status_code == 200, response.text
            assert response.headers["etag"] == '"1"'
            assert response.json()["flags"][0]["code"] == "coverage_above_population"
        again = await planning.get(URL, headers={**township, "If-None-Match": '"1"'})
        assert again.status_code == 304 and again.content == b""

"""Issue #13 items 11 and 15 (their household side): a planned exit year before the identification year is
refused on PATCH; counts whose poor people exceed the recorded population are flagged, never shown silently."""

from __future__ import annotations

import httpx
import pytest

from services.registry.households.domain import base_flags, check_planned_exit_year
from shared.errors import DomainError
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    VILLAGE,
    Headers,
    assert_problem,
    create_household,
    headers_for,
    put_population,
    set_household_status,
)

pytestmark = pytest.mark.usefixtures("seed_regions")


class TestPureRules:
    def test_base_flags(self) -> None:
        assert base_flags(13, 3) == ["poor_above_population"]
        assert base_flags(3, 3) == [] and base_flags(13, None) == []

    def test_planned_exit_year(self) -> None:
        check_planned_exit_year(2014, 2014)
        check_planned_exit_year(None, 2014)
        with pytest.raises(DomainError) as caught:
            check_planned_exit_year(2001, 2014)
        assert caught.value.code == "exit_year_out_of_range"


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE)


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY)


class TestPatchPlannedExitYear:
    async def test_before_the_identification_year(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid = await create_household(registry, clerk)  # identification year 2014
        url = f"/households/{hid}"
        body = assert_problem(
            await registry.patch(url, json={"planned_exit_year": 2001}, headers=clerk | {"If-Match": '"1"'}),
            422,
        )
        assert body["code"] == "exit_year_out_of_range"
        assert (await registry.get(url, headers=clerk)).json()["planned_exit_year"] is None  # nothing changed
        ok = await registry.patch(url, json={"planned_exit_year": 2016}, headers=clerk | {"If-Match": '"1"'})
        assert ok.status_code == 200, ok.text


class TestStatsFlags:
    async def test_poor_above_the_recorded_population(
        self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers, db_urls: dict[str, str]
    ) -> None:
        first = await create_household(registry, clerk, size=3)
        await set_household_status(db_urls, first, "registered")
        assert (await put_population(registry, admin, VILLAGE, 2014, 4)).status_code == 204
        stats = (
            await registry.get("/households/stats", params={"region": VILLAGE, "year": 2014}, headers=admin)
        ).json()
        assert stats["region"]["flags"] == [] and stats["region"]["incidence_percent"] == "75.00"
        # A registration after the population was recorded: 6 poor people over a population of 4.
        second = await create_household(registry, clerk, size=3)
        await set_household_status(db_urls, second, "registered")
        stats = (
            await registry.get("/households/stats", params={"region": VILLAGE, "year": 2014}, headers=admin)
        ).json()
        assert stats["region"]["flags"] == ["poor_above_population"]
        assert stats["region"]["incidence_percent"] == "150.00"

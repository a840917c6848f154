"""Issue #13 item 1 over HTTP: the approving village review reads the household's per-capita net income of the
reference year (the year before, §2.8, invariant 13) against the identification line and shows both in the
decision; incomes of a later year and future identification years are refused. One class per route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, assert_problem, auth, household_payload, issue
from tests.registry.identification_setup import POOR_INCOME, record_income
from tests.registry.test_identification_routes import REVIEW, YEAR, Clock, Household, Roles

pytestmark = pytest.mark.usefixtures("seed_regions", "clock", "quotas")

#: 150,000 yuan net for a household of three: 50,000 yuan per person.
RICH_INCOME: dict[str, Any] = POOR_INCOME | {"wage": "150000", "operating": "0", "transfer": "0"}
RICH_INCOME["operating_expenses"] = "0"


@pytest.fixture
def clock(registry_app: FastAPI) -> Clock:
    c = Clock()
    registry_app.state.clock = c
    return c


@pytest.fixture
async def quotas(registry: httpx.AsyncClient, roles: Roles) -> None:
    for code, who, people in ((COUNTY, "county", 100), (TOWNSHIP, "county", 50), (VILLAGE, "township", 5)):
        r = await registry.put(f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=roles[who])
        assert r.status_code == 200, r.text


@pytest.fixture
def roles(signing_key: SigningKey) -> Roles:
    return {
        "village": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "county": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
    }


async def applied(registry: httpx.AsyncClient, roles: Roles, **extra: Any) -> Household:
    """A household of three that applied, with no income recorded yet."""
    r = await registry.post(
        "/households", json=household_payload(VILLAGE, size=3, **extra), headers=roles["village"]
    )
    assert r.status_code == 201, r.text
    h = Household(registry, r.json()["id"], r.json()["version"])
    await h.do("apply", roles["village"])
    return h


class TestVillageReviewIncome:
    async def test_under_the_line_is_reviewed_and_the_decision_shows_figure_year_and_line(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        h = await applied(registry, roles)
        h.version = await record_income(registry, roles["village"], h.id, h.version)
        assert (await h.do("village_review", roles["village"], **REVIEW))["status"] == "village_reviewed"
        event = (await h.card(roles["village"]))["workflow"][-1]
        assert event["data"]["income"] == {
            "identification_year": YEAR,
            "reference_year": 2013,
            "income_line_yuan": 2736,
            "per_capita_net_income_yuan": "666.67",
            "below_line": True,
        }

    async def test_no_income_record_is_refused(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        h = await applied(registry, roles)
        body = await h.do("village_review", roles["village"], **REVIEW, expect=409)
        assert body["code"] == "identification_income_missing" and body["reference_year"] == 2013
        assert (await h.card(roles["village"]))["status"] == "applied"

    async def test_an_income_of_another_year_does_not_count(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        h = await applied(registry, roles)
        h.version = await record_income(registry, roles["village"], h.id, h.version, year=2014)
        body = await h.do("village_review", roles["village"], **REVIEW, expect=409)
        assert body["code"] == "identification_income_missing"

    async def test_fifty_thousand_yuan_per_person_is_refused(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        h = await applied(registry, roles)
        h.version = await record_income(registry, roles["village"], h.id, h.version, income=RICH_INCOME)
        body = await h.do("village_review", roles["village"], **REVIEW, expect=409)
        assert body["code"] == "identification_income_not_under_line"
        assert (body["per_capita_net_income_yuan"], body["income_line_yuan"], body["reference_year"]) == (
            "50000.00",
            2736,
            2013,
        )
        # The assembly may still reject it, which needs no income.
        rejection = REVIEW | {"approved": False, "votes_for": 2}
        assert (await h.do("village_review", roles["village"], reason="收入高", **rejection))[
            "status"
        ] == "rejected"

    async def test_the_reference_years_line_applies(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        line = {"value": 500, "reason": "测试: 2013 年县定识别标准"}
        r = await registry.put(
            f"/regions/{COUNTY}/policy/2013/identification_income_line_yuan",
            json=line,
            headers=roles["county"],
        )
        assert r.status_code == 200, r.text
        h = await applied(registry, roles)
        h.version = await record_income(registry, roles["village"], h.id, h.version)
        body = await h.do("village_review", roles["village"], **REVIEW, expect=409)
        assert (body["code"], body["income_line_yuan"]) == ("identification_income_not_under_line", 500)


class TestPutIncomeFutureYear:
    async def test_a_later_year_is_refused(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        h = await applied(registry, roles)
        r = await registry.put(
            f"/households/{h.id}/incomes/{YEAR + 1}",
            json=POOR_INCOME,
            headers=roles["village"] | {"If-Match": f'"{h.version}"'},
        )
        assert assert_problem(r, 422)["code"] == "income_year_future"
        assert (await h.card(roles["village"]))["incomes"] == []
        # The current year itself may be surveyed.
        await record_income(registry, roles["village"], h.id, h.version, year=YEAR)


class TestCreateHouseholdFutureYear:
    async def test_a_future_identification_year_is_refused(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock
    ) -> None:
        payload = household_payload(VILLAGE, year=YEAR + 1)
        payload["identification_year"] = YEAR + 1
        r = await registry.post("/households", json=payload, headers=roles["village"])
        assert assert_problem(r, 422)["code"] == "identification_year_future"

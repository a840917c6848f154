"""Issue #13 items 5, 6, 7, 8 and 16 over HTTP, against PostgreSQL: recusal when a relation is cleared, the exit's
democratic review, the exit-test holes, return eligibility, re-application after rejection and members released
by a removal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, assert_problem, auth, household_payload, issue
from tests.registry.identification_setup import POOR_INCOME, record_income, work_team_login
from tests.registry.test_identification_routes import (
    EXIT_SURVEY,
    REVIEW,
    YEAR,
    Clock,
    Household,
    Roles,
    identify,
    new_household,
    registered,
)

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def clock(registry_app: FastAPI) -> Clock:
    c = Clock()
    registry_app.state.clock = c
    return c


@pytest.fixture
async def roles(signing_key: SigningKey, registry: httpx.AsyncClient) -> Roles:
    return {
        "village": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "county": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
        "team": await work_team_login(registry, signing_key),  # the work team's co-signer (issue #13 item 4)
    }


@pytest.fixture
async def quotas(registry: httpx.AsyncClient, roles: Roles) -> None:
    await quotas_for(registry, roles, YEAR)


INCOME_9000 = {"wage": "9000", "operating": "0", "property": "0", "transfer": "0", "operating_expenses": "0"}


async def set_income(
    registry: httpx.AsyncClient, h: Household, roles: Roles, year: int, income: dict[str, str]
) -> None:
    r = await registry.put(
        f"/households/{h.id}/incomes/{year}",
        json=income,
        headers=roles["village"] | {"If-Match": f'"{h.version}"'},
    )
    assert r.status_code == 200, r.text
    h.version = r.json()["version"]


async def patch(
    registry: httpx.AsyncClient, h: Household, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await registry.patch(
        f"/households/{h.id}", json=body, headers=headers | {"If-Match": f'"{h.version}"'}
    )


async def quotas_for(registry: httpx.AsyncClient, roles: Roles, year: int) -> None:
    for code, who, people in ((COUNTY, "county", 100), (TOWNSHIP, "county", 50), (VILLAGE, "township", 5)):
        r = await registry.put(f"/regions/{code}/quotas/{year}", json={"people": people}, headers=roles[who])
        assert r.status_code == 200, r.text


class TestRecusalAfterClearing:
    """Item 5: a declared official cannot clear the relation themselves; once cleared they stay recused."""

    async def test_self_clear_refused_other_clears_with_reason_recusal_stays(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None, signing_key: SigningKey
    ) -> None:
        related = {"related_officials": [{"user_sub": "clerk-1", "name": "黄文书", "relation": "cousin"}]}
        h = await new_household(registry, roles, details=related)
        before = await h.card(roles["village"])
        body = assert_problem(
            await patch(
                registry, h, roles["village"], {"details": {"related_officials": []}, "reason": "误报"}
            ),
            403,
        )
        assert body["code"] == "relation_self_clear"
        after = await h.card(roles["village"])
        assert after["version"] == before["version"]
        assert after["details"]["related_officials"] == before["details"]["related_officials"]
        other = auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-2"))
        body = assert_problem(await patch(registry, h, other, {"details": {"related_officials": []}}), 422)
        assert body["code"] == "relation_clear_reason_required"
        r = await patch(
            registry,
            h,
            other,
            {"details": {"related_officials": []}, "reason": "经核实为远房亲属, 村委会决定解除"},
        )
        assert r.status_code == 200, r.text
        card = await h.card(other)
        assert card["details"]["related_officials"] == []
        await h.do("apply", other)
        # The history still shows clerk-1 declared: clerk-1 may not review; clerk-2 may.
        body = await h.do("village_review", roles["village"], **REVIEW, expect=409)
        assert body["code"] == "recusal_required"
        await h.do("village_review", other, **REVIEW)


class TestExitDemocraticReview:
    """Item 16: the exit's 民主评议 records attendance and votes, checked like the identification review."""

    async def test_attendance_and_votes_required_and_stored_with_the_reason(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        clock.now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        await set_income(registry, h, roles, 2015, INCOME_9000)
        minutes_only = {k: v for k, v in EXIT_SURVEY.items() if k not in ("attendees", "votes_for")}
        assert (await h.do("propose_exit", roles["village"], **minutes_only, expect=422))[
            "code"
        ] == "votes_invalid"
        over = EXIT_SURVEY | {"attendees": 20, "votes_for": 21}
        assert (await h.do("propose_exit", roles["village"], **over, expect=422))["code"] == "votes_invalid"
        minority = EXIT_SURVEY | {"attendees": 20, "votes_for": 10}
        assert (await h.do("propose_exit", roles["village"], **minority, expect=422))[
            "code"
        ] == "votes_invalid"
        await h.do("propose_exit", roles["village"], reason="2015年度脱贫评议", **EXIT_SURVEY)
        event = (await h.card(roles["village"]))["workflow"][-1]
        assert event["command"] == "propose_exit" and event["reason"] == "2015年度脱贫评议"
        assert (event["data"]["attendees"], event["data"]["votes_for"]) == (36, 30)
        assert event["data"]["exit_test"]["income_year"] == 2015


class TestExitTestHoles:
    """Item 6 (§6.5-A, invariant 22)."""

    async def test_an_ungraded_house_needs_the_housing_answer(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock, dangerous_house_grade=None)
        clock.now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        await set_income(registry, h, roles, 2015, INCOME_9000)
        body = await h.do("propose_exit", roles["village"], **EXIT_SURVEY, expect=409)
        assert body["code"] == "exit_test_failed" and body["failed"] == ["housing_unknown"]
        await h.do("propose_exit", roles["village"], **EXIT_SURVEY, housing_safe=True)
        stored = (await h.card(roles["village"]))["workflow"][-1]["data"]["exit_test"]
        assert stored["housing_safe"] is True and stored["housing_basis"] == "survey"

    async def test_a_compulsory_age_child_not_in_school_fails(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        payload = household_payload(VILLAGE, size=3)
        payload["members"][2]["school_status"] = "not_in_school"  # born 2005-03: 10 in 2015, no dropout tick
        r = await registry.post("/households", json=payload, headers=roles["village"])
        assert r.status_code == 201, r.text
        h = Household(registry, r.json()["id"], r.json()["version"])
        h.version = await record_income(registry, roles["village"], h.id, h.version)
        await identify(h, roles, clock)
        clock.now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        await set_income(registry, h, roles, 2015, INCOME_9000)
        body = await h.do("propose_exit", roles["village"], **EXIT_SURVEY, expect=409)
        assert body["code"] == "exit_test_failed" and body["failed"] == ["children_in_school"]

    async def test_the_income_year_is_the_exit_year(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        clock.now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        await set_income(registry, h, roles, 2014, INCOME_9000)
        for year in (2099, 2014):
            body = await h.do("propose_exit", roles["village"], **EXIT_SURVEY, income_year=year, expect=422)
            assert body["code"] == "income_year_invalid" and body["expected"] == 2015
        # Only the 2014 income is recorded: the exit year's (2015) is missing.
        assert (await h.do("propose_exit", roles["village"], **EXIT_SURVEY, expect=409))[
            "code"
        ] == "income_missing"

    async def test_an_exit_line_below_the_identification_line_is_not_used(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        r = await registry.put(
            f"/regions/{COUNTY}/policy/2015/exit_income_line_yuan",
            json={"value": 2000, "reason": "县定脱贫线"},
            headers=roles["county"],
        )
        if r.status_code != 200:
            pytest.skip(f"the regions feature refuses the low exit line itself ({r.status_code})")
        h = await registered(registry, roles, clock)
        clock.now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        low = INCOME_9000 | {"wage": "7500"}  # 2500 per head: above 2000, below 2736
        await set_income(registry, h, roles, 2015, low)
        body = await h.do("propose_exit", roles["village"], **EXIT_SURVEY, expect=409)
        assert body["code"] == "exit_test_failed" and "per-capita net income below the line" in body["failed"]


async def exit_household(registry: httpx.AsyncClient, h: Household, roles: Roles, clock: Clock) -> None:
    clock.now = datetime(2015, 3, 1, 2, tzinfo=UTC)
    await set_income(registry, h, roles, 2015, INCOME_9000)
    await h.do("propose_exit", roles["village"], **EXIT_SURVEY)
    await h.do("start_notice", roles["village"], places=["administrative_village"])
    clock.advance(days=8)
    await h.do("township_review", roles["township"], approve=True)
    await h.do("start_notice", roles["township"], places=["administrative_village"])
    clock.advance(days=8)
    await h.do("county_review", roles["county"], approve=True)
    await h.do("announce", roles["county"])


class TestReturnEligibility:
    """Item 7 (§2.14): a return meets the identification standard."""

    async def test_income_above_the_line_is_refused_a_shock_with_evidence_is_not(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        await exit_household(registry, h, roles, clock)
        clock.now = datetime(2016, 8, 1, 2, tzinfo=UTC)
        await quotas_for(registry, roles, 2016)
        body = await h.do("apply_return", roles["village"], cause="illness", expect=409)
        assert body["code"] == "return_not_eligible" and body["income_line_yuan"] == 2736
        card = await h.card(roles["village"])
        assert card["status"] == "exited"
        await h.do(
            "apply_return",
            roles["village"],
            cause="illness",
            evidence_ref="县人民医院住院费用清单 2016-07",
            reason="户主患大病",
        )
        event = (await h.card(roles["village"]))["workflow"][-1]
        assert event["data"]["eligibility"]["basis"] == "shock" and event["reason"] == "户主患大病"
        # The same notices follow: the first is posted in the natural village too.
        await h.do("village_review", roles["village"], **REVIEW)
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        body = await h.do("start_notice", roles["village"], places=["administrative_village"], expect=422)
        assert body["code"] == "places_invalid"


class TestDeadEnds:
    """Item 8: a rejected household applies again in a later round; a removed one releases its members."""

    async def test_rejected_household_reapplies_next_year(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await new_household(registry, roles)
        await h.do("apply", roles["village"])
        await h.do(
            "village_review", roles["village"], **(REVIEW | {"approved": False}), reason="家庭收入较高"
        )
        assert (await h.card(roles["village"]))["status"] == "rejected"
        body = await h.do("apply", roles["village"], expect=409)
        assert body["code"] == "reapply_too_early" and body["earliest_year"] == 2015
        clock.now = datetime(2015, 3, 2, 2, tzinfo=UTC)
        await quotas_for(registry, roles, 2015)
        await h.do("apply", roles["village"])
        card = await h.card(roles["village"])
        assert card["status"] == "applied" and card["quota_year"] == 2015
        # The 2015 round reads the 2014 income (the year before, issue #13 item 1).
        assert (await h.do("village_review", roles["village"], **REVIEW, expect=409))[
            "reference_year"
        ] == 2014
        await set_income(registry, h, roles, 2014, POOR_INCOME)
        await h.do("village_review", roles["village"], **REVIEW)
        quota = (await registry.get(f"/regions/{VILLAGE}/quotas/2015", headers=roles["village"])).json()
        assert quota["used"] == 3

    async def test_removed_household_releases_its_members(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        payload = household_payload(VILLAGE, size=3)
        r = await registry.post("/households", json=payload, headers=roles["village"])
        assert r.status_code == 201, r.text
        h = Household(registry, r.json()["id"], r.json()["version"])
        h.version = await record_income(registry, roles["village"], h.id, h.version)
        await identify(h, roles, clock)
        # The same people cannot be in a second household while the first holds them (invariant 2).
        r = await registry.post("/households", json=payload, headers=roles["village"])
        assert assert_problem(r, 409)["code"] == "person_already_member"
        await h.do("remove", roles["county"], reason="核查发现家有商品房, 识别不准清退")
        card = await h.card(roles["county"])
        assert card["status"] == "removed" and card["members"] == []
        assert {m["left_reason"] for m in card["former_members"]} == {"released"}
        assert card["household_size"] == 3  # the removed record keeps its size
        r = await registry.post("/households", json=payload, headers=roles["village"])
        assert r.status_code == 201, r.text

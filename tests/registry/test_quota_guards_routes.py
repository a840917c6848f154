"""Issue #13 items 9 and 19 over HTTP: a quota is never lowered below the people counted against it; members
added during a notice re-check the quota and restart the notice; the quota override takes its household from
the path. One class per route."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    count_rows,
    household_payload,
    issue,
)
from tests.registry.identification_setup import record_income, work_team_login

YEAR = 2014

pytestmark = pytest.mark.usefixtures("seed_regions")

Headers = dict[str, str]
REVIEW: dict[str, Any] = {
    "minutes_ref": "2014-05 村民代表大会记录",
    "attendees": 40,
    "votes_for": 31,
    "approved": True,
}
BOTH_PLACES: dict[str, Any] = {"places": ["administrative_village", "natural_village"]}
NEWBORN = {
    "name": "黄小宝",
    "relation": "grandchild",
    "sex": "female",
    "birth_year_month": "2014-02",
    "no_id_reason": "newborn",
    "labor_capacity": "none",
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2014, 5, 5, 2, tzinfo=UTC)  # 10:00 in China

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(registry_app: FastAPI) -> Clock:
    c = Clock()
    registry_app.state.clock = c
    return c


@pytest.fixture
async def roles(signing_key: SigningKey, registry: httpx.AsyncClient) -> dict[str, Headers]:
    return {
        "village": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "county": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
        "team": await work_team_login(registry, signing_key),  # the work team's co-signer (issue #13 item 4)
    }


@pytest.fixture
async def quotas(registry: httpx.AsyncClient, roles: dict[str, Headers]) -> None:
    for code, who, people in ((COUNTY, "county", 100), (TOWNSHIP, "county", 50), (VILLAGE, "township", 5)):
        response = await registry.put(
            f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=roles[who]
        )
        assert response.status_code == 200, response.text


class Household:
    def __init__(self, registry: httpx.AsyncClient, hid: str, version: int) -> None:
        self.registry, self.id, self.version = registry, hid, version

    async def do(self, command: str, headers: Headers, *, expect: int = 200, **data: Any) -> dict[str, Any]:
        response = await self.registry.post(
            f"/households/{self.id}/workflow/{command}",
            json={"data": data},
            headers=headers | {"If-Match": f'"{self.version}"'},
        )
        if expect != 200:
            return assert_problem(response, expect)
        assert response.status_code == 200, response.text
        self.version = response.json()["version"]
        body: dict[str, Any] = response.json()
        return body

    async def add_member(self, headers: Headers, *, expect: int = 201) -> dict[str, Any]:
        response = await self.registry.post(
            f"/households/{self.id}/members",
            json=NEWBORN,
            headers=headers | {"If-Match": f'"{self.version}"'},
        )
        if expect != 201:
            return assert_problem(response, expect)
        assert response.status_code == 201, response.text
        self.version = response.json()["version"]
        body: dict[str, Any] = response.json()
        return body

    async def card(self, headers: Headers) -> dict[str, Any]:
        card: dict[str, Any] = (await self.registry.get(f"/households/{self.id}", headers=headers)).json()
        self.version = card["version"]
        return card


async def new_household(registry: httpx.AsyncClient, roles: dict[str, Headers], size: int) -> Household:
    response = await registry.post(
        "/households", json=household_payload(VILLAGE, size=size), headers=roles["village"]
    )
    assert response.status_code == 201, response.text
    hid, version = response.json()["id"], response.json()["version"]
    # The reference year's income under the line, which an approving village review reads (issue #13 item 1).
    return Household(registry, hid, await record_income(registry, roles["village"], hid, version))


async def reviewed(registry: httpx.AsyncClient, roles: dict[str, Headers], size: int) -> Household:
    """A household past an approved village review, co-signed: `size` people counted against the quota."""
    h = await new_household(registry, roles, size)
    await h.do("apply", roles["village"])
    await h.do("village_review", roles["village"], **REVIEW)
    await h.do("cosign", roles["village"], party="village_committee")
    await h.do("cosign", roles["team"], party="work_team")
    return h


class TestPutQuotaBelowUsed:
    async def test_a_quota_cannot_fall_below_the_people_counted(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, quotas: None
    ) -> None:
        await reviewed(registry, roles, 3)
        url = f"/regions/{VILLAGE}/quotas/{YEAR}"
        body = assert_problem(await registry.put(url, json={"people": 2}, headers=roles["township"]), 422)
        assert (body["code"], body["used"], body["people"]) == ("quota_below_used", 3, 2)
        quota = (await registry.get(url, headers=roles["township"])).json()
        assert (quota["people"], quota["used"], quota["version"]) == (5, 3, 1)  # nothing changed
        lowered = await registry.put(url, json={"people": 3}, headers=roles["township"])
        assert lowered.status_code == 200 and lowered.json()["people"] == 3


class TestAddMemberDuringNotice:
    async def test_the_notice_restarts_and_the_quota_is_rechecked(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, quotas: None
    ) -> None:
        h = await reviewed(registry, roles, 3)
        await h.do("start_notice", roles["village"], **BOTH_PLACES)
        clock.now += timedelta(days=5)
        await h.add_member(roles["village"])  # 4 of the village's 5: within the quota
        card = await h.card(roles["village"])
        assert (card["household_size"], card["status"]) == (4, "first_notice")
        restart = card["workflow"][-1]
        assert restart["command"] == "start_notice" and restart["data"]["restarted"] == "members_added"
        assert restart["data"]["places"] == BOTH_PLACES["places"]
        # 8 days after the first posting, but 3 after the restart: the notice is not over.
        clock.now += timedelta(days=3)
        body = await h.do("township_review", roles["township"], expect=409, approve=True)
        assert body["code"] == "notice_not_over"
        # A fifth and a sixth person: 6 > 5 is refused, and nothing is added.
        await h.add_member(roles["village"])
        body = await h.add_member(roles["village"], expect=409)
        assert (body["code"], body["quota"], body["used"], body["household_size"]) == (
            "quota_exceeded",
            5,
            0,
            6,
        )
        card = await h.card(roles["village"])
        assert card["household_size"] == 5
        clock.now += timedelta(days=8)
        await h.do("township_review", roles["township"], approve=True)

    async def test_a_county_override_lets_it_through_flagged(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, quotas: None
    ) -> None:
        h = await reviewed(registry, roles, 5)
        await h.do("start_notice", roles["village"], **BOTH_PLACES)
        response = await registry.post(
            f"/households/{h.id}/quota-override",
            json={"reason": "2014年洪灾, 县扶贫办批准"},
            headers=roles["county"],
        )
        assert response.status_code == 201, response.text
        await h.card(roles["village"])
        await h.add_member(roles["village"])
        card = await h.card(roles["village"])
        assert card["household_size"] == 6 and "quota_override" in card["flags"]

    async def test_a_candidate_grows_without_a_check(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, quotas: None
    ) -> None:
        """A household not counted against the quota (a candidate; likewise a registered one: natural increase)
        grows without the quota being read."""
        h = await new_household(registry, roles, 5)
        await registry.put(f"/regions/{VILLAGE}/quotas/{YEAR}", json={"people": 0}, headers=roles["township"])
        await h.add_member(roles["village"])
        assert (await h.card(roles["village"]))["household_size"] == 6


class TestQuotaOverride:
    async def test_the_path_is_the_household(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, db_urls: dict[str, str]
    ) -> None:
        h = await new_household(registry, roles, 3)
        response = await registry.post(
            f"/households/{h.id}/quota-override", json={"reason": "因灾"}, headers=roles["county"]
        )
        assert response.status_code == 201, response.text
        assert (response.json()["household_id"], response.json()["year"]) == (h.id, YEAR)
        assert response.headers["location"] == f"/households/{h.id}"

    async def test_a_matching_body_id_is_still_accepted(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock
    ) -> None:
        h = await new_household(registry, roles, 3)
        response = await registry.post(
            f"/households/{h.id}/quota-override",
            json={"household_id": h.id, "reason": "因灾"},
            headers=roles["county"],
        )
        assert response.status_code == 201, response.text

    async def test_a_different_body_id_is_422_and_changes_nothing(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, db_urls: dict[str, str]
    ) -> None:
        h = await new_household(registry, roles, 3)
        other = await new_household(registry, roles, 3)
        body = assert_problem(
            await registry.post(
                f"/households/{h.id}/quota-override",
                json={"household_id": other.id, "reason": "因灾"},
                headers=roles["county"],
            ),
            422,
        )
        assert body["field"] == "/household_id"
        assert_problem(
            await registry.post(f"/households/{h.id}/quota-override", json={}, headers=roles["county"]), 422
        )
        assert await count_rows(db_urls, "registry_quota_override") == 0

    async def test_wrong_role_and_out_of_scope(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], clock: Clock, signing_key: SigningKey
    ) -> None:
        h = await new_household(registry, roles, 3)
        url = f"/households/{h.id}/quota-override"
        assert_problem(await registry.post(url, json={"reason": "x"}, headers=roles["township"]), 403)
        other_county = auth(issue(signing_key, "county_admin", "451026000000"))
        assert_problem(await registry.post(url, json={"reason": "x"}, headers=other_county), 404)

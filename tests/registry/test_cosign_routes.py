"""Issue #13 item 4 over HTTP: the initial list is co-signed by two people of two bodies (§2.9 step 4) — a
member of the village's resident work team (a cadre login assigned to the village, `/village-assignments`) for
the work team, a village officer who is not on it for the village committee, never one login for both."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import COUNTY, OTHER_VILLAGE, TOWNSHIP, VILLAGE, auth, household_payload, issue
from tests.registry.identification_setup import record_income, work_team_login
from tests.registry.test_identification_routes import PLACES, REVIEW, YEAR, Clock, Household, Roles

pytestmark = pytest.mark.usefixtures("seed_regions", "clock", "quotas")


@pytest.fixture
def clock(registry_app: FastAPI) -> Clock:
    c = Clock()
    registry_app.state.clock = c
    return c


@pytest.fixture
def roles(signing_key: SigningKey) -> Roles:
    return {
        "village": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "county": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
    }


@pytest.fixture
async def quotas(registry: httpx.AsyncClient, roles: Roles) -> None:
    for code, who, people in ((COUNTY, "county", 100), (TOWNSHIP, "county", 50), (VILLAGE, "township", 5)):
        r = await registry.put(f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=roles[who])
        assert r.status_code == 200, r.text


async def reviewed(registry: httpx.AsyncClient, roles: Roles) -> Household:
    """A household past an approved village review, not co-signed yet."""
    r = await registry.post("/households", json=household_payload(VILLAGE, size=3), headers=roles["village"])
    assert r.status_code == 201, r.text
    h = Household(registry, r.json()["id"], r.json()["version"])
    h.version = await record_income(registry, roles["village"], h.id, h.version)
    await h.do("apply", roles["village"])
    await h.do("village_review", roles["village"], **REVIEW)
    return h


class TestCosign:
    async def test_two_people_of_two_bodies_then_the_notice(
        self, registry: httpx.AsyncClient, roles: Roles, signing_key: SigningKey
    ) -> None:
        team = await work_team_login(registry, signing_key)
        h = await reviewed(registry, roles)
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", team, party="work_team")
        assert (await h.do("start_notice", roles["village"], **PLACES))["status"] == "first_notice"
        signed = [
            (e["data"], e["actor"])
            for e in (await h.card(roles["village"]))["workflow"]
            if e["command"] == "cosign"
        ]
        assert signed == [
            ({"party": "village_committee", "on_work_team": False}, "clerk-1"),
            ({"party": "work_team", "on_work_team": True}, "team-1"),
        ]

    async def test_one_login_for_both_bodies_is_refused(
        self, registry: httpx.AsyncClient, roles: Roles, signing_key: SigningKey
    ) -> None:
        h = await reviewed(registry, roles)
        await h.do("cosign", roles["village"], party="village_committee")
        # Without an assignment the clerk is not on the work team.
        body = await h.do("cosign", roles["village"], party="work_team", expect=403)
        assert body["code"] == "cosign_not_work_team"
        # Assigned to the team afterwards, the same person still cannot sign for the second body.
        await work_team_login(registry, signing_key, sub="clerk-1")
        body = await h.do("cosign", roles["village"], party="work_team", expect=409)
        assert body["code"] == "cosign_same_person"
        body = await h.do("start_notice", roles["village"], **PLACES, expect=409)
        assert body["code"] == "cosign_required"

    async def test_a_work_team_member_does_not_sign_for_the_committee(
        self, registry: httpx.AsyncClient, roles: Roles, signing_key: SigningKey
    ) -> None:
        team = await work_team_login(registry, signing_key)
        h = await reviewed(registry, roles)
        body = await h.do("cosign", team, party="village_committee", expect=403)
        assert body["code"] == "cosign_not_village_committee"

    async def test_another_villages_team_or_a_term_not_begun_does_not_count(
        self, registry: httpx.AsyncClient, roles: Roles, signing_key: SigningKey
    ) -> None:
        other = await work_team_login(registry, signing_key, sub="team-other", village=OTHER_VILLAGE)
        later = await work_team_login(registry, signing_key, sub="team-later", starts_on="2014-09-01")
        h = await reviewed(registry, roles)
        other_here = auth(issue(signing_key, "village_officer", VILLAGE, sub="team-other"))
        assert other  # the login of the other village's team, in its own village
        for who in (other_here, later):
            body = await h.do("cosign", who, party="work_team", expect=403)
            assert body["code"] == "cosign_not_work_team"

    async def test_a_batch_needs_the_team_login_for_the_team(
        self, registry: httpx.AsyncClient, roles: Roles, signing_key: SigningKey
    ) -> None:
        team = await work_team_login(registry, signing_key)
        h = await reviewed(registry, roles)
        url = f"/households/workflow/cosign/region-batch?region={VILLAGE}&from_status=village_reviewed"
        r = await registry.post(url, json={"data": {"party": "work_team"}}, headers=roles["village"])
        assert r.json()["items"][0]["code"] == "cosign_not_work_team" and r.json()["refused"] == 1
        r = await registry.post(url, json={"data": {"party": "work_team"}}, headers=team)
        assert r.json()["applied"] == 1, r.text
        assert h.id == r.json()["items"][0]["household_id"]

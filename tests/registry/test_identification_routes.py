"""Identification, exit and return workflow routes (issue #3 "Done when"): one class per route.

The registry's clock is replaced by a test clock so that the 7-full-day notice windows can be crossed without
waiting. Every guard is exercised: notice length, objections, quotas (and the county override), wrong level,
wrong order, recusal, the exit test and the effective year; batches report each household.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)
from tests.registry.identification_setup import record_income, work_team_login

YEAR = 2014

pytestmark = pytest.mark.usefixtures("seed_regions")

Headers = dict[str, str]
Roles = dict[str, Headers]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2014, 5, 5, 2, 0, tzinfo=UTC)  # 10:00 in China

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


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
        # The resident work team's co-signer (issue #13 item 4): a second person, assigned to the village.
        "team": await work_team_login(registry, signing_key),
    }


@pytest.fixture
async def quotas(registry: httpx.AsyncClient, roles: Roles) -> None:
    for code, who, people in ((COUNTY, "county", 100), (TOWNSHIP, "county", 50), (VILLAGE, "township", 5)):
        r = await registry.put(f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=roles[who])
        assert r.status_code == 200, r.text


class Household:
    def __init__(self, registry: httpx.AsyncClient, hid: str, version: int) -> None:
        self.registry = registry
        self.id = hid
        self.version = version

    async def do(
        self, command: str, headers: Headers, *, expect: int = 200, reason: str | None = None, **data: Any
    ) -> dict[str, Any]:
        body = {"data": data} | ({"reason": reason} if reason else {})
        response = await self.registry.post(
            f"/households/{self.id}/workflow/{command}",
            json=body,
            headers=headers | {"If-Match": f'"{self.version}"'},
        )
        if expect == 200:
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            assert set(answer) == {"id", "status", "seq", "version"} and answer["id"] == self.id
            assert response.headers["etag"] == f'"{answer["version"]}"'
            self.version = answer["version"]
            return answer
        return assert_problem(response, expect)

    async def card(self, headers: Headers) -> dict[str, Any]:
        response = await self.registry.get(f"/households/{self.id}", headers=headers)
        card: dict[str, Any] = response.json()
        self.version = card["version"]
        return card


async def new_household(
    registry: httpx.AsyncClient, roles: Roles, *, size: int = 3, village: str = VILLAGE, **extra: Any
) -> Household:
    response = await registry.post(
        "/households", json=household_payload(village, size=size, **extra), headers=roles["village"]
    )
    assert response.status_code == 201, response.text
    hid, version = response.json()["id"], response.json()["version"]
    # The reference year's income under the line, which an approving village review reads (issue #13 item 1).
    version = await record_income(registry, roles["village"], hid, version)
    return Household(registry, hid, version)


REVIEW: dict[str, Any] = {
    "minutes_ref": "2014-05 村民代表大会记录",
    "attendees": 40,
    "votes_for": 31,
    "approved": True,
}
PLACES: dict[str, Any] = {"places": ["administrative_village", "natural_village"]}


async def identify(h: Household, roles: Roles, clock: Clock) -> None:
    """Application → announcement, the full 两公示一公告 chain."""
    await h.do("apply", roles["village"])
    await h.do("village_review", roles["village"], **REVIEW)
    await h.do("cosign", roles["village"], party="village_committee")
    await h.do("cosign", roles["team"], party="work_team")
    await h.do("start_notice", roles["village"], **PLACES)
    clock.advance(days=8)
    await h.do("township_review", roles["township"], approve=True)
    await h.do("start_notice", roles["township"], places=["administrative_village"])
    clock.advance(days=8)
    await h.do("county_review", roles["county"], approve=True)
    await h.do("announce", roles["county"])


async def registered(registry: httpx.AsyncClient, roles: Roles, clock: Clock, **kw: Any) -> Household:
    h = await new_household(registry, roles, **kw)
    await identify(h, roles, clock)
    return h


EXIT_SURVEY: dict[str, Any] = {
    "minutes_ref": "2015 脱贫评议",
    "attendees": 36,
    "votes_for": 30,
    "food_and_clothing_secure": True,
    "stable_income_source": True,
    "head_acknowledged": True,
}


async def exit_to_second_notice(
    registry: httpx.AsyncClient, h: Household, roles: Roles, clock: Clock
) -> None:
    """Income of 2015 above the line, then the exit chain up to the second notice."""
    income = {"wage": "9000", "operating": "0", "property": "0", "transfer": "0", "operating_expenses": "0"}
    r = await registry.put(
        f"/households/{h.id}/incomes/2015",
        json=income,
        headers=roles["village"] | {"If-Match": f'"{h.version}"'},
    )
    h.version = r.json()["version"]
    await h.do("propose_exit", roles["village"], **EXIT_SURVEY)
    await h.do("start_notice", roles["village"], places=["administrative_village"])
    clock.advance(days=8)
    await h.do("township_review", roles["township"], approve=True)
    await h.do("start_notice", roles["township"], places=["administrative_village"])


async def identify_from_review(h: Household, roles: Roles, clock: Clock) -> None:
    await h.do("village_review", roles["village"], **REVIEW)
    await h.do("cosign", roles["village"], party="village_committee")
    await h.do("cosign", roles["team"], party="work_team")
    await h.do("start_notice", roles["village"], **PLACES)
    clock.advance(days=8)
    await h.do("township_review", roles["township"], approve=True)
    await h.do("start_notice", roles["township"], places=["administrative_village"])
    clock.advance(days=8)
    await h.do("county_review", roles["county"], approve=True)
    await h.do("announce", roles["county"])


class TestWorkflowCommand:
    async def test_anonymous(self, registry: httpx.AsyncClient, roles: Roles) -> None:
        h = await new_household(registry, roles)
        r = await registry.post(
            f"/households/{h.id}/workflow/apply", json={"data": {}}, headers={"If-Match": '"1"'}
        )
        assert_problem(r, 401)

    async def test_invalid(self, registry: httpx.AsyncClient, roles: Roles, db_urls: dict[str, str]) -> None:
        h = await new_household(registry, roles)
        headers = roles["village"] | {"If-Match": '"1"'}
        assert_problem(
            await registry.post(f"/households/{h.id}/workflow/sing", json={}, headers=headers), 422
        )
        assert_problem(
            await registry.post(f"/households/{h.id}/workflow/apply", json={"x": 1}, headers=headers), 422
        )
        await h.do("apply", roles["village"])
        body = await h.do("village_review", roles["village"], attendees="many", expect=422)
        assert body["code"] == "data_invalid"
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            assert await conn.fetchval("SELECT count(*) FROM registry_workflow_event") == 1
        finally:
            await conn.close()

    async def test_identification_from_application_to_announcement(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await new_household(registry, roles)
        await identify(h, roles, clock)
        card = await h.card(roles["village"])
        assert card["status"] == "registered"
        commands = [e["command"] for e in card["workflow"]]
        assert commands == [
            "apply", "village_review", "cosign", "cosign", "start_notice",
            "township_review", "start_notice", "county_review", "announce",
        ]  # fmt: skip
        assert [e["role"] for e in card["workflow"]][-2:] == ["county_admin", "county_admin"]
        assert card["workflow"][1]["data"]["minutes_ref"].startswith("2014-05")
        # Quota use is visible: 3 of the village's 5 people.
        listed = (await registry.get("/households?status=registered", headers=roles["county"])).json()[
            "items"
        ]
        assert [i["id"] for i in listed] == [h.id]

    async def test_notice_lasts_seven_full_days(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await new_household(registry, roles)
        await h.do("apply", roles["village"])
        await h.do("village_review", roles["village"], **REVIEW)
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        # Posted at 10:00 China time on 5 May: the notice may close from 00:00 on 13 May (7 full days).
        await h.do("start_notice", roles["village"], **PLACES)
        clock.advance(days=7, hours=13)  # 23:00 on 12 May, China time
        body = await h.do("township_review", roles["township"], approve=True, expect=409)
        assert body["code"] == "notice_not_over" and body["earliest"].startswith("2014-05-12T16:00:00")
        clock.advance(hours=1)  # 00:00 on 13 May
        await h.do("township_review", roles["township"], approve=True)

    async def test_notice_length_is_a_policy_parameter(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        r = await registry.put(
            f"/regions/{COUNTY}/policy/{YEAR}/notice_days",
            json={"value": 10, "reason": "县定公示期"},
            headers=roles["county"],
        )
        assert r.status_code == 200, r.text
        h = await new_household(registry, roles)
        for step in (("apply", {}), ("village_review", REVIEW)):
            await h.do(step[0], roles["village"], **step[1])
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        await h.do("start_notice", roles["village"], **PLACES)
        clock.advance(days=9)
        assert (await h.do("township_review", roles["township"], approve=True, expect=409))[
            "code"
        ] == "notice_not_over"
        clock.advance(days=2)
        await h.do("township_review", roles["township"], approve=True)

    async def test_notice_days_below_seven_is_refused(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        # 公示期7天 [S 002]: the parameter can only lengthen the statutory notice.
        r = await registry.put(
            f"/regions/{COUNTY}/policy/{YEAR}/notice_days",
            json={"value": 1, "reason": "缩短公示期"},
            headers=roles["county"],
        )
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "below_statutory_minimum"

    async def test_a_running_notice_keeps_its_posted_length(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        url = f"/regions/{COUNTY}/policy/{YEAR}/notice_days"
        r = await registry.put(url, json={"value": 10, "reason": "县定公示期"}, headers=roles["county"])
        assert r.status_code == 200, r.text
        h = await new_household(registry, roles)
        for step in (("apply", {}), ("village_review", REVIEW)):
            await h.do(step[0], roles["village"], **step[1])
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        await h.do("start_notice", roles["village"], **PLACES)
        card = await h.card(roles["village"])
        assert card["workflow"][-1]["data"]["notice_days"] == 10
        r = await registry.put(url, json={"value": 7, "reason": "恢复"}, headers=roles["county"])
        assert r.status_code == 200, r.text
        clock.advance(days=9)
        assert (await h.do("township_review", roles["township"], approve=True, expect=409))[
            "code"
        ] == "notice_not_over"
        clock.advance(days=2)
        await h.do("township_review", roles["township"], approve=True)

    async def test_objection_blocks_until_resolved(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await new_household(registry, roles)
        await h.do("apply", roles["village"])
        await h.do("village_review", roles["village"], **REVIEW)
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        await h.do("start_notice", roles["village"], **PLACES)
        clock.advance(days=2)
        filed = await h.do("file_objection", roles["village"], reason="村民反映家有货车")
        card = await h.card(roles["village"])
        assert card["status"] == "objection_pending" and card["workflow_status"] == "first_notice"
        objection_id = card["workflow"][-1]["data"]["objection_id"]
        assert filed["status"] == "first_notice"
        clock.advance(days=7)
        assert (await h.do("township_review", roles["township"], approve=True, expect=409))[
            "code"
        ] == "objection_open"
        # Only the township resolves objections to the first notice, with a reason.
        assert await h.do(
            "resolve_objection",
            roles["county"],
            objection_id=objection_id,
            outcome="dismissed",
            reason="x",
            expect=403,
        )
        await h.do(
            "resolve_objection",
            roles["township"],
            objection_id=objection_id,
            outcome="dismissed",
            reason="核实: 货车为借用",
        )
        await h.do("township_review", roles["township"], approve=True)
        listed = (
            await registry.get("/households?status=objection_pending", headers=roles["village"])
        ).json()["items"]
        assert listed == []

    async def test_upheld_objection_rejects(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await new_household(registry, roles)
        for cmd, data in (("apply", {}), ("village_review", REVIEW)):
            await h.do(cmd, roles["village"], **data)
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        await h.do("start_notice", roles["village"], **PLACES)
        await h.do("file_objection", roles["village"], reason="家中有人是公职人员", objection_id="obj-1")
        await h.do(
            "resolve_objection", roles["township"], objection_id="obj-1", outcome="upheld", reason="核实属实"
        )
        assert (await h.card(roles["village"]))["status"] == "rejected"

    async def test_wrong_level_and_wrong_order_are_refused(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None, db_urls: dict[str, str]
    ) -> None:
        h = await new_household(registry, roles)
        assert (await h.do("village_review", roles["village"], **REVIEW, expect=409))["code"] == "wrong_state"
        await h.do("apply", roles["village"])
        assert (await h.do("village_review", roles["township"], **REVIEW, expect=403))[
            "code"
        ] == "wrong_level"
        await h.do("village_review", roles["village"], **REVIEW)
        # No notice before both co-signatures; the village cannot take the township's decision.
        assert (await h.do("start_notice", roles["village"], **PLACES, expect=409))[
            "code"
        ] == "cosign_required"
        await h.do("cosign", roles["village"], party="village_committee")
        await h.do("cosign", roles["team"], party="work_team")
        body = await h.do("start_notice", roles["village"], places=["administrative_village"], expect=422)
        assert body["code"] == "places_invalid"
        await h.do("start_notice", roles["village"], **PLACES)
        clock.advance(days=8)
        assert (await h.do("township_review", roles["village"], approve=True, expect=403))[
            "code"
        ] == "wrong_level"
        assert (await h.do("county_review", roles["county"], approve=True, expect=409))[
            "code"
        ] == "wrong_state"
        assert (await h.do("announce", roles["county"], expect=409))["code"] == "wrong_state"
        # A rejection needs a reason.
        assert (await h.do("township_review", roles["township"], approve=False, expect=422))[
            "code"
        ] == "reason_required"
        # Refusals wrote nothing: 5 events so far.
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            assert await conn.fetchval("SELECT count(*) FROM registry_workflow_event") == 5
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE registry_workflow_event SET reason = 'rewritten'")
        finally:
            await conn.close()
        # Commands need If-Match like every write, and out-of-scope officers do not see the household.
        r = await registry.post(
            f"/households/{h.id}/workflow/township_review", json={"data": {}}, headers=roles["township"]
        )
        assert_problem(r, 428)

    async def test_out_of_scope_officer_cannot_drive_the_workflow(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None, signing_key: SigningKey
    ) -> None:
        h = await new_household(registry, roles)
        other = auth(issue(signing_key, "village_officer", OTHER_VILLAGE))
        other_township = auth(issue(signing_key, "township_officer", "451025101000"))
        await h.do("apply", other, expect=404)
        await h.do("apply", roles["village"])
        await h.do("village_review", other_township, expect=404)
        province = auth(issue(signing_key, "province_system", "450000000000"))
        await h.do("village_review", province, expect=403)
        cadre = auth(issue(signing_key, "cadre", COUNTY))
        await h.do("village_review", cadre, expect=403)

    async def test_no_quota_no_review(self, registry: httpx.AsyncClient, roles: Roles, clock: Clock) -> None:
        h = await new_household(registry, roles)
        await h.do("apply", roles["village"])
        assert (await h.do("village_review", roles["village"], **REVIEW, expect=409))[
            "code"
        ] == "quota_missing"

    async def test_recusal_of_a_related_official(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        related = {"related_officials": [{"user_sub": "clerk-1", "name": "黄文书", "relation": "cousin"}]}
        h = await new_household(registry, roles, details=related)
        await h.do("apply", roles["village"])
        assert (await h.do("village_review", roles["village"], **REVIEW, expect=409))[
            "code"
        ] == "recusal_required"
        assert "related_to_official" in (await h.card(roles["village"]))["flags"]

    async def test_exit_guarded_by_the_exit_test_and_effective_by_year_end(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        clock.now = datetime(2015, 10, 8, 2, tzinfo=UTC)
        body = await h.do("propose_exit", roles["village"], **EXIT_SURVEY, expect=409)
        assert body["code"] == "income_missing"
        income = {
            "wage": "6000",
            "operating": "3000",
            "property": "0",
            "transfer": "0",
            "operating_expenses": "1000",
        }
        r = await registry.put(
            f"/households/{h.id}/incomes/2015",
            json=income,
            headers=roles["village"] | {"If-Match": f'"{h.version}"'},
        )
        h.version = r.json()["version"]
        # 8000 / 3 = 2666.67 < 2736: the exit test fails and says why.
        body = await h.do("propose_exit", roles["village"], **EXIT_SURVEY, expect=409)
        assert body["code"] == "exit_test_failed" and "per-capita net income below the line" in body["failed"]
        income["wage"] = "7000"
        r = await registry.put(
            f"/households/{h.id}/incomes/2015",
            json=income,
            headers=roles["village"] | {"If-Match": f'"{h.version}"'},
        )
        h.version = r.json()["version"]
        assert (
            await h.do(
                "propose_exit", roles["village"], **(EXIT_SURVEY | {"head_acknowledged": False}), expect=409
            )
        )["code"] == "exit_test_failed"
        await h.do("propose_exit", roles["village"], **EXIT_SURVEY)
        await h.do("start_notice", roles["village"], places=["administrative_village"])
        clock.advance(days=8)
        await h.do("township_review", roles["township"], approve=True)
        await h.do("start_notice", roles["township"], places=["administrative_village"])
        clock.now = datetime(2015, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on 31 December, China time
        await h.do("county_review", roles["county"], approve=True)
        await h.do("announce", roles["county"])
        card = await h.card(roles["village"])
        assert card["status"] == "exited" and card["exit_effective_year"] == 2015
        exit_event = next(e for e in card["workflow"] if e["command"] == "propose_exit")
        assert exit_event["data"]["exit_test"]["per_capita_net_income_yuan"] == 3000

    async def test_exit_reviewed_after_new_year_counts_next_year(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        clock.now = datetime(2015, 12, 1, 2, tzinfo=UTC)
        await exit_to_second_notice(registry, h, roles, clock)
        clock.now = datetime(2015, 12, 31, 16, 0, tzinfo=UTC)  # 00:00 on 1 January 2016, China time
        await h.do("county_review", roles["county"], approve=True)
        assert (await h.card(roles["village"]))["exit_effective_year"] == 2016

    async def test_return_to_poverty_needs_a_cause_and_the_whole_chain(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        clock.now = datetime(2015, 3, 1, 2, tzinfo=UTC)
        await exit_to_second_notice(registry, h, roles, clock)
        clock.advance(days=8)
        await h.do("county_review", roles["county"], approve=True)
        await h.do("announce", roles["county"])
        # Registered households cannot "return"; exited ones need a cause.
        clock.now = datetime(2016, 8, 1, 2, tzinfo=UTC)
        assert (await h.do("apply_return", roles["village"], expect=422))["code"] == "cause_required"
        for code, year, people in (
            (COUNTY, "county", 100),
            (TOWNSHIP, "county", 50),
            (VILLAGE, "township", 5),
        ):
            await registry.put(f"/regions/{code}/quotas/2016", json={"people": people}, headers=roles[year])
        # Issue #13 item 7: the latest income (2015: 3000 per head) is above the line 2736 — not eligible.
        body = await h.do("apply_return", roles["village"], cause="illness", reason="户主患大病", expect=409)
        assert body["code"] == "return_not_eligible" and body["per_capita_net_income_yuan"] == 3000
        # A new income survey under the line makes it eligible (6000 / 3 = 2000 per head).
        income = {
            "wage": "6000",
            "operating": "0",
            "property": "0",
            "transfer": "0",
            "operating_expenses": "0",
        }
        r = await registry.put(
            f"/households/{h.id}/incomes/2016",
            json=income,
            headers=roles["village"] | {"If-Match": f'"{h.version}"'},
        )
        assert r.status_code == 200, r.text
        h.version = r.json()["version"]
        await h.do("apply_return", roles["village"], cause="illness", reason="户主患大病")
        clock_before = clock.now
        await identify_from_review(h, roles, clock)
        card = await h.card(roles["village"])
        assert card["status"] == "registered" and card["returned"] is True and card["quota_year"] == 2016
        assert clock.now > clock_before
        listed = (await registry.get("/households?returned=true", headers=roles["county"])).json()["items"]
        assert [i["id"] for i in listed] == [h.id]

    async def test_removal_of_a_mis_identified_household(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        h = await registered(registry, roles, clock)
        assert (await h.do("remove", roles["township"], reason="x", expect=403))["code"] == "wrong_level"
        assert (await h.do("remove", roles["county"], expect=422))["code"] == "reason_required"
        await h.do("remove", roles["county"], reason="核查发现家有商品房, 识别不准清退")
        card = await h.card(roles["village"])
        assert card["status"] == "removed"
        r = await registry.patch(
            f"/households/{h.id}",
            json={"bank_name": "x"},
            headers=roles["village"] | {"If-Match": f'"{h.version}"'},
        )
        assert_problem(r, 409)


class TestQuotaOverride:
    async def test_invalid(self, registry: httpx.AsyncClient, roles: Roles, db_urls: dict[str, str]) -> None:
        h = await new_household(registry, roles)
        other = await new_household(registry, roles)
        url = f"/households/{h.id}/quota-override"
        body = assert_problem(
            await registry.post(url, json={"household_id": other.id, "reason": "x"}, headers=roles["county"]),
            422,
        )
        assert body["field"] == "/household_id"
        first = await registry.post(
            url, json={"household_id": h.id, "reason": "因灾"}, headers=roles["county"]
        )
        assert first.status_code == 201, first.text
        assert first.json()["household_id"] == h.id and first.json()["year"] == YEAR
        again = await registry.post(
            url, json={"household_id": h.id, "reason": "again"}, headers=roles["county"]
        )
        assert assert_problem(again, 409)["code"] == "override_exists"

    async def test_quota_limits_and_county_override(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, quotas: None
    ) -> None:
        first = await new_household(registry, roles, size=3)
        second = await new_household(registry, roles, size=3)  # 3 + 3 > the village's 5
        await first.do("apply", roles["village"])
        await first.do("village_review", roles["village"], **REVIEW)
        await second.do("apply", roles["village"])
        body = await second.do("village_review", roles["village"], **REVIEW, expect=409)
        assert body["code"] == "quota_exceeded" and (body["quota"], body["used"]) == (5, 3)
        # Only the county may override, and only with a reason.
        url = f"/households/{second.id}/quota-override"
        assert_problem(
            await registry.post(
                url, json={"household_id": second.id, "reason": "因灾"}, headers=roles["township"]
            ),
            403,
        )
        assert_problem(
            await registry.post(url, json={"household_id": second.id}, headers=roles["county"]), 422
        )
        r = await registry.post(
            url,
            json={"household_id": second.id, "reason": "2014年洪灾致贫, 县扶贫办批准"},
            headers=roles["county"],
        )
        assert r.status_code == 201, r.text
        await second.do("village_review", roles["village"], **REVIEW)
        card = await second.card(roles["village"])
        assert "quota_override" in card["flags"]
        quota = (await registry.get(f"/regions/{VILLAGE}/quotas/{YEAR}", headers=roles["village"])).json()
        assert quota["used"] == 6 and quota["people"] == 5


class TestWorkflowBatch:
    async def test_batch_moves_a_village_list_and_reports_each_item(
        self, registry: httpx.AsyncClient, roles: Roles, clock: Clock, signing_key: SigningKey
    ) -> None:
        for code, who, people in (
            (COUNTY, "county", 100),
            (TOWNSHIP, "county", 50),
            (VILLAGE, "township", 7),
        ):
            await registry.put(f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=roles[who])
        households = [await new_household(registry, roles, size=2) for _ in range(4)]
        for h in households:
            await h.do("apply", roles["village"])
        batch = await registry.post(
            "/households/workflow/village_review/batch",
            json={"items": [{"household_id": h.id} for h in households], "data": REVIEW},
            headers=roles["village"],
        )
        assert batch.status_code == 200, batch.text
        body = batch.json()
        # 2 + 2 + 2 fit in the quota of 7; the fourth household is refused on its own.
        assert (body["applied"], body["refused"]) == (3, 1)
        assert body["items"][3]["code"] == "quota_exceeded" and body["items"][3]["status_code"] == 409
        for party in ("village_committee", "work_team"):
            r = await registry.post(
                f"/households/workflow/cosign/region-batch?region={VILLAGE}&from_status=village_reviewed",
                json={"data": {"party": party}},
                headers=roles["team" if party == "work_team" else "village"],
            )
            assert r.json()["applied"] == 3, r.text
        r = await registry.post(
            f"/households/workflow/start_notice/region-batch?region={VILLAGE}&from_status=village_reviewed",
            json={"data": PLACES},
            headers=roles["village"],
        )
        assert r.json()["applied"] == 3
        # A stale version in an item refuses that item only.
        clock.advance(days=8)
        cards = [await h.card(roles["village"]) for h in households[:3]]
        items = [{"household_id": c["id"], "version": c["version"]} for c in cards]
        items[0]["version"] = 1
        r = await registry.post(
            "/households/workflow/township_review/batch",
            json={"items": items, "data": {"approve": True}},
            headers=roles["township"],
        )
        out = r.json()
        assert (out["applied"], out["refused"]) == (2, 1) and out["items"][0]["status_code"] == 412
        # Batches are for village and township list steps only; apply is per household.
        r = await registry.post(
            "/households/workflow/apply/batch",
            json={"items": [{"household_id": households[3].id}]},
            headers=roles["village"],
        )
        assert_problem(r, 422)
        # Batch items share one batch_id in the history.
        card = await households[1].card(roles["village"])
        assert card["workflow"][-1]["batch_id"] == out["batch_id"]

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/households/workflow/cosign/batch", json={"items": []}), 401)

    async def test_wrong_role(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        province = auth(issue(signing_key, "province_system", "450000000000"))
        body = {"items": [{"household_id": "00000000-0000-0000-0000-000000000001"}], "data": {}}
        assert_problem(
            await registry.post("/households/workflow/cosign/batch", json=body, headers=province), 403
        )
        assert_problem(
            await registry.post(
                f"/households/workflow/cosign/region-batch?region={VILLAGE}&from_status=applied",
                json={"data": {}},
                headers=province,
            ),
            403,
        )

    async def test_invalid(self, registry: httpx.AsyncClient, roles: Roles) -> None:
        bodies: tuple[dict[str, Any], ...] = (
            {"items": []},
            {"items": [{"household_id": "nope"}]},
            {"items": [{"household_id": None}]},
        )
        for body in bodies:
            assert_problem(
                await registry.post("/households/workflow/cosign/batch", json=body, headers=roles["village"]),
                422,
            )
        assert_problem(
            await registry.post(
                "/households/workflow/sing/batch", json={"items": []}, headers=roles["village"]
            ),
            422,
        )

"""Issue #13 item 17: the public notice as villagers see it (§2.9) — JSON and the printable page. One class per
route: in scope, out of scope (404 like missing), and what the board never shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
REVIEW: dict[str, Any] = {
    "minutes_ref": "2014-05 村民代表大会记录",
    "attendees": 40,
    "votes_for": 31,
    "approved": True,
}
BOTH_PLACES: dict[str, Any] = {"places": ["administrative_village", "natural_village"]}
POSTED = datetime(2014, 5, 5, 2, tzinfo=UTC)  # 10:00 on 5 May in China


@pytest.fixture
def roles(signing_key: SigningKey) -> dict[str, Headers]:
    return {
        "village": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "other_village": auth(issue(signing_key, "village_officer", OTHER_VILLAGE, sub="clerk-2")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "county": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
        "province": auth(issue(signing_key, "province_system", "450000000000", sub="province")),
    }


@pytest.fixture
async def posted(
    registry: httpx.AsyncClient, registry_app: FastAPI, roles: dict[str, Headers], signing_key: SigningKey
) -> dict[str, Any]:
    """Two households of 旧州村: one on its first notice (posted at 10:00 on 5 May 2014), one only applied."""
    registry_app.state.clock = lambda: POSTED
    for code, who, people in ((COUNTY, "county", 100), (TOWNSHIP, "county", 50), (VILLAGE, "township", 10)):
        response = await registry.put(
            f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=roles[who]
        )
        assert response.status_code == 200, response.text
    bodies = [household_payload(VILLAGE, size=3), household_payload(VILLAGE, size=2)]
    ids = []
    for body in bodies:
        created = await registry.post("/households", json=body, headers=roles["village"])
        assert created.status_code == 201, created.text
        ids.append((created.json()["id"], created.json()["version"]))
    (hid, version), (applied_only, applied_version) = ids
    # Issue #13: the reference year's income under the line, and a work-team member who co-signs for the team.
    version = await record_income(registry, roles["village"], hid, version)
    team = await work_team_login(registry, signing_key)
    steps = [("apply", {}), ("village_review", REVIEW), ("cosign", {"party": "village_committee"})]
    steps += [("cosign", {"party": "work_team"}), ("start_notice", BOTH_PLACES)]
    for command, data in steps:
        response = await registry.post(
            f"/households/{hid}/workflow/{command}",
            json={"data": data},
            headers=(team if data.get("party") == "work_team" else roles["village"])
            | {"If-Match": f'"{version}"'},
        )
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    response = await registry.post(
        f"/households/{applied_only}/workflow/apply",
        json={"data": {}},
        headers=roles["village"] | {"If-Match": f'"{applied_version}"'},
    )
    assert response.status_code == 200, response.text
    return {
        "id": hid,
        "version": version,
        "head_id": bodies[0]["members"][0]["resident_id_number"],
        "body": bodies[0],
    }


class TestGetNoticeBoard:
    async def test_valid(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], posted: dict[str, Any]
    ) -> None:
        response = await registry.get(f"/villages/{VILLAGE}/notices", headers=roles["village"])
        assert response.status_code == 200, response.text
        board = response.json()
        assert board["village_name"] == "旧州村"
        [group] = board["notices"]
        assert (group["stage"], group["heading"]) == ("first_notice", "旧州村拟识别贫困户第一次公示")
        [entry] = group["households"]  # the household that only applied is not on the board
        head_id = posted["head_id"]
        assert entry["household_id"] == posted["id"]
        assert entry["head_name"] == "黄志强" and entry["household_size"] == 3
        assert entry["head_id_number_masked"] == head_id[:6] + "*" * 8 + head_id[-4:]
        assert (entry["natural_village"], entry["poverty_cause"], entry["poverty_cause_label"]) == (
            "那坡屯",
            "illness",
            "因病",
        )
        assert entry["places"] == BOTH_PLACES["places"]
        assert entry["posted_at"] == "2014-05-05T02:00:00Z"
        assert entry["closes_at"] == "2014-05-12T16:00:00Z"  # 00:00 on 13 May in China: 7 full days
        assert entry["objection_pending"] is False
        # Never the full ID number, a phone, a bank account, an income.
        for secret in (head_id, posted["body"]["contact_phone"], "6228", "per_capita"):
            assert secret not in response.text

    async def test_every_role_of_the_region_reads_it(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], posted: dict[str, Any]
    ) -> None:
        for who in ("township", "county", "province"):
            response = await registry.get(f"/villages/{VILLAGE}/notices", headers=roles[who])
            assert response.status_code == 200 and len(response.json()["notices"]) == 1, who

    async def test_an_objection_shows_as_pending(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], posted: dict[str, Any]
    ) -> None:
        response = await registry.post(
            f"/households/{posted['id']}/workflow/file_objection",
            json={"data": {"objection_id": "obj-1"}, "reason": "村民反映该户有营运车辆"},
            headers=roles["village"] | {"If-Match": f'"{posted["version"]}"'},
        )
        assert response.status_code == 200, response.text
        board = (await registry.get(f"/villages/{VILLAGE}/notices", headers=roles["village"])).json()
        assert board["notices"][0]["households"][0]["objection_pending"] is True

    async def test_out_of_scope_is_missing(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], posted: dict[str, Any]
    ) -> None:
        assert_problem(
            await registry.get(f"/villages/{VILLAGE}/notices", headers=roles["other_village"]), 404
        )
        assert_problem(await registry.get("/villages/451025100299/notices", headers=roles["county"]), 404)
        assert_problem(await registry.get(f"/villages/{TOWNSHIP}/notices", headers=roles["county"]), 404)

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/villages/{VILLAGE}/notices"), 401)

    async def test_an_empty_board(self, registry: httpx.AsyncClient, roles: dict[str, Headers]) -> None:
        board = (await registry.get(f"/villages/{OTHER_VILLAGE}/notices", headers=roles["county"])).json()
        assert board["notices"] == [] and board["village_code"] == OTHER_VILLAGE


class TestPrintNoticeBoard:
    async def test_valid(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], posted: dict[str, Any]
    ) -> None:
        response = await registry.get(f"/villages/{VILLAGE}/notices/print", headers=roles["village"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        page = response.text
        head_id = posted["head_id"]
        assert "旧州村拟识别贫困户第一次公示" in page and "黄志强" in page and "那坡屯" in page
        assert head_id[:6] + "*" * 8 + head_id[-4:] in page and head_id not in page
        assert "2014年05月13日 00:00" in page  # the close, in China time
        assert "@page" in page  # print styles

    async def test_out_of_scope_is_missing(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers], posted: dict[str, Any]
    ) -> None:
        assert_problem(
            await registry.get(f"/villages/{VILLAGE}/notices/print", headers=roles["other_village"]), 404
        )

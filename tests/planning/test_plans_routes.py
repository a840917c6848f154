"""Village plan routes (DOMAIN.md §5.1, §5.3, §5.4): drafting, editing while draft, the approval chain with the
villager representatives' assembly, returns, amendments and versions, actuals and progress, the exit checklist
(一低七有); one class per route (anonymous 401, another region 404, a role that may not act 403, bad input 422,
valid 2xx), against real PostgreSQL with the registry reached over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    OTHER_TOWNSHIP,
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
    sql,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

PLANS = f"/villages/{VILLAGE}/plans"
ASSEMBLY = {
    "held_on": "2015-03-20",
    "representatives": 45,
    "present": 38,
    "votes_for": 35,
    "votes_against": 2,
    "votes_abstaining": 1,
    "minutes_ref": "渠洋村村民代表会议记录 2015-03",
    "poor_household_representatives": 9,
}


@dataclass
class People:
    """Who acts in the tests: the village, its township and county, and callers elsewhere or without a say."""

    clerk: Headers
    township: Headers
    admin: Headers
    stranger: Headers  # a village officer of another village
    other_township: Headers
    other_admin: Headers  # a county admin of another county
    cadre: Headers
    province: Headers


@pytest.fixture
def who(signing_key: SigningKey) -> People:
    def h(role: str, region: str, sub: str) -> Headers:
        return headers_for(signing_key, role, region, sub)

    return People(
        clerk=h("village_officer", VILLAGE, "clerk-1"),
        township=h("township_officer", TOWNSHIP, "township-1"),
        admin=h("county_admin", COUNTY, "county-1"),
        stranger=h("village_officer", OTHER_VILLAGE, "clerk-2"),
        other_township=h("township_officer", OTHER_TOWNSHIP, "township-2"),
        other_admin=h("county_admin", OTHER_COUNTY, "county-2"),
        cadre=h("cadre", COUNTY, "cadre-1"),
        province=h("province_system", "450000000000", "province"),
    )


def target(
    code: str, unit: str, direction: str, baseline: str, goal: str, *, years: tuple[int, int] = (2014, 2016)
) -> dict[str, Any]:
    return {
        "indicator_code": code,
        "unit": unit,
        "direction": direction,
        "baseline": {"value": baseline, "year": years[0]},
        "target": {"value": goal, "year": years[1]},
    }


def plan_body(**extra: Any) -> dict[str, Any]:
    """F5's exit plan (seed 001#13, 一低七有): incidence 19.9 % → below 4 %, collective income 8,000 yuan, a clinic."""
    body: dict[str, Any] = {
        "plan_type": "exit",
        "title": "渠洋村“一低七有”脱贫规划",
        "summary": "14个组合并为4个社; 通村道路、安全饮水、村卫生室",
        "start_year": 2015,
        "end_year": 2016,
        "targets": [
            target("poverty_incidence", "percent", "decrease", "19.9", "3.9"),
            target("collective_income", "yuan", "increase", "0", "8000"),
            target("village_clinic", "bool", "increase", "0", "1"),
            target("village_road_connected", "bool", "increase", "0", "1"),
        ],
    }
    body.update(extra)
    return body


async def create_plan(planning: httpx.AsyncClient, who: People, **extra: Any) -> dict[str, Any]:
    response = await planning.post(PLANS, json=plan_body(**extra), headers=who.clerk)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


#: The chain a plan walks, in order: (status it reaches, the route, the body, who acts).
CHAIN: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    ("village_approved", "assembly", ASSEMBLY, "clerk"),
    ("township_reviewed", "township-review", {"opinion": "同意上报"}, "township"),
    ("county_approved", "county-approval", {"document_number": "靖扶发[2015]7号"}, "admin"),
    ("active", "activation", {}, "admin"),
    ("closed", "closure", {"reason": "规划期满"}, "admin"),
)


async def advance(planning: httpx.AsyncClient, who: People, plan_id: str, to: str) -> dict[str, Any]:
    """Walk a plan along the chain until it is `to`; the plan as it is then."""
    plan: dict[str, Any] = {}
    for status, route, body, actor in CHAIN:
        response = await planning.post(f"/plans/{plan_id}/{route}", json=body, headers=getattr(who, actor))
        assert response.status_code == 200, response.text
        plan = response.json()
        # An approved amendment of an active plan is active at once.
        assert plan["status"] == status or (status, plan["status"]) == ("county_approved", "active")
        if status == to:
            return plan
    raise AssertionError(to)


async def plan_at(planning: httpx.AsyncClient, who: People, status: str) -> dict[str, Any]:
    plan = await create_plan(planning, who)
    return plan if status == "draft" else await advance(planning, who, plan["id"], status)


class TestCreateVillagePlan:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.post(PLANS, json=plan_body()), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        assert_problem(await planning.post(PLANS, json=plan_body(), headers=who.stranger), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        for caller in (who.township, who.admin, who.cadre):
            body = assert_problem(await planning.post(PLANS, json=plan_body(), headers=caller), 403)
        assert body["code"] == "plan_drafter_required"
        assert_problem(await planning.post(PLANS, json=plan_body(), headers=who.province), 403)

    @pytest.mark.parametrize(
        ("change", "code", "pointer"),
        [
            ({"targets": [target("poverty_incidence", "percent", "decrease", "19.9", "120")]}, "value_out_of_range", "/targets/0/target/value"),
            ({"targets": [target("poverty_incidence", "people", "decrease", "270", "50")]}, "unit_mismatch", "/targets/0/unit"),
            ({"targets": [target("poverty_incidence", "percent", "increase", "3", "19")]}, "direction_mismatch", "/targets/0/direction"),
            ({"targets": [target("no_such_indicator", "percent", "decrease", "3", "1")]}, "indicator_unknown", "/targets/0/indicator_code"),
            ({"targets": [target("collective_income", "yuan", "increase", "0", "8000.001")]}, "value_out_of_range", "/targets/0/target/value"),
            ({"targets": [target("village_clinic", "bool", "increase", "0", "1", years=(2017, 2016))]}, "baseline_after_target", "/targets/0/baseline/year"),
            ({"targets": [target("village_clinic", "bool", "increase", "0", "1", years=(2014, 2018))]}, "target_outside_horizon", "/targets/0/target/year"),
            ({"start_year": 2017}, "horizon_reversed", "/end_year"),
            ({"plan_type": "annual"}, "annual_plan_one_year", "/end_year"),
        ],
    )  # fmt: skip
    async def test_invalid(
        self, planning: httpx.AsyncClient, who: People, change: dict[str, Any], code: str, pointer: str
    ) -> None:
        body = assert_problem(await planning.post(PLANS, json=plan_body(**change), headers=who.clerk), 422)
        assert (body["code"], body["pointer"]) == (code, pointer)
        assert (await planning.get(PLANS, headers=who.clerk)).json()["items"] == []  # nothing written

    @pytest.mark.parametrize(
        "change",
        [
            {"plan_type": "five_year"},
            {"title": ""},
            {"start_year": 1999},
            {"targets": [{"indicator_code": "x"}]},
        ],
    )
    async def test_malformed(self, planning: httpx.AsyncClient, who: People, change: dict[str, Any]) -> None:
        assert_problem(await planning.post(PLANS, json=plan_body(**change), headers=who.clerk), 422)

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        response = await planning.post(PLANS, json=plan_body(), headers=who.clerk)
        assert response.status_code == 201, response.text
        plan = response.json()
        assert response.headers["location"] == f"/plans/{plan['id']}" and response.headers["etag"] == '"1"'
        assert (plan["status"], plan["version"], plan["lineage_id"], plan["supersedes"]) == (
            "draft",
            1,
            plan["id"],
            None,
        )
        assert (plan["village_code"], plan["plan_type"], plan["start_year"], plan["end_year"]) == (
            VILLAGE,
            "exit",
            2015,
            2016,
        )
        incidence = next(t for t in plan["targets"] if t["indicator_code"] == "poverty_incidence")
        assert incidence["label_zh"] == "贫困发生率" and incidence["baseline"] == {
            "value": "19.9",
            "year": 2014,
        }
        assert (
            incidence["progress"] == {"state": "no_data", "percent": None}
            and incidence["latest_actual"] is None
        )
        assert [(e["step"], e["status_after"], e["actor"]) for e in plan["history"]] == [
            ("drafted", "draft", "clerk-1")
        ]

    async def test_a_county_indicator(
        self, planning: httpx.AsyncClient, who: People, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        """A county's own indicator is the county's: its villages target it, another county's cannot."""
        own = {"code": "mushroom_households", "label_zh": "食用菌种植户", "label_en": "Mushroom households", "unit": "households", "direction": "increase"}  # fmt: skip
        assert (await planning.post("/indicators", json=own, headers=who.admin)).status_code == 201
        body = plan_body(targets=[target("mushroom_households", "households", "increase", "0", "40")])
        assert (await planning.post(PLANS, json=body, headers=who.clerk)).status_code == 201
        await sql(
            db_urls,
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES"
            " ($1, '德保县', 'county', '451000000000'), ($2, '城关镇', 'township', $1), ($3, '那甲村', 'village', $2)",
            OTHER_COUNTY,
            OTHER_COUNTY_TOWNSHIP,
            OTHER_COUNTY_VILLAGE,
        )
        elsewhere = headers_for(signing_key, "village_officer", OTHER_COUNTY_VILLAGE)
        refused = await planning.post(f"/villages/{OTHER_COUNTY_VILLAGE}/plans", json=body, headers=elsewhere)
        assert assert_problem(refused, 422)["code"] == "indicator_unknown"

    async def test_unknown_village(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = headers_for(signing_key, "village_officer", "451025100299")
        assert_problem(
            await planning.post("/villages/451025100299/plans", json=plan_body(), headers=clerk), 404
        )

    async def test_registry_down(self, planning_registry_down: httpx.AsyncClient, who: People) -> None:
        response = await planning_registry_down.post(PLANS, json=plan_body(), headers=who.clerk)
        assert assert_problem(response, 503)["code"] == "registry_unavailable"


class TestListVillagePlans:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(PLANS), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        await create_plan(planning, who)
        assert_problem(await planning.get(PLANS, headers=who.stranger), 404)
        assert_problem(await planning.get(PLANS, headers=who.other_admin), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        assert (
            assert_problem(await planning.get(PLANS, headers=who.cadre), 403)["code"]
            == "plan_reader_required"
        )

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        assert_problem(await planning.get(PLANS, params={"limit": 0}, headers=who.clerk), 422)
        assert_problem(await planning.get(PLANS, params={"status": "done"}, headers=who.clerk), 422)
        assert_problem(await planning.get(PLANS, params={"cursor": "nonsense"}, headers=who.clerk), 400)
        assert_problem(await planning.get(f"/villages/{TOWNSHIP}/plans", headers=who.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        first = await create_plan(planning, who)
        second = await create_plan(
            planning, who, plan_type="annual", start_year=2016, end_year=2016, targets=[]
        )
        page = (await planning.get(PLANS, params={"limit": 1}, headers=who.township)).json()
        assert [p["id"] for p in page["items"]] == [first["id"]] and page["next_cursor"]
        rest = await planning.get(
            PLANS, params={"limit": 1, "cursor": page["next_cursor"]}, headers=who.province
        )
        assert [p["id"] for p in rest.json()["items"]] == [second["id"]] and rest.json()[
            "next_cursor"
        ] is None
        annual = await planning.get(
            PLANS, params={"plan_type": "annual", "status": "draft"}, headers=who.admin
        )
        assert [p["title"] for p in annual.json()["items"]] == [second["title"]]


class TestGetPlan:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        for caller in (who.stranger, who.other_township, who.other_admin):
            assert_problem(await planning.get(f"/plans/{plan['id']}", headers=caller), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}", headers=who.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        body = assert_problem(await planning.get("/plans/not-a-uuid", headers=who.clerk), 422)
        assert body["errors"][0]["parameter"] == "plan_id"

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        response = await planning.get(f"/plans/{plan['id']}", headers=who.province)
        assert response.status_code == 200 and response.json() == plan
        tag = response.headers["etag"]
        assert tag == '"1"'
        again = await planning.get(f"/plans/{plan['id']}", headers={**who.township, "If-None-Match": tag})
        assert again.status_code == 304
        assert_problem(
            await planning.get("/plans/00000000-0000-4000-8000-000000000000", headers=who.clerk), 404
        )


class TestUpdatePlan:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(
            await planning.patch(f"/plans/{plan['id']}", json={"title": "x"}, headers={"If-Match": '"1"'}),
            401,
        )

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        response = await planning.patch(
            f"/plans/{plan['id']}", json={"title": "x"}, headers={**who.stranger, "If-Match": '"1"'}
        )
        assert_problem(response, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        response = await planning.patch(
            f"/plans/{plan['id']}", json={"title": "x"}, headers={**who.township, "If-Match": '"1"'}
        )
        assert_problem(response, 403)

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        url = f"/plans/{plan['id']}"
        assert_problem(await planning.patch(url, json={"title": "x"}, headers=who.clerk), 428)
        bad = {"targets": [target("poverty_incidence", "percent", "decrease", "19.9", "-1")]}
        body = assert_problem(
            await planning.patch(url, json=bad, headers={**who.clerk, "If-Match": '"1"'}), 422
        )
        assert body["code"] == "value_out_of_range"
        shrunk = await planning.patch(url, json={"end_year": 2015}, headers={**who.clerk, "If-Match": '"1"'})
        assert (
            assert_problem(shrunk, 422)["code"] == "target_outside_horizon"
        )  # the targets of 2016 no longer fit
        assert (await planning.get(url, headers=who.clerk)).json() == plan  # nothing changed

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        url = f"/plans/{plan['id']}"
        change = {
            "title": "渠洋村脱贫规划(修改稿)",
            "summary": None,
            "targets": [target("village_clinic", "bool", "increase", "0", "1")],
        }
        response = await planning.patch(url, json=change, headers={**who.clerk, "If-Match": '"1"'})
        assert response.status_code == 200, response.text
        edited = response.json()
        assert response.headers["etag"] == '"2"' and edited["row_version"] == 2
        assert (edited["title"], edited["summary"]) == (change["title"], None)
        assert [t["indicator_code"] for t in edited["targets"]] == ["village_clinic"]
        assert_problem(
            await planning.patch(url, json={"title": "y"}, headers={**who.clerk, "If-Match": '"1"'}), 412
        )

    async def test_an_approved_plan_is_never_edited(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "county_approved")
        tag = f'"{plan["row_version"]}"'
        response = await planning.patch(
            f"/plans/{plan['id']}", json={"title": "x"}, headers={**who.clerk, "If-Match": tag}
        )
        assert assert_problem(response, 409)["code"] == "plan_not_draft"


class TestListPlanVersions:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/versions"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/versions", headers=who.stranger), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/versions", headers=who.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(
            await planning.get(f"/plans/{plan['id']}/versions", params={"limit": 501}, headers=who.clerk), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        amendment = await planning.post(
            f"/plans/{plan['id']}/amendments", json={"reason": "增加饮水项目"}, headers=who.clerk
        )
        assert amendment.status_code == 201, amendment.text
        page = (
            await planning.get(
                f"/plans/{amendment.json()['id']}/versions", params={"limit": 1}, headers=who.township
            )
        ).json()
        assert [(p["version"], p["status"]) for p in page["items"]] == [(1, "active")]
        rest = await planning.get(
            f"/plans/{plan['id']}/versions", params={"cursor": page["next_cursor"]}, headers=who.township
        )
        assert [(p["version"], p["status"], p["supersedes"]) for p in rest.json()["items"]] == [
            (2, "draft", plan["id"])
        ]


class TestCreatePlanAmendment:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.post(f"/plans/{plan['id']}/amendments", json={"reason": "x"}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(
            await planning.post(
                f"/plans/{plan['id']}/amendments", json={"reason": "x"}, headers=who.stranger
            ),
            404,
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/amendments", json={"reason": "x"}, headers=who.admin),
            403,
        )

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        url = f"/plans/{plan['id']}/amendments"
        assert_problem(await planning.post(url, json={}, headers=who.clerk), 422)
        bad = {"reason": "x", "end_year": 2014}
        assert (
            assert_problem(await planning.post(url, json=bad, headers=who.clerk), 422)["code"]
            == "horizon_reversed"
        )

    async def test_only_an_approved_plan_is_amended(self, planning: httpx.AsyncClient, who: People) -> None:
        draft = await create_plan(planning, who)
        refused = await planning.post(
            f"/plans/{draft['id']}/amendments", json={"reason": "x"}, headers=who.clerk
        )
        assert assert_problem(refused, 409)["code"] == "plan_not_in_force"

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        """The amendment goes through the same chain; its approval supersedes the old version, still readable."""
        old = await plan_at(planning, who, "active")
        change = {
            "reason": "增加安全饮水目标",
            "targets": [
                *plan_body()["targets"],
                target("safe_drinking_water_rate", "percent", "increase", "60", "100"),
            ],
        }
        response = await planning.post(f"/plans/{old['id']}/amendments", json=change, headers=who.clerk)
        assert response.status_code == 201, response.text
        new = response.json()
        assert response.headers["location"] == f"/plans/{new['id']}"
        assert (new["version"], new["status"], new["lineage_id"], new["supersedes"]) == (
            2,
            "draft",
            old["lineage_id"],
            old["id"],
        )
        assert new["title"] == old["title"] and len(new["targets"]) == 5
        assert new["history"][0]["step"] == "amended" and new["history"][0]["amends"] == old["id"]
        assert new["history"][0]["reason"] == "增加安全饮水目标"
        again = await planning.post(f"/plans/{old['id']}/amendments", json={"reason": "y"}, headers=who.clerk)
        assert assert_problem(again, 409)["code"] == "amendment_open"
        approved = await advance(planning, who, new["id"], "county_approved")
        assert approved["status"] == "active"  # it amends an active plan: in force at once
        retired = (await planning.get(f"/plans/{old['id']}", headers=who.clerk)).json()
        assert retired["status"] == "superseded"
        assert (
            retired["history"][-1]["step"] == "supersession"
            and retired["history"][-1]["superseded_by"] == new["id"]
        )
        assert len(retired["targets"]) == 4  # the old version stays as it was
        superseded = await planning.post(
            f"/plans/{old['id']}/amendments", json={"reason": "z"}, headers=who.clerk
        )
        assert assert_problem(superseded, 409)["code"] == "plan_not_in_force"


class TestRecordPlanAssembly:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.post(f"/plans/{plan['id']}/assembly", json=ASSEMBLY), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/assembly", json=ASSEMBLY, headers=who.stranger), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        for caller in (who.township, who.admin):
            body = assert_problem(
                await planning.post(f"/plans/{plan['id']}/assembly", json=ASSEMBLY, headers=caller), 403
            )
            assert body["code"] == "wrong_level"
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/assembly", json=ASSEMBLY, headers=who.province), 403
        )

    @pytest.mark.parametrize(
        ("change", "status", "code"),
        [
            ({"votes_for": 40}, 422, "assembly_invalid"),  # 40 + 2 + 1 votes, 38 present
            ({"present": 50}, 422, "assembly_invalid"),
            ({"held_on": "2099-01-01"}, 422, "assembly_in_future"),
            (
                {"present": 29, "votes_for": 27, "votes_against": 0, "votes_abstaining": 0},
                409,
                "assembly_quorum_not_met",
            ),  # 29 of 45 < two thirds
            ({"votes_for": 19, "votes_against": 19, "votes_abstaining": 0}, 409, "assembly_not_passed"),
        ],
    )
    async def test_invalid(
        self, planning: httpx.AsyncClient, who: People, change: dict[str, Any], status: int, code: str
    ) -> None:
        plan = await create_plan(planning, who)
        response = await planning.post(
            f"/plans/{plan['id']}/assembly", json={**ASSEMBLY, **change}, headers=who.clerk
        )
        assert assert_problem(response, status)["code"] == code
        assert (await planning.get(f"/plans/{plan['id']}", headers=who.clerk)).json()["status"] == "draft"

    async def test_malformed(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(
            await planning.post(
                f"/plans/{plan['id']}/assembly", json={**ASSEMBLY, "present": -1}, headers=who.clerk
            ),
            422,
        )

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        response = await planning.post(f"/plans/{plan['id']}/assembly", json=ASSEMBLY, headers=who.clerk)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"2"'
        passed = response.json()
        assert passed["status"] == "village_approved"
        event = passed["history"][-1]
        assert (event["step"], event["role"]) == ("assembly", "village_officer")
        assert event["assembly"] == {**ASSEMBLY, "held_on": "2015-03-20"}
        twice = await planning.post(f"/plans/{plan['id']}/assembly", json=ASSEMBLY, headers=who.clerk)
        assert assert_problem(twice, 409)["code"] == "step_out_of_order"


class TestReviewPlanByTownship:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        assert_problem(await planning.post(f"/plans/{plan['id']}/township-review", json={}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/township-review", json={}, headers=who.other_township),
            404,
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        for caller in (who.clerk, who.admin):  # the county does not review for the township
            body = assert_problem(
                await planning.post(f"/plans/{plan['id']}/township-review", json={}, headers=caller), 403
            )
            assert body["code"] == "wrong_level"

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        response = await planning.post(
            f"/plans/{plan['id']}/township-review", json={"opinion": "x" * 1001}, headers=who.township
        )
        assert_problem(response, 422)

    async def test_out_of_order(self, planning: httpx.AsyncClient, who: People) -> None:
        draft = await create_plan(planning, who)
        response = await planning.post(f"/plans/{draft['id']}/township-review", json={}, headers=who.township)
        body = assert_problem(response, 409)
        assert (body["code"], body["plan_status"], body["expected"]) == (
            "step_out_of_order",
            "draft",
            ["village_approved"],
        )

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        response = await planning.post(
            f"/plans/{plan['id']}/township-review", json={"opinion": "同意上报"}, headers=who.township
        )
        assert response.status_code == 200, response.text
        event = response.json()["history"][-1]
        assert (response.json()["status"], event["opinion"], event["actor"]) == (
            "township_reviewed",
            "同意上报",
            "township-1",
        )


class TestApprovePlanByCounty:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "township_reviewed")
        assert_problem(await planning.post(f"/plans/{plan['id']}/county-approval", json={}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "township_reviewed")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/county-approval", json={}, headers=who.other_admin), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "township_reviewed")
        body = assert_problem(
            await planning.post(f"/plans/{plan['id']}/county-approval", json={}, headers=who.township), 403
        )
        assert body["code"] == "wrong_level"

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "township_reviewed")
        response = await planning.post(
            f"/plans/{plan['id']}/county-approval", json={"document_number": "x" * 101}, headers=who.admin
        )
        assert_problem(response, 422)

    async def test_no_level_is_skipped(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        response = await planning.post(f"/plans/{plan['id']}/county-approval", json={}, headers=who.admin)
        assert assert_problem(response, 409)["code"] == "step_out_of_order"

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "township_reviewed")
        body = {"document_number": "靖扶发[2015]7号", "opinion": "同意"}
        response = await planning.post(f"/plans/{plan['id']}/county-approval", json=body, headers=who.admin)
        assert response.status_code == 200, response.text
        approved = response.json()
        assert approved["status"] == "county_approved"
        assert approved["history"][-1]["document_number"] == "靖扶发[2015]7号"


class TestActivatePlan:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "county_approved")
        assert_problem(await planning.post(f"/plans/{plan['id']}/activation", json={}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "county_approved")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/activation", json={}, headers=who.other_admin), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "county_approved")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/activation", json={}, headers=who.clerk), 403
        )

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "county_approved")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/activation", json={"start": 1}, headers=who.admin), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "county_approved")
        response = await planning.post(
            f"/plans/{plan['id']}/activation", json={"note": "2015年4月启动"}, headers=who.admin
        )
        assert response.status_code == 200 and response.json()["status"] == "active"
        assert response.json()["history"][-1]["note"] == "2015年4月启动"


class TestClosePlan:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(await planning.post(f"/plans/{plan['id']}/closure", json={}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/closure", json={}, headers=who.other_admin), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/closure", json={}, headers=who.township), 403
        )

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/closure", json={"reason": 5}, headers=who.admin), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        response = await planning.post(
            f"/plans/{plan['id']}/closure", json={"reason": "规划期满"}, headers=who.admin
        )
        assert response.status_code == 200 and response.json()["status"] == "closed"
        assert response.json()["history"][-1]["reason"] == "规划期满"
        again = await planning.post(f"/plans/{plan['id']}/closure", json={}, headers=who.admin)
        assert assert_problem(again, 409)["code"] == "step_out_of_order"


class TestReturnPlan:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        assert_problem(await planning.post(f"/plans/{plan['id']}/return", json={"reason": "x"}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        response = await planning.post(
            f"/plans/{plan['id']}/return", json={"reason": "x"}, headers=who.other_township
        )
        assert_problem(response, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        response = await planning.post(f"/plans/{plan['id']}/return", json={"reason": "x"}, headers=who.admin)
        assert assert_problem(response, 403)["code"] == "wrong_level"  # it waits for the township

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "village_approved")
        assert_problem(
            await planning.post(f"/plans/{plan['id']}/return", json={"reason": ""}, headers=who.township), 422
        )
        assert_problem(await planning.post(f"/plans/{plan['id']}/return", json={}, headers=who.township), 422)

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "township_reviewed")
        response = await planning.post(
            f"/plans/{plan['id']}/return", json={"reason": "集体经济收入目标偏低"}, headers=who.admin
        )
        assert response.status_code == 200, response.text
        returned = response.json()
        assert returned["status"] == "draft"
        assert (returned["history"][-1]["step"], returned["history"][-1]["reason"]) == (
            "return",
            "集体经济收入目标偏低",
        )
        tag = f'"{returned["row_version"]}"'
        edited = await planning.patch(
            f"/plans/{plan['id']}", json={"title": "修改稿"}, headers={**who.clerk, "If-Match": tag}
        )
        assert edited.status_code == 200  # a draft again: the village edits it
        old_assembly = await planning.post(
            f"/plans/{plan['id']}/assembly", json={**ASSEMBLY, "held_on": "2015-03-20"}, headers=who.clerk
        )
        assert assert_problem(old_assembly, 422)["code"] == "assembly_before_return"
        nothing = await planning.post(
            f"/plans/{plan['id']}/return", json={"reason": "x"}, headers=who.township
        )
        assert assert_problem(nothing, 409)["code"] == "step_out_of_order"


ACTUALS = {
    "values": [
        {"indicator_code": "poverty_incidence", "value": "11.9", "source": "2015年底建档立卡数据"},
        {"indicator_code": "village_clinic", "value": "1"},
    ]
}


class TestSetPlanActuals:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(await planning.put(f"/plans/{plan['id']}/actuals/2015", json=ACTUALS), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert_problem(
            await planning.put(f"/plans/{plan['id']}/actuals/2015", json=ACTUALS, headers=who.stranger), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        response = await planning.put(f"/plans/{plan['id']}/actuals/2015", json=ACTUALS, headers=who.township)
        assert assert_problem(response, 403)["code"] == "actual_recorder_required"

    @pytest.mark.parametrize(
        ("year", "values", "code"),
        [
            (2015, [{"indicator_code": "poverty_incidence", "value": "120"}], "value_out_of_range"),
            (2015, [{"indicator_code": "village_clinic", "value": "0.5"}], "value_out_of_range"),
            (2015, [{"indicator_code": "per_capita_net_income", "value": "6000"}], "indicator_not_in_plan"),
            (2013, [{"indicator_code": "village_clinic", "value": "1"}], "actual_before_baseline"),
            (2099, [{"indicator_code": "village_clinic", "value": "1"}], "actual_in_future"),
        ],
    )
    async def test_invalid(
        self, planning: httpx.AsyncClient, who: People, year: int, values: list[dict[str, str]], code: str
    ) -> None:
        plan = await plan_at(planning, who, "active")
        response = await planning.put(
            f"/plans/{plan['id']}/actuals/{year}", json={"values": values}, headers=who.clerk
        )
        assert assert_problem(response, 422)["code"] == code

    async def test_a_draft_has_no_actuals(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        response = await planning.put(f"/plans/{plan['id']}/actuals/2015", json=ACTUALS, headers=who.clerk)
        assert assert_problem(response, 409)["code"] == "plan_not_in_force"

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        url = f"/plans/{plan['id']}/actuals/2015"
        response = await planning.put(url, json=ACTUALS, headers=who.clerk)
        assert response.status_code == 200, response.text
        year = response.json()
        assert {(v["indicator_code"], v["value"], v["version"]) for v in year["values"]} == {
            ("poverty_incidence", "11.9", 1),
            ("village_clinic", "1", 1),
        }
        progress = {p["indicator_code"]: p["progress"] for p in year["progress"]}
        assert progress["poverty_incidence"] == {
            "state": "in_progress",
            "percent": "50.00",
        }  # half way to 3.9
        assert progress["village_clinic"] == {"state": "met", "percent": "100.00"}
        assert progress["collective_income"] == {"state": "no_data", "percent": None}
        same = await planning.put(url, json=ACTUALS, headers=who.clerk)  # unchanged: no new version
        assert {v["version"] for v in same.json()["values"]} == {1}
        corrected = {
            "values": [{"indicator_code": "poverty_incidence", "value": "9.9", "source": "县扶贫办核定"}]
        }
        fixed = await planning.put(url, json=corrected, headers=who.admin)
        versions = {
            v["indicator_code"]: (v["value"], v["version"], v["recorded_by"]) for v in fixed.json()["values"]
        }
        assert versions["poverty_incidence"] == ("9.9", 2, "county-1")
        shown = (await planning.get(f"/plans/{plan['id']}", headers=who.clerk)).json()
        incidence = next(t for t in shown["targets"] if t["indicator_code"] == "poverty_incidence")
        assert incidence["latest_actual"]["value"] == "9.9" and incidence["progress"]["percent"] == "62.50"


class TestGetPlanActuals:
    async def test_anonymous(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/actuals/2015"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/actuals/2015", headers=who.stranger), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/actuals/2015", headers=who.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await create_plan(planning, who)
        assert_problem(await planning.get(f"/plans/{plan['id']}/actuals/3000", headers=who.clerk), 422)

    async def test_valid(self, planning: httpx.AsyncClient, who: People) -> None:
        plan = await plan_at(planning, who, "active")
        assert (
            await planning.put(f"/plans/{plan['id']}/actuals/2015", json=ACTUALS, headers=who.clerk)
        ).status_code == 200
        response = await planning.get(f"/plans/{plan['id']}/actuals/2015", headers=who.province)
        assert response.status_code == 200
        assert len(response.json()["values"]) == 2 and len(response.json()["progress"]) == 4
        empty = (await planning.get(f"/plans/{plan['id']}/actuals/2016", headers=who.township)).json()
        assert empty["values"] == [] and {p["progress"]["state"] for p in empty["progress"]} == {"no_data"}


CHECKLIST = f"/villages/{VILLAGE}/exit-checklist/2016"
HAVES_2016 = {
    "values": [
        {"indicator_code": "poverty_incidence", "value": "2.5"},
        {"indicator_code": "collective_income", "value": "8000"},
        {"indicator_code": "village_clinic", "value": "1"},
        {"indicator_code": "village_road_connected", "value": "1"},
    ]
}


async def set_policy(registry: httpx.AsyncClient, admin: Headers, year: int, name: str, value: str) -> None:
    response = await registry.put(
        f"/regions/{COUNTY}/policy/{year}/{name}", json={"value": value, "reason": "一低七有"}, headers=admin
    )
    assert response.status_code == 200, response.text


class TestGetExitChecklist:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(CHECKLIST), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, who: People) -> None:
        assert_problem(await planning.get(CHECKLIST, headers=who.stranger), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, who: People) -> None:
        assert_problem(await planning.get(CHECKLIST, headers=who.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, who: People) -> None:
        assert_problem(await planning.get(f"/villages/{VILLAGE}/exit-checklist/1999", headers=who.clerk), 422)
        assert_problem(
            await planning.get(f"/villages/{TOWNSHIP}/exit-checklist/2016", headers=who.admin), 422
        )

    async def test_nothing_known(self, planning: httpx.AsyncClient, who: People) -> None:
        response = await planning.get(CHECKLIST, headers=who.clerk)
        assert response.status_code == 200, response.text
        checklist = response.json()
        assert checklist["result"] == "unknown" and {i["result"] for i in checklist["items"]} == {"unknown"}
        low = checklist["items"][0]
        assert low["item"] == "low_incidence" and "village_exit_incidence_max_percent" in low["note"]
        income = checklist["items"][1]
        assert income["threshold"] is None and "not set" in income["note"]

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        who: People,
        db_urls: dict[str, str],
    ) -> None:
        await set_policy(registry, who.admin, 2016, "village_exit_incidence_max_percent", "4.00")
        await set_policy(registry, who.admin, 2016, "village_exit_collective_income_min_yuan", "8000")
        assert (await put_population(registry, who.admin, VILLAGE, 2016, 150)).status_code == 204
        household = await registered_household(registry, who.clerk, db_urls)  # 3 poor people of 150: 2.00 %
        await registered_since(db_urls, [household], datetime(2016, 1, 1, 10, tzinfo=CHINA_TIME))
        plan = await plan_at(planning, who, "active")
        assert (
            await planning.put(f"/plans/{plan['id']}/actuals/2016", json=HAVES_2016, headers=who.clerk)
        ).status_code == 200
        checklist = (await planning.get(CHECKLIST, headers=who.township)).json()
        items = {i["item"]: i for i in checklist["items"]}
        assert [i["item"] for i in checklist["items"]] == [
            "low_incidence", "collective_income", "road", "drinking_water", "electricity", "clinic", "culture_room", "broadband",
        ]  # fmt: skip
        low = items["low_incidence"]
        assert (low["result"], low["figure"], low["threshold"], low["comparison"], low["source"]) == (
            "met",
            "2",
            "4",
            "<",
            "registry",
        )
        income = items["collective_income"]
        assert (income["result"], income["figure"], income["threshold"], income["source"]) == (
            "met",
            "8000",
            "8000",
            "indicator:collective_income",
        )
        assert (items["clinic"]["result"], items["road"]["result"]) == ("met", "met")
        assert items["drinking_water"]["result"] == "unknown"  # no actual of safe_drinking_water_rate
        assert checklist["result"] == "unknown"
        rest = {"values": [
            {"indicator_code": "safe_drinking_water_rate", "value": "100"}, {"indicator_code": "household_electricity", "value": "1"},
            {"indicator_code": "village_culture_room", "value": "1"}, {"indicator_code": "broadband_to_households", "value": "0"},
        ]}  # fmt: skip
        amendment = await planning.post(
            f"/plans/{plan['id']}/amendments",
            json={"reason": "七有", "targets": [*plan_body()["targets"], *(target(v["indicator_code"], "percent" if v["indicator_code"].endswith("rate") else "bool", "increase", "0", "1" if not v["indicator_code"].endswith("rate") else "100") for v in rest["values"])]},
            headers=who.clerk,
        )  # fmt: skip
        assert amendment.status_code == 201, amendment.text
        amended = await advance(planning, who, amendment.json()["id"], "county_approved")
        assert (
            await planning.put(f"/plans/{amended['id']}/actuals/2016", json=rest, headers=who.clerk)
        ).status_code == 200
        checklist = (await planning.get(CHECKLIST, headers=who.clerk)).json()
        items = {i["item"]: i for i in checklist["items"]}
        assert items["broadband"]["result"] == "not_met" and items["drinking_water"]["result"] == "met"
        assert checklist["result"] == "not_met"

    async def test_the_incidence_is_of_that_year(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        who: People,
        db_urls: dict[str, str],
    ) -> None:
        """The low-incidence item reads the registry's incidence as of 31 December of the year (issue #11): a
        household that exited in 2017 is poor in 2016; those registered in 2017 are not."""
        await set_policy(registry, who.admin, 2016, "village_exit_incidence_max_percent", "4.00")
        assert (await put_population(registry, who.admin, VILLAGE, 2016, 150)).status_code == 204
        first, leaves, *late = [await registered_household(registry, who.clerk, db_urls) for _ in range(4)]
        await registered_since(db_urls, [first, leaves], datetime(2016, 1, 1, 10, tzinfo=CHINA_TIME))
        await registered_since(db_urls, late, datetime(2017, 1, 5, 10, tzinfo=CHINA_TIME))
        await exited_since(db_urls, [leaves], datetime(2017, 2, 1, 10, tzinfo=CHINA_TIME))
        response = await planning.get(CHECKLIST, headers=who.clerk)
        assert response.status_code == 200, response.text
        low = {i["item"]: i for i in response.json()["items"]}["low_incidence"]
        # At the end of 2016: first and leaves, 6 people of 150 = 4.00 %, not below 4 %. (Today's statuses — first
        # and the two late ones, 9 people — would say 6.00 %.)
        assert (low["result"], low["figure"], low["source"]) == ("not_met", "4", "registry")
        await exited_since(db_urls, [first], datetime(2017, 3, 1, 10, tzinfo=CHINA_TIME))
        again = {i["item"]: i for i in (await planning.get(CHECKLIST, headers=who.clerk)).json()["items"]}
        assert again["low_incidence"]["figure"] == "4"  # an exit of 2017 changes nothing of 2016

    async def test_a_year_the_registry_has_no_figures_of(
        self, planning: httpx.AsyncClient, who: People
    ) -> None:
        response = await planning.get(f"/villages/{VILLAGE}/exit-checklist/2012", headers=who.clerk)
        assert assert_problem(response, 422)["code"] == "registry_year_out_of_range"

    async def test_registry_down(self, planning_registry_down: httpx.AsyncClient, who: People) -> None:
        assert (
            assert_problem(await planning_registry_down.get(CHECKLIST, headers=who.clerk), 503)["code"]
            == "registry_unavailable"
        )

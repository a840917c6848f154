"""Public disclosure routes (村级公示, issue #11 Disclosure): the village's disclosure as JSON and as a printable page
— anonymous 401, another region 404 (a cadre: no paired household in the village), bad input 4xx, the registry
down 503, valid 200; never an ID number, a phone or bank data in the answer (invariant 49).

The world goes through the APIs: households with ID numbers, phones and bank accounts are registered through the
registry's API; F5's road (seed 001#13) is drafted, split into its three funding lines, given beneficiaries, taken
through 四议两公开, the township's review and the county's approval, implemented, paid (with a reversed advance)
and accepted through planning's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.planning.disclosure.schemas import VillageDisclosure
from shared.jwt import SigningKey
from tests.factories import (
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
    household_payload,
    pair,
    set_household_status,
    unit_and_cadres,
)
from tests.planning.test_projects_routes import (
    APPROVE_COUNTY,
    APPROVE_TOWNSHIP,
    ROAD,
    VILLAGE_RECORD,
    admin,
    cadre,
    clerk,
    create,
    detail,
    if_match,
    other_admin,
    other_township,
    planning_sql,
    province,
    sibling_clerk,
    steps,
    township,
)

__all__ = [
    "admin",
    "cadre",
    "clerk",
    "other_admin",
    "other_township",
    "province",
    "sibling_clerk",
    "township",
]

pytestmark = pytest.mark.usefixtures("seed_regions")

Json = dict[str, Any]
URL = f"/villages/{VILLAGE}/disclosure"
PRINT = f"/villages/{VILLAGE}/disclosure/print"
YEAR = {"year": "2016"}
#: A name with every character HTML gives a meaning to.
WATER_NAME = "饮水工程 <b>\"一期\"</b> & '配套'"


@dataclass
class Household:
    id: str
    head: str
    payload: Json

    @property
    def secrets(self) -> list[str]:
        """What must never be disclosed: every member's ID number, the phones, the bank account, other members."""
        out = [
            self.payload["contact_phone"],
            self.payload["bank_account"],
            self.payload["bank_account"].replace(" ", ""),
        ]
        for member in self.payload["members"]:
            out.append(member["resident_id_number"])
            if member.get("phone"):
                out.append(member["phone"])
            if member["relation"] != "head":
                out.append(member["name"])
        return out


@dataclass
class World:
    road: str
    water: str
    clinic: str
    households: list[Household]
    entries: list[int]


async def _household(
    registry: httpx.AsyncClient, clerk: Headers, head: str, natural_village: str
) -> Household:
    payload = household_payload(VILLAGE, natural_village=natural_village)
    payload["members"][0]["name"] = head
    response = await registry.post("/households", json=payload, headers=clerk)
    assert response.status_code == 201, response.text
    return Household(response.json()["id"], head, payload)


async def _post(planning: httpx.AsyncClient, path: str, body: Json, headers: Headers) -> Json:
    response = await planning.post(path, json=body, headers=headers)
    assert response.status_code == 201, response.text
    answer: Json = response.json()
    return answer


async def _beneficiaries(planning: httpx.AsyncClient, clerk: Headers, project: str, ids: list[str]) -> None:
    version = (await detail(planning, clerk, project))["version"]
    response = await planning.put(
        f"/projects/{project}/beneficiaries", json={"household_ids": ids}, headers=if_match(clerk, version)
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def world(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    clerk: Headers,
    sibling_clerk: Headers,
    township: Headers,
    admin: Headers,
) -> World:
    households = [
        await _household(registry, clerk, "黄志强", "那坡屯"),
        await _household(registry, clerk, "李美华", "那坡屯"),
        await _household(registry, clerk, "韦国强", "弄卜屯"),
    ]
    # F5's road: 1,750,000 = 880,000 transport + 650,000 self-raised + 220,000 donations.
    road = (await create(planning, clerk))["id"]
    lines = [
        await _post(
            planning,
            f"/projects/{road}/funding-lines",
            {"source": source, "funder": funder, "committed_yuan": amount},
            clerk,
        )
        for source, funder, amount in (
            ("sector_department_fund", "市交通运输局", "880000.00"),
            ("beneficiary_self_raised", "受益群众", "650000.00"),
            ("social_donation", "社会各界", "220000.00"),
        )
    ]
    await _beneficiaries(planning, clerk, road, [households[0].id, households[1].id])
    version = (await detail(planning, clerk, road))["version"]
    await steps(
        planning,
        road,
        version,
        *[(clerk, s) for s in VILLAGE_RECORD],
        (township, APPROVE_TOWNSHIP),
        (admin, APPROVE_COUNTY),
    )
    base = await _post(
        planning,
        f"/projects/{road}/milestones",
        {"name": "路基", "due_on": "2016-07-31", "percent": 50},
        clerk,
    )
    await _post(
        planning,
        f"/funding-lines/{lines[0]['id']}/receipts",
        {"amount_yuan": "880000.00", "entry_date": "2016-05-20", "voucher": "收-001"},
        admin,
    )
    paid = await _post(
        planning,
        f"/funding-lines/{lines[0]['id']}/disbursements",
        {
            "amount_yuan": "300000.00",
            "entry_date": "2016-06-01",
            "stage": "progress",
            "payee": "靖西市路桥工程公司",
            "voucher": "付-001",
            "approved_by": "县扶贫办",
        },
        admin,
    )
    advance = await _post(
        planning,
        f"/funding-lines/{lines[0]['id']}/disbursements",
        {
            "amount_yuan": "50000.00",
            "entry_date": "2016-06-02",
            "stage": "advance",
            "payee": "靖西市路桥工程公司",
            "voucher": "付-002",
            "approved_by": "县扶贫办",
        },
        admin,
    )
    reversal = await _post(
        planning,
        f"/ledger-entries/{advance['id']}/reversals",
        {"entry_date": "2016-06-03", "voucher": "冲-002", "reason": "重复拨付"},
        admin,
    )
    done = await planning.patch(
        f"/projects/{road}/milestones/{base['id']}",
        json={"percent": 100, "done_on": "2016-10-20"},
        headers=clerk,
    )
    assert done.status_code == 200, done.text
    version = (await detail(planning, clerk, road))["version"]
    accepted = await planning.post(
        f"/projects/{road}/acceptance",
        json={"accepted_on": "2016-10-30", "passed": True, "findings": "路面合格", "accepted_by": "县验收组"},
        headers=if_match(admin, version),
    )
    assert accepted.status_code == 201, accepted.text
    # Water: decided by the villagers and made public, not reviewed yet (disclosed, no money).
    water = (
        await create(
            planning,
            clerk,
            category="water_drinking",
            name=WATER_NAME,
            natural_village="弄卜屯",
            starts_on="2016-03-01",
            finishes_on="2016-12-31",
            budget_yuan="400000.00",
        )
    )["id"]
    await _beneficiaries(planning, clerk, water, [households[1].id, households[2].id])
    await steps(
        planning,
        water,
        (await detail(planning, clerk, water))["version"],
        *[(clerk, s) for s in VILLAGE_RECORD],
    )
    # Not disclosed: a draft, a project of 2017, a project of the sibling village.
    clinic = (await create(planning, clerk, category="health_facility", name="村卫生室"))["id"]
    later = (
        await create(planning, clerk, name="2017年道路", starts_on="2017-03-01", finishes_on="2017-10-31")
    )["id"]
    await steps(planning, later, 1, *[(clerk, s) for s in VILLAGE_RECORD])
    sibling = await planning.post(f"/villages/{SIBLING_VILLAGE}/projects", json=ROAD, headers=sibling_clerk)
    assert sibling.status_code == 201, sibling.text
    return World(road, water, clinic, households, [paid["id"], advance["id"], reversal["id"]])


class TestGetVillageDisclosure:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(URL, params=YEAR), 401)

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        world: World,
        sibling_clerk: Headers,
        other_township: Headers,
        other_admin: Headers,
        signing_key: SigningKey,
    ) -> None:
        missing = assert_problem(
            await planning.get("/villages/451025100299/disclosure", params=YEAR, headers=other_admin), 404
        )
        for headers in (
            sibling_clerk,
            other_township,
            other_admin,
            headers_for(signing_key, "province_system", "440000000000"),
        ):
            body = assert_problem(await planning.get(URL, params=YEAR, headers=headers), 404)
            assert body["title"] == missing["title"] and body["code"] == "village_missing"

    async def test_wrong_role(self, planning: httpx.AsyncClient, world: World, cadre: Headers) -> None:
        """Every role reads a village of its region; a cadre's region is their pairings: none here, so 404."""
        assert_problem(await planning.get(URL, params=YEAR, headers=cadre), 404)

    async def test_invalid(self, planning: httpx.AsyncClient, admin: Headers) -> None:
        for params in ({"year": "1999"}, {"year": "x"}, {}):
            assert_problem(await planning.get(URL, params=params, headers=admin), 422)
        assert_problem(await planning.get("/villages/4510/disclosure", params=YEAR, headers=admin), 422)
        assert_problem(await planning.get(URL, params={**YEAR, "format": "csv"}, headers=admin), 400)
        # A township is no village: missing.
        assert_problem(
            await planning.get(f"/villages/{TOWNSHIP}/disclosure", params=YEAR, headers=admin), 404
        )
        # A village the registry does not know.
        assert_problem(
            await planning.get("/villages/451025100299/disclosure", params=YEAR, headers=admin), 404
        )

    async def test_registry_down(self, planning_registry_down: httpx.AsyncClient, admin: Headers) -> None:
        for path in (URL, PRINT):
            response = await planning_registry_down.get(path, params=YEAR, headers=admin)
            body = assert_problem(response, 503)
            assert body["code"] == "registry_unavailable" and response.headers["retry-after"]

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        world: World,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        province: Headers,
    ) -> None:
        response = await planning.get(URL, params=YEAR, headers=clerk)
        assert response.status_code == 200, response.text
        body = response.json()
        assert VillageDisclosure.model_validate(body).model_dump(mode="json") == body
        assert body["village"] == {"code": VILLAGE, "name": "旧州村"}
        assert body["year"] == 2016 and body["posted_on"] < body["notice_ends_on"]
        assert [p["id"] for p in body["projects"]] == [world.water, world.road]  # by start date
        water, road = body["projects"]
        assert (water["name"], water["status"], water["status_label"]) == (
            WATER_NAME,
            "village_decided",
            "村级决议已公开",
        )
        assert (water["category"], water["category_label"], water["funding"]) == (
            "water_drinking",
            "人畜饮水",
            [],
        )
        assert [s["step"] for s in water["approval_steps"]] == [s["step"] for s in VILLAGE_RECORD]
        assert (road["status"], road["category_label"], road["budget_yuan"]) == (
            "accepted",
            "道路交通",
            "1750000.00",
        )
        assert (road["quantity"], road["unit"], road["unit_label"]) == ("3.50", "km", "公里")
        assert (road["committed_yuan"], road["received_yuan"], road["disbursed_yuan"]) == (
            "1750000.00",
            "880000.00",
            "300000.00",
        )
        assert road["funding"] == [
            {
                "source": "beneficiary_self_raised",
                "source_label": "群众自筹",
                "funder": "受益群众",
                "committed_yuan": "650000.00",
                "received_yuan": "0.00",
                "disbursed_yuan": "0.00",
            },
            {
                "source": "sector_department_fund",
                "source_label": "行业部门资金",
                "funder": "市交通运输局",
                "committed_yuan": "880000.00",
                "received_yuan": "880000.00",
                "disbursed_yuan": "300000.00",
            },
            {
                "source": "social_donation",
                "source_label": "社会捐资",
                "funder": "社会各界",
                "committed_yuan": "220000.00",
                "received_yuan": "0.00",
                "disbursed_yuan": "0.00",
            },
        ]
        # 四议两公开 with its dates, then the township, the county, the start and the acceptance.
        assert [(s["step"], s["on"]) for s in road["approval_steps"]][:7] == [
            ("party_branch_proposal", "2016-03-01"),
            ("committees_discussion", "2016-03-05"),
            ("party_members_review", "2016-03-10"),
            ("villagers_resolution", "2016-03-15"),
            ("resolution_disclosure", "2016-03-16"),
            ("township_review", "2016-04-01"),
            ("county_approval", "2016-04-20"),
        ]
        resolution = road["approval_steps"][3]
        assert (resolution["step_label"], resolution["attendees"], resolution["votes_for"]) == (
            "村民（代表）会议决议",  # noqa: RUF001
            45,
            41,
        )
        assert road["approval_steps"][4]["place"] == "村务公开栏"
        assert [s["step"] for s in road["approval_steps"][7:]] == ["start", "acceptance"]
        assert road["milestones"] == [
            {"name": "路基", "due_on": "2016-07-31", "percent": 100, "done_on": "2016-10-20"}
        ]
        assert road["progress_percent"] == "100.00"
        assert road["acceptance"] == {
            "accepted_on": "2016-10-30",
            "passed": True,
            "findings": "路面合格",
            "accepted_by": "县验收组",
        }
        assert (road["beneficiary_households"], water["beneficiary_households"]) == (2, 2)
        # Every disbursement, the reversed advance as its negative entry.
        assert body["disbursements"] == [
            {
                "entry_id": entry,
                "project_id": world.road,
                "project_name": ROAD["name"],
                "entry_date": day,
                "stage": stage,
                "stage_label": label,
                "amount_yuan": amount,
                "payee": "靖西市路桥工程公司",
                "voucher": voucher,
                "reverses": reverses,
            }
            for entry, day, stage, label, amount, voucher, reverses in (
                (world.entries[0], "2016-06-01", "progress", "进度款", "300000.00", "付-001", None),
                (world.entries[1], "2016-06-02", "advance", "预付款", "50000.00", "付-002", None),
                (
                    world.entries[2],
                    "2016-06-03",
                    "advance",
                    "预付款",
                    "-50000.00",
                    "冲-002",
                    world.entries[1],
                ),
            )
        ]
        # Each household once, by village, natural village, then name (弄卜屯 < 那坡屯, 李 < 黄 by code point): the
        # head's name, the village, the natural village, the projects.
        h1, h2, h3 = world.households
        assert body["beneficiaries"] == [
            {
                "head_name": h3.head,
                "village_code": VILLAGE,
                "natural_village": "弄卜屯",
                "project_ids": [world.water],
            },
            {
                "head_name": h2.head,
                "village_code": VILLAGE,
                "natural_village": "那坡屯",
                "project_ids": sorted([world.road, world.water]),
            },
            {
                "head_name": h1.head,
                "village_code": VILLAGE,
                "natural_village": "那坡屯",
                "project_ids": [world.road],
            },
        ]
        assert body["totals"] == {
            "projects": 2,
            "budget_yuan": "2150000.00",
            "committed_yuan": "1750000.00",
            "received_yuan": "880000.00",
            "disbursed_yuan": "300000.00",
            "disbursement_rate": "17.14",
            "beneficiary_households": 3,
        }
        for headers in (township, admin, province):
            again = await planning.get(URL, params=YEAR, headers=headers)
            assert again.json() == body
        nothing = (await planning.get(URL, params={"year": "2015"}, headers=clerk)).json()
        assert (nothing["projects"], nothing["disbursements"], nothing["beneficiaries"]) == ([], [], [])
        assert nothing["totals"]["disbursement_rate"] is None

    async def test_valid_no_personal_data(
        self, planning: httpx.AsyncClient, world: World, admin: Headers
    ) -> None:
        """Invariant 49: the registry holds ID numbers, phones and bank accounts; none reaches the answer."""
        for path in (URL, PRINT):
            response = await planning.get(path, params=YEAR, headers=admin)
            assert response.status_code == 200, response.text
            text = response.text
            for household in world.households:
                assert household.head in text
                for secret in household.secrets:
                    assert secret not in text, (path, secret)
                assert household.id not in text  # not even the registry's id
        body = (await planning.get(URL, params=YEAR, headers=admin)).json()
        keys: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                keys.update(node)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(body)
        assert {"head_name", "natural_village"} <= keys
        assert not {
            k for k in keys if any(w in k for w in ("resident", "phone", "bank", "id_number", "member"))
        }
        assert set(body["beneficiaries"][0]) == {
            "head_name",
            "village_code",
            "natural_village",
            "project_ids",
        }

    async def test_valid_cadre_of_a_paired_household(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        world: World,
        admin: Headers,
        clerk: Headers,
        cadre: Headers,
        db_urls: dict[str, str],
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        await set_household_status(db_urls, world.households[2].id, "registered")
        await pair(registry, admin, world.households[2].id, wang, "2015-03-01")
        response = await planning.get(URL, params=YEAR, headers=cadre)
        assert response.status_code == 200, response.text
        assert response.json() == (await planning.get(URL, params=YEAR, headers=clerk)).json()
        sibling = await planning.get(f"/villages/{SIBLING_VILLAGE}/disclosure", params=YEAR, headers=cadre)
        assert_problem(sibling, 404)

    async def test_valid_one_registry_lookup_per_page(
        self,
        planning_app: FastAPI,
        planning: httpx.AsyncClient,
        world: World,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        """600 more beneficiaries (ids the registry does not know): two lookups of at most 500, not 603."""
        await planning_sql(
            db_urls,
            "INSERT INTO planning_project_beneficiary (project_id, household_id, village_code, status_when_added,"
            " added_by) SELECT $1, gen_random_uuid(), $2, 'registered', 'test' FROM generate_series(1, 600)",
            uuid.UUID(world.road),
            VILLAGE,
        )
        gateway = planning_app.state.registry
        calls: list[int] = []
        lookup = gateway.households

        async def counted(ids: list[uuid.UUID], *, request_id: str | None = None) -> Any:
            calls.append(len(ids))
            return await lookup(ids, request_id=request_id)

        gateway.households = counted
        try:
            response = await planning.get(URL, params=YEAR, headers=admin)
        finally:
            gateway.households = lookup
        assert response.status_code == 200, response.text
        assert sorted(calls) == [103, 500]
        body = response.json()
        assert len(body["beneficiaries"]) == 3  # the unknown ids show nothing
        assert body["projects"][1]["beneficiary_households"] == 602


class TestPrintVillageDisclosure:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(PRINT, params=YEAR), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, sibling_clerk: Headers, other_admin: Headers
    ) -> None:
        for headers in (sibling_clerk, other_admin):
            assert_problem(await planning.get(PRINT, params=YEAR, headers=headers), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, cadre: Headers) -> None:
        assert_problem(await planning.get(PRINT, params=YEAR, headers=cadre), 404)

    async def test_invalid(self, planning: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(await planning.get(PRINT, params={"year": "3000"}, headers=admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, world: World, clerk: Headers) -> None:
        response = await planning.get(PRINT, params=YEAR, headers=clerk)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        page = response.text
        assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
        assert '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
        assert "旧州村村级项目及资金公示" in page and "2016年度" in page
        assert "@page { size: A4;" in page and "@media print" in page
        assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
        for heading in (
            "项目情况",
            "资金来源及到位、拨付情况",
            "四议两公开",
            "资金拨付明细",
            "受益农户",
            "合计",
        ):
            assert heading in page, heading
        assert "旧州村村民委员会（盖章）" in page and "公示日期" in page  # noqa: RUF001
        disclosure = (await planning.get(URL, params=YEAR, headers=clerk)).json()
        y, m, d = (int(x) for x in disclosure["posted_on"].split("-"))
        assert f"公示日期：{y}年{m}月{d}日" in page  # noqa: RUF001
        # Every value escaped: the water project's name is text, not markup.
        assert "<b>" not in page
        assert "饮水工程 &lt;b&gt;&quot;一期&quot;&lt;/b&gt; &amp; &#x27;配套&#x27;" in page
        assert "1,750,000.00" in page and "-50,000.00" in page and "付-001" in page
        assert "村民（代表）会议决议" in page and "赞成 41 票" in page  # noqa: RUF001
        for household in world.households:
            assert household.head in page

    async def test_documented_as_html(self, planning: httpx.AsyncClient) -> None:
        document = json.loads((await planning.get("/openapi.json")).text)
        ok = document["paths"][PRINT.replace(VILLAGE, "{code}")]["get"]["responses"]["200"]
        assert list(ok["content"]) == ["text/html"]
        assert ok["content"]["text/html"]["schema"]["type"] == "string"

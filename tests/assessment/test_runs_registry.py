"""A run over a small county against the real registry, in process over HTTP (its `GET /figures/village`, the
assessment's service token from the in-process gateway): rankings and explanations; then one household exits in the
registry (the whole exit chain, with the registry's clock) and the next run's diff shows its village, with the
indicator and the figure that moved it. Real PostgreSQL, real queue."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.assessment.conftest import RunsApp, drain, started
from tests.factories import (
    COUNTY,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    headers_for,
    household_payload,
)
from tests.harness import running

pytestmark = pytest.mark.usefixtures("seed_regions")

YEAR = 2015
NDJSON = "application/x-ndjson"
EXIT_SURVEY = {
    "minutes_ref": "脱贫评议",
    "attendees": 30,
    "votes_for": 20,
    "food_and_clothing_secure": True,
    "stable_income_source": True,
    "head_acknowledged": True,
}
ADMIN_VILLAGE = {"places": ["administrative_village"]}

#: A village scheme on the registry's figures: exits against 3 people, incidence at most 5 %.
SCHEME: dict[str, Any] = {
    "name": "村级减贫考核(测试)",
    "subject_type": "village",
    "year": YEAR,
    "total_points": "100",
    "rounding": {"places": 2, "mode": "half_up"},
    "indicators": [
        {
            "code": "R1",
            "name": "完成年度减贫任务",
            "max_points": "60",
            "metric": "exited_people",
            "method": {"method": "linear", "unit": "people", "target": "3"},
        },
        {
            "code": "R2",
            "name": "贫困发生率不高于5%",
            "max_points": "40",
            "metric": "poverty_incidence",
            "method": {"method": "threshold", "comparison": "at_most", "unit": "percent", "target": "5"},
        },
    ],
    "vetoes": [
        {
            "code": "split_household",
            "name": "拆户分户",
            "condition": {"metric": "split_households_confirmed", "op": "gt", "value": "0"},
            "effect": "grade_lowest",
            "reason": "经抽查核实存在拆户分户,实行一票否决。",
        }
    ],
    "grades": [
        {"grade": "excellent", "min": "90", "max": "100"},
        {"grade": "good", "min": "80", "max": "90"},
        {"grade": "qualified", "min": "60", "max": "80"},
        {"grade": "unqualified", "min": "0", "max": "60"},
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2015, 3, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


def line(village: str, n: int) -> dict[str, Any]:
    body = household_payload(village, year=2014)
    body.pop("contact_phone")
    body.pop("bank_account")
    body["status"] = "registered"
    body["national_household_code"] = f"T-{n:03d}"
    body["income"] = {
        "year": YEAR,
        "wage": "12000",
        "operating": "0",
        "property": "0",
        "transfer": "0",
        "operating_expenses": "0",
    }
    return body


@dataclass
class County:
    registry: httpx.AsyncClient
    assessment: httpx.AsyncClient
    app: FastAPI
    clock: Clock
    admin: Headers
    township: Headers
    clerk: Headers
    households: dict[str, str]

    async def ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    async def step(self, household: str, command: str, who: Headers, **data: Any) -> None:
        card = await self.ok(await self.registry.get(f"/households/{household}", headers=self.admin))
        await self.ok(
            await self.registry.post(
                f"/households/{household}/workflow/{command}",
                json={"data": data},
                headers=who | {"If-Match": f'"{card["version"]}"'},
            )
        )

    async def exit(self, household: str) -> None:
        """The exit chain (两公示一公告), the registry's clock crossing both 7-day notices."""
        await self.step(household, "propose_exit", self.clerk, **EXIT_SURVEY)
        await self.step(household, "start_notice", self.clerk, **ADMIN_VILLAGE)
        self.clock.advance(8)
        await self.step(household, "township_review", self.township, approve=True)
        await self.step(household, "start_notice", self.township, **ADMIN_VILLAGE)
        self.clock.advance(8)
        await self.step(household, "county_review", self.admin, approve=True)
        await self.step(household, "announce", self.admin)

    async def run(self, scheme_id: str) -> dict[str, Any]:
        created = await self.ok(
            await self.assessment.post(
                "/runs", json={"scheme_id": scheme_id, "year": YEAR, "region": COUNTY}, headers=self.admin
            ),
            202,
        )
        await drain(self.app)
        return await self.ok(await self.assessment.get(f"/runs/{created['id']}", headers=self.admin))


@pytest.fixture
async def county(
    registry_app: FastAPI,
    planning_app: FastAPI,
    gateway: httpx.AsyncClient,
    runs_app: RunsApp,
    service_secret: str,
    signing_key: SigningKey,
) -> AsyncIterator[County]:
    clock = Clock()
    registry_app.state.clock = clock
    gateway_app: FastAPI = gateway.app  # type: ignore[attr-defined]
    admin = headers_for(signing_key, "county_admin", COUNTY, "county-1")
    async with contextlib.AsyncExitStack() as stack:
        registry = await stack.enter_async_context(running(registry_app))
        await stack.enter_async_context(running(planning_app))
        app = runs_app(
            registry=httpx.ASGITransport(app=registry_app),
            planning=httpx.ASGITransport(app=planning_app),
            gateway=httpx.ASGITransport(app=gateway_app),
            secret=service_secret,
        )
        assessment = await stack.enter_async_context(started(app))
        villages = [VILLAGE, VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE]
        lines = "\n".join(json.dumps(line(v, n), ensure_ascii=False) for n, v in enumerate(villages))
        imported = await registry.post(
            "/households/import",
            params={"mode": "migration", "source_document": "test migration"},
            content=lines.encode(),
            headers=admin | {"Content-Type": NDJSON},
        )
        assert imported.status_code == 200, imported.text
        listed = (
            await registry.get("/households", params={"region": COUNTY, "limit": 50}, headers=admin)
        ).json()
        households = {}
        for item in listed["items"]:
            card = (await registry.get(f"/households/{item['id']}", headers=admin)).json()
            households[card["national_household_code"]] = item["id"]
        for code in (VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE):
            population = await registry.put(
                f"/regions/{code}/population/{YEAR}", json={"population": 100}, headers=admin
            )
            assert population.status_code == 204, population.text
        policy = await registry.put(
            f"/regions/{COUNTY}/policy/{YEAR}/exit_income_line_yuan",
            json={"value": 3000, "reason": "县定脱贫标准"},
            headers=admin,
        )
        assert policy.status_code == 200, policy.text
        yield County(
            registry=registry,
            assessment=assessment,
            app=app,
            clock=clock,
            admin=admin,
            township=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1"),
            clerk=headers_for(signing_key, "village_officer", VILLAGE, "clerk-1"),
            households=households,
        )


async def test_a_county_run_ranks_explains_and_diffs_after_an_exit(county: County) -> None:
    scheme = await county.ok(await county.assessment.post("/schemes", json=SCHEME, headers=county.admin), 201)
    await county.ok(
        await county.assessment.post(f"/schemes/{scheme['id']}/publication", headers=county.admin)
    )
    first = await county.run(scheme["id"])
    assert first["status"] == "scored", first
    # The assessment's inspections found nothing: every village has 0 confirmed split households.
    assert first["subjects"] == 3 and first["absent_metrics"] == []
    results = await county.ok(
        await county.assessment.get(f"/runs/{first['id']}/results", headers=county.admin)
    )
    ranked = {r["subject_id"]: r for r in results["items"]}
    assert set(ranked) == {VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE}
    # 旧州村 has 2 poor households of 3 in 100 people (6 %), 渠洋村 and 化峒村 one (3 %): nobody exited yet.
    assert ranked[VILLAGE]["score"] == "0" and ranked[SIBLING_VILLAGE]["score"] == "40"
    assert (ranked[SIBLING_VILLAGE]["rank"], ranked[VILLAGE]["rank"]) == (1, 2)
    assert ranked[OTHER_VILLAGE]["rank"] == 1 and ranked[OTHER_VILLAGE]["peers"] == 1  # its own township
    explained = await county.ok(
        await county.assessment.get(f"/runs/{first['id']}/results/{VILLAGE}", headers=county.admin)
    )
    assert explained["name"] == "旧州村" and explained["parent_code"] == TOWNSHIP
    incidence = next(i for i in explained["indicators"] if i["code"] == "R2")
    assert incidence["value"] == "6" and incidence["explanation_zh"] == "6 > 5,未达标,得 0 分"
    assert explained["not_evaluated"] == [] and explained["vetoes"] == []
    assert "并列" in explained["tie_rule_zh"]

    # One household of 旧州村 exits (county-reviewed in March 2015: it counts for 2015).
    await county.exit(county.households["T-000"])
    second = await county.run(scheme["id"])
    assert second["status"] == "scored" and second["version"] == 2
    diff = await county.ok(await county.assessment.get(f"/runs/{second['id']}/diff", headers=county.admin))
    assert diff["against_run_id"] == first["id"]
    (moved,) = [m for m in diff["items"] if m["subject_id"] == VILLAGE]
    assert moved["name"] == "旧州村"
    assert (moved["score_before"], moved["score_after"], moved["score_change"]) == ("0", "100", "100")
    assert (moved["rank_before"], moved["rank_after"], moved["rank_change"]) == (2, 1, 1)
    causes = {c["code"]: c for c in moved["causes"]}
    assert (causes["R1"]["metric"], causes["R1"]["value_before"], causes["R1"]["value_after"]) == (
        "exited_people",
        "0",
        "3",
    )
    assert causes["R1"]["metric_label"] == "本年脱贫人数" and causes["R1"]["points_change"] == "60"
    assert (causes["R2"]["value_before"], causes["R2"]["value_after"]) == ("6", "3")
    # 渠洋村 did not change its score, but lost its place: it is listed, with no cause of its own
    (sibling,) = [m for m in diff["items"] if m["subject_id"] == SIBLING_VILLAGE]
    assert (sibling["rank_before"], sibling["rank_after"], sibling["causes"]) == (1, 2, [])

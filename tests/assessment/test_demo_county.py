"""Issue #12 "Done when", through the running platform: the demo county of `make run` (ops/seed.py, the registry's
and planning's demos), the four processes on real sockets behind the real gateway, and every call of the test made
at the gateway as a logged-in demo user (`/auth/token`, then `/api/registry/…`, `/api/planning/…`,
`/api/assessment/…`).

The county admin `admin.jingxi` loads the assessment demo (services/assessment/demo.py: templates B and C
published, B's run over 靖西县 asked for and worked by the assessment's own lifespan worker on the procrastinate
queue, exactly as in `make run`): the run gives rankings per township and explanations. Then one household of
旧州村 exits through the registry's real exit workflow (两公示一公告, the registry's clock crossing both 7-day
notices) and a second run's diff lists 旧州村 with the indicator and the metric that moved: B6.1 卡册齐全 on
`incomplete_cards`, 4 → 3 (the exited household's card no longer counts; the demo households have no help plan).
B1.1 (exits against the year's target) is scored against the exit targets the demo sets (年度减贫任务,
`exit_quota_people`, 8 people for 旧州村): 0 of 8 before the exit, then 2 of 8 (the exited household's two
people), so the diff names B1.1 too.

The year is last year (China date), the registry's clock set to 1 March of it, so the exit's two notices fall in
the year whatever the day the test runs (invariant 19: an exit counts for the year of its county re-review).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from ops.seed import DEMO_PASSWORD, seed_demo
from services.assessment.demo import COUNTY, RUN_TEMPLATE, load_demo_assessment
from services.planning.demo import load_demo_planning
from services.registry.demo import load_demo_households
from shared.clock import china_date
from shared.jwt import KeySet, SigningKey
from tests.harness import running, serve
from tests.wire_format import check_time_format

VILLAGE = "451025100201"  # 旧州村
SIBLING = "451025100202"  # 渠洋村
OTHER = "451025101201"  # 化峒村 (another township)
TOWNSHIP = "451025100000"  # 新靖镇
YEAR = china_date(datetime.now(UTC)).year - 1
SECRETS = {s: f"{s}-demo-secret-for-tests" for s in ("registry", "planning", "assessment")}
EXIT_SURVEY = {
    "minutes_ref": "旧州村脱贫评议会议记录",
    "attendees": 25,  # the villager representatives' assembly (民主评议): attendance and votes for the exit
    "votes_for": 21,
    "food_and_clothing_secure": True,
    "stable_income_source": True,
    "head_acknowledged": True,
    "housing_safe": True,  # the survey's housing answer (the demo houses carry no danger grade)
}
ADMIN_VILLAGE = {"places": ["administrative_village"]}

Json = dict[str, Any]
Headers = dict[str, str]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Clock:
    """The registry's clock: 1 March of the year, 02:00 UTC, moved on by the test."""

    def __init__(self) -> None:
        self.now = datetime(YEAR, 3, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


class Later:
    """An ASGI app known only later: the services get their token client before the gateway (which needs their
    URLs) exists; no token is asked for until the gateway runs."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the gateway is not running yet"
        await self.app(scope, receive, send)


@dataclass
class Platform:
    gateway: httpx.AsyncClient
    app: FastAPI
    clock: Clock

    def client(self, service: str) -> httpx.AsyncClient:
        """A client of one service through the gateway's proxy (`/api/<service>/…`), on the same transport."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.7", 50000)),
            base_url=f"http://testserver/api/{service}/",
            timeout=30,
        )
        client.event_hooks["response"].append(check_time_format)
        return client

    async def login(self, username: str) -> Headers:
        response = await self.gateway.post(
            "/auth/token", data={"grant_type": "password", "username": username, "password": DEMO_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def platform(
    db_urls: dict[str, str],
    gateway_settings: GatewaySettings,
    signing_key: SigningKey,
    keyset: KeySet,
    registry_app: FastAPI,
) -> AsyncIterator[Platform]:
    """What `make run` starts: the demo county seeded (users, service clients, regions), registry, planning and
    assessment (its run worker on) served on sockets, the gateway in front of them issuing the tokens."""
    from gateway.main import create_app as create_gateway
    from services.assessment.main import create_app as create_assessment
    from services.assessment.settings import AssessmentSettings
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings

    assert await seed_demo(db_urls, SECRETS, "province-demo-secret-for-tests")
    clock = Clock()
    registry_app.state.clock = clock
    later = Later()
    common: Json = {
        "environment": "test",
        "json_logs": False,
        "log_level": "WARNING",
        "gateway_url": "http://gateway",
    }
    async with contextlib.AsyncExitStack() as stack:
        registry_url = await stack.enter_async_context(serve(registry_app))
        planning_app = create_planning(
            PlanningSettings(
                **common,
                database_url=db_urls["planning"],
                registry_url=registry_url,
                service_client_id="planning-service",
                service_client_secret=SECRETS["planning"],
            ),
            keyset=keyset,
            gateway_transport=httpx.ASGITransport(app=later),
        )
        planning_url = await stack.enter_async_context(serve(planning_app))
        assessment_app = create_assessment(
            AssessmentSettings(
                **common,
                database_url=db_urls["assessment"],
                registry_url=registry_url,
                planning_url=planning_url,
                service_client_id="assessment-service",
                service_client_secret=SECRETS["assessment"],
                run_worker=True,  # as in make run: the lifespan's worker runs the queue
                figure_backoff_seconds=0.05,
            ),
            keyset=keyset,
            gateway_transport=httpx.ASGITransport(app=later),
        )
        assessment_url = await stack.enter_async_context(serve(assessment_app))
        settings = gateway_settings.model_copy(
            update={
                "registry_url": registry_url,
                "planning_url": planning_url,
                "assessment_url": assessment_url,
                "proxy_read_timeout": 30.0,
            }
        )
        gateway_app = create_gateway(settings, signing_key=signing_key)
        later.app = gateway_app
        gateway = await stack.enter_async_context(running(gateway_app))
        gateway.event_hooks["response"].append(check_time_format)
        yield Platform(gateway, gateway_app, clock)


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


async def until_finished(assessment: httpx.AsyncClient, admin: Headers, run_id: str) -> Json:
    """The run once the assessment's worker has finished it."""
    deadline = time.monotonic() + 60
    while True:
        run: Json = await ok(await assessment.get(f"runs/{run_id}", headers=admin))
        if run["status"] not in ("queued", "freezing", "scoring") or time.monotonic() > deadline:
            return run
        await asyncio.sleep(0.1)


class Registry:
    """The registry through the gateway, as the demo's officers."""

    def __init__(self, client: httpx.AsyncClient, who: dict[str, Headers], clock: Clock) -> None:
        self.client = client
        self.who = who
        self.clock = clock

    async def card(self, household: str) -> Json:
        card: Json = await ok(await self.client.get(f"households/{household}", headers=self.who["admin"]))
        return card

    def _if_match(self, who: str, version: int) -> Headers:
        return self.who[who] | {"If-Match": f'"{version}"'}

    async def ready_to_exit(self, household: str) -> None:
        """What the exit test (§6.5-A) reads, recorded by the village: the year's income (12,000 yuan of wages)
        and every member enrolled in the NCMS (the demo households carry neither)."""
        card = await self.card(household)
        for member in card["members"]:
            card = await self.card(household)
            await ok(
                await self.client.patch(
                    f"households/{household}/members/{member['id']}",
                    json={"details": {"insurance": {"ncms_enrolled": True, "pension_enrolled": True}}},
                    headers=self._if_match("village", card["version"]),
                )
            )
        card = await self.card(household)
        await ok(
            await self.client.put(
                f"households/{household}/incomes/{YEAR}",
                json={
                    "wage": "12000",
                    "operating": "0",
                    "property": "0",
                    "transfer": "0",
                    "operating_expenses": "0",
                },
                headers=self._if_match("village", card["version"]),
            )
        )

    async def step(self, household: str, command: str, who: str, **data: Any) -> None:
        card = await self.card(household)
        await ok(
            await self.client.post(
                f"households/{household}/workflow/{command}",
                json={"data": data},
                headers=self._if_match(who, card["version"]),
            )
        )

    async def exit(self, household: str) -> None:
        """The exit chain (两公示一公告): the village proposes, two 7-day notices, the township and county review,
        the county announces."""
        await self.step(household, "propose_exit", "village", **EXIT_SURVEY)
        await self.step(household, "start_notice", "village", **ADMIN_VILLAGE)
        self.clock.advance(8)
        await self.step(household, "township_review", "township", approve=True)
        await self.step(household, "start_notice", "township", **ADMIN_VILLAGE)
        self.clock.advance(8)
        await self.step(household, "county_review", "admin", approve=True)
        await self.step(household, "announce", "admin")


async def test_the_demo_county_is_assessed_through_the_gateway_and_an_exit_shows_in_the_diff(
    platform: Platform,
) -> None:
    who = {
        "admin": await platform.login("admin.jingxi"),
        "township": await platform.login("officer.xinjing"),
        "village": await platform.login("clerk.jiuzhou"),
        "cadre": await platform.login("cadre.wang"),
    }
    async with (
        platform.client("registry") as registry_client,
        platform.client("planning") as planning,
        platform.client("assessment") as assessment,
    ):
        # The registry's and planning's demos, as make run loads them (the registry's clock: 1 March).
        households = await load_demo_households(
            registry_client, admin=who["admin"], cadre=who["cadre"], today=platform.clock.now
        )
        assert households["households"] == 6
        planned = await load_demo_planning(
            planning,
            village=who["village"],
            township=who["township"],
            admin=who["admin"],
            registry=registry_client,
            today=date(YEAR, 3, 1),
        )
        assert planned["plan_status"] == "active"
        registry = Registry(registry_client, who, platform.clock)
        listed = await ok(
            await registry_client.get(
                "households", params={"region": VILLAGE, "fields": "id,head_name"}, headers=who["admin"]
            )
        )
        leaving = next(h["id"] for h in listed["items"] if h["head_name"] == "陆建国")
        await registry.ready_to_exit(leaving)

        # The assessment demo: B and C published for the year, B's run over the county worked by the service.
        logins = {
            "officer.xinjing": who["township"],
            "officer.huadong": await platform.login("officer.huadong"),
        }
        demo = await load_demo_assessment(
            assessment,
            admin=who["admin"],
            year=YEAR,
            registry=registry_client,
            logins=logins,
            wait_seconds=60,
            poll=0.1,
        )
        assert demo["run_status"] == "scored", demo
        assert demo["writes"] == 11  # six exit targets, two drafts, two publications, one run
        target = await ok(
            await registry_client.get(f"regions/{VILLAGE}/exit-targets/{YEAR}", headers=who["admin"])
        )
        assert (target["people"], target["households"]) == (8, 2)
        schemes = {
            code: await ok(await assessment.get(f"schemes/{scheme_id}", headers=who["admin"]))
            for code, scheme_id in demo["schemes"].items()
        }
        assert {code: (s["subject_type"], s["status"], s["year"]) for code, s in schemes.items()} == {
            "B": ("village", "published", YEAR),
            "C": ("cadre", "published", YEAR),
        }
        first: Json = await ok(await assessment.get(f"runs/{demo['run_id']}", headers=who["admin"]))
        assert (first["status"], first["subjects"], first["version"]) == ("scored", 3, 1)
        assert first["scheme_id"] == demo["schemes"][RUN_TEMPLATE] and first["region_code"] == COUNTY

        # Rankings: villages ranked within their township (新靖镇 has two, 化峒镇 one).
        results = await ok(await assessment.get(f"runs/{first['id']}/results", headers=who["admin"]))
        ranked = {r["subject_id"]: r for r in results["items"]}
        assert set(ranked) == {VILLAGE, SIBLING, OTHER}
        assert sorted((ranked[v]["rank"], ranked[v]["peers"]) for v in (VILLAGE, SIBLING)) in (
            [(1, 2), (2, 2)],
            [(1, 2), (1, 2)],  # a tie shares the rank
        )
        assert (ranked[OTHER]["rank"], ranked[OTHER]["peers"], ranked[OTHER]["parent_name"]) == (
            1,
            1,
            "化峒镇",
        )
        township_view = await ok(
            await assessment.get(
                f"runs/{first['id']}/results", params={"peer_group": TOWNSHIP}, headers=who["township"]
            )
        )
        assert {r["subject_id"] for r in township_view["items"]} == {VILLAGE, SIBLING}

        # Explanations: every indicator of template B with the figure read, the rule and the points, in zh-CN.
        explained = await ok(
            await assessment.get(f"runs/{first['id']}/results/{VILLAGE}", headers=who["admin"])
        )
        assert (explained["name"], explained["parent_name"]) == ("旧州村", "新靖镇")
        assert (
            explained["score"] == ranked[VILLAGE]["score"] and explained["grade"] == ranked[VILLAGE]["grade"]
        )
        leaves = {i["code"]: i for i in explained["indicators"] if i["kind"] == "leaf"}
        assert len(leaves) == len([i for i in explained["indicators"] if i["kind"] == "leaf"]) > 10
        assert all(i["explanation_zh"] and i["explanation_en"] and i["rule"] for i in leaves.values())
        assert leaves["B1.1"]["metric_label"] == "本年脱贫人数"
        assert (leaves["B1.1"]["value"], leaves["B1.1"]["target"], leaves["B1.1"]["points"]) == (
            "0",
            "8",
            "0",
        )
        assert "并列" in explained["tie_rule_zh"] and explained["vetoes"] == []
        cards_before = leaves["B6.1"]

        # The demo again: everything is found, nothing written, the same run.
        again = await load_demo_assessment(
            assessment,
            admin=who["admin"],
            year=YEAR,
            registry=registry_client,
            logins=logins,
            wait_seconds=60,
            poll=0.1,
        )
        assert (again["writes"], again["run_id"], again["schemes"]) == (0, demo["run_id"], demo["schemes"])

        # One household of 旧州村 exits through the registry's exit workflow, at the gateway.
        await registry.exit(leaving)
        assert (await registry.card(leaving))["status"] == "exited"

        # A second run of the same scheme: version 2, and its diff names 旧州村 with what moved.
        created = await ok(
            await assessment.post(
                "runs",
                json={"scheme_id": demo["schemes"][RUN_TEMPLATE], "year": YEAR, "region": COUNTY},
                headers=who["admin"],
            ),
            202,
        )
        second = await until_finished(assessment, who["admin"], created["id"])
        assert (second["status"], second["version"]) == ("scored", 2), second
        diff = await ok(await assessment.get(f"runs/{second['id']}/diff", headers=who["admin"]))
        assert diff["against_run_id"] == first["id"]
        (moved,) = [m for m in diff["items"] if m["subject_id"] == VILLAGE]
        assert moved["name"] == "旧州村"
        assert moved["score_before"] == explained["score"] and moved["score_change"] != "0"
        causes = {c["code"]: c for c in moved["causes"] if c["kind"] == "indicator"}
        assert causes, moved
        for cause in causes.values():
            assert cause["metric"] and cause["metric_label"] and cause["points_change"] != "0"
            assert cause["value_before"] != cause["value_after"]
        # The exited household's card is no longer counted among the village's incomplete ones (B6.1, 1 point a
        # card): 4 → 3 (the demo households have no help plan).
        cards = causes["B6.1"]
        assert (cards["metric"], cards["metric_label"]) == ("incomplete_cards", "卡册不全户数")
        assert (cards["value_before"], cards["value_after"]) == (cards_before["value"], "3")
        assert (cards["points_before"], cards["points_after"]) == ("0", "1")
        # Its two people count among the year's exits against 旧州村's target of 8: B1.1, 15 * 2/8.
        exits = causes["B1.1"]
        assert (exits["metric"], exits["value_before"], exits["value_after"]) == ("exited_people", "0", "2")
        assert (exits["points_before"], exits["points_after"]) == ("0", "3.75")
        # The second run's explanation reads the new figure; the first run's stays as it was (a new version).
        after = await ok(await assessment.get(f"runs/{second['id']}/results/{VILLAGE}", headers=who["admin"]))
        assert next(i for i in after["indicators"] if i["code"] == "B6.1")["value"] == "3"
        assert after["score"] == moved["score_after"]
        kept = await ok(await assessment.get(f"runs/{first['id']}/results/{VILLAGE}", headers=who["admin"]))
        assert kept["score"] == explained["score"]
        # 渠洋村 and 化峒村 had no exit: they are not in the diff unless a peer overtook them (no cause of theirs).
        for item in diff["items"]:
            if item["subject_id"] != VILLAGE:
                assert item["causes"] == [], item

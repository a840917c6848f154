"""A run that scores planning metrics read from the real planning app (issue #12): the registry, planning and the
gateway in process over HTTP (ASGI transports), each on its own test database. 渠洋村 (the seed fixture F5, loaded
through the registry's and planning's APIs as tests/planning enters it) has its approved road of 1,750,000 yuan:
1,400,000 received and 350,000 paid in 2016, due on 2016-12-31 and not accepted. Planning's `GET /figures/village`
answers funds disbursed 25.00 % and projects accepted 0.00 % for it (tests/planning/test_figures_routes.py works
both out by hand); the run freezes those figures and scores them. Real PostgreSQL, real queue."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.planning.fixtures import F5
from shared.jwt import SigningKey
from tests.assessment.conftest import RunsApp, drain, started
from tests.factories import COUNTY, SIBLING_VILLAGE, Headers, headers_for
from tests.harness import running
from tests.planning.seed_fixtures import load_village, officials

pytestmark = pytest.mark.usefixtures("seed_regions")

YEAR = 2016

#: A village scheme on planning's figures: funds disbursed against 100 %, projects accepted at least 50 %.
SCHEME: dict[str, Any] = {
    "name": "村级项目资金考核(测试)",
    "subject_type": "village",
    "year": YEAR,
    "total_points": "100",
    "rounding": {"places": 2, "mode": "half_up"},
    "indicators": [
        {
            "code": "P1",
            "name": "资金拨付率",
            "max_points": "60",
            "metric": "funds_disbursed_share",
            "method": {"method": "linear", "unit": "percent", "target": "100"},
        },
        {
            "code": "P2",
            "name": "项目竣工验收率不低于50%",
            "max_points": "40",
            "metric": "projects_accepted_share",
            "method": {"method": "threshold", "comparison": "at_least", "unit": "percent", "target": "50"},
        },
    ],
    "grades": [
        {"grade": "excellent", "min": "90", "max": "100"},
        {"grade": "good", "min": "80", "max": "90"},
        {"grade": "qualified", "min": "60", "max": "80"},
        {"grade": "unqualified", "min": "0", "max": "60"},
    ],
}


@dataclass
class Platform:
    assessment: httpx.AsyncClient
    planning: httpx.AsyncClient
    app: FastAPI
    admin: Headers


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


@pytest.fixture
async def platform(
    registry_app: FastAPI,
    planning_app: FastAPI,
    gateway: httpx.AsyncClient,
    runs_app: RunsApp,
    service_secret: str,
    signing_key: SigningKey,
    db_urls: dict[str, str],
) -> AsyncIterator[Platform]:
    gateway_app: FastAPI = gateway.app  # type: ignore[attr-defined]
    async with contextlib.AsyncExitStack() as stack:
        registry = await stack.enter_async_context(running(registry_app))
        planning = await stack.enter_async_context(running(planning_app))
        await load_village(planning, registry, officials(signing_key, F5.village_code), F5, db_urls)
        app = runs_app(
            registry=httpx.ASGITransport(app=registry_app),
            planning=httpx.ASGITransport(app=planning_app),
            gateway=httpx.ASGITransport(app=gateway_app),
            secret=service_secret,
        )
        assessment = await stack.enter_async_context(started(app))
        yield Platform(
            assessment=assessment,
            planning=planning,
            app=app,
            admin=headers_for(signing_key, "county_admin", COUNTY, "county-1"),
        )


async def test_a_run_scores_planning_figures_from_the_real_planning_app(platform: Platform) -> None:
    assert F5.village_code == SIBLING_VILLAGE
    a = platform.assessment
    scheme = _ok(await a.post("/schemes", json=SCHEME, headers=platform.admin), 201)
    _ok(await a.post(f"/schemes/{scheme['id']}/publication", headers=platform.admin))
    created = _ok(
        await a.post(
            "/runs", json={"scheme_id": scheme["id"], "year": YEAR, "region": COUNTY}, headers=platform.admin
        ),
        202,
    )
    await drain(platform.app)
    run = _ok(await a.get(f"/runs/{created['id']}", headers=platform.admin))
    assert run["status"] == "scored", run

    explained = _ok(await a.get(f"/runs/{run['id']}/results/{SIBLING_VILLAGE}", headers=platform.admin))
    indicators = {i["code"]: i for i in explained["indicators"]}
    # Planning's figures of 渠洋村: 350,000 paid of 1,400,000 received; the road due in 2016 is not accepted.
    assert indicators["P1"]["metric"] == "funds_disbursed_share"
    assert indicators["P1"]["value"] == "25" and indicators["P1"]["points"] == "15"  # 25 / 100 x 60
    assert indicators["P2"]["value"] == "0" and indicators["P2"]["points"] == "0"
    assert explained["score"] == "15"

"""Issue #13 item 18: a development-only clock, so integrators can walk the 7-day notices in minutes; refused at
start-up in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.registry.main import create_app as create_registry
from services.registry.settings import RegistrySettings
from shared.clock import DevClock
from shared.jwt import KeySet, SigningKey
from shared.settings import CommonSettings
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, assert_problem, auth, household_payload, issue
from tests.harness import running
from tests.registry.identification_setup import record_income, work_team_login

pytestmark = pytest.mark.usefixtures("seed_regions")
Headers = dict[str, str]
REVIEW: dict[str, Any] = {
    "minutes_ref": "村民代表大会记录",
    "attendees": 40,
    "votes_for": 31,
    "approved": True,
}


class TestDevClock:
    def test_it_only_moves_forward(self) -> None:
        clock = DevClock(lambda: datetime(2026, 12, 4, tzinfo=UTC))
        assert clock() == datetime(2026, 12, 4, tzinfo=UTC)
        assert clock.advance(timedelta(days=8)) == datetime(2026, 12, 12, tzinfo=UTC)
        for step in (timedelta(0), timedelta(days=-1), timedelta(days=3661)):
            with pytest.raises(ValueError, match="forward"):
                clock.advance(step)
        assert clock.offset == timedelta(days=8)

    def test_production_refuses_it(self) -> None:
        with pytest.raises(ValidationError, match="DEV_CLOCK is for development only"):
            CommonSettings(environment="production", database_url="postgresql://db/x", dev_clock=True)
        assert not CommonSettings(environment="production", database_url="postgresql://db/x").dev_clock


@pytest.fixture
async def dev_registry(db_urls: dict[str, str], keyset: KeySet) -> AsyncIterator[httpx.AsyncClient]:
    settings = RegistrySettings(
        environment="development", database_url=db_urls["registry"], json_logs=False, log_level="WARNING",
        dev_clock=True,
    )  # fmt: skip
    async with running(create_registry(settings, keyset=keyset)) as client:
        yield client


@pytest.fixture
def roles(signing_key: SigningKey) -> dict[str, Headers]:
    return {
        "village": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "county": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
    }


class TestDevClockRoutes:
    async def test_a_notice_runs_out_in_minutes(
        self, dev_registry: httpx.AsyncClient, roles: dict[str, Headers], signing_key: SigningKey
    ) -> None:
        registry = dev_registry
        year = datetime.now(UTC).year
        for code, who, people in (
            (COUNTY, "county", 100),
            (TOWNSHIP, "county", 50),
            (VILLAGE, "township", 10),
        ):
            put = await registry.put(
                f"/regions/{code}/quotas/{year}", json={"people": people}, headers=roles[who]
            )
            assert put.status_code == 200, put.text
        created = await registry.post(
            "/households", json=household_payload(VILLAGE, size=2, year=year), headers=roles["village"]
        )
        assert created.status_code == 201, created.text
        hid, version = created.json()["id"], created.json()["version"]

        async def step(command: str, who: str, data: dict[str, Any], expect: int = 200) -> dict[str, Any]:
            nonlocal version
            response = await registry.post(
                f"/households/{hid}/workflow/{command}",
                json={"data": data},
                headers=roles[who] | {"If-Match": f'"{version}"'},
            )
            if expect != 200:
                return assert_problem(response, expect)
            assert response.status_code == 200, response.text
            version = response.json()["version"]
            body: dict[str, Any] = response.json()
            return body

        version = await record_income(registry, roles["village"], hid, version, year=year - 1)
        roles["team"] = await work_team_login(registry, signing_key)
        await step("apply", "village", {})
        await step("village_review", "village", REVIEW)
        await step("cosign", "village", {"party": "village_committee"})
        await step("cosign", "team", {"party": "work_team"})
        await step("start_notice", "village", {"places": ["administrative_village", "natural_village"]})
        assert (await step("township_review", "township", {"approve": True}, expect=409))[
            "code"
        ] == "notice_not_over"

        before = (await registry.get("/dev/clock", headers=roles["village"])).json()
        assert before["offset_seconds"] == 0
        moved = await registry.post("/dev/clock/advance", json={"days": 8}, headers=roles["village"])
        assert moved.status_code == 200, moved.text
        assert moved.json()["offset_seconds"] == 8 * 86400
        await step("township_review", "township", {"approve": True})

    async def test_bad_steps(self, dev_registry: httpx.AsyncClient, roles: dict[str, Headers]) -> None:
        for body in ({"days": -1}, {"days": 3661}, {"weeks": 1}):
            assert_problem(
                await dev_registry.post("/dev/clock/advance", json=body, headers=roles["village"]), 422
            )
        assert_problem(await dev_registry.post("/dev/clock/advance", json={}, headers=roles["village"]), 422)
        assert_problem(await dev_registry.post("/dev/clock/advance", json={"days": 1}), 401)

    async def test_absent_without_the_setting(
        self, registry: httpx.AsyncClient, roles: dict[str, Headers]
    ) -> None:
        assert_problem(await registry.get("/dev/clock", headers=roles["village"]), 404)

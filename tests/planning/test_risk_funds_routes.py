"""Risk fund routes (项目风险金, issue #11 Money, invariant 42): contributions, force-majeure events, payouts, the
account and its entries — each route in scope, out of scope (404), with a role that may not act (403), with bad
input (422, nothing changed) and valid; payouts never exceed the balance, also under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.factories import OTHER_VILLAGE, VILLAGE, assert_problem
from tests.planning.test_funds_routes import People, count, make_project, people, planning_sql

__all__ = ["people"]  # the fixture, shared with the funds tests

pytestmark = pytest.mark.usefixtures("seed_regions")

FUND = f"/villages/{VILLAGE}/risk-fund"


async def breeding_project(db_urls: dict[str, str], *, household: uuid.UUID | None = None) -> str:
    """A breeding project of the village (with one beneficiary household when given)."""
    project_id = await make_project(
        db_urls, category="industry_breeding", budget_fen=20_000_000, status="approved"
    )
    if household is not None:
        await planning_sql(
            db_urls,
            "INSERT INTO planning_project_beneficiary (project_id, household_id, village_code, status_when_added,"
            " added_by) VALUES ($1, $2, $3, 'registered', 'test')",
            uuid.UUID(project_id),
            household,
            VILLAGE,
        )
    return project_id


def contribution(project_id: str, amount: str = "5000.00", **extra: Any) -> dict[str, Any]:
    return {"project_id": project_id, "amount_yuan": amount, "entry_date": "2015-08-01"} | extra


async def contribute(
    planning: httpx.AsyncClient, people: People, project_id: str, amount: str = "5000.00"
) -> None:
    r = await planning.post(
        f"{FUND}/contributions", json=contribution(project_id, amount), headers=people.clerk
    )
    assert r.status_code == 201, r.text


EVENT = {
    "kind": "animal_epidemic",
    "occurred_on": "2015-08-10",
    "description": "非洲猪瘟, 养殖户生猪死亡 40 头",
}


async def record_event(planning: httpx.AsyncClient, people: People) -> str:
    r = await planning.post(f"/villages/{VILLAGE}/force-majeure-events", json=EVENT, headers=people.clerk)
    assert r.status_code == 201, r.text
    event_id: str = r.json()["id"]
    return event_id


def payout(event_id: str, amount: str = "2000.00", **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "amount_yuan": amount, "entry_date": "2015-08-15"} | extra


class TestCreateContribution:
    async def test_anonymous(self, planning: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        project_id = await breeding_project(db_urls)
        assert_problem(await planning.post(f"{FUND}/contributions", json=contribution(project_id)), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await breeding_project(db_urls)
        r = await planning.post(
            f"{FUND}/contributions", json=contribution(project_id), headers=people.other_clerk
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await breeding_project(db_urls)
        for who in (people.cadre, people.province):
            assert_problem(
                await planning.post(f"{FUND}/contributions", json=contribution(project_id), headers=who), 403
            )

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await breeding_project(db_urls)
        url = f"{FUND}/contributions"
        for bad in ({"amount_yuan": "-1.00"}, {"amount_yuan": "1.234"}, {"entry_date": "2999-01-01"}):
            assert_problem(
                await planning.post(url, json=contribution(project_id) | bad, headers=people.clerk), 422
            )
        r = await planning.post(
            url, json=contribution(project_id, household_id=str(uuid.uuid4())), headers=people.clerk
        )
        assert assert_problem(r, 422)["code"] == "not_a_beneficiary"
        road = await make_project(db_urls, category="road")
        assert assert_problem(await planning.post(url, json=contribution(road), headers=people.clerk), 409)[
            "code"
        ] == ("not_a_productive_project")
        assert await count(db_urls, "planning_risk_fund_entry") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        household = uuid.uuid4()
        project_id = await breeding_project(db_urls, household=household)
        r = await planning.post(
            f"{FUND}/contributions",
            json=contribution(
                project_id, "1200.00", household_id=str(household), note="养牛项目投入 3% 风险金"
            ),
            headers=people.clerk,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["Location"] == f"{FUND}/entries/{body['id']}"
        assert (body["kind"], body["amount_yuan"], body["household_id"]) == (
            "contribution",
            "1200.00",
            str(household),
        )
        assert (await planning.get(FUND, headers=people.clerk)).json()["balance_yuan"] == "1200.00"


class TestCreateForceMajeureEvent:
    URL = f"/villages/{VILLAGE}/force-majeure-events"

    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.post(self.URL, json=EVENT), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.post(self.URL, json=EVENT, headers=people.other_clerk), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.post(self.URL, json=EVENT, headers=people.cadre), 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        for bad in ({"kind": "bad_luck"}, {"occurred_on": "2999-01-01"}, {"description": ""}):
            assert_problem(await planning.post(self.URL, json=EVENT | bad, headers=people.clerk), 422)
        assert await count(db_urls, "planning_force_majeure_event") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.post(self.URL, json=EVENT, headers=people.township)
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"{self.URL}/{r.json()['id']}"
        assert (r.json()["kind"], r.json()["village_code"]) == ("animal_epidemic", VILLAGE)

    async def test_registry_down(
        self, planning_registry_down: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning_registry_down.post(self.URL, json=EVENT, headers=people.clerk)
        assert assert_problem(r, 503)["code"] == "registry_unavailable"
        assert await count(db_urls, "planning_force_majeure_event") == 0


class TestListForceMajeureEvents:
    URL = f"/villages/{VILLAGE}/force-majeure-events"

    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(self.URL), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(self.URL, headers=people.other_clerk), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(self.URL, headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(self.URL + "?cursor=bad", headers=people.clerk), 400)
        assert_problem(
            await planning.get(f"/villages/{VILLAGE[:-3]}000/force-majeure-events", headers=people.admin), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        for day in ("2015-07-01", "2015-06-01"):
            await planning.post(self.URL, json=EVENT | {"occurred_on": day}, headers=people.clerk)
        first = (await planning.get(self.URL + "?limit=1", headers=people.clerk)).json()
        rest = (
            await planning.get(self.URL, params={"cursor": first["next_cursor"]}, headers=people.province)
        ).json()
        assert [e["occurred_on"] for e in first["items"] + rest["items"]] == ["2015-06-01", "2015-07-01"]


class TestGetForceMajeureEvent:
    async def test_anonymous(self, planning: httpx.AsyncClient, people: People) -> None:
        event_id = await record_event(planning, people)
        assert_problem(await planning.get(f"/villages/{VILLAGE}/force-majeure-events/{event_id}"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        event_id = await record_event(planning, people)
        r = await planning.get(
            f"/villages/{OTHER_VILLAGE}/force-majeure-events/{event_id}", headers=people.admin
        )
        assert_problem(r, 404)  # another village's path does not show this village's event
        r = await planning.get(
            f"/villages/{VILLAGE}/force-majeure-events/{event_id}", headers=people.other_clerk
        )
        assert_problem(r, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        event_id = await record_event(planning, people)
        assert_problem(
            await planning.get(f"/villages/{VILLAGE}/force-majeure-events/{event_id}", headers=people.cadre),
            403,
        )

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(
            await planning.get(f"/villages/{VILLAGE}/force-majeure-events/x", headers=people.clerk), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        event_id = await record_event(planning, people)
        r = await planning.get(f"/villages/{VILLAGE}/force-majeure-events/{event_id}", headers=people.clerk)
        assert r.status_code == 200, r.text
        assert r.json()["description"] == EVENT["description"]


class TestCreatePayout:
    URL = f"{FUND}/payouts"

    async def _funded(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> str:
        await contribute(planning, people, await breeding_project(db_urls), "5000.00")
        return await record_event(planning, people)

    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        event_id = await self._funded(planning, people, db_urls)
        assert_problem(await planning.post(self.URL, json=payout(event_id)), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        event_id = await self._funded(planning, people, db_urls)
        assert_problem(await planning.post(self.URL, json=payout(event_id), headers=people.other_admin), 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        event_id = await self._funded(planning, people, db_urls)
        for who in (people.clerk, people.province):
            assert_problem(await planning.post(self.URL, json=payout(event_id), headers=who), 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        event_id = await self._funded(planning, people, db_urls)
        for bad in ({"amount_yuan": "-2.00"}, {"amount_yuan": "0.001"}, {"event_id": None}):
            assert_problem(
                await planning.post(self.URL, json=payout(event_id) | bad, headers=people.township), 422
            )
        r = await planning.post(self.URL, json=payout(str(uuid.uuid4())), headers=people.township)
        assert assert_problem(r, 422)["code"] == "unknown_event"
        r = await planning.post(
            self.URL, json=payout(event_id, entry_date="2015-08-01"), headers=people.township
        )
        assert assert_problem(r, 422)["code"] == "payout_before_event"
        r = await planning.post(
            self.URL, json=payout(event_id, household_id=str(uuid.uuid4())), headers=people.admin
        )
        assert assert_problem(r, 422)["code"] == "not_a_beneficiary"
        r = await planning.post(self.URL, json=payout(event_id, "5000.01"), headers=people.admin)
        problem = assert_problem(r, 409)
        assert (problem["code"], problem["balance_yuan"]) == ("insufficient_balance", "5000.00")
        assert await count(db_urls, "planning_risk_fund_entry WHERE kind = 'payout'") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        household = uuid.uuid4()
        project_id = await breeding_project(db_urls, household=household)
        await contribute(planning, people, project_id, "5000.00")
        event_id = await record_event(planning, people)
        r = await planning.post(
            self.URL,
            json=payout(
                event_id, "3000.00", household_id=str(household), project_id=project_id, note="生猪死亡补助"
            ),
            headers=people.township,
        )
        assert r.status_code == 201, r.text
        assert (r.json()["kind"], r.json()["event_id"]) == ("payout", event_id)
        account = (await planning.get(FUND, headers=people.admin)).json()
        assert (
            account["balance_yuan"],
            account["contributed_yuan"],
            account["paid_out_yuan"],
            account["entries"],
        ) == (
            "2000.00",
            "5000.00",
            "3000.00",
            2,
        )

    async def test_concurrent_payouts_never_overdraw(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        """20 payouts of 1,000 at once from a fund of 5,000: 5 are paid, 15 refused (the CHECK decides)."""
        event_id = await self._funded(planning, people, db_urls)
        answers = await asyncio.gather(
            *(
                planning.post(self.URL, json=payout(event_id, "1000.00"), headers=people.admin)
                for _ in range(20)
            )
        )
        assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 15
        (row,) = await planning_sql(
            db_urls, "SELECT balance_fen FROM planning_risk_fund_account WHERE village_code = $1", VILLAGE
        )
        assert row["balance_fen"] == 0


class TestGetRiskFund:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(FUND), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(FUND, headers=people.other_clerk), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(FUND, headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get("/villages/4510251002/risk-fund", headers=people.clerk), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.get(FUND, headers=people.clerk)
        assert r.status_code == 200, r.text
        assert (r.json()["balance_yuan"], r.json()["entries"], r.json()["updated_at"]) == ("0.00", 0, None)


class TestListRiskFundEntries:
    URL = f"{FUND}/entries"

    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(self.URL), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(self.URL, headers=people.other_clerk), 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(self.URL, headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(self.URL + "?kind=gift", headers=people.clerk), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id = await breeding_project(db_urls)
        for amount in ("1.00", "2.00", "3.00"):
            await contribute(planning, people, project_id, amount)
        first = (await planning.get(self.URL + "?limit=2&kind=contribution", headers=people.clerk)).json()
        rest = (
            await planning.get(
                self.URL,
                params={"cursor": first["next_cursor"], "kind": "contribution"},
                headers=people.clerk,
            )
        ).json()
        assert [e["amount_yuan"] for e in first["items"] + rest["items"]] == ["1.00", "2.00", "3.00"]


class TestGetRiskFundEntry:
    async def _entry(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> str:
        project_id = await breeding_project(db_urls)
        r = await planning.post(f"{FUND}/contributions", json=contribution(project_id), headers=people.clerk)
        location: str = r.headers["Location"]
        return location

    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(await planning.get(await self._entry(planning, people, db_urls)), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        location = await self._entry(planning, people, db_urls)
        assert_problem(await planning.get(location, headers=people.other_clerk), 404)
        assert_problem(
            await planning.get(location.replace(VILLAGE, OTHER_VILLAGE), headers=people.admin), 404
        )

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(
            await planning.get(await self._entry(planning, people, db_urls), headers=people.cadre), 403
        )

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(f"{FUND}/entries/0", headers=people.clerk), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        r = await planning.get(await self._entry(planning, people, db_urls), headers=people.township)
        assert r.status_code == 200, r.text
        assert r.json()["amount_yuan"] == "5000.00"

"""Funds routes (issue #11 Money): allocations, funding lines and the funding gap, the earmark matrix, the ledger,
reversals, line transfers, and the draw on approval — each route in scope, out of scope (404), with a role that
may not act (403), with bad input (422, nothing changed) and valid; the money invariants under concurrency.

Projects are the projects feature's; these tests put the few project rows they need straight into the planning
database (`make_project`, `set_status`, `accept`), so the money rules are tested on their own.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_VILLAGE,
    OTHER_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

ENTRY_DAY = "2015-06-01"


# -- builders (the risk-fund tests use them too) -------------------------------------------------------------------
async def planning_sql(db_urls: dict[str, str], statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["planning"])
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def make_project(
    db_urls: dict[str, str],
    *,
    village: str = VILLAGE,
    category: str = "road",
    budget_fen: int = 175_000_000,
    status: str = "draft",
    starts_on: date | None = date(2015, 3, 1),
    name: str = "通村道路硬化 3.5 km",
) -> str:
    """A project row as the projects feature would have stored it; its id."""
    project_id = uuid.uuid4()
    await planning_sql(
        db_urls,
        "INSERT INTO planning_project (id, village_code, category, name, budget_fen, status, starts_on, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, 'test')",
        project_id,
        village,
        category,
        name,
        budget_fen,
        status,
        starts_on,
    )
    return str(project_id)


async def set_status(db_urls: dict[str, str], project_id: str, status: str) -> None:
    await planning_sql(
        db_urls, "UPDATE planning_project SET status = $2 WHERE id = $1", uuid.UUID(project_id), status
    )


async def accept(db_urls: dict[str, str], project_id: str, *, passed: bool = True) -> None:
    await planning_sql(
        db_urls,
        "INSERT INTO planning_acceptance (project_id, accepted_on, passed, findings, accepted_by, recorded_at,"
        " recorded_by) VALUES ($1, '2015-06-01', $2, '路面合格', '县交通局', now(), 'test')",
        uuid.UUID(project_id),
        passed,
    )


async def count(db_urls: dict[str, str], table: str) -> int:
    rows = await planning_sql(db_urls, f"SELECT count(*) FROM {table}")  # noqa: S608 - table names from the tests
    return int(rows[0][0])


@dataclass
class People:
    admin: Headers
    township: Headers
    clerk: Headers
    cadre: Headers
    province: Headers
    other_admin: Headers
    other_clerk: Headers
    #: A village officer of another county.
    far_clerk: Headers


@pytest.fixture
def people(signing_key: SigningKey) -> People:
    return People(
        admin=headers_for(signing_key, "county_admin", COUNTY, "county-1"),
        township=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1"),
        clerk=headers_for(signing_key, "village_officer", VILLAGE, "clerk-1"),
        cadre=headers_for(signing_key, "cadre", COUNTY, "cadre-1"),
        province=headers_for(signing_key, "province_system", "450000000000", "province-1"),
        other_admin=headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-2"),
        other_clerk=headers_for(signing_key, "village_officer", OTHER_VILLAGE, "clerk-2"),
        far_clerk=headers_for(signing_key, "village_officer", OTHER_COUNTY_VILLAGE, "clerk-3"),
    )


def allocation_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "year": 2015,
        "source": "fiscal_special_poverty_fund",
        "document_number": "靖财农〔2015〕12号",  # noqa: RUF001
        "amount_yuan": "1000000.00",
    }
    body.update(extra)
    return body


async def make_allocation(planning: httpx.AsyncClient, admin: Headers, **extra: Any) -> dict[str, Any]:
    r = await planning.post(f"/counties/{COUNTY}/allocations", json=allocation_body(**extra), headers=admin)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def add_line(
    planning: httpx.AsyncClient, headers: Headers, project_id: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "sector_department_fund",
        "funder": "市交通运输局",
        "committed_yuan": "880000.00",
    }
    body.update(extra)
    r = await planning.post(f"/projects/{project_id}/funding-lines", json=body, headers=headers)
    assert r.status_code == 201, r.text
    line: dict[str, Any] = r.json()
    return line


async def funded_line(
    planning: httpx.AsyncClient,
    people: People,
    db_urls: dict[str, str],
    *,
    received: str | None = "880000.00",
    category: str = "road",
    source: str = "sector_department_fund",
) -> tuple[str, dict[str, Any]]:
    """An approved project with one line (and money received on it); (project id, line)."""
    project_id = await make_project(db_urls, category=category)
    line = await add_line(planning, people.clerk, project_id, source=source)
    await set_status(db_urls, project_id, "approved")
    if received is not None:
        r = await planning.post(
            f"/funding-lines/{line['id']}/receipts",
            json={"amount_yuan": received, "entry_date": ENTRY_DAY, "voucher": "收-001"},
            headers=people.admin,
        )
        assert r.status_code == 201, r.text
    return project_id, line


def disbursement(amount: str = "100000.00", stage: str = "progress", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount_yuan": amount,
        "entry_date": ENTRY_DAY,
        "stage": stage,
        "payee": "靖西市路桥工程公司",
        "voucher": "付-001",
        "approved_by": "县扶贫办 黄主任",
    }
    body.update(extra)
    return body


# == allocations =====================================================================================================
class TestCreateAllocation:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.post(f"/counties/{COUNTY}/allocations", json=allocation_body()), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.post(
            f"/counties/{COUNTY}/allocations", json=allocation_body(), headers=people.other_admin
        )
        assert_problem(r, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        for who in (people.township, people.clerk, people.province):
            r = await planning.post(f"/counties/{COUNTY}/allocations", json=allocation_body(), headers=who)
            assert_problem(r, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        for bad in (
            {"amount_yuan": "-1.00"},
            {"amount_yuan": "10.005"},
            {"amount_yuan": "0.00"},
            {"source": "lottery"},
        ):
            r = await planning.post(
                f"/counties/{COUNTY}/allocations", json=allocation_body(**bad), headers=people.admin
            )
            assert_problem(r, 422)
        r = await planning.post(
            f"/counties/{VILLAGE}/allocations", json=allocation_body(), headers=people.admin
        )
        assert assert_problem(r, 422)["code"] == "not_a_county"
        assert await count(db_urls, "planning_allocation") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.post(
            f"/counties/{COUNTY}/allocations", json=allocation_body(), headers=people.admin
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["Location"] == f"/allocations/{body['id']}"
        assert (body["amount_yuan"], body["drawn_yuan"], body["remaining_yuan"]) == (
            "1000000.00",
            "0.00",
            "1000000.00",
        )
        assert body["source"] == "fiscal_special_poverty_fund" and body["county_code"] == COUNTY
        again = await planning.post(
            f"/counties/{COUNTY}/allocations", json=allocation_body(), headers=people.admin
        )
        assert assert_problem(again, 409)["code"] == "document_number_taken"


class TestListAllocations:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(f"/counties/{COUNTY}/allocations"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        await make_allocation(planning, people.admin)
        # Another county's admin, and a village officer of that county.
        for outsider in (people.other_admin, people.far_clerk):
            assert_problem(await planning.get(f"/counties/{COUNTY}/allocations", headers=outsider), 404)
        # The county's own officers asking for another county: 404 like a county that does not exist.
        other = await planning.get(f"/counties/{OTHER_COUNTY}/allocations", headers=people.township)
        missing = await planning.get("/counties/451088000000/allocations", headers=people.township)
        assert assert_problem(other, 404)["detail"].replace(OTHER_COUNTY, "_") == assert_problem(
            missing, 404
        )["detail"].replace("451088000000", "_")

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(f"/counties/{COUNTY}/allocations", headers=people.cadre), 403)

    async def test_the_countys_townships_and_villages_read(
        self, planning: httpx.AsyncClient, people: People
    ) -> None:
        """Township and village officers read their county's allocations (两公开), and only read them."""
        created = await make_allocation(planning, people.admin)
        for who in (people.township, people.clerk, people.other_clerk):  # other_clerk: another township's
            r = await planning.get(f"/counties/{COUNTY}/allocations", headers=who)
            assert r.status_code == 200, r.text
            assert [a["id"] for a in r.json()["items"]] == [created["id"]]
            body = allocation_body(document_number="靖财-乡村")
            assert_problem(
                await planning.post(f"/counties/{COUNTY}/allocations", json=body, headers=who), 403
            )

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(
            await planning.get(f"/counties/{COUNTY}/allocations?year=1999", headers=people.admin), 422
        )
        assert_problem(
            await planning.get(f"/counties/{COUNTY}/allocations?cursor=xx", headers=people.admin), 400
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        for n in range(3):
            await make_allocation(planning, people.admin, document_number=f"靖财{n}", year=2014 + n)
        await make_allocation(planning, people.admin, document_number="靖财-信贷", source="credit")
        r = await planning.get(f"/counties/{COUNTY}/allocations?limit=2", headers=people.admin)
        assert r.status_code == 200, r.text
        first = r.json()
        assert [a["year"] for a in first["items"]] == [2014, 2015]
        r = await planning.get(
            f"/counties/{COUNTY}/allocations",
            params={"cursor": first["next_cursor"]},
            headers=people.province,
        )
        assert [a["year"] for a in r.json()["items"]] == [2015, 2016] and r.json()["next_cursor"] is None
        r = await planning.get(f"/counties/{COUNTY}/allocations?source=credit", headers=people.admin)
        assert [a["document_number"] for a in r.json()["items"]] == ["靖财-信贷"]


class TestGetAllocation:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(f"/allocations/{uuid.uuid4()}"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        allocation = await make_allocation(planning, people.admin)
        for outsider in (people.other_admin, people.far_clerk):
            found = await planning.get(f"/allocations/{allocation['id']}", headers=outsider)
            missing = await planning.get(f"/allocations/{uuid.uuid4()}", headers=outsider)
            assert assert_problem(found, 404)["title"] == assert_problem(missing, 404)["title"]

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        allocation = await make_allocation(planning, people.admin)
        assert_problem(await planning.get(f"/allocations/{allocation['id']}", headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get("/allocations/not-a-uuid", headers=people.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        allocation = await make_allocation(planning, people.admin)
        project_id = await make_project(db_urls, category="road")
        await add_line(
            planning,
            people.clerk,
            project_id,
            source="fiscal_special_poverty_fund",
            allocation_id=allocation["id"],
        )
        for who in (people.admin, people.township, people.clerk, people.other_clerk, people.province):
            r = await planning.get(f"/allocations/{allocation['id']}", headers=who)
            assert r.status_code == 200, r.text
            assert (r.json()["pending_yuan"], r.json()["drawn_yuan"]) == ("880000.00", "0.00")


# == funding lines ===================================================================================================
class TestCreateFundingLine:
    async def test_anonymous(self, planning: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        project_id = await make_project(db_urls)
        body = {"source": "credit", "funder": "信用社", "committed_yuan": "1.00"}
        assert_problem(await planning.post(f"/projects/{project_id}/funding-lines", json=body), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        body = {"source": "social_donation", "funder": "爱心企业", "committed_yuan": "1.00"}
        r = await planning.post(
            f"/projects/{project_id}/funding-lines", json=body, headers=people.other_clerk
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        body = {"source": "social_donation", "funder": "爱心企业", "committed_yuan": "1.00"}
        for who in (people.cadre, people.province):
            assert_problem(
                await planning.post(f"/projects/{project_id}/funding-lines", json=body, headers=who), 403
            )

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls, budget_fen=100_000)
        url = f"/projects/{project_id}/funding-lines"
        base = {"source": "social_donation", "funder": "爱心企业", "committed_yuan": "10.00"}
        for bad in (
            {"committed_yuan": "-5.00"},
            {"committed_yuan": "1.001"},
            {"source": "lottery"},
            {"extra": 1},
        ):
            assert_problem(await planning.post(url, json=base | bad, headers=people.clerk), 422)
        r = await planning.post(url, json=base | {"allocation_id": str(uuid.uuid4())}, headers=people.clerk)
        assert assert_problem(r, 422)["code"] == "unknown_allocation"
        r = await planning.post(url, json=base | {"committed_yuan": "1000.01"}, headers=people.clerk)
        assert assert_problem(r, 409)["code"] == "over_budget"
        assert await count(db_urls, "planning_funding_line") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        """F5's road (§5.7): 1,750,000 = 880,000 transport + 650,000 self-raised + 220,000 donations."""
        project_id = await make_project(db_urls)
        r = await planning.post(
            f"/projects/{project_id}/funding-lines",
            json={
                "source": "sector_department_fund",
                "funder": "市交通运输局",
                "committed_yuan": "880000.00",
            },
            headers=people.clerk,
        )
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"/funding-lines/{r.json()['id']}" and r.headers["ETag"] == '"1"'
        summary = (await planning.get(f"/projects/{project_id}/funding", headers=people.clerk)).json()
        assert (summary["funding_gap_yuan"], summary["flags"]) == ("870000.00", ["funding_gap"])
        await add_line(
            planning,
            people.clerk,
            project_id,
            source="beneficiary_self_raised",
            funder="受益群众",
            committed_yuan="650000.00",
        )
        await add_line(
            planning,
            people.township,
            project_id,
            source="social_donation",
            funder="社会各界",
            committed_yuan="220000.00",
        )
        summary = (await planning.get(f"/projects/{project_id}/funding", headers=people.admin)).json()
        assert summary["budget_yuan"] == summary["committed_yuan"] == "1750000.00"
        assert (summary["funding_gap_yuan"], summary["flags"], summary["lines"]) == ("0.00", [], 3)

    async def test_allocation_of_the_county_source_and_year(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        allocation = await make_allocation(planning, people.admin)
        project_id = await make_project(db_urls)
        url = f"/projects/{project_id}/funding-lines"
        body = {
            "source": "credit",
            "funder": "县财政局",
            "committed_yuan": "1.00",
            "allocation_id": allocation["id"],
        }
        assert assert_problem(await planning.post(url, json=body, headers=people.clerk), 409)["code"] == (
            "allocation_source_mismatch"
        )
        other_year = await make_allocation(planning, people.admin, document_number="2016号", year=2016)
        body |= {"source": "fiscal_special_poverty_fund", "allocation_id": other_year["id"]}
        assert assert_problem(await planning.post(url, json=body, headers=people.clerk), 409)["code"] == (
            "allocation_year_mismatch"
        )

    async def test_frozen_once_approved(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls, status="approved")
        body = {"source": "social_donation", "funder": "爱心企业", "committed_yuan": "1.00"}
        r = await planning.post(f"/projects/{project_id}/funding-lines", json=body, headers=people.admin)
        assert assert_problem(r, 409)["code"] == "project_approved"


class TestListFundingLines:
    async def test_anonymous(self, planning: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        project_id = await make_project(db_urls)
        assert_problem(await planning.get(f"/projects/{project_id}/funding-lines"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        assert_problem(
            await planning.get(f"/projects/{project_id}/funding-lines", headers=people.other_clerk), 404
        )

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        assert_problem(await planning.get(f"/projects/{project_id}/funding-lines", headers=people.cadre), 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        assert_problem(
            await planning.get(f"/projects/{project_id}/funding-lines?limit=0", headers=people.clerk), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id = await make_project(db_urls)
        ids = [
            (await add_line(planning, people.clerk, project_id, committed_yuan=f"{n}.00"))["id"]
            for n in (1, 2, 3)
        ]
        r = await planning.get(f"/projects/{project_id}/funding-lines?limit=2", headers=people.clerk)
        page = r.json()
        more = await planning.get(
            f"/projects/{project_id}/funding-lines",
            params={"cursor": page["next_cursor"]},
            headers=people.province,
        )
        assert [x["id"] for x in page["items"] + more.json()["items"]] == ids


class TestUpdateFundingLine:
    async def _line(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> tuple[str, str]:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        return project_id, f"/projects/{project_id}/funding-lines/{line['id']}"

    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, url = await self._line(planning, people, db_urls)
        assert_problem(await planning.patch(url, json={"funder": "x"}, headers={"If-Match": '"1"'}), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, url = await self._line(planning, people, db_urls)
        r = await planning.patch(url, json={"funder": "x"}, headers=people.other_clerk | {"If-Match": '"1"'})
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, url = await self._line(planning, people, db_urls)
        assert_problem(
            await planning.patch(url, json={"funder": "x"}, headers=people.cadre | {"If-Match": '"1"'}), 403
        )

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, url = await self._line(planning, people, db_urls)
        assert_problem(
            await planning.patch(
                url, json={"committed_yuan": "-1.00"}, headers=people.clerk | {"If-Match": '"1"'}
            ),
            422,
        )
        assert_problem(await planning.patch(url, json={"funder": "x"}, headers=people.clerk), 428)
        assert_problem(
            await planning.patch(url, json={"funder": "x"}, headers=people.clerk | {"If-Match": '"7"'}), 412
        )
        r = await planning.patch(
            url, json={"committed_yuan": "1750000.01"}, headers=people.clerk | {"If-Match": '"1"'}
        )
        assert assert_problem(r, 409)["code"] == "over_budget"

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id, url = await self._line(planning, people, db_urls)
        allocation = await make_allocation(planning, people.admin, source="sector_department_fund")
        r = await planning.patch(
            url,
            json={"committed_yuan": "900000.00", "allocation_id": allocation["id"]},
            headers=people.clerk | {"If-Match": '"1"'},
        )
        assert r.status_code == 200, r.text
        assert (r.json()["committed_yuan"], r.json()["allocation_id"], r.headers["ETag"]) == (
            "900000.00",
            allocation["id"],
            '"2"',
        )
        r = await planning.patch(
            url, json={"allocation_id": None}, headers=people.clerk | {"If-Match": '"2"'}
        )
        assert r.json()["allocation_id"] is None and r.json()["committed_yuan"] == "900000.00"
        await set_status(db_urls, project_id, "approved")
        r = await planning.patch(url, json={"funder": "x"}, headers=people.admin | {"If-Match": '"3"'})
        assert assert_problem(r, 409)["code"] == "project_approved"


class TestDeleteFundingLine:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        assert_problem(await planning.delete(f"/projects/{project_id}/funding-lines/{line['id']}"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        r = await planning.delete(
            f"/projects/{project_id}/funding-lines/{line['id']}",
            headers=people.other_clerk | {"If-Match": '"1"'},
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        r = await planning.delete(
            f"/projects/{project_id}/funding-lines/{line['id']}",
            headers=people.province | {"If-Match": '"1"'},
        )
        assert_problem(r, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        r = await planning.delete(f"/projects/{project_id}/funding-lines/{line['id']}", headers=people.clerk)
        assert_problem(r, 428)
        assert await count(db_urls, "planning_funding_line") == 1

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        r = await planning.delete(
            f"/projects/{project_id}/funding-lines/{line['id']}", headers=people.clerk | {"If-Match": '"1"'}
        )
        assert r.status_code == 204, r.text
        assert await count(db_urls, "planning_funding_line") == 0


class TestGetProjectFunding:
    async def test_anonymous(self, planning: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        assert_problem(await planning.get(f"/projects/{await make_project(db_urls)}/funding"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning.get(f"/projects/{await make_project(db_urls)}/funding", headers=people.other_admin)
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning.get(f"/projects/{await make_project(db_urls)}/funding", headers=people.cadre)
        assert_problem(r, 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get("/projects/x/funding", headers=people.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        """F5's water supply: 400,000 yuan, the water bureau 200,000 — the shortfall is the funding gap."""
        project_id = await make_project(db_urls, category="water_drinking", budget_fen=40_000_000)
        await add_line(planning, people.clerk, project_id, funder="县水务局", committed_yuan="200000.00")
        r = await planning.get(f"/projects/{project_id}/funding", headers=people.province)
        assert r.status_code == 200, r.text
        assert (r.json()["funding_gap_yuan"], r.json()["disbursement_rate"]) == ("200000.00", "0.00")


class TestGetFundingLine:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(f"/funding-lines/{uuid.uuid4()}"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        line = await add_line(planning, people.clerk, await make_project(db_urls))
        assert_problem(await planning.get(f"/funding-lines/{line['id']}", headers=people.other_clerk), 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        line = await add_line(planning, people.clerk, await make_project(db_urls))
        assert_problem(await planning.get(f"/funding-lines/{line['id']}", headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get("/funding-lines/12", headers=people.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        _, line = await funded_line(planning, people, db_urls, received="500000.00")
        r = await planning.get(f"/funding-lines/{line['id']}", headers=people.township)
        assert r.status_code == 200, r.text
        assert (r.json()["received_yuan"], r.json()["disbursed_yuan"]) == ("500000.00", "0.00")
        assert r.headers["ETag"] == f'"{r.json()["version"]}"'


# == earmarking =======================================================================================================
class TestGetEarmarkMatrix:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(f"/counties/{COUNTY}/earmark-matrix"), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(
            await planning.get(f"/counties/{COUNTY}/earmark-matrix", headers=people.other_admin), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get(f"/counties/{COUNTY}/earmark-matrix", headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.get(f"/counties/{VILLAGE}/earmark-matrix", headers=people.admin)
        assert assert_problem(r, 422)["code"] == "not_a_county"

    async def test_valid(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.get(
            f"/counties/{COUNTY}/earmark-matrix", headers=people.clerk
        )  # a village reads it
        assert r.status_code == 200, r.text
        cells = {(c["source"], c["category"]): c for c in r.json()["cells"]}
        assert len(cells) == 14 * 21
        assert cells[("interest_subsidy", "road")]["allowed"] is False
        assert cells[("fiscal_special_poverty_fund", "road")] | {} == {
            "source": "fiscal_special_poverty_fund",
            "category": "road",
            "allowed": True,
            "origin": "default",
            "updated_at": None,
            "updated_by": None,
        }


class TestSetEarmarkCell:
    URL = f"/counties/{COUNTY}/earmark-matrix/fiscal_special_poverty_fund/health_facility"

    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(
            await planning.put(self.URL, json={"allowed": True, "reason": "县政府常务会议决定"}), 401
        )

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        r = await planning.put(self.URL, json={"allowed": True, "reason": "x"}, headers=people.other_admin)
        assert_problem(r, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(
            await planning.put(self.URL, json={"allowed": True, "reason": "x"}, headers=people.township), 403
        )

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(await planning.put(self.URL, json={"allowed": True}, headers=people.admin), 422)
        bad = f"/counties/{COUNTY}/earmark-matrix/fiscal_special_poverty_fund/casino"
        r = await planning.put(bad, json={"allowed": True, "reason": "x"}, headers=people.admin)
        assert_problem(r, 422)
        assert await count(db_urls, "planning_earmark_rule WHERE county_code <> ''") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        """A county lets its special poverty fund pay the village clinic (F5's 60 m² clinic), and forbids it again:
        the disbursement follows the matrix (invariant 37)."""
        _, line = await funded_line(
            planning,
            people,
            db_urls,
            category="health_facility",
            source="fiscal_special_poverty_fund",
            received="120000.00",
        )
        pay = f"/funding-lines/{line['id']}/disbursements"
        r = await planning.post(pay, json=disbursement("10000.00"), headers=people.admin)
        assert assert_problem(r, 409)["code"] == "not_earmarked"
        r = await planning.put(
            self.URL, json={"allowed": True, "reason": "县政府常务会议决定"}, headers=people.admin
        )
        assert r.status_code == 200, r.text
        assert (r.json()["allowed"], r.json()["origin"], r.json()["updated_by"]) == (
            True,
            "county",
            "county-1",
        )
        assert (
            await planning.post(pay, json=disbursement("10000.00"), headers=people.admin)
        ).status_code == 201
        audit = await planning_sql(
            db_urls, "SELECT reason FROM planning_audit_event WHERE action = 'earmark.set'"
        )
        assert [a["reason"] for a in audit] == ["县政府常务会议决定"]
        matrix = (await planning.get(f"/counties/{COUNTY}/earmark-matrix", headers=people.admin)).json()
        cell = next(
            c
            for c in matrix["cells"]
            if c["source"] == "fiscal_special_poverty_fund" and c["category"] == "health_facility"
        )
        assert (cell["allowed"], cell["origin"]) == (True, "county")


# == line transfers =====================================================================================================
async def two_lines(
    planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    project_id = await make_project(db_urls)
    a = await add_line(planning, people.clerk, project_id, committed_yuan="880000.00")
    b = await add_line(
        planning,
        people.clerk,
        project_id,
        source="social_donation",
        funder="社会各界",
        committed_yuan="220000.00",
    )
    await set_status(db_urls, project_id, "approved")
    return project_id, a, b


def transfer_body(a: dict[str, Any], b: dict[str, Any], amount: str = "100000.00") -> dict[str, Any]:
    return {
        "from_line_id": a["id"],
        "to_line_id": b["id"],
        "amount_yuan": amount,
        "approval_document": "靖扶办〔2015〕7号",  # noqa: RUF001
        "reason": "交通补助未足额到位, 由社会捐资补足",
    }


class TestCreateLineTransfer:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, a, b = await two_lines(planning, people, db_urls)
        assert_problem(
            await planning.post(f"/projects/{project_id}/line-transfers", json=transfer_body(a, b)), 401
        )

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, a, b = await two_lines(planning, people, db_urls)
        r = await planning.post(
            f"/projects/{project_id}/line-transfers", json=transfer_body(a, b), headers=people.other_admin
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, a, b = await two_lines(planning, people, db_urls)
        for who in (people.township, people.clerk):
            r = await planning.post(
                f"/projects/{project_id}/line-transfers", json=transfer_body(a, b), headers=who
            )
            assert_problem(r, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, a, b = await two_lines(planning, people, db_urls)
        url = f"/projects/{project_id}/line-transfers"
        assert_problem(await planning.post(url, json=transfer_body(a, b, "-1.00"), headers=people.admin), 422)
        assert_problem(await planning.post(url, json=transfer_body(a, a), headers=people.admin), 422)
        assert_problem(
            await planning.post(url, json=transfer_body(a, {"id": str(uuid.uuid4())}), headers=people.admin),
            422,
        )
        await planning.post(
            f"/funding-lines/{a['id']}/receipts",
            json={"amount_yuan": "800000.00", "entry_date": ENTRY_DAY, "voucher": "收-1"},
            headers=people.admin,
        )
        r = await planning.post(url, json=transfer_body(a, b, "80000.01"), headers=people.admin)
        assert assert_problem(r, 409)["code"] == "below_received"
        assert await count(db_urls, "planning_line_transfer") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id, a, b = await two_lines(planning, people, db_urls)
        r = await planning.post(
            f"/projects/{project_id}/line-transfers", json=transfer_body(a, b), headers=people.admin
        )
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"/projects/{project_id}/line-transfers/{r.json()['id']}"
        lines = (await planning.get(f"/projects/{project_id}/funding-lines", headers=people.admin)).json()[
            "items"
        ]
        assert [x["committed_yuan"] for x in lines] == ["780000.00", "320000.00"]
        summary = (await planning.get(f"/projects/{project_id}/funding", headers=people.admin)).json()
        assert summary["committed_yuan"] == "1100000.00"  # Σ unchanged
        audit = await planning_sql(
            db_urls, "SELECT reason FROM planning_audit_event WHERE action = 'line_transfer.create'"
        )
        assert [x["reason"] for x in audit] == ["交通补助未足额到位, 由社会捐资补足"]

    async def test_drawn_lines_move_their_allocations(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str], planning_app: FastAPI
    ) -> None:
        first = await make_allocation(
            planning, people.admin, source="sector_department_fund", amount_yuan="900000.00"
        )
        second = await make_allocation(
            planning, people.admin, source="social_donation", document_number="捐-1", amount_yuan="250000.00"
        )
        project_id = await make_project(db_urls)
        a = await add_line(planning, people.clerk, project_id, allocation_id=first["id"])
        b = await add_line(
            planning,
            people.clerk,
            project_id,
            source="social_donation",
            funder="x",
            committed_yuan="220000.00",
            allocation_id=second["id"],
        )
        await draw(planning_app, project_id)
        await set_status(db_urls, project_id, "approved")
        url = f"/projects/{project_id}/line-transfers"
        r = await planning.post(url, json=transfer_body(a, b, "30000.01"), headers=people.admin)
        assert assert_problem(r, 409)["code"] == "allocation_exceeded"
        r = await planning.post(url, json=transfer_body(a, b, "30000.00"), headers=people.admin)
        assert r.status_code == 201, r.text
        drawn = [
            (await planning.get(f"/allocations/{x['id']}", headers=people.admin)).json()["drawn_yuan"]
            for x in (first, second)
        ]
        assert drawn == ["850000.00", "250000.00"]


class TestListLineTransfers:
    async def test_anonymous(self, planning: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        assert_problem(await planning.get(f"/projects/{await make_project(db_urls)}/line-transfers"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning.get(
            f"/projects/{await make_project(db_urls)}/line-transfers", headers=people.other_admin
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning.get(
            f"/projects/{await make_project(db_urls)}/line-transfers", headers=people.cadre
        )
        assert_problem(r, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning.get(
            f"/projects/{await make_project(db_urls)}/line-transfers?cursor=%%", headers=people.admin
        )
        assert_problem(r, 400)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id, a, b = await two_lines(planning, people, db_urls)
        for amount in ("1.00", "2.00"):
            await planning.post(
                f"/projects/{project_id}/line-transfers",
                json=transfer_body(a, b, amount),
                headers=people.admin,
            )
        r = await planning.get(f"/projects/{project_id}/line-transfers?limit=1", headers=people.clerk)
        rest = await planning.get(
            f"/projects/{project_id}/line-transfers",
            params={"cursor": r.json()["next_cursor"]},
            headers=people.clerk,
        )
        assert [t["amount_yuan"] for t in r.json()["items"] + rest.json()["items"]] == ["1.00", "2.00"]


class TestGetLineTransfer:
    async def _one(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> str:
        project_id, a, b = await two_lines(planning, people, db_urls)
        r = await planning.post(
            f"/projects/{project_id}/line-transfers", json=transfer_body(a, b), headers=people.admin
        )
        location: str = r.headers["Location"]
        return location

    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(await planning.get(await self._one(planning, people, db_urls)), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(
            await planning.get(await self._one(planning, people, db_urls), headers=people.other_admin), 404
        )

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(
            await planning.get(await self._one(planning, people, db_urls), headers=people.cadre), 403
        )

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        url = await self._one(planning, people, db_urls)
        assert_problem(await planning.get(url.rsplit("/", 1)[0] + "/nope", headers=people.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        r = await planning.get(await self._one(planning, people, db_urls), headers=people.clerk)
        assert r.status_code == 200, r.text
        assert r.json()["approved_by"] == "county-1" and r.json()["amount_yuan"] == "100000.00"


# == the ledger ====================================================================================================
class TestCreateReceipt:
    BODY: ClassVar[dict[str, str]] = {
        "amount_yuan": "880000.00",
        "entry_date": ENTRY_DAY,
        "voucher": "收-001",
        "payee": "村扶贫资金专户",
    }

    async def _line(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> str:
        _, line = await funded_line(planning, people, db_urls, received=None)
        return f"/funding-lines/{line['id']}/receipts"

    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        assert_problem(await planning.post(await self._line(planning, people, db_urls), json=self.BODY), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        r = await planning.post(
            await self._line(planning, people, db_urls), json=self.BODY, headers=people.other_admin
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        url = await self._line(planning, people, db_urls)
        for who in (people.clerk, people.township, people.province, people.cadre):
            assert_problem(await planning.post(url, json=self.BODY, headers=who), 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        url = await self._line(planning, people, db_urls)
        for bad in (
            {"amount_yuan": "-1.00"},
            {"amount_yuan": "0.001"},
            {"entry_date": "2015-13-01"},
            {"voucher": ""},
        ):
            assert_problem(await planning.post(url, json=self.BODY | bad, headers=people.admin), 422)
        r = await planning.post(url, json=self.BODY | {"entry_date": "2999-01-01"}, headers=people.admin)
        assert assert_problem(r, 422)["code"] == "date_in_future"
        r = await planning.post(url, json=self.BODY | {"amount_yuan": "880000.01"}, headers=people.admin)
        assert assert_problem(r, 409)["code"] == "receipt_exceeds_commitment"
        assert await count(db_urls, "planning_ledger_entry") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        url = await self._line(planning, people, db_urls)
        r = await planning.post(url, json=self.BODY, headers=people.admin)
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["Location"] == f"/ledger-entries/{body['id']}"
        assert (body["kind"], body["amount_yuan"], body["reverses"], body["reversed_by"]) == (
            "receipt",
            "880000.00",
            None,
            None,
        )
        line = (await planning.get(url.rsplit("/", 1)[0], headers=people.admin)).json()
        assert line["received_yuan"] == "880000.00"

    async def test_not_before_approval(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id = await make_project(db_urls)
        line = await add_line(planning, people.clerk, project_id)
        r = await planning.post(f"/funding-lines/{line['id']}/receipts", json=self.BODY, headers=people.admin)
        assert assert_problem(r, 409)["code"] == "project_not_approved"


class TestCreateDisbursement:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line = await funded_line(planning, people, db_urls)
        assert_problem(
            await planning.post(f"/funding-lines/{line['id']}/disbursements", json=disbursement()), 401
        )

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line = await funded_line(planning, people, db_urls)
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements", json=disbursement(), headers=people.other_admin
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line = await funded_line(planning, people, db_urls)
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements", json=disbursement(), headers=people.clerk
        )
        assert_problem(r, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line = await funded_line(planning, people, db_urls, received="100000.00")
        url = f"/funding-lines/{line['id']}/disbursements"
        for bad in ({"amount_yuan": "-5.00"}, {"amount_yuan": "5.555"}, {"stage": "bonus"}, {"payee": None}):
            assert_problem(await planning.post(url, json=disbursement() | bad, headers=people.admin), 422)
        r = await planning.post(url, json=disbursement("100000.01"), headers=people.admin)
        assert assert_problem(r, 409)["code"] == "disbursement_exceeds_receipts"
        assert await count(db_urls, "planning_ledger_entry WHERE kind = 'disbursement'") == 0

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id, line = await funded_line(planning, people, db_urls)
        url = f"/funding-lines/{line['id']}/disbursements"
        r = await planning.post(url, json=disbursement("300000.00", "advance"), headers=people.admin)
        assert r.status_code == 201, r.text
        assert (r.json()["stage"], r.json()["payee"], r.json()["approved_by"]) == (
            "advance",
            "靖西市路桥工程公司",
            "县扶贫办 黄主任",
        )
        r = await planning.post(url, json=disbursement("500000.00", "completion"), headers=people.admin)
        assert assert_problem(r, 409)["code"] == "acceptance_required"
        await accept(db_urls, project_id)
        r = await planning.post(url, json=disbursement("500000.00", "completion"), headers=people.admin)
        assert r.status_code == 201, r.text
        line_now = (await planning.get(f"/funding-lines/{line['id']}", headers=people.admin)).json()
        assert (line_now["received_yuan"], line_now["disbursed_yuan"]) == ("880000.00", "800000.00")

    async def test_a_failed_acceptance_pays_no_completion(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, line = await funded_line(planning, people, db_urls)
        await accept(db_urls, project_id, passed=False)
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements",
            json=disbursement(stage="retention"),
            headers=people.admin,
        )
        assert assert_problem(r, 409)["code"] == "acceptance_required"

    async def test_not_earmarked(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        """The shipped matrix: the interest subsidy pays only finance projects (专款专用)."""
        _, line = await funded_line(planning, people, db_urls, source="interest_subsidy")
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements", json=disbursement(), headers=people.admin
        )
        problem = assert_problem(r, 409)
        assert (problem["code"], problem["source"], problem["category"]) == (
            "not_earmarked",
            "interest_subsidy",
            "road",
        )


async def ledger(
    planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
) -> tuple[str, str, list[int]]:
    """An approved project whose line received money and paid some out; (project id, line id, entry ids)."""
    project_id, line = await funded_line(planning, people, db_urls)
    ids = [
        int(e["id"])
        for e in (await planning.get(f"/funding-lines/{line['id']}/ledger", headers=people.admin)).json()[
            "items"
        ]
    ]
    for amount in ("100000.00", "200000.00"):
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements", json=disbursement(amount), headers=people.admin
        )
        ids.append(int(r.json()["id"]))
    return project_id, line["id"], ids


class TestListLineLedger:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line_id, _ = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/funding-lines/{line_id}/ledger"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line_id, _ = await ledger(planning, people, db_urls)
        assert_problem(
            await planning.get(f"/funding-lines/{line_id}/ledger", headers=people.other_admin), 404
        )

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line_id, _ = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/funding-lines/{line_id}/ledger", headers=people.cadre), 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, line_id, _ = await ledger(planning, people, db_urls)
        assert_problem(
            await planning.get(f"/funding-lines/{line_id}/ledger?limit=5000", headers=people.admin), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        _, line_id, ids = await ledger(planning, people, db_urls)
        first = (await planning.get(f"/funding-lines/{line_id}/ledger?limit=2", headers=people.clerk)).json()
        rest = (
            await planning.get(
                f"/funding-lines/{line_id}/ledger",
                params={"cursor": first["next_cursor"]},
                headers=people.clerk,
            )
        ).json()
        entries = first["items"] + rest["items"]
        assert [e["id"] for e in entries] == ids
        assert [e["kind"] for e in entries] == ["receipt", "disbursement", "disbursement"]


class TestListProjectLedger:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, _, _ = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/projects/{project_id}/ledger"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, _, _ = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/projects/{project_id}/ledger", headers=people.other_clerk), 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, _, _ = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/projects/{project_id}/ledger", headers=people.cadre), 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        project_id, _, _ = await ledger(planning, people, db_urls)
        assert_problem(
            await planning.get(f"/projects/{project_id}/ledger?limit=-1", headers=people.admin), 422
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        project_id, _, ids = await ledger(planning, people, db_urls)
        r = await planning.get(f"/projects/{project_id}/ledger", headers=people.province)
        assert r.status_code == 200, r.text
        assert [e["id"] for e in r.json()["items"]] == ids and r.json()["next_cursor"] is None


class TestGetLedgerEntry:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get("/ledger-entries/1"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/ledger-entries/{ids[0]}", headers=people.other_admin), 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        assert_problem(await planning.get(f"/ledger-entries/{ids[0]}", headers=people.cadre), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(await planning.get("/ledger-entries/0", headers=people.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        r = await planning.get(f"/ledger-entries/{ids[1]}", headers=people.admin)
        assert r.status_code == 200, r.text
        assert (r.json()["amount_yuan"], r.json()["stage"]) == ("100000.00", "progress")


class TestCreateReversal:
    BODY: ClassVar[dict[str, str]] = {
        "entry_date": "2015-06-02",
        "voucher": "红字-001",
        "reason": "金额录入错误",
    }

    async def test_anonymous(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        assert_problem(await planning.post(f"/ledger-entries/{ids[1]}/reversals", json=self.BODY), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        r = await planning.post(
            f"/ledger-entries/{ids[1]}/reversals", json=self.BODY, headers=people.other_admin
        )
        assert_problem(r, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        r = await planning.post(
            f"/ledger-entries/{ids[1]}/reversals", json=self.BODY, headers=people.township
        )
        assert_problem(r, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        url = f"/ledger-entries/{ids[1]}/reversals"
        assert_problem(await planning.post(url, json=self.BODY | {"reason": ""}, headers=people.admin), 422)
        r = await planning.post(url, json=self.BODY | {"entry_date": "2015-05-01"}, headers=people.admin)
        assert assert_problem(r, 422)["code"] == "reversal_before_entry"
        r = await planning.post(f"/ledger-entries/{ids[0]}/reversals", json=self.BODY, headers=people.admin)
        assert (
            assert_problem(r, 409)["code"] == "reversal_below_disbursed"
        )  # 300,000 of the receipt was paid out
        assert await count(db_urls, "planning_ledger_entry") == 3

    async def test_valid(self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        _, line_id, ids = await ledger(planning, people, db_urls)
        r = await planning.post(f"/ledger-entries/{ids[2]}/reversals", json=self.BODY, headers=people.admin)
        assert r.status_code == 201, r.text
        reversal = r.json()
        assert (reversal["amount_yuan"], reversal["reverses"], reversal["kind"]) == (
            "-200000.00",
            ids[2],
            "disbursement",
        )
        assert r.headers["Location"] == f"/ledger-entries/{reversal['id']}"
        original = (await planning.get(f"/ledger-entries/{ids[2]}", headers=people.admin)).json()
        assert original["reversed_by"] == reversal["id"]
        again = await planning.post(
            f"/ledger-entries/{ids[2]}/reversals", json=self.BODY, headers=people.admin
        )
        assert assert_problem(again, 409)["code"] == "already_reversed"
        of_reversal = await planning.post(
            f"/ledger-entries/{reversal['id']}/reversals", json=self.BODY, headers=people.admin
        )
        assert assert_problem(of_reversal, 409)["code"] == "reversal_of_reversal"
        line = (await planning.get(f"/funding-lines/{line_id}", headers=people.admin)).json()
        assert line["disbursed_yuan"] == "100000.00"
        # the ledger itself is never rewritten (append-only, a trigger refuses it)
        with pytest.raises(asyncpg.PostgresError):
            await planning_sql(db_urls, "UPDATE planning_ledger_entry SET amount_fen = 1")

    async def test_concurrent_reversals_once(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        _, _, ids = await ledger(planning, people, db_urls)
        answers = await asyncio.gather(
            *(
                planning.post(f"/ledger-entries/{ids[1]}/reversals", json=self.BODY, headers=people.admin)
                for _ in range(10)
            )
        )
        assert sorted(a.status_code for a in answers) == [201] + [409] * 9
        assert await count(db_urls, f"planning_ledger_entry WHERE reverses = {ids[1]}") == 1


# == the draw on approval and the money invariants under concurrency ================================================
async def draw(app: FastAPI, project_id: str, *, region: str = COUNTY) -> list[Any]:
    """What the projects feature's county approval does: `FundsService.draw_for_approval` in one transaction."""
    from services.planning.funds.service import FundsService
    from shared.context import Context
    from shared.roles import Principal, Role

    principal = Principal(sub="county-1", role=Role.county_admin, region=region)
    async with app.state.sessions() as session:
        ctx = Context(principal=principal, session=session, now=datetime.now(UTC))
        drawn = await FundsService(ctx).draw_for_approval(uuid.UUID(project_id))
        await session.commit()
    return list(drawn)


async def release(app: FastAPI, project_id: str) -> list[uuid.UUID]:
    from services.planning.funds.service import FundsService
    from shared.context import Context
    from shared.roles import Principal, Role

    principal = Principal(sub="county-1", role=Role.county_admin, region=COUNTY)
    async with app.state.sessions() as session:
        ctx = Context(principal=principal, session=session, now=datetime.now(UTC))
        released = await FundsService(ctx).release_for_return(uuid.UUID(project_id))
        await session.commit()
    return released


class TestDrawForApproval:
    async def test_draws_and_marks_the_lines(
        self, planning: httpx.AsyncClient, planning_app: FastAPI, people: People, db_urls: dict[str, str]
    ) -> None:
        allocation = await make_allocation(planning, people.admin)
        project_id = await make_project(db_urls, category="road")
        line = await add_line(
            planning,
            people.clerk,
            project_id,
            source="fiscal_special_poverty_fund",
            allocation_id=allocation["id"],
        )
        await add_line(
            planning, people.clerk, project_id, source="social_donation", funder="x", committed_yuan="1.00"
        )
        drawn = await draw(planning_app, project_id)
        assert [(str(d.line_id), str(d.drawn_yuan), str(d.remaining_yuan)) for d in drawn] == [
            (line["id"], "880000.00", "120000.00")
        ]
        assert (await draw(planning_app, project_id)) == []  # drawn lines are not drawn twice
        after = (await planning.get(f"/allocations/{allocation['id']}", headers=people.admin)).json()
        assert (after["drawn_yuan"], after["remaining_yuan"], after["pending_yuan"]) == (
            "880000.00",
            "120000.00",
            "0.00",
        )
        assert (await planning.get(f"/funding-lines/{line['id']}", headers=people.admin)).json()[
            "drawn"
        ] is True

    async def test_overspending_refused_and_nothing_drawn(
        self, planning: httpx.AsyncClient, planning_app: FastAPI, people: People, db_urls: dict[str, str]
    ) -> None:
        allocation = await make_allocation(planning, people.admin, amount_yuan="1000000.00")
        small = await make_allocation(planning, people.admin, document_number="小额", amount_yuan="1.00")
        project_id = await make_project(db_urls)
        await add_line(
            planning,
            people.clerk,
            project_id,
            source="fiscal_special_poverty_fund",
            allocation_id=allocation["id"],
        )
        await add_line(
            planning,
            people.clerk,
            project_id,
            source="fiscal_special_poverty_fund",
            committed_yuan="2.00",
            allocation_id=small["id"],
        )
        from shared.errors import Refused

        with pytest.raises(Refused) as caught:
            await draw(planning_app, project_id)
        assert caught.value.code == "allocation_exceeded"
        assert (
            caught.value.details["remaining_yuan"] == "1.00"
            and caught.value.details["commitment_yuan"] == "2.00"
        )
        after = (await planning.get(f"/allocations/{allocation['id']}", headers=people.admin)).json()
        assert after["drawn_yuan"] == "0.00"  # the whole approval rolled back

    async def test_release_before_money_arrived(
        self, planning: httpx.AsyncClient, planning_app: FastAPI, people: People, db_urls: dict[str, str]
    ) -> None:
        allocation = await make_allocation(planning, people.admin)
        project_id = await make_project(db_urls)
        line = await add_line(
            planning,
            people.clerk,
            project_id,
            source="fiscal_special_poverty_fund",
            allocation_id=allocation["id"],
        )
        await draw(planning_app, project_id)
        assert await release(planning_app, project_id) == [uuid.UUID(line["id"])]
        after = (await planning.get(f"/allocations/{allocation['id']}", headers=people.admin)).json()
        assert after["drawn_yuan"] == "0.00"
        await draw(planning_app, project_id)
        await set_status(db_urls, project_id, "approved")
        await planning.post(
            f"/funding-lines/{line['id']}/receipts",
            json={"amount_yuan": "1.00", "entry_date": ENTRY_DAY, "voucher": "收"},
            headers=people.admin,
        )
        from shared.errors import Refused

        with pytest.raises(Refused) as caught:
            await release(planning_app, project_id)
        assert caught.value.code == "money_on_line"


class TestConcurrency:
    async def test_fifty_concurrent_approvals_never_overspend(
        self, planning: httpx.AsyncClient, planning_app: FastAPI, people: People, db_urls: dict[str, str]
    ) -> None:
        """50 approvals at once against one allocation of 1,000,000 yuan, each drawing 30,000: 33 fit, 17 are
        refused, and the allocation is never overdrawn (the CHECK decides, under concurrency)."""
        allocation = await make_allocation(planning, people.admin, amount_yuan="1000000.00")
        projects = []
        for _ in range(50):
            project_id = await make_project(db_urls, budget_fen=3_000_000)
            await add_line(
                planning, people.clerk, project_id, source="fiscal_special_poverty_fund", committed_yuan="30000.00",
                allocation_id=allocation["id"],
            )  # fmt: skip
            projects.append(project_id)
        from shared.errors import Refused

        results = await asyncio.gather(*(draw(planning_app, p) for p in projects), return_exceptions=True)
        refused = [r for r in results if isinstance(r, Refused)]
        assert all(r.code == "allocation_exceeded" for r in refused)
        assert [r for r in results if isinstance(r, BaseException) and not isinstance(r, Refused)] == []
        assert (len(results) - len(refused), len(refused)) == (33, 17)
        (row,) = await planning_sql(
            db_urls,
            "SELECT amount_fen, drawn_fen FROM planning_allocation WHERE id = $1",
            uuid.UUID(allocation["id"]),
        )
        assert row["drawn_fen"] == 33 * 3_000_000 <= row["amount_fen"]
        (total,) = await planning_sql(
            db_urls, "SELECT sum(committed_fen) FROM planning_funding_line WHERE drawn AND allocation_id = $1",
            uuid.UUID(allocation["id"]),
        )  # fmt: skip
        assert total[0] == row["drawn_fen"]

    async def test_fifty_concurrent_disbursements_never_exceed_receipts(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        """50 payments of 30,000 at once from a line that received 880,000: 29 are paid, the rest refused with
        `disbursement_exceeds_receipts`, and the line holds disbursed <= received (the CHECK decides)."""
        _, line = await funded_line(planning, people, db_urls, received="880000.00")
        url = f"/funding-lines/{line['id']}/disbursements"
        answers = await asyncio.gather(
            *(
                planning.post(url, json=disbursement("30000.00", voucher=f"付-{n}"), headers=people.admin)
                for n in range(50)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 29 + [409] * 21, codes
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {
            "disbursement_exceeds_receipts"
        }
        (row,) = await planning_sql(
            db_urls,
            "SELECT received_fen, disbursed_fen FROM planning_funding_line WHERE id = $1",
            uuid.UUID(line["id"]),
        )
        (paid,) = await planning_sql(
            db_urls, "SELECT sum(amount_fen) FROM planning_ledger_entry WHERE kind = 'disbursement' AND line_id = $1",
            uuid.UUID(line["id"]),
        )  # fmt: skip
        assert row["disbursed_fen"] == paid[0] == 29 * 3_000_000 <= row["received_fen"]

    async def test_the_database_refuses_what_the_rules_refuse(
        self, planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        """Invariant 38 holds even for a statement that skips the service: the CHECK refuses it."""
        _, line = await funded_line(planning, people, db_urls, received="100.00")
        for statement in (
            "UPDATE planning_funding_line SET disbursed_fen = received_fen + 1 WHERE id = $1",
            "UPDATE planning_funding_line SET received_fen = committed_fen + 1 WHERE id = $1",
        ):
            with pytest.raises(asyncpg.CheckViolationError):
                await planning_sql(db_urls, statement, uuid.UUID(line["id"]))

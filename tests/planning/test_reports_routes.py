"""Report routes (报表, issue #11 Reports): budget execution from the ledger, project progress, overdue milestones —
one class per route: anonymous 401, another region 404, a role that may not read 403, bad input 4xx problem+json,
valid 200 as JSON and as streamed CSV (BOM, Chinese headers, totals equal to the JSON's); money in both is yuan with
two places (`*_yuan`, the API's convention), written exactly from fen by PostgreSQL (`TestMoney`).

The books (`books`): five projects of the demo county's year 2015 (and one of 2016, one draft) put straight into
the planning database as the projects feature would have stored them, their funding lines, receipts,
disbursements and a reversal through the funds API, allocations of the county's year, milestones and an
acceptance. The figures every test expects are worked out in `Books`' docstring.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter

from services.planning.reports.repository import yuan_sql
from services.planning.reports.schemas import (
    BudgetExecutionReport,
    OverdueMilestonesReport,
    ProjectProgressReport,
)
from services.planning.reports.service import csv_chunks
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
)
from tests.harness import serve
from tests.planning.test_funds_routes import (
    ENTRY_DAY,
    People,
    accept,
    add_line,
    disbursement,
    make_project,
    people,
    planning_sql,
    set_status,
)

__all__ = ["people"]  # the fixture, shared with the funds tests

pytestmark = pytest.mark.usefixtures("seed_regions")

BOM = b"\xef\xbb\xbf"
BUDGET = "/reports/budget-execution"
PROGRESS = "/reports/project-progress"
OVERDUE = "/reports/overdue-milestones"
YEAR = {"county": COUNTY, "year": "2015"}
OTHER_TOWNSHIP_VILLAGE = OTHER_VILLAGE


@dataclass
class Books:
    """The county's 2015 books.

    | project | village | category | status | lines (committed / received / disbursed, yuan) |
    |---|---|---|---|---|
    | road | 旧州村 | road | approved | sector 880,000 / 880,000 / 300,000 (+100,000 advance reversed); self-raised 650,000 / 650,000 / 0; donations 220,000 / 0 / 0 |
    | clinic | 旧州村 | health_facility | approved | none |
    | water | 渠洋村 | water_drinking | accepted | special fund 400,000 / 400,000 / 150,000 |
    | huadong | 化峒村 (other township) | road | in_progress | sector 500,000 / 200,000 / 0 |
    | draft | 旧州村 | road | draft | sector 100,000 (not counted: not approved) |
    | later | 旧州村 | road | approved, 2016 | sector 90,000 (not counted: another year) |

    Totals 2015: 4 projects, committed 2,650,000, received 2,130,000, disbursed 450,000, rate 16.98 %.
    Allocations 2015: special fund 1,000,000, sector 2,000,000 (2016: 500,000, another county's: 9,000,000).
    """

    road: str
    clinic: str
    water: str
    huadong: str
    draft: str
    later: str
    road_lines: list[dict[str, Any]]
    milestones: dict[str, str]


async def _receive(planning: httpx.AsyncClient, admin: Headers, line: dict[str, Any], amount: str) -> None:
    r = await planning.post(
        f"/funding-lines/{line['id']}/receipts",
        json={"amount_yuan": amount, "entry_date": ENTRY_DAY, "voucher": "收-001"},
        headers=admin,
    )
    assert r.status_code == 201, r.text


async def _pay(
    planning: httpx.AsyncClient, admin: Headers, line: dict[str, Any], amount: str, **extra: Any
) -> dict[str, Any]:
    r = await planning.post(
        f"/funding-lines/{line['id']}/disbursements", json=disbursement(amount, **extra), headers=admin
    )
    assert r.status_code == 201, r.text
    entry: dict[str, Any] = r.json()
    return entry


async def _allocation(db_urls: dict[str, str], county: str, year: int, source: str, amount_fen: int) -> None:
    await planning_sql(
        db_urls,
        "INSERT INTO planning_allocation (id, county_code, year, source, document_number, amount_fen, created_at,"
        " created_by) VALUES ($1, $2, $3, $4, $5, $6, now(), 'test')",
        uuid.uuid4(),
        county,
        year,
        source,
        f"文号-{uuid.uuid4().hex[:6]}",
        amount_fen,
    )


async def _milestone(
    db_urls: dict[str, str], project: str, name: str, due: str, percent: int, done: str | None = None
) -> str:
    milestone_id = uuid.uuid4()
    await planning_sql(
        db_urls,
        "INSERT INTO planning_milestone (id, project_id, name, due_on, percent, done_on, updated_by)"
        " VALUES ($1, $2, $3, $4::text::date, $5, $6::text::date, 'test')",
        milestone_id,
        uuid.UUID(project),
        name,
        due,
        percent,
        done,
    )
    return str(milestone_id)


@pytest.fixture
async def books(planning: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> Books:
    road = await make_project(db_urls, name="通村道路硬化 3.5 km")
    lines = [
        await add_line(planning, people.clerk, road),
        await add_line(
            planning,
            people.clerk,
            road,
            source="beneficiary_self_raised",
            funder="受益群众",
            committed_yuan="650000.00",
        ),
        await add_line(
            planning,
            people.clerk,
            road,
            source="social_donation",
            funder="社会各界",
            committed_yuan="220000.00",
        ),
    ]
    clinic = await make_project(db_urls, category="health_facility", name="村卫生室", budget_fen=12_000_000)
    water = await make_project(
        db_urls,
        village=SIBLING_VILLAGE,
        category="water_drinking",
        name="安全饮水工程",
        budget_fen=40_000_000,
    )
    water_line = await add_line(
        planning,
        people.township,
        water,
        source="fiscal_special_poverty_fund",
        funder="县财政局",
        committed_yuan="400000.00",
    )
    huadong = await make_project(db_urls, village=OTHER_VILLAGE, name="化峒村道路", budget_fen=50_000_000)
    huadong_line = await add_line(planning, people.admin, huadong, committed_yuan="500000.00")
    draft = await make_project(db_urls, name="草稿项目", budget_fen=10_000_000)
    await add_line(planning, people.clerk, draft, committed_yuan="100000.00")
    later = await make_project(db_urls, name="2016年项目", budget_fen=9_000_000, starts_on=date(2016, 3, 1))
    later_line = await add_line(planning, people.clerk, later, committed_yuan="90000.00")
    for project in (road, clinic, water, huadong, later):
        await set_status(db_urls, project, "approved")
    await _receive(planning, people.admin, lines[0], "880000.00")
    await _receive(planning, people.admin, lines[1], "650000.00")
    await _pay(planning, people.admin, lines[0], "300000.00")
    advance = await _pay(planning, people.admin, lines[0], "100000.00", stage="advance", voucher="付-002")
    reversal = await planning.post(
        f"/ledger-entries/{advance['id']}/reversals",
        json={"entry_date": ENTRY_DAY, "voucher": "冲-002", "reason": "重复拨付"},
        headers=people.admin,
    )
    assert reversal.status_code == 201, reversal.text
    await _receive(planning, people.admin, water_line, "400000.00")
    await _pay(planning, people.admin, water_line, "150000.00")
    await _receive(planning, people.admin, huadong_line, "200000.00")
    await _receive(planning, people.admin, later_line, "90000.00")
    await _pay(planning, people.admin, later_line, "90000.00")
    await set_status(db_urls, water, "accepted")
    await accept(db_urls, water)
    await set_status(db_urls, huadong, "in_progress")
    await _allocation(db_urls, COUNTY, 2015, "fiscal_special_poverty_fund", 100_000_000)
    await _allocation(db_urls, COUNTY, 2015, "sector_department_fund", 200_000_000)
    await _allocation(db_urls, COUNTY, 2016, "sector_department_fund", 50_000_000)
    await _allocation(db_urls, OTHER_COUNTY, 2015, "sector_department_fund", 900_000_000)
    milestones = {
        "road_base": await _milestone(db_urls, road, "路基", "2015-06-30", 50),
        "road_drain": await _milestone(db_urls, road, "排水沟", "2015-05-31", 100, "2015-05-30"),
        "huadong_base": await _milestone(db_urls, huadong, "路基", "2015-07-15", 20),
        "water_done": await _milestone(db_urls, water, "管网", "2015-05-01", 100, "2015-04-30"),
    }
    return Books(road, clinic, water, huadong, draft, later, lines, milestones)


def _csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(BOM)
    return list(csv.reader(io.StringIO(response.content[len(BOM) :].decode("utf-8"))))


def _fen(yuan: str) -> int:
    whole, _, cents = yuan.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int(cents))


# == budget execution ==================================================================================================
class TestGetBudgetExecution:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(BUDGET, params=YEAR), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        # Another county's admin, for this county: exactly like a county that does not exist.
        assert_problem(await planning.get(BUDGET, params=YEAR, headers=people.other_admin), 404)
        missing = await planning.get(BUDGET, params={**YEAR, "county": "451099000000"}, headers=people.admin)
        assert_problem(missing, 404)
        # A county of the province the registry does not know: the same 404.
        unknown = await planning.get(
            BUDGET, params={**YEAR, "county": "451099000000"}, headers=people.province
        )
        assert assert_problem(unknown, 404)["title"] == missing.json()["title"]
        known = await planning.get(BUDGET, params={**YEAR, "county": COUNTY}, headers=people.province)
        assert known.status_code == 200, known.text
        # A township officer names their own county, and reads their township only; another township is not theirs.
        assert_problem(
            await planning.get(BUDGET, params={**YEAR, "county": OTHER_COUNTY}, headers=people.township), 404
        )
        assert_problem(
            await planning.get(BUDGET, params={**YEAR, "township": OTHER_TOWNSHIP}, headers=people.township),
            404,
        )
        assert_problem(
            await planning.get(BUDGET, params={**YEAR, "village": OTHER_VILLAGE}, headers=people.township),
            404,
        )
        # A township of another county, a village outside the township named.
        assert_problem(
            await planning.get(BUDGET, params={**YEAR, "township": "451026100000"}, headers=people.admin), 404
        )
        assert_problem(
            await planning.get(
                BUDGET, params={**YEAR, "township": TOWNSHIP, "village": OTHER_VILLAGE}, headers=people.admin
            ),
            404,
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        for who in (people.clerk, people.cadre):
            body = assert_problem(await planning.get(BUDGET, params=YEAR, headers=who), 403)
            assert body["code"] == "role_may_not"

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        for params, code in (
            ({**YEAR, "group_by": "household"}, None),
            ({**YEAR, "year": "1999"}, None),
            ({**YEAR, "year": "2015.5"}, None),
            ({"county": COUNTY}, None),
            ({**YEAR, "county": "4510"}, None),
            ({**YEAR, "county": VILLAGE}, "not_a_county"),
            ({**YEAR, "township": VILLAGE}, "not_a_township"),
            ({**YEAR, "village": TOWNSHIP}, "not_a_village"),
            ({**YEAR, "format": "xml"}, None),
        ):
            body = assert_problem(await planning.get(BUDGET, params=params, headers=people.admin), 422)
            if code is not None:
                assert body["code"] == code, params
        unknown = assert_problem(
            await planning.get(BUDGET, params={**YEAR, "sort": "x"}, headers=people.admin), 400
        )
        assert unknown["code"] == "unknown_parameter"

    async def test_registry_down(self, planning_registry_down: httpx.AsyncClient, people: People) -> None:
        # The province's county must be confirmed by the registry: 503, not a 500 or a hang.
        body = assert_problem(
            await planning_registry_down.get(BUDGET, params=YEAR, headers=people.province), 503
        )
        assert body["code"] == "registry_unavailable"
        # The county admin's own county needs no confirmation.
        own = await planning_registry_down.get(BUDGET, params=YEAR, headers=people.admin)
        assert own.status_code == 200, own.text

    async def test_valid_by_village(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        r = await planning.get(BUDGET, params=YEAR, headers=people.admin)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        report = TypeAdapter(BudgetExecutionReport).validate_python(body)
        assert report.model_dump(mode="json") == body
        assert (body["county_code"], body["township_code"], body["village_code"]) == (COUNTY, None, None)
        assert (body["year"], body["group_by"]) == (2015, "village")
        assert body["rows"] == [
            {
                "key": VILLAGE,
                "label": None,
                "projects": 2,
                "allocated_yuan": None,
                "committed_yuan": "1750000.00",
                "received_yuan": "1530000.00",
                "disbursed_yuan": "300000.00",  # the reversed advance nets out
                "rate": "17.14",
            },
            {
                "key": SIBLING_VILLAGE,
                "label": None,
                "projects": 1,
                "allocated_yuan": None,
                "committed_yuan": "400000.00",
                "received_yuan": "400000.00",
                "disbursed_yuan": "150000.00",
                "rate": "37.50",
            },
            {
                "key": OTHER_VILLAGE,
                "label": None,
                "projects": 1,
                "allocated_yuan": None,
                "committed_yuan": "500000.00",
                "received_yuan": "200000.00",
                "disbursed_yuan": "0.00",
                "rate": "0.00",
            },
        ]
        assert body["totals"] == {
            "projects": 4,
            "allocated_yuan": None,
            "committed_yuan": "2650000.00",
            "received_yuan": "2130000.00",
            "disbursed_yuan": "450000.00",
            "rate": "16.98",
        }
        province = await planning.get(BUDGET, params=YEAR, headers=people.province)
        assert province.json() == body

    async def test_valid_reversals_are_negative_entries(
        self, planning: httpx.AsyncClient, people: People, books: Books, db_urls: dict[str, str]
    ) -> None:
        entries = await planning_sql(
            db_urls,
            "SELECT amount_fen FROM planning_ledger_entry WHERE line_id = $1 AND kind = 'disbursement' ORDER BY id",
            uuid.UUID(books.road_lines[0]["id"]),
        )
        assert [e["amount_fen"] for e in entries] == [30_000_000, 10_000_000, -10_000_000]
        r = await planning.get(BUDGET, params={**YEAR, "village": VILLAGE}, headers=people.admin)
        assert r.json()["totals"]["disbursed_yuan"] == "300000.00"

    async def test_valid_by_township_source_category(
        self, planning: httpx.AsyncClient, people: People, books: Books
    ) -> None:
        by_township = (
            await planning.get(BUDGET, params={**YEAR, "group_by": "township"}, headers=people.admin)
        ).json()
        assert [
            (r["key"], r["projects"], r["committed_yuan"], r["disbursed_yuan"], r["rate"])
            for r in by_township["rows"]
        ] == [
            (TOWNSHIP, 3, "2150000.00", "450000.00", "20.93"),
            (OTHER_TOWNSHIP, 1, "500000.00", "0.00", "0.00"),
        ]
        by_source = (
            await planning.get(BUDGET, params={**YEAR, "group_by": "source"}, headers=people.admin)
        ).json()
        assert [
            (
                r["key"],
                r["label"],
                r["projects"],
                r["allocated_yuan"],
                r["committed_yuan"],
                r["received_yuan"],
                r["disbursed_yuan"],
                r["rate"],
            )
            for r in by_source["rows"]
        ] == [
            ("beneficiary_self_raised", "群众自筹", 1, "0.00", "650000.00", "650000.00", "0.00", "0.00"),
            (
                "fiscal_special_poverty_fund",
                "财政专项扶贫资金",
                1,
                "1000000.00",
                "400000.00",
                "400000.00",
                "150000.00",
                "37.50",
            ),
            (
                "sector_department_fund",
                "行业部门资金",
                2,
                "2000000.00",
                "1380000.00",
                "1080000.00",
                "300000.00",
                "21.74",
            ),
            ("social_donation", "社会捐资", 1, "0.00", "220000.00", "0.00", "0.00", "0.00"),
            ("unfunded", "未落实资金来源", 1, "0.00", "0.00", "0.00", "0.00", None),
        ]
        assert by_source["totals"] == {
            "projects": 4,
            "allocated_yuan": "3000000.00",
            "committed_yuan": "2650000.00",
            "received_yuan": "2130000.00",
            "disbursed_yuan": "450000.00",
            "rate": "16.98",
        }
        by_category = (
            await planning.get(BUDGET, params={**YEAR, "group_by": "category"}, headers=people.admin)
        ).json()
        assert [(r["key"], r["label"], r["projects"], r["committed_yuan"]) for r in by_category["rows"]] == [
            ("health_facility", "村卫生室、卫生院", 1, "0.00"),
            ("road", "道路交通", 2, "2250000.00"),
            ("water_drinking", "人畜饮水", 1, "400000.00"),
        ]
        for report in (by_township, by_source, by_category):
            TypeAdapter(BudgetExecutionReport).validate_python(report)
            assert report["totals"]["disbursed_yuan"] == "450000.00"
        # A village's report by source shows no allocation (the county's pool is not the village's).
        village = (
            await planning.get(
                BUDGET, params={**YEAR, "group_by": "source", "village": VILLAGE}, headers=people.admin
            )
        ).json()
        assert {r["allocated_yuan"] for r in village["rows"]} == {None} and village["village_code"] == VILLAGE

    async def test_valid_township_officer(
        self, planning: httpx.AsyncClient, people: People, books: Books
    ) -> None:
        r = await planning.get(BUDGET, params=YEAR, headers=people.township)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["township_code"] == TOWNSHIP
        assert [row["key"] for row in body["rows"]] == [VILLAGE, SIBLING_VILLAGE]
        assert (body["totals"]["projects"], body["totals"]["committed_yuan"]) == (3, "2150000.00")
        sources = await planning.get(BUDGET, params={**YEAR, "group_by": "source"}, headers=people.township)
        allocated = {row["key"]: row["allocated_yuan"] for row in sources.json()["rows"]}
        assert allocated["sector_department_fund"] == "2000000.00"  # the county's pool its projects draw on

    async def test_valid_csv(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        json_body = (
            await planning.get(BUDGET, params={**YEAR, "group_by": "source"}, headers=people.admin)
        ).json()
        for response in (
            await planning.get(
                BUDGET, params={**YEAR, "group_by": "source", "format": "csv"}, headers=people.admin
            ),
            await planning.get(
                BUDGET, params={**YEAR, "group_by": "source"}, headers={**people.admin, "Accept": "text/csv"}
            ),
        ):
            assert response.headers["content-disposition"] == (
                f'attachment; filename="budget-execution-{COUNTY}-2015-by-source.csv"'
            )
            rows = _csv_rows(response)
            assert rows[0] == [
                "资金来源 source",
                "名称 label",
                "项目数 projects",
                "下达资金(元) allocated_yuan",
                "承诺资金(元) committed_yuan",
                "到位资金(元) received_yuan",
                "已拨付(元) disbursed_yuan",
                "执行率(%) rate",
            ]
            assert rows[2] == [
                "fiscal_special_poverty_fund",
                "财政专项扶贫资金",
                "1",
                "1000000.00",
                "400000.00",
                "400000.00",
                "150000.00",
                "37.50",
            ]
            assert rows[-1][0] == "合计 total" and len(rows) == len(json_body["rows"]) + 2
            totals = json_body["totals"]
            assert rows[-1][3:7] == [
                totals["allocated_yuan"],
                totals["committed_yuan"],
                totals["received_yuan"],
                totals["disbursed_yuan"],
            ]
            assert rows[-1][7] == totals["rate"]
        # `format=json` wins over the Accept header.
        explicit = await planning.get(
            BUDGET, params={**YEAR, "format": "json"}, headers={**people.admin, "Accept": "text/csv"}
        )
        assert explicit.headers["content-type"] == "application/json"

    async def test_valid_empty(self, planning: httpx.AsyncClient, people: People) -> None:
        body = (await planning.get(BUDGET, params=YEAR, headers=people.admin)).json()
        assert body["rows"] == []
        assert body["totals"] == {
            "projects": 0,
            "allocated_yuan": None,
            "committed_yuan": "0.00",
            "received_yuan": "0.00",
            "disbursed_yuan": "0.00",
            "rate": None,
        }
        rows = _csv_rows(await planning.get(BUDGET, params={**YEAR, "format": "csv"}, headers=people.admin))
        assert rows[1:] == [["合计 total", "", "0", "", "0.00", "0.00", "0.00", ""]]


# == project progress ==================================================================================================
class TestGetProjectProgress:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(PROGRESS, params=YEAR), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        assert_problem(await planning.get(PROGRESS, params=YEAR, headers=people.other_admin), 404)
        assert_problem(
            await planning.get(
                PROGRESS, params={**YEAR, "township": OTHER_TOWNSHIP}, headers=people.township
            ),
            404,
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        for who in (people.clerk, people.cadre, people.other_clerk):
            assert_problem(await planning.get(PROGRESS, params=YEAR, headers=who), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        for params in (
            {**YEAR, "year": "x"},
            {**YEAR, "county": TOWNSHIP},
            {**YEAR, "format": "pdf"},
            {"year": "2015"},
        ):
            assert_problem(await planning.get(PROGRESS, params=params, headers=people.admin), 422)
        assert_problem(
            await planning.get(PROGRESS, params={**YEAR, "group_by": "village"}, headers=people.admin), 400
        )

    async def test_valid(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        r = await planning.get(PROGRESS, params=YEAR, headers=people.admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert TypeAdapter(ProjectProgressReport).validate_python(body).model_dump(mode="json") == body
        rows = {row["project_id"]: row for row in body["rows"]}
        assert set(rows) == {books.road, books.clinic, books.water, books.huadong, books.draft}
        assert [row["village_code"] for row in body["rows"]] == sorted(
            row["village_code"] for row in body["rows"]
        )
        assert rows[books.road] == {
            "project_id": books.road,
            "village_code": VILLAGE,
            "name": "通村道路硬化 3.5 km",
            "category": "road",
            "status": "approved",
            "milestones_done": 1,
            "milestones_total": 2,
            "progress_percent": "75.00",
            "budget_yuan": "1750000.00",
            "disbursed_yuan": "300000.00",
            "accepted": False,
        }
        assert (rows[books.water]["accepted"], rows[books.water]["progress_percent"]) == (True, "100.00")
        assert (rows[books.clinic]["milestones_total"], rows[books.clinic]["progress_percent"]) == (0, None)
        assert rows[books.draft]["status"] == "draft"
        assert body["totals"] == {
            "projects": 5,
            "budget_yuan": "2870000.00",
            "disbursed_yuan": "450000.00",
            "accepted": 1,
        }
        township = (await planning.get(PROGRESS, params=YEAR, headers=people.township)).json()
        assert {row["village_code"] for row in township["rows"]} == {VILLAGE, SIBLING_VILLAGE}

    async def test_valid_csv(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        body = (
            await planning.get(PROGRESS, params={**YEAR, "village": VILLAGE}, headers=people.admin)
        ).json()
        response = await planning.get(
            PROGRESS, params={**YEAR, "village": VILLAGE}, headers={**people.admin, "Accept": "text/csv"}
        )
        assert (
            response.headers["content-disposition"]
            == f'attachment; filename="project-progress-{VILLAGE}-2015.csv"'
        )
        rows = _csv_rows(response)
        assert rows[0][:3] == ["项目编号 project_id", "行政村代码 village_code", "项目名称 name"]
        road = next(row for row in rows if row[0] == books.road)
        assert road == [
            books.road,
            VILLAGE,
            "通村道路硬化 3.5 km",
            "道路交通",
            "县级已批准",
            "1",
            "2",
            "75.00",
            "1750000.00",
            "300000.00",
            "否 no",
        ]
        assert rows[-1][0] == "合计 total"
        assert rows[-1][8:10] == [body["totals"]["budget_yuan"], body["totals"]["disbursed_yuan"]]


# == overdue milestones ================================================================================================
class TestGetOverdueMilestones:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(OVERDUE, params={"county": COUNTY}), 401)

    async def test_other_region(self, planning: httpx.AsyncClient, people: People) -> None:
        assert_problem(
            await planning.get(OVERDUE, params={"county": COUNTY}, headers=people.other_admin), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, people: People) -> None:
        for who in (people.clerk, people.cadre):
            assert_problem(await planning.get(OVERDUE, params={"county": COUNTY}, headers=who), 403)

    async def test_invalid(self, planning: httpx.AsyncClient, people: People) -> None:
        for params in (
            {"county": COUNTY, "as_of": "2015-02-30"},
            {"county": VILLAGE},
            {"county": COUNTY, "format": "x"},
        ):
            assert_problem(await planning.get(OVERDUE, params=params, headers=people.admin), 422)

    async def test_valid(self, planning: httpx.AsyncClient, people: People, books: Books) -> None:
        params = {"county": COUNTY, "as_of": "2015-08-01"}
        r = await planning.get(OVERDUE, params=params, headers=people.admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert TypeAdapter(OverdueMilestonesReport).validate_python(body).model_dump(mode="json") == body
        assert [(m["milestone_id"], m["days_overdue"]) for m in body["rows"]] == [
            (books.milestones["road_base"], 32),
            (books.milestones["huadong_base"], 17),
        ]
        assert (body["total"], body["as_of"]) == (2, "2015-08-01")
        # The same list as the projects feature's route: one query, two answers.
        listed = await planning.get(
            "/projects/overdue-milestones",
            params={"region": COUNTY, "on": "2015-08-01"},
            headers=people.admin,
        )
        assert listed.json()["items"] == body["rows"]
        township = (await planning.get(OVERDUE, params=params, headers=people.township)).json()
        assert [m["milestone_id"] for m in township["rows"]] == [books.milestones["road_base"]]
        rows = _csv_rows(
            await planning.get(OVERDUE, params={**params, "format": "csv"}, headers=people.admin)
        )
        assert rows[0][4:] == [
            "节点名称 milestone",
            "计划完成日期 due_on",
            "进度(%) percent",
            "逾期天数 days_overdue",
        ]
        assert [row[3] for row in rows[1:]] == [m["milestone_id"] for m in body["rows"]]
        assert rows[1][1] == "通村道路硬化 3.5 km"


class TestStreaming:
    async def test_csv_chunks_a_few_rows_at_a_time(self) -> None:
        """The writer sends the BOM and the header at once, then the rows 200 at a time as they come."""

        async def rows() -> AsyncIterator[list[str]]:
            for i in range(450):
                yield [str(i), "旧州村"]

        chunks = [chunk async for chunk in csv_chunks(["编号 n", "村 village"], rows())]
        assert chunks[0] == BOM + "编号 n,村 village\r\n".encode()
        assert [chunk.count(b"\r\n") for chunk in chunks[1:]] == [200, 200, 50]

    async def test_valid_a_csv_streams_from_the_database(
        self, planning_app: FastAPI, people: People, db_urls: dict[str, str], signing_key: SigningKey
    ) -> None:
        """450 projects over a real socket: a chunked answer (no Content-Length), whole, equal to the JSON."""
        await planning_sql(
            db_urls,
            "INSERT INTO planning_project (id, village_code, category, name, budget_fen, status, starts_on,"
            " created_by) SELECT gen_random_uuid(), $1, 'road', '=项目 ' || g, 100 * g, 'approved',"
            " '2015-04-01', 'test' FROM generate_series(1, 450) g",
            VILLAGE,
        )
        async with serve(planning_app) as url, httpx.AsyncClient(base_url=url) as client:
            async with client.stream(
                "GET", PROGRESS, params={**YEAR, "format": "csv"}, headers=people.admin
            ) as response:
                assert response.status_code == 200
                assert response.headers["transfer-encoding"] == "chunked"
                assert "content-length" not in response.headers
                text = b"".join([chunk async for chunk in response.aiter_raw()])
            body = (await client.get(PROGRESS, params=YEAR, headers=people.admin)).json()
            province = headers_for(signing_key, "province_system", PROVINCE)
            assert (await client.get(PROGRESS, params=YEAR, headers=province)).json() == body
        assert text.startswith(BOM)
        rows = list(csv.reader(io.StringIO(text[len(BOM) :].decode())))
        assert len(rows) == 1 + 450 + 1
        # A name that starts like a formula stays text in a spreadsheet.
        assert {row[2][:2] for row in rows[1:-1]} == {"'="}
        assert _fen(rows[-1][8]) == _fen(body["totals"]["budget_yuan"]) == sum(100 * g for g in range(1, 451))


class TestMoney:
    @pytest.mark.parametrize(
        ("fen", "text"),
        [
            (175_000_000, "1750000.00"),
            (1, "0.01"),
            (10, "0.10"),
            (0, "0.00"),
            (-5, "-0.05"),
            (-5_000_000, "-50000.00"),
            (2**62, "46116860184273879.04"),  # `fen::numeric / 100` would answer ….00 (16 significant digits)
            (2**63 - 1, "92233720368547758.07"),
            (-(2**63), "-92233720368547758.08"),
            (None, None),
        ],
    )
    async def test_yuan_exactly_from_fen(
        self, db_urls: dict[str, str], fen: int | None, text: str | None
    ) -> None:
        """The statements write money as the wire's yuan text, exactly, whatever the bigint."""
        (row,) = await planning_sql(db_urls, f"SELECT {yuan_sql('$1::bigint')} AS yuan", fen)
        assert row["yuan"] == text

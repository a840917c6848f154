"""Planning's province exchange (issue #15): `GET /exports/{dataset}` (plans, projects, funds_ledger) and the
gapless change feed `GET /changes`, against real PostgreSQL.

Records go through the API where the API writes them (plans with their chain and actuals, projects with their
steps and milestones, the ledger), so the triggers writing the feed are the real ones; the few rows no route
writes in a test (another county's project, a beneficiary with a registry status, a delete) go straight into the
planning database. Every export line is compared, field for field, with the REST read of the same record.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from services.planning.changes.service import prune_change_feed
from services.planning.main import housekeeping
from shared.clock import utcnow
from shared.exchange.cursor import decode_position
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
    settle_feed,
)
from tests.gateway.test_proxy import gateway_over
from tests.harness import serve
from tests.planning.test_funds_routes import People as FundsPeople
from tests.planning.test_funds_routes import disbursement, funded_line, make_project
from tests.planning.test_plans_routes import People as PlanPeople
from tests.planning.test_plans_routes import advance, plan_body
from tests.planning.test_projects_routes import approved

pytestmark = pytest.mark.usefixtures("seed_regions")

Json = dict[str, Any]
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture
def funds_people(signing_key: SigningKey) -> FundsPeople:
    def h(role: str, region: str, sub: str) -> Headers:
        return headers_for(signing_key, role, region, sub) | IDENTITY

    return FundsPeople(
        admin=h("county_admin", COUNTY, "county-1"),
        township=h("township_officer", TOWNSHIP, "township-1"),
        clerk=h("village_officer", VILLAGE, "clerk-1"),
        cadre=h("cadre", COUNTY, "cadre-1"),
        province=h("province_system", "450000000000", "province-1"),
        other_admin=h("county_admin", OTHER_COUNTY, "county-2"),
        other_clerk=h("village_officer", "451025101201", "clerk-2"),
        far_clerk=h("village_officer", OTHER_COUNTY_VILLAGE, "clerk-3"),
    )


@pytest.fixture
def plan_people(funds_people: FundsPeople, signing_key: SigningKey) -> PlanPeople:
    p = funds_people
    return PlanPeople(
        clerk=p.clerk,
        township=p.township,
        admin=p.admin,
        stranger=p.other_clerk,
        other_township=headers_for(signing_key, "township_officer", "451025101000", "township-2"),
        other_admin=p.other_admin,
        cadre=p.cadre,
        province=p.province,
    )


@pytest.fixture
async def db(db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_urls["planning"])
    try:
        yield conn
    finally:
        await conn.close()


# -- helpers -----------------------------------------------------------------------------------------------------
async def export(
    planning: httpx.AsyncClient, who: Headers, dataset: str, **params: str
) -> tuple[list[Json], Json, httpx.Response]:
    """The NDJSON export's records and trailer."""
    response = await planning.get(f"/exports/{dataset}", params=params, headers=who | IDENTITY)
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert "_trailer" in lines[-1]
    return lines[:-1], lines[-1]["_trailer"], response


async def feed(planning: httpx.AsyncClient, who: Headers, after: str | None = None, **params: Any) -> Json:
    query = {k: v for k, v in {"after": after, **params}.items() if v is not None}
    response = await planning.get("/changes", params=query, headers=who | IDENTITY)
    assert response.status_code == 200, response.text
    page: Json = response.json()
    return page


async def settle(db_urls: dict[str, str], patience: float = 60.0) -> None:
    """Wait until every committed feed row is final (tests/factories.py `settle_feed`)."""
    await settle_feed(db_urls["planning"], "planning_change", patience)


async def drain(
    planning: httpx.AsyncClient,
    db_urls: dict[str, str],
    who: Headers,
    after: str | None = None,
    *,
    settled: bool = True,
    **params: Any,
) -> tuple[list[Json], str]:
    """Every item from `after` until caught up; and the last cursor."""
    if settled:
        await settle(db_urls)
    items: list[Json] = []
    while True:
        page = await feed(planning, who, after, **params)
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return items, after


async def get(planning: httpx.AsyncClient, who: Headers, path: str) -> Json:
    response = await planning.get(path, headers=who)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def active_plan_with_actuals(planning: httpx.AsyncClient, who: PlanPeople) -> str:
    """F5's exit plan, active, with actuals of 2015 (one target met, one in progress, one without data)."""
    created = await planning.post(f"/villages/{VILLAGE}/plans", json=plan_body(), headers=who.clerk)
    assert created.status_code == 201, created.text
    plan_id: str = created.json()["id"]
    await advance(planning, who, plan_id, "active")
    values = [
        {"indicator_code": "poverty_incidence", "value": "8.45", "source": "县统计局"},
        {"indicator_code": "collective_income", "value": "9000"},
    ]
    r = await planning.put(f"/plans/{plan_id}/actuals/2015", json={"values": values}, headers=who.clerk)
    assert r.status_code == 200, r.text
    return plan_id


async def project_with_milestones(
    planning: httpx.AsyncClient, people: FundsPeople, db: asyncpg.Connection
) -> str:
    """An approved project with two milestones and three beneficiaries (two of them poor when added)."""
    project_id, _ = await approved(planning, people.clerk, people.township, people.admin)
    for name, due, percent in (("路基", "2016-07-31", 50), ("路面", "2016-09-30", 0)):
        r = await planning.post(
            f"/projects/{project_id}/milestones",
            json={"name": name, "due_on": due, "percent": percent},
            headers=people.clerk,
        )
        assert r.status_code == 201, r.text
    for status in ("registered", "exit_proposed", "exited"):
        await db.execute(
            "INSERT INTO planning_project_beneficiary (project_id, household_id, village_code, status_when_added,"
            " added_by) VALUES ($1, $2, $3, $4, 'test')",
            uuid.UUID(project_id),
            uuid.uuid4(),
            VILLAGE,
            status,
        )
    return project_id


async def ledger_with_reversal(
    planning: httpx.AsyncClient, people: FundsPeople, db_urls: dict[str, str]
) -> tuple[str, list[int]]:
    """A funded line: a receipt, two disbursements, the second reversed; (project id, entry ids)."""
    project_id, line = await funded_line(planning, people, db_urls)
    ids = [
        e["id"] for e in (await get(planning, people.admin, f"/funding-lines/{line['id']}/ledger"))["items"]
    ]
    for amount in ("100000.00", "200000.01"):
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements", json=disbursement(amount), headers=people.admin
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await planning.post(
        f"/ledger-entries/{ids[2]}/reversals",
        json={"entry_date": "2015-06-02", "voucher": "红字-001", "reason": "金额录入错误"},
        headers=people.admin,
    )
    assert r.status_code == 201, r.text
    ids.append(r.json()["id"])
    return project_id, ids


# -- exports: the REST shape, formats, fields ----------------------------------------------------------------------
class TestExportShape:
    async def test_plans_are_plan_public(self, planning: httpx.AsyncClient, plan_people: PlanPeople) -> None:
        plan_id = await active_plan_with_actuals(planning, plan_people)
        amended = await planning.post(
            f"/plans/{plan_id}/amendments",
            json={"reason": "目标调整", "title": "渠洋村脱贫规划(修订)"},
            headers=plan_people.clerk,
        )
        assert amended.status_code == 201, amended.text
        records, trailer, _ = await export(planning, plan_people.province, "plans")
        assert trailer["rows"] == 2
        by_id = {r["id"]: r for r in records}
        for record_id in (plan_id, amended.json()["id"]):
            assert by_id[record_id] == await get(planning, plan_people.admin, f"/plans/{record_id}")
        targets = {t["indicator_code"]: t for t in by_id[plan_id]["targets"]}
        assert targets["collective_income"]["progress"] == {"state": "met", "percent": "100.00"}
        assert targets["poverty_incidence"]["progress"]["state"] == "in_progress"
        assert targets["poverty_incidence"]["latest_actual"]["value"] == "8.45"
        assert targets["village_clinic"]["progress"] == {"state": "no_data", "percent": None}
        assert [e["step"] for e in by_id[plan_id]["history"]][:2] == ["drafted", "assembly"]

    async def test_projects_are_project_public_with_counts_and_milestones(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db: asyncpg.Connection
    ) -> None:
        project_id = await project_with_milestones(planning, funds_people, db)
        records, trailer, _ = await export(planning, funds_people.township, "projects")
        assert trailer["rows"] == 1
        detail = await get(planning, funds_people.admin, f"/projects/{project_id}")
        line = records[0]
        assert line == {k: detail[k] for k in line}
        assert (line["beneficiaries_count"], line["poor_beneficiaries_count"]) == (3, 2)
        assert [m["name"] for m in line["milestones"]] == ["路基", "路面"]
        assert line["budget_yuan"] == "1750000.00" and line["quantity"] == "3.50"

    async def test_ledger_entries_are_ledger_entry_public(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        _, ids = await ledger_with_reversal(planning, funds_people, db_urls)
        records, trailer, _ = await export(planning, funds_people.admin, "funds_ledger")
        assert [r["id"] for r in records] == ids and trailer["rows"] == 4
        for record in records:
            assert record == await get(planning, funds_people.admin, f"/ledger-entries/{record['id']}")
        assert [r["amount_yuan"] for r in records] == ["880000.00", "100000.00", "200000.01", "-200000.01"]
        assert (records[2]["reversed_by"], records[3]["reverses"]) == (ids[3], ids[2])


class TestExportFormats:
    async def test_trailer_cursor_is_the_header_and_a_feed_cursor(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        await make_project(db_urls)
        _, trailer, response = await export(planning, funds_people.admin, "projects")
        assert trailer["feed_cursor"] == response.headers["x-feed-cursor"]
        assert trailer["as_of"] == response.headers["x-export-as-of"] and trailer["as_of"].endswith("Z")
        decode_position(trailer["feed_cursor"])
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert "projects-451025000000.ndjson" in response.headers["content-disposition"]

    async def test_csv_with_bom_header_and_json_columns(
        self, planning: httpx.AsyncClient, plan_people: PlanPeople
    ) -> None:
        plan_id = await active_plan_with_actuals(planning, plan_people)
        response = await planning.get(
            "/exports/plans", params={"format": "csv"}, headers=plan_people.admin | IDENTITY
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith("\ufeff".encode())
        assert "\r\n" in response.text
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["id", "lineage_id", "version"] and rows[0][-2:] == ["targets", "history"]
        assert len(rows) == 2 and rows[1][0] == plan_id
        targets = json.loads(rows[1][rows[0].index("targets")])
        assert {t["indicator_code"] for t in targets} >= {"poverty_incidence", "collective_income"}

    async def test_gzip_when_accepted(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        await ledger_with_reversal(planning, funds_people, db_urls)
        plain = await planning.get("/exports/funds_ledger", headers=funds_people.admin | IDENTITY)
        gz = funds_people.admin | {"Accept-Encoding": "gzip"}
        async with planning.stream("GET", "/exports/funds_ledger", headers=gz) as zipped:
            raw = b"".join([chunk async for chunk in zipped.aiter_raw()])
        assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
        body = gzip.decompress(raw).decode().splitlines()
        assert body[:-1] == plain.text.splitlines()[:-1]  # the trailers differ only in their time

    async def test_fields_reach_nested_fields(
        self,
        planning: httpx.AsyncClient,
        plan_people: PlanPeople,
        funds_people: FundsPeople,
        db: asyncpg.Connection,
    ) -> None:
        await active_plan_with_actuals(planning, plan_people)
        await project_with_milestones(planning, funds_people, db)
        plans, _, _ = await export(
            planning, plan_people.admin, "plans", fields="status,id,targets.indicator_code,targets.progress"
        )
        assert list(plans[0]) == ["id", "status", "targets"]
        assert set(plans[0]["targets"][0]) == {"indicator_code", "progress"}
        projects, _, _ = await export(
            planning, funds_people.admin, "projects", fields="id,milestones.percent"
        )
        assert projects[0]["milestones"] == [{"percent": 50}, {"percent": 0}]
        response = await planning.get(
            "/exports/projects",
            params={"format": "csv", "fields": "name,budget_yuan"},
            headers=funds_people.admin | IDENTITY,
        )
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows == [["name", "budget_yuan"], ["通村水泥路(村委会至那坡屯)", "1750000.00"]]

    async def test_bad_requests(self, planning: httpx.AsyncClient, funds_people: FundsPeople) -> None:
        r = await planning.get(
            "/exports/projects", params={"fields": "id,milestones.colour"}, headers=funds_people.admin
        )
        assert assert_problem(r, 422)["code"] == "unknown_export_field"
        r = await planning.get("/exports/households", headers=funds_people.admin)
        assert assert_problem(r, 404)["code"] == "unknown_export_dataset"
        assert_problem(await planning.get("/exports/plans"), 401)


class TestExportAccess:
    async def test_cadre_is_refused(self, planning: httpx.AsyncClient, funds_people: FundsPeople) -> None:
        for dataset in ("plans", "projects", "funds_ledger"):
            r = await planning.get(f"/exports/{dataset}", headers=funds_people.cadre)
            assert assert_problem(r, 403)["code"] == "export_not_allowed"

    async def test_other_county_sees_nothing_and_not_your_region(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        await ledger_with_reversal(planning, funds_people, db_urls)
        far = await make_project(db_urls, village=OTHER_COUNTY_VILLAGE)
        for dataset in ("projects", "funds_ledger"):
            records, _, _ = await export(planning, funds_people.other_admin, dataset)
            assert [r.get("id") for r in records] == ([far] if dataset == "projects" else [])
        mine, _, _ = await export(planning, funds_people.admin, "projects")
        assert far not in [r["id"] for r in mine]
        r = await planning.get(
            "/exports/projects", params={"region": COUNTY}, headers=funds_people.other_admin
        )
        assert_problem(r, 404)
        province, _, _ = await export(planning, funds_people.province, "projects")
        assert far in [r["id"] for r in province] and len(province) == 2

    async def test_audited_once(
        self,
        planning: httpx.AsyncClient,
        funds_people: FundsPeople,
        db: asyncpg.Connection,
        db_urls: dict[str, str],
    ) -> None:
        await make_project(db_urls)
        await export(planning, funds_people.province, "projects", fields="id,name")
        rows = await db.fetch(
            "SELECT action, actor, detail FROM planning_audit_event WHERE action = 'project.export'"
        )
        assert len(rows) == 1 and rows[0]["actor"] == "province-1"
        detail = json.loads(rows[0]["detail"]) if isinstance(rows[0]["detail"], str) else rows[0]["detail"]
        assert (detail["rows"], detail["complete"], detail["fields"]) == (1, True, ["id", "name"])


# -- the change feed -------------------------------------------------------------------------------------------------
class TestFeed:
    async def test_upserts_are_the_export_lines(
        self,
        planning: httpx.AsyncClient,
        plan_people: PlanPeople,
        funds_people: FundsPeople,
        db_urls: dict[str, str],
    ) -> None:
        plan_id = await active_plan_with_actuals(planning, plan_people)
        project_id, ids = await ledger_with_reversal(planning, funds_people, db_urls)
        items, _ = await drain(planning, db_urls, funds_people.province)
        assert all(i["op"] == "upsert" and i["reason"] is None for i in items)
        seen = {(i["type"], i["id"]): i["record"] for i in items}
        assert set(seen) == {("plan", plan_id), ("project", project_id)} | {
            ("ledger_entry", str(i)) for i in ids
        }
        plans, _, _ = await export(planning, funds_people.province, "plans")
        assert seen[("plan", plan_id)] == plans[0]
        ledger, _, _ = await export(planning, funds_people.province, "funds_ledger")
        assert [seen[("ledger_entry", str(r["id"]))] for r in ledger] == ledger
        only, _ = await drain(planning, db_urls, funds_people.province, types="ledger_entry")
        assert {i["type"] for i in only} == {"ledger_entry"}

    async def test_an_actual_changes_its_plans(
        self, planning: httpx.AsyncClient, plan_people: PlanPeople, db_urls: dict[str, str]
    ) -> None:
        plan_id = await active_plan_with_actuals(planning, plan_people)
        _, cursor = await drain(planning, db_urls, plan_people.admin)
        values = [{"indicator_code": "village_clinic", "value": "1"}]
        r = await planning.put(
            f"/plans/{plan_id}/actuals/2016", json={"values": values}, headers=plan_people.clerk
        )
        assert r.status_code == 200, r.text
        items, _ = await drain(planning, db_urls, plan_people.admin, cursor)
        assert [(i["type"], i["id"]) for i in items] == [("plan", plan_id)]
        clinic = next(t for t in items[0]["record"]["targets"] if t["indicator_code"] == "village_clinic")
        assert clinic["progress"] == {"state": "met", "percent": "100.00"}

    async def test_reversal_changes_the_reversed_entry(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        project_id, line = await funded_line(planning, funds_people, db_urls)
        r = await planning.post(
            f"/funding-lines/{line['id']}/disbursements", json=disbursement(), headers=funds_people.admin
        )
        paid = r.json()["id"]
        _, cursor = await drain(planning, db_urls, funds_people.admin)
        r = await planning.post(
            f"/ledger-entries/{paid}/reversals",
            json={"entry_date": "2015-06-02", "voucher": "红字-002", "reason": "重复支付"},
            headers=funds_people.admin,
        )
        reversal = r.json()["id"]
        items, _ = await drain(planning, db_urls, funds_people.admin, cursor)
        records = {i["id"]: i["record"] for i in items}
        assert set(records) == {str(paid), str(reversal)}
        assert records[str(paid)]["reversed_by"] == reversal
        assert project_id

    async def test_tombstone_when_the_row_goes(
        self,
        planning: httpx.AsyncClient,
        funds_people: FundsPeople,
        db: asyncpg.Connection,
        db_urls: dict[str, str],
    ) -> None:
        kept = await make_project(db_urls)
        gone = await make_project(db_urls, name="作废项目")
        _, cursor = await drain(planning, db_urls, funds_people.clerk)
        await db.execute("DELETE FROM planning_project WHERE id = $1", uuid.UUID(gone))
        await db.execute("UPDATE planning_project SET name = '通村道路(改)' WHERE id = $1", uuid.UUID(kept))
        items, _ = await drain(planning, db_urls, funds_people.clerk, cursor)
        assert [(i["id"], i["op"], i["reason"]) for i in items] == [
            (gone, "tombstone", "deleted"),
            (kept, "upsert", None),
        ]
        assert items[0]["record"] is None and items[1]["record"]["name"] == "通村道路(改)"

    async def test_other_region_sees_nothing(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        await make_project(db_urls)
        far = await make_project(db_urls, village=OTHER_COUNTY_VILLAGE)
        theirs, _ = await drain(planning, db_urls, funds_people.other_admin)
        assert [i["id"] for i in theirs] == [far]
        sibling, _ = await drain(planning, db_urls, funds_people.other_clerk)
        assert sibling == []

    async def test_refusals(self, planning: httpx.AsyncClient, funds_people: FundsPeople) -> None:
        r = await planning.get("/changes", headers=funds_people.cadre)
        assert assert_problem(r, 403)["code"] == "feed_not_allowed"
        r = await planning.get("/changes", params={"types": "household"}, headers=funds_people.admin)
        assert assert_problem(r, 422)["code"] == "unknown_feed_type"
        r = await planning.get("/changes", params={"after": "nonsense"}, headers=funds_people.admin)
        assert assert_problem(r, 422)["code"] == "invalid_cursor"
        assert_problem(await planning.get("/changes"), 401)


class TestRetention:
    async def test_cursor_older_than_the_pruned_horizon_is_gone(
        self,
        planning: httpx.AsyncClient,
        planning_app: FastAPI,
        funds_people: FundsPeople,
        db: asyncpg.Connection,
        db_urls: dict[str, str],
    ) -> None:
        await make_project(db_urls)
        _, old = await drain(planning, db_urls, funds_people.admin)
        await make_project(db_urls, name="新项目")
        await settle(db_urls)
        await db.execute("UPDATE planning_change SET at = at - interval '400 days'")
        assert (await housekeeping(planning_app))["changes"] == 2
        for after in (old, None):
            response = await planning.get(
                "/changes", params={"after": after} if after else {}, headers=funds_people.admin
            )
            problem = assert_problem(response, 410)
            assert problem["code"] == "cursor_expired"
            assert problem["exports"] == ["/exports/plans", "/exports/projects", "/exports/funds_ledger"]
            assert "/exports/projects" in response.headers["link"]
        # An export's cursor (taken after the prune) is valid.
        _, trailer, _ = await export(planning, funds_people.admin, "projects")
        assert (await feed(planning, funds_people.admin, trailer["feed_cursor"]))["items"] == []

    async def test_retention_is_the_setting(self, db: asyncpg.Connection, db_urls: dict[str, str]) -> None:
        await make_project(db_urls)
        await db.execute("UPDATE planning_change SET at = at - interval '10 days'")
        pool = await asyncpg.create_pool(db_urls["planning"], min_size=1, max_size=1)
        try:
            assert await prune_change_feed(pool, now=utcnow()) == 0  # default: 90 days
            assert await prune_change_feed(pool, now=utcnow(), retention_days=7) == 1
        finally:
            await pool.close()
        assert await db.fetchval("SELECT pruned_txid IS NOT NULL FROM planning_change_horizon")


class TestGapless:
    async def test_open_transaction_is_delivered_after_it_commits(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        a_id = await make_project(db_urls, name="甲")
        b_id = await make_project(db_urls, name="乙")
        _, cursor = await drain(planning, db_urls, funds_people.admin)
        a = await asyncpg.connect(db_urls["planning"])
        try:
            tx = a.transaction()
            await tx.start()
            # A takes the lower seq and stays open.
            await a.execute(
                "UPDATE planning_project SET natural_village = 'A屯' WHERE id = $1", uuid.UUID(a_id)
            )
            b = await asyncpg.connect(db_urls["planning"])
            try:  # B commits after A's write
                await b.execute(
                    "UPDATE planning_project SET natural_village = 'B屯' WHERE id = $1", uuid.UUID(b_id)
                )
            finally:
                await b.close()
            items, stopped = await drain(planning, db_urls, funds_people.admin, cursor, settled=False)
            assert items == []  # B is not delivered past A
            assert decode_position(stopped).txid <= int(await a.fetchval("SELECT pg_current_xact_id()::text"))
            await tx.commit()
        finally:
            await a.close()
        items, _ = await drain(planning, db_urls, funds_people.admin, stopped)
        assert [(i["id"], i["record"]["natural_village"]) for i in items] == [(a_id, "A屯"), (b_id, "B屯")]


class TestProvinceMirror:
    async def test_export_then_follow_equals_the_source(
        self,
        planning: httpx.AsyncClient,
        funds_people: FundsPeople,
        db: asyncpg.Connection,
        db_urls: dict[str, str],
    ) -> None:
        """Export the projects and the ledger, then follow the feed while writers change both (one transaction
        held open meanwhile): the mirror equals a new export, record for record."""
        seeded = [await make_project(db_urls, name=f"原项目{i}") for i in range(3)]
        _, line = await funded_line(planning, funds_people, db_urls)
        mirror: dict[tuple[str, str], Json] = {}
        cursors = []
        for dataset, kind in (("projects", "project"), ("funds_ledger", "ledger_entry")):
            records, trailer, _ = await export(planning, funds_people.province, dataset)
            mirror |= {(kind, str(r["id"])): r for r in records}
            cursors.append(trailer["feed_cursor"])
        cursor = min(cursors, key=decode_position)  # the older snapshot's: re-applying a change is harmless

        async def writer(n: int) -> None:
            for i in range(3):
                await make_project(db_urls, name=f"写{n}项目{i}")
                r = await planning.post(
                    f"/funding-lines/{line['id']}/disbursements",
                    json=disbursement(f"{n}{i}00.00"),
                    headers=funds_people.admin,
                )
                assert r.status_code == 201, r.text
                await asyncio.sleep(0)

        async def holder() -> None:
            conn = await asyncpg.connect(db_urls["planning"])
            try:
                async with conn.transaction():
                    await conn.execute(
                        "UPDATE planning_project SET natural_village = '久屯' WHERE id = $1",
                        uuid.UUID(seeded[0]),
                    )
                    await asyncio.sleep(0.8)  # others commit meanwhile
            finally:
                await conn.close()

        async def remover() -> None:
            await db.execute("DELETE FROM planning_project WHERE id = $1", uuid.UUID(seeded[1]))

        def apply(items: list[Json]) -> None:
            for item in items:
                key = (item["type"], item["id"])
                if item["op"] == "upsert":
                    mirror[key] = item["record"]
                else:
                    mirror.pop(key, None)

        async def follow(until: asyncio.Future[None]) -> str:
            after: str = cursor
            while True:
                done = until.done()
                page = await feed(planning, funds_people.province, after, wait=0.5)
                apply(page["items"])
                after = page["next_cursor"]
                if done and not page["has_more"] and not page["items"]:
                    return after

        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        follower = asyncio.create_task(follow(finished))
        await asyncio.gather(writer(1), writer(2), holder(), remover())
        finished.set_result(None)
        apply((await drain(planning, db_urls, funds_people.province, await follower))[0])

        truth: dict[tuple[str, str], Json] = {}
        for dataset, kind in (("projects", "project"), ("funds_ledger", "ledger_entry")):
            records, _, _ = await export(planning, funds_people.province, dataset)
            truth |= {(kind, str(r["id"])): r for r in records}
        assert mirror == truth
        assert ("project", seeded[1]) not in mirror
        assert mirror[("project", seeded[0])]["natural_village"] == "久屯"
        assert len([k for k in mirror if k[0] == "ledger_entry"]) == 1 + 6


class TestLongPoll:
    async def test_wait_returns_early_when_a_write_lands(
        self, planning: httpx.AsyncClient, funds_people: FundsPeople, db_urls: dict[str, str]
    ) -> None:
        _, cursor = await drain(planning, db_urls, funds_people.admin)

        async def write_soon() -> str:
            await asyncio.sleep(0.6)
            return await make_project(db_urls)

        started = time.monotonic()
        writer = asyncio.create_task(write_soon())
        page = await feed(planning, funds_people.admin, cursor, wait=2)
        elapsed = time.monotonic() - started
        project_id = await writer
        if page["items"]:  # answered as soon as the write was final
            assert [i["id"] for i in page["items"]] == [project_id] and elapsed < 1.9
        else:  # another session of the server held the cluster's xmin back for the whole wait
            assert elapsed >= 1.4
        items, _ = await drain(planning, db_urls, funds_people.admin, page["next_cursor"])
        assert [i["id"] for i in page["items"] + items] == [project_id]


class TestThroughTheGateway:
    async def test_export_and_feed_at_api_planning(
        self,
        planning_app: FastAPI,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        funds_people: FundsPeople,
        db_urls: dict[str, str],
    ) -> None:
        project_id = await make_project(db_urls)
        async with (
            serve(planning_app) as upstream,
            gateway_over(gateway_settings, signing_key, planning=upstream) as gw,
        ):
            response = await gw.get("/api/planning/exports/projects", headers=funds_people.province)
            assert response.status_code == 200, response.text
            lines = [json.loads(line) for line in response.text.splitlines()]
            assert [r["id"] for r in lines[:-1]] == [project_id]
            cursor = response.headers["x-feed-cursor"]
            assert lines[-1]["_trailer"]["feed_cursor"] == cursor
            await make_project(db_urls, name="新项目")
            await settle(db_urls)
            page = await gw.get(
                "/api/planning/changes", params={"after": cursor}, headers=funds_people.province
            )
            assert page.status_code == 200, page.text
            assert [i["record"]["name"] for i in page.json()["items"]] == ["新项目"]

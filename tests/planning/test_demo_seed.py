"""The planning demo `make run` loads through the API (services/planning/demo.py): after the registry's demo
households, 旧州村's profile, an active exit plan, the county's allocation and two funded projects with their
ledgers; a second run writes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from services.planning.demo import (
    ALLOCATION_AMOUNT_YUAN,
    COUNTY,
    PLAN_TITLE,
    PROJECTS,
    TOWNSHIP,
    VILLAGE,
    load_demo_planning,
)
from services.registry.demo import load_demo_households
from shared.jwt import SigningKey
from tests.factories import Headers, headers_for

pytestmark = pytest.mark.usefixtures("seed_regions")


async def _table_counts(db_urls: dict[str, str], service: str) -> dict[str, int]:
    conn = await asyncpg.connect(db_urls[service])
    try:
        tables = [
            row["tablename"]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic_%'"
            )
        ]
        return {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}  # noqa: S608
    finally:
        await conn.close()


class TestPlanningDemo:
    async def test_loads_once_and_again_is_a_no_op(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        admin = headers_for(signing_key, "county_admin", COUNTY, "admin-jingxi")
        village = headers_for(signing_key, "village_officer", VILLAGE, "clerk-jiuzhou")
        township = headers_for(signing_key, "township_officer", TOWNSHIP, "officer-xinjing")
        cadre = headers_for(signing_key, "cadre", COUNTY, str(uuid.uuid4()))
        await load_demo_households(registry, admin=admin, cadre=cadre)

        loaded = await load_demo_planning(
            planning, village=village, township=township, admin=admin, registry=registry
        )
        assert loaded["writes"] > 0 and loaded["plan_status"] == "active"
        assert loaded["beneficiaries"] == 4  # the registry demo's four households of 旧州村
        year = loaded["year"]

        # The plan: active, its history the whole chain, its targets from the catalogue.
        plan = (await planning.get(f"/plans/{loaded['plan_id']}", headers=village)).json()
        assert plan["status"] == "active" and plan["title"] == PLAN_TITLE and plan["plan_type"] == "exit"
        assert [e["step"] for e in plan["history"]] == [
            "drafted",
            "assembly",
            "township_review",
            "county_approval",
            "activation",
        ]
        assert len(plan["targets"]) == 6
        profile = await planning.get(f"/villages/{VILLAGE}/profiles/{year}", headers=village)
        assert profile.status_code == 200 and profile.json()["declared"]["population"] == 1358
        checklist = (await planning.get(f"/villages/{VILLAGE}/exit-checklist/{year}", headers=admin)).json()
        items = {i["item"]: i for i in checklist["items"]}
        assert items["low_incidence"]["threshold"] == "4"
        assert (items["collective_income"]["result"], items["collective_income"]["figure"]) == (
            "not_met",
            "3000",
        )

        # The allocation: the water project's special-fund line drew 200,000 of it on approval.
        allocation = (await planning.get(f"/allocations/{loaded['allocation_id']}", headers=admin)).json()
        assert (allocation["amount_yuan"], allocation["drawn_yuan"]) == (ALLOCATION_AMOUNT_YUAN, "200000.00")

        # Two projects, each approved and being implemented, with lines, receipts and disbursements.
        assert len(loaded["projects"]) == 2
        for spec, summary in zip(PROJECTS, loaded["projects"], strict=True):
            project = (await planning.get(f"/projects/{summary['id']}", headers=village)).json()
            assert project["status"] == "in_progress" and project["plan_id"] == loaded["plan_id"]
            assert project["funding"]["funding_gap_yuan"] == "0.00"
            assert project["funding"]["committed_yuan"] == spec.fields["budget_yuan"]
            assert project["beneficiaries_count"] == 4 and project["poor_beneficiaries_count"] == 4
            assert any(m["done_on"] for m in project["milestones"])
            lines = (await planning.get(f"/projects/{summary['id']}/funding-lines", headers=admin)).json()
            assert len(lines["items"]) == len(spec.lines) >= 2
            ledger = (await planning.get(f"/projects/{summary['id']}/ledger", headers=admin)).json()
            kinds = [e["kind"] for e in ledger["items"]]
            assert len(kinds) == len(spec.entries) and {"receipt", "disbursement"} <= set(kinds)
        road = (await planning.get(f"/projects/{loaded['projects'][0]['id']}", headers=village)).json()
        assert [line["committed_yuan"] for line in (await self._lines(planning, admin, road["id"]))] == [
            "880000.00",
            "650000.00",
            "220000.00",
        ]
        assert "results_disclosure" in [e["step"] for e in road["events"]]
        overdue = (await planning.get("/projects/overdue-milestones", headers=admin)).json()
        assert [m["name"] for m in overdue["items"]] == ["入户管网铺设"]

        # Again: everything is found, nothing is written (no row anywhere, no audit entry).
        planning_before = await _table_counts(db_urls, "planning")
        registry_before = await _table_counts(db_urls, "registry")
        again = await load_demo_planning(
            planning, village=village, township=township, admin=admin, registry=registry
        )
        assert again["writes"] == 0
        assert (again["plan_id"], again["allocation_id"]) == (loaded["plan_id"], loaded["allocation_id"])
        assert [p["id"] for p in again["projects"]] == [p["id"] for p in loaded["projects"]]
        assert await _table_counts(db_urls, "planning") == planning_before
        assert await _table_counts(db_urls, "registry") == registry_before

    async def test_without_the_registry_client(
        self, planning: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        """Without households or thresholds (no registry client), the plan and the money load all the same."""
        admin = headers_for(signing_key, "county_admin", COUNTY, "admin-jingxi")
        village = headers_for(signing_key, "village_officer", VILLAGE, "clerk-jiuzhou")
        township = headers_for(signing_key, "township_officer", TOWNSHIP, "officer-xinjing")
        loaded = await load_demo_planning(planning, village=village, township=township, admin=admin)
        assert loaded["plan_status"] == "active" and loaded["beneficiaries"] == 0
        assert [p["status"] for p in loaded["projects"]] == ["in_progress", "in_progress"]
        assert (await load_demo_planning(planning, village=village, township=township, admin=admin))[
            "writes"
        ] == 0

    @staticmethod
    async def _lines(planning: httpx.AsyncClient, headers: Headers, project_id: str) -> list[dict[str, Any]]:
        body: dict[str, Any] = (
            await planning.get(f"/projects/{project_id}/funding-lines", headers=headers)
        ).json()
        return list(body["items"])

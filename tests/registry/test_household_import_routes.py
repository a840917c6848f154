"""Bulk registration (`POST /households/import`, NDJSON): all or nothing, per-line errors, scope and role.

Also checks the benchmark's synthetic data (bench/registry_data.py) through the real route; its pure checks (valid
IDs, one head per household) are in test_household_import_domain.py.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from bench.registry_data import generate, region_csv
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)

NDJSON = {"Content-Type": "application/x-ndjson"}
#: Registered households come in only as a migration with its source document (issue #13 item 2).
MIGRATION = {"mode": "migration", "source_document": "桂开办[2014]12号"}
INCOME = {
    "year": 2013,
    "wage": "6000.00",
    "operating": "3000.00",
    "property": "0.00",
    "transfer": "1200.00",
    "operating_expenses": "600.00",
}

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "county_admin", COUNTY), **NDJSON)


def _ndjson(*lines: dict[str, Any] | str) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines).encode()


async def _scalar(db_urls: dict[str, str], sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _households(db_urls: dict[str, str]) -> int:
    return int(await _scalar(db_urls, "SELECT count(*) FROM registry_household"))


class TestImportHouseholds:
    async def test_anonymous(self, registry: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        response = await registry.post(
            "/households/import", content=_ndjson(household_payload(VILLAGE)), headers=NDJSON
        )
        assert_problem(response, 401)
        assert await _households(db_urls) == 0

    async def test_invalid_empty_file(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        body = assert_problem(await registry.post("/households/import", content=b"\n\n", headers=admin), 422)
        assert body["code"] == "empty_file" and body["errors"] == []

    async def test_three_households_are_registered_with_derived_fields(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        first = household_payload(VILLAGE, status="registered", income=INCOME, national_household_code="N-1")
        second = household_payload(SIBLING_VILLAGE, size=2)  # a candidate without income
        third = household_payload(VILLAGE, size=4, status="registered")
        response = await registry.post(
            "/households/import", params=MIGRATION, content=_ndjson(first, second, third), headers=admin
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "dry_run": False,
            "mode": "migration",
            "source_document": MIGRATION["source_document"],
            "households": 3,
            "members": 9,
            "registered": 2,
            "errors": [],
        }

        conn = await asyncpg.connect(db_urls["registry"])
        try:
            row = await conn.fetchrow(
                "SELECT * FROM registry_household WHERE national_household_code = 'N-1'"
            )
            assert row["status"] == "registered" and row["version"] == 1 and row["flags"] == []
            assert (row["household_size"], row["labor_count"], row["has_labor_capacity"]) == (3, 1, True)
            assert row["head_name"] == "黄志强" and row["quota_year"] == 2014
            assert row["income_year"] == 2013 and str(row["net_income"]) == "9600.00"
            assert str(row["per_capita_net_income"]) == "3200.00"
            assert row["contact_phone_masked"] == "*******1234" and row["contact_phone_enc"].startswith("v1:")
            income = await conn.fetchrow(
                "SELECT * FROM registry_household_income WHERE household_id = $1", row["id"]
            )
            assert (income["version"], str(income["per_capita_net_income"]), income["household_size"]) == (
                1,
                "3200.00",
                3,
            )
            events = await conn.fetch("SELECT * FROM registry_workflow_event ORDER BY household_id")
            assert len(events) == 2
            assert {(e["seq"], e["command"], e["status_after"], e["role"]) for e in events} == {
                (1, "import", "registered", "county_admin")
            }
            assert json.loads(events[0]["data"]) == {"source": "bulk", **MIGRATION}
            members = await conn.fetch(
                "SELECT * FROM registry_member WHERE household_id = $1 ORDER BY relation", row["id"]
            )
            assert all(m["active"] and m["id_number_index"] and m["id_number_enc"] for m in members)
            assert all(m["id_number_masked"].startswith("451025") for m in members)
            assert await conn.fetchval("SELECT count(*) FROM registry_membership_change") == 9
            audits = await conn.fetch("SELECT * FROM registry_audit_event")
            assert [(a["action"], a["record_type"]) for a in audits] == [
                ("household.bulk_register", "import")
            ]
            detail = json.loads(audits[0]["detail"])
            assert (detail["households"], detail["members"], detail["registered"], detail["incomes"]) == (
                3,
                9,
                2,
                1,
            )
        finally:
            await conn.close()

    async def test_one_bad_line_writes_nothing(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        bad = household_payload(VILLAGE)
        number = bad["members"][1]["resident_id_number"]
        bad["members"][1]["resident_id_number"] = number[:17] + ("0" if number[17] != "0" else "1")
        body = _ndjson(household_payload(VILLAGE), bad, household_payload(VILLAGE), '{"village_code": ')
        response = await registry.post("/households/import", content=body, headers=admin)
        problem = assert_problem(response, 422, "nothing was imported")
        errors = problem["errors"]
        assert errors[0] == {
            "line": 2,
            "pointer": "/members/1/resident_id_number",
            "message": "resident_id_number: the check character does not match (ISO 7064 MOD 11-2)",
        }
        assert [e["line"] for e in errors] == [2, 4]  # the truncated JSON line is reported too
        assert await _households(db_urls) == 0
        assert await _scalar(db_urls, "SELECT count(*) FROM registry_member") == 0

    async def test_schema_errors_carry_json_pointers(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        no_head = household_payload(VILLAGE)
        no_head["members"][0]["relation"] = "spouse"
        unknown = household_payload(VILLAGE, color="blue")
        response = await registry.post("/households/import", content=_ndjson(no_head, unknown), headers=admin)
        errors = assert_problem(response, 422)["errors"]
        assert {(e["line"], e["pointer"]) for e in errors} == {(1, ""), (2, "/color")}
        assert "exactly one member" in errors[0]["message"]

    async def test_id_repeated_in_the_file(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        first, second = household_payload(VILLAGE), household_payload(SIBLING_VILLAGE)
        second["members"][1]["resident_id_number"] = first["members"][0]["resident_id_number"]
        response = await registry.post("/households/import", content=_ndjson(first, second), headers=admin)
        errors = assert_problem(response, 422)["errors"]
        assert [(e["line"], e["pointer"]) for e in errors] == [(2, "/members/1/resident_id_number")]
        assert "repeats line 1 (/members/0/resident_id_number)" in errors[0]["message"]
        assert await _households(db_urls) == 0

    async def test_id_of_an_existing_active_member(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        existing = household_payload(VILLAGE)
        response = await registry.post("/households/import", content=_ndjson(existing), headers=admin)
        assert response.status_code == 200, response.text
        again = household_payload(SIBLING_VILLAGE)
        again["members"][2]["resident_id_number"] = existing["members"][1]["resident_id_number"].lower()
        response = await registry.post("/households/import", content=_ndjson(again), headers=admin)
        errors = assert_problem(response, 422)["errors"]
        assert [(e["line"], e["pointer"]) for e in errors] == [(1, "/members/2/resident_id_number")]
        assert "already an active member" in errors[0]["message"]
        assert await _households(db_urls) == 1

    async def test_only_county_admins(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        for role, region in (("township_officer", TOWNSHIP), ("village_officer", VILLAGE)):
            headers = auth(issue(signing_key, role, region), **NDJSON)
            response = await registry.post(
                "/households/import", content=_ndjson(household_payload(VILLAGE)), headers=headers
            )
            assert_problem(response, 403)
        province = auth(issue(signing_key, "province_system", "450000000000"), **NDJSON)
        response = await registry.post(
            "/households/import", content=_ndjson(household_payload(VILLAGE)), headers=province
        )
        assert_problem(response, 403)
        assert await _households(db_urls) == 0

    async def test_villages_outside_the_county_or_missing(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        body = _ndjson(
            household_payload(VILLAGE),
            household_payload(OTHER_COUNTY_VILLAGE),
            household_payload(TOWNSHIP),
            household_payload("451025100299"),  # in the county, but no such village
        )
        response = await registry.post("/households/import", content=body, headers=admin)
        errors = assert_problem(response, 422)["errors"]
        # The report is complete (issue #15): region existence is checked even when other lines failed.
        assert [(e["line"], e["pointer"]) for e in errors] == [
            (2, "/village_code"),
            (3, "/village_code"),
            (4, "/village_code"),
        ]
        assert "outside your scope" in errors[0]["message"]
        assert errors[2]["message"] == "region 451025100299 does not exist"
        response = await registry.post(
            "/households/import",
            content=_ndjson(household_payload(VILLAGE), household_payload("451025100299")),
            headers=admin,
        )
        errors = assert_problem(response, 422)["errors"]
        assert [(e["line"], e["message"]) for e in errors] == [(2, "region 451025100299 does not exist")]
        assert await _households(db_urls) == 0

    async def test_wrong_content_type(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        headers = auth(issue(signing_key, "county_admin", COUNTY))
        response = await registry.post("/households/import", json=household_payload(VILLAGE), headers=headers)
        assert_problem(response, 415)

    async def test_dry_run_writes_nothing(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        body = _ndjson(
            household_payload(VILLAGE, status="registered", income=INCOME), household_payload(VILLAGE)
        )
        response = await registry.post(
            "/households/import", params={**MIGRATION, "dry_run": "true"}, content=body, headers=admin
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "dry_run": True,
            "mode": "migration",
            "source_document": MIGRATION["source_document"],
            "households": 2,
            "members": 6,
            "registered": 1,
            "errors": [],
        }
        assert await _households(db_urls) == 0
        # A dry run is a lookup of ID numbers: audited, nothing else written (issue #14 item 8).
        assert await _scalar(db_urls, "SELECT array_agg(action) FROM registry_audit_event") == [
            "household.import_check"
        ]

    async def test_a_generated_county_imports(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        """The benchmark's region CSV and households go through the real routes."""
        csv = await registry.post(
            "/regions/import",
            content=region_csv().encode(),
            headers={**admin, "Content-Type": "text/csv"},
        )
        assert csv.status_code == 200, csv.text
        assert csv.json()["created"] == 300 + 15 - 5  # the demo seed has two townships and three villages
        lines = b"\n".join(json.dumps(h, ensure_ascii=False).encode() for h in generate(40, seed=7))
        response = await registry.post("/households/import", params=MIGRATION, content=lines, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["households"] == 40
        assert await _scalar(db_urls, "SELECT count(*) FROM registry_household_income") == 40

    async def test_nul_characters_are_refused_per_line(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        bad = household_payload(VILLAGE)
        bad["members"][0]["name"] = "黄\u0000志强"
        response = await registry.post(
            "/households/import", content=_ndjson(household_payload(VILLAGE), bad), headers=admin
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["line"] == 2 and "NUL" in body["errors"][0]["message"]
        assert await _households(db_urls) == 0

    async def test_chunks_are_all_or_nothing(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With small chunks, earlier chunks are copied in before a later line fails: the transaction undoes them."""
        from services.registry.household_import import service as bulk

        monkeypatch.setattr(bulk, "_CHUNK", 3)
        existing = household_payload(VILLAGE)
        ok = await registry.post("/households/import", content=_ndjson(existing), headers=admin)
        assert ok.status_code == 200, ok.text
        lines = [household_payload(VILLAGE) for _ in range(10)]
        lines[8]["members"][1]["resident_id_number"] = existing["members"][1]["resident_id_number"]
        response = await registry.post("/households/import", content=_ndjson(*lines), headers=admin)
        body = assert_problem(response, 422)
        assert [(e["line"], e["pointer"]) for e in body["errors"]] == [(9, "/members/1/resident_id_number")]
        assert await _households(db_urls) == 1
        assert int(await _scalar(db_urls, "SELECT count(*) FROM registry_member")) == 3
        good = await registry.post(
            "/households/import", content=_ndjson(*lines[:8], *lines[9:]), headers=admin
        )
        assert good.status_code == 200 and good.json()["households"] == 9, good.text
        assert await _households(db_urls) == 10
        audit = await _scalar(
            db_urls,
            "SELECT detail->>'households' FROM registry_audit_event WHERE action = 'household.bulk_register' ORDER BY id DESC LIMIT 1",
        )
        assert audit == "9"

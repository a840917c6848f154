"""The registry's OpenAPI document is its contract: every operation declares the body it answers with; and what
the document promises is what the registry answers (operationIds, code values in queries, `Location` on every
201, coordinates as numbers and money as two-place strings)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    TOWNSHIP,
    UNIT,
    VILLAGE,
    assert_problem,
    create_household,
    headers_for,
    registered_household,
)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_operation_documents_its_success_body(registry_app: FastAPI) -> None:
    doc = registry_app.openapi()
    untyped = []
    for method, path, operation in _operations(doc):
        success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert success, f"{method} {path} documents no success response"
        for code, response in success.items():
            if code == "204":
                continue  # no content, by definition
            schema = (response.get("content") or {}).get("application/json", {}).get("schema")
            if schema is None and not (response.get("content") or {}):
                untyped.append(f"{method} {path} {code}: no body documented")
            elif schema is not None and schema in (
                {},
                {"type": "object"},
                {"type": "object", "additionalProperties": True},
            ):
                untyped.append(f"{method} {path} {code}: an untyped object")
    assert untyped == []


def test_every_route_declares_a_response_model(registry_app: FastAPI) -> None:
    documented = [
        ctx.original_route
        for ctx in iter_route_contexts(registry_app.routes)
        if isinstance(ctx.original_route, APIRoute) and ctx.original_route.include_in_schema
    ]
    assert len(documented) > 50  # the walk sees the routes of the included routers
    missing = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in documented
        if route.response_model is None and route.status_code != 204
    ]
    assert missing == []


# -- the contract on the wire (issue #10) ------------------------------------------------------------------------
def test_operation_ids_are_the_route_functions_in_camel_case(registry_app: FastAPI) -> None:
    ids = {
        (method.upper(), path): operation["operationId"]
        for method, path, operation in (
            (m, p, op) for p, item in registry_app.openapi()["paths"].items() for m, op in item.items()
        )
    }
    assert ids[("GET", "/households")] == "listHouseholds"
    assert ids[("GET", "/households/{household_id}")] == "getHousehold"
    assert ids[("POST", "/help-records/batch")] == "createHelpRecordBatch"
    assert (
        ids[("POST", "/households/{household_id}/help-plan/items/{item_id}/progress")] == "recordPlanProgress"
    )
    assert len(set(ids.values())) == len(ids)


def test_the_list_status_filter_holds_every_status() -> None:
    """`status=` of `GET /households` takes exactly the statuses a household can show, each with its label."""
    from services.registry.households.domain import HouseholdStatus
    from services.registry.households.schemas import StatusFilter
    from services.registry.identification.domain import Status

    expected = {str(s) for s in Status} | {str(s) for s in HouseholdStatus} | {"objection_pending"}
    assert {str(s) for s in StatusFilter} == expected
    for member in StatusFilter:
        source = Status.__members__.get(member.name) or HouseholdStatus.__members__.get(member.name)
        if source is not None:
            assert (member.label, member.english) == (source.label, source.english)


@pytest.mark.usefixtures("seed_regions")
class TestCodeValuesInQueries:
    """An unknown code in a query parameter is a 422 naming the parameter, not an empty page (issue #10)."""

    @pytest.mark.parametrize(
        "query",
        ["status=bogus", "cause=bogus", "attribute=bogus", "flag=bogus", "income_min=abc", "sort=bogus"],
    )
    async def test_unknown_code(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, query: str
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        body = assert_problem(await registry.get(f"/households?{query}", headers=clerk), 422)
        name = query.split("=")[0]
        assert [(e["parameter"].split(".")[0], e["in"]) for e in body["errors"]] == [(name, "query")]

    async def test_known_codes(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        household_id = await create_household(registry, clerk)
        query = "status=candidate&status=objection_pending&cause=illness&flag=split_recent&income_min=0"
        answer = await registry.get(f"/households?{query}", headers=clerk)
        assert answer.status_code == 200, answer.text
        assert [
            i["id"]
            for i in (await registry.get("/households?status=candidate", headers=clerk)).json()["items"]
        ] == [household_id]

    async def test_region_batch_from_status(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        url = f"/households/workflow/cosign/region-batch?region={VILLAGE}&from_status=bogus"
        body = assert_problem(await registry.post(url, json={}, headers=clerk), 422)
        assert {e["parameter"].split(".")[0] for e in body["errors"]} == {"from_status"}


@pytest.mark.usefixtures("seed_regions")
class TestLocation:
    """Every 201 says where the record it created is (`Location`, issue #10)."""

    async def test_helping_unit_cadre_assignment_and_pairing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        admin = headers_for(signing_key, "county_admin", COUNTY, "county-1")
        unit = await registry.post("/helping-units", json=UNIT, headers=admin)
        assert unit.status_code == 201, unit.text
        assert unit.headers["location"] == f"/helping-units/{unit.json()['id']}"
        assert (await registry.get(unit.headers["location"], headers=admin)).json() == unit.json()
        cadre = await registry.post(
            "/cadres",
            json={"unit_id": unit.json()["id"], "name": "王干部", "position_level": "staff"},
            headers=admin,
        )
        assert cadre.status_code == 201, cadre.text
        assert cadre.headers["location"] == f"/cadres/{cadre.json()['id']}"
        assert (await registry.get(cadre.headers["location"], headers=admin)).status_code == 200
        assignment = await registry.post(
            "/village-assignments",
            json={
                "village_code": VILLAGE,
                "cadre_id": cadre.json()["id"],
                "role": "first_secretary",
                "starts_on": "2015-01-01",
            },
            headers=admin,
        )
        assert assignment.status_code == 201, assignment.text
        assert assignment.headers["location"] == f"/villages/{VILLAGE}/assignments"
        household_id = await registered_household(registry, admin, db_urls)
        pairing = await registry.post(
            "/pairings",
            json={"household_id": household_id, "cadre_id": cadre.json()["id"], "valid_from": "2015-01-01"},
            headers=admin,
        )
        assert pairing.status_code == 201, pairing.text
        assert pairing.headers["location"] == f"/households/{household_id}/pairings"
        assert (await registry.get(pairing.headers["location"], headers=admin)).status_code == 200

    async def test_monitoring_round(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        opened = await registry.post(
            "/monitoring/rounds",
            json={"township_code": TOWNSHIP, "year": 2015, "half": "H2"},
            headers=township,
        )
        assert opened.status_code == 201, opened.text
        assert opened.headers["location"] == f"/monitoring/rounds/{opened.json()['id']}"
        assert (await registry.get(opened.headers["location"], headers=township)).status_code == 200

    async def test_member_and_split(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        household_id = await create_household(registry, clerk)
        card = await registry.get(f"/households/{household_id}", headers=clerk)
        member = {
            "name": "黄小明",
            "relation": "grandchild",
            "sex": "male",
            "birth_year_month": "2014-03",
            "labor_capacity": "none",
            "no_id_reason": "infant",
        }
        added = await registry.post(
            f"/households/{household_id}/members",
            json=member,
            headers=clerk | {"If-Match": card.headers["etag"]},
        )
        assert added.status_code == 201, added.text
        assert added.headers["location"] == f"/households/{household_id}/members/{added.json()['member_id']}"


@pytest.mark.usefixtures("seed_regions")
class TestHelpRecordNumbers:
    """A help record's position is two JSON numbers and its money a two-place string, in every answer: the REST
    read, the POST and the phone download (issue #10: a contract change from decimal strings)."""

    async def test_gps_numbers_and_money_string(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        admin = headers_for(signing_key, "county_admin", COUNTY, "county-1")
        sub = f"cadre-{uuid.uuid4().hex[:8]}"
        unit = (await registry.post("/helping-units", json=UNIT, headers=admin)).json()
        cadre = await registry.post(
            "/cadres",
            json={"unit_id": unit["id"], "name": "王干部", "position_level": "staff", "user_sub": sub},
            headers=admin,
        )
        household_id = await registered_household(registry, admin, db_urls)
        pairing = {"household_id": household_id, "cadre_id": cadre.json()["id"], "valid_from": "2015-01-01"}
        assert (await registry.post("/pairings", json=pairing, headers=admin)).status_code == 201
        phone = headers_for(signing_key, "cadre", COUNTY, sub)
        record = {
            "id": str(uuid.uuid4()),
            "household_id": household_id,
            "record_type": "visit",
            "device_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "content": "入户走访",
            "gps_lat": 23.134,
            "gps_lon": "106.417001",  # a string is still read
            "money_yuan": 200,
        }
        created = await registry.post("/help-records", json=record, headers=phone)
        assert created.status_code == 201, created.text
        read = await registry.get(f"/help-records/{record['id']}", headers=phone)
        downloaded = (await registry.get("/sync/download", headers=phone)).json()
        (synced,) = [
            r for h in downloaded["households"] for r in h["help_records"] if r["id"] == record["id"]
        ]
        for answer in (created.json(), read.json(), synced):
            assert (answer["gps_lat"], answer["gps_lon"]) == (23.134, 106.417001)
            assert answer["money_yuan"] == "200.00"

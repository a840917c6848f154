"""Issue #14 item 8: invariant 2 (one person, one household) without a cross-scope oracle on membership.

A membership conflict in the caller's scope keeps its detailed answer (`person_already_member`); outside it, or
when it cannot be traced, the answer is the generic `person_registration_conflict`, naming no household or region,
and the lookup is audited. A bulk-import check (dry run, refused import) answers per row the same way, leaves one
audit entry, and its rows are limited per caller and hour (429 with Retry-After).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.registry.households import domain as households
from services.registry.pii import mask_id_number
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    SIBLING_VILLAGE,
    VILLAGE,
    assert_problem,
    count_rows,
    headers_for,
    household_payload,
    sql,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

NDJSON = {"Content-Type": "application/x-ndjson"}
GENERIC = "person_registration_conflict"


async def _other_county(db_urls: dict[str, str]) -> None:
    for code, name, level, parent in (
        (OTHER_COUNTY, "德保县", "county", "451000000000"),
        (OTHER_COUNTY_TOWNSHIP, "城关镇", "township", OTHER_COUNTY),
        (OTHER_COUNTY_VILLAGE, "那温村", "village", OTHER_COUNTY_TOWNSHIP),
    ):
        await sql(
            db_urls,
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
            code,
            name,
            level,
            parent,
        )


async def _member_in_village(registry: httpx.AsyncClient, signing_key: SigningKey) -> str:
    """A household of 旧州村 created by its clerk; the head's resident ID number."""
    payload = household_payload(VILLAGE)
    clerk = headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")
    response = await registry.post("/households", json=payload, headers=clerk)
    assert response.status_code == 201, response.text
    number: str = payload["members"][0]["resident_id_number"]
    return number


def _with_head(village: str, number: str) -> dict[str, Any]:
    payload = household_payload(village)
    payload["members"][0]["resident_id_number"] = number
    return payload


async def _audits(db_urls: dict[str, str], action: str) -> list[dict[str, Any]]:
    rows = await sql(
        db_urls,
        "SELECT actor, request_id, detail FROM registry_audit_event WHERE action = $1 ORDER BY id",
        action,
    )
    return [
        {
            "actor": r["actor"],
            "request_id": r["request_id"],
            "detail": json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"],
        }
        for r in rows
    ]


def _assert_generic(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 409, "transfer procedure")
    assert body["code"] == GENERIC
    assert set(body) <= {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "code",
    }  # names no household or region
    return body


class TestRules:
    def test_only_a_conflict_in_scope_is_detailed(self) -> None:
        assert households.person_conflict_hidden(True) is False
        assert households.person_conflict_hidden(False) is True
        assert households.person_conflict_hidden(None) is True  # untraceable: the same answer
        assert households.hidden_person_conflict().code == GENERIC


class TestCreateHousehold:
    async def test_in_scope_the_answer_is_detailed(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        number = await _member_in_village(registry, signing_key)
        clerk = headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")
        response = await registry.post("/households", json=_with_head(VILLAGE, number), headers=clerk)
        assert assert_problem(response, 409)["code"] == "person_already_member"
        assert await _audits(db_urls, "person.conflict_hidden") == []

    async def test_another_village_gets_the_generic_answer_and_it_is_audited(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        number = await _member_in_village(registry, signing_key)
        other = headers_for(signing_key, "village_officer", SIBLING_VILLAGE, "clerk-2")
        response = await registry.post(
            "/households",
            json=_with_head(SIBLING_VILLAGE, number),
            headers=other | {"X-Request-ID": "req-oracle-1"},
        )
        _assert_generic(response)
        assert await count_rows(db_urls, "registry_household") == 1  # nothing written but the audit
        (entry,) = await _audits(db_urls, "person.conflict_hidden")
        assert entry["actor"] == "clerk-2"
        assert entry["request_id"]
        assert entry["detail"] == {"operation": "household.create", "id_numbers": [mask_id_number(number)]}

    async def test_another_county_gets_the_same_answer(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        await _other_county(db_urls)
        number = await _member_in_village(registry, signing_key)
        admin = headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-2")
        hidden = await registry.post(
            "/households", json=_with_head(OTHER_COUNTY_VILLAGE, number), headers=admin
        )
        village = headers_for(signing_key, "village_officer", SIBLING_VILLAGE, "clerk-2")
        other = await registry.post("/households", json=_with_head(SIBLING_VILLAGE, number), headers=village)
        first, second = _assert_generic(hidden), _assert_generic(other)
        assert (first["detail"], first["title"]) == (second["detail"], second["title"])
        assert len(await _audits(db_urls, "person.conflict_hidden")) == 2

    async def test_adding_a_member_out_of_scope(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        number = await _member_in_village(registry, signing_key)
        other = headers_for(signing_key, "village_officer", SIBLING_VILLAGE, "clerk-2")
        created = await registry.post("/households", json=household_payload(SIBLING_VILLAGE), headers=other)
        assert created.status_code == 201, created.text
        member = dict(household_payload(SIBLING_VILLAGE)["members"][2], resident_id_number=number)
        response = await registry.post(
            f"/households/{created.json()['id']}/members",
            json=member,
            headers=other | {"If-Match": f'"{created.json()["version"]}"'},
        )
        _assert_generic(response)
        (entry,) = await _audits(db_urls, "person.conflict_hidden")
        assert entry["detail"]["operation"] == "member.create"


class TestImportCheck:
    async def test_a_dry_run_answers_out_of_scope_rows_generically_and_is_audited(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        await _other_county(db_urls)
        number = await _member_in_village(registry, signing_key)
        admin = headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-2") | NDJSON
        body = "\n".join(
            json.dumps(x, ensure_ascii=False)
            for x in (household_payload(OTHER_COUNTY_VILLAGE), _with_head(OTHER_COUNTY_VILLAGE, number))
        ).encode()
        response = await registry.post(
            "/households/import", params={"dry_run": "true"}, content=body, headers=admin
        )
        problem = assert_problem(response, 422)
        (error,) = problem["errors"]
        assert (error["line"], error["pointer"], error["code"]) == (
            2,
            "/members/0/resident_id_number",
            GENERIC,
        )
        assert "active member" not in error["message"]
        (entry,) = await _audits(db_urls, "household.import_check")
        assert entry["actor"] == "county-2"
        detail = entry["detail"]
        assert (detail["dry_run"], detail["rows"], detail["conflicts"], detail["hidden_conflicts"]) == (
            True,
            2,
            1,
            1,
        )
        assert detail["hidden_id_numbers"] == [mask_id_number(number)]

    async def test_in_scope_rows_keep_the_detailed_answer(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        number = await _member_in_village(registry, signing_key)
        admin = headers_for(signing_key, "county_admin", COUNTY, "county-1") | NDJSON
        body = json.dumps(_with_head(SIBLING_VILLAGE, number), ensure_ascii=False).encode()
        response = await registry.post(
            "/households/import", params={"dry_run": "true"}, content=body, headers=admin
        )
        (error,) = assert_problem(response, 422)["errors"]
        assert error["code"] == "person_already_member"
        (entry,) = await _audits(db_urls, "household.import_check")
        assert (entry["detail"]["conflicts"], entry["detail"]["hidden_conflicts"]) == (1, 0)

    async def test_a_refused_import_is_audited_and_writes_nothing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        await _other_county(db_urls)
        number = await _member_in_village(registry, signing_key)
        admin = headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-2") | NDJSON
        body = json.dumps(_with_head(OTHER_COUNTY_VILLAGE, number), ensure_ascii=False).encode()
        response = await registry.post("/households/import", content=body, headers=admin)
        (error,) = assert_problem(response, 422)["errors"]
        assert error["code"] == GENERIC
        assert await count_rows(db_urls, "registry_household") == 1
        (entry,) = await _audits(db_urls, "household.import_check")
        assert (entry["detail"]["dry_run"], entry["detail"]["hidden_conflicts"]) == (False, 1)

    async def test_checked_rows_are_limited_per_hour(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        signing_key: SigningKey,
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(registry_app.state, "import_check_rows_per_hour", 3, raising=False)
        admin = headers_for(signing_key, "county_admin", COUNTY, "county-1") | NDJSON
        two = "\n".join(json.dumps(household_payload(VILLAGE)) for _ in range(2)).encode()
        ok = await registry.post("/households/import", params={"dry_run": "true"}, content=two, headers=admin)
        assert ok.status_code == 200, ok.text
        again = await registry.post(
            "/households/import", params={"dry_run": "true"}, content=two, headers=admin
        )
        problem = assert_problem(again, 429)
        assert problem["code"] == "import_check_limit"
        assert 1 <= int(again.headers["Retry-After"]) <= 3601
        # One row still fits; then the hour is used up, for a dry run and for an import alike.
        one = json.dumps(household_payload(VILLAGE)).encode()
        fits = await registry.post(
            "/households/import", params={"dry_run": "true"}, content=one, headers=admin
        )
        assert fits.status_code == 200, fits.text
        for params in ({"dry_run": "true"}, {}):
            refused = await registry.post("/households/import", params=params, content=one, headers=admin)
            assert_problem(refused, 429)
        assert await count_rows(db_urls, "registry_household") == 0
        # Another caller has an hour of their own.
        other = headers_for(signing_key, "county_admin", COUNTY, "county-9") | NDJSON
        mine = await registry.post(
            "/households/import", params={"dry_run": "true"}, content=two, headers=other
        )
        assert mine.status_code == 200, mine.text

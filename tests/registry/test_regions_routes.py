"""Routes of the region tree, statuses, policy parameters, quotas and population: one class per route.

Every route is checked for its role and scope: in scope works, out of scope is 404 (like missing), the wrong
role is 403, the province system is read-only, invalid input is 422 and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import SigningKey
from shared.pagination import decode_cursor
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PREFECTURE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    auth,
    count_rows,
    headers_for,
    issue,
    put_population,
    sql,
)

YEAR = 2014

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "county_admin", COUNTY))


@pytest.fixture
def officer(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "township_officer", TOWNSHIP))


@pytest.fixture
def province(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "province_system", PROVINCE))


async def _add_other_county(db_urls: dict[str, str]) -> None:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
            [
                (OTHER_COUNTY, "那坡县", "county", PREFECTURE),
                ("451026100000", "城厢镇", "township", OTHER_COUNTY),
            ],
        )
    finally:
        await conn.close()


# -- statuses ---------------------------------------------------------------------------------------------------
class TestGetRegion:
    async def test_valid(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await registry.get(f"/regions/{VILLAGE}", headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["code"], body["name"], body["level"], body["parent_code"]) == (
            VILLAGE,
            "旧州村",
            "village",
            TOWNSHIP,
        )
        assert response.headers["etag"] == f'"{body["version"]}"'
        assert body["created_at"].endswith("Z") or "+" in body["created_at"]

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/regions/{VILLAGE}"), 401)

    async def test_other_region_looks_missing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = auth(issue(signing_key, "village_officer", SIBLING_VILLAGE))
        hidden = assert_problem(await registry.get(f"/regions/{VILLAGE}", headers=clerk), 404)
        missing = assert_problem(await registry.get("/regions/451025100299", headers=clerk), 404)
        assert hidden["title"] == missing["title"] and hidden["type"] == missing["type"]

    async def test_invalid(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        assert_problem(await registry.get("/regions/4510251002", headers=admin), 422)


class TestListRegions:
    async def test_valid_keyset_pages(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        codes: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            response = await registry.get("/regions", params=params, headers=admin)
            assert response.status_code == 200, response.text
            codes += [r["code"] for r in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert codes == sorted(codes) and codes[0] == COUNTY and len(codes) == 6  # the county and below

    async def test_filters(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        villages = await registry.get("/regions", params={"level": "village"}, headers=admin)
        assert [r["code"] for r in villages.json()["items"]] == [VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE]
        children = await registry.get("/regions", params={"parent_code": TOWNSHIP}, headers=admin)
        assert [r["code"] for r in children.json()["items"]] == [VILLAGE, SIBLING_VILLAGE]
        under = await registry.get("/regions", params={"under": "451025101"}, headers=admin)
        assert [r["code"] for r in under.json()["items"]] == [OTHER_TOWNSHIP, OTHER_VILLAGE]

    async def test_invalid_cursor_is_400(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        body = assert_problem(await registry.get("/regions", params={"cursor": VILLAGE}, headers=admin), 400)
        assert body["code"] == "cursor_invalid"

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/regions"), 401)


class TestCreateRegion:
    async def test_valid(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        response = await registry.post(
            "/regions", json={"code": "451025100203", "name": "新村"}, headers=admin
        )
        assert response.status_code == 201, response.text
        assert response.headers["location"] == "/regions/451025100203"
        assert response.json()["parent_code"] == TOWNSHIP and response.json()["level"] == "village"
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            action = await conn.fetchval(
                "SELECT action FROM registry_audit_event WHERE record_id = '451025100203'"
            )
        finally:
            await conn.close()
        assert action == "region.create"

    async def test_exists_is_409(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        assert_problem(
            await registry.post("/regions", json={"code": VILLAGE, "name": "x"}, headers=admin), 409
        )

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
    ) -> None:
        officer = auth(issue(signing_key, "township_officer", TOWNSHIP))
        body = {"code": "451025100203", "name": "新村"}
        assert_problem(await registry.post("/regions", json=body, headers=officer), 403)
        assert await count_rows(db_urls, "registry_region") == 8

    async def test_outside_the_county(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        body = {"code": "451026100000", "name": "外县镇"}
        assert_problem(await registry.post("/regions", json=body, headers=admin), 403)

    @pytest.mark.parametrize(
        "body",
        [
            {"code": "4510251002", "name": "x"},
            {"code": "451025100203", "name": ""},
            {"code": "451025100203", "name": "x", "parent_code": OTHER_TOWNSHIP},
            {"code": "451025100203", "name": "x", "extra": 1},
        ],
    )
    async def test_invalid(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        body: dict[str, Any],
        db_urls: dict[str, str],
    ) -> None:
        assert_problem(await registry.post("/regions", json=body, headers=admin), 422)
        assert await count_rows(db_urls, "registry_region") == 8


class TestGetStatuses:
    async def test_valid_empty(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await registry.get(f"/regions/{VILLAGE}/statuses", headers=admin)
        assert response.json() == {"region_code": VILLAGE, "statuses_by_year": {}}

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/regions/{VILLAGE}/statuses"), 401)


class TestPutStatuses:
    async def test_county_admin_replaces_a_years_set(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        url = f"/regions/{VILLAGE}/statuses/{YEAR}"
        first = await registry.put(
            url, json={"statuses": ["poor_village", "national_poor_village"]}, headers=admin
        )
        assert first.status_code == 200, first.text
        assert first.json()["statuses_by_year"] == {str(YEAR): ["national_poor_village", "poor_village"]}
        await registry.put(
            f"/regions/{VILLAGE}/statuses/2015", json={"statuses": ["poor_village"]}, headers=admin
        )
        second = await registry.put(url, json={"statuses": ["designated_help_village"]}, headers=admin)
        assert second.json()["statuses_by_year"] == {
            str(YEAR): ["designated_help_village"],
            "2015": ["poor_village"],
        }
        cleared = await registry.put(url, json={"statuses": []}, headers=admin)
        assert cleared.json()["statuses_by_year"] == {"2015": ["poor_village"]}

    async def test_county_statuses_on_the_county(
        self, registry: httpx.AsyncClient, admin: dict[str, str], signing_key: SigningKey
    ) -> None:
        response = await registry.put(
            f"/regions/{COUNTY}/statuses/{YEAR}",
            json={"statuses": ["poor_county", "old_revolutionary_base"]},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        village_clerk = auth(issue(signing_key, "village_officer", VILLAGE))
        assert_problem(await registry.get(f"/regions/{COUNTY}/statuses", headers=village_clerk), 404)
        got = await registry.get(f"/regions/{COUNTY}/statuses", headers=admin)
        assert got.json() == {
            "region_code": COUNTY,
            "statuses_by_year": {str(YEAR): ["old_revolutionary_base", "poor_county"]},
        }

    async def test_invalid_input_is_422_and_changes_nothing(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        url = f"/regions/{VILLAGE}/statuses/{YEAR}"
        await registry.put(url, json={"statuses": ["poor_village"]}, headers=admin)
        for body in (
            {"statuses": ["rich_village"]},
            {"statuses": ["poor_county"]},  # a county status on a village
            {"statuses": ["poor_village"], "extra": 1},
            {},
        ):
            assert_problem(await registry.put(url, json=body, headers=admin), 422)
        assert_problem(
            await registry.put(f"/regions/{VILLAGE}/statuses/1999", json={"statuses": []}, headers=admin), 422
        )
        assert (await registry.get(f"/regions/{VILLAGE}/statuses", headers=admin)).json()[
            "statuses_by_year"
        ] == {str(YEAR): ["poor_village"]}
        assert await count_rows(db_urls, "registry_region_status") == 1

    async def test_out_of_scope_is_404(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        await _add_other_county(db_urls)
        response = await registry.put(
            f"/regions/{OTHER_COUNTY}/statuses/{YEAR}", json={"statuses": ["poor_county"]}, headers=admin
        )
        assert_problem(response, 404)
        assert_problem(await registry.get(f"/regions/{OTHER_COUNTY}/statuses", headers=admin), 404)

    @pytest.mark.parametrize(
        ("role", "region"), [("township_officer", TOWNSHIP), ("village_officer", VILLAGE), ("cadre", COUNTY)]
    )
    async def test_other_roles_cannot_write(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, role: str, region: str
    ) -> None:
        headers = auth(issue(signing_key, role, region))
        response = await registry.put(
            f"/regions/{VILLAGE}/statuses/{YEAR}", json={"statuses": ["poor_village"]}, headers=headers
        )
        assert_problem(response, 403)
        assert (await registry.get(f"/regions/{VILLAGE}/statuses", headers=headers)).status_code == 200

    async def test_province_system_reads_but_cannot_write(
        self, registry: httpx.AsyncClient, province: dict[str, str], admin: dict[str, str]
    ) -> None:
        await registry.put(
            f"/regions/{VILLAGE}/statuses/{YEAR}", json={"statuses": ["poor_village"]}, headers=admin
        )
        body = assert_problem(
            await registry.put(
                f"/regions/{VILLAGE}/statuses/{YEAR}", json={"statuses": []}, headers=province
            ),
            403,
        )
        assert "read-only" in body["detail"]
        got = await registry.get(f"/regions/{VILLAGE}/statuses", headers=province)
        assert got.json()["statuses_by_year"] == {str(YEAR): ["poor_village"]}


# -- CSV import and subtree -------------------------------------------------------------------------------------
CSV = "text/csv; charset=utf-8"


class TestImportRegions:
    async def _import(
        self, registry: httpx.AsyncClient, headers: dict[str, str], text: str, **params: str
    ) -> httpx.Response:
        return await registry.post(
            "/regions/import",
            content=text.encode(),
            params=params,
            headers={**headers, "Content-Type": CSV},
        )

    async def test_creates_and_renames_in_one_go(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        text = (
            "code,name,parent_code\n"
            "451025102000,龙临镇,\n"  # new township: parent derived (the county)
            "451025102201,龙临村,451025102000\n"  # parent earlier in the file
            "451025102202,新兴村,\n"  # parent derived from the row above
            f"{VILLAGE},旧州村(改),{TOWNSHIP}\n"  # existing: name updated
            f"{SIBLING_VILLAGE},渠洋村,\n"  # existing, unchanged
        )
        response = await self._import(registry, admin, text)
        assert response.status_code == 200, response.text
        assert response.json() == {"dry_run": False, "rows": 5, "created": 3, "updated": 1, "unchanged": 1}
        village = (await registry.get("/regions/451025102202", headers=admin)).json()
        assert village["parent_code"] == "451025102000" and village["level"] == "village"
        township = (await registry.get("/regions/451025102000", headers=admin)).json()
        assert township["parent_code"] == COUNTY
        renamed = (await registry.get(f"/regions/{VILLAGE}", headers=admin)).json()
        assert renamed["name"] == "旧州村(改)" and renamed["version"] == 2

    async def test_dry_run_validates_and_writes_nothing(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        before = await count_rows(db_urls, "registry_region")
        response = await self._import(registry, admin, "code,name\n451025102000,龙临镇\n", dry_run="true")
        assert response.status_code == 200, response.text
        assert response.json()["dry_run"] is True and response.json()["created"] == 1
        assert await count_rows(db_urls, "registry_region") == before
        bad = await self._import(registry, admin, "code,name\n12,x\n", dry_run="true")
        assert assert_problem(bad, 422)["errors"] == [
            {"row": 2, "field": "code", "message": "not a valid statistical division code"}
        ]

    async def test_any_error_rejects_the_whole_file_with_per_row_errors(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        before = await count_rows(db_urls, "registry_region")
        text = (
            "code,name,parent_code\n"
            "451025102000,龙临镇,\n"  # fine
            "451025102201,,451025102000\n"  # row 3: empty name
            "4510251022,短,\n"  # row 4: bad code
            "451026100000,外县镇,\n"  # row 5: other county
            "451025103201,无父村,451025103000\n"  # row 6: parent missing
            f"451025102202,错父村,{OTHER_TOWNSHIP}\n"  # row 7: not an ancestor
            "451025102000,重复,\n"  # row 8: duplicate in file
            f"{COUNTY},靖西,\n"  # row 9: the caller's own county
        )
        response = await self._import(registry, admin, text)
        body = assert_problem(response, 422)
        assert [(e["row"], e["field"]) for e in body["errors"]] == [
            (3, "name"),
            (4, "code"),
            (5, "code"),
            (6, "parent_code"),
            (7, "parent_code"),
            (8, "code"),
            (9, "code"),
        ]
        assert all(e["message"] for e in body["errors"])
        assert await count_rows(db_urls, "registry_region") == before
        assert_problem(await registry.get("/regions/451025102000", headers=admin), 404)

    async def test_parent_later_in_the_file_is_an_error(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        text = "code,name,parent_code\n451025102201,龙临村,451025102000\n451025102000,龙临镇,\n"
        body = assert_problem(await self._import(registry, admin, text), 422)
        assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "parent_code")]

    async def test_bad_header_type_and_encoding(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        assert_problem(await self._import(registry, admin, "id,label\n1,x\n"), 422)
        assert_problem(await self._import(registry, admin, "code,name,extra\n451025102000,x,y\n"), 422)
        assert_problem(await self._import(registry, admin, "code,name\n"), 422)
        wrong_type = await registry.post("/regions/import", json={"code": "451025102000"}, headers=admin)
        assert_problem(wrong_type, 415)
        latin = await registry.post(
            "/regions/import",
            content="code,name\n451025102000,caf\xe9\n".encode("latin-1"),
            headers={**admin, "Content-Type": CSV},
        )
        assert_problem(latin, 422)

    @pytest.mark.parametrize(
        ("role", "region"),
        [
            ("township_officer", TOWNSHIP),
            ("village_officer", VILLAGE),
            ("cadre", COUNTY),
            ("province_system", PROVINCE),
        ],
    )
    async def test_only_county_admins_import(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        role: str,
        region: str,
        db_urls: dict[str, str],
    ) -> None:
        before = await count_rows(db_urls, "registry_region")
        response = await self._import(
            registry, auth(issue(signing_key, role, region)), "code,name\n451025102000,x\n"
        )
        assert_problem(response, 403)
        assert await count_rows(db_urls, "registry_region") == before


class TestRegionSubtree:
    async def test_region_and_descendants_keyset_paged(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        first = await registry.get(f"/regions/{TOWNSHIP}/subtree", params={"limit": 2}, headers=admin)
        assert first.status_code == 200, first.text
        assert [r["code"] for r in first.json()["items"]] == [TOWNSHIP, VILLAGE]
        cursor = first.json()["next_cursor"]
        assert decode_cursor(cursor, "region", [str]) == (VILLAGE,)  # opaque: the code of the last item
        rest = await registry.get(
            f"/regions/{TOWNSHIP}/subtree", params={"limit": 2, "cursor": cursor}, headers=admin
        )
        assert [r["code"] for r in rest.json()["items"]] == [SIBLING_VILLAGE]
        assert rest.json()["next_cursor"] is None

    async def test_only_the_callers_scope(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, province: dict[str, str]
    ) -> None:
        officer = auth(issue(signing_key, "township_officer", TOWNSHIP))
        assert_problem(await registry.get(f"/regions/{COUNTY}/subtree", headers=officer), 404)
        assert_problem(await registry.get(f"/regions/{OTHER_TOWNSHIP}/subtree", headers=officer), 404)
        county = await registry.get(f"/regions/{PREFECTURE}/subtree", headers=province)
        assert len(county.json()["items"]) == 7
        clerk = auth(issue(signing_key, "village_officer", VILLAGE))
        assert [
            r["code"]
            for r in (await registry.get(f"/regions/{VILLAGE}/subtree", headers=clerk)).json()["items"]
        ] == [VILLAGE]


# -- policy parameters ------------------------------------------------------------------------------------------
def _params(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {p["name"]: p for p in response.json()["parameters"]}


async def _insert_parameter(
    db_urls: dict[str, str], region: str, year: int, name: str, value: object, version: int = 1
) -> None:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.execute(
            "INSERT INTO registry_policy_parameter (region_code, year, name, value, version, created_by, reason)"
            " VALUES ($1, $2, $3, $4, $5, 'seed', 'provincial line')",
            region,
            year,
            name,
            value,
            version,
        )
    finally:
        await conn.close()


class TestGetPolicy:
    async def test_defaults_come_from_the_catalogue(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        params = _params(await registry.get(f"/regions/{VILLAGE}/policy/2013", headers=admin))
        # Every value is a decimal string on the wire (issue #10): whole yuan/days as "2736", percentages "4.50".
        assert params["identification_income_line_yuan"]["value"] == "2736"
        assert params["identification_income_line_yuan"]["source"] == "default"
        assert params["notice_days"]["value"] == "7"
        assert params["exit_income_line_yuan"] == {
            **params["exit_income_line_yuan"],
            "value": None,
            "source": "unset",
        }
        earlier = _params(await registry.get(f"/regions/{VILLAGE}/policy/2012", headers=admin))
        assert earlier["identification_income_line_yuan"]["source"] == "unset"

    async def test_most_specific_region_along_the_chain_wins(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        await _insert_parameter(db_urls, PROVINCE, YEAR, "identification_income_line_yuan", Decimal(2800))
        await _insert_parameter(db_urls, PROVINCE, YEAR, "village_exit_incidence_max_percent", Decimal(3))
        params = _params(await registry.get(f"/regions/{VILLAGE}/policy/{YEAR}", headers=admin))
        assert params["identification_income_line_yuan"]["value"] == "2800"
        assert params["identification_income_line_yuan"]["region_code"] == PROVINCE

        county = await registry.put(
            f"/regions/{COUNTY}/policy/{YEAR}/identification_income_line_yuan",
            json={"value": 3500, "reason": "县定标准"},
            headers=admin,
        )
        assert county.status_code == 200, county.text
        town = await registry.put(
            f"/regions/{TOWNSHIP}/policy/{YEAR}/village_exit_incidence_max_percent",
            json={"value": "4.5", "reason": "一低七有"},
            headers=admin,
        )
        assert town.status_code == 200, town.text

        village = _params(await registry.get(f"/regions/{VILLAGE}/policy/{YEAR}", headers=admin))
        assert village["identification_income_line_yuan"]["value"] == "3500"
        assert village["identification_income_line_yuan"]["region_code"] == COUNTY
        assert village["identification_income_line_yuan"]["reason"] == "县定标准"
        assert village["village_exit_incidence_max_percent"]["value"] == "4.50"
        assert village["village_exit_incidence_max_percent"]["region_code"] == TOWNSHIP
        other = _params(await registry.get(f"/regions/{OTHER_VILLAGE}/policy/{YEAR}", headers=admin))
        assert other["village_exit_incidence_max_percent"]["value"] == "3.00"
        assert other["village_exit_incidence_max_percent"]["region_code"] == PROVINCE
        # Another year is independent.
        assert (
            _params(await registry.get(f"/regions/{VILLAGE}/policy/2015", headers=admin))[
                "identification_income_line_yuan"
            ]["value"]
            == "2736"
        )


class TestPutPolicy:
    async def test_setting_appends_a_version(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        url = f"/regions/{COUNTY}/policy/{YEAR}/notice_days"
        for days, version in ((10, 1), (8, 2)):
            params = _params(
                await registry.put(url, json={"value": days, "reason": f"r{days}"}, headers=admin)
            )
            assert params["notice_days"]["value"] == str(days)
            assert params["notice_days"]["version"] == version
        assert await count_rows(db_urls, "registry_policy_parameter") == 2
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            rows = await conn.fetch("SELECT version, value FROM registry_policy_parameter ORDER BY version")
        finally:
            await conn.close()
        assert [(r["version"], int(r["value"])) for r in rows] == [(1, 10), (2, 8)]

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("unknown_parameter", 1),
            ("identification_income_line_yuan", 2736.5),
            ("identification_income_line_yuan", -1),
            ("notice_days", 0),
            ("village_exit_incidence_max_percent", "4.555"),
            ("village_exit_incidence_max_percent", 101),
            ("notice_days", "seven"),
            ("Bad-Name", 1),
        ],
    )
    async def test_invalid_values_are_422_and_change_nothing(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        db_urls: dict[str, str],
        name: str,
        value: object,
    ) -> None:
        response = await registry.put(
            f"/regions/{COUNTY}/policy/{YEAR}/{name}", json={"value": value, "reason": "x"}, headers=admin
        )
        assert_problem(response, 422)
        assert await count_rows(db_urls, "registry_policy_parameter") == 0

    async def test_reason_is_required(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        url = f"/regions/{COUNTY}/policy/{YEAR}/notice_days"
        assert_problem(await registry.put(url, json={"value": 7}, headers=admin), 422)
        assert_problem(await registry.put(url, json={"value": 7, "reason": ""}, headers=admin), 422)
        assert await count_rows(db_urls, "registry_policy_parameter") == 0

    async def test_scope_and_roles(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        province: dict[str, str],
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        await _add_other_county(db_urls)
        body = {"value": 7, "reason": "x"}
        assert_problem(
            await registry.put(
                f"/regions/{OTHER_COUNTY}/policy/{YEAR}/notice_days", json=body, headers=admin
            ),
            404,
        )
        assert_problem(
            await registry.put(f"/regions/{PREFECTURE}/policy/{YEAR}/notice_days", json=body, headers=admin),
            404,
        )
        assert_problem(await registry.get(f"/regions/{OTHER_COUNTY}/policy/{YEAR}", headers=admin), 404)
        officer = auth(issue(signing_key, "township_officer", TOWNSHIP))
        assert_problem(
            await registry.put(f"/regions/{VILLAGE}/policy/{YEAR}/notice_days", json=body, headers=officer),
            403,
        )
        assert (await registry.get(f"/regions/{VILLAGE}/policy/{YEAR}", headers=officer)).status_code == 200
        assert_problem(await registry.get(f"/regions/{OTHER_VILLAGE}/policy/{YEAR}", headers=officer), 404)
        assert_problem(
            await registry.put(f"/regions/{VILLAGE}/policy/{YEAR}/notice_days", json=body, headers=province),
            403,
        )
        assert (await registry.get(f"/regions/{VILLAGE}/policy/{YEAR}", headers=province)).status_code == 200
        assert await count_rows(db_urls, "registry_policy_parameter") == 0


# -- quotas -----------------------------------------------------------------------------------------------------
def _quota_url(code: str, year: int = YEAR) -> str:
    return f"/regions/{code}/quotas/{year}"


async def _decompose(registry: httpx.AsyncClient, admin: dict[str, str], officer: dict[str, str]) -> None:
    for code, people, headers in (
        (COUNTY, 10000, admin),
        (TOWNSHIP, 5996, admin),
        (VILLAGE, 3000, officer),
    ):
        response = await registry.put(_quota_url(code), json={"people": people}, headers=headers)
        assert response.status_code == 200, response.text


class TestGetQuota:
    async def test_decomposition_county_township_village(
        self, registry: httpx.AsyncClient, admin: dict[str, str], officer: dict[str, str]
    ) -> None:
        await _decompose(registry, admin, officer)
        county = (await registry.get(_quota_url(COUNTY), headers=admin)).json()
        assert county["people"] == 10000 and county["allocated"] == 5996 and county["remaining"] == 4004
        assert {c["region_code"]: c["people"] for c in county["children"]} == {
            TOWNSHIP: 5996,
            OTHER_TOWNSHIP: None,
        }
        township = (await registry.get(_quota_url(TOWNSHIP), headers=officer)).json()
        assert (township["people"], township["allocated"], township["remaining"]) == (5996, 3000, 2996)
        again = await registry.put(_quota_url(VILLAGE), json={"people": 2500}, headers=officer)
        assert again.json()["people"] == 2500 and again.json()["version"] == 2
        empty = (await registry.get(_quota_url(COUNTY, 2015), headers=admin)).json()
        assert (empty["people"], empty["allocated"], empty["remaining"]) == (None, 0, None)

    async def test_equal_split_is_warned(
        self, registry: httpx.AsyncClient, admin: dict[str, str], officer: dict[str, str]
    ) -> None:
        """Invariant 26: the same quota for every village is flagged as 平均分配 (a warning, not a refusal)."""
        await _decompose(registry, admin, officer)
        township = (await registry.get(_quota_url(TOWNSHIP), headers=officer)).json()
        assert township["warnings"] == []  # one village with a quota is no split yet
        await registry.put(_quota_url(VILLAGE), json={"people": 2000}, headers=officer)
        response = await registry.put(_quota_url(SIBLING_VILLAGE), json={"people": 2000}, headers=officer)
        assert response.status_code == 200 and response.json()["warnings"] == []  # the village's own view
        assert (await registry.get(_quota_url(TOWNSHIP), headers=officer)).json()["warnings"] == [
            "equal_distribution"
        ]
        await registry.put(_quota_url(SIBLING_VILLAGE), json={"people": 1500}, headers=officer)
        assert (await registry.get(_quota_url(TOWNSHIP), headers=officer)).json()["warnings"] == []


class TestPutQuota:
    async def test_village_sum_cannot_exceed_township(
        self, registry: httpx.AsyncClient, admin: dict[str, str], officer: dict[str, str]
    ) -> None:
        await _decompose(registry, admin, officer)
        response = await registry.put(_quota_url(SIBLING_VILLAGE), json={"people": 2997}, headers=officer)
        body = assert_problem(response, 409)
        assert (body["parent"], body["parent_quota"], body["would_be_sum"]) == (TOWNSHIP, 5996, 5997)
        ok = await registry.put(_quota_url(SIBLING_VILLAGE), json={"people": 2996}, headers=officer)
        assert ok.status_code == 200
        assert (ok.json()["people"], ok.json()["allocated"], ok.json()["remaining"]) == (2996, 0, 2996)

    async def test_township_sum_cannot_exceed_county(
        self, registry: httpx.AsyncClient, admin: dict[str, str], officer: dict[str, str]
    ) -> None:
        await _decompose(registry, admin, officer)
        body = assert_problem(
            await registry.put(_quota_url(OTHER_TOWNSHIP), json={"people": 4005}, headers=admin), 409
        )
        assert (body["parent"], body["parent_quota"], body["would_be_sum"]) == (COUNTY, 10000, 10001)
        assert (
            await registry.put(_quota_url(OTHER_TOWNSHIP), json={"people": 4004}, headers=admin)
        ).status_code == 200

    async def test_parent_cannot_drop_below_its_children(
        self, registry: httpx.AsyncClient, admin: dict[str, str], officer: dict[str, str]
    ) -> None:
        await _decompose(registry, admin, officer)
        body = assert_problem(
            await registry.put(_quota_url(TOWNSHIP), json={"people": 2999}, headers=admin), 409
        )
        assert (body["parent"], body["would_be_sum"]) == (TOWNSHIP, 3000)
        assert_problem(await registry.put(_quota_url(COUNTY), json={"people": 5000}, headers=admin), 409)
        assert (await registry.get(_quota_url(TOWNSHIP), headers=admin)).json()["people"] == 5996

    async def test_quota_needs_the_parent_quota_first(
        self, registry: httpx.AsyncClient, officer: dict[str, str], admin: dict[str, str]
    ) -> None:
        body = assert_problem(
            await registry.put(_quota_url(VILLAGE), json={"people": 1}, headers=officer), 409
        )
        assert body["parent"] == TOWNSHIP
        assert_problem(await registry.put(_quota_url(TOWNSHIP), json={"people": 1}, headers=admin), 409)

    async def test_concurrent_writes_cannot_together_exceed(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        officer: dict[str, str],
        registry_app: FastAPI,
    ) -> None:
        await registry.put(_quota_url(COUNTY), json={"people": 100}, headers=admin)
        await registry.put(_quota_url(TOWNSHIP), json={"people": 100}, headers=admin)
        for _ in range(3):
            await registry.put(_quota_url(VILLAGE), json={"people": 0}, headers=officer)
            await registry.put(_quota_url(SIBLING_VILLAGE), json={"people": 0}, headers=officer)
            responses = await asyncio.gather(
                registry.put(_quota_url(VILLAGE), json={"people": 60}, headers=officer),
                registry.put(_quota_url(SIBLING_VILLAGE), json={"people": 60}, headers=officer),
            )
            assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
            township = (await registry.get(_quota_url(TOWNSHIP), headers=admin)).json()
            assert township["allocated"] == 60

    async def test_concurrent_townships_cannot_exceed_the_county(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        await registry.put(_quota_url(COUNTY), json={"people": 100}, headers=admin)
        responses = await asyncio.gather(
            registry.put(_quota_url(TOWNSHIP), json={"people": 70}, headers=admin),
            registry.put(_quota_url(OTHER_TOWNSHIP), json={"people": 70}, headers=admin),
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        assert (await registry.get(_quota_url(COUNTY), headers=admin)).json()["allocated"] == 70

    @pytest.mark.parametrize(
        ("role", "region", "target"),
        [
            ("township_officer", TOWNSHIP, TOWNSHIP),  # a township officer does not set their own quota
            ("county_admin", COUNTY, VILLAGE),  # villages are split by the township
            ("village_officer", VILLAGE, VILLAGE),
            ("cadre", COUNTY, TOWNSHIP),
            ("province_system", PROVINCE, COUNTY),
        ],
    )
    async def test_wrong_role_is_403(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        role: str,
        region: str,
        target: str,
        db_urls: dict[str, str],
    ) -> None:
        response = await registry.put(
            _quota_url(target), json={"people": 1}, headers=auth(issue(signing_key, role, region))
        )
        assert_problem(response, 403)
        assert await count_rows(db_urls, "registry_quota") == 0

    async def test_out_of_scope_is_404(
        self,
        registry: httpx.AsyncClient,
        officer: dict[str, str],
        admin: dict[str, str],
        db_urls: dict[str, str],
    ) -> None:
        await _add_other_county(db_urls)
        assert_problem(
            await registry.put(_quota_url(OTHER_VILLAGE), json={"people": 1}, headers=officer), 404
        )
        assert_problem(await registry.get(_quota_url(OTHER_TOWNSHIP), headers=officer), 404)
        assert_problem(await registry.put(_quota_url(COUNTY), json={"people": 1}, headers=officer), 404)
        assert_problem(await registry.put(_quota_url(OTHER_COUNTY), json={"people": 1}, headers=admin), 404)
        assert await count_rows(db_urls, "registry_quota") == 0

    @pytest.mark.parametrize(
        "body", [{"people": -1}, {"people": "many"}, {"people": 1.5}, {}, {"people": 1, "x": 2}]
    )
    async def test_invalid_input_is_422(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        body: dict[str, Any],
        db_urls: dict[str, str],
    ) -> None:
        assert_problem(await registry.put(_quota_url(COUNTY), json=body, headers=admin), 422)
        assert await count_rows(db_urls, "registry_quota") == 0


# -- population ---------------------------------------------------------------------------------------------------
class TestPutPopulation:
    async def test_valid(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        url = f"/regions/{VILLAGE}/population/{YEAR}"
        response = await registry.put(url, json={"population": 1560, "households": 410}, headers=admin)
        assert response.status_code == 204, response.text
        again = await registry.put(url, json={"population": 1570}, headers=admin)
        assert again.status_code == 204
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            row = await conn.fetchrow("SELECT population, households FROM registry_region_population")
        finally:
            await conn.close()
        assert row is not None and (row["population"], row["households"]) == (1570, None)

    @pytest.mark.parametrize(("role", "region"), [("cadre", COUNTY), ("province_system", PROVINCE)])
    async def test_wrong_role(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        role: str,
        region: str,
        db_urls: dict[str, str],
    ) -> None:
        headers = auth(issue(signing_key, role, region))
        response = await registry.put(
            f"/regions/{VILLAGE}/population/{YEAR}", json={"population": 1}, headers=headers
        )
        assert_problem(response, 403)
        assert await count_rows(db_urls, "registry_region_population") == 0

    async def test_other_region(
        self, registry: httpx.AsyncClient, officer: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        url = f"/regions/{OTHER_VILLAGE}/population/{YEAR}"
        assert_problem(await registry.put(url, json={"population": 1}, headers=officer), 404)
        assert await count_rows(db_urls, "registry_region_population") == 0

    @pytest.mark.parametrize("body", [{"population": -1}, {}, {"population": 1, "x": 1}])
    async def test_invalid(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        body: dict[str, Any],
        db_urls: dict[str, str],
    ) -> None:
        assert_problem(
            await registry.put(f"/regions/{VILLAGE}/population/{YEAR}", json=body, headers=admin), 422
        )
        assert await count_rows(db_urls, "registry_region_population") == 0

    async def test_valid_invalid_and_scope_with_audit(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE, sub="clerk-jiuzhou")
        township = headers_for(signing_key, "township_officer", TOWNSHIP, sub="officer-xinjing")
        assert (await put_population(registry, clerk, VILLAGE, 2014, 1200, 300)).status_code == 204
        rows = await sql(
            db_urls,
            "SELECT region_code, year, population, households, updated_by FROM registry_region_population",
        )
        assert [tuple(r) for r in rows] == [(VILLAGE, 2014, 1200, 300, "clerk-jiuzhou")]
        # Upsert: the same region and year is replaced, not duplicated.
        response = await put_population(registry, township, VILLAGE, 2014, 1250)
        assert response.status_code == 204 and response.content == b""
        rows = await sql(
            db_urls,
            "SELECT region_code, year, population, households, updated_by FROM registry_region_population",
        )
        assert [tuple(r) for r in rows] == [(VILLAGE, 2014, 1250, None, "officer-xinjing")]
        assert (await put_population(registry, township, TOWNSHIP, 2015, 5000)).status_code == 204
        assert (await put_population(registry, admin, COUNTY, 2014, 0)).status_code == 204
        assert len(await sql(db_urls, "SELECT 1 FROM registry_region_population")) == 3
        events = await sql(
            db_urls,
            "SELECT record_id, region_code, detail FROM registry_audit_event WHERE action = 'population.set' ORDER BY id",
        )
        assert [(e["record_id"], e["region_code"]) for e in events] == [
            (VILLAGE, VILLAGE),
            (VILLAGE, VILLAGE),
            (TOWNSHIP, TOWNSHIP),
            (COUNTY, COUNTY),
        ]
        assert json.loads(events[1]["detail"]) == {"year": 2014, "population": 1250, "households": None}
        # Roles that may not record population.
        for role, region in (("province_system", "450000000000"), ("cadre", COUNTY)):
            headers = auth(issue(signing_key, role, region))
            assert_problem(await put_population(registry, headers, VILLAGE, 2014, 1), 403)
        # Regions outside the caller's scope, or missing, are 404.
        for headers, code in (
            (clerk, SIBLING_VILLAGE),
            (clerk, TOWNSHIP),
            (township, OTHER_TOWNSHIP),
            (township, OTHER_VILLAGE),
            (township, COUNTY),
            (auth(issue(signing_key, "county_admin", OTHER_COUNTY)), VILLAGE),
            (admin, "451025100299"),
        ):
            assert_problem(await put_population(registry, headers, code, 2014, 1), 404)
        # Invalid values.
        for body, year in (
            ({"population": -1}, 2014),
            ({"population": 10, "households": -1}, 2014),
            ({"population": "many"}, 2014),
            ({}, 2014),
            ({"population": 10, "extra": 1}, 2014),
            ({"population": 10}, 1999),
        ):
            assert_problem(
                await registry.put(f"/regions/{VILLAGE}/population/{year}", json=body, headers=admin), 422
            )
        assert_problem(
            await registry.put("/regions/4510/population/2014", json={"population": 1}, headers=admin), 422
        )
        # Nothing refused changed anything.
        rows = await sql(
            db_urls, "SELECT population FROM registry_region_population WHERE region_code = $1", VILLAGE
        )
        assert [r["population"] for r in rows] == [1250]


# == GET /regions/{code} with If-None-Match (304) ================================================================
class TestGetRegionNotModified:
    """The region's answer is its own columns, each change of them a new version: its ETag is the version, and a
    conditional read of the current one answers 304 with no body."""

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/regions/{VILLAGE}", headers={"If-None-Match": "*"}), 401)

    async def test_other_region(self, registry: httpx.AsyncClient, officer: dict[str, str]) -> None:
        held = officer | {"If-None-Match": "*"}
        assert_problem(await registry.get(f"/regions/{OTHER_VILLAGE}", headers=held), 404)

    async def test_valid_not_modified_until_renamed(
        self, registry: httpx.AsyncClient, admin: dict[str, str], db_urls: dict[str, str]
    ) -> None:
        first = await registry.get(f"/regions/{VILLAGE}", headers=admin)
        tag = first.headers["etag"]
        held = await registry.get(f"/regions/{VILLAGE}", headers=admin | {"If-None-Match": f'W/{tag}, "99"'})
        assert held.status_code == 304 and held.content == b"" and held.headers["etag"] == tag
        await sql(
            db_urls,
            "UPDATE registry_region SET name = '新旧州村', version = version + 1 WHERE code = $1",
            VILLAGE,
        )
        renamed = await registry.get(f"/regions/{VILLAGE}", headers=admin | {"If-None-Match": tag})
        assert renamed.status_code == 200 and renamed.json()["name"] == "新旧州村"
        assert renamed.headers["etag"] == f'"{first.json()["version"] + 1}"'

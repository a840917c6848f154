"""Pairing routes (issue #4): helping units, cadres, work teams, pairings, their bitemporal history, cadre scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    TOWNSHIP,
    UNIT,
    VILLAGE,
    Headers,
    assert_problem,
    auth,
    headers_for,
    household_payload,
    issue,
    pair,
    registered_household,
    set_household_status,
    unit_and_cadres,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY, "county-1")


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")


# -- helping units --------------------------------------------------------------------------------------------------
class TestCreateUnit:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/helping-units", json=UNIT), 401)

    async def test_wrong_role(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        body = {"name": "x", "kind": "other", "region_code": COUNTY}
        assert_problem(await registry.post("/helping-units", json=body, headers=clerk), 403)

    async def test_other_region(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        body = {"name": "x", "kind": "other", "region_code": TOWNSHIP}
        assert_problem(await registry.post("/helping-units", json=body, headers=other), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(
            await registry.post("/helping-units", json=UNIT | {"kind": "club"}, headers=admin), 422
        )

    async def test_duplicate_name(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        await unit_and_cadres(registry, admin)
        dup = {"name": "靖西市财政局", "kind": "other", "region_code": COUNTY}
        assert assert_problem(await registry.post("/helping-units", json=dup, headers=admin), 409)[
            "code"
        ] == ("unit_exists")

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        r = await registry.post("/helping-units", json=UNIT | {"liaison_name": "张联络"}, headers=admin)
        assert r.status_code == 201 and r.headers["etag"] == '"1"'
        body = r.json()
        assert body["region_code"] == COUNTY and body["liaison_name"] == "张联络" and body["version"] == 1
        assert body["leader_max_households"] == 1 and body["middle_cadres_per_household"] == 2
        assert body["created_at"].endswith("Z") and body["created_by"] == "county-1"


class TestListUnits:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/helping-units"), 401)

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin)
        page = (await registry.get(f"/helping-units?region={COUNTY}", headers=admin)).json()
        assert [u["id"] for u in page["items"]] == [unit_id] and page["next_cursor"] is None
        assert (await registry.get(f"/helping-units?region={TOWNSHIP}", headers=admin)).json()["items"] == []

    async def test_pages(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        names = ["百色学院", "靖西市财政局", "靖西市教育局"]
        for name in names:
            assert (
                await registry.post("/helping-units", json=UNIT | {"name": name}, headers=admin)
            ).status_code == 201
        first = (await registry.get("/helping-units?limit=2", headers=admin)).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = (
            await registry.get(f"/helping-units?limit=2&cursor={first['next_cursor']}", headers=admin)
        ).json()
        assert [u["name"] for u in first["items"] + rest["items"]] == sorted(names) and rest[
            "next_cursor"
        ] is None
        assert_problem(await registry.get("/helping-units?cursor=nonsense", headers=admin), 400)

    async def test_cadre_sees_own_unit(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        await registry.post(
            "/helping-units",
            json={"name": "百色学院", "kind": "public_institution", "region_code": COUNTY},
            headers=admin,
        )
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        assert [u["id"] for u in (await registry.get("/helping-units", headers=wang_h)).json()["items"]] == [
            unit_id
        ]


class TestGetUnit:
    async def test_anonymous(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin)
        assert_problem(await registry.get(f"/helping-units/{unit_id}"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        other_unit = await registry.post(
            "/helping-units",
            json={"name": "百色学院", "kind": "public_institution", "region_code": COUNTY},
            headers=admin,
        )
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        assert (await registry.get(f"/helping-units/{unit_id}", headers=wang_h)).status_code == 200
        assert_problem(await registry.get(f"/helping-units/{other_unit.json()['id']}", headers=wang_h), 404)
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        assert_problem(await registry.get(f"/helping-units/{unit_id}", headers=township), 404)

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin)
        r = await registry.get(f"/helping-units/{unit_id}", headers=admin)
        assert r.status_code == 200 and r.json()["name"] == UNIT["name"] and r.headers["etag"] == '"1"'


# -- cadres ---------------------------------------------------------------------------------------------------------
class TestCreateCadre:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/cadres", json={}), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        body = {"unit_id": unit_id, "name": "x", "position_level": "staff"}
        assert_problem(await registry.post("/cadres", json=body, headers=wang_h), 403)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin)
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        body = {"unit_id": unit_id, "name": "x", "position_level": "staff"}
        assert_problem(await registry.post("/cadres", json=body, headers=township), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin)
        body = {"unit_id": unit_id, "name": "x", "position_level": "staff", "phone": "call me"}
        assert_problem(await registry.post("/cadres", json=body, headers=admin), 422)

    async def test_one_login_one_cadre(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin, "staff", subs=("user-7",))
        again = {"unit_id": unit_id, "name": "y", "position_level": "staff", "user_sub": "user-7"}
        problem = assert_problem(await registry.post("/cadres", json=again, headers=admin), 409)
        assert problem["code"] == "user_sub_taken" and problem["field"] == "user_sub"

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, _ = await unit_and_cadres(registry, admin)
        body = {"unit_id": unit_id, "name": "王", "position_level": "staff", "phone": "13800001234"}
        r = await registry.post("/cadres", json=body, headers=admin)
        assert r.status_code == 201 and r.headers["etag"] == '"1"'
        assert r.json()["phone_masked"] == "*******1234" and "13800001234" not in r.text
        assert r.json()["region_code"] == COUNTY and r.json()["active"] is True


class TestListCadres:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/cadres"), 401)

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        unit_id, cadres = await unit_and_cadres(registry, admin, "staff", "staff", "staff")
        first = (await registry.get(f"/cadres?unit_id={unit_id}&limit=2", headers=admin)).json()
        rest = (await registry.get(f"/cadres?limit=2&cursor={first['next_cursor']}", headers=admin)).json()
        assert [c["id"] for c in first["items"] + rest["items"]] == cadres and rest["next_cursor"] is None

    async def test_cadre_sees_only_themselves(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        _, (wang, _li) = await unit_and_cadres(
            registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
        )
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        assert [c["id"] for c in (await registry.get("/cadres", headers=wang_h)).json()["items"]] == [wang]


class TestGetCadre:
    async def test_anonymous(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        assert_problem(await registry.get(f"/cadres/{wang}"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        _, (wang, li) = await unit_and_cadres(
            registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
        )
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        li_h = headers_for(signing_key, "cadre", COUNTY, "cadre-li")
        assert_problem(await registry.get(f"/cadres/{li}", headers=wang_h), 404)
        assert_problem(await registry.get(f"/cadres/{wang}", headers=li_h), 404)
        assert (await registry.get(f"/cadres/{li}", headers=li_h)).status_code == 200
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        assert_problem(await registry.get(f"/cadres/{wang}", headers=township), 404)

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff", subs=("user-7",))
        cadre = await registry.get(f"/cadres/{cadre_id}", headers=admin)
        assert cadre.json()["phone_masked"] == "*******1234" and "13800001234" not in cadre.text
        assert cadre.json()["region_code"] == COUNTY and cadre.headers["etag"] == '"1"'


class TestPatchCadre:
    async def test_anonymous(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff")
        assert_problem(await registry.patch(f"/cadres/{cadre_id}", json={"position": "科长"}), 401)

    async def test_wrong_role(self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff")
        headers = clerk | {"If-Match": '"1"'}
        assert_problem(
            await registry.patch(f"/cadres/{cadre_id}", json={"position": "科长"}, headers=headers), 403
        )

    async def test_if_match_required(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff", subs=("user-7",))
        assert_problem(
            await registry.patch(f"/cadres/{cadre_id}", json={"active": False}, headers=admin), 428
        )

    async def test_stale(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff")
        headers = admin | {"If-Match": '"1"'}
        assert (
            await registry.patch(f"/cadres/{cadre_id}", json={"position": "科长"}, headers=headers)
        ).status_code == 200
        stale = assert_problem(
            await registry.patch(f"/cadres/{cadre_id}", json={"position": "x"}, headers=headers), 412
        )
        assert stale["current_version"] == 2

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff")
        headers = admin | {"If-Match": '"1"'}
        assert (
            assert_problem(await registry.patch(f"/cadres/{cadre_id}", json={}, headers=headers), 422)["code"]
            == "nothing_to_change"
        )

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff", subs=("user-7",))
        ok = await registry.patch(
            f"/cadres/{cadre_id}", json={"position": "科长"}, headers=admin | {"If-Match": '"1"'}
        )
        assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
        assert ok.json()["position"] == "科长" and ok.json()["version"] == 2
        gone = await registry.patch(
            f"/cadres/{cadre_id}", json={"phone": None}, headers=admin | {"If-Match": '"2"'}
        )
        assert gone.json()["phone_masked"] is None


# -- village assignments --------------------------------------------------------------------------------------------
class TestAssign:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/village-assignments", json={}), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        body = {
            "village_code": VILLAGE,
            "cadre_id": wang,
            "role": "first_secretary",
            "starts_on": "2015-01-01",
        }
        assert_problem(await registry.post("/village-assignments", json=body, headers=wang_h), 403)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        body = {
            "village_code": OTHER_VILLAGE,
            "cadre_id": wang,
            "role": "first_secretary",
            "starts_on": "2015-01-01",
        }
        assert_problem(await registry.post("/village-assignments", json=body, headers=township), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "middle_level")
        short = {
            "village_code": VILLAGE,
            "cadre_id": cadre_id,
            "role": "first_secretary",
            "starts_on": "2015-03-01",
            "ends_on": "2015-12-31",
        }
        problem = assert_problem(await registry.post("/village-assignments", json=short, headers=admin), 422)
        assert problem["code"] == "term_too_short"
        township = short | {"village_code": TOWNSHIP, "ends_on": None}
        assert (
            assert_problem(await registry.post("/village-assignments", json=township, headers=admin), 422)[
                "code"
            ]
            == "not_a_village"
        )

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "middle_level")
        body = {
            "village_code": VILLAGE,
            "cadre_id": cadre_id,
            "role": "first_secretary",
            "starts_on": "2015-03-01",
            "ends_on": "2017-03-01",
        }
        ok = await registry.post("/village-assignments", json=body, headers=admin)
        assert ok.status_code == 201, ok.text
        assert ok.json()["role"] == "first_secretary" and ok.json()["ends_on"] == "2017-03-01"


class TestVillageAssignments:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/villages/{VILLAGE}/assignments"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        assert_problem(await registry.get(f"/villages/{VILLAGE}/assignments", headers=wang_h), 404)
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(await registry.get(f"/villages/{VILLAGE}/assignments", headers=other), 404)

    async def test_valid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "middle_level")
        body = {
            "village_code": VILLAGE,
            "cadre_id": cadre_id,
            "role": "first_secretary",
            "starts_on": "2015-03-01",
            "ends_on": "2017-03-01",
        }
        assert (await registry.post("/village-assignments", json=body, headers=admin)).status_code == 201
        on = (await registry.get(f"/villages/{VILLAGE}/assignments?on=2016-01-01", headers=admin)).json()[
            "items"
        ]
        assert [a["role"] for a in on] == ["first_secretary"] and on[0]["cadre_name"] == "干部0"
        assert (await registry.get(f"/villages/{VILLAGE}/assignments?on=2018-01-01", headers=admin)).json()[
            "items"
        ] == []


# -- pairings -------------------------------------------------------------------------------------------------------
class TestCreatePairing:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/pairings", json={}), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        _, (li,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-li",))
        hid = await registered_household(registry, clerk, db_urls)
        li_h = headers_for(signing_key, "cadre", COUNTY, "cadre-li")
        body = {"household_id": hid, "cadre_id": li, "valid_from": str(TODAY)}
        assert_problem(await registry.post("/pairings", json=body, headers=li_h), 403)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await registered_household(registry, clerk, db_urls)
        other = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        body = {"household_id": hid, "cadre_id": wang, "valid_from": str(TODAY)}
        assert_problem(await registry.post("/pairings", json=body, headers=other), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(await registry.post("/pairings", json={"valid_from": "someday"}, headers=admin), 422)

    async def test_only_registered_households_are_paired(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers
    ) -> None:
        _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff")
        r = await registry.post("/households", json=household_payload(), headers=clerk)
        body = {"household_id": r.json()["id"], "cadre_id": cadre_id, "valid_from": str(TODAY)}
        assert (
            assert_problem(await registry.post("/pairings", json=body, headers=admin), 409)["code"]
            == "not_registered"
        )

    async def test_unit_ratio_policy_warns(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (leader, middle_a, middle_b) = await unit_and_cadres(
            registry, admin, "unit_leader", "middle_level", "middle_level"
        )
        first, second = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
        one = await registry.post(
            "/pairings",
            json={"household_id": first, "cadre_id": leader, "valid_from": str(TODAY)},
            headers=admin,
        )
        assert one.status_code == 201 and one.json()["warnings"] == []
        two = await registry.post(
            "/pairings",
            json={"household_id": second, "cadre_id": leader, "valid_from": str(TODAY)},
            headers=admin,
        )
        assert two.json()["warnings"][0].startswith("leader_over_limit")
        a = await registry.post(
            "/pairings",
            json={"household_id": first, "cadre_id": middle_a, "role": "secondary", "valid_from": str(TODAY)},
            headers=admin,
        )
        assert a.json()["warnings"][0].startswith("middle_level_share")
        b = await registry.post(
            "/pairings",
            json={"household_id": first, "cadre_id": middle_b, "role": "secondary", "valid_from": str(TODAY)},
            headers=admin,
        )
        assert b.json()["warnings"] == []
        again = await registry.post(
            "/pairings",
            json={"household_id": first, "cadre_id": middle_b, "valid_from": str(TODAY)},
            headers=admin,
        )
        assert assert_problem(again, 409)["code"] == "already_paired"

    async def test_inactive_cadre(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        await registry.patch(f"/cadres/{wang}", json={"active": False}, headers=admin | {"If-Match": '"1"'})
        hid = await registered_household(registry, clerk, db_urls)
        body = {"household_id": hid, "cadre_id": wang, "valid_from": str(TODAY)}
        assert assert_problem(await registry.post("/pairings", json=body, headers=admin), 409)["code"] == (
            "cadre_inactive"
        )

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        unit_id, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await registered_household(registry, clerk, db_urls)
        body = await pair(registry, admin, hid, wang, "2015-03-01", role="secondary")
        assert body["household_id"] == hid and body["cadre_id"] == wang and body["unit_id"] == unit_id
        assert body["role"] == "secondary" and body["valid_from"] == "2015-03-01" and body["valid_to"] is None
        assert body["superseded_at"] is None and body["recorded_by"] == "county-1" and body["warnings"] == []


class TestEndPairing:
    END: ClassVar[dict[str, str]] = {
        "valid_to": "2016-07-01",
        "end_reason": "handover",
        "reason": "王干部调岗",
    }

    async def paired(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> tuple[str, str, str, str]:
        _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff")
        hid = await registered_household(registry, clerk, db_urls)
        p = await pair(registry, admin, hid, wang, "2015-03-01")
        return hid, p["id"], wang, li

    async def test_anonymous(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, pid, _, _ = await self.paired(registry, admin, clerk, db_urls)
        assert_problem(await registry.post(f"/pairings/{pid}/end", json=self.END), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        _, pid, _, li = await self.paired(registry, admin, clerk, db_urls)
        cadre = headers_for(signing_key, "cadre", COUNTY)
        body = self.END | {"successor": {"cadre_id": li}}
        assert_problem(await registry.post(f"/pairings/{pid}/end", json=body, headers=cadre), 403)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        _, pid, _, li = await self.paired(registry, admin, clerk, db_urls)
        other = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        body = self.END | {"successor": {"cadre_id": li}}
        assert_problem(await registry.post(f"/pairings/{pid}/end", json=body, headers=other), 404)

    async def test_invalid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, pid, wang, li = await self.paired(registry, admin, clerk, db_urls)
        early = self.END | {"valid_to": "2015-01-01", "successor": {"cadre_id": li}}
        assert (
            assert_problem(await registry.post(f"/pairings/{pid}/end", json=early, headers=admin), 422)[
                "field"
            ]
            == "/valid_to"
        )
        same = self.END | {"successor": {"cadre_id": wang}}
        assert (
            assert_problem(await registry.post(f"/pairings/{pid}/end", json=same, headers=admin), 422)[
                "field"
            ]
            == "/successor/cadre_id"
        )
        assert_problem(
            await registry.post(f"/pairings/{pid}/end", json={"valid_to": "2016-07-01"}, headers=admin), 422
        )

    async def test_no_exit_no_unlinking(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, pid, _, li = await self.paired(registry, admin, clerk, db_urls)
        # The last pairing of a household that has not exited ends only with a successor the same day.
        assert (
            assert_problem(await registry.post(f"/pairings/{pid}/end", json=self.END, headers=admin), 409)[
                "code"
            ]
            == "successor_required"
        )
        bad = self.END | {"end_reason": "household_exited", "successor": {"cadre_id": li}}
        assert (
            assert_problem(await registry.post(f"/pairings/{pid}/end", json=bad, headers=admin), 409)["code"]
            == "not_exited"
        )

    async def test_valid(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, admin: Headers, clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:  # fmt: skip
        _, pid, wang, li = await self.paired(registry, admin, clerk, db_urls)
        registry_app.state.clock = lambda: datetime(2016, 7, 1, 2, tzinfo=UTC)
        handed = await registry.post(
            f"/pairings/{pid}/end", json=self.END | {"successor": {"cadre_id": li}}, headers=admin
        )
        assert handed.status_code == 200, handed.text
        assert handed.json()["successor"]["valid_from"] == "2016-07-01"
        ended, successor = handed.json()["ended"], handed.json()["successor"]
        assert ended["id"] == pid and ended["cadre_id"] == wang and ended["valid_to"] == "2016-07-01"
        assert ended["end_reason"] == "handover" and ended["successor_id"] == successor["id"]
        assert successor["cadre_id"] == li and successor["reason"] == f"successor of {pid}"
        assert ended["recorded_at"] == successor["recorded_at"] == "2016-07-01T02:00:00Z"
        again = await registry.post(
            f"/pairings/{pid}/end", json=self.END | {"successor": {"cadre_id": li}}, headers=admin
        )
        assert assert_problem(again, 409)["code"] == "already_ended"

    async def test_exited_household_unlinks_without_successor(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        hid, pid, _, _ = await self.paired(registry, admin, clerk, db_urls)
        await set_household_status(db_urls, hid, "exited")
        end = {"valid_to": "2016-01-10", "end_reason": "household_exited"}
        r = await registry.post(f"/pairings/{pid}/end", json=end, headers=admin)
        assert r.status_code == 200 and r.json()["successor"] is None, r.text


class TestHouseholdPairings:
    async def history(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, admin: Headers, clerk: Headers,
        db_urls: dict[str, str],
    ) -> tuple[str, str]:  # fmt: skip
        """王 responsible from 2015-03-01, handed over to 李 on 2016-07-01 (recorded that day)."""
        _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff")
        hid = await registered_household(registry, clerk, db_urls)
        registry_app.state.clock = lambda: datetime(2015, 3, 1, 2, tzinfo=UTC)
        pid = (await pair(registry, admin, hid, wang, "2015-03-01"))["id"]
        registry_app.state.clock = lambda: datetime(2016, 7, 1, 2, tzinfo=UTC)
        end = {
            "valid_to": "2016-07-01",
            "end_reason": "handover",
            "reason": "王干部调岗",
            "successor": {"cadre_id": li},
        }
        assert (await registry.post(f"/pairings/{pid}/end", json=end, headers=admin)).status_code == 200
        return hid, li

    async def test_anonymous(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        assert_problem(await registry.get(f"/households/{hid}/pairings"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str], signing_key: SigningKey
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        other = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        assert_problem(await registry.get(f"/households/{hid}/pairings", headers=other), 404)

    async def test_invalid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        naive = await registry.get(f"/households/{hid}/pairings?as_of=2016-01-01T00:00:00", headers=admin)
        assert assert_problem(naive, 422)["field"] == "as_of"

    async def test_who_was_responsible(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, admin: Headers, clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:  # fmt: skip
        hid, _ = await self.history(registry, registry_app, admin, clerk, db_urls)

        async def responsible(on: str, as_of: str | None = None) -> list[str]:
            url = f"/households/{hid}/pairings?on={on}" + (f"&as_of={as_of}" if as_of else "")
            r = await registry.get(url, headers=admin)
            assert r.status_code == 200, r.text
            assert r.json()["on"] == on and r.json()["household_id"] == hid
            return [i["cadre_name"] for i in r.json()["items"]]

        assert await responsible("2015-02-28") == []
        assert await responsible("2015-03-01") == ["干部0"]
        assert await responsible("2016-06-30") == ["干部0"]
        assert await responsible("2016-07-01") == ["干部1"]
        # As the registry knew it in 2016-01 (before the handover was recorded), 王 was responsible with no end.
        assert await responsible("2016-08-01", "2016-01-01T00:00:00Z") == ["干部0"]
        all_rows = (await registry.get(f"/households/{hid}/pairings", headers=admin)).json()
        assert all_rows["on"] is None
        assert [(r["cadre_name"], r["valid_to"]) for r in all_rows["items"]] == [
            ("干部0", "2016-07-01"),
            ("干部1", None),
        ]
        assert {r["unit_name"] for r in all_rows["items"]} == {UNIT["name"]}
        assert {r["position_level"] for r in all_rows["items"]} == {"staff"}

    async def test_rows_are_superseded_never_rewritten(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, admin: Headers, clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:  # fmt: skip
        _, li = await self.history(registry, registry_app, admin, clerk, db_urls)
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            with pytest.raises(asyncpg.RaiseError, match="superseded, never rewritten"):
                await conn.execute(
                    "UPDATE registry_pairing SET cadre_id = $1 WHERE superseded_at IS NULL", li
                )
            with pytest.raises(asyncpg.RaiseError):
                await conn.execute("DELETE FROM registry_pairing")
        finally:
            await conn.close()

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        """A cadre reads the pairings of a household they are paired with, and of no other."""
        _, (wang, _li) = await unit_and_cadres(
            registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
        )
        paired, unpaired = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
        await pair(registry, admin, paired, wang, str(TODAY - timedelta(days=30)))
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        li_h = headers_for(signing_key, "cadre", COUNTY, "cadre-li")
        assert_problem(await registry.get(f"/households/{unpaired}/pairings", headers=li_h), 404)
        assert_problem(await registry.get(f"/households/{paired}/pairings", headers=li_h), 404)
        assert (await registry.get(f"/households/{paired}/pairings", headers=wang_h)).status_code == 200


class TestPairingGaps:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(f"/pairings/gaps?region={COUNTY}"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        await unit_and_cadres(registry, admin, "staff", subs=("cadre-li",))
        li_h = headers_for(signing_key, "cadre", COUNTY, "cadre-li")
        assert_problem(await registry.get(f"/pairings/gaps?region={COUNTY}", headers=li_h), 404)
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(await registry.get(f"/pairings/gaps?region={TOWNSHIP}", headers=other), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(await registry.get("/pairings/gaps?region=4510", headers=admin), 422)

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        a, b = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
        gaps = (await registry.get(f"/pairings/gaps?region={COUNTY}", headers=admin)).json()
        assert gaps["count"] == 2 and gaps["on"] == str(TODAY) and gaps["region"] == COUNTY
        await registry.post(
            "/pairings", json={"household_id": a, "cadre_id": wang, "valid_from": str(TODAY)}, headers=admin
        )
        gaps = (await registry.get(f"/pairings/gaps?region={TOWNSHIP}", headers=admin)).json()
        assert [g["id"] for g in gaps["items"]] == [b]
        assert gaps["items"][0]["status"] == "registered" and gaps["items"][0]["household_size"] == 3
        assert (
            await registry.get(
                f"/pairings/gaps?region={COUNTY}&on={TODAY - timedelta(days=1)}", headers=admin
            )
        ).json()["count"] == 2


class TestMyHouseholds:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/me/households"), 401)

    async def test_wrong_role(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert (
            assert_problem(await registry.get("/me/households", headers=admin), 403)["code"] == "not_a_cadre"
        )

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        _, (wang, li) = await unit_and_cadres(
            registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
        )
        hid = await registered_household(registry, clerk, db_urls)
        p = await pair(registry, admin, hid, wang, str(TODAY - timedelta(days=30)))
        wang_h = headers_for(signing_key, "cadre", COUNTY, "cadre-wang")
        mine = (await registry.get("/me/households", headers=wang_h)).json()
        assert [h["household_id"] for h in mine["active"]] == [hid] and mine["past"] == []
        assert mine["active"][0]["active"] is True and mine["active"][0]["head_name"] == "黄志强"
        end = {"valid_to": str(TODAY), "end_reason": "handover", "successor": {"cadre_id": li}}
        assert (await registry.post(f"/pairings/{p['id']}/end", json=end, headers=admin)).status_code == 200
        mine = (await registry.get("/me/households", headers=wang_h)).json()
        assert mine["active"] == [] and [h["household_id"] for h in mine["past"]] == [hid]
        assert mine["past"][0]["active"] is False and mine["past"][0]["valid_to"] == str(TODAY)


# -- what a cadre may see, across the routes ------------------------------------------------------------------------
class TestCadreAccess:
    """A cadre reads exactly the households paired with them (invariant 32); a handover moves the access."""

    async def test_cadre_sees_exactly_the_paired_households(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        _, (wang, li) = await unit_and_cadres(
            registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
        )
        paired, unpaired = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
        wang_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang"))
        li_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-li"))
        start = str(TODAY - timedelta(days=30))
        p = await registry.post(
            "/pairings", json={"household_id": paired, "cadre_id": wang, "valid_from": start}, headers=admin
        )
        assert p.status_code == 201
        assert [i["id"] for i in (await registry.get("/households", headers=wang_h)).json()["items"]] == [
            paired
        ]
        card = await registry.get(f"/households/{paired}", headers=wang_h)
        assert card.status_code == 200 and card.json()["pairings"][0]["cadre_name"] == "干部0"
        assert_problem(await registry.get(f"/households/{unpaired}", headers=wang_h), 404)
        assert_problem(await registry.get(f"/households/{paired}", headers=li_h), 404)
        assert (await registry.get("/households", headers=li_h)).json()["items"] == []
        assert [
            h["household_id"] for h in (await registry.get("/me/households", headers=wang_h)).json()["active"]
        ] == [paired]
        # Handover today: 李 takes over; 王 keeps read-only access to the history.
        end = {"valid_to": str(TODAY), "end_reason": "handover", "successor": {"cadre_id": li}}
        assert (
            await registry.post(f"/pairings/{p.json()['id']}/end", json=end, headers=admin)
        ).status_code == 200
        assert (await registry.get("/households", headers=wang_h)).json()["items"] == []
        assert (await registry.get(f"/households/{paired}", headers=wang_h)).status_code == 200
        mine = (await registry.get("/me/households", headers=wang_h)).json()
        assert mine["active"] == [] and [h["household_id"] for h in mine["past"]] == [paired]
        assert [i["id"] for i in (await registry.get("/households", headers=li_h)).json()["items"]] == [
            paired
        ]
        # Cadres never write households or pairings.
        assert_problem(
            await registry.patch(
                f"/households/{paired}", json={"bank_name": "x"}, headers=li_h | {"If-Match": '"1"'}
            ),
            403,
        )
        assert_problem(
            await registry.post(
                "/pairings",
                json={"household_id": unpaired, "cadre_id": li, "valid_from": start},
                headers=li_h,
            ),
            403,
        )
        assert_problem(await registry.get(f"/households/{unpaired}/pairings", headers=li_h), 404)
        assert (await registry.get(f"/households/{paired}/pairings", headers=wang_h)).status_code == 200
        assert_problem(await registry.get(f"/pairings/gaps?region={COUNTY}", headers=li_h), 404)
        assert_problem(await registry.get(f"/cadres/{wang}", headers=li_h), 404)
        assert (await registry.get(f"/cadres/{li}", headers=li_h)).status_code == 200

    async def test_cadres_see_only_themselves_and_their_unit(
        self, registry: httpx.AsyncClient, admin: Headers, signing_key: SigningKey
    ) -> None:
        unit_id, (wang, li) = await unit_and_cadres(
            registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
        )
        other_unit = await registry.post(
            "/helping-units",
            json={"name": "百色学院", "kind": "public_institution", "region_code": COUNTY},
            headers=admin,
        )
        wang_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang"))
        assert [c["id"] for c in (await registry.get("/cadres", headers=wang_h)).json()["items"]] == [wang]
        assert [u["id"] for u in (await registry.get("/helping-units", headers=wang_h)).json()["items"]] == [
            unit_id
        ]
        assert (await registry.get(f"/helping-units/{unit_id}", headers=wang_h)).status_code == 200
        assert_problem(await registry.get(f"/helping-units/{other_unit.json()['id']}", headers=wang_h), 404)
        assert_problem(await registry.get(f"/cadres/{li}", headers=wang_h), 404)
        for url, body in (
            ("/helping-units", {"name": "x", "kind": "other", "region_code": COUNTY}),
            ("/cadres", {"unit_id": unit_id, "name": "x", "position_level": "staff"}),
            (
                "/village-assignments",
                {
                    "village_code": VILLAGE,
                    "cadre_id": wang,
                    "role": "first_secretary",
                    "starts_on": "2015-01-01",
                },
            ),
            ("/monitoring/rounds", {"township_code": TOWNSHIP, "year": 2015, "half": "H1"}),
        ):
            assert_problem(await registry.post(url, json=body, headers=wang_h), 403)
        assert_problem(await registry.get(f"/villages/{VILLAGE}/assignments", headers=wang_h), 404)
        assert_problem(await registry.get(f"/monitoring/overdue?region={COUNTY}", headers=wang_h), 404)
        assert_problem(
            await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2015", headers=wang_h), 404
        )
        assert_problem(
            await registry.get(f"/households/stats?region={COUNTY}&year=2015", headers=wang_h), 404
        )
        assert_problem(await registry.get("/audit", headers=wang_h), 403)

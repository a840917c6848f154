"""Every service enforces role and region scope itself, through one dependency and one query filter.

Out-of-scope records answer 404 exactly like missing ones; identity headers sent by clients are ignored.
"""

from __future__ import annotations

import httpx
import pytest

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    issue,
)

ALL_DEMO = {
    "450000000000",
    "451000000000",
    COUNTY,
    TOWNSHIP,
    VILLAGE,
    SIBLING_VILLAGE,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
}

pytestmark = pytest.mark.usefixtures("seed_regions")

# (role, bound region, visible demo regions)
CASES = [
    ("county_admin", COUNTY, {COUNTY, TOWNSHIP, VILLAGE, SIBLING_VILLAGE, OTHER_TOWNSHIP, OTHER_VILLAGE}),
    ("township_officer", TOWNSHIP, {TOWNSHIP, VILLAGE, SIBLING_VILLAGE}),
    ("village_officer", VILLAGE, {VILLAGE}),
    ("province_system", PROVINCE, ALL_DEMO),
    ("service", "000000000000", ALL_DEMO),
]


class TestReadScope:
    @pytest.mark.parametrize(("role", "region", "visible"), CASES)
    async def test_get_each_region(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, role: str, region: str, visible: set[str]
    ) -> None:
        token = issue(signing_key, role, region)
        for code in sorted(ALL_DEMO):
            response = await registry.get(f"/regions/{code}", headers=auth(token))
            if code in visible:
                assert response.status_code == 200, (role, code, response.text)
                assert response.json()["code"] == code
            else:
                body = assert_problem(response, 404)
                assert body["detail"] == f"region {code} not found"

    @pytest.mark.parametrize(("role", "region", "visible"), CASES)
    async def test_list_returns_only_scope(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, role: str, region: str, visible: set[str]
    ) -> None:
        token = issue(signing_key, role, region)
        response = await registry.get("/regions", headers=auth(token))
        assert response.status_code == 200
        assert {r["code"] for r in response.json()["items"]} == visible

    async def test_out_of_scope_is_indistinguishable_from_missing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "township_officer", TOWNSHIP)
        hidden = await registry.get(f"/regions/{OTHER_VILLAGE}", headers=auth(token))
        missing = await registry.get("/regions/451025100299", headers=auth(token))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["title"] == missing.json()["title"]
        assert set(hidden.json()) == set(missing.json())
        assert sorted(hidden.headers.keys()) == sorted(missing.headers.keys())

    async def test_cadre_reads_the_region_tree_of_their_unit(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        # The region tree is reference data; a cadre's household scope (paired households) comes with pairing.
        token = issue(signing_key, "cadre", TOWNSHIP)
        assert (await registry.get(f"/regions/{VILLAGE}", headers=auth(token))).status_code == 200
        assert_problem(await registry.get(f"/regions/{OTHER_VILLAGE}", headers=auth(token)), 404)


class TestIdentityHeadersIgnored:
    async def test_x_role_and_x_user_headers_do_not_change_the_principal(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")
        spoof = {"X-User": "admin", "X-Role": "county_admin", "X-Region": COUNTY, "X-Forwarded-User": "admin"}
        me = await registry.get("/me", headers=auth(token, **spoof))
        assert me.json() == {
            "sub": "clerk-1",
            "role": "village_officer",
            "region": VILLAGE,
            "scope_prefix": VILLAGE,
            "read_only": False,
        }
        response = await registry.get(f"/regions/{OTHER_VILLAGE}", headers=auth(token, **spoof))
        assert_problem(response, 404)

    async def test_identity_headers_without_token_are_401(self, registry: httpx.AsyncClient) -> None:
        response = await registry.get("/me", headers={"X-User": "admin", "X-Role": "county_admin"})
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


class TestWriteScope:
    async def test_county_admin_creates_in_own_county(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY)
        response = await registry.post(
            "/regions", json={"code": "451025100203", "name": "新村"}, headers=auth(token)
        )
        assert response.status_code == 201, response.text
        assert response.json()["parent_code"] == TOWNSHIP
        assert response.headers["location"] == "/regions/451025100203"

    async def test_county_admin_cannot_create_in_other_county(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY)
        response = await registry.post(
            "/regions", json={"code": "451026100201", "name": "x"}, headers=auth(token)
        )
        assert_problem(response, 403)

    @pytest.mark.parametrize(
        ("role", "region"),
        [("township_officer", TOWNSHIP), ("village_officer", VILLAGE), ("cadre", COUNTY)],
    )
    async def test_lower_roles_cannot_edit_the_tree(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, role: str, region: str
    ) -> None:
        token = issue(signing_key, role, region)
        response = await registry.post(
            "/regions", json={"code": "451025100204", "name": "x"}, headers=auth(token)
        )
        assert_problem(response, 403)

    async def test_province_system_is_read_only(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "province_system", PROVINCE)
        response = await registry.post(
            "/regions", json={"code": "451025100204", "name": "x"}, headers=auth(token)
        )
        body = assert_problem(response, 403)
        assert "read-only" in body["detail"]

    async def test_duplicate_is_conflict_and_changes_nothing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY)
        response = await registry.post(
            "/regions", json={"code": VILLAGE, "name": "renamed"}, headers=auth(token)
        )
        assert_problem(response, 409)
        assert (await registry.get(f"/regions/{VILLAGE}", headers=auth(token))).json()["name"] == "旧州村"

    async def test_parent_must_be_an_ancestor(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        token = issue(signing_key, "county_admin", COUNTY)
        response = await registry.post(
            "/regions",
            json={"code": "451025100205", "name": "x", "parent_code": OTHER_TOWNSHIP},
            headers=auth(token),
        )
        assert_problem(response, 422)


class TestEveryServiceVerifiesItsOwnAudience:
    async def test_token_for_another_audience_is_refused(
        self,
        registry: httpx.AsyncClient,
        planning: httpx.AsyncClient,
        assessment: httpx.AsyncClient,
        signing_key: SigningKey,
    ) -> None:
        clients = {"registry": registry, "planning": planning, "assessment": assessment}
        other = {
            "registry": "jingzhun-planning",
            "planning": "jingzhun-assessment",
            "assessment": "jingzhun-registry",
        }
        for service, client in clients.items():
            token = issue(signing_key, "county_admin", COUNTY, aud=[other[service]])
            assert_problem(await client.get("/me", headers=auth(token)), 401)
            good = issue(signing_key, "county_admin", COUNTY, aud=[f"jingzhun-{service}"])
            response = await client.get("/me", headers=auth(good))
            assert response.status_code == 200, service
            assert response.json()["scope_prefix"] == "451025"

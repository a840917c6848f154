"""Routes of user administration at the gateway, one class per route: who may create, list, read, disable,
enable and reset whom, and the identity audit log.

Regions (the demo county and a neighbour):
    451025000000 靖西县 ── 451025100000 新靖镇 ── 451025100201 旧州村, 451025100202 渠洋村
                       └─ 451025101000 化峒镇 ── 451025101201 化峒村
    451026000000 (another county) ── 451026100000 ── 451026100201
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.users.schemas import USERNAME_ORDER
from shared.pagination import encode_cursor
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    MakeClient,
    MakeUser,
    User,
    assert_problem,
    bearer,
    login,
    token_for,
)

NEW_PASSWORD = "a brand new passphrase"

XINJING = "451025100000"
JIUZHOU = "451025100201"
QUYANG = "451025100202"
HUADONG = "451025101000"
HUADONG_VILLAGE = "451025101201"
OTHER_TOWNSHIP = "451026100000"
OTHER_VILLAGE = "451026100201"

#: Roles that do not administer users, with a region each.
NON_MANAGERS = pytest.mark.parametrize(("role", "region"), [("village_officer", JIUZHOU), ("cadre", COUNTY)])
#: (manager, target) pairs of the population where the target lies outside the manager's subtree.
OUTSIDE_THE_SUBTREE = pytest.mark.parametrize(
    ("manager", "target"),
    [
        ("xinjing_officer", "huadong_clerk"),
        ("xinjing_officer", "county_cadre"),
        ("xinjing_officer", "other_clerk"),
        ("admin", "other_clerk"),
        ("admin", "other_officer"),
    ],
)
#: (manager, target) pairs of the population of the same rank.
SAME_RANK = pytest.mark.parametrize(
    ("manager", "target"), [("xinjing_officer", "xinjing_peer"), ("admin", "admin")]
)


def new_user(role: str, region: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": f"new.{uuid.uuid4().hex[:10]}",
        "display_name": "新用户 (new user)",
        "password": NEW_PASSWORD,
        "role": role,
        "region_code": region,
    }
    body.update(overrides)
    return body


async def as_user(gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str) -> dict[str, str]:
    """Authorization headers of a fresh user with this role and region."""
    return bearer(await token_for(gateway, await make_user(role, region)))


async def province_headers(gateway: httpx.AsyncClient, make_client: MakeClient) -> dict[str, str]:
    """Authorization headers of the province's machine client."""
    secret = await make_client("guangxi-province", "province_system", "450000000000")
    issued = await gateway.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "guangxi-province",
            "client_secret": secret,
        },
    )
    return bearer(issued.json()["access_token"])


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def audit_rows(db_urls: dict[str, str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["gateway"])
    try:
        return list(await conn.fetch("SELECT * FROM gateway_audit_event ORDER BY id"))
    finally:
        await conn.close()


@pytest.fixture
async def population(make_user: MakeUser) -> dict[str, User]:
    """Users spread over both townships of the county and over the neighbouring county."""
    specs = {
        "admin": ("county_admin", COUNTY),
        "county_cadre": ("cadre", COUNTY),
        "xinjing_officer": ("township_officer", XINJING),
        "xinjing_peer": ("township_officer", XINJING),
        "jiuzhou_clerk": ("village_officer", JIUZHOU),
        "quyang_clerk": ("village_officer", QUYANG),
        "xinjing_cadre": ("cadre", XINJING),
        "huadong_officer": ("township_officer", HUADONG),
        "huadong_clerk": ("village_officer", HUADONG_VILLAGE),
        "other_admin": ("county_admin", OTHER_COUNTY),
        "other_officer": ("township_officer", OTHER_TOWNSHIP),
        "other_clerk": ("village_officer", OTHER_VILLAGE),
    }
    return {
        name: await make_user(role, region, name.replace("_", ".")) for name, (role, region) in specs.items()
    }


async def list_all(
    gateway: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await gateway.get("/users", headers=headers, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# -- the three administrative actions share their scope and rank rules ----------------------------------------
async def act(
    gateway: httpx.AsyncClient, headers: dict[str, str], user_id: str, action: str
) -> httpx.Response:
    body = {"new_password": NEW_PASSWORD} if action == "reset-password" else None
    return await gateway.post(f"/users/{user_id}/{action}", headers=headers, json=body)


async def check_outside_the_subtree_is_404(
    gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str, action: str
) -> None:
    headers = bearer(await token_for(gateway, population[manager]))
    target_id = population[target].id
    response = await act(gateway, headers, target_id, action)
    missing_id = str(uuid.uuid4())
    missing = await act(gateway, headers, missing_id, action)
    assert_problem(response, 404)
    assert response.text.replace(target_id, "ID") == missing.text.replace(missing_id, "ID")
    # Nothing happened to the target.
    assert (await login(gateway, population[target].username)).status_code == 200


async def check_same_rank_is_403(
    gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str, action: str
) -> None:
    headers = bearer(await token_for(gateway, population[manager]))
    response = await act(gateway, headers, population[target].id, action)
    assert_problem(response, 403, "below their own")


async def check_missing_user_is_404(gateway: httpx.AsyncClient, make_user: MakeUser, action: str) -> None:
    headers = await as_user(gateway, make_user, "county_admin", COUNTY)
    assert_problem(await act(gateway, headers, str(uuid.uuid4()), action), 404)


async def check_non_manager_is_403(
    gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str, action: str
) -> None:
    headers = await as_user(gateway, make_user, role, region)
    target = await make_user("cadre", JIUZHOU)
    assert_problem(await act(gateway, headers, target.id, action), 403, "does not administer users")


async def check_anonymous_is_401(gateway: httpx.AsyncClient, make_user: MakeUser, action: str) -> None:
    target = await make_user("cadre", JIUZHOU)
    assert_problem(await act(gateway, {}, target.id, action), 401)
    assert (await login(gateway, target.username)).status_code == 200


# -- POST /users ----------------------------------------------------------------------------------------------
class TestCreateUser:
    async def test_anonymous(self, gateway: httpx.AsyncClient) -> None:
        assert_problem(await gateway.post("/users", json=new_user("cadre", COUNTY)), 401)

    @NON_MANAGERS
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        headers = await as_user(gateway, make_user, role, region)
        response = await gateway.post("/users", json=new_user("cadre", JIUZHOU), headers=headers)
        assert_problem(response, 403, "does not administer users")

    async def test_wrong_role_province_client(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        headers = await province_headers(gateway, make_client)
        assert_problem(await gateway.post("/users", json=new_user("cadre", COUNTY), headers=headers), 403)

    @pytest.mark.parametrize(
        ("role", "region"),
        [
            ("township_officer", XINJING),
            ("village_officer", JIUZHOU),
            ("cadre", COUNTY),
            ("cadre", HUADONG),
            ("cadre", HUADONG_VILLAGE),
        ],
    )
    async def test_valid(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        """A county administrator creates a lower role anywhere in the county."""
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        payload = new_user(role, region)
        response = await gateway.post("/users", json=payload, headers=admin)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["username"] == payload["username"]
        assert body["display_name"] == payload["display_name"]
        assert body["role"] == role
        assert body["region_code"] == region
        assert body["disabled"] is False
        assert body["locked_until"] is None
        uuid.UUID(body["id"])
        assert not {"password", "password_hash"} & body.keys()
        assert NEW_PASSWORD not in response.text

    async def test_created_user_can_log_in_with_the_chosen_password(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        payload = new_user("village_officer", JIUZHOU, username="clerk.jiuzhou")
        created = await gateway.post("/users", json=payload, headers=admin)
        assert created.status_code == 201, created.text
        response = await login(gateway, "clerk.jiuzhou", NEW_PASSWORD)
        assert response.status_code == 200, response.text
        me = (await gateway.get("/auth/me", headers=bearer(response.json()["access_token"]))).json()
        assert me["role"] == "village_officer"
        assert me["region"] == JIUZHOU

    async def test_username_is_stored_without_surrounding_whitespace(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        created = await gateway.post(
            "/users", json=new_user("cadre", COUNTY, username="  cadre.sun "), headers=admin
        )
        assert created.status_code == 201, created.text
        assert created.json()["username"] == "cadre.sun"

    async def test_upper_case_username_is_folded_and_logs_in(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        # Logins ignore case, so usernames are stored lower-case.
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        payload = new_user("cadre", COUNTY, username="Cadre.Sun")
        response = await gateway.post("/users", json=payload, headers=admin)
        assert response.status_code == 201, response.text
        assert response.json()["username"] == "cadre.sun"
        login = await gateway.post(
            "/auth/token",
            data={"grant_type": "password", "username": "CADRE.SUN", "password": payload["password"]},
        )
        assert login.status_code == 200, login.text

    async def test_invalid_username_is_422(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post(
            "/users", json=new_user("cadre", COUNTY, username="bad name!"), headers=admin
        )
        body = assert_problem(response, 422)
        assert [e["pointer"] for e in body["errors"]] == ["/username"]

    async def test_cannot_create_a_county_admin(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post("/users", json=new_user("county_admin", COUNTY), headers=admin)
        body = assert_problem(response, 403, "below their own")
        assert body["code"] == "rank_not_below"

    @pytest.mark.parametrize(
        ("role", "region"),
        [
            ("township_officer", OTHER_TOWNSHIP),
            ("village_officer", OTHER_VILLAGE),
            ("cadre", OTHER_COUNTY),
            ("cadre", "450000000000"),
        ],
    )
    async def test_cannot_create_a_user_outside_the_county(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post("/users", json=new_user(role, region), headers=admin)
        body = assert_problem(response, 403, "outside your region")
        assert body["code"] == "region_outside_scope"

    @pytest.mark.parametrize(
        ("role", "region"),
        [
            ("village_officer", XINJING),
            ("village_officer", COUNTY),
            ("township_officer", JIUZHOU),
            ("township_officer", COUNTY),
        ],
    )
    async def test_role_bound_to_the_wrong_level_of_region_is_422(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post("/users", json=new_user(role, region), headers=admin)
        body = assert_problem(response, 422, "must be bound to a")
        assert body["field"] == "region_code"
        assert body["code"] == "region_level_mismatch"

    @pytest.mark.parametrize("region", ["451000025000", "451025000201", "450000100000", "000025000000"])
    async def test_region_code_with_invalid_segments_is_422(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, region: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post("/users", json=new_user("cadre", region), headers=admin)
        body = assert_problem(response, 422, "not a valid statistical division code")
        assert body["field"] == "region_code"
        assert body["code"] == "region_code_invalid"

    @pytest.mark.parametrize("region", ["4510251002", "45102510020a", "4510251002011", "", " 451025100201"])
    async def test_region_code_that_is_not_twelve_digits_is_422(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, region: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post("/users", json=new_user("cadre", region), headers=admin)
        body = assert_problem(response, 422)
        assert [e["pointer"] for e in body["errors"]] == ["/region_code"]

    async def test_duplicate_username_is_409(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        first = await gateway.post(
            "/users", json=new_user("cadre", COUNTY, username="cadre.zhang"), headers=admin
        )
        assert first.status_code == 201, first.text
        again = await gateway.post(
            "/users", json=new_user("cadre", XINJING, username="cadre.zhang"), headers=admin
        )
        assert_problem(again, 409, "cadre.zhang")
        # The refused creation left nothing behind: neither a user nor an audit event.
        created = [r for r in await audit_rows(db_urls) if r["action"] == "user_created"]
        assert [r["target"] for r in created] == [f"user:{first.json()['id']}"]

    async def test_duplicate_username_differing_only_in_whitespace_is_409(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        await make_user("cadre", COUNTY, "cadre.zhao")
        response = await gateway.post(
            "/users", json=new_user("cadre", COUNTY, username=" cadre.zhao "), headers=admin
        )
        assert_problem(response, 409, "cadre.zhao")

    @pytest.mark.parametrize(
        "field", ["is_admin", "created_by", "disabled_at", "failed_logins", "password_hash"]
    )
    async def test_unknown_field_is_422_naming_the_field(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, field: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        response = await gateway.post("/users", json=new_user("cadre", COUNTY, **{field: "x"}), headers=admin)
        body = assert_problem(response, 422)
        assert {"pointer": f"/{field}", "code": "extra_forbidden"}.items() <= body["errors"][0].items()
        assert f"/{field}" in body["detail"]

    @pytest.mark.parametrize("field", ["display_name", "username", "password"])
    async def test_nul_byte_in_a_string_is_422(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str], field: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        payload = new_user("cadre", COUNTY)
        payload[field] = payload[field][:3] + "\x00" + payload[field][3:]
        response = await gateway.post("/users", json=payload, headers=admin)
        assert_problem(response, 422, "NUL")
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            assert await conn.fetchval("SELECT count(*) FROM gateway_user") == 1  # only the admin
        finally:
            await conn.close()

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("password", "short"),
            ("username", "ab"),
            ("username", "has space"),
            ("username", "-leading-dash"),
            ("display_name", ""),
            ("role", "province_system"),
            ("role", "service"),
            ("role", "superuser"),
        ],
    )
    async def test_invalid(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, field: str, value: str
    ) -> None:
        admin = await as_user(gateway, make_user, "county_admin", COUNTY)
        payload = new_user("cadre", COUNTY)
        payload[field] = value
        response = await gateway.post("/users", json=payload, headers=admin)
        body = assert_problem(response, 422)
        assert [e["pointer"] for e in body["errors"]] == [f"/{field}"]

    async def test_creation_is_audited(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str]
    ) -> None:
        admin_user = await make_user("county_admin", COUNTY)
        admin = bearer(await token_for(gateway, admin_user))
        created = await gateway.post("/users", json=new_user("cadre", COUNTY), headers=admin)
        assert created.status_code == 201
        events = [r for r in await audit_rows(db_urls) if r["action"] == "user_created"]
        assert len(events) == 1
        assert events[0]["actor"] == admin_user.id
        assert events[0]["actor_role"] == "county_admin"
        assert events[0]["target"] == f"user:{created.json()['id']}"

    # -- as a township officer --------------------------------------------------------------------------------
    async def test_township_officer_creates_a_village_officer_in_own_township(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        officer = await as_user(gateway, make_user, "township_officer", XINJING)
        response = await gateway.post("/users", json=new_user("village_officer", QUYANG), headers=officer)
        assert response.status_code == 201, response.text
        assert response.json()["region_code"] == QUYANG

    async def test_township_officer_creates_a_cadre_in_own_township(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        officer = await as_user(gateway, make_user, "township_officer", XINJING)
        response = await gateway.post("/users", json=new_user("cadre", XINJING), headers=officer)
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize("region", [HUADONG_VILLAGE, OTHER_VILLAGE])
    async def test_township_officer_cannot_create_a_village_officer_in_another_township(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, region: str
    ) -> None:
        officer = await as_user(gateway, make_user, "township_officer", XINJING)
        response = await gateway.post("/users", json=new_user("village_officer", region), headers=officer)
        assert_problem(response, 403, "outside your region")

    async def test_township_officer_cannot_create_a_cadre_at_county_level(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        officer = await as_user(gateway, make_user, "township_officer", XINJING)
        response = await gateway.post("/users", json=new_user("cadre", COUNTY), headers=officer)
        assert_problem(response, 403, "outside your region")

    @pytest.mark.parametrize(("role", "region"), [("township_officer", XINJING), ("county_admin", COUNTY)])
    async def test_township_officer_cannot_create_own_rank_or_above(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        officer = await as_user(gateway, make_user, "township_officer", XINJING)
        response = await gateway.post("/users", json=new_user(role, region), headers=officer)
        assert_problem(response, 403, "below their own")


# -- GET /users -----------------------------------------------------------------------------------------------
class TestListUsers:
    async def test_anonymous(self, gateway: httpx.AsyncClient) -> None:
        assert_problem(await gateway.get("/users"), 401)

    @NON_MANAGERS
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        headers = await as_user(gateway, make_user, role, region)
        assert_problem(await gateway.get("/users", headers=headers), 403, "does not administer users")

    async def test_wrong_role_province_client(
        self, gateway: httpx.AsyncClient, make_client: MakeClient
    ) -> None:
        headers = await province_headers(gateway, make_client)
        assert_problem(await gateway.get("/users", headers=headers), 403)

    async def test_valid(self, gateway: httpx.AsyncClient, population: dict[str, User]) -> None:
        """A county administrator sees the whole county and nothing else."""
        headers = bearer(await token_for(gateway, population["admin"]))
        items = await list_all(gateway, headers)
        expected = {u.username for u in population.values() if u.region.startswith("451025")}
        assert {i["username"] for i in items} == expected
        assert all(i["region_code"].startswith("451025") for i in items)

    async def test_township_officer_sees_only_their_township(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        headers = bearer(await token_for(gateway, population["xinjing_officer"]))
        items = await list_all(gateway, headers)
        assert {i["username"] for i in items} == {
            "xinjing.officer",
            "xinjing.peer",
            "jiuzhou.clerk",
            "quyang.clerk",
            "xinjing.cadre",
        }
        assert all(i["region_code"].startswith("451025100") for i in items)

    async def test_role_and_region_filters_narrow_within_scope(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        headers = bearer(await token_for(gateway, population["admin"]))
        clerks = await list_all(gateway, headers, role="village_officer")
        assert {i["username"] for i in clerks} == {"jiuzhou.clerk", "quyang.clerk", "huadong.clerk"}
        huadong = await list_all(gateway, headers, region_code=HUADONG)
        assert {i["username"] for i in huadong} == {"huadong.officer", "huadong.clerk"}

    async def test_region_filter_cannot_widen_the_scope(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        headers = bearer(await token_for(gateway, population["xinjing_officer"]))
        assert await list_all(gateway, headers, region_code=COUNTY) == await list_all(gateway, headers)
        assert await list_all(gateway, headers, region_code=OTHER_COUNTY) == []
        assert await list_all(gateway, headers, region_code=HUADONG) == []

    async def test_disabled_users_can_be_left_out(
        self, gateway: httpx.AsyncClient, population: dict[str, User], make_user: MakeUser
    ) -> None:
        await make_user("cadre", COUNTY, "gone.cadre", disabled=True)
        headers = bearer(await token_for(gateway, population["admin"]))
        everyone = {i["username"]: i["disabled"] for i in await list_all(gateway, headers)}
        assert everyone["gone.cadre"] is True
        active = {i["username"] for i in await list_all(gateway, headers, include_disabled="false")}
        assert "gone.cadre" not in active
        assert active == set(everyone) - {"gone.cadre"}

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 501}, {"region_code": "4510"}, {"role": "root"}]
    )
    async def test_invalid(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, params: dict[str, Any]
    ) -> None:
        headers = await as_user(gateway, make_user, "county_admin", COUNTY)
        assert_problem(await gateway.get("/users", headers=headers, params=params), 422)

    # -- keyset pages -----------------------------------------------------------------------------------------
    async def test_keyset_pages_walk_every_user_once_in_username_order(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await make_user("county_admin", COUNTY, "admin.jingxi")
        regions = [COUNTY, XINJING, JIUZHOU, QUYANG, HUADONG, HUADONG_VILLAGE]
        for i in range(16):
            await make_user("cadre", regions[i % len(regions)], f"cadre.{i:02d}")
        await make_user("cadre", OTHER_COUNTY, "cadre.elsewhere")
        headers = bearer(await token_for(gateway, admin))

        seen: list[str] = []
        page_sizes: list[int] = []
        cursor: str | None = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 5}
            if cursor:
                params["cursor"] = cursor
            response = await gateway.get("/users", headers=headers, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen.extend(i["username"] for i in page["items"])
            page_sizes.append(len(page["items"]))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        expected = sorted(["admin.jingxi", *(f"cadre.{i:02d}" for i in range(16))])
        assert seen == expected  # complete, ordered, no duplicates, nothing from the other county
        assert len(seen) == len(set(seen))
        assert page_sizes == [5, 5, 5, 2]

    async def test_exactly_full_last_page_has_no_next_cursor(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await make_user("county_admin", COUNTY)
        for i in range(3):
            await make_user("cadre", COUNTY, f"cadre.{i}")
        headers = bearer(await token_for(gateway, admin))
        first = (await gateway.get("/users", headers=headers, params={"limit": 2})).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        second = (
            await gateway.get("/users", headers=headers, params={"limit": 2, "cursor": first["next_cursor"]})
        ).json()
        assert len(second["items"]) == 2
        assert second["next_cursor"] is None

    async def test_cursor_cannot_reach_outside_the_scope(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        officer = await make_user("township_officer", XINJING, "officer.xinjing")
        await make_user("village_officer", HUADONG_VILLAGE, "zz.huadong")
        await make_user("village_officer", OTHER_VILLAGE, "zz.other")
        headers = bearer(await token_for(gateway, officer))
        # A forged cursor, well-formed for the shared codec, that starts before every username.
        cursor = encode_cursor(USERNAME_ORDER, "a")
        response = await gateway.get("/users", headers=headers, params={"cursor": cursor})
        assert response.status_code == 200, response.text
        assert [i["username"] for i in response.json()["items"]] == ["officer.xinjing"]

    @pytest.mark.parametrize(
        "cursor",
        [
            "not base64 at all!",
            base64.urlsafe_b64encode(b"a").decode(),  # a raw username: the cursors before the shared codec
            encode_cursor("households.village", "a"),  # a cursor of another ordering
            encode_cursor(USERNAME_ORDER, 7),  # the right ordering, the wrong type
        ],
    )
    async def test_invalid_cursor_is_400(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, cursor: str
    ) -> None:
        headers = await as_user(gateway, make_user, "county_admin", COUNTY)
        body = assert_problem(await gateway.get("/users", headers=headers, params={"cursor": cursor}), 400)
        assert body["code"] == "cursor_invalid"


# -- GET /users/{user_id} -------------------------------------------------------------------------------------
class TestGetUser:
    async def test_anonymous(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        target = await make_user("cadre", JIUZHOU)
        assert_problem(await gateway.get(f"/users/{target.id}"), 401)

    @NON_MANAGERS
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        headers = await as_user(gateway, make_user, role, region)
        target = await make_user("cadre", JIUZHOU)
        response = await gateway.get(f"/users/{target.id}", headers=headers)
        assert_problem(response, 403, "does not administer users")

    async def test_valid(self, gateway: httpx.AsyncClient, population: dict[str, User]) -> None:
        headers = bearer(await token_for(gateway, population["xinjing_officer"]))
        target = population["jiuzhou_clerk"]
        response = await gateway.get(f"/users/{target.id}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["username"] == target.username

    @pytest.mark.parametrize("target", ["huadong_clerk", "county_cadre", "admin", "other_clerk"])
    async def test_other_region(
        self, gateway: httpx.AsyncClient, population: dict[str, User], target: str
    ) -> None:
        """A user outside the subtree is 404 exactly like a missing id."""
        headers = bearer(await token_for(gateway, population["xinjing_officer"]))
        hidden_id = population[target].id
        missing_id = str(uuid.uuid4())
        hidden = await gateway.get(f"/users/{hidden_id}", headers=headers)
        missing = await gateway.get(f"/users/{missing_id}", headers=headers)
        assert_problem(hidden, 404)
        assert_problem(missing, 404)
        assert hidden.text.replace(hidden_id, "ID") == missing.text.replace(missing_id, "ID")
        assert hidden.headers.keys() == missing.headers.keys()

    async def test_county_admin_cannot_read_the_neighbouring_county(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        headers = bearer(await token_for(gateway, population["admin"]))
        assert_problem(await gateway.get(f"/users/{population['other_officer'].id}", headers=headers), 404)

    async def test_invalid(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        headers = await as_user(gateway, make_user, "county_admin", COUNTY)
        body = assert_problem(await gateway.get("/users/not-a-uuid", headers=headers), 422)
        assert (body["errors"][0]["parameter"], body["errors"][0]["in"]) == ("user_id", "path")


# -- POST /users/{user_id}/disable ----------------------------------------------------------------------------
class TestDisableUser:
    async def test_anonymous(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        await check_anonymous_is_401(gateway, make_user, "disable")

    @NON_MANAGERS
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        await check_non_manager_is_403(gateway, make_user, role, region, "disable")

    @OUTSIDE_THE_SUBTREE
    async def test_other_region(
        self, gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str
    ) -> None:
        await check_outside_the_subtree_is_404(gateway, population, manager, target, "disable")

    @SAME_RANK
    async def test_same_rank_is_403(
        self, gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str
    ) -> None:
        await check_same_rank_is_403(gateway, population, manager, target, "disable")

    async def test_county_admin_cannot_disable_another_county_admin_of_the_same_county(
        self, gateway: httpx.AsyncClient, make_user: MakeUser
    ) -> None:
        admin = await make_user("county_admin", COUNTY)
        colleague = await make_user("county_admin", COUNTY)
        headers = bearer(await token_for(gateway, admin))
        assert_problem(await act(gateway, headers, colleague.id, "disable"), 403)
        assert (await login(gateway, colleague.username)).status_code == 200

    async def test_missing_user_is_404(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        await check_missing_user_is_404(gateway, make_user, "disable")

    async def test_valid(self, gateway: httpx.AsyncClient, population: dict[str, User]) -> None:
        """A township officer disables a village officer in their township."""
        headers = bearer(await token_for(gateway, population["xinjing_officer"]))
        clerk = population["jiuzhou_clerk"]
        response = await act(gateway, headers, clerk.id, "disable")
        assert response.status_code == 200, response.text
        assert response.json()["disabled"] is True
        assert_problem(await login(gateway, clerk.username), 401)
        listed = {i["username"]: i["disabled"] for i in await list_all(gateway, headers)}
        assert listed[clerk.username] is True

    async def test_disable_is_idempotent(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        headers = bearer(await token_for(gateway, population["admin"]))
        target = population["xinjing_cadre"]
        assert (await act(gateway, headers, target.id, "disable")).status_code == 200
        again = await act(gateway, headers, target.id, "disable")
        assert again.status_code == 200
        assert again.json()["disabled"] is True


# -- POST /users/{user_id}/enable -----------------------------------------------------------------------------
class TestEnableUser:
    async def test_anonymous(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        await check_anonymous_is_401(gateway, make_user, "enable")

    @NON_MANAGERS
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        await check_non_manager_is_403(gateway, make_user, role, region, "enable")

    @OUTSIDE_THE_SUBTREE
    async def test_other_region(
        self, gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str
    ) -> None:
        await check_outside_the_subtree_is_404(gateway, population, manager, target, "enable")

    @SAME_RANK
    async def test_same_rank_is_403(
        self, gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str
    ) -> None:
        await check_same_rank_is_403(gateway, population, manager, target, "enable")

    async def test_missing_user_is_404(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        await check_missing_user_is_404(gateway, make_user, "enable")

    async def test_valid(self, gateway: httpx.AsyncClient, population: dict[str, User]) -> None:
        """Enabling lets the user log in again, but the tokens the disable revoked stay revoked."""
        headers = bearer(await token_for(gateway, population["admin"]))
        target = population["xinjing_cadre"]
        old = (await login(gateway, target.username)).json()
        assert (await act(gateway, headers, target.id, "disable")).status_code == 200
        enabled = await act(gateway, headers, target.id, "enable")
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["disabled"] is False
        assert_problem(await gateway.get("/auth/me", headers=bearer(old["access_token"])), 401, "revoked")
        refreshed = await gateway.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]}
        )
        assert_problem(refreshed, 401)
        fresh = await login(gateway, target.username)
        assert fresh.status_code == 200, fresh.text
        me = await gateway.get("/auth/me", headers=bearer(fresh.json()["access_token"]))
        assert me.status_code == 200, me.text

    async def test_enable_clears_a_lockout(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        headers = bearer(await token_for(gateway, population["admin"]))
        target = population["county_cadre"]
        assert (await act(gateway, headers, target.id, "disable")).status_code == 200
        for _ in range(5):
            await login(gateway, target.username, "not the password")
        assert (await act(gateway, headers, target.id, "enable")).json()["locked_until"] is None
        assert (await login(gateway, target.username)).status_code == 200


# -- POST /users/{user_id}/reset-password ---------------------------------------------------------------------
class TestResetPassword:
    async def test_anonymous(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        await check_anonymous_is_401(gateway, make_user, "reset-password")

    @NON_MANAGERS
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        await check_non_manager_is_403(gateway, make_user, role, region, "reset-password")

    @OUTSIDE_THE_SUBTREE
    async def test_other_region(
        self, gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str
    ) -> None:
        await check_outside_the_subtree_is_404(gateway, population, manager, target, "reset-password")

    @SAME_RANK
    async def test_same_rank_is_403(
        self, gateway: httpx.AsyncClient, population: dict[str, User], manager: str, target: str
    ) -> None:
        await check_same_rank_is_403(gateway, population, manager, target, "reset-password")

    async def test_missing_user_is_404(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        await check_missing_user_is_404(gateway, make_user, "reset-password")

    async def test_valid(self, gateway: httpx.AsyncClient, population: dict[str, User]) -> None:
        """A reset revokes existing tokens, and the new password works."""
        headers = bearer(await token_for(gateway, population["admin"]))
        target = population["xinjing_officer"]
        old = (await login(gateway, target.username)).json()
        assert (await gateway.get("/auth/me", headers=bearer(old["access_token"]))).status_code == 200

        response = await act(gateway, headers, target.id, "reset-password")
        assert response.status_code == 200, response.text
        assert NEW_PASSWORD not in response.text

        assert_problem(await gateway.get("/auth/me", headers=bearer(old["access_token"])), 401, "revoked")
        refreshed = await gateway.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]}
        )
        assert_problem(refreshed, 401)
        assert_problem(await login(gateway, target.username), 401)  # the old password
        fresh = await login(gateway, target.username, NEW_PASSWORD)
        assert fresh.status_code == 200, fresh.text
        me = await gateway.get("/auth/me", headers=bearer(fresh.json()["access_token"]))
        assert me.status_code == 200, me.text

    async def test_token_issued_earlier_in_the_same_second_as_the_reset_is_revoked(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        # `iat` has whole-second resolution: a cut-off at the reset's own second would let this token live.
        headers = bearer(await token_for(gateway, population["admin"]))
        target = population["county_cadre"]
        await asyncio.sleep(1 - time.time() % 1 + 0.01)  # start of a fresh second
        old = await token_for(gateway, target)
        reset_started = time.time()
        response = await act(gateway, headers, target.id, "reset-password")
        assert response.status_code == 200, response.text
        assert jwt_claims(old)["iat"] == int(reset_started)
        assert_problem(await gateway.get("/auth/me", headers=bearer(old)), 401, "revoked")
        fresh = (await login(gateway, target.username, NEW_PASSWORD)).json()["access_token"]
        assert (await gateway.get("/auth/me", headers=bearer(fresh))).status_code == 200

    async def test_reset_unlocks_a_locked_account(
        self, gateway: httpx.AsyncClient, population: dict[str, User]
    ) -> None:
        target = population["jiuzhou_clerk"]
        for _ in range(5):
            await login(gateway, target.username, "not the password")
        headers = bearer(await token_for(gateway, population["xinjing_officer"]))
        response = await act(gateway, headers, target.id, "reset-password")
        assert response.status_code == 200, response.text
        assert response.json()["locked_until"] is None
        assert (await login(gateway, target.username, NEW_PASSWORD)).status_code == 200

    @pytest.mark.parametrize(
        "body", [{"new_password": "short"}, {}, {"new_password": NEW_PASSWORD, "role": "county_admin"}]
    )
    async def test_invalid(
        self, gateway: httpx.AsyncClient, population: dict[str, User], body: dict[str, Any]
    ) -> None:
        headers = bearer(await token_for(gateway, population["admin"]))
        target = population["county_cadre"]
        assert_problem(
            await gateway.post(f"/users/{target.id}/reset-password", json=body, headers=headers), 422
        )
        assert (await login(gateway, target.username)).status_code == 200


# -- GET /audit -----------------------------------------------------------------------------------------------
class TestListAudit:
    async def test_anonymous(self, gateway: httpx.AsyncClient) -> None:
        assert_problem(await gateway.get("/audit"), 401)

    @pytest.mark.parametrize(
        ("role", "region"), [("township_officer", XINJING), ("village_officer", JIUZHOU), ("cadre", COUNTY)]
    )
    async def test_wrong_role(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, role: str, region: str
    ) -> None:
        """Everyone but county administrators gets 403."""
        headers = await as_user(gateway, make_user, role, region)
        body = assert_problem(await gateway.get("/audit", headers=headers), 403, "county administrators")
        assert body["code"] == "audit_reader_required"

    async def test_valid(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        """A county administrator sees creation, disable and login events, newest first."""
        admin = await make_user("county_admin", COUNTY)
        headers = bearer(await token_for(gateway, admin))
        created = await gateway.post("/users", json=new_user("cadre", XINJING), headers=headers)
        assert created.status_code == 201
        new_id = created.json()["id"]
        assert (await login(gateway, created.json()["username"], NEW_PASSWORD)).status_code == 200
        assert (await act(gateway, headers, new_id, "disable")).status_code == 200

        response = await gateway.get("/audit", headers=headers)
        assert response.status_code == 200, response.text
        events = response.json()
        ids = [e["id"] for e in events]
        assert ids == sorted(ids, reverse=True)  # newest first
        about_new = [(e["action"], e["actor"]) for e in events if e["target"] == f"user:{new_id}"]
        assert about_new == [("user_disabled", admin.id), ("login", new_id), ("user_created", admin.id)]
        assert ("login", admin.id) in [(e["action"], e["actor"]) for e in events]
        created_event = next(e for e in events if e["action"] == "user_created")
        assert created_event["actor_role"] == "county_admin"
        assert created_event["detail"]["role"] == "cadre"
        assert created_event["request_id"] == created.headers["x-request-id"]

    async def test_audit_filters_by_target(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        admin = await make_user("county_admin", COUNTY)
        cadre = await make_user("cadre", COUNTY)
        await login(gateway, cadre.username)
        headers = bearer(await token_for(gateway, admin))
        events = (await gateway.get("/audit", headers=headers, params={"target": f"user:{cadre.id}"})).json()
        assert [e["action"] for e in events] == ["login"]

    async def test_other_region(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        """Nothing from another county."""
        admin = await make_user("county_admin", COUNTY)
        stranger = await make_user("cadre", OTHER_COUNTY)
        await login(gateway, stranger.username)
        headers = bearer(await token_for(gateway, admin))
        events = (await gateway.get("/audit", headers=headers)).json()
        assert all(stranger.id not in (e["actor"], e["target"]) for e in events)
        assert all(e["target"] != f"user:{stranger.id}" for e in events)

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 501}, {"before_id": 0}, {"since": "yesterday"}]
    )
    async def test_invalid(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, params: dict[str, Any]
    ) -> None:
        headers = await as_user(gateway, make_user, "county_admin", COUNTY)
        assert_problem(await gateway.get("/audit", headers=headers, params=params), 422)


class TestAuditTableIsAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE gateway_audit_event SET action = 'nothing_happened'",
            "UPDATE gateway_audit_event SET detail = '{}'::jsonb"
            " WHERE id = (SELECT min(id) FROM gateway_audit_event)",
            "DELETE FROM gateway_audit_event",
            "DELETE FROM gateway_audit_event WHERE action = 'login'",
        ],
    )
    async def test_rewriting_audit_rows_raises(
        self, gateway: httpx.AsyncClient, make_user: MakeUser, db_urls: dict[str, str], statement: str
    ) -> None:
        user = await make_user("cadre", COUNTY)
        assert (await login(gateway, user.username)).status_code == 200
        before = [dict(r) for r in await audit_rows(db_urls)]
        assert [r["action"] for r in before] == ["login"]
        conn = await asyncpg.connect(db_urls["gateway"])
        try:
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(statement)
        finally:
            await conn.close()
        assert [dict(r) for r in await audit_rows(db_urls)] == before

"""Input errors at the edge (issue #14, item 2): each was a 500 and is now a 4xx problem.

NUL bytes in any query parameter (PostgreSQL text refuses them), times whose UTC value leaves years 1-9999 in
query parameters and cursors, numbers a cursor carries beyond its column, a region code with a trailing newline,
and a JSON-like media type the routes do not read.
"""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from shared.jwt import SigningKey
from shared.pagination import encode_cursor
from tests.factories import (
    COUNTY,
    VILLAGE,
    Headers,
    MakeUser,
    assert_problem,
    bearer,
    headers_for,
    registered_household,
    token_for,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

#: Times whose UTC value is before year 1 or after year 9999.
OUT_OF_RANGE_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"]


def raw_cursor(*parts: object) -> str:
    """A cursor as a client could forge it: any JSON array, base64url without padding."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY)


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE)


class TestNulInQuery:
    @pytest.mark.parametrize(
        ("path", "parameter"),
        [
            ("/households?name=a%00b", "name"),
            ("/households?cause=%00", "cause"),
            ("/audit?actor=a%00b", "actor"),
            ("/regions?under=45%00", "under"),
        ],
    )
    async def test_registry(
        self, registry: httpx.AsyncClient, admin: Headers, path: str, parameter: str
    ) -> None:
        body = assert_problem(await registry.get(path, headers=admin), 422)
        assert body["code"] == "nul_in_parameter" and body["parameter"] == parameter
        assert body["errors"][0] == {
            "parameter": parameter,
            "in": "query",
            "message": "must not contain NUL (%00)",
            "code": "nul_in_parameter",
        }

    async def test_in_a_name(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        body = assert_problem(await registry.get("/households?na%00me=x", headers=admin), 422)
        assert body["code"] == "nul_in_parameter"

    async def test_fast_route(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        response = await registry.post("/help-records?x=%00", headers=clerk, json={})
        assert assert_problem(response, 422)["code"] == "nul_in_parameter"

    async def test_localised(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        headers = {**admin, "Accept-Language": "zh-CN"}
        body = assert_problem(await registry.get("/audit?actor=%00", headers=headers), 422)
        assert body["detail"] != "query parameter actor must not contain NUL (%00)"

    async def test_gateway(self, gateway: httpx.AsyncClient, make_user: MakeUser) -> None:
        headers = bearer(await token_for(gateway, await make_user("county_admin", COUNTY)))
        for query in ("target=user%00", "actor=%00"):
            body = assert_problem(await gateway.get(f"/audit?{query}", headers=headers), 422)
            assert body["code"] == "nul_in_parameter"


class TestTimesOutOfRange:
    @pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
    async def test_registry_since(self, registry: httpx.AsyncClient, admin: Headers, moment: str) -> None:
        for name in ("since", "until"):
            response = await registry.get("/audit", params={name: moment}, headers=admin)
            body = assert_problem(response, 422)
            assert body["errors"][0]["parameter"] == name
            assert body["errors"][0]["code"] == "datetime_out_of_range"

    @pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
    async def test_as_of(
        self,
        registry: httpx.AsyncClient,
        admin: Headers,
        clerk: Headers,
        db_urls: dict[str, str],
        moment: str,
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        response = await registry.get(f"/households/{hid}/pairings", params={"as_of": moment}, headers=admin)
        assert assert_problem(response, 422)["errors"][0]["parameter"] == "as_of"

    @pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
    async def test_gateway_since(self, gateway: httpx.AsyncClient, make_user: MakeUser, moment: str) -> None:
        headers = bearer(await token_for(gateway, await make_user("county_admin", COUNTY)))
        for name in ("since", "until"):
            body = assert_problem(await gateway.get("/audit", params={name: moment}, headers=headers), 422)
            assert body["errors"][0]["code"] == "datetime_out_of_range"

    @pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
    async def test_cursors(
        self,
        registry: httpx.AsyncClient,
        admin: Headers,
        clerk: Headers,
        db_urls: dict[str, str],
        moment: str,
    ) -> None:
        """A cursor is validated, not signed: one carrying such a time is an invalid cursor (400)."""
        hid = await registered_household(registry, clerk, db_urls)
        for path, cursor in [
            ("/households?sort=updated", raw_cursor("updated", moment, str(uuid.uuid4()))),
            (
                f"/households/{hid}/help-records",
                raw_cursor("help_records.device_time", moment, str(uuid.uuid4())),
            ),
        ]:
            response = await registry.get(path, params={"cursor": cursor}, headers=admin)
            assert assert_problem(response, 400)["code"] == "cursor_invalid", path


class TestIncomeCursor:
    @pytest.mark.parametrize(
        "income",
        ["1E+20", "Infinity", "-Infinity", "NaN", "1E+1000000", "1E-1000000", "1E+13", "-1E+12", "0.001"],
    )
    async def test_out_of_the_column(self, registry: httpx.AsyncClient, admin: Headers, income: str) -> None:
        cursor = raw_cursor("income", income, str(uuid.uuid4()))
        response = await registry.get(
            "/households", params={"sort": "income", "cursor": cursor}, headers=admin
        )
        assert assert_problem(response, 400)["code"] == "cursor_invalid"

    async def test_in_range_still_works(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        cursor = encode_cursor("income", "999999999999.99", uuid.uuid4())
        response = await registry.get(
            "/households", params={"sort": "income", "cursor": cursor}, headers=admin
        )
        assert response.status_code == 200, response.text


class TestRegionCodePath:
    @pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%20", "%00"])
    async def test_trailing_characters(
        self, registry: httpx.AsyncClient, admin: Headers, suffix: str
    ) -> None:
        response = await registry.get(f"/regions/{COUNTY}{suffix}", headers=admin)
        assert response.status_code in (404, 422), response.text
        assert_problem(response, response.status_code)

    @pytest.mark.parametrize("path", ["/code-lists%0A", "/me%0A", "/households%0A"])
    async def test_a_control_character_matches_no_route(
        self, registry: httpx.AsyncClient, admin: Headers, path: str
    ) -> None:
        """Starlette's route patterns end in `$`, which matches before a trailing newline: without the check these
        answered 200 as if the newline were not there."""
        assert_problem(await registry.get(path, headers=admin), 404)

    async def test_the_code_itself(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert (await registry.get(f"/regions/{COUNTY}", headers=admin)).status_code == 200


class TestJsonMediaTypes:
    @pytest.mark.parametrize(
        "media_type",
        ["application/json-patch+json", "application/merge-patch+json", "application/vnd.x+json"],
    )
    async def test_other_json_types_are_415(
        self, registry: httpx.AsyncClient, clerk: Headers, media_type: str
    ) -> None:
        headers = {**clerk, "Content-Type": media_type}
        response = await registry.post("/households", content=b"{}", headers=headers)
        assert_problem(response, 415)

    async def test_json_with_charset_is_read(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        headers = {**clerk, "Content-Type": "application/json; charset=utf-8"}
        response = await registry.post("/households", content=b"{}", headers=headers)
        assert_problem(response, 422)

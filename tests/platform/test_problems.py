"""RFC 9457 problem+json everywhere; strict request models; range checks before PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.registry.settings import RegistrySettings
from shared.jwt import KeySet, SigningKey
from tests.factories import (
    COUNTY,
    assert_problem,
    auth,
    issue,
)
from tests.harness import running

pytestmark = pytest.mark.usefixtures("seed_regions")


def create_registry(settings: RegistrySettings, *, keyset: KeySet) -> FastAPI:
    # Imported here: a registry that does not import fails these tests, not the collection of every test.
    from services.registry.main import create_app

    return create_app(settings, keyset=keyset)


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "county_admin", COUNTY))


class TestValidation:
    async def test_unknown_field_is_rejected_with_its_path(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await registry.post(
            "/regions", json={"code": "451025100203", "name": "x", "is_admin": True}, headers=admin
        )
        body = assert_problem(response, 422)
        assert body["errors"] == [
            {
                "pointer": "/is_admin",
                "message": "Extra inputs are not permitted",
                "code": "extra_forbidden",
            }
        ]
        assert (await registry.get("/regions/451025100203", headers=admin)).status_code == 404

    async def test_each_field_error_is_listed(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await registry.post("/regions", json={"code": "12ab", "name": ""}, headers=admin)
        body = assert_problem(response, 422)
        assert {e["pointer"] for e in body["errors"]} == {"/code", "/name"}

    async def test_nul_byte_is_rejected(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await registry.post(
            "/regions", json={"code": "451025100203", "name": "a\u0000b"}, headers=admin
        )
        body = assert_problem(response, 422)
        assert "NUL" in body["detail"]

    async def test_nul_byte_in_a_key_is_rejected(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await registry.post(
            "/regions", json={"code": "451025100203", "name": "a", "x\u0000": 1}, headers=admin
        )
        assert_problem(response, 422)

    async def test_integer_out_of_range_never_reaches_postgres(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await registry.get("/regions", params={"limit": 10**30}, headers=admin)
        body = assert_problem(response, 422)
        assert (body["errors"][0]["parameter"], body["errors"][0]["in"]) == ("limit", "query")

    async def test_malformed_json_is_422(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        response = await registry.post(
            "/regions", content=b'{"code": ', headers={**admin, "Content-Type": "application/json"}
        )
        assert_problem(response, 422)

    async def test_path_parameter_pattern(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        body = assert_problem(await registry.get("/regions/12345", headers=admin), 422)
        assert (body["errors"][0]["parameter"], body["errors"][0]["in"]) == ("code", "path")


class TestErrorShapes:
    async def test_unknown_route_is_problem_404(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/no/such/route"), 404)

    async def test_wrong_method_is_problem_405(
        self, registry: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        assert_problem(await registry.delete("/regions", headers=admin), 405)

    async def test_missing_authorization_is_401_not_422(self, registry: httpx.AsyncClient) -> None:
        response = await registry.get("/regions")
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == 'Bearer realm="jingzhun"'
        assert body["instance"] == "/regions"

    async def test_unexpected_error_is_500_without_internals(
        self, db_urls: dict[str, str], keyset: KeySet, signing_key: SigningKey
    ) -> None:
        app = create_registry(
            RegistrySettings(
                environment="test", database_url=db_urls["registry"], json_logs=False, log_level="CRITICAL"
            ),
            keyset=keyset,
        )

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("secret internal detail")

        async with app.router.lifespan_context(app):
            # Starlette re-raises after sending the 500 (for servers to log); the client must not re-raise it.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get("/boom")
        body = assert_problem(response, 500)
        assert "secret internal detail" not in response.text
        assert body["detail"] == "An unexpected error occurred."

    async def test_oversized_json_body_is_413_at_the_service(
        self, db_urls: dict[str, str], keyset: KeySet, signing_key: SigningKey
    ) -> None:
        settings = RegistrySettings(
            environment="test", database_url=db_urls["registry"], json_logs=False, max_json_body_bytes=1024
        )
        async with running(create_registry(settings, keyset=keyset)) as client:
            response = await client.post(
                "/regions",
                json={"code": "451025100203", "name": "x" * 2000},
                headers=auth(issue(signing_key, "county_admin", COUNTY)),
            )
        assert_problem(response, 413)

"""Unknown query parameters are refused (400 `unknown_parameter`), not silently ignored (shared/routing.py).

`CommitRoute` knows its query parameters from the route's declaration, its dependencies' included; the plain
Starlette fast routes name theirs (the card: `unmask`; POST /help-records: none). The first tests run a small app
with no database; the last ones the registry itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict

from services.registry.households.fast import card_route
from shared.jwt import SigningKey
from shared.problems import install_problem_handlers
from shared.routing import APIRouter, query_parameters
from shared.schemas import ResponseModel
from tests.factories import VILLAGE, assert_problem, create_household, headers_for


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    size: int | None = None


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


class Answer(ResponseModel):
    ok: bool = True


async def region_of(region: Annotated[str | None, Query()] = None) -> str | None:
    return region


async def scoped(region: Annotated[str | None, Depends(region_of)]) -> str | None:
    return region  # a dependency of a dependency: its query parameter counts too


def probe_app() -> FastAPI:
    router = APIRouter()

    @router.get("/plain", response_model=Answer)
    async def plain(
        limit: int = 50, page_size: Annotated[int | None, Query(alias="page-size")] = None
    ) -> Answer:
        return Answer()

    @router.get("/scoped", response_model=Answer, dependencies=[Depends(scoped)])
    async def with_dependency(status: Annotated[list[str] | None, Query()] = None) -> Answer:
        return Answer()

    @router.get("/model", response_model=Answer)
    async def with_model(filters: Annotated[Filters, Query()]) -> Answer:
        return Answer()

    @router.get("/open", response_model=Answer)
    async def open_model(filters: Annotated[Anything, Query()]) -> Answer:
        return Answer()

    @router.get("/none", response_model=Answer)
    async def no_parameters() -> Answer:
        return Answer()

    included = APIRouter()

    @included.get("/included", response_model=Answer)
    async def in_an_included_router(size: int = 1) -> Answer:
        return Answer()

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    # The including router's own dependency reads `region`: the route takes it too.
    app.include_router(included, dependencies=[Depends(region_of)])
    return app


@pytest.fixture
async def probe() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=probe_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _dependants(app: FastAPI) -> dict[str, Dependant]:
    """Each route's dependant as FastAPI solves it (an included router's context adds its dependencies)."""
    return {
        str(ctx.path_format): ctx.dependant
        for ctx in iter_route_contexts(app.routes)
        if isinstance(ctx.original_route, APIRoute)
    }


# == which names a route takes (no database) =======================================================================
class TestQueryParameters:
    def test_declared_names_aliases_dependencies_and_models(self) -> None:
        dependants = _dependants(probe_app())
        assert query_parameters(dependants["/plain"]) == frozenset({"limit", "page-size"})
        assert query_parameters(dependants["/scoped"]) == frozenset({"status", "region"})
        assert query_parameters(dependants["/model"]) == frozenset({"kind", "size"})
        assert query_parameters(dependants["/none"]) == frozenset()
        assert query_parameters(dependants["/included"]) == frozenset({"size", "region"})

    def test_a_model_open_to_extra_fields_takes_any_name(self) -> None:
        assert query_parameters(_dependants(probe_app())["/open"]) is None


# == the answer ===================================================================================================
class TestUnknownParameter:
    async def test_valid_known_parameters_pass(self, probe: httpx.AsyncClient) -> None:
        for url in (
            "/plain?limit=5&page-size=3",
            "/scoped?status=a&status=b&region=451025100201",
            "/model?kind=x&size=3",
            "/open?whatever=1",
            "/none",
            "/none?",
            "/included?size=2&region=451025100201",
        ):
            response = await probe.get(url)
            assert response.status_code == 200, (url, response.text)

    async def test_invalid_one_unknown_parameter(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(
            await probe.get("/plain?limit=5&updated_after=2026-01-01T00:00:00Z"), 400, "updated_after"
        )
        assert body["code"] == "unknown_parameter" and body["parameter"] == "updated_after"
        assert body["errors"] == [
            {
                "parameter": "updated_after",
                "in": "query",
                "message": "unknown parameter",
                "code": "unknown_parameter",
            }
        ]
        assert body["instance"] == "/plain"
        assert "limit, page-size" in body["detail"]  # what the operation does take

    async def test_invalid_every_unknown_parameter_is_named(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/none?b=1&a=2&b=3"), 400)
        assert body["parameter"] == "b" and [e["parameter"] for e in body["errors"]] == ["b", "a"]
        assert "takes: none" in body["detail"]

    async def test_invalid_a_python_name_is_not_its_alias(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/plain?page_size=3"), 400)
        assert body["parameter"] == "page_size"

    async def test_invalid_a_field_a_query_model_lacks(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/model?kind=x&colour=red"), 400)
        assert body["parameter"] == "colour"

    async def test_invalid_on_a_route_of_an_included_router(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/included?size=2&sort=x"), 400)
        assert body["parameter"] == "sort" and "region, size" in body["detail"]

    async def test_invalid_an_empty_name(self, probe: httpx.AsyncClient) -> None:
        body = assert_problem(await probe.get("/none?=1"), 400)
        assert body["parameter"] == ""


# == every route of the registry and the gateway ===================================================================
class TestEveryRoute:
    @staticmethod
    def _check(app: FastAPI) -> int:
        """The names a route accepts are exactly the query parameters its OpenAPI operation documents."""
        doc: dict[str, Any] = app.openapi()
        shared_parameters: dict[str, Any] = doc.get("components", {}).get("parameters", {})

        def resolved(parameter: dict[str, Any]) -> dict[str, Any]:
            ref = parameter.get("$ref")
            return parameter if ref is None else dict(shared_parameters[ref.rsplit("/", 1)[-1]])

        checked = 0
        for ctx in iter_route_contexts(app.routes):
            if not isinstance(ctx.original_route, APIRoute) or not ctx.include_in_schema:
                continue
            for method in ctx.methods or ():
                operation = doc["paths"].get(ctx.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                parameters = [resolved(p) for p in operation.get("parameters", [])]
                documented = {p["name"] for p in parameters if p["in"] == "query"}
                assert query_parameters(ctx.dependant) == frozenset(documented), (method, ctx.path_format)
                checked += 1
        return checked

    def test_valid_registry_routes_take_what_they_document(self, registry_app: FastAPI) -> None:
        assert self._check(registry_app) > 50

    def test_valid_gateway_routes_take_what_they_document(self, gateway: httpx.AsyncClient) -> None:
        app: FastAPI = gateway.app  # type: ignore[attr-defined]
        assert self._check(app) > 5


# == the registry: the list, the card (fast and documented), POST /help-records =====================================
@pytest.mark.usefixtures("seed_regions")
class TestRegistry:
    async def test_invalid_updated_after_on_the_list(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        response = await registry.get(
            "/households", params={"updated_after": "2026-01-01T00:00:00Z", "limit": 5}, headers=clerk
        )
        body = assert_problem(response, 400)
        assert body["code"] == "unknown_parameter" and body["parameter"] == "updated_after"
        assert (await registry.get("/households", params={"limit": 5}, headers=clerk)).status_code == 200

    async def test_invalid_before_authentication(self, registry: httpx.AsyncClient) -> None:
        """The names an operation takes are public (the OpenAPI document): the check needs no caller."""
        body = assert_problem(await registry.get("/households?bogus=1"), 400)
        assert body["parameter"] == "bogus"
        assert_problem(await registry.get("/households"), 401)

    async def test_invalid_on_the_fast_card(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        hid = await create_household(registry, clerk)
        body = assert_problem(
            await registry.get(f"/households/{hid}?unmask=false&fields=id", headers=clerk), 400
        )
        assert body["code"] == "unknown_parameter" and body["parameter"] == "fields"
        assert body["instance"] == f"/households/{hid}"
        assert (await registry.get(f"/households/{hid}?unmask=false", headers=clerk)).status_code == 200

    async def test_invalid_on_the_documented_card_route(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        hid = await create_household(registry, clerk)
        registry_app.router.routes.remove(card_route)
        try:
            body = assert_problem(await registry.get(f"/households/{hid}?fields=id", headers=clerk), 400)
            assert (await registry.get(f"/households/{hid}?unmask=false", headers=clerk)).status_code == 200
        finally:
            registry_app.router.routes.insert(0, card_route)
        assert body["parameter"] == "fields"

    async def test_invalid_on_the_help_record_post(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        cadre = headers_for(signing_key, "cadre", VILLAGE)
        body = assert_problem(await registry.post("/help-records?dry_run=1", json={}, headers=cadre), 400)
        assert body["code"] == "unknown_parameter" and body["parameter"] == "dry_run"
        # Without the parameter the same request reaches validation.
        assert_problem(await registry.post("/help-records", json={}, headers=cadre), 422)

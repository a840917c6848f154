"""`/docs` (Swagger UI) and `/redoc` render without internet: every asset a page references is served by the app
itself, from the `fastapi_offline` package (issue #10: a county office may have no connection).

The apps are driven in-process without their lifespans: the pages, their assets and the document need no
database.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import KeySet

#: Every URL an HTML page names: attributes, and the document URL in Swagger UI's script.
_URLS = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*'([^']+)'""")
_ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def _settings(cls: type[Any]) -> Any:
    return cls(environment="test", database_url="postgresql://nobody@127.0.0.1:9/none", json_logs=False)


def _gateway() -> FastAPI:
    from gateway.main import create_app
    from gateway.openapi_merge import OpenAPIMerger
    from gateway.settings import GatewaySettings

    app = create_app(_settings(GatewaySettings))
    app.state.openapi_merger = OpenAPIMerger({})  # normally set by the lifespan; no services to fetch here
    return app


def _registry() -> FastAPI:
    from services.registry.main import create_app
    from services.registry.settings import RegistrySettings

    return create_app(_settings(RegistrySettings), keyset=KeySet({"keys": []}))


def _planning() -> FastAPI:
    from services.planning.main import create_app
    from services.planning.settings import PlanningSettings

    return create_app(_settings(PlanningSettings), keyset=KeySet({"keys": []}))


APPS = {"gateway": _gateway, "registry": _registry, "planning": _planning}


@pytest.fixture(params=sorted(APPS))
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    app = APPS[request.param]()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


def referenced(html: str) -> list[str]:
    return [a or b for a, b in _URLS.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_page_and_every_asset_come_from_the_app(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = referenced(response.text)
    assert "/openapi.json" in urls
    assert len(urls) >= 3  # the document, a script, the icon (and Swagger UI's style sheet)
    assert [u for u in urls if not u.startswith("/") or u.startswith("//")] == []  # nothing from elsewhere
    assert "http://" not in response.text and "https://" not in response.text
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        suffix = url[url.rfind(".") :]
        if suffix in _ASSET_TYPES:
            assert _ASSET_TYPES[suffix] in asset.headers["content-type"], url
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.") and document["paths"]


async def test_the_scripts_are_the_real_ones(client: httpx.AsyncClient) -> None:
    swagger = await client.get("/docs/swagger-ui-bundle.js")
    redoc = await client.get("/docs/redoc.standalone.js")
    assert "SwaggerUIBundle" in swagger.text and len(swagger.content) > 500_000
    assert "Redoc" in redoc.text and len(redoc.content) > 500_000
    assert "public" in swagger.headers["cache-control"]


async def test_swagger_ui_asks_no_outside_validator(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert '"validatorUrl": null' in page


async def test_behind_the_gateway_the_page_names_the_prefixed_paths() -> None:
    """Through the gateway, a service's docs are at `/api/{service}/docs`: its page names its own prefixed
    document and assets (the gateway says the prefix in `X-Forwarded-Prefix`), and so does `servers`."""
    app = _registry()
    prefix = {"X-Forwarded-Prefix": "/api/registry"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        page = (await client.get("/docs", headers=prefix)).text
        urls = referenced(page)
        assert urls and all(u.startswith("/api/registry/") for u in urls), urls
        for url in urls:
            assert (await client.get(url.removeprefix("/api/registry"))).status_code == 200, url
        served = (await client.get("/openapi.json", headers=prefix)).json()
        assert served["servers"] == [{"url": "/api/registry"}]
        assert (await client.get("/openapi.json")).json()["servers"] == [{"url": "/"}]
        forged = {"X-Forwarded-Prefix": "https://evil.example"}
        assert (await client.get("/openapi.json", headers=forged)).json()["servers"] == [{"url": "/"}]


async def test_docs_are_not_operations_of_the_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert not {"/docs", "/redoc", "/openapi.json"} & set(document["paths"])
    assert not [p for p in document["paths"] if p.startswith("/docs/")]

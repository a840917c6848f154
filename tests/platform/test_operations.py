"""Health, readiness, metrics, JSON logs, the merged OpenAPI document, CORS, and settings safety."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from gateway.settings import GatewaySettings
from services.assessment.settings import AssessmentSettings
from services.planning.settings import PlanningSettings
from services.registry.settings import RegistrySettings
from shared.app import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS
from shared.jwt import KeySet, SigningKey, write_dev_keys
from shared.observability import ROUTE_TEMPLATE, UNMATCHED, JsonFormatter, LabelledRoute, route_label
from tests.factories import COUNTY, VILLAGE, assert_problem, auth, household_payload, issue
from tests.harness import free_socket, running, serve
from tests.registry.test_help_records_routes import Db, Phone, record


# The apps are imported when a test builds one: a process that does not import fails its tests here, not the
# collection of every test.
def create_gateway(settings: GatewaySettings, *, signing_key: SigningKey) -> FastAPI:
    from gateway.main import create_app

    return create_app(settings, signing_key=signing_key)


def create_registry(settings: RegistrySettings, *, keyset: KeySet | None = None) -> FastAPI:
    from services.registry.main import create_app

    return create_app(settings, keyset=keyset)


def create_planning(settings: PlanningSettings, *, keyset: KeySet) -> FastAPI:
    from services.planning.main import create_app

    return create_app(settings, keyset=keyset)


@pytest.fixture
async def live_gateway(
    gateway_settings: GatewaySettings,
    signing_key: SigningKey,
    registry_app: FastAPI,
    db_urls: dict[str, str],
    keyset: KeySet,
) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway in front of real registry and planning servers (planning also stands in for assessment)."""
    planning_app = create_planning(
        PlanningSettings(environment="test", database_url=db_urls["planning"], json_logs=False), keyset=keyset
    )
    async with serve(registry_app) as reg, serve(planning_app) as plan:
        settings = gateway_settings.model_copy(
            update={"registry_url": reg, "planning_url": plan, "assessment_url": plan}
        )
        async with running(create_gateway(settings, signing_key=signing_key)) as gw:
            yield gw


class TestHealth:
    async def test_healthz_everywhere(
        self,
        gateway: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        planning: httpx.AsyncClient,
        assessment: httpx.AsyncClient,
    ) -> None:
        for client in (gateway, registry, planning, assessment):
            response = await client.get("/healthz")
            assert response.status_code == 200
            assert response.json() == {"status": "ok"}

    async def test_service_readyz_checks_database_and_keys(self, registry: httpx.AsyncClient) -> None:
        response = await registry.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "read_database": "ok", "keys": "ok"}

    async def test_service_readyz_fails_without_database(self, keyset: KeySet) -> None:
        settings = RegistrySettings(
            environment="test", database_url="postgresql://postgres@127.0.0.1:9/none", json_logs=False
        )
        async with running(create_registry(settings, keyset=keyset)) as client:
            body = assert_problem(await client.get("/readyz"), 503)
            assert body["checks"]["database"].startswith("error")
            assert (await client.get("/healthz")).status_code == 200  # liveness does no I/O

    async def test_gateway_readyz_with_live_upstreams(self, live_gateway: httpx.AsyncClient) -> None:
        response = await live_gateway.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {
            "database": "ok",
            "registry": "ok",
            "planning": "ok",
            "assessment": "ok",
        }


class TestMetricsAndLogs:
    async def test_metrics_count_requests_by_route_template(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, seed_regions: None
    ) -> None:
        await registry.get(
            "/regions/451025000000", headers=auth(issue(signing_key, "county_admin", "451025000000"))
        )
        text = (await registry.get("/metrics")).text
        assert (
            'jingzhun_http_requests_total{method="GET",route="/regions/{code}",service="registry",status="200"}'
            in text
        )
        assert "jingzhun_http_request_duration_seconds_bucket" in text

    async def test_one_json_log_line_per_request(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, seed_regions: None
    ) -> None:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        logger = logging.getLogger("jingzhun.access")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            token = issue(signing_key, "township_officer", "451025100000", sub="officer-7")
            await registry.get("/regions/451025100201", headers=auth(token, **{"X-Request-ID": "trace-42"}))
        finally:
            logger.removeHandler(handler)
        line = json.loads(stream.getvalue().strip().splitlines()[-1])
        assert line["request_id"] == "trace-42"
        assert line["principal"] == "officer-7"
        assert line["role"] == "township_officer"
        assert line["route"] == "/regions/{code}"
        assert line["status"] == 200
        assert line["service"] == "registry"
        assert isinstance(line["duration_ms"], float)


Sample = tuple[str, str, str, str]  # service, method, route, status


def request_counts(metrics_text: str) -> dict[Sample, float]:
    """`jingzhun_http_requests_total` by its labels, from a /metrics answer."""
    counts: dict[Sample, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "jingzhun_http_requests_total":
                key = (sample.labels["service"], sample.labels["method"], sample.labels["route"])
                counts[(*key, sample.labels["status"])] = sample.value
    return counts


@dataclass
class LabelledStack:
    gateway: httpx.AsyncClient  # in-process, in front of the two servers below
    registry: httpx.AsyncClient  # the registry's own socket (fast routes called directly)
    db: Db
    gateway_app: FastAPI


@pytest.fixture
async def labelled_stack(
    gateway_settings: GatewaySettings,
    signing_key: SigningKey,
    registry_app: FastAPI,
    db_urls: dict[str, str],
    keyset: KeySet,
    seed_regions: None,
) -> AsyncIterator[LabelledStack]:
    planning_app = create_planning(
        PlanningSettings(environment="test", database_url=db_urls["planning"], json_logs=False), keyset=keyset
    )
    async with serve(registry_app) as reg, serve(planning_app) as plan:
        settings = gateway_settings.model_copy(
            update={"registry_url": reg, "planning_url": plan, "assessment_url": plan}
        )
        gateway_app = create_gateway(settings, signing_key=signing_key)
        async with running(gateway_app) as gw, httpx.AsyncClient(base_url=reg) as direct:
            yield LabelledStack(gw, direct, Db(db_urls["registry"]), gateway_app)


class TestRouteLabels:
    """Metrics and access logs carry the route template of every route (dashboards and alerts group by it)."""

    async def test_no_representative_call_is_unmatched(
        self, labelled_stack: LabelledStack, signing_key: SigningKey
    ) -> None:
        gw, direct = labelled_stack.gateway, labelled_stack.registry
        clerk = auth(issue(signing_key, "village_officer", VILLAGE))
        admin = auth(issue(signing_key, "county_admin", COUNTY))
        phone = Phone(signing_key, labelled_stack.db)
        await phone.register()
        # Until a service's route templates are loaded (its OpenAPI document, fetched on its first request and
        # awaited at most `FIRST_LOAD_WAIT`), its requests are documented as `unmatched`: load both first, so a
        # slow first fetch on a loaded machine cannot decide the test.
        templates = labelled_stack.gateway_app.state.route_templates
        for service in ("registry", "planning"):
            for _ in range(60):
                await gw.get(f"/api/{service}/me", headers=admin)
                if templates.known(service):
                    break
                await asyncio.sleep(0.5)
            assert templates.known(service), f"{service}: route templates never loaded"
        before = request_counts((await gw.get("/metrics")).text)
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        logger = logging.getLogger("jingzhun.access")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            created = await gw.post("/api/registry/households", json=household_payload(), headers=clerk)
            assert created.status_code == 201, created.text
            household = created.json()["id"]
            await phone.pair(household)
            calls = [
                await gw.get(f"/api/registry/households/{household}", headers=admin),  # the card (fast route)
                await gw.get(f"/api/registry/households/{uuid.uuid4()}", headers=admin),  # 404, same route
                await gw.get(f"/api/registry/households/{household}"),  # 401 at the gateway, same route
                await gw.get("/api/registry/households?limit=5", headers=admin),
                await gw.get(f"/api/registry/regions/{COUNTY}", headers=admin),
                await gw.post("/api/registry/help-records", json=record(household), headers=phone.headers),
                await gw.get("/api/registry/sync/download", headers=phone.headers),
                await gw.get("/api/planning/me", headers=admin),
                await gw.get("/.well-known/jwks.json"),
                await direct.get(f"/households/{household}", headers=admin),
                await direct.post("/help-records", json=record(household), headers=phone.headers),
            ]
        finally:
            logger.removeHandler(handler)
        assert [c.status_code for c in calls] == [200, 404, 401, 200, 200, 201, 200, 200, 200, 200, 201]
        after = request_counts((await gw.get("/metrics")).text)

        grown = {
            key: value - before.get(key, 0.0) for key, value in after.items() if value > before.get(key, 0.0)
        }
        assert not {key for key in grown if key[2] == "unmatched"}, sorted(grown)
        card = "/api/registry/households/{household_id}"
        assert {
            ("gateway", "POST", "/api/registry/households", "201"),
            ("gateway", "GET", card, "200"),
            ("gateway", "GET", card, "404"),
            ("gateway", "GET", card, "401"),
            ("gateway", "GET", "/api/registry/households", "200"),
            ("gateway", "POST", "/api/registry/help-records", "201"),
            ("gateway", "GET", "/api/registry/sync/download", "200"),
            ("gateway", "GET", "/api/planning/me", "200"),
            ("registry", "GET", "/households/{household_id}", "200"),  # the plain Starlette card route
            ("registry", "POST", "/help-records", "201"),  # the plain Starlette POST
        } <= set(grown)

        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
        assert len(lines) >= len(calls)
        assert [line for line in lines if line["route"] == "unmatched"] == []
        logged = {(line["service"], line["method"], line["route"]) for line in lines}
        assert ("gateway", "GET", card) in logged
        assert ("registry", "GET", "/households/{household_id}") in logged
        assert ("registry", "POST", "/help-records") in logged

    def test_the_label_of_a_request(self) -> None:
        async def endpoint(_: Request) -> Response:
            return Response()

        card = LabelledRoute("/households/{household_id:uuid}", endpoint, methods=["GET"])
        assert route_label({"route": card}, {}) == "/households/{household_id}"  # no `:uuid` convertor
        named = {ROUTE_TEMPLATE: "/api/registry/households/{household_id}"}
        assert route_label({"route": card}, named) == "/api/registry/households/{household_id}"
        assert route_label({}, {}) == UNMATCHED

    @pytest.mark.parametrize(("method", "expected"), [("GET", Match.FULL), ("POST", Match.PARTIAL)])
    def test_a_labelled_route_names_itself_in_the_scope(self, method: str, expected: Match) -> None:
        async def endpoint(_: Request) -> Response:
            return Response()

        card = LabelledRoute("/households/{household_id:uuid}", endpoint, methods=["GET"])
        scope = {"type": "http", "method": method, "path": f"/households/{uuid.uuid4()}", "root_path": ""}
        match, child_scope = card.matches(scope)
        assert match is expected and child_scope["route"] is card  # a 405 is counted under the route too
        assert card.matches({**scope, "path": "/households/stats"})[0] is Match.NONE

    async def test_unknown_paths_stay_unmatched(
        self, labelled_stack: LabelledStack, signing_key: SigningKey
    ) -> None:
        gw = labelled_stack.gateway
        admin = auth(issue(signing_key, "county_admin", COUNTY))
        assert (await gw.get("/api/registry/regions", headers=admin)).status_code == 200  # learns the routes
        before = request_counts((await gw.get("/metrics")).text)
        assert (await gw.get("/api/registry/no/such/route", headers=admin)).status_code == 404
        assert (await gw.get("/api/nope/x", headers=admin)).status_code == 404
        assert (await gw.get("/no-such-gateway-route")).status_code == 404
        after = request_counts((await gw.get("/metrics")).text)
        unmatched = ("gateway", "GET", "unmatched", "404")
        assert after[unmatched] - before.get(unmatched, 0.0) == 3


class TestOpenAPI:
    async def test_merged_document_covers_every_service(self, live_gateway: httpx.AsyncClient) -> None:
        doc = (await live_gateway.get("/openapi.json")).json()
        docs_page = await live_gateway.get("/docs")
        assert {
            "/auth/token",
            "/users",
            "/.well-known/jwks.json",
            "/api/registry/regions/{code}",
            "/api/registry/regions",
            "/api/planning/me",
        } <= set(doc["paths"])
        assert "/api/registry/healthz" not in doc["paths"]
        assert "RegionPublic" in doc["components"]["schemas"]
        assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        refs = json.dumps(doc)
        for ref in {r.split('"')[0] for r in refs.split('"$ref": "#/components/schemas/')[1:]}:
            assert ref in doc["components"]["schemas"], ref
        assert docs_page.status_code == 200 and "/openapi.json" in docs_page.text

    async def test_document_survives_a_missing_service(self, gateway: httpx.AsyncClient) -> None:
        doc = (await gateway.get("/openapi.json")).json()
        assert "/auth/token" in doc["paths"]
        assert set(doc["x-jingzhun-unavailable"]) == {"registry", "planning", "assessment"}


class TestCors:
    async def test_configured_origin_gets_cors_headers(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        settings = gateway_settings.model_copy(update={"cors_origins": ["https://dash.example.org"]})
        async with running(create_gateway(settings, signing_key=signing_key)) as gw:
            preflight = await gw.options(
                "/auth/me",
                headers={
                    "Origin": "https://dash.example.org",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            other = await gw.options(
                "/auth/me",
                headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
            )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example.org"
        assert "access-control-allow-origin" not in other.headers

    async def test_preflight_allows_the_conditional_idempotent_and_language_headers(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        settings = gateway_settings.model_copy(update={"cors_origins": ["https://dash.example.org"]})
        asked = ["authorization", "if-none-match", "accept-language", "idempotency-key", "if-match"]
        async with running(create_gateway(settings, signing_key=signing_key)) as gw:
            preflight = await gw.options(
                "/api/registry/help-records/batch",
                headers={
                    "Origin": "https://dash.example.org",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": ", ".join(asked),
                },
            )
            refused = await gw.options(
                "/api/registry/households",
                headers={
                    "Origin": "https://dash.example.org",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "x-not-allowed",
                },
            )
        assert preflight.status_code == 200, preflight.text
        allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
        assert set(asked) <= allowed
        assert {h.lower() for h in CORS_ALLOW_HEADERS} <= allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert refused.status_code == 400

    async def test_answers_expose_the_headers_clients_read(
        self, gateway_settings: GatewaySettings, signing_key: SigningKey
    ) -> None:
        settings = gateway_settings.model_copy(update={"cors_origins": ["https://dash.example.org"]})
        async with running(create_gateway(settings, signing_key=signing_key)) as gw:
            response = await gw.get("/.well-known/jwks.json", headers={"Origin": "https://dash.example.org"})
        assert response.headers["access-control-allow-origin"] == "https://dash.example.org"
        exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
        assert {
            "ETag",
            "Location",
            "Idempotent-Replayed",
            "Retry-After",
            "X-Request-ID",
            "Content-Language",
        } <= exposed
        assert set(CORS_EXPOSE_HEADERS) == exposed

    def test_origins_parse_from_comma_separated_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
        assert GatewaySettings().cors_origins == ["https://a.example", "https://b.example"]


class TestSettingsSafety:
    def test_production_refuses_development_keys(self, tmp_path: Path) -> None:
        private = write_dev_keys(tmp_path / "keys")
        with pytest.raises(ValidationError, match="development keys"):
            GatewaySettings(
                environment="production", database_url="postgresql://db/x", jwt_private_key_file=private
            )
        with pytest.raises(ValidationError, match="development keys"):
            RegistrySettings(
                environment="production",
                database_url="postgresql://db/x",
                jwt_jwks_file=tmp_path / "keys" / "jwks.json",
            )

    def test_production_accepts_real_keys(self, tmp_path: Path) -> None:
        private = write_dev_keys(tmp_path / "keys")
        (tmp_path / "keys" / "DEVELOPMENT_KEYS_DO_NOT_USE_IN_PRODUCTION").unlink()
        settings = GatewaySettings(
            environment="production", database_url="postgresql://db/x", jwt_private_key_file=private
        )
        assert settings.production

    def test_production_requires_database_and_keys(self) -> None:
        with pytest.raises(ValidationError, match="DATABASE_URL"):
            AssessmentSettings(environment="production", jwt_jwks_url="http://gw/.well-known/jwks.json")
        with pytest.raises(ValidationError, match="JWKS"):
            AssessmentSettings(environment="production", database_url="postgresql://db/x")
        with pytest.raises(ValidationError, match="JWT_PRIVATE_KEY_FILE"):
            GatewaySettings(environment="production", database_url="postgresql://db/x")

    def test_production_refuses_wildcard_cors(self, tmp_path: Path) -> None:
        private = write_dev_keys(tmp_path / "keys")
        (tmp_path / "keys" / "DEVELOPMENT_KEYS_DO_NOT_USE_IN_PRODUCTION").unlink()
        with pytest.raises(ValidationError, match="CORS"):
            GatewaySettings(
                environment="production",
                database_url="postgresql://db/x",
                jwt_private_key_file=private,
                cors_origins=["*"],
            )

    def test_per_service_database_url_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://shared/db")
        monkeypatch.setenv("PLANNING_DATABASE_URL", "postgresql://own/planning")
        assert PlanningSettings().database_url == "postgresql://own/planning"
        assert RegistrySettings().database_url == "postgresql://shared/db"


class TestKeysFromTheGateway:
    async def test_service_fetches_jwks_from_the_gateway_url(
        self,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import shared.app

        monkeypatch.setattr(shared.app, "JWKS_RETRY_SECONDS", 0.05)
        gateway_app = create_gateway(gateway_settings, signing_key=signing_key)
        async with serve(gateway_app) as gw_url:
            settings = RegistrySettings(
                environment="test",
                database_url=db_urls["registry"],
                json_logs=False,
                jwt_jwks_url=f"{gw_url}/.well-known/jwks.json",
            )
            async with running(create_registry(settings)) as registry:
                token = issue(signing_key, "county_admin", "451025000000")
                assert (await registry.get("/me", headers=auth(token))).status_code == 200

    async def test_service_without_keys_is_not_ready_then_recovers(
        self,
        gateway_settings: GatewaySettings,
        signing_key: SigningKey,
        db_urls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        import shared.app

        monkeypatch.setattr(shared.app, "JWKS_RETRY_SECONDS", 0.05)
        sock = free_socket()  # reserve a port where the gateway will appear later
        port = sock.getsockname()[1]
        sock.close()
        settings = RegistrySettings(
            environment="test",
            database_url=db_urls["registry"],
            json_logs=False,
            jwt_jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json",
        )
        async with running(create_registry(settings)) as registry:
            body = assert_problem(await registry.get("/readyz"), 503)
            assert body["checks"]["keys"] == "no public keys loaded"
            token = issue(signing_key, "county_admin", "451025000000")
            assert_problem(await registry.get("/me", headers=auth(token)), 401)
            server = uvicorn.Server(
                uvicorn.Config(
                    create_gateway(gateway_settings, signing_key=signing_key),
                    host="127.0.0.1",
                    port=port,
                    log_level="warning",
                )
            )
            task = asyncio.create_task(server.serve())
            try:
                for _ in range(200):
                    if (await registry.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                assert (await registry.get("/me", headers=auth(token))).status_code == 200
            finally:
                server.should_exit = True
                await task

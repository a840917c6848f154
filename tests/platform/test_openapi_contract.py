"""The merged OpenAPI document is the contract (issue #10): typed bodies, one type per exact number, every error a
documented problem, the headers that apply, short operationIds, declared tags.

The document is the one the gateway serves at `/openapi.json`, built offline the same way scripts/contract.py
builds it: each process's `app.openapi()` (no server, no database), merged by `OpenAPIMerger.merge`. The last
class checks the `Problem` schema against problems the registry really answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from shared.jwt import KeySet, SigningKey
from shared.problems import PROBLEM_JSON
from shared.schemas import MONEY_PATTERN
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, headers_for

Operation = tuple[str, str, dict[str, Any]]

PROBLEM_REF = "#/components/schemas/Problem"
#: Operations anyone may call (no token).
PUBLIC = {
    ("POST", "/auth/token"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]{1,39}$")
_METHODS = ("get", "put", "post", "delete", "patch")
_UNTYPED: tuple[dict[str, Any], ...] = (
    {},
    {"type": "object"},
    {"type": "object", "additionalProperties": True},
)


def build_document() -> dict[str, Any]:
    """The merged document of the gateway and the three services, as the gateway serves it."""
    from gateway.main import create_app as create_gateway
    from gateway.openapi_merge import OpenAPIMerger
    from gateway.settings import GatewaySettings
    from services.assessment.main import create_app as create_assessment
    from services.assessment.settings import AssessmentSettings
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings
    from services.registry.main import create_app as create_registry
    from services.registry.settings import RegistrySettings

    url = "postgresql://nobody@127.0.0.1:9/none"  # never connected to: no lifespan runs
    keys = KeySet({"keys": []})
    common: dict[str, Any] = {"environment": "test", "database_url": url, "json_logs": False}
    services = {
        "registry": create_registry(RegistrySettings(**common), keyset=keys).openapi(),
        "planning": create_planning(PlanningSettings(**common), keyset=keys).openapi(),
        "assessment": create_assessment(AssessmentSettings(**common), keyset=keys).openapi(),
    }
    gateway = create_gateway(GatewaySettings(**common)).openapi()
    return OpenAPIMerger.merge(gateway, dict(services))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def operations(doc: dict[str, Any]) -> list[Operation]:
    return [
        (method.upper(), path, operation)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A `$ref` of the document, followed (to its target, or the node itself when it is none)."""
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = doc
        for part in parts:
            target = target[part]
        node = target
    return node


def walk(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of the document with its JSON Pointer."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


class TestBodies:
    def test_every_success_answer_has_a_typed_body(self, document: dict[str, Any]) -> None:
        untyped = []
        for method, path, operation in operations(document):
            successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
            assert successes, f"{method} {path} documents no success"
            for status, response in successes.items():
                if status == "204":
                    continue
                content = response.get("content") or {}
                if not content:
                    untyped.append(f"{method} {path} {status}: no body")
                for media, body in content.items():
                    if body.get("schema") in _UNTYPED:
                        untyped.append(f"{method} {path} {status} {media}: untyped")
        assert untyped == []

    def test_no_schema_is_a_number_or_a_string(self, document: dict[str, Any]) -> None:
        """Generated Kotlin and Java clients turn `anyOf: [number, string]` into empty classes."""
        mixed = [
            where
            for where, node in walk(document)
            for union in ("anyOf", "oneOf")
            if isinstance(node.get(union), list)
            and {"number", "integer"} & {str(s.get("type")) for s in node[union] if isinstance(s, dict)}
            and "string" in {s.get("type") for s in node[union] if isinstance(s, dict)}
        ]
        assert mixed == []

    def test_money_is_one_decimal_string_type(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        money = {
            f"{name}.{field}": prop
            for name, schema in schemas.items()
            for field, prop in schema.get("properties", {}).items()
            if field.endswith("_yuan") or field in {"wage", "net_income", "per_capita_net_income"}
        }
        assert len(money) > 10
        for where, prop in money.items():
            options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
            assert [p.get("type") for p in options] == ["string"], where
            assert options[0].get("pattern") == MONEY_PATTERN, where
        public = schemas["HelpRecordPublic"]["properties"]["money_yuan"]
        assert public["type"] == "string" and re.fullmatch(public["pattern"], "5200.00")

    def test_gps_is_a_number_with_bounds(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        for name in ("HelpRecordPublic", "HelpRecordCreate"):
            for field, bound in (("gps_lat", 90), ("gps_lon", 180)):
                prop = schemas[name]["properties"][field]
                (number,) = [p for p in prop["anyOf"] if p.get("type") != "null"]
                assert number["type"] == "number", (name, field)
                assert (number["minimum"], number["maximum"]) == (-bound, bound), (name, field)

    def test_fastapis_validation_error_is_gone(self, document: dict[str, Any]) -> None:
        schemas = document["components"]["schemas"]
        assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
        assert "Problem" in schemas and "FieldProblem" in schemas


class TestProblems:
    def test_every_error_is_a_problem(self, document: dict[str, Any]) -> None:
        wrong = []
        for method, path, operation in operations(document):
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = response.get("content") or {}
                if list(content) != [PROBLEM_JSON] or content[PROBLEM_JSON]["schema"] != {
                    "$ref": PROBLEM_REF
                }:
                    wrong.append(f"{method} {path} {status}")
                if not response.get("description"):
                    wrong.append(f"{method} {path} {status}: no description")
                if not {"Content-Language", "X-Request-ID"} <= set(response.get("headers", {})):
                    wrong.append(f"{method} {path} {status}: headers")
        assert wrong == []

    def test_every_operation_can_fail_with_500(self, document: dict[str, Any]) -> None:
        assert [f"{m} {p}" for m, p, op in operations(document) if "500" not in op["responses"]] == []

    def test_inputs_are_refused_with_422_and_records_with_404(self, document: dict[str, Any]) -> None:
        missing = []
        for method, path, operation in operations(document):
            if (operation.get("parameters") or operation.get("requestBody")) and "422" not in operation[
                "responses"
            ]:
                missing.append(f"{method} {path}: 422")
            if re.search(r"\{(household_id|record_id|user_id|unit_id|cadre_id|round_id)\}", path) and (
                "404" not in operation["responses"]
            ):
                missing.append(f"{method} {path}: 404")
        assert missing == []

    def test_authenticated_operations_document_401(self, document: dict[str, Any]) -> None:
        missing = [
            f"{m} {p}"
            for m, p, op in operations(document)
            if (m, p) not in PUBLIC and "401" not in op["responses"]
        ]
        assert missing == []

    def test_role_checks_document_403(self, document: dict[str, Any]) -> None:
        writes = [
            (m, p, op) for m, p, op in operations(document) if m != "GET" and p.startswith("/api/registry/")
        ]
        assert writes
        assert [f"{m} {p}" for m, p, op in writes if "403" not in op["responses"]] == []

    def test_proxied_operations_document_the_gateways_problems(self, document: dict[str, Any]) -> None:
        proxied = [(m, p, op) for m, p, op in operations(document) if p.startswith("/api/")]
        assert len(proxied) > 60
        for method, path, operation in proxied:
            responses = operation["responses"]
            assert {"401", "429", "502", "504"} <= set(responses), f"{method} {path}"
            assert "Retry-After" in responses["429"]["headers"], f"{method} {path}"
            assert "WWW-Authenticate" in responses["401"]["headers"], f"{method} {path}"


class TestHeaders:
    def test_every_201_documents_location(self, document: dict[str, Any]) -> None:
        created = [
            (m, p, op["responses"]["201"]) for m, p, op in operations(document) if "201" in op["responses"]
        ]
        assert len(created) >= 15
        missing = [f"{m} {p}" for m, p, response in created if "Location" not in response.get("headers", {})]
        assert missing == []
        assert document["components"]["headers"]["Location"]["required"] is True

    def test_versioned_answers_document_etag(self, document: dict[str, Any]) -> None:
        for method, path in (
            ("get", "/api/registry/households/{household_id}"),
            ("patch", "/api/registry/households/{household_id}"),
            ("get", "/api/registry/help-records/{record_id}"),
            ("get", "/api/registry/cadres/{cadre_id}"),
        ):
            assert "ETag" in document["paths"][path][method]["responses"]["200"]["headers"], path

    def test_if_match_is_a_documented_header(self, document: dict[str, Any]) -> None:
        operation = document["paths"]["/api/registry/households/{household_id}"]["patch"]
        names = [resolve(document, p)["name"] for p in operation["parameters"]]
        assert "If-Match" in names and "Idempotency-Key" in names

    def test_service_writes_take_an_idempotency_key_and_may_be_replayed(
        self, document: dict[str, Any]
    ) -> None:
        for method, path, operation in operations(document):
            refs = [p.get("$ref") for p in operation.get("parameters", [])]
            keyed = "#/components/parameters/IdempotencyKey" in refs
            service_write = (
                path.startswith(("/api/registry/", "/api/planning/", "/api/assessment/")) and method != "GET"
            )
            assert keyed == service_write, f"{method} {path}"
            if service_write:
                success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
                assert "Idempotent-Replayed" in success["headers"], f"{method} {path}"
                assert "Retry-After" in operation["responses"]["409"]["headers"], f"{method} {path}"

    def test_every_answer_documents_its_request_id(self, document: dict[str, Any]) -> None:
        missing = [
            f"{m} {p} {s}"
            for m, p, op in operations(document)
            for s, response in op["responses"].items()
            if "X-Request-ID" not in response.get("headers", {})
        ]
        assert missing == []

    def test_every_header_reference_resolves(self, document: dict[str, Any]) -> None:
        refs = {
            node["$ref"]
            for _, node in walk(document["paths"])
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/components/")
        }
        for ref in refs:
            resolve(document, {"$ref": ref})  # KeyError when it does not


class TestNames:
    def test_operation_ids_are_short_unique_camel_case(self, document: dict[str, Any]) -> None:
        ids = [op["operationId"] for _, _, op in operations(document)]
        assert [i for i in ids if not OPERATION_ID.match(i)] == []
        assert sorted({i for i in ids if ids.count(i) > 1}) == []
        for expected in (
            "listHouseholds",
            "getHousehold",
            "createHelpRecordBatch",
            "issueToken",
            "listUsers",
        ):
            assert expected in ids

    def test_only_a_shared_id_is_prefixed_with_its_service(self, document: dict[str, Any]) -> None:
        assert document["paths"]["/api/registry/me"]["get"]["operationId"] == "registryGetCaller"
        assert document["paths"]["/api/planning/me"]["get"]["operationId"] == "planningGetCaller"
        assert document["paths"]["/api/registry/households"]["get"]["operationId"] == "listHouseholds"

    def test_every_schema_is_used(self, document: dict[str, Any]) -> None:
        text = json.dumps(document)
        unused = [
            name for name in document["components"]["schemas"] if f'"#/components/schemas/{name}"' not in text
        ]
        assert unused == []

    def test_a_schema_pointing_at_a_renamed_schema_is_renamed_too(self) -> None:
        from gateway.openapi_merge import OpenAPIMerger

        def service(leaf: str) -> dict[str, Any]:
            return {
                "openapi": "3.1.0",
                "info": {"title": "s", "version": "1"},
                "paths": {
                    "/x": {
                        "get": {
                            "operationId": f"get{leaf}",
                            "responses": {
                                "200": {
                                    "description": "ok",
                                    "content": {
                                        "application/json": {"schema": {"$ref": "#/components/schemas/Outer"}}
                                    },
                                }
                            },
                        }
                    }
                },
                "components": {
                    "schemas": {
                        "Outer": {
                            "type": "object",
                            "properties": {"leaf": {"$ref": "#/components/schemas/Leaf"}},
                        },
                        "Leaf": {"type": "string", "enum": [leaf]},
                    }
                },
            }

        gateway = {"openapi": "3.1.0", "info": {"title": "g", "version": "1"}, "paths": {}, "components": {}}
        merged = OpenAPIMerger.merge(gateway, {"registry": service("a"), "planning": service("b")})
        schemas = merged["components"]["schemas"]
        assert schemas["Outer"]["properties"]["leaf"]["$ref"] == "#/components/schemas/Leaf"
        assert schemas["PlanningOuter"]["properties"]["leaf"]["$ref"] == "#/components/schemas/PlanningLeaf"
        assert schemas["Leaf"]["enum"] == ["a"] and schemas["PlanningLeaf"]["enum"] == ["b"]

    def test_every_tag_is_declared_with_a_description(self, document: dict[str, Any]) -> None:
        declared = {t["name"]: t.get("description") for t in document["tags"]}
        used = {tag for _, _, op in operations(document) for tag in op.get("tags", [])}
        assert used <= set(declared), sorted(used - set(declared))
        assert [name for name, description in declared.items() if not description] == []
        grouped = {tag for group in document["x-tagGroups"] for tag in group["tags"]}
        assert grouped == set(declared)

    def test_every_operation_has_a_summary_and_a_description(self, document: dict[str, Any]) -> None:
        bare = [
            f"{m} {p}"
            for m, p, op in operations(document)
            if not op.get("summary") or not op.get("description")
        ]
        assert bare == []

    def test_public_operations_need_no_token(self, document: dict[str, Any]) -> None:
        public = {(m, p) for m, p, op in operations(document) if op.get("security") == []}
        assert public == PUBLIC
        assert document["security"] == [{"bearer": []}, {"password": []}]
        assert set(document["components"]["securitySchemes"]) == {"bearer", "password"}

    def test_servers_contact_and_license(self, document: dict[str, Any]) -> None:
        assert [s["url"] for s in document["servers"]] == ["/"]
        assert document["info"]["contact"]["url"] and document["info"]["license"]["url"]
        assert document["paths"]["/api/registry/households"]  # the services are merged in
        assert "x-jingzhun-unavailable" not in document


@pytest.mark.usefixtures("seed_regions")
class TestProblemSchemaValidatesRealProblems:
    """The `Problem` schema of the document accepts the problems the registry answers."""

    @pytest.fixture
    def validator(self, document: dict[str, Any]) -> Draft202012Validator:
        root = {"$ref": PROBLEM_REF, "components": {"schemas": document["components"]["schemas"]}}
        return Draft202012Validator(root)

    @staticmethod
    def _problem(validator: Draft202012Validator, response: httpx.Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        body: dict[str, Any] = response.json()
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(body)]
        assert errors == []
        return body

    async def test_401(self, registry: httpx.AsyncClient, validator: Draft202012Validator) -> None:
        body = self._problem(validator, await registry.get("/households"), 401)
        assert body["instance"] == "/households"

    async def test_404(
        self, registry: httpx.AsyncClient, validator: Draft202012Validator, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        missing = "/households/00000000-0000-4000-8000-000000000000/help-plan"
        self._problem(validator, await registry.get(missing, headers=clerk), 404)

    async def test_409_with_its_code(
        self, registry: httpx.AsyncClient, validator: Draft202012Validator, signing_key: SigningKey
    ) -> None:
        admin = headers_for(signing_key, "county_admin", COUNTY)
        refused = await registry.put(f"/regions/{TOWNSHIP}/quotas/2026", json={"people": 10}, headers=admin)
        body = self._problem(validator, refused, 409)
        assert body["code"] == "parent_quota_missing"

    async def test_422_with_its_errors(
        self, registry: httpx.AsyncClient, validator: Draft202012Validator, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        body = self._problem(validator, await registry.post("/households", json={}, headers=clerk), 422)
        assert body["errors"] and all(e["pointer"].startswith("/") for e in body["errors"])
        query = await registry.get("/households?status=bogus", headers=clerk)
        (error,) = self._problem(validator, query, 422)["errors"]
        assert error["parameter"].startswith("status") and error["in"] == "query"

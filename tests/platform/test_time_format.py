"""One time format on the wire: RFC 3339 in UTC with `Z` (`2026-12-02T13:32:44.351080Z`), dates `YYYY-MM-DD`.

- The documents: every response schema of every process's OpenAPI document, and of the merged one, declares each
  time (`*_at`, `at`, `*_time`, or `format: date-time`) as a string of format date-time.
- The answers: tests/conftest.py checks every JSON body the in-process clients receive (tests/wire_format.py);
  the checker itself is tested here.
- The JSON PostgreSQL builds (shared/sql_json.py) writes a time exactly as pydantic does, whatever the session's
  TimeZone, so the card and the phone download read back through their models unchanged.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import TypeAdapter

from shared.clock import rfc3339
from shared.jwt import SigningKey
from shared.sql_json import rfc3339_sql
from tests.factories import VILLAGE, create_household, headers_for, sql
from tests.wire_format import check_time_format, is_wire_time, looks_like_a_time, wrong_times

DATETIME = TypeAdapter(datetime)

#: Property names that hold a time.
TIME_NAME = re.compile(r"^(at|.+_at|.+_time)$")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


# == the documents ===================================================================================================
def _documents() -> dict[str, dict[str, Any]]:
    """Each process's OpenAPI document, and the merged one, from the apps themselves (no server, no database)."""
    from gateway.main import create_app as create_gateway
    from gateway.openapi_merge import OpenAPIMerger
    from gateway.settings import GatewaySettings
    from services.assessment.main import create_app as create_assessment
    from services.assessment.settings import AssessmentSettings
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings
    from services.registry.main import create_app as create_registry
    from services.registry.settings import RegistrySettings

    quiet: dict[str, Any] = {"environment": "test", "json_logs": False, "log_level": "WARNING"}
    docs = {
        "gateway": create_gateway(GatewaySettings(**quiet)).openapi(),
        "registry": create_registry(RegistrySettings(**quiet)).openapi(),
        "planning": create_planning(PlanningSettings(**quiet)).openapi(),
        "assessment": create_assessment(AssessmentSettings(**quiet)).openapi(),
    }
    services: dict[str, dict[str, Any] | None] = {k: v for k, v in docs.items() if k != "gateway"}
    docs["merged"] = OpenAPIMerger.merge(docs["gateway"], services)
    return docs


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a schema other than null (`anyOf: [X, null]` is X)."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives is None:
        return [schema]
    return [b for alt in alternatives if alt.get("type") != "null" for b in _branches(alt)]


class _Walk:
    """Every property of every schema a response can carry, `$ref`s followed once each."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
        self.seen: set[str] = set()
        self.wrong: list[str] = []
        self.times = 0

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any] | None:
        ref = schema.get("$ref")
        if ref is None:
            return schema
        name = ref.rsplit("/", 1)[-1]
        if name in self.seen:
            return None
        self.seen.add(name)
        resolved: dict[str, Any] = self.schemas[name]
        return resolved

    def time_property(self, where: str, schema: dict[str, Any]) -> None:
        self.times += 1
        for branch in _branches(schema):
            target = self.schemas.get(branch["$ref"].rsplit("/", 1)[-1], {}) if "$ref" in branch else branch
            if target.get("type") != "string" or target.get("format") != "date-time":
                self.wrong.append(f"{where}: {schema}")

    def visit(self, schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        node = self.resolve(schema)
        if node is None:
            return
        if "$ref" in schema:
            where = schema["$ref"].rsplit("/", 1)[-1]
        for name, prop in (node.get("properties") or {}).items():
            if TIME_NAME.match(name) or any(b.get("format") == "date-time" for b in _branches(prop)):
                self.time_property(f"{where}.{name}", prop)
            self.visit(prop, f"{where}.{name}")
        for key in ("items", "additionalProperties", "not"):
            self.visit(node.get(key), f"{where}[]")
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for branch in node.get(key) or ():
                self.visit(branch, where)


def _response_schemas(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (f"{method.upper()} {path} {status}", media.get("schema"))
        for path, item in doc.get("paths", {}).items()
        for method, operation in item.items()
        if method in _METHODS and isinstance(operation, dict)
        for status, response in operation.get("responses", {}).items()
        for media in (response.get("content") or {}).values()
    ]


class TestTheDocuments:
    @pytest.mark.parametrize("process", ["gateway", "registry", "planning", "assessment", "merged"])
    def test_valid_every_time_is_a_date_time(
        self, process: str, documents: dict[str, dict[str, Any]]
    ) -> None:
        walk = _Walk(documents[process])
        for where, schema in _response_schemas(documents[process]):
            walk.visit(schema, where)
        assert walk.wrong == []
        # The walk reaches the times (created_at, at, device_time, …).
        assert walk.times >= {"gateway": 3, "registry": 20, "merged": 25}.get(process, 0)

    def test_invalid_the_walk_finds_a_time_that_is_not_one(self) -> None:
        doc = {
            "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/X"}}}}}}}},
            "components": {"schemas": {"X": {"type": "object", "properties": {
                "created_at": {"type": "string"},
                "at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
                "device_time": {"type": "integer"},
                "seen": {"type": "string", "format": "date-time"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/X"}},
            }}}},
        }  # fmt: skip
        walk = _Walk(doc)
        for where, schema in _response_schemas(doc):
            walk.visit(schema, where)
        assert [w.split(":")[0] for w in walk.wrong] == ["X.created_at", "X.device_time"]
        assert walk.times == 4


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return _documents()


# == the checker of the answers (tests/wire_format.py) ===============================================================
class TestTheChecker:
    @pytest.mark.parametrize(
        "text",
        [
            "2026-12-02T13:32:44.351080Z",
            "2026-12-02T13:32:44Z",
            "2026-12-02T00:00:00.000001Z",
        ],
    )
    def test_valid_wire_times(self, text: str) -> None:
        assert looks_like_a_time(text) and is_wire_time(text)

    @pytest.mark.parametrize(
        "text",
        [
            "2026-12-02T13:32:44.351080+00:00",  # PostgreSQL's (and isoformat's) offset
            "2026-12-02 13:32:44.351080+00:00",  # str(datetime): java.time.OffsetDateTime.parse refuses it
            "2026-12-02T13:32:44.35108Z",  # PostgreSQL's trimmed fraction
            "2026-12-02T13:32:44.351Z",
            "2026-12-02T21:32:44+08:00",
            "2026-12-02T13:32:44",  # no offset at all
            "2026-12-02T13:32",
            "2026-12-02T13:32:44.000000Z",  # pydantic writes none
            "20261202T133244Z",
        ],
    )
    def test_invalid_other_shapes(self, text: str) -> None:
        assert looks_like_a_time(text) and not is_wire_time(text)

    @pytest.mark.parametrize(
        "text",
        [
            "2026-12-02",  # a date
            "20261202",
            "2010-05",  # a birth year-month
            "451025100201",  # a region code
            "13907761234",
            "6228480123456789012",
            "5200.00",
            "2026-12-02 meeting with the village team",
            "第2026-12-02T13:32:44次",
            "",
            "Z",
        ],
    )
    def test_valid_not_times_at_all(self, text: str) -> None:
        assert not looks_like_a_time(text)

    def test_invalid_found_anywhere_with_its_pointer(self) -> None:
        body = {
            "items": [{"at": "2026-12-02T13:32:44Z", "n/x": [{"t": "2026-12-02 13:32:44+00:00"}]}],
            "next_cursor": None,
            "day": "2026-12-02",
        }
        assert list(wrong_times(body)) == [("/items/0/n~1x/0/t", "2026-12-02 13:32:44+00:00")]

    async def test_invalid_the_hook_fails_the_answer(self) -> None:
        request = httpx.Request("GET", "http://testserver/households/1")
        bad = httpx.Response(200, json={"created_at": "2026-12-02T13:32:44.351080+00:00"}, request=request)
        with pytest.raises(AssertionError, match="created_at"):
            await check_time_format(bad)
        problem = httpx.Response(
            409,
            content=b'{"earliest": "2026-12-02 13:32:44"}',
            headers={"content-type": "application/problem+json"},
            request=request,
        )
        with pytest.raises(AssertionError, match="earliest"):
            await check_time_format(problem)
        lines = b'{"at": "2026-12-02T13:32:44Z"}\n{"at": "2026-12-02T13:32:44+00:00"}\n'
        ndjson = httpx.Response(
            200, content=lines, headers={"content-type": "application/x-ndjson"}, request=request
        )
        with pytest.raises(AssertionError, match="/at"):
            await check_time_format(ndjson)

    async def test_valid_the_hook_passes_good_and_other_answers(self) -> None:
        request = httpx.Request("GET", "http://testserver/households/1")
        for response in (
            httpx.Response(
                200, json={"created_at": "2026-12-02T13:32:44Z", "on": "2026-12-02"}, request=request
            ),
            httpx.Response(200, text="2026-12-02 13:32:44+00:00", request=request),  # not JSON: not judged
            httpx.Response(304, request=request),
            httpx.Response(
                200, content=b"{not json", headers={"content-type": "application/json"}, request=request
            ),
        ):
            await check_time_format(response)


# == the JSON PostgreSQL builds ======================================================================================
MOMENTS = [
    datetime(2026, 12, 2, 13, 32, 44, 351080, tzinfo=UTC),
    datetime(2026, 12, 2, 13, 32, 44, tzinfo=UTC),  # no fraction: pydantic writes none
    datetime(2026, 12, 2, 13, 32, 44, 350000, tzinfo=UTC),  # trailing zeros: pydantic keeps six digits
    datetime(2026, 12, 2, 13, 32, 44, 1, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2000, 1, 1, 7, 5, 3, 40, tzinfo=timezone(timedelta(hours=8))),  # China time in, UTC out
]


class TestTheSqlHelper:
    @pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/Los_Angeles"])
    async def test_valid_postgres_writes_what_pydantic_writes(
        self, db_urls: dict[str, str], zone: str
    ) -> None:
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            await conn.execute(f"SET TIME ZONE '{zone}'")
            written = [await conn.fetchval(f"SELECT {rfc3339_sql('$1::timestamptz')}", m) for m in MOMENTS]
            null = await conn.fetchval(
                f"SELECT json_build_object('at', {rfc3339_sql('NULL::timestamptz')})::text"
            )
        finally:
            await conn.close()
        expected = [DATETIME.dump_json(m.astimezone(UTC)).decode().strip('"') for m in MOMENTS]
        assert written == expected == [rfc3339(m) for m in MOMENTS]
        assert all(is_wire_time(t) for t in written)
        assert [DATETIME.validate_json(f'"{t}"') for t in written] == MOMENTS
        assert null == '{"at" : null}'


@pytest.mark.usefixtures("seed_regions")
class TestTheCard:
    async def test_valid_times_with_and_without_a_fraction(
        self, registry: httpx.AsyncClient, db_urls: dict[str, str], signing_key: SigningKey
    ) -> None:
        from services.registry.households.schemas import HouseholdCard

        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        hid = await create_household(registry, clerk)
        await sql(
            db_urls,
            "UPDATE registry_household SET created_at = $2, updated_at = $3 WHERE id = $1",
            uuid.UUID(hid),
            MOMENTS[1],
            MOMENTS[2],
        )
        response = await registry.get(f"/households/{hid}", headers=clerk)
        assert response.status_code == 200, response.text
        card = response.json()
        assert card["created_at"] == "2026-12-02T13:32:44Z"
        assert card["updated_at"] == "2026-12-02T13:32:44.350000Z"
        model = HouseholdCard.model_validate_json(response.text)
        assert model.created_at == MOMENTS[1] and model.updated_at == MOMENTS[2]
        assert model.model_dump(mode="json", exclude_unset=True) == card

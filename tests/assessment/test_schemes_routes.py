"""Scheme routes (issue #12 "Schemes are data"): the metric catalogue, the JSON Schema, the templates, and schemes
with their lifecycle — each route in scope, out of scope (404), with a role that may not act (403), with bad input
(422 naming the indicator and the rule, nothing stored) and valid; publication, locking and versions. Real
PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from jsonschema import Draft202012Validator

from services.assessment.schemes.templates import TEMPLATES
from shared.jwt import SigningKey
from tests.assessment.conftest import GatewayHeaders
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_TOWNSHIP,
    PROVINCE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
)


@dataclass
class People:
    admin: Headers
    township: Headers
    other_township: Headers
    clerk: Headers
    cadre: Headers
    province: Headers
    other_province: Headers
    other_admin: Headers
    foreign_township: Headers


@pytest.fixture
def people(signing_key: SigningKey) -> People:
    return People(
        admin=headers_for(signing_key, "county_admin", COUNTY, "county-1"),
        township=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1"),
        other_township=headers_for(signing_key, "township_officer", OTHER_TOWNSHIP, "township-2"),
        clerk=headers_for(signing_key, "village_officer", VILLAGE, "clerk-1"),
        cadre=headers_for(signing_key, "cadre", COUNTY, "cadre-1"),
        province=headers_for(signing_key, "province_system", PROVINCE, "province-1"),
        other_province=headers_for(signing_key, "province_system", "440000000000", "province-2"),
        other_admin=headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-2"),
        foreign_township=headers_for(signing_key, "township_officer", OTHER_COUNTY_TOWNSHIP, "township-3"),
    )


def document(code: str = "B", **changes: Any) -> dict[str, Any]:
    """A template's scheme document as a county admin would send it."""
    body: dict[str, Any] = copy.deepcopy(TEMPLATES[code].document.model_dump(mode="json"))
    body.update(changes)
    return body


async def rows(db_urls: dict[str, str], statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["assessment"])
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def count(db_urls: dict[str, str], table: str) -> int:
    found = await rows(db_urls, f"SELECT count(*) FROM {table}")  # noqa: S608 - table names from the tests
    return int(found[0][0])


async def create(
    assessment: httpx.AsyncClient, headers: Headers, body: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    response = await assessment.post(
        "/schemes", json=body if body is not None or params else document(), headers=headers, params=params
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def published(assessment: httpx.AsyncClient, headers: Headers, **params: Any) -> dict[str, Any]:
    scheme = await create(assessment, headers, **params)
    response = await assessment.post(f"/schemes/{scheme['id']}/publication", headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def pointers(problem: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["pointer"], e["code"]) for e in problem["errors"]}


# -- the catalogue, the format, the templates ---------------------------------------------------------------------
class TestListMetrics:
    async def test_anonymous(self, assessment: httpx.AsyncClient) -> None:
        assert_problem(await assessment.get("/metric-catalogue"), 401)

    async def test_any_signed_in_caller_reads_the_catalogue(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        response = await assessment.get("/metric-catalogue", params={"limit": 500}, headers=people.cadre)
        assert response.status_code == 200, response.text
        items = {m["code"]: m for m in response.json()["items"]}
        assert items["poverty_incidence"] == {
            "code": "poverty_incidence",
            "label_zh": "贫困发生率",
            "label_en": "Poverty incidence",
            "unit": "percent",
            "direction": "lower_is_better",
            "source": "registry",
            "subject_types": ["village", "township"],
            "description": items["poverty_incidence"]["description"],
        }
        assert response.json()["next_cursor"] is None

    async def test_filters_and_pages(self, assessment: httpx.AsyncClient, people: People) -> None:
        cppcc = await assessment.get(
            "/metric-catalogue", params={"subject_type": "cppcc_unit"}, headers=people.admin
        )
        assert all("cppcc_unit" in m["subject_types"] for m in cppcc.json()["items"])
        assert "donations_fen" in {m["code"] for m in cppcc.json()["items"]}
        inspections = await assessment.get(
            "/metric-catalogue", params={"source": "inspection"}, headers=people.admin
        )
        assert {m["source"] for m in inspections.json()["items"]} == {"inspection"}
        first = await assessment.get("/metric-catalogue", params={"limit": 5}, headers=people.admin)
        second = await assessment.get(
            "/metric-catalogue",
            params={"limit": 5, "cursor": first.json()["next_cursor"]},
            headers=people.admin,
        )
        codes = [m["code"] for m in first.json()["items"] + second.json()["items"]]
        assert len(codes) == 10 and codes == sorted(codes)

    async def test_bad_input(self, assessment: httpx.AsyncClient, people: People) -> None:
        body = assert_problem(
            await assessment.get("/metric-catalogue?unit=percent", headers=people.admin), 400
        )
        assert body["code"] == "unknown_parameter"
        assert_problem(await assessment.get("/metric-catalogue?cursor=nonsense", headers=people.admin), 400)
        assert_problem(
            await assessment.get("/metric-catalogue?subject_type=county", headers=people.admin), 422
        )


class TestGetMetric:
    async def test_one_and_missing(self, assessment: httpx.AsyncClient, people: People) -> None:
        found = await assessment.get("/metric-catalogue/split_households_confirmed", headers=people.township)
        assert found.status_code == 200 and found.json()["source"] == "inspection"
        assert_problem(await assessment.get("/metric-catalogue/no_such_metric", headers=people.township), 404)


class TestJsonSchema:
    async def test_the_format_validates_the_templates(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        response = await assessment.get("/schemes/json-schema", headers=people.cadre)
        assert response.status_code == 200, response.text
        schema = response.json()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert "IndicatorSpec" in schema["$defs"] and schema["additionalProperties"] is False
        validator = Draft202012Validator(schema)
        for code in TEMPLATES:
            assert list(validator.iter_errors(document(code))) == [], code

    async def test_anonymous(self, assessment: httpx.AsyncClient) -> None:
        assert_problem(await assessment.get("/schemes/json-schema"), 401)


class TestTemplates:
    async def test_the_six_templates(self, assessment: httpx.AsyncClient, people: People) -> None:
        response = await assessment.get("/templates", headers=people.province)
        assert response.status_code == 200, response.text
        assert [(t["code"], t["subject_type"]) for t in response.json()["items"]] == [
            ("A", "household_exit"),
            ("B", "village"),
            ("C", "cadre"),
            ("D", "helping_unit"),
            ("E", "township"),
            ("F", "cppcc_unit"),
        ]

    async def test_one_template_whole(self, assessment: httpx.AsyncClient, people: People) -> None:
        response = await assessment.get("/templates/F", headers=people.admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["scheme"] == document("F")
        assert body["scheme"]["indicators"][0]["method"]["method"] == "embedded"
        assert body["scheme"]["commendations"][0]["min_fen"] == 5_000_000

    async def test_missing_and_malformed(self, assessment: httpx.AsyncClient, people: People) -> None:
        assert_problem(await assessment.get("/templates/Z", headers=people.admin), 404)
        assert_problem(await assessment.get("/templates/b", headers=people.admin), 422)


# -- creating ----------------------------------------------------------------------------------------------------
class TestCreateScheme:
    async def test_anonymous(self, assessment: httpx.AsyncClient) -> None:
        assert_problem(await assessment.post("/schemes", json=document()), 401)

    async def test_a_county_admin_drafts_a_scheme_of_their_county(
        self, assessment: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        response = await assessment.post("/schemes", json=document(year=2016), headers=people.admin)
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"/schemes/{body['id']}"
        assert response.headers["etag"] == '"1"'
        assert (body["status"], body["version"], body["revision"], body["region_code"]) == (
            "draft",
            1,
            1,
            COUNTY,
        )
        assert body["lineage_id"] == body["id"] and body["year"] == 2016 and body["template_code"] is None
        assert body["total_points"] == "100" and body["indicators"][0]["children"][0]["max_points"] == "15"
        assert "split_households_confirmed" in body["metrics"] and body["needs_peers"] is False
        assert body["created_at"].endswith("Z") and body["published_at"] is None
        audit = await rows(db_urls, "SELECT action, region_code, actor FROM assessment_audit_event")
        assert [tuple(r) for r in audit] == [("scheme.create", COUNTY, "county-1")]

    async def test_the_flat_rows_for_set_based_scoring(
        self, assessment: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        scheme = await create(assessment, people.admin, document("F"))
        sid = uuid.UUID(scheme["id"])
        found = {
            r["code"]: r
            for r in await rows(db_urls, "SELECT * FROM assessment_indicator WHERE scheme_id = $1", sid)
        }
        assert len(found) == 5 + 4
        assert (found["F1"]["method"], found["F1"]["inner_total"]) == ("embedded", 100)
        assert (found["P4"]["parent_code"], found["P4"]["level"], found["P4"]["metric"]) == (
            "F1",
            2,
            "donations_fen",
        )
        bands = await rows(
            db_urls,
            "SELECT bound, points FROM assessment_indicator_band WHERE scheme_id = $1 AND indicator_code = 'P4'"
            " ORDER BY position",
            sid,
        )
        assert [(int(b["bound"]), int(b["points"])) for b in bands] == [
            (20_000_000, 30),
            (5_000_000, 20),
            (1, 10),
        ]
        rules = await rows(
            db_urls, "SELECT kind, count(*) FROM assessment_scheme_rule GROUP BY kind ORDER BY kind"
        )
        assert [tuple(r) for r in rules] == [("commendation", 3), ("veto", 3)]
        assert await count(db_urls, "assessment_grade_band") == 4

    async def test_from_a_template(self, assessment: httpx.AsyncClient, people: People) -> None:
        response = await assessment.post("/schemes?template=B&year=2016", headers=people.admin)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["template_code"], body["year"], body["subject_type"]) == ("B", 2016, "village")
        assert body["indicators"] == document("B")["indicators"]
        this_year = await assessment.post("/schemes?template=C", headers=people.admin)
        assert this_year.status_code == 201 and this_year.json()["year"] >= 2026

    @pytest.mark.parametrize(
        ("query", "body", "code"),
        [
            ("?template=B", "document", "template_with_body"),
            ("?template=Z", None, "unknown_template"),
            ("", None, "scheme_required"),
            ("?year=2016", "document", "year_with_body"),
        ],
    )
    async def test_a_template_or_a_document(
        self,
        assessment: httpx.AsyncClient,
        people: People,
        db_urls: dict[str, str],
        query: str,
        body: Any,
        code: str,
    ) -> None:
        sent = document() if body == "document" else body
        response = await assessment.post(f"/schemes{query}", json=sent, headers=people.admin)
        assert assert_problem(response, 422)["code"] == code
        assert await count(db_urls, "assessment_scheme") == 0

    async def test_an_invalid_scheme_names_the_indicator_and_the_rule(
        self, assessment: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        body = document()
        body["indicators"][1]["children"][0]["max_points"] = "9"  # B2's children: 9 + 7 = 16, not 15
        body["indicators"][2]["children"][2]["metric"] = "visits_per_pairing"  # a cadre's figure
        body["indicators"][0]["children"][1]["method"]["unit"] = "people"  # incidence is a percentage
        response = await assessment.post("/schemes", json=body, headers=people.admin)
        problem = assert_problem(response, 422)
        assert problem["code"] == "scheme_invalid"
        assert pointers(problem) == {
            ("/indicators/1", "children_sum_mismatch"),
            ("/indicators/2/children/2/metric", "metric_subject_mismatch"),
            ("/indicators/0/children/1/method/unit", "unit_mismatch"),
        }
        messages = {e["code"]: e["message"] for e in problem["errors"]}
        assert "indicator B2 (收入增长)" in messages["children_sum_mismatch"]
        assert "indicator B3.3" in messages["metric_subject_mismatch"]
        assert (
            await count(db_urls, "assessment_scheme") == 0
            and await count(db_urls, "assessment_indicator") == 0
        )
        chinese = await assessment.post(
            "/schemes", json=body, headers=people.admin | {"Accept-Language": "zh-CN"}
        )
        assert assert_problem(chinese, 422)["code"] == "scheme_invalid"
        assert chinese.headers["content-language"] == "zh-CN" and len(chinese.json()["errors"]) == 3

    async def test_grade_bands_must_cover_the_scale(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        body = document()
        body["grades"][1]["min"] = "85"
        problem = assert_problem(await assessment.post("/schemes", json=body, headers=people.admin), 422)
        assert pointers(problem) == {("/grades/1/min", "grade_bands_gap")}

    async def test_a_malformed_method_points_into_the_body(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        body = document()
        del body["indicators"][0]["children"][1]["method"]["unit"]
        body["indicators"][0]["children"][0]["weight"] = 2
        problem = assert_problem(await assessment.post("/schemes", json=body, headers=people.admin), 422)
        assert pointers(problem) == {
            ("/indicators/0/children/1/method/unit", "missing"),  # no `threshold` segment: the body's pointer
            ("/indicators/0/children/0/weight", "extra_forbidden"),
        }
        body = document()
        body["indicators"][0]["children"][0]["method"] = {"method": "guess"}
        problem = assert_problem(await assessment.post("/schemes", json=body, headers=people.admin), 422)
        assert problem["errors"][0]["pointer"] == "/indicators/0/children/0/method"

    @pytest.mark.parametrize("who", ["township", "clerk", "cadre", "province"])
    async def test_only_county_admins_configure(
        self, assessment: httpx.AsyncClient, people: People, db_urls: dict[str, str], who: str
    ) -> None:
        response = await assessment.post("/schemes", json=document(), headers=getattr(people, who))
        assert_problem(response, 403)
        assert await count(db_urls, "assessment_scheme") == 0

    async def test_a_retry_with_the_same_idempotency_key_replays(
        self, assessment: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        headers = people.admin | {"Idempotency-Key": "scheme-1"}
        first = await assessment.post("/schemes?template=B&year=2016", headers=headers)
        again = await assessment.post("/schemes?template=B&year=2016", headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
        assert await count(db_urls, "assessment_scheme") == 1

    async def test_a_gateway_login_drafts_through_the_same_checks(
        self, assessment: httpx.AsyncClient, gateway_headers: GatewayHeaders
    ) -> None:
        admin = await gateway_headers("county_admin", COUNTY)
        created = await assessment.post("/schemes?template=E&year=2015", headers=admin)
        assert created.status_code == 201, created.text
        officer = await gateway_headers("township_officer", TOWNSHIP)
        assert (await assessment.get(f"/schemes/{created.json()['id']}", headers=officer)).status_code == 200
        assert_problem(await assessment.post("/schemes?template=E", headers=officer), 403)


# -- reading -----------------------------------------------------------------------------------------------------
class TestListSchemes:
    async def test_each_sees_their_county(self, assessment: httpx.AsyncClient, people: People) -> None:
        ours = await create(assessment, people.admin, template="B", year=2016)
        theirs = await create(assessment, people.other_admin, template="B", year=2016)

        async def ids(headers: Headers) -> set[str]:
            response = await assessment.get("/schemes", headers=headers)
            assert response.status_code == 200, response.text
            return {s["id"] for s in response.json()["items"]}

        assert await ids(people.admin) == {ours["id"]}
        assert await ids(people.township) == {ours["id"]}  # a township reads its county's schemes
        assert await ids(people.other_admin) == {theirs["id"]}
        assert await ids(people.foreign_township) == {theirs["id"]}
        assert await ids(people.province) == {ours["id"], theirs["id"]}
        assert await ids(people.other_province) == set()

    @pytest.mark.parametrize("who", ["clerk", "cadre"])
    async def test_cadres_and_village_officers_may_not(
        self, assessment: httpx.AsyncClient, people: People, who: str
    ) -> None:
        assert_problem(await assessment.get("/schemes", headers=getattr(people, who)), 403)

    async def test_filters_and_pages(self, assessment: httpx.AsyncClient, people: People) -> None:
        village = await create(assessment, people.admin, template="B", year=2016)
        cadre = await create(assessment, people.admin, template="C", year=2016)
        older = await create(assessment, people.admin, template="B", year=2015)
        await assessment.post(f"/schemes/{cadre['id']}/publication", headers=people.admin)

        async def ids(**params: Any) -> list[str]:
            response = await assessment.get("/schemes", params=params, headers=people.admin)
            assert response.status_code == 200, response.text
            return [s["id"] for s in response.json()["items"]]

        assert await ids(subject_type="cadre") == [cadre["id"]]
        assert await ids(year=2015) == [older["id"]]
        assert await ids(status="published") == [cadre["id"]]
        first = await assessment.get("/schemes", params={"limit": 2}, headers=people.admin)
        cursor = first.json()["next_cursor"]
        second = await assessment.get("/schemes", params={"limit": 2, "cursor": cursor}, headers=people.admin)
        assert [s["id"] for s in first.json()["items"]] == [cadre["id"], village["id"]]  # 2016, newest first
        assert [s["id"] for s in second.json()["items"]] == [older["id"]]
        assert second.json()["next_cursor"] is None
        assert_problem(await assessment.get("/schemes?cursor=abc", headers=people.admin), 400)


class TestGetScheme:
    async def test_in_and_out_of_scope(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}"
        for headers in (people.admin, people.township, people.province):
            response = await assessment.get(path, headers=headers)
            assert response.status_code == 200 and response.headers["etag"] == '"1"'
            assert response.json() == scheme
        for headers in (people.other_admin, people.foreign_township, people.other_province):
            assert_problem(await assessment.get(path, headers=headers), 404)
        for headers in (people.clerk, people.cadre):
            assert_problem(await assessment.get(path, headers=headers), 403)

    async def test_missing_malformed_and_not_modified(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        assert_problem(await assessment.get(f"/schemes/{uuid.uuid4()}", headers=people.admin), 404)
        assert_problem(await assessment.get("/schemes/not-a-uuid", headers=people.admin), 422)
        scheme = await create(assessment, people.admin)
        cached = await assessment.get(
            f"/schemes/{scheme['id']}", headers=people.admin | {"If-None-Match": '"1"'}
        )
        assert cached.status_code == 304 and cached.headers["etag"] == '"1"'


# -- editing -----------------------------------------------------------------------------------------------------
class TestUpdateScheme:
    async def test_a_draft_is_edited_with_if_match(
        self, assessment: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}"
        indicators = document()["indicators"]
        indicators[5]["children"] = indicators[5]["children"][:4]
        indicators[5]["children"][0]["max_points"] = "6"  # cards 6, the rest as before: 6 + 2 + 1 + 1 = 10
        response = await assessment.patch(
            path,
            json={"name": "2016年度贫困村考核方案", "indicators": indicators},
            headers=people.admin | {"If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["name"], body["revision"], response.headers["etag"]) == (
            "2016年度贫困村考核方案",
            2,
            '"2"',
        )
        assert body["vetoes"] == scheme["vetoes"]  # what was not sent stays
        assert await count(db_urls, "assessment_indicator") == 6 + 20
        actions = await rows(db_urls, "SELECT action FROM assessment_audit_event ORDER BY id")
        assert [r["action"] for r in actions] == ["scheme.create", "scheme.update"]

    async def test_if_match_missing_or_stale(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}"
        assert_problem(await assessment.patch(path, json={"name": "x"}, headers=people.admin), 428)
        stale = await assessment.patch(path, json={"name": "x"}, headers=people.admin | {"If-Match": '"7"'})
        assert assert_problem(stale, 412)["current_version"] == 1

    async def test_an_edit_that_breaks_a_rule_changes_nothing(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}"
        response = await assessment.patch(
            path, json={"total_points": "90"}, headers=people.admin | {"If-Match": '"1"'}
        )
        problem = assert_problem(response, 422)
        assert pointers(problem) >= {("/total_points", "total_mismatch")}
        nulled = await assessment.patch(path, json={"name": None}, headers=people.admin | {"If-Match": '"1"'})
        assert {e["pointer"] for e in assert_problem(nulled, 422)["errors"]} == {"/name"}
        unchanged = await assessment.get(path, headers=people.admin)
        assert unchanged.json() == scheme

    async def test_scope_and_role(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}"
        headers = {"If-Match": '"1"'}
        assert_problem(
            await assessment.patch(path, json={"name": "x"}, headers=people.other_admin | headers), 404
        )
        assert_problem(
            await assessment.patch(path, json={"name": "x"}, headers=people.township | headers), 403
        )
        assert_problem(
            await assessment.patch(path, json={"name": "x"}, headers=people.province | headers), 403
        )

    async def test_a_published_scheme_is_never_edited(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        scheme = await published(assessment, people.admin)
        response = await assessment.patch(
            f"/schemes/{scheme['id']}", json={"name": "x"}, headers=people.admin | {"If-Match": '"2"'}
        )
        assert assert_problem(response, 409)["code"] == "scheme_not_draft"


# -- the lifecycle -----------------------------------------------------------------------------------------------
class TestPublishScheme:
    async def test_publish_once(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}/publication"
        response = await assessment.post(path, headers=people.admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["published_by"], body["revision"]) == ("published", "county-1", 2)
        assert body["published_at"].endswith("Z") and response.headers["etag"] == '"2"'
        assert (
            assert_problem(await assessment.post(path, headers=people.admin), 409)["code"]
            == "scheme_not_draft"
        )

    async def test_scope_and_role(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await create(assessment, people.admin)
        path = f"/schemes/{scheme['id']}/publication"
        assert_problem(await assessment.post(path, headers=people.other_admin), 404)
        assert_problem(await assessment.post(path, headers=people.township), 403)
        assert_problem(
            await assessment.post(f"/schemes/{uuid.uuid4()}/publication", headers=people.admin), 404
        )


class TestLockScheme:
    async def test_a_published_scheme_is_locked(self, assessment: httpx.AsyncClient, people: People) -> None:
        draft = await create(assessment, people.admin)
        refused = await assessment.post(f"/schemes/{draft['id']}/lock", headers=people.admin)
        assert assert_problem(refused, 409)["code"] == "scheme_not_published"
        scheme = await published(assessment, people.admin)
        path = f"/schemes/{scheme['id']}/lock"
        response = await assessment.post(path, headers=people.admin)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["locked_by"]) == ("locked", "county-1")
        assert (
            assert_problem(await assessment.post(path, headers=people.admin), 409)["code"]
            == "scheme_not_published"
        )

    async def test_scope_and_role(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await published(assessment, people.admin)
        path = f"/schemes/{scheme['id']}/lock"
        assert_problem(await assessment.post(path, headers=people.other_admin), 404)
        assert_problem(await assessment.post(path, headers=people.province), 403)


class TestCreateSchemeVersion:
    async def test_a_new_draft_from_a_published_version(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        v1 = await published(assessment, people.admin, template="B", year=2016)
        response = await assessment.post(f"/schemes/{v1['id']}/versions", headers=people.admin)
        assert response.status_code == 201, response.text
        v2 = response.json()
        assert response.headers["location"] == f"/schemes/{v2['id']}"
        assert (v2["version"], v2["status"], v2["lineage_id"], v2["supersedes"]) == (
            2,
            "draft",
            v1["id"],
            v1["id"],
        )
        assert v2["indicators"] == v1["indicators"] and v2["template_code"] == "B"
        # the old one stays readable and in force until the new one is published
        old = await assessment.get(f"/schemes/{v1['id']}", headers=people.admin)
        assert (old.json()["status"], old.json()["superseded_by"]) == ("published", None)
        again = await assessment.post(f"/schemes/{v1['id']}/versions", headers=people.admin)
        assert assert_problem(again, 409)["code"] == "draft_open"
        draft = await assessment.post(f"/schemes/{v2['id']}/versions", headers=people.admin)
        assert assert_problem(draft, 409)["code"] == "scheme_not_published"
        # publishing the new version supersedes the old one
        await assessment.patch(
            f"/schemes/{v2['id']}", json={"name": "修订版"}, headers=people.admin | {"If-Match": '"1"'}
        )
        assert (
            await assessment.post(f"/schemes/{v2['id']}/publication", headers=people.admin)
        ).status_code == 200
        old = await assessment.get(f"/schemes/{v1['id']}", headers=people.admin)
        assert (old.json()["status"], old.json()["superseded_by"], old.json()["name"]) == (
            "published",
            v2["id"],
            v1["name"],
        )
        versions = await assessment.get(f"/schemes/{v2['id']}/versions", headers=people.township)
        assert [(s["version"], s["status"]) for s in versions.json()["items"]] == [
            (1, "published"),
            (2, "published"),
        ]

    async def test_a_locked_scheme_gets_no_new_version(
        self, assessment: httpx.AsyncClient, people: People
    ) -> None:
        scheme = await published(assessment, people.admin)
        await assessment.post(f"/schemes/{scheme['id']}/lock", headers=people.admin)
        refused = await assessment.post(f"/schemes/{scheme['id']}/versions", headers=people.admin)
        assert assert_problem(refused, 409)["code"] == "scheme_locked"

    async def test_scope_and_role(self, assessment: httpx.AsyncClient, people: People) -> None:
        scheme = await published(assessment, people.admin)
        path = f"/schemes/{scheme['id']}/versions"
        assert_problem(await assessment.post(path, headers=people.other_admin), 404)
        assert_problem(await assessment.post(path, headers=people.township), 403)


class TestListSchemeVersions:
    async def test_scope_role_and_pages(self, assessment: httpx.AsyncClient, people: People) -> None:
        v1 = await published(assessment, people.admin)
        await assessment.post(f"/schemes/{v1['id']}/versions", headers=people.admin)
        path = f"/schemes/{v1['id']}/versions"
        first = await assessment.get(path, params={"limit": 1}, headers=people.province)
        assert [s["version"] for s in first.json()["items"]] == [1]
        rest = await assessment.get(
            path, params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=people.province
        )
        assert [s["version"] for s in rest.json()["items"]] == [2] and rest.json()["next_cursor"] is None
        assert_problem(await assessment.get(path, headers=people.other_admin), 404)
        assert_problem(await assessment.get(path, headers=people.cadre), 403)

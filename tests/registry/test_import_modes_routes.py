"""Import modes (issue #13 item 2): an ordinary bulk import brings candidates only; an already-registered history
comes in as an explicit county-level migration that names its source document, counts against the village quotas
of its quota year (all or nothing) and shows as such on every card. The pure rules are checked first."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.registry.demo import DEMO_SOURCE_DOCUMENT, load_demo_households
from services.registry.household_import import domain
from services.registry.household_import.domain import ImportMode
from shared.errors import Invalid, Refused
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    auth,
    count_rows,
    headers_for,
    household_payload,
    issue,
    sql,
)

NDJSON = {"Content-Type": "application/x-ndjson"}
DOCUMENT = "桂开办[2014]12号"
MIGRATION = {"mode": "migration", "source_document": DOCUMENT}


def _ndjson(*lines: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode()


# == the rules, with no database ===================================================================================
class TestModeRules:
    def test_a_migration_names_its_source_document(self) -> None:
        with pytest.raises(Invalid) as exc:
            domain.check_mode(ImportMode.migration, "  ")
        assert exc.value.code == "source_document_required"
        assert domain.check_mode(ImportMode.migration, f" {DOCUMENT} ") == DOCUMENT

    def test_an_ordinary_import_has_no_source_document(self) -> None:
        assert domain.check_mode(ImportMode.registration, None) is None
        with pytest.raises(Invalid) as exc:
            domain.check_mode(ImportMode.registration, DOCUMENT)
        assert exc.value.code == "source_document_without_migration"

    def test_only_a_migration_imports_registered_households(self) -> None:
        assert domain.status_problem(ImportMode.registration, "candidate") is None
        problem = domain.status_problem(ImportMode.registration, "registered")
        assert problem is not None and problem[0] == "registered_requires_migration"
        assert domain.status_problem(ImportMode.migration, "registered") is None

    def test_quotas_refuse_every_village_over_them(self) -> None:
        within = domain.QuotaUse(VILLAGE, 2014, quota=8, used=4, importing=4, lines=(1,))
        over = domain.QuotaUse(SIBLING_VILLAGE, 2014, quota=4, used=0, importing=8, lines=(2, 3))
        unset = domain.QuotaUse(TOWNSHIP, 2014, quota=None, used=0, importing=99, lines=(4,))
        domain.check_quotas([within, unset])
        with pytest.raises(Refused) as exc:
            domain.check_quotas([within, over, unset])
        assert exc.value.code == "quota_exceeded"
        assert exc.value.details["rows"] == [
            {
                "village_code": SIBLING_VILLAGE,
                "year": 2014,
                "quota": 4,
                "used": 0,
                "importing": 8,
                "lines": [2, 3],
            }
        ]

    def test_checked_rows_are_limited_per_hour(self) -> None:
        now = datetime(2026, 3, 1, 10, tzinfo=UTC)
        oldest = now - timedelta(minutes=50)
        assert domain.check_retry_after(0, 10, 10, None, now, dry_run=True) is None
        assert domain.check_retry_after(5, 6, 10, oldest, now, dry_run=True) == 601
        assert domain.check_retry_after(0, 11, 10, None, now, dry_run=True) == 3600
        # An import that would write is refused only once the hour's checks are used up.
        assert domain.check_retry_after(5, 600, 10, oldest, now, dry_run=False) is None
        assert domain.check_retry_after(10, 1, 10, oldest, now, dry_run=False) == 601


# == the route =====================================================================================================
pytestmark_routes = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "county_admin", COUNTY, sub="county-1"), **NDJSON)


async def _set_quota(registry: httpx.AsyncClient, signing_key: SigningKey, village_people: int) -> None:
    county = headers_for(signing_key, "county_admin", COUNTY, "county-1")
    township = headers_for(signing_key, "township_officer", TOWNSHIP, "township-1")
    for code, who, people in (
        (COUNTY, county, 100),
        (TOWNSHIP, county, 50),
        (VILLAGE, township, village_people),
    ):
        response = await registry.put(f"/regions/{code}/quotas/2014", json={"people": people}, headers=who)
        assert response.status_code == 200, response.text


@pytestmark_routes
class TestOrdinaryImport:
    async def test_a_registered_line_is_refused_and_nothing_written(
        self, registry: httpx.AsyncClient, admin: Headers, db_urls: dict[str, str]
    ) -> None:
        body = _ndjson(household_payload(VILLAGE), household_payload(VILLAGE, status="registered"))
        problem = assert_problem(await registry.post("/households/import", content=body, headers=admin), 422)
        assert problem["code"] == "import_invalid"
        assert [(e["line"], e["pointer"], e["code"]) for e in problem["errors"]] == [
            (2, "/status", "registered_requires_migration")
        ]
        assert await count_rows(db_urls, "registry_household") == 0

    async def test_candidates_come_in_without_an_import_mark(
        self, registry: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await registry.post(
            "/households/import", content=_ndjson(household_payload()), headers=admin
        )
        assert response.status_code == 200, response.text
        assert (response.json()["mode"], response.json()["registered"]) == ("registration", 0)
        listed = (await registry.get("/households", headers=admin)).json()["items"]
        card = (await registry.get(f"/households/{listed[0]['id']}", headers=admin)).json()
        assert card["status"] == "candidate" and card["imported"] is None and card["workflow"] == []

    async def test_source_document_belongs_to_a_migration(
        self, registry: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await registry.post(
            "/households/import",
            params={"source_document": DOCUMENT},
            content=_ndjson(household_payload()),
            headers=admin,
        )
        assert assert_problem(response, 422)["code"] == "source_document_without_migration"


@pytestmark_routes
class TestMigration:
    @pytest.mark.parametrize("role", ["township_officer", "village_officer", "cadre"])
    async def test_wrong_role(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, role: str, db_urls: dict[str, str]
    ) -> None:
        region = {"township_officer": TOWNSHIP, "village_officer": VILLAGE, "cadre": COUNTY}[role]
        headers = auth(issue(signing_key, role, region), **NDJSON)
        body = _ndjson(household_payload(status="registered"))
        response = await registry.post("/households/import", params=MIGRATION, content=body, headers=headers)
        assert_problem(response, 403)
        assert await count_rows(db_urls, "registry_household") == 0

    async def test_source_document_required(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        body = _ndjson(household_payload(status="registered"))
        response = await registry.post(
            "/households/import", params={"mode": "migration"}, content=body, headers=admin
        )
        problem = assert_problem(response, 422)
        assert problem["code"] == "source_document_required"

    async def test_over_the_village_quota_nothing_is_imported(
        self,
        registry: httpx.AsyncClient,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        """The issue's case: 8 people against a quota of 4."""
        await _set_quota(registry, signing_key, 4)
        body = _ndjson(
            household_payload(VILLAGE, size=4, status="registered"),
            household_payload(SIBLING_VILLAGE, size=3),  # a candidate: not counted
            household_payload(VILLAGE, size=4, status="registered"),
        )
        for dry_run in ("true", "false"):
            response = await registry.post(
                "/households/import", params={**MIGRATION, "dry_run": dry_run}, content=body, headers=admin
            )
            problem = assert_problem(response, 409)
            assert problem["code"] == "quota_exceeded"
            assert problem["rows"] == [
                {
                    "village_code": VILLAGE,
                    "year": 2014,
                    "quota": 4,
                    "used": 0,
                    "importing": 8,
                    "lines": [1, 3],
                }
            ]
        assert await count_rows(db_urls, "registry_household") == 0
        assert await count_rows(db_urls, "registry_workflow_event") == 0

    async def test_people_already_counted_count(
        self,
        registry: httpx.AsyncClient,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        await _set_quota(registry, signing_key, 6)
        first = _ndjson(household_payload(VILLAGE, size=4, status="registered"))
        response = await registry.post("/households/import", params=MIGRATION, content=first, headers=admin)
        assert response.status_code == 200, response.text
        second = _ndjson(household_payload(VILLAGE, size=3, status="registered"))
        problem = assert_problem(
            await registry.post("/households/import", params=MIGRATION, content=second, headers=admin), 409
        )
        assert problem["rows"][0]["used"] == 4 and problem["rows"][0]["importing"] == 3
        assert await count_rows(db_urls, "registry_household") == 1

    async def test_valid_the_card_shows_the_migration(
        self,
        registry: httpx.AsyncClient,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        await _set_quota(registry, signing_key, 4)
        body = _ndjson(household_payload(VILLAGE, size=4, status="registered"))
        response = await registry.post("/households/import", params=MIGRATION, content=body, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["mode"] == "migration" and response.json()["source_document"] == DOCUMENT
        listed = (await registry.get("/households", headers=admin)).json()["items"]
        card = (await registry.get(f"/households/{listed[0]['id']}", headers=admin)).json()
        assert card["status"] == "registered"
        imported = card["imported"]
        assert (imported["mode"], imported["source_document"], imported["by"]) == (
            "migration",
            DOCUMENT,
            "county-1",
        )
        assert imported["at"] == card["workflow"][0]["at"]
        assert card["workflow"][0]["data"] == {
            "source": "bulk",
            "mode": "migration",
            "source_document": DOCUMENT,
        }
        # The village officer sees it on the card too, and the audit entry names the mode and the document.
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        seen = (await registry.get(f"/households/{listed[0]['id']}", headers=clerk)).json()
        assert seen["imported"] == imported
        rows = await sql(
            db_urls, "SELECT detail FROM registry_audit_event WHERE action = 'household.bulk_register'"
        )
        detail = json.loads(rows[0]["detail"]) if isinstance(rows[0]["detail"], str) else rows[0]["detail"]
        assert (detail["mode"], detail["source_document"]) == ("migration", DOCUMENT)


@pytestmark_routes
class TestDemo:
    async def test_the_demo_loads_through_the_migration(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        admin = auth(issue(signing_key, "county_admin", COUNTY))
        cadre = auth(issue(signing_key, "cadre", COUNTY, sub=str(uuid.uuid4())))
        loaded = await load_demo_households(registry, admin=admin, cadre=cadre)
        card = (await registry.get(f"/households/{loaded['paired'][0]}", headers=admin)).json()
        assert card["imported"]["mode"] == "migration"
        assert card["imported"]["source_document"] == DEMO_SOURCE_DOCUMENT

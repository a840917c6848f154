"""Household routes (issue #3): one class per route, against the real registry app and PostgreSQL.

Every write is checked for what it must refuse as well as what it must do; refusals are problem+json and change
nothing. The list, search, keyset pages, field selection and statistics get the households they need through
`POST /households`, then set the statuses, incomes and timestamps directly in the table (the workflow and the
income computation have their own tests), so each case states exactly what it expects to find.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter

from services.registry.households.fast import card_route
from services.registry.households.schemas import LIST_FIELDS, HouseholdCard, HouseholdListItem
from shared.jwt import SigningKey
from shared.pagination import Page
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    count_rows,
    create_household,
    household_payload,
    issue,
    pair,
    put_population,
    registered_household,
    sql,
    unit_and_cadres,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

Headers = dict[str, str]
Payload = dict[str, Any]


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-jiuzhou"))


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "township_officer", TOWNSHIP, sub="officer-xinjing"))


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "county_admin", COUNTY, sub="admin-jingxi"))


# -- helpers ------------------------------------------------------------------------------------------------
async def create_raw(registry: httpx.AsyncClient, headers: Headers, payload: Payload) -> tuple[str, str]:
    response = await registry.post("/households", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.headers["etag"]


async def create(registry: httpx.AsyncClient, headers: Headers, **kw: Any) -> tuple[str, str]:
    return await create_raw(registry, headers, household_payload(**kw))


SETTABLE = frozenset({"status", "objection_open", "returned", "per_capita_net_income", "updated_at"})


async def set_columns(db_urls: dict[str, str], hid: str, **columns: Any) -> None:
    """Put a household in the state a test needs (status, income, ...) without walking the workflow."""
    assert set(columns) <= SETTABLE, columns
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await sql(
        db_urls,
        f"UPDATE registry_household SET {assignments} WHERE id = $1",  # noqa: S608 - names from SETTABLE
        uuid.UUID(hid),
        *columns.values(),
    )


async def ids(
    registry: httpx.AsyncClient, headers: Headers, params: dict[str, Any] | list[tuple[str, Any]]
) -> set[str]:
    response = await registry.get("/households", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None, body
    return {item["id"] for item in body["items"]}


async def all_pages(
    registry: httpx.AsyncClient, headers: Headers, params: dict[str, Any], limit: int = 7
) -> tuple[list[str], list[int]]:
    """Follow next_cursor to the end; the ids in the order served and the size of every page."""
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(50):
        query = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await registry.get("/households", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        sizes.append(len(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, sizes
    raise AssertionError("pagination did not end")


def make_cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str) -> list[Any]:
    parts: list[Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return parts


def card_tag(response: httpx.Response, version: int) -> bool:
    """The card's ETag: its version and the digest of its JSON (shared/etag.py `representation_etag`)."""
    return re.fullmatch(f'"{version}-[0-9a-f]{{16}}"', response.headers["etag"]) is not None


async def card_of(registry: httpx.AsyncClient, headers: Headers, hid: str) -> dict[str, Any]:
    response = await registry.get(f"/households/{hid}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# == POST /households ========================================================================================
def _wrong_check_character(p: Payload) -> None:
    # A check character that is certainly wrong.
    number = p["members"][0]["resident_id_number"]
    p["members"][0]["resident_id_number"] = number[:17] + ("1" if number[17] == "0" else "0")


INVALID_HOUSEHOLDS: list[tuple[Callable[[Payload], object], str]] = [
    (_wrong_check_character, "resident_id_number"),
    (lambda p: p["members"][1].__setitem__("relation", "head"), "head"),
    (lambda p: p["members"][0].__setitem__("relation", "spouse"), "head"),
    (lambda p: p.__setitem__("household_size", 9), "household_size"),
    (lambda p: p.__setitem__("per_capita_net_income", "9999.00"), "per_capita_net_income"),
    (lambda p: p.__setitem__("village_code", TOWNSHIP), "village"),
    (lambda p: p["members"][0].pop("resident_id_number"), "resident_id_number"),
    (lambda p: p.__setitem__("poverty_cause_primary", "laziness"), "poverty_cause_primary"),
]


class TestCreateHousehold:
    async def test_anonymous(self, registry: httpx.AsyncClient, db_urls: dict[str, str]) -> None:
        assert_problem(await registry.post("/households", json=household_payload()), 401)
        assert await count_rows(db_urls, "registry_household") == 0

    @pytest.mark.parametrize(("role", "region"), [("cadre", COUNTY), ("province_system", "450000000000")])
    async def test_wrong_role(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        db_urls: dict[str, str],
        role: str,
        region: str,
    ) -> None:
        headers = auth(issue(signing_key, role, region))
        assert_problem(await registry.post("/households", json=household_payload(), headers=headers), 403)
        assert await count_rows(db_urls, "registry_household") == 0

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        assert_problem(
            await registry.post("/households", json=household_payload(OTHER_VILLAGE), headers=clerk), 404
        )
        assert await count_rows(db_urls, "registry_household") == 0

    @pytest.mark.parametrize(("mutate", "pointer"), INVALID_HOUSEHOLDS)
    async def test_invalid(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        db_urls: dict[str, str],
        mutate: Callable[[Payload], object],
        pointer: str,
    ) -> None:
        payload = household_payload()
        mutate(payload)
        response = await registry.post("/households", json=payload, headers=clerk)
        body = assert_problem(response, 422)
        assert pointer in response.text, body
        assert await count_rows(db_urls, "registry_household") == 0
        assert await count_rows(db_urls, "registry_member") == 0

    async def test_invalid_region_that_does_not_exist(
        self, registry: httpx.AsyncClient, admin: Headers, db_urls: dict[str, str]
    ) -> None:
        body = assert_problem(
            await registry.post("/households", json=household_payload("451025100299"), headers=admin), 422
        )
        assert body["code"] == "region_unknown" and body["field"] == "/village_code"
        assert await count_rows(db_urls, "registry_household") == 0

    async def test_invalid_birth_in_the_future(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        payload = household_payload()
        payload["members"][2]["birth_year_month"] = "2099-01"
        payload["members"][2].pop("resident_id_number")
        payload["members"][2]["no_id_reason"] = "unborn?"
        assert_problem(await registry.post("/households", json=payload, headers=clerk), 422)

    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        payload = household_payload()
        plain_id = payload["members"][0]["resident_id_number"]
        response = await registry.post("/households", json=payload, headers=clerk)
        assert response.status_code == 201, response.text
        hid = response.json()["id"]
        assert response.json() == {"id": hid, "version": 1}
        assert response.headers["etag"] == '"1"' and response.headers["location"] == f"/households/{hid}"
        card = await registry.get(f"/households/{hid}", headers=clerk)
        assert card.status_code == 200 and card_tag(card, 1)
        body = card.json()
        assert body["status"] == "candidate" and body["village_name"] == "旧州村"
        assert (body["household_size"], body["labor_count"], body["has_labor_capacity"]) == (3, 1, True)
        assert body["head_name"] == "黄志强" and body["members"][0]["relation"] == "head"
        head = body["members"][0]
        assert head["resident_id_number"] == plain_id[:6] + "********" + plain_id[-4:]
        assert head["phone"] == "*******1234" and body["contact_phone"] == "*******1234"
        assert body["bank_account"].endswith("9012") and "6228" not in body["bank_account"]
        assert plain_id not in card.text and "13907761234" not in card.text
        assert "id_number_enc" not in card.text and "phone_enc" not in card.text
        assert body["details"]["housing"]["needs_renovation"] is False
        assert body["workflow"] == [] and body["pairings"] == []

    async def test_valid_id_numbers_are_encrypted_at_rest(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        payload = household_payload()
        plain_id = payload["members"][0]["resident_id_number"]
        assert (await registry.post("/households", json=payload, headers=clerk)).status_code == 201
        dump = (await sql(db_urls, "SELECT string_agg(t::text, ' ') FROM registry_member t"))[0][0]
        hh = (await sql(db_urls, "SELECT string_agg(t::text, ' ') FROM registry_household t"))[0][0]
        assert plain_id not in dump and "13907761234" not in dump and "13907761234" not in hh

    async def test_valid_infant_without_id_number_is_flagged(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        payload = household_payload()
        payload["members"][2].pop("resident_id_number")
        payload["members"][2]["no_id_reason"] = "infant, ID not yet issued"
        hid, _ = await create_raw(registry, clerk, payload)
        card = await card_of(registry, clerk, hid)
        assert "no_id_number" in card["flags"]

    async def test_one_person_one_household(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str], signing_key: SigningKey
    ) -> None:
        first = household_payload()
        await create_raw(registry, clerk, first)
        second = household_payload()
        second["members"][1]["resident_id_number"] = first["members"][1]["resident_id_number"]
        response = await registry.post("/households", json=second, headers=clerk)
        body = assert_problem(response, 409, "already an active member")
        assert body["code"] == "person_already_member"
        # Not even in another township, by another officer.
        other = auth(issue(signing_key, "village_officer", OTHER_VILLAGE))
        third = household_payload(OTHER_VILLAGE)
        third["members"][0]["resident_id_number"] = first["members"][0]["resident_id_number"].lower()
        assert_problem(await registry.post("/households", json=third, headers=other), 409)
        assert await count_rows(db_urls, "registry_household") == 1


# == GET /households/{household_id} (the fast path, and the documented route) ================================
class TestGetHousehold:
    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, _ = await create(registry, clerk)
        assert_problem(await registry.get(f"/households/{hid}"), 401)

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, _ = await create(registry, clerk)
        assert_problem(await registry.get("/households/not-a-uuid", headers=clerk), 422)
        assert_problem(await registry.get(f"/households/{hid}?unmask=maybe", headers=clerk), 422)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, signing_key: SigningKey
    ) -> None:
        hid, _ = await create(registry, clerk)
        sibling = auth(issue(signing_key, "village_officer", SIBLING_VILLAGE))
        hidden = assert_problem(await registry.get(f"/households/{hid}", headers=sibling), 404)
        missing = assert_problem(await registry.get(f"/households/{uuid.uuid4()}", headers=sibling), 404)
        assert hidden["title"] == missing["title"] and hidden["type"] == missing["type"]

    async def test_valid_head_and_the_documented_route(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, _ = await create(registry, clerk)
        head = await registry.head(f"/households/{hid}", headers=clerk)
        assert head.status_code == 200 and card_tag(head, 1)
        # The documented route and the fast route are one: the OpenAPI document lists it.
        paths = (await registry.get("/openapi.json")).json()["paths"]
        assert "get" in paths["/households/{household_id}"]
        schema = paths["/households/{household_id}"]["get"]["responses"]["200"]["content"]["application/json"]
        assert schema["schema"]["$ref"].endswith("/HouseholdCard")

    async def test_wrong_role_for_unmasked_data(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, _ = await create(registry, clerk)
        body = assert_problem(await registry.get(f"/households/{hid}?unmask=true", headers=clerk), 403)
        assert body["code"] == "unmask_not_allowed"

    async def test_valid_unmasked_reads_are_for_the_county_and_audited(
        self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers
    ) -> None:
        payload = household_payload()
        plain_id = payload["members"][0]["resident_id_number"]
        hid, _ = await create_raw(registry, clerk, payload)
        assert_problem(await registry.get(f"/households/{hid}?unmask=true", headers=clerk), 403)
        response = await registry.get(f"/households/{hid}?unmask=true", headers=admin)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
        body = response.json()
        assert (
            body["members"][0]["resident_id_number"] == plain_id
            and body["members"][0]["phone"] == "13907761234"
        )
        assert body["bank_account"] == "6228480123456789012" and body["unmasked"] is True
        assert response.headers["etag"] == '"1"'
        log = (await registry.get(f"/audit?record_id={hid}", headers=admin)).json()["items"]
        actions = [e["action"] for e in log]
        assert actions[0] == "pii.read" and "household.create" in actions
        assert all(e["region_code"] == VILLAGE for e in log)
        assert_problem(await registry.get("/audit", headers=clerk), 403)

    async def test_valid_the_fast_path_is_the_card_model(
        self, registry: httpx.AsyncClient, clerk: Headers, township: Headers, db_urls: dict[str, str]
    ) -> None:
        """The JSON PostgreSQL builds has exactly the keys of `HouseholdCard` (extra or missing ones fail), and
        the model renders it back unchanged: the fast path and the documented route cannot drift apart."""
        payload = household_payload(formed_on="2026-01-10", size=4)
        hid, tag = await create_raw(registry, clerk, payload)
        # Fill every list of the card: an income, a former member, a flag, a workflow event.
        income = {
            "wage": "6000",
            "operating": "0",
            "property": "0",
            "transfer": "0",
            "operating_expenses": "0",
        }
        r = await registry.put(
            f"/households/{hid}/incomes/2013", json=income, headers=clerk | {"If-Match": tag}
        )
        card = await card_of(registry, clerk, hid)
        son = card["members"][-1]["id"]
        r = await registry.post(
            f"/households/{hid}/members/{son}/leave",
            json={"reason": "marriage_out", "on": "2014-01-05"},
            headers=clerk | {"If-Match": r.headers["etag"]},
        )
        assert r.status_code == 200, r.text
        r = await registry.post(
            f"/households/{hid}/workflow/apply",
            json={"data": {}},
            headers=clerk | {"If-Match": r.headers["etag"]},
        )
        assert r.status_code == 200, r.text
        response = await registry.get(f"/households/{hid}", headers=clerk)
        text = response.text
        model = HouseholdCard.model_validate_json(text)
        raw = json.loads(text)
        assert set(raw) == set(HouseholdCard.model_fields) - {"unmasked"}
        assert json.loads(model.model_dump_json(exclude_unset=True)) == raw
        for key in ("members", "former_members", "incomes", "workflow", "flags_detail", "membership_changes"):
            assert raw[key], key
        # A key the model does not know fails validation.
        with pytest.raises(ValueError, match="extra"):
            HouseholdCard.model_validate(raw | {"surprise": 1})
        with pytest.raises(ValueError, match="required"):
            HouseholdCard.model_validate({k: v for k, v in raw.items() if k != "flags"})

    async def test_valid_the_documented_route_answers_the_same(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, clerk: Headers, admin: Headers
    ) -> None:
        hid, _ = await create(registry, clerk)
        fast = await registry.get(f"/households/{hid}", headers=clerk)
        fast_unmasked = await registry.get(f"/households/{hid}?unmask=true", headers=admin)
        registry_app.router.routes.remove(card_route)
        try:
            documented = await registry.get(f"/households/{hid}", headers=clerk)
            unmasked = await registry.get(f"/households/{hid}?unmask=true", headers=admin)
            assert_problem(await registry.get(f"/households/{hid}?unmask=true", headers=clerk), 403)
            assert_problem(await registry.get(f"/households/{uuid.uuid4()}", headers=clerk), 404)
        finally:
            registry_app.router.routes.insert(0, card_route)
        assert documented.status_code == 200 and documented.json() == fast.json()
        assert card_tag(documented, 1) and card_tag(fast, 1)  # each the digest of its own bytes
        assert unmasked.status_code == 200 and unmasked.headers["cache-control"] == "no-store"
        assert unmasked.json() == fast_unmasked.json() and unmasked.json()["unmasked"] is True


# == GET /households/{household_id} with If-None-Match (304) ===================================================
class TestGetHouseholdNotModified:
    """A conditional read of the card: the ETag the client holds, still current, answers 304 with that ETag and no
    body. The card shows what its version does not count (pairings, cadres' and units' names, the village's name),
    so its ETag is `"<version>-<digest>"`: a 304 never hides such a change, and If-Match still reads the version."""

    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, _ = await create(registry, clerk)
        tag = (await registry.get(f"/households/{hid}", headers=clerk)).headers["etag"]
        assert_problem(await registry.get(f"/households/{hid}", headers={"If-None-Match": tag}), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, signing_key: SigningKey
    ) -> None:
        """Out of scope is 404 exactly like missing, conditional or not: a 304 would say the household exists."""
        hid, _ = await create(registry, clerk)
        tag = (await registry.get(f"/households/{hid}", headers=clerk)).headers["etag"]
        sibling = auth(issue(signing_key, "village_officer", SIBLING_VILLAGE))
        for held in (tag, "*"):
            assert_problem(
                await registry.get(f"/households/{hid}", headers=sibling | {"If-None-Match": held}), 404
            )
        missing = f"/households/{uuid.uuid4()}"
        assert_problem(await registry.get(missing, headers=clerk | {"If-None-Match": "*"}), 404)

    async def test_invalid_a_tag_that_is_not_the_cards_gets_the_card(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, _ = await create(registry, clerk)
        # The bare version is the household's, not the card's: it does not say which pairings the client saw.
        for held in ('"1"', '"abc"', "1", '""', "W/", "", '"1-0000000000000000"'):
            response = await registry.get(f"/households/{hid}", headers=clerk | {"If-None-Match": held})
            assert response.status_code == 200 and response.json()["id"] == hid, held

    async def test_valid_not_modified(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, _ = await create(registry, clerk)
        first = await registry.get(f"/households/{hid}", headers=clerk)
        tag = first.headers["etag"]
        assert card_tag(first, 1)
        response = await registry.get(f"/households/{hid}", headers=clerk | {"If-None-Match": tag})
        assert response.status_code == 304 and response.content == b""
        assert response.headers["etag"] == tag and "content-type" not in response.headers
        head = await registry.head(f"/households/{hid}", headers=clerk | {"If-None-Match": tag})
        assert head.status_code == 304 and head.headers["etag"] == tag

    async def test_valid_a_list_weak_tags_and_any(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, _ = await create(registry, clerk)
        tag = (await registry.get(f"/households/{hid}", headers=clerk)).headers["etag"]
        for held in (f'"7", {tag}', f"W/{tag}", f'"3",W/{tag}', "*", f" {tag} "):
            response = await registry.get(f"/households/{hid}", headers=clerk | {"If-None-Match": held})
            assert response.status_code == 304 and response.headers["etag"] == tag, held

    async def test_valid_a_write_changes_the_tag_and_if_match_reads_its_version(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, _ = await create(registry, clerk)
        tag = (await registry.get(f"/households/{hid}", headers=clerk)).headers["etag"]
        r = await registry.patch(
            f"/households/{hid}", json={"bank_name": "农商银行"}, headers=clerk | {"If-Match": tag}
        )
        assert r.status_code == 200 and r.headers["etag"] == '"2"', r.text
        response = await registry.get(f"/households/{hid}", headers=clerk | {"If-None-Match": tag})
        assert response.status_code == 200 and card_tag(response, 2)
        assert response.json()["bank_name"] == "农商银行"
        again = await registry.get(
            f"/households/{hid}", headers=clerk | {"If-None-Match": response.headers["etag"]}
        )
        assert again.status_code == 304
        # The card's old tag names version 1: a write based on it is stale.
        stale = await registry.patch(
            f"/households/{hid}", json={"bank_name": "x"}, headers=clerk | {"If-Match": tag}
        )
        assert assert_problem(stale, 412)["current_version"] == 2

    async def test_valid_a_new_pairing_is_never_hidden(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        """A pairing changes the card, not the household's version: the ETag changes all the same."""
        hid = await registered_household(registry, clerk, db_urls)
        before = await registry.get(f"/households/{hid}", headers=clerk)
        _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        await pair(registry, admin, hid, wang, "2015-03-01")
        after = await registry.get(
            f"/households/{hid}", headers=clerk | {"If-None-Match": before.headers["etag"]}
        )
        assert after.status_code == 200 and after.json()["version"] == before.json()["version"]
        assert after.json()["pairings"] and not before.json()["pairings"]
        assert after.headers["etag"] != before.headers["etag"] and card_tag(after, before.json()["version"])
        # The paired cadre reads the card through its own statement, conditionally too.
        cadre = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang"))
        shown = await registry.get(f"/households/{hid}", headers=cadre)
        assert shown.status_code == 200 and shown.headers["etag"] == after.headers["etag"]
        held = cadre | {"If-None-Match": shown.headers["etag"]}
        assert (await registry.get(f"/households/{hid}", headers=held)).status_code == 304
        stranger = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-li"), **{"If-None-Match": "*"})
        assert_problem(await registry.get(f"/households/{hid}", headers=stranger), 404)

    async def test_valid_unmasked_is_always_in_full(
        self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers
    ) -> None:
        """The unmasked card is no-store (no one keeps it, so no one revalidates it) and every read is audited."""
        hid, _ = await create(registry, clerk)
        for held in ("*", '"1"'):
            response = await registry.get(
                f"/households/{hid}?unmask=true", headers=admin | {"If-None-Match": held}
            )
            assert response.status_code == 200 and response.json()["unmasked"] is True
            assert response.headers["cache-control"] == "no-store" and response.headers["etag"] == '"1"'

    async def test_valid_the_documented_route_answers_the_same(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, clerk: Headers, admin: Headers
    ) -> None:
        hid, _ = await create(registry, clerk)
        registry_app.router.routes.remove(card_route)
        try:
            first = await registry.get(f"/households/{hid}", headers=clerk)
            held = await registry.get(
                f"/households/{hid}", headers=clerk | {"If-None-Match": first.headers["etag"]}
            )
            other = await registry.get(f"/households/{hid}", headers=clerk | {"If-None-Match": '"1"'})
            unmasked = await registry.get(
                f"/households/{hid}?unmask=true", headers=admin | {"If-None-Match": "*"}
            )
            paths = (await registry.get("/openapi.json")).json()["paths"]
        finally:
            registry_app.router.routes.insert(0, card_route)
        assert card_tag(first, 1)
        assert (
            held.status_code == 304 and held.content == b"" and held.headers["etag"] == first.headers["etag"]
        )
        assert other.status_code == 200 and other.json()["id"] == hid
        assert unmasked.status_code == 200 and unmasked.json()["unmasked"] is True
        operation = paths["/households/{household_id}"]["get"]
        assert "304" in operation["responses"]
        assert any(
            p.get("name") == "If-None-Match" and p.get("in") == "header" for p in operation["parameters"]
        )


# == PATCH /households/{household_id} ========================================================================
class TestUpdateHousehold:
    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        assert_problem(
            await registry.patch(f"/households/{hid}", json={"bank_name": "x"}, headers={"If-Match": tag}),
            401,
        )

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        url = f"/households/{hid}"
        body = assert_problem(await registry.patch(url, json={}, headers=clerk | {"If-Match": tag}), 422)
        assert body["code"] == "nothing_to_change"
        assert_problem(
            await registry.patch(url, json={"household_size": 4}, headers=clerk | {"If-Match": tag}), 422
        )
        assert (await card_of(registry, clerk, hid))["version"] == 1

    async def test_valid_if_match_is_required_and_checked(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, tag = await create(registry, clerk)
        url = f"/households/{hid}"
        assert_problem(await registry.patch(url, json={"main_income_source": "breeding"}, headers=clerk), 428)
        stale = await registry.patch(
            url, json={"main_income_source": "breeding"}, headers=clerk | {"If-Match": '"7"'}
        )
        body = assert_problem(stale, 412)
        assert body["current_version"] == 1 and stale.headers["etag"] == '"1"'
        ok = await registry.patch(
            url, json={"main_income_source": "breeding"}, headers=clerk | {"If-Match": tag}
        )
        assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
        assert ok.json() == {"id": hid, "version": 2}
        # The old tag is now stale: the second writer of a lost-update race is refused.
        again = await registry.patch(
            url, json={"main_income_source": "farming"}, headers=clerk | {"If-Match": tag}
        )
        assert assert_problem(again, 412)["current_version"] == 2
        card = await card_of(registry, clerk, hid)
        assert card["main_income_source"] == "breeding" and card["version"] == 2

    async def test_valid_concurrent_writers_with_the_same_version_one_wins(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, tag = await create(registry, clerk)
        url = f"/households/{hid}"
        results = await asyncio.gather(
            *[
                registry.patch(url, json={"bank_name": f"bank {i}"}, headers=clerk | {"If-Match": tag})
                for i in range(5)
            ]
        )
        assert sorted(r.status_code for r in results) == [200, 412, 412, 412, 412]
        assert (await card_of(registry, clerk, hid))["version"] == 2


# == members ==================================================================================================
NEWBORN = {
    "name": "黄小宝",
    "relation": "grandchild",
    "sex": "female",
    "birth_year_month": "2014-02",
    "no_id_reason": "newborn",
    "labor_capacity": "none",
}


class TestAddMember:
    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        added = await registry.post(
            f"/households/{hid}/members", json=NEWBORN, headers=clerk | {"If-Match": tag}
        )
        assert added.status_code == 201, added.text
        assert set(added.json()) == {"id", "member_id", "version"} and added.json()["version"] == 2
        card = await card_of(registry, clerk, hid)
        assert card["household_size"] == 4
        assert added.json()["member_id"] in {m["id"] for m in card["members"]}

    async def test_invalid_second_head(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        body = assert_problem(
            await registry.post(
                f"/households/{hid}/members",
                json=NEWBORN | {"relation": "head"},
                headers=clerk | {"If-Match": tag},
            ),
            422,
        )
        assert body["field"] == "/relation"
        assert (await card_of(registry, clerk, hid))["household_size"] == 3


class TestUpdateMember:
    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        spouse = (await card_of(registry, clerk, hid))["members"][1]["id"]
        r = await registry.patch(
            f"/households/{hid}/members/{spouse}",
            json={"labor_capacity": "ordinary"},
            headers=clerk | {"If-Match": tag},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"id": hid, "member_id": spouse, "version": 2}
        card = await card_of(registry, clerk, hid)
        assert card["labor_count"] == 2 and card["members"][1]["labor_capacity"] == "ordinary"

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        spouse = (await card_of(registry, clerk, hid))["members"][1]["id"]
        url = f"/households/{hid}/members/{spouse}"
        assert (
            assert_problem(await registry.patch(url, json={}, headers=clerk | {"If-Match": tag}), 422)["code"]
            == "nothing_to_change"
        )
        body = assert_problem(
            await registry.patch(url, json={"sex": None}, headers=clerk | {"If-Match": tag}), 422
        )
        assert body["field"] == "/sex"
        assert (await card_of(registry, clerk, hid))["version"] == 1

    async def test_other_member(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        assert_problem(
            await registry.patch(
                f"/households/{hid}/members/{uuid.uuid4()}",
                json={"name": "x"},
                headers=clerk | {"If-Match": tag},
            ),
            404,
        )


class TestMemberLeaves:
    async def test_invalid_future_date(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        spouse = (await card_of(registry, clerk, hid))["members"][1]["id"]
        body = assert_problem(
            await registry.post(
                f"/households/{hid}/members/{spouse}/leave",
                json={"reason": "death", "on": "2099-01-01"},
                headers=clerk | {"If-Match": tag},
            ),
            422,
        )
        assert body["field"] == "/on"


class TestChangeHead:
    async def test_valid_members_join_leave_and_head_change(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, tag = await create(registry, clerk)
        url = f"/households/{hid}"
        added = await registry.post(f"{url}/members", json=NEWBORN, headers=clerk | {"If-Match": tag})
        assert added.status_code == 201, added.text
        card = await card_of(registry, clerk, hid)
        assert card["household_size"] == 4
        head_id = card["members"][0]["id"]
        spouse_id = card["members"][1]["id"]
        tag = added.headers["etag"]
        # A second head, or the head leaving, is refused.
        assert_problem(
            await registry.post(
                f"{url}/members", json=NEWBORN | {"relation": "head"}, headers=clerk | {"If-Match": tag}
            ),
            422,
        )
        leaving = {"reason": "death", "on": "2014-01-05"}
        body = assert_problem(
            await registry.post(
                f"{url}/members/{head_id}/leave", json=leaving, headers=clerk | {"If-Match": tag}
            ),
            409,
        )
        assert body["code"] == "head_leaving"
        changed = await registry.post(
            f"{url}/head",
            json={"member_id": spouse_id, "former_head_relation": "spouse", "reason": "户主去世"},
            headers=clerk | {"If-Match": tag},
        )
        assert changed.status_code == 200, changed.text
        left = await registry.post(
            f"{url}/members/{head_id}/leave",
            json=leaving,
            headers=clerk | {"If-Match": changed.headers["etag"]},
        )
        assert left.status_code == 200, left.text
        card = await card_of(registry, clerk, hid)
        assert card["head_name"] == "农秀兰" and card["household_size"] == 3 and card["labor_count"] == 0
        assert card["former_members"][0]["left_reason"] == "death"
        assert [c["kind"] for c in card["membership_changes"]].count("left") == 1

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        card = await card_of(registry, clerk, hid)
        head, spouse = card["members"][0]["id"], card["members"][1]["id"]
        url = f"/households/{hid}/head"
        body = assert_problem(
            await registry.post(
                url,
                json={"member_id": head, "former_head_relation": "spouse", "reason": "x"},
                headers=clerk | {"If-Match": tag},
            ),
            422,
        )
        assert body["field"] == "/member_id"
        body = assert_problem(
            await registry.post(
                url,
                json={"member_id": spouse, "former_head_relation": "head", "reason": "x"},
                headers=clerk | {"If-Match": tag},
            ),
            422,
        )
        assert body["field"] == "/former_head_relation"


# == split / merge / move ========================================================================================
class TestSplitHousehold:
    async def test_valid_split_merge_and_move_keep_identity_and_history(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        hid, tag = await create(registry, clerk, size=4)
        url = f"/households/{hid}"
        card = await card_of(registry, clerk, hid)
        sons = [m for m in card["members"] if m["relation"] == "son"]
        split = await registry.post(
            f"{url}/split",
            json={
                "member_ids": [s["id"] for s in sons],
                "new_head_id": sons[0]["id"],
                "relations": {sons[1]["id"]: "sibling"},
                "reason": "长子成家分户",
            },
            headers=clerk | {"If-Match": tag},
        )
        assert split.status_code == 201, split.text
        new_id = split.json()["new_household_id"]
        assert split.json() == {"id": hid, "new_household_id": new_id, "version": 2}
        new = await card_of(registry, clerk, new_id)
        assert new["origin_household_id"] == hid and new["origin_kind"] == "split"
        assert new["household_size"] == 2 and "split_recent" in new["flags"]
        assert {m["person_id"] for m in new["members"]} == {s["person_id"] for s in sons}
        old = await card_of(registry, clerk, hid)
        assert old["household_size"] == 2 and len(old["former_members"]) == 2
        # Move one son back, then merge the rest back: people keep their person_id throughout.
        moved = await registry.post(
            f"/households/{new_id}/members/{new['members'][1]['id']}/move",
            json={
                "to_household_id": hid,
                "to_version": old["version"],
                "relation": "son",
                "reason": "回原户",
            },
            headers=clerk | {"If-Match": f'"{new["version"]}"'},
        )
        assert moved.status_code == 200, moved.text
        assert set(moved.json()) == {"id", "new_member_id", "version"} and moved.json()["id"] == new_id
        old = await card_of(registry, clerk, hid)
        new = await card_of(registry, clerk, new_id)
        merged = await registry.post(
            f"{url}/merge",
            json={
                "from_household_id": new_id,
                "from_version": new["version"],
                "relations": {new["members"][0]["id"]: "son"},
                "reason": "合户",
            },
            headers=clerk | {"If-Match": f'"{old["version"]}"'},
        )
        assert merged.status_code == 200, merged.text
        old = await card_of(registry, clerk, hid)
        assert old["household_size"] == 4
        assert {m["person_id"] for m in old["members"]} == {m["person_id"] for m in card["members"]}
        gone = await card_of(registry, clerk, new_id)
        assert gone["status"] == "dissolved" and gone["household_size"] == 0
        kinds = [c["kind"] for c in old["membership_changes"]]
        assert kinds.count("split") == 2 and kinds.count("move") == 1 and kinds.count("merge") == 1
        # A dissolved household takes no more edits.
        closed = await registry.patch(
            f"/households/{new_id}",
            json={"bank_name": "x"},
            headers=clerk | {"If-Match": f'"{gone["version"]}"'},
        )
        assert assert_problem(closed, 409)["code"] == "record_closed"
        # History tables refuse rewrites.
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("DELETE FROM registry_membership_change")
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE registry_audit_event SET actor = 'x'")
        finally:
            await conn.close()

    async def test_invalid_the_head_stays(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        hid, tag = await create(registry, clerk, size=4)
        card = await card_of(registry, clerk, hid)
        head = card["members"][0]["id"]
        everyone = [m["id"] for m in card["members"]]
        for body, code in (
            ({"member_ids": [head], "new_head_id": head, "reason": "x"}, "head_stays"),
            ({"member_ids": everyone, "new_head_id": everyone[1], "reason": "x"}, "split_leaves_nobody"),
            ({"member_ids": [everyone[2]], "new_head_id": everyone[3], "reason": "x"}, "new_head_invalid"),
        ):
            r = await registry.post(f"/households/{hid}/split", json=body, headers=clerk | {"If-Match": tag})
            assert assert_problem(r, 422)["code"] == code
        assert await count_rows(db_urls, "registry_household") == 1


class TestMergeHousehold:
    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers) -> None:
        hid, tag = await create(registry, clerk)
        other_village, _ = await create(registry, admin, village=SIBLING_VILLAGE)
        url = f"/households/{hid}/merge"
        itself = {"from_household_id": hid, "from_version": 1, "relations": {}, "reason": "x"}
        assert (
            assert_problem(await registry.post(url, json=itself, headers=admin | {"If-Match": tag}), 422)[
                "code"
            ]
            == "merge_into_itself"
        )
        across = {"from_household_id": other_village, "from_version": 1, "relations": {}, "reason": "x"}
        assert (
            assert_problem(await registry.post(url, json=across, headers=admin | {"If-Match": tag}), 422)[
                "code"
            ]
            == "merge_across_villages"
        )
        same, _ = await create(registry, clerk)
        missing = {"from_household_id": same, "from_version": 1, "relations": {}, "reason": "x"}
        body = assert_problem(await registry.post(url, json=missing, headers=clerk | {"If-Match": tag}), 422)
        assert body["code"] == "relations_missing" and len(body["missing"]) == 3


class TestMoveMember:
    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        other, other_tag = await create(registry, clerk)
        head = (await card_of(registry, clerk, hid))["members"][0]["id"]
        url = f"/households/{hid}/members/{head}/move"
        body = {"to_household_id": other, "to_version": 1, "relation": "son", "reason": "x"}
        assert (
            assert_problem(await registry.post(url, json=body, headers=clerk | {"If-Match": tag}), 409)[
                "code"
            ]
            == "head_leaving"
        )
        assert_problem(
            await registry.post(url, json=body | {"relation": "head"}, headers=clerk | {"If-Match": tag}), 422
        )
        assert_problem(
            await registry.post(url, json=body | {"to_household_id": hid}, headers=clerk | {"If-Match": tag}),
            422,
        )
        assert (await card_of(registry, clerk, other))["version"] == 1 and other_tag == '"1"'


# == PUT /households/{household_id}/incomes/{year} ================================================================
class TestPutIncome:
    async def test_valid_income_is_computed_by_the_server(
        self, registry: httpx.AsyncClient, clerk: Headers
    ) -> None:
        hid, tag = await create(registry, clerk)
        body = {
            "wage": "6000.00",
            "operating": "3000.50",
            "property": "0",
            "transfer": "1200",
            "operating_expenses": "2000",
        }
        response = await registry.put(
            f"/households/{hid}/incomes/2013", json=body, headers=clerk | {"If-Match": tag}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"id": hid, "year": 2013, "version": 2}
        card = await card_of(registry, clerk, hid)
        assert card["net_income"] == "8200.50" and card["per_capita_net_income"] == "2733.50"
        assert card["incomes"][0]["year"] == 2013 and card["incomes"][0]["household_size"] == 3
        # Typed-in results are refused; negative components too.
        bad = body | {"per_capita_net_income": "9999"}
        headers = clerk | {"If-Match": response.headers["etag"]}
        assert_problem(await registry.put(f"/households/{hid}/incomes/2013", json=bad, headers=headers), 422)
        assert_problem(
            await registry.put(
                f"/households/{hid}/incomes/2013", json=body | {"wage": "-1"}, headers=headers
            ),
            422,
        )
        # A correction is a new version; net income below zero is allowed and flagged.
        loss = body | {"wage": "0", "operating": "100", "transfer": "0", "operating_expenses": "400"}
        corrected = await registry.put(f"/households/{hid}/incomes/2013", json=loss, headers=headers)
        card = await card_of(registry, clerk, hid)
        assert corrected.status_code == 200 and card["incomes"][0]["version"] == 2
        assert card["per_capita_net_income"] == "-100.00" and "net_income_negative" in card["flags"]

    async def test_invalid_year(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        hid, tag = await create(registry, clerk)
        income = {"wage": "1", "operating": "0", "property": "0", "transfer": "0", "operating_expenses": "0"}
        assert_problem(
            await registry.put(
                f"/households/{hid}/incomes/1999", json=income, headers=clerk | {"If-Match": tag}
            ),
            422,
        )


# == POST /households/{household_id}/flags/{flag_id}/clear ======================================================
class TestClearFlag:
    async def test_valid_flags_are_raised_and_cleared_with_a_reason(
        self, registry: httpx.AsyncClient, clerk: Headers, township: Headers
    ) -> None:
        payload = household_payload(formed_on="2026-01-10")
        for m in payload["members"]:
            m["resident"] = False
        payload["details"] = {
            "related_officials": [{"name": "黄村长", "relation": "brother", "position": "村主任"}]
        }
        hid, _ = await create_raw(registry, clerk, payload)
        card = await card_of(registry, clerk, hid)
        assert {"nobody_resident", "related_to_official", "formed_recently"} <= set(card["flags"])
        flag = next(f for f in card["flags_detail"] if f["code"] == "nobody_resident")
        listed = (await registry.get("/households?flag=nobody_resident", headers=clerk)).json()["items"]
        assert [h["id"] for h in listed] == [hid]
        url = f"/households/{hid}/flags/{flag['id']}/clear"
        assert_problem(await registry.post(url, json={"reason": "checked"}, headers=clerk), 403)
        assert_problem(await registry.post(url, json={}, headers=township), 422)
        cleared = await registry.post(
            url, json={"reason": "住户外出务工, 户籍在本村, 入户核实"}, headers=township
        )
        assert cleared.status_code == 200, cleared.text
        card = await card_of(registry, clerk, hid)
        assert "nobody_resident" not in card["flags"]
        detail = next(f for f in card["flags_detail"] if f["code"] == "nobody_resident")
        assert detail["clear_reason"].startswith("住户外出务工") and detail["cleared_by"]
        assert_problem(await registry.post(url, json={"reason": "again"}, headers=township), 404)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        hid, _ = await create_raw(registry, clerk, household_payload(formed_on="2026-01-10"))
        flag = (await card_of(registry, clerk, hid))["flags_detail"][0]["id"]
        body = assert_problem(
            await registry.post(f"/households/{hid}/flags/{flag}/clear", json={"reason": "x"}, headers=clerk),
            403,
        )
        assert body["code"] == "flag_clear_not_allowed"
        assert await count_rows(db_urls, "registry_household_flag WHERE cleared_at IS NOT NULL") == 0


# == GET /households ========================================================================================
@pytest.fixture
async def four(registry: httpx.AsyncClient, admin: Headers, db_urls: dict[str, str]) -> dict[str, str]:
    """Four households with distinct regions, statuses, causes, attributes, incomes, names and flags."""
    a = await create_household(
        registry,
        admin,
        VILLAGE,
        head="黄志强",
        poverty_cause_primary="illness",
        poverty_causes_other=["lack_of_capital"],
        poverty_attribute="general_poor",
    )
    b = await create_household(
        registry,
        admin,
        SIBLING_VILLAGE,
        head="黄明",
        year=2015,
        poverty_cause_primary="disability",
        poverty_causes_other=["illness", "lack_of_skills"],
        poverty_attribute="dibao_poor",
    )
    c_payload = household_payload(
        OTHER_VILLAGE,
        poverty_cause_primary="lack_of_land",
        poverty_causes_other=[],
        poverty_attribute="wubao_poor",
    )
    c_payload["members"][0] |= {"name": "农秀英", "labor_capacity": "lost"}  # nobody can work
    c, _ = await create_raw(registry, admin, c_payload)
    d_payload = household_payload(
        VILLAGE,
        poverty_cause_primary="schooling",
        poverty_causes_other=["disaster"],
        poverty_attribute="general_poor",
    )
    d_payload["members"][0]["name"] = "李四"
    for m in d_payload["members"]:
        m["resident"] = False  # raises the nobody_resident flag
    d, _ = await create_raw(registry, admin, d_payload)
    await set_columns(db_urls, a, status="registered", per_capita_net_income=Decimal("2500.00"))
    await set_columns(db_urls, b, per_capita_net_income=Decimal("3200.00"), returned=True)
    await set_columns(db_urls, c, status="exited")
    await set_columns(
        db_urls, d, status="registered", objection_open=True, per_capita_net_income=Decimal("4000.00")
    )
    return {"a": a, "b": b, "c": c, "d": d}


FILTER_CASES: list[tuple[str, list[tuple[str, Any]], set[str]]] = [
    ("no filter", [], {"a", "b", "c", "d"}),
    ("county", [("region", COUNTY)], {"a", "b", "c", "d"}),
    ("township", [("region", TOWNSHIP)], {"a", "b", "d"}),
    ("other township", [("region", OTHER_TOWNSHIP)], {"c"}),
    ("village", [("region", VILLAGE)], {"a", "d"}),
    ("sibling village", [("region", SIBLING_VILLAGE)], {"b"}),
    ("status", [("status", "registered")], {"a", "d"}),
    ("status repeated", [("status", "registered"), ("status", "exited")], {"a", "c", "d"}),
    ("objection_pending", [("status", "objection_pending")], {"d"}),
    ("candidate or objection", [("status", "candidate"), ("status", "objection_pending")], {"b", "d"}),
    ("cause primary or other", [("cause", "illness")], {"a", "b"}),
    ("cause in others only", [("cause", "disaster")], {"d"}),
    ("cause primary only", [("cause", "lack_of_land")], {"c"}),
    ("cause nobody has", [("cause", "old_age")], set()),
    ("attribute", [("attribute", "general_poor")], {"a", "d"}),
    ("attribute dibao", [("attribute", "dibao_poor")], {"b"}),
    ("income_min inclusive", [("income_min", "3200")], {"b", "d"}),
    ("income_max inclusive", [("income_max", "3200.00")], {"a", "b"}),
    ("income range", [("income_min", "2500"), ("income_max", "3999.99")], {"a", "b"}),
    ("income_min 0 skips no income", [("income_min", "0")], {"a", "b", "d"}),
    ("name prefix", [("name", "黄")], {"a", "b"}),
    ("longer name prefix", [("name", "黄志")], {"a"}),
    ("whole name", [("name", "李四")], {"d"}),
    ("name is a prefix, not a substring", [("name", "志强")], set()),
    ("name wildcard escaped", [("name", "%")], set()),
    ("name underscore escaped", [("name", "_")], set()),
    ("flag", [("flag", "nobody_resident")], {"d"}),
    ("year", [("year", 2015)], {"b"}),
    ("year 2014", [("year", 2014)], {"a", "c", "d"}),
    ("has labour", [("has_labor_capacity", "true")], {"a", "b", "d"}),
    ("no labour", [("has_labor_capacity", "false")], {"c"}),
    ("returned", [("returned", "true")], {"b"}),
    (
        "township + status + cause",
        [("region", TOWNSHIP), ("status", "registered"), ("cause", "illness")],
        {"a"},
    ),
    ("village + income", [("region", VILLAGE), ("income_min", "3000")], {"d"}),
    ("year + labour", [("year", 2014), ("has_labor_capacity", "true")], {"a", "d"}),
    ("name + attribute", [("name", "黄"), ("attribute", "general_poor")], {"a"}),
    ("objection + flag", [("status", "objection_pending"), ("flag", "nobody_resident")], {"d"}),
    ("contradiction", [("region", OTHER_TOWNSHIP), ("name", "黄")], set()),
]

NAMES = ["黄志强", "农秀兰", "李四", "王五", "赵六", "黄明", "韦小宝", "陆军", "黄志强", "农丽"]
VILLAGES = [VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE]


@pytest.fixture
async def many(registry: httpx.AsyncClient, admin: Headers, db_urls: dict[str, str]) -> list[asyncpg.Record]:
    """25 households; names, villages, incomes and update times repeat so the id breaks ties."""
    created = [
        await create_household(registry, admin, VILLAGES[i % 3], head=NAMES[i % len(NAMES)], size=2)
        for i in range(25)
    ]
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    changes = [
        (
            uuid.UUID(hid),
            None if i % 6 == 5 else Decimal(1000 + 250 * (i % 5)) + Decimal("0.50"),
            base + timedelta(minutes=i // 3, microseconds=17 * (i % 2)),
        )
        for i, hid in enumerate(created)
    ]
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "UPDATE registry_household SET per_capita_net_income = $2, updated_at = $3 WHERE id = $1", changes
        )
        return list(
            await conn.fetch(
                "SELECT id, village_code, head_name, per_capita_net_income, updated_at FROM registry_household"
            )
        )
    finally:
        await conn.close()


SORTS = {
    "village": "village_code",
    "head_name": "head_name",
    "income": "per_capita_net_income",
    "updated": "updated_at",
}


class TestListHouseholds:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/households"), 401)

    @pytest.mark.parametrize("fields", [None, "head_name,per_capita_net_income,updated_at", "flags"])
    async def test_the_fast_json_is_the_documented_page(
        self, registry: httpx.AsyncClient, admin: Headers, four: dict[str, str], fields: str | None
    ) -> None:
        """The list is serialised without a model per item; its JSON must be exactly `Page[HouseholdListItem]`'s."""
        params: dict[str, Any] = {"limit": 3} | ({"fields": fields} if fields else {})
        response = await registry.get("/households", params=params, headers=admin)
        assert response.status_code == 200 and response.headers["content-type"] == "application/json"
        adapter = TypeAdapter(Page[HouseholdListItem])
        page = adapter.validate_json(response.content)
        assert json.loads(adapter.dump_json(page, exclude_unset=True)) == response.json()
        asked = {"id", *(fields.split(",") if fields else LIST_FIELDS)}
        assert all(set(item) == asked for item in response.json()["items"])
        assert all(
            item["updated_at"].endswith("Z") for item in response.json()["items"] if "updated_at" in item
        )

    async def test_valid_filters(
        self, registry: httpx.AsyncClient, admin: Headers, four: dict[str, str]
    ) -> None:
        for name, params, expected in FILTER_CASES:
            assert await ids(registry, admin, params) == {four[k] for k in expected}, name

    async def test_valid_items_carry_the_raw_status_and_the_objection(
        self, registry: httpx.AsyncClient, admin: Headers, four: dict[str, str]
    ) -> None:
        items = (
            await registry.get("/households", params={"status": "objection_pending"}, headers=admin)
        ).json()["items"]
        assert len(items) == 1
        assert items[0]["status"] == "registered" and items[0]["objection_open"] is True
        assert items[0]["head_name"] == "李四" and items[0]["per_capita_net_income"] == "4000.00"
        # Times are RFC 3339 with Z, like every typed answer.
        assert datetime.fromisoformat(items[0]["updated_at"]).tzinfo is not None
        assert items[0]["updated_at"].endswith("Z")

    async def test_other_region_is_empty(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        township: Headers,
        clerk: Headers,
        four: dict[str, str],
    ) -> None:
        # The township officer sees only their township, whatever region is asked for.
        assert await ids(registry, township, {}) == {four["a"], four["b"], four["d"]}
        assert await ids(registry, township, {"region": OTHER_TOWNSHIP}) == set()
        assert await ids(registry, township, {"region": OTHER_VILLAGE}) == set()
        assert await ids(registry, township, {"region": COUNTY}) == {four["a"], four["b"], four["d"]}
        assert await ids(registry, clerk, {"region": SIBLING_VILLAGE}) == set()
        assert await ids(registry, clerk, {"region": TOWNSHIP}) == {four["a"], four["d"]}
        other_admin = auth(issue(signing_key, "county_admin", OTHER_COUNTY))
        assert await ids(registry, other_admin, {"region": COUNTY}) == set()
        assert await ids(registry, other_admin, {"region": VILLAGE}) == set()
        cadre = auth(issue(signing_key, "cadre", COUNTY))
        assert await ids(registry, cadre, {"region": VILLAGE}) == set()

    async def test_invalid_filter_values(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        for params in (
            {"region": "4510251002"},
            {"income_min": "-1"},
            {"year": 1999},
            {"limit": 0},
            {"limit": 501},
            {"order": "sideways"},
            {"sort": "population"},
            {"has_labor_capacity": "maybe"},
            # An unknown code is refused, naming the parameter (issue #10), not answered with an empty page.
            {"status": "nonsense"},
            {"cause": "nonsense"},
            {"flag": "nonsense"},
        ):
            assert_problem(await registry.get("/households", params=params, headers=admin), 422)

    async def test_valid_keyset_pages_serve_every_household_once_in_order(
        self, registry: httpx.AsyncClient, admin: Headers, many: list[asyncpg.Record]
    ) -> None:
        for sort, column in SORTS.items():
            for order in ("asc", "desc"):
                rows = [r for r in many if r[column] is not None]
                # PostgreSQL compares uuids bytewise and head_name under collation "C" (code points), as Python.
                ordered = sorted(rows, key=lambda r, c=column: (r[c], r["id"]), reverse=order == "desc")  # type: ignore[misc]
                served, sizes = await all_pages(registry, admin, {"sort": sort, "order": order})
                assert served == [str(r["id"]) for r in ordered], (sort, order)
                assert len(set(served)) == len(served)
                if sort == "income":
                    assert len(rows) == 21 and sizes == [7, 7, 7], (
                        order
                    )  # an exact multiple ends on a full page
                else:
                    assert len(rows) == 25 and sizes == [7, 7, 7, 4], (sort, order)
        # Pages combine with filters.
        served, _ = await all_pages(registry, admin, {"sort": "head_name", "region": TOWNSHIP}, limit=3)
        rows = [r for r in many if r["village_code"].startswith("451025100")]
        assert served == [str(r["id"]) for r in sorted(rows, key=lambda r: (r["head_name"], r["id"]))]
        served, _ = await all_pages(
            registry, admin, {"sort": "income", "order": "desc", "income_max": "1500"}, limit=4
        )
        rows = [
            r for r in many if r["per_capita_net_income"] is not None and r["per_capita_net_income"] <= 1500
        ]
        ordered = sorted(rows, key=lambda r: (r["per_capita_net_income"], r["id"]), reverse=True)
        assert served == [str(r["id"]) for r in ordered] and len(served) == 8
        # fields= selects the keys of every page; the sort key need not be among them for paging to work.
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"fields": " head_name ", "sort": "income", "order": "desc", "limit": 7}
            response = await registry.get(
                "/households", params=params | ({"cursor": cursor} if cursor else {}), headers=admin
            )
            body = response.json()
            assert all(set(i) == {"id", "head_name"} for i in body["items"]), body
            seen += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 21

    async def test_invalid_cursors_are_400(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        for head in ("黄志强", "李四"):
            await create_household(registry, admin, head=head)
        first = (
            await registry.get("/households", params={"sort": "village", "limit": 1}, headers=admin)
        ).json()
        cursor = first["next_cursor"]
        kind, value, ident = read_cursor(cursor)
        assert kind == "village" and value == VILLAGE and ident == first["items"][0]["id"]
        bad = [
            "not a cursor!",
            "%%%",
            base64.urlsafe_b64encode(b"garbage").decode(),
            base64.urlsafe_b64encode(b'{"a": 1}').decode(),
            make_cursor("village", value),
            make_cursor("village", 12, ident),  # tampered value type
            make_cursor("village", value, "not-a-uuid"),
            make_cursor("updated", "yesterday", ident),
            cursor[:-3],
        ]
        for tampered in bad:
            response = await registry.get(
                "/households", params={"sort": "village", "cursor": tampered, "limit": 1}, headers=admin
            )
            body = assert_problem(response, 400, "invalid cursor")
            assert "Traceback" not in body["detail"]
        # A cursor is bound to its sort order.
        for other in ("head_name", "income", "updated"):
            response = await registry.get(
                "/households", params={"sort": other, "cursor": cursor}, headers=admin
            )
            assert_problem(response, 400, "another sort")
        # The genuine cursor still works: the second household, and the end.
        again = await registry.get(
            "/households", params={"sort": "village", "cursor": cursor, "limit": 1}, headers=admin
        )
        assert again.status_code == 200 and again.json()["next_cursor"] is None
        assert {again.json()["items"][0]["id"], first["items"][0]["id"]} == await ids(registry, admin, {})
        assert_problem(await registry.get("/households", params={"cursor": "x" * 401}, headers=admin), 422)

    async def test_invalid_tampered_income_cursor_is_400(
        self, registry: httpx.AsyncClient, admin: Headers
    ) -> None:
        cursor = make_cursor("income", "abc", str(uuid.uuid4()))
        response = await registry.get(
            "/households", params={"sort": "income", "cursor": cursor}, headers=admin
        )
        assert_problem(response, 400, "invalid cursor")

    async def test_invalid_cursor_with_a_non_string_id_is_400(
        self, registry: httpx.AsyncClient, admin: Headers
    ) -> None:
        cursor = make_cursor("village", VILLAGE, 123)
        response = await registry.get(
            "/households", params={"sort": "village", "cursor": cursor}, headers=admin
        )
        assert_problem(response, 400, "invalid cursor")

    async def test_valid_fields_select_the_item_keys(
        self, registry: httpx.AsyncClient, admin: Headers, four: dict[str, str]
    ) -> None:
        body = (await registry.get("/households", params={"fields": "id,status"}, headers=admin)).json()
        assert len(body["items"]) == 4 and all(set(i) == {"id", "status"} for i in body["items"])
        assert sorted(i["status"] for i in body["items"]) == [
            "candidate",
            "exited",
            "registered",
            "registered",
        ]
        # id is always included; blanks are trimmed; filters and sorts still apply.
        params = {"fields": "head_name, per_capita_net_income", "sort": "income", "order": "desc"}
        body = (await registry.get("/households", params=params, headers=admin)).json()
        assert body["items"] == [
            {"id": four["d"], "head_name": "李四", "per_capita_net_income": "4000.00"},
            {"id": four["b"], "head_name": "黄明", "per_capita_net_income": "3200.00"},
            {"id": four["a"], "head_name": "黄志强", "per_capita_net_income": "2500.00"},
        ]
        body = (
            await registry.get(
                "/households", params={"fields": "status", "region": OTHER_TOWNSHIP}, headers=admin
            )
        ).json()
        assert body["items"] == [{"id": four["c"], "status": "exited"}]
        # Without fields every list field is there, and no personal data.
        full = (await registry.get("/households", params={"limit": 1}, headers=admin)).json()["items"][0]
        assert set(full) == {
            "id",
            "village_code",
            "natural_village",
            "status",
            "objection_open",
            "returned",
            "identification_year",
            "head_name",
            "household_size",
            "labor_count",
            "has_labor_capacity",
            "poverty_cause_primary",
            "poverty_causes_other",
            "poverty_attribute",
            "dangerous_house_grade",
            "income_year",
            "per_capita_net_income",
            "flags",
            "version",
            "updated_at",
        }
        # A field asked for that has no value is there, as null.
        body = (await registry.get("/households", params={"fields": "income_year"}, headers=admin)).json()
        assert all(i["income_year"] is None for i in body["items"])

    async def test_invalid_unknown_fields_are_422_with_the_allowed_list(
        self, registry: httpx.AsyncClient, admin: Headers
    ) -> None:
        for fields in ("id,status,bogus", "contact_phone_enc", "details"):
            response = await registry.get("/households", params={"fields": fields}, headers=admin)
            body = assert_problem(response, 422, "unknown fields")
            assert (
                "id" in body["allowed"]
                and "status" in body["allowed"]
                and body["allowed"] == sorted(body["allowed"])
            )
            assert "contact_phone_enc" not in body["allowed"]
        body = assert_problem(await registry.get("/households?fields=id,bogus,nope", headers=admin), 422)
        assert "bogus" in body["detail"] and "nope" in body["detail"]


# == GET /households/stats =================================================================================
STATS_HOUSEHOLDS = [
    # (village, size, status, returned)
    (VILLAGE, 3, "registered", False),
    (VILLAGE, 2, "exit_proposed", False),
    (SIBLING_VILLAGE, 4, "exit_county_reviewed", False),
    (SIBLING_VILLAGE, 3, "exited", False),
    (VILLAGE, 3, "applied", False),
    (SIBLING_VILLAGE, 3, "county_reviewed", False),
    (VILLAGE, 3, "candidate", False),
    (VILLAGE, 1, "removed", False),
    (VILLAGE, 3, "registered", True),
    (OTHER_VILLAGE, 2, "registered", False),
    (OTHER_VILLAGE, 3, "exit_second_notice", False),
    (OTHER_VILLAGE, 3, "exited", False),
    (OTHER_VILLAGE, 3, "second_notice", False),
    (OTHER_VILLAGE, 4, "return_applied", False),
    (OTHER_VILLAGE, 2, "exit_first_notice", False),
    (OTHER_VILLAGE, 2, "exit_township_reviewed", False),
]


@pytest.fixture
async def stats_data(
    registry: httpx.AsyncClient, admin: Headers, db_urls: dict[str, str], seed_regions: None
) -> None:
    changes = [
        (uuid.UUID(await create_household(registry, admin, village, size=size)), status, returned)
        for village, size, status, returned in STATS_HOUSEHOLDS
    ]
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "UPDATE registry_household SET status = $2, returned = $3 WHERE id = $1", changes
        )
    finally:
        await conn.close()


def counts(entry: dict[str, Any]) -> tuple[int, ...]:
    keys = (
        "poor_households",
        "poor_people",
        "exited_households",
        "exited_people",
        "in_identification_households",
        "returned_households",
    )
    return tuple(entry[k] for k in keys)


@pytest.mark.usefixtures("stats_data")
class TestHouseholdStats:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}), 401)

    async def test_valid_counts_per_child_region(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        response = await registry.get(
            "/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["year"] == 2014
        assert (body["region"]["region_code"], body["region"]["level"], body["region"]["name"]) == (
            COUNTY,
            "county",
            "靖西县",
        )
        children = {c["region_code"]: c for c in body["children"]}
        assert list(children) == [TOWNSHIP, OTHER_TOWNSHIP]
        assert children[TOWNSHIP]["level"] == "township" and children[TOWNSHIP]["name"] == "新靖镇"
        # poor = registered + exit chain (not exited); people = household sizes; in identification = applied..county.
        assert counts(children[TOWNSHIP]) == (4, 3 + 2 + 4 + 3, 1, 3, 2, 1)
        assert counts(children[OTHER_TOWNSHIP]) == (4, 2 + 3 + 2 + 2, 1, 3, 2, 0)
        assert counts(body["region"]) == (8, 21, 2, 6, 4, 1)
        for entry in [body["region"], *body["children"]]:
            assert entry["population"] is None and entry["incidence_percent"] is None
        # A township's children are its villages.
        body = (
            await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=admin)
        ).json()
        villages = {c["region_code"]: c for c in body["children"]}
        assert list(villages) == [VILLAGE, SIBLING_VILLAGE] and all(
            c["level"] == "village" for c in body["children"]
        )
        assert counts(villages[VILLAGE]) == (3, 8, 0, 0, 1, 1)
        assert counts(villages[SIBLING_VILLAGE]) == (1, 4, 1, 3, 1, 0)
        body = (
            await registry.get("/households/stats", params={"region": VILLAGE, "year": 2014}, headers=admin)
        ).json()
        assert body["children"] == [] and counts(body["region"]) == (3, 8, 0, 0, 1, 1)

    async def test_valid_population_and_incidence(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        for code, year, population in (
            (VILLAGE, 2014, 1000),
            (SIBLING_VILLAGE, 2014, 500),
            (OTHER_TOWNSHIP, 2014, 1440),
            (OTHER_VILLAGE, 2014, 650),  # the township's own row wins over its villages'
            (TOWNSHIP, 2015, 2000),
        ):
            assert (await put_population(registry, admin, code, year, population)).status_code == 204
        body = (
            await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
        ).json()
        children = {c["region_code"]: c for c in body["children"]}
        # 新靖镇 has no row of its own for 2014: its villages' 1000 + 500; 12 poor people -> 0.80 %.
        assert children[TOWNSHIP]["population"] == 1500 and children[TOWNSHIP]["incidence_percent"] == "0.80"
        # 化峒镇: 9 / 1440 x 100 = 0.625 -> rounded half up to 0.63.
        assert children[OTHER_TOWNSHIP]["population"] == 1440
        assert children[OTHER_TOWNSHIP]["incidence_percent"] == "0.63"
        body = (
            await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=admin)
        ).json()
        assert body["region"]["population"] == 1500 and body["region"]["incidence_percent"] == "0.80"
        villages = {c["region_code"]: c for c in body["children"]}
        assert (villages[VILLAGE]["population"], villages[VILLAGE]["incidence_percent"]) == (1000, "0.80")
        assert (villages[SIBLING_VILLAGE]["population"], villages[SIBLING_VILLAGE]["incidence_percent"]) == (
            500,
            "0.80",
        )
        # Populations are per year; counts are the current records.
        body = (
            await registry.get("/households/stats", params={"region": COUNTY, "year": 2015}, headers=admin)
        ).json()
        children = {c["region_code"]: c for c in body["children"]}
        assert children[TOWNSHIP]["population"] == 2000 and children[TOWNSHIP]["incidence_percent"] == "0.60"
        assert (
            children[OTHER_TOWNSHIP]["population"] is None
            and children[OTHER_TOWNSHIP]["incidence_percent"] is None
        )
        assert counts(children[TOWNSHIP])[:2] == (4, 12)
        # An upsert changes the base; a population below the poor people counted (here 0 under 8) is refused and
        # changes nothing (issue #13 item 15: no incidence above 100 %, no division by zero).
        assert (await put_population(registry, admin, OTHER_TOWNSHIP, 2014, 900)).status_code == 204
        refused = await put_population(registry, admin, VILLAGE, 2014, 0)
        assert assert_problem(refused, 409)["code"] == "population_below_poor"
        body = (
            await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=admin)
        ).json()
        villages = {c["region_code"]: c for c in body["children"]}
        assert villages[VILLAGE]["population"] == 1000 and villages[VILLAGE]["incidence_percent"] == "0.80"
        assert body["region"]["population"] == 1500 and body["region"]["incidence_percent"] == "0.80"
        body = (
            await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
        ).json()
        children = {c["region_code"]: c for c in body["children"]}
        assert (
            children[OTHER_TOWNSHIP]["population"] == 900
            and children[OTHER_TOWNSHIP]["incidence_percent"] == "1.00"
        )

    async def test_valid_county_population_counts_each_township_once(
        self, registry: httpx.AsyncClient, admin: Headers
    ) -> None:
        for code, population in (
            (VILLAGE, 1000),
            (SIBLING_VILLAGE, 500),
            (OTHER_TOWNSHIP, 1440),
            (OTHER_VILLAGE, 650),
        ):
            assert (await put_population(registry, admin, code, 2014, population)).status_code == 204
        body = (
            await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
        ).json()
        # 新靖镇 1500 (from its villages) + 化峒镇 1440 (its own row); 21 poor people.
        assert body["region"]["population"] == 1500 + 1440
        assert body["region"]["incidence_percent"] == "0.71"

    async def test_other_region(
        self,
        registry: httpx.AsyncClient,
        signing_key: SigningKey,
        admin: Headers,
        township: Headers,
        clerk: Headers,
    ) -> None:
        ok = await registry.get(
            "/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=township
        )
        assert ok.status_code == 200 and counts(ok.json()["region"])[:2] == (4, 12)
        ok = await registry.get("/households/stats", params={"region": VILLAGE, "year": 2014}, headers=clerk)
        assert ok.status_code == 200 and counts(ok.json()["region"])[:2] == (3, 8)
        province = auth(issue(signing_key, "province_system", "450000000000"))
        ok = await registry.get(
            "/households/stats", params={"region": COUNTY, "year": 2014}, headers=province
        )
        assert ok.status_code == 200 and counts(ok.json()["region"])[:2] == (8, 21)
        for headers, region in (
            (township, OTHER_TOWNSHIP),
            (township, COUNTY),
            (township, OTHER_VILLAGE),
            (clerk, SIBLING_VILLAGE),
            (clerk, TOWNSHIP),
            (auth(issue(signing_key, "county_admin", OTHER_COUNTY)), COUNTY),
            (admin, "451025199000"),  # in scope but missing
            (auth(issue(signing_key, "cadre", COUNTY)), COUNTY),
            (auth(issue(signing_key, "cadre", COUNTY)), VILLAGE),
        ):
            response = await registry.get(
                "/households/stats", params={"region": region, "year": 2014}, headers=headers
            )
            body = assert_problem(response, 404)
            assert "poor_households" not in body

    async def test_invalid(self, registry: httpx.AsyncClient, admin: Headers) -> None:
        assert_problem(await registry.get("/households/stats", params={"region": COUNTY}, headers=admin), 422)
        assert_problem(
            await registry.get("/households/stats", params={"region": "45", "year": 2014}, headers=admin), 422
        )
        # (Historically: the statistics must not use deprecated SQLAlchemy API; filterwarnings = error.)
        response = await registry.get(
            "/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin
        )
        assert response.status_code == 200, response.text


class TestLookupHouseholds:
    """`POST /households/lookup`: what another service (planning) needs of the households it was given."""

    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/households/lookup", json={"ids": []}), 401)

    async def test_wrong_role(self, registry: httpx.AsyncClient, clerk: Headers) -> None:
        # Which households a cadre is paired with is asked by services only.
        body = {"ids": [], "paired_with": "cadre-wang"}
        assert_problem(await registry.post("/households/lookup", json=body, headers=clerk), 403)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, signing_key: SigningKey
    ) -> None:
        hid, _ = await create(registry, clerk)
        sibling = auth(issue(signing_key, "village_officer", SIBLING_VILLAGE))
        response = await registry.post("/households/lookup", json={"ids": [hid]}, headers=sibling)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": []}  # out of scope: absent, like a missing id

    async def test_invalid(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        service = auth(issue(signing_key, "service", "000000000000"))
        too_many = {"ids": [str(uuid.uuid4()) for _ in range(501)]}
        for body in (too_many, {"ids": ["not-a-uuid"]}, {"ids": [], "extra": 1}, {"ids": "x"}):
            assert_problem(await registry.post("/households/lookup", json=body, headers=service), 422)

    async def test_valid(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        poor = await registered_household(registry, clerk, db_urls)
        other = await create_household(registry, admin, OTHER_VILLAGE, head="韦国强", size=2)
        service = auth(issue(signing_key, "service", "000000000000"))
        missing = str(uuid.uuid4())
        response = await registry.post(
            "/households/lookup", json={"ids": [poor, other, missing, poor]}, headers=service
        )
        assert response.status_code == 200, response.text
        items = {i["id"]: i for i in response.json()["items"]}
        assert set(items) == {poor, other}
        assert items[poor] == {
            "id": poor,
            "village_code": VILLAGE,
            "status": "registered",
            "head_name": "黄志强",
            "household_size": 3,
            "natural_village": "那坡屯",
        }
        assert items[other]["village_code"] == OTHER_VILLAGE and items[other]["head_name"] == "韦国强"
        assert items[other]["status"] == "candidate" and items[other]["household_size"] == 2
        # A village officer sees only their village's.
        mine = await registry.post("/households/lookup", json={"ids": [poor, other]}, headers=clerk)
        assert [i["id"] for i in mine.json()["items"]] == [poor]

    async def test_valid_paired_with_a_cadre(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        paired = await registered_household(registry, clerk, db_urls)
        unpaired = await registered_household(registry, clerk, db_urls)
        _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        await pair(registry, admin, paired, wang, "2015-03-01")
        service = auth(issue(signing_key, "service", "000000000000"))
        for body in ({"paired_with": "cadre-wang"}, {"ids": [paired, unpaired], "paired_with": "cadre-wang"}):
            response = await registry.post("/households/lookup", json=body, headers=service)
            assert response.status_code == 200, response.text
            assert [i["id"] for i in response.json()["items"]] == [paired]
        nobody = await registry.post("/households/lookup", json={"paired_with": "nobody"}, headers=service)
        assert nobody.json() == {"items": []}

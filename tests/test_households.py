"""Households and members (issue #3): fields, invariants, personal data, optimistic concurrency, history.

Runs against the real registry app and PostgreSQL. Every write is checked for what it must refuse as well as
what it must do; refusals are problem+json and change nothing.
"""

from __future__ import annotations

import asyncpg
import pytest

from tests.factories import assert_problem, auth, household_payload, issue

COUNTY = "451025000000"
TOWNSHIP = "451025100000"
OTHER_TOWNSHIP = "451025101000"
VILLAGE = "451025100201"
SIBLING_VILLAGE = "451025100202"
OTHER_VILLAGE = "451025101201"

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def clerk(signing_key):
    return auth(issue(signing_key, "village_officer", VILLAGE))


@pytest.fixture
def admin(signing_key):
    return auth(issue(signing_key, "county_admin", COUNTY))


@pytest.fixture
def township(signing_key):
    return auth(issue(signing_key, "township_officer", TOWNSHIP))


async def create(registry, headers, **kw):
    response = await registry.post("/households", json=household_payload(**kw), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.headers["etag"]


async def count(db_urls, table):
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        return await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 - table names from the test
    finally:
        await conn.close()


async def test_create_and_card(registry, clerk):
    payload = household_payload()
    plain_id = payload["members"][0]["resident_id_number"]
    response = await registry.post("/households", json=payload, headers=clerk)
    assert response.status_code == 201, response.text
    hid = response.json()["id"]
    assert response.headers["etag"] == '"1"' and response.headers["location"] == f"/households/{hid}"
    card = await registry.get(f"/households/{hid}", headers=clerk)
    assert card.status_code == 200 and card.headers["etag"] == '"1"'
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


async def test_id_numbers_are_encrypted_at_rest(registry, clerk, db_urls):
    payload = household_payload()
    plain_id = payload["members"][0]["resident_id_number"]
    assert (await registry.post("/households", json=payload, headers=clerk)).status_code == 201
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM registry_member t")
        hh = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM registry_household t")
    finally:
        await conn.close()
    assert plain_id not in dump and "13907761234" not in dump and "13907761234" not in hh


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (
            lambda p: p["members"][0].__setitem__(  # a check character that is certainly wrong
                "resident_id_number",
                p["members"][0]["resident_id_number"][:17]
                + ("1" if p["members"][0]["resident_id_number"][17] == "0" else "0"),
            ),
            "resident_id_number",
        ),
        (lambda p: p["members"][1].__setitem__("relation", "head"), "head"),
        (lambda p: p["members"][0].__setitem__("relation", "spouse"), "head"),
        (lambda p: p.__setitem__("household_size", 9), "household_size"),
        (lambda p: p.__setitem__("per_capita_net_income", "9999.00"), "per_capita_net_income"),
        (lambda p: p.__setitem__("village_code", TOWNSHIP), "village"),
        (lambda p: p["members"][0].pop("resident_id_number"), "resident_id_number"),
        (lambda p: p.__setitem__("poverty_cause_primary", "laziness"), "poverty_cause_primary"),
    ],
)
async def test_invalid_households_are_refused_and_nothing_is_written(
    registry, clerk, db_urls, mutate, pointer
):
    payload = household_payload()
    mutate(payload)
    response = await registry.post("/households", json=payload, headers=clerk)
    body = assert_problem(response, 422)
    assert pointer in response.text, body
    assert await count(db_urls, "registry_household") == 0
    assert await count(db_urls, "registry_member") == 0


async def test_infant_without_id_number_is_accepted_and_flagged(registry, clerk):
    payload = household_payload()
    payload["members"][2].pop("resident_id_number")
    payload["members"][2]["no_id_reason"] = "infant, ID not yet issued"
    hid, _ = await create_raw(registry, clerk, payload)
    card = (await registry.get(f"/households/{hid}", headers=clerk)).json()
    assert "no_id_number" in card["flags"]


async def create_raw(registry, headers, payload):
    response = await registry.post("/households", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.headers["etag"]


async def test_one_person_one_household(registry, clerk, db_urls, signing_key):
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
    assert await count(db_urls, "registry_household") == 1


async def test_if_match_is_required_and_checked(registry, clerk):
    hid, tag = await create(registry, clerk)
    url = f"/households/{hid}"
    assert_problem(await registry.patch(url, json={"main_income_source": "breeding"}, headers=clerk), 428)
    stale = await registry.patch(
        url, json={"main_income_source": "breeding"}, headers=clerk | {"If-Match": '"7"'}
    )
    body = assert_problem(stale, 412)
    assert body["current_version"] == 1 and stale.headers["etag"] == '"1"'
    ok = await registry.patch(url, json={"main_income_source": "breeding"}, headers=clerk | {"If-Match": tag})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    # The old tag is now stale: the second writer of a lost-update race is refused.
    again = await registry.patch(
        url, json={"main_income_source": "farming"}, headers=clerk | {"If-Match": tag}
    )
    assert assert_problem(again, 412)["current_version"] == 2
    card = (await registry.get(url, headers=clerk)).json()
    assert card["main_income_source"] == "breeding" and card["version"] == 2


async def test_concurrent_writers_with_the_same_version_one_wins(registry, clerk):
    import asyncio

    hid, tag = await create(registry, clerk)
    url = f"/households/{hid}"
    results = await asyncio.gather(
        *[
            registry.patch(url, json={"bank_name": f"bank {i}"}, headers=clerk | {"If-Match": tag})
            for i in range(5)
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 412, 412, 412, 412]
    assert (await registry.get(url, headers=clerk)).json()["version"] == 2


async def test_income_is_computed_by_the_server(registry, clerk):
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
    card = (await registry.get(f"/households/{hid}", headers=clerk)).json()
    assert card["net_income"] == "8200.50" and card["per_capita_net_income"] == "2733.50"
    assert card["incomes"][0]["year"] == 2013 and card["incomes"][0]["household_size"] == 3
    # Typed-in results are refused; negative components too.
    bad = body | {"per_capita_net_income": "9999"}
    headers = clerk | {"If-Match": response.headers["etag"]}
    assert_problem(await registry.put(f"/households/{hid}/incomes/2013", json=bad, headers=headers), 422)
    assert_problem(
        await registry.put(f"/households/{hid}/incomes/2013", json=body | {"wage": "-1"}, headers=headers),
        422,
    )
    # A correction is a new version; net income below zero is allowed and flagged.
    loss = body | {"wage": "0", "operating": "100", "transfer": "0", "operating_expenses": "400"}
    corrected = await registry.put(f"/households/{hid}/incomes/2013", json=loss, headers=headers)
    card = (await registry.get(f"/households/{hid}", headers=clerk)).json()
    assert corrected.status_code == 200 and card["incomes"][0]["version"] == 2
    assert card["per_capita_net_income"] == "-100.00" and "net_income_negative" in card["flags"]


async def test_unmasked_reads_are_for_the_county_and_audited(registry, clerk, admin):
    payload = household_payload()
    plain_id = payload["members"][0]["resident_id_number"]
    hid, _ = await create_raw(registry, clerk, payload)
    assert_problem(await registry.get(f"/households/{hid}?unmask=true", headers=clerk), 403)
    response = await registry.get(f"/households/{hid}?unmask=true", headers=admin)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (
        body["members"][0]["resident_id_number"] == plain_id and body["members"][0]["phone"] == "13907761234"
    )
    assert body["bank_account"] == "6228480123456789012"
    log = (await registry.get(f"/audit?record_id={hid}", headers=admin)).json()["items"]
    actions = [e["action"] for e in log]
    assert actions[0] == "pii.read" and "household.create" in actions
    assert all(e["region_code"] == VILLAGE for e in log)
    assert_problem(await registry.get("/audit", headers=clerk), 403)


async def test_members_join_leave_and_head_change(registry, clerk):
    hid, tag = await create(registry, clerk)
    url = f"/households/{hid}"
    newborn = {
        "name": "黄小宝",
        "relation": "grandchild",
        "sex": "female",
        "birth_year_month": "2014-02",
        "no_id_reason": "newborn",
        "labor_capacity": "none",
    }
    added = await registry.post(f"{url}/members", json=newborn, headers=clerk | {"If-Match": tag})
    assert added.status_code == 201, added.text
    card = (await registry.get(url, headers=clerk)).json()
    assert card["household_size"] == 4
    head_id = card["members"][0]["id"]
    spouse_id = card["members"][1]["id"]
    tag = added.headers["etag"]
    # A second head, or the head leaving, is refused.
    assert_problem(
        await registry.post(
            f"{url}/members", json=newborn | {"relation": "head"}, headers=clerk | {"If-Match": tag}
        ),
        422,
    )
    leaving = {"reason": "death", "on": "2014-01-05"}
    assert_problem(
        await registry.post(
            f"{url}/members/{head_id}/leave", json=leaving, headers=clerk | {"If-Match": tag}
        ),
        409,
    )
    changed = await registry.post(
        f"{url}/head",
        json={"member_id": spouse_id, "former_head_relation": "spouse", "reason": "户主去世"},
        headers=clerk | {"If-Match": tag},
    )
    assert changed.status_code == 200, changed.text
    left = await registry.post(
        f"{url}/members/{head_id}/leave", json=leaving, headers=clerk | {"If-Match": changed.headers["etag"]}
    )
    assert left.status_code == 200, left.text
    card = (await registry.get(url, headers=clerk)).json()
    assert card["head_name"] == "农秀兰" and card["household_size"] == 3 and card["labor_count"] == 0
    assert card["former_members"][0]["left_reason"] == "death"
    assert [c["kind"] for c in card["membership_changes"]].count("left") == 1


async def test_split_merge_and_move_keep_identity_and_history(registry, clerk, db_urls):
    hid, tag = await create(registry, clerk, size=4)
    url = f"/households/{hid}"
    card = (await registry.get(url, headers=clerk)).json()
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
    new = (await registry.get(f"/households/{new_id}", headers=clerk)).json()
    assert new["origin_household_id"] == hid and new["origin_kind"] == "split"
    assert new["household_size"] == 2 and "split_recent" in new["flags"]
    assert {m["person_id"] for m in new["members"]} == {s["person_id"] for s in sons}
    old = (await registry.get(url, headers=clerk)).json()
    assert old["household_size"] == 2 and len(old["former_members"]) == 2
    # Move one son back, then merge the rest back: people keep their person_id throughout.
    moved = await registry.post(
        f"/households/{new_id}/members/{new['members'][1]['id']}/move",
        json={"to_household_id": hid, "to_version": old["version"], "relation": "son", "reason": "回原户"},
        headers=clerk | {"If-Match": f'"{new["version"]}"'},
    )
    assert moved.status_code == 200, moved.text
    old = (await registry.get(url, headers=clerk)).json()
    new = (await registry.get(f"/households/{new_id}", headers=clerk)).json()
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
    old = (await registry.get(url, headers=clerk)).json()
    assert old["household_size"] == 4
    assert {m["person_id"] for m in old["members"]} == {m["person_id"] for m in card["members"]}
    gone = (await registry.get(f"/households/{new_id}", headers=clerk)).json()
    assert gone["status"] == "dissolved" and gone["household_size"] == 0
    kinds = [c["kind"] for c in old["membership_changes"]]
    assert kinds.count("split") == 2 and kinds.count("move") == 1 and kinds.count("merge") == 1
    # History tables refuse rewrites.
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM registry_membership_change")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE registry_audit_event SET actor = 'x'")
    finally:
        await conn.close()


async def test_flags_are_raised_and_cleared_with_a_reason(registry, clerk, township, admin):
    payload = household_payload(formed_on="2026-01-10")
    for m in payload["members"]:
        m["resident"] = False
    payload["details"] = {
        "related_officials": [{"name": "黄村长", "relation": "brother", "position": "村主任"}]
    }
    hid, _ = await create_raw(registry, clerk, payload)
    card = (await registry.get(f"/households/{hid}", headers=clerk)).json()
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
    card = (await registry.get(f"/households/{hid}", headers=clerk)).json()
    assert "nobody_resident" not in card["flags"]
    detail = next(f for f in card["flags_detail"] if f["code"] == "nobody_resident")
    assert detail["clear_reason"].startswith("住户外出务工") and detail["cleared_by"]
    assert_problem(await registry.post(url, json={"reason": "again"}, headers=township), 404)


async def test_scope_per_role(registry, clerk, signing_key, db_urls):
    hid, tag = await create(registry, clerk)
    url = f"/households/{hid}"
    in_scope = {
        "village": clerk,
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP)),
        "county": auth(issue(signing_key, "county_admin", COUNTY)),
        "province": auth(issue(signing_key, "province_system", "450000000000")),
    }
    out_of_scope = {
        "sibling village": auth(issue(signing_key, "village_officer", SIBLING_VILLAGE)),
        "other township": auth(issue(signing_key, "township_officer", OTHER_TOWNSHIP)),
        "other county": auth(issue(signing_key, "county_admin", "451026000000")),
        "cadre (no pairing yet)": auth(issue(signing_key, "cadre", COUNTY)),
    }
    for name, headers in in_scope.items():
        assert (await registry.get(url, headers=headers)).status_code == 200, name
        items = (await registry.get("/households", headers=headers)).json()["items"]
        assert [i["id"] for i in items] == [hid], name
    for name, headers in out_of_scope.items():
        assert_problem(await registry.get(url, headers=headers), 404)
        assert (await registry.get("/households", headers=headers)).json()["items"] == [], name
        assert_problem(
            await registry.patch(url, json={"bank_name": "x"}, headers=headers | {"If-Match": tag}),
            403 if name.startswith("cadre") else 404,
        )
    # Province reads but never writes; nobody creates outside their scope.
    assert_problem(
        await registry.patch(url, json={"bank_name": "x"}, headers=in_scope["province"] | {"If-Match": tag}),
        403,
    )
    assert_problem(
        await registry.post("/households", json=household_payload(OTHER_VILLAGE), headers=clerk), 404
    )
    assert_problem(
        await registry.post(
            "/households", json=household_payload(), headers=out_of_scope["cadre (no pairing yet)"]
        ),
        403,
    )
    assert await count(db_urls, "registry_household") == 1


class TestPersonalDataKeys:
    def test_production_requires_real_pii_keys(self, tmp_path):
        from pydantic import ValidationError

        from services.registry.pii import write_dev_keys
        from services.registry.settings import RegistrySettings

        base = {
            "environment": "production",
            "database_url": "postgresql://db/x",
            "jwt_jwks_url": "http://gw/jwks",
        }
        with pytest.raises(ValidationError, match="PII_KEYS_FILE"):
            RegistrySettings(**base)
        with pytest.raises(ValidationError, match="development personal-data keys"):
            RegistrySettings(**base, pii_keys_file=write_dev_keys(tmp_path / "dev"))
        real = tmp_path / "real"
        real.mkdir()
        (real / "pii-keys.json").write_text((tmp_path / "dev" / "pii-keys.json").read_text())
        settings = RegistrySettings(**base, pii_keys_file=real / "pii-keys.json")
        cipher = settings.cipher()
        token = cipher.encrypt("452625196804151234", context="member:x:id_number")
        # The same key file decrypts what it encrypted, in another process (a restart).
        assert (
            RegistrySettings(**base, pii_keys_file=real / "pii-keys.json")
            .cipher()
            .decrypt(token, context="member:x:id_number")
            == "452625196804151234"
        )

    def test_dev_keys_are_kept_across_runs(self, tmp_path):
        from services.registry.pii import write_dev_keys

        first = write_dev_keys(tmp_path).read_text()
        assert write_dev_keys(tmp_path).read_text() == first


async def test_birth_in_the_future_is_refused(registry, clerk):
    payload = household_payload()
    payload["members"][2]["birth_year_month"] = "2099-01"
    payload["members"][2].pop("resident_id_number")
    payload["members"][2]["no_id_reason"] = "unborn?"
    assert_problem(await registry.post("/households", json=payload, headers=clerk), 422)


async def test_card_route_rejects_bad_input_like_every_route(registry, clerk):
    hid, _ = await create(registry, clerk)
    assert_problem(await registry.get("/households/not-a-uuid", headers=clerk), 422)
    assert_problem(await registry.get(f"/households/{hid}?unmask=maybe", headers=clerk), 422)
    assert_problem(await registry.get(f"/households/{hid}"), 401)
    head = await registry.head(f"/households/{hid}", headers=clerk)
    assert head.status_code == 200 and head.headers["etag"] == '"1"'
    # The documented route and the fast route are one: the OpenAPI document lists it.
    paths = (await registry.get("/openapi.json")).json()["paths"]
    assert "get" in paths["/households/{household_id}"]

"""Helping units, cadres, work teams and pairings (issue #4): rules, the bitemporal history, cadre scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.clock import CHINA_TIME
from tests.factories import assert_problem, auth, household_payload, issue

COUNTY = "451025000000"
TOWNSHIP = "451025100000"
VILLAGE = "451025100201"
OTHER_VILLAGE = "451025101201"

pytestmark = pytest.mark.usefixtures("seed_regions")

TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()


@pytest.fixture
def admin(signing_key):
    return auth(issue(signing_key, "county_admin", COUNTY, sub="county-1"))


@pytest.fixture
def clerk(signing_key):
    return auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1"))


async def registered_household(registry, clerk, db_urls, *, village=VILLAGE, headers=None) -> str:
    r = await registry.post("/households", json=household_payload(village), headers=headers or clerk)
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.execute(
            "UPDATE registry_household SET status = 'registered' WHERE id = $1", r.json()["id"]
        )
    finally:
        await conn.close()
    return r.json()["id"]


async def unit_and_cadres(registry, admin, *levels: str, subs: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    unit = await registry.post(
        "/helping-units",
        json={"name": "靖西市财政局", "kind": "government_department", "region_code": COUNTY},
        headers=admin,
    )
    assert unit.status_code == 201, unit.text
    cadres = []
    for i, level in enumerate(levels):
        body = {
            "unit_id": unit.json()["id"],
            "name": f"干部{i}",
            "position_level": level,
            "phone": "13800001234",
        }
        if i < len(subs):
            body["user_sub"] = subs[i]
        r = await registry.post("/cadres", json=body, headers=admin)
        assert r.status_code == 201, r.text
        cadres.append(r.json()["id"])
    return unit.json()["id"], cadres


async def test_units_and_cadres(registry, admin, clerk, signing_key):
    unit_id, (cadre_id,) = await unit_and_cadres(registry, admin, "staff", subs=("user-7",))
    cadre = await registry.get(f"/cadres/{cadre_id}", headers=admin)
    assert cadre.json()["phone_masked"] == "*******1234" and "13800001234" not in cadre.text
    assert cadre.json()["region_code"] == COUNTY and cadre.headers["etag"] == '"1"'
    # Village officers do not register units; nobody registers outside their region; names are unique.
    body = {"name": "x", "kind": "other", "region_code": COUNTY}
    assert_problem(await registry.post("/helping-units", json=body, headers=clerk), 403)
    other = auth(issue(signing_key, "township_officer", "451025101000"))
    assert_problem(
        await registry.post("/helping-units", json=body | {"region_code": TOWNSHIP}, headers=other), 404
    )
    dup = {"name": "靖西市财政局", "kind": "other", "region_code": COUNTY}
    assert_problem(await registry.post("/helping-units", json=dup, headers=admin), 409)
    # One login, one cadre; edits need If-Match.
    again = {"unit_id": unit_id, "name": "y", "position_level": "staff", "user_sub": "user-7"}
    assert_problem(await registry.post("/cadres", json=again, headers=admin), 409)
    assert_problem(await registry.patch(f"/cadres/{cadre_id}", json={"active": False}, headers=admin), 428)
    ok = await registry.patch(
        f"/cadres/{cadre_id}", json={"position": "科长"}, headers=admin | {"If-Match": '"1"'}
    )
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'


async def test_work_team_terms_last_a_year(registry, admin):
    _, (cadre_id,) = await unit_and_cadres(registry, admin, "middle_level")
    short = {
        "village_code": VILLAGE,
        "cadre_id": cadre_id,
        "role": "first_secretary",
        "starts_on": "2015-03-01",
        "ends_on": "2015-12-31",
    }
    assert_problem(await registry.post("/village-assignments", json=short, headers=admin), 422)
    ok = await registry.post("/village-assignments", json=short | {"ends_on": "2017-03-01"}, headers=admin)
    assert ok.status_code == 201, ok.text
    on = (await registry.get(f"/villages/{VILLAGE}/assignments?on=2016-01-01", headers=admin)).json()["items"]
    assert [a["role"] for a in on] == ["first_secretary"] and on[0]["cadre_name"] == "干部0"
    assert (await registry.get(f"/villages/{VILLAGE}/assignments?on=2018-01-01", headers=admin)).json()[
        "items"
    ] == []


async def test_only_registered_households_are_paired(registry, admin, clerk):
    _, (cadre_id,) = await unit_and_cadres(registry, admin, "staff")
    r = await registry.post("/households", json=household_payload(), headers=clerk)
    body = {"household_id": r.json()["id"], "cadre_id": cadre_id, "valid_from": str(TODAY)}
    assert (
        assert_problem(await registry.post("/pairings", json=body, headers=admin), 409)["code"]
        == "not_registered"
    )


async def test_unit_ratio_policy_warns(registry, admin, clerk, db_urls):
    _, (leader, middle_a, middle_b) = await unit_and_cadres(
        registry, admin, "unit_leader", "middle_level", "middle_level"
    )
    first, second = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
    one = await registry.post(
        "/pairings", json={"household_id": first, "cadre_id": leader, "valid_from": str(TODAY)}, headers=admin
    )
    assert one.status_code == 201 and one.json()["warnings"] == []
    two = await registry.post(
        "/pairings",
        json={"household_id": second, "cadre_id": leader, "valid_from": str(TODAY)},
        headers=admin,
    )
    assert two.json()["warnings"][0].startswith("leader_over_limit")
    a = await registry.post(
        "/pairings",
        json={"household_id": first, "cadre_id": middle_a, "role": "secondary", "valid_from": str(TODAY)},
        headers=admin,
    )
    assert a.json()["warnings"][0].startswith("middle_level_share")
    b = await registry.post(
        "/pairings",
        json={"household_id": first, "cadre_id": middle_b, "role": "secondary", "valid_from": str(TODAY)},
        headers=admin,
    )
    assert b.json()["warnings"] == []
    again = await registry.post(
        "/pairings",
        json={"household_id": first, "cadre_id": middle_b, "valid_from": str(TODAY)},
        headers=admin,
    )
    assert assert_problem(again, 409)["code"] == "already_paired"


async def test_no_exit_no_unlinking_and_who_was_responsible(registry, registry_app, admin, clerk, db_urls):
    _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff")
    hid = await registered_household(registry, clerk, db_urls)
    registry_app.state.clock = lambda: datetime(2015, 3, 1, 2, tzinfo=UTC)
    p = await registry.post(
        "/pairings", json={"household_id": hid, "cadre_id": wang, "valid_from": "2015-03-01"}, headers=admin
    )
    pid = p.json()["id"]
    # The last pairing of a household that has not exited ends only with a successor the same day.
    end = {"valid_to": "2016-07-01", "end_reason": "handover", "reason": "王干部调岗"}
    assert (
        assert_problem(await registry.post(f"/pairings/{pid}/end", json=end, headers=admin), 409)["code"]
        == "successor_required"
    )
    bad = end | {"end_reason": "household_exited", "successor": {"cadre_id": li}}
    assert (
        assert_problem(await registry.post(f"/pairings/{pid}/end", json=bad, headers=admin), 409)["code"]
        == "not_exited"
    )
    registry_app.state.clock = lambda: datetime(2016, 7, 1, 2, tzinfo=UTC)
    handed = await registry.post(
        f"/pairings/{pid}/end", json=end | {"successor": {"cadre_id": li}}, headers=admin
    )
    assert handed.status_code == 200, handed.text
    assert handed.json()["successor"]["valid_from"] == "2016-07-01"
    assert_problem(
        await registry.post(
            f"/pairings/{pid}/end", json=end | {"successor": {"cadre_id": li}}, headers=admin
        ),
        404 if False else 409,
    )

    async def responsible(on: str, as_of: str | None = None) -> list[str]:
        url = f"/households/{hid}/pairings?on={on}" + (f"&as_of={as_of}" if as_of else "")
        r = await registry.get(url, headers=admin)
        assert r.status_code == 200, r.text
        return [i["cadre_name"] for i in r.json()["items"]]

    assert await responsible("2015-02-28") == []
    assert await responsible("2015-03-01") == ["干部0"]
    assert await responsible("2016-06-30") == ["干部0"]
    assert await responsible("2016-07-01") == ["干部1"]
    # As the registry knew it in 2016-01 (before the handover was recorded), 王 was responsible with no end.
    assert await responsible("2016-08-01", "2016-01-01T00:00:00Z") == ["干部0"]
    all_rows = (await registry.get(f"/households/{hid}/pairings", headers=admin)).json()["items"]
    assert [(r["cadre_name"], r["valid_to"]) for r in all_rows] == [("干部0", "2016-07-01"), ("干部1", None)]
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        with pytest.raises(asyncpg.RaiseError, match="superseded, never rewritten"):
            await conn.execute("UPDATE registry_pairing SET cadre_id = $1 WHERE superseded_at IS NULL", li)
        with pytest.raises(asyncpg.RaiseError):
            await conn.execute("DELETE FROM registry_pairing")
    finally:
        await conn.close()


async def test_exited_household_unlinks_without_successor(registry, admin, clerk, db_urls):
    _, (wang,) = await unit_and_cadres(registry, admin, "staff")
    hid = await registered_household(registry, clerk, db_urls)
    p = await registry.post(
        "/pairings", json={"household_id": hid, "cadre_id": wang, "valid_from": "2015-03-01"}, headers=admin
    )
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.execute("UPDATE registry_household SET status = 'exited' WHERE id = $1", hid)
    finally:
        await conn.close()
    end = {"valid_to": "2016-01-10", "end_reason": "household_exited"}
    r = await registry.post(f"/pairings/{p.json()['id']}/end", json=end, headers=admin)
    assert r.status_code == 200 and r.json()["successor"] is None, r.text


async def test_cadre_sees_exactly_the_paired_households(registry, admin, clerk, db_urls, signing_key):
    _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li"))
    paired, unpaired = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
    wang_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang"))
    li_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-li"))
    start = str(TODAY - timedelta(days=30))
    p = await registry.post(
        "/pairings", json={"household_id": paired, "cadre_id": wang, "valid_from": start}, headers=admin
    )
    assert p.status_code == 201
    assert [i["id"] for i in (await registry.get("/households", headers=wang_h)).json()["items"]] == [paired]
    card = await registry.get(f"/households/{paired}", headers=wang_h)
    assert card.status_code == 200 and card.json()["pairings"][0]["cadre_name"] == "干部0"
    assert_problem(await registry.get(f"/households/{unpaired}", headers=wang_h), 404)
    assert_problem(await registry.get(f"/households/{paired}", headers=li_h), 404)
    assert (await registry.get("/households", headers=li_h)).json()["items"] == []
    assert [
        h["household_id"] for h in (await registry.get("/me/households", headers=wang_h)).json()["active"]
    ] == [paired]
    # Handover today: 李 takes over; 王 keeps read-only access to the history.
    end = {"valid_to": str(TODAY), "end_reason": "handover", "successor": {"cadre_id": li}}
    assert (
        await registry.post(f"/pairings/{p.json()['id']}/end", json=end, headers=admin)
    ).status_code == 200
    assert (await registry.get("/households", headers=wang_h)).json()["items"] == []
    assert (await registry.get(f"/households/{paired}", headers=wang_h)).status_code == 200
    mine = (await registry.get("/me/households", headers=wang_h)).json()
    assert mine["active"] == [] and [h["household_id"] for h in mine["past"]] == [paired]
    assert [i["id"] for i in (await registry.get("/households", headers=li_h)).json()["items"]] == [paired]
    # Cadres never write households or pairings.
    assert_problem(
        await registry.patch(
            f"/households/{paired}", json={"bank_name": "x"}, headers=li_h | {"If-Match": '"1"'}
        ),
        403,
    )
    assert_problem(
        await registry.post(
            "/pairings", json={"household_id": unpaired, "cadre_id": li, "valid_from": start}, headers=li_h
        ),
        403,
    )
    assert_problem(await registry.get(f"/households/{unpaired}/pairings", headers=li_h), 404)
    assert (await registry.get(f"/households/{paired}/pairings", headers=wang_h)).status_code == 200
    assert_problem(await registry.get(f"/pairings/gaps?region={COUNTY}", headers=li_h), 404)
    assert_problem(await registry.get(f"/cadres/{wang}", headers=li_h), 404)
    assert (await registry.get(f"/cadres/{li}", headers=li_h)).status_code == 200


async def test_gap_report(registry, admin, clerk, db_urls):
    _, (wang,) = await unit_and_cadres(registry, admin, "staff")
    a, b = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
    gaps = (await registry.get(f"/pairings/gaps?region={COUNTY}", headers=admin)).json()
    assert gaps["count"] == 2
    await registry.post(
        "/pairings", json={"household_id": a, "cadre_id": wang, "valid_from": str(TODAY)}, headers=admin
    )
    gaps = (await registry.get(f"/pairings/gaps?region={TOWNSHIP}", headers=admin)).json()
    assert [g["id"] for g in gaps["items"]] == [b]
    assert (
        await registry.get(f"/pairings/gaps?region={COUNTY}&on={TODAY - timedelta(days=1)}", headers=admin)
    ).json()["count"] == 2


async def test_cadres_see_only_themselves_and_their_unit(registry, admin, signing_key):
    unit_id, (wang, li) = await unit_and_cadres(
        registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li")
    )
    other_unit = await registry.post(
        "/helping-units",
        json={"name": "百色学院", "kind": "public_institution", "region_code": COUNTY},
        headers=admin,
    )
    wang_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang"))
    assert [c["id"] for c in (await registry.get("/cadres", headers=wang_h)).json()["items"]] == [wang]
    assert [u["id"] for u in (await registry.get("/helping-units", headers=wang_h)).json()["items"]] == [
        unit_id
    ]
    assert (await registry.get(f"/helping-units/{unit_id}", headers=wang_h)).status_code == 200
    assert_problem(await registry.get(f"/helping-units/{other_unit.json()['id']}", headers=wang_h), 404)
    assert_problem(await registry.get(f"/cadres/{li}", headers=wang_h), 404)
    for url, body in (
        ("/helping-units", {"name": "x", "kind": "other", "region_code": COUNTY}),
        ("/cadres", {"unit_id": unit_id, "name": "x", "position_level": "staff"}),
        (
            "/village-assignments",
            {"village_code": VILLAGE, "cadre_id": wang, "role": "first_secretary", "starts_on": "2015-01-01"},
        ),
        ("/monitoring/rounds", {"township_code": TOWNSHIP, "year": 2015, "half": "H1"}),
    ):
        assert_problem(await registry.post(url, json=body, headers=wang_h), 403)
    assert_problem(await registry.get(f"/villages/{VILLAGE}/assignments", headers=wang_h), 404)
    assert_problem(await registry.get(f"/monitoring/overdue?region={COUNTY}", headers=wang_h), 404)
    assert_problem(
        await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2015", headers=wang_h), 404
    )
    assert_problem(await registry.get(f"/households/stats?region={COUNTY}&year=2015", headers=wang_h), 404)
    assert_problem(await registry.get("/audit", headers=wang_h), 403)

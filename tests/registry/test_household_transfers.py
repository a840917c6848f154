"""A household moved to another county (issue #15): the two-step handover, against the real registry app and
PostgreSQL, plus the pure rules (household_transfers/domain.py).

The source county office asks (`POST /households/{id}/transfers`, 迁出申请), the destination county office lists
what comes in and accepts (迁入确认) or rejects it, the source may cancel while it is pending. Acceptance moves the
household in one transaction with the transfer's status, and the change feed shows the source a `left_scope`
tombstone and the destination an upsert. Refusals change nothing; a transfer neither side holds is missing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.registry.household_transfers import domain
from services.registry.household_transfers.domain import Side
from shared.errors import Invalid, NotAllowed, Refused
from shared.jwt import SigningKey
from shared.roles import Principal, Role
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    OTHER_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    create_household,
    issue,
    pair,
    registered_household,
    set_household_status,
    settle,
    sql,
    unit_and_cadres,
)

pytestmark = pytest.mark.usefixtures("seed_regions")
Headers = dict[str, str]
TODAY = datetime.now(UTC).date()
MISSING = "00000000-0000-4000-8000-000000000000"


# == the rules, pure ==============================================================================================
class TestRules:
    admin = Principal(sub="a", role=Role.county_admin, region=COUNTY)

    def check(self, status: str = "registered", to: str = OTHER_COUNTY_VILLAGE, **kw: Any) -> None:
        principal = kw.pop("principal", self.admin)
        effective = kw.pop("effective", TODAY)
        domain.check_request(principal, status, VILLAGE, to, effective=effective, today=TODAY)

    def test_a_household_at_rest_may_go_to_another_county(self) -> None:
        for status in ("registered", "exited", "candidate", "rejected"):
            self.check(status)

    def test_refusals(self) -> None:
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"principal": Principal(sub="t", role=Role.township_officer, region=TOWNSHIP)}, NotAllowed, ""),
            ({"status": "removed"}, Refused, "record_closed"),
            ({"status": "first_notice"}, Refused, "relocation_in_workflow"),
            ({"to": OTHER_COUNTY_TOWNSHIP}, Invalid, "not_a_village"),
            ({"to": OTHER_VILLAGE}, Invalid, "transfer_same_county"),
            ({"effective": TODAY + timedelta(days=1)}, Invalid, "relocation_date_future"),
        ]
        for kwargs, kind, code in cases:
            with pytest.raises(kind) as caught:
                self.check(**kwargs)
            assert not code or caught.value.code == code, kwargs  # type: ignore[attr-defined]

    def test_sides(self) -> None:
        other = Principal(sub="b", role=Role.county_admin, region=OTHER_COUNTY)
        third = Principal(sub="c", role=Role.county_admin, region="451027000000")
        assert domain.side_of(self.admin, VILLAGE, OTHER_COUNTY_VILLAGE) is Side.source
        assert domain.side_of(other, VILLAGE, OTHER_COUNTY_VILLAGE) is Side.destination
        assert domain.side_of(third, VILLAGE, OTHER_COUNTY_VILLAGE) is None
        with pytest.raises(NotAllowed):
            domain.require_side(Side.source, Side.destination)
        with pytest.raises(Refused):
            domain.require_pending("accepted")
        domain.require_pending("pending")


# == through the API ==============================================================================================
@pytest.fixture
async def other_county(db_urls: dict[str, str], seed_regions: None) -> None:
    await sql(
        db_urls,
        "INSERT INTO registry_region (code, name, level, parent_code) VALUES"
        " ($1, '德保县', 'county', '451000000000'), ($2, '城关镇', 'township', $1), ($3, '那甲村', 'village', $2)",
        OTHER_COUNTY,
        OTHER_COUNTY_TOWNSHIP,
        OTHER_COUNTY_VILLAGE,
    )


@pytest.fixture
def dest(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "county_admin", OTHER_COUNTY, sub="admin-debao"))


def body(to: str = OTHER_COUNTY_VILLAGE, **extra: Any) -> dict[str, Any]:
    return {
        "to_village_code": to,
        "reason": "marriage_move",
        "effective_date": str(TODAY - timedelta(days=1)),
        "document_reference": "靖公户迁[2016]8号",
    } | extra


async def if_match(db_urls: dict[str, str], household_id: str) -> Headers:
    rows = await sql(db_urls, "SELECT version FROM registry_household WHERE id = $1", household_id)
    return {"If-Match": f'"{rows[0]["version"]}"'}


async def state(db_urls: dict[str, str], household_id: str) -> tuple[str, int, int]:
    """The household's village and version, and how many transfers it has."""
    row = (
        await sql(
            db_urls,
            "SELECT village_code, version, (SELECT count(*) FROM registry_household_transfer t"
            " WHERE t.household_id = h.id) AS n FROM registry_household h WHERE id = $1",
            household_id,
        )
    )[0]
    return str(row["village_code"]), int(row["version"]), int(row["n"])


async def ask(
    registry: httpx.AsyncClient, admin: Headers, db_urls: dict[str, str], hid: str
) -> dict[str, Any]:
    response = await registry.post(
        f"/households/{hid}/transfers", json=body(), headers=admin | await if_match(db_urls, hid)
    )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def incoming(registry: httpx.AsyncClient, who: Headers, **params: str) -> list[dict[str, Any]]:
    response = await registry.get(
        "/household-transfers", params={"direction": "incoming"} | params, headers=who
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def drain(
    registry: httpx.AsyncClient, db_urls: dict[str, str], who: Headers, after: str | None = None
) -> tuple[list[Any], str]:
    """Every feed item from `after` until caught up; and the last cursor."""
    await settle(db_urls)
    items: list[Any] = []
    while True:
        params = {"after": after} if after else {}
        response = await registry.get(
            "/changes", params=params, headers=who | {"Accept-Encoding": "identity"}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            assert after is not None
            return items, after


@pytest.mark.usefixtures("other_county")
class TestHandover:
    async def test_the_full_handover_across_two_counties(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        dest: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        _unit, cadres = await unit_and_cadres(registry, admin, "staff")
        await pair(registry, admin, hid, cadres[0], str(TODAY - timedelta(days=30)))
        _, source_cursor = await drain(registry, db_urls, admin)
        _, dest_cursor = await drain(registry, db_urls, dest)

        transfer = await ask(registry, admin, db_urls, hid)
        assert transfer["status"] == "pending" and transfer["from_village_code"] == VILLAGE
        assert (
            transfer["to_village_code"] == OTHER_COUNTY_VILLAGE and transfer["requested_by"] == "admin-jingxi"
        )
        # Still the source's household until accepted: the destination cannot read it yet.
        assert (await state(db_urls, hid))[0] == VILLAGE
        assert_problem(await registry.get(f"/households/{hid}", headers=dest), 404)
        # The destination sees it coming, with a brief of the household and no personal data.
        listed = await incoming(registry, dest)
        assert [i["id"] for i in listed] == [transfer["id"]]
        assert listed[0]["household"] == {
            "head_name": "黄志强",
            "household_size": listed[0]["household"]["household_size"],
            "poverty_cause_primary": listed[0]["household"]["poverty_cause_primary"],
        }
        assert listed[0]["household"]["household_size"] >= 1
        assert "id_number" not in json.dumps(listed[0]) and "phone" not in json.dumps(listed[0])
        assert await incoming(registry, admin) == []  # nothing comes into the source county
        outgoing = await registry.get("/household-transfers", params={"direction": "outgoing"}, headers=admin)
        assert [i["id"] for i in outgoing.json()["items"]] == [transfer["id"]]

        accepted = await registry.post(
            f"/household-transfers/{transfer['id']}/accept",
            json={"natural_village": "那甲屯", "note": "已办理户口迁入"},
            headers=dest,
        )
        assert accepted.status_code == 200, accepted.text
        answer = accepted.json()
        assert answer["status"] == "accepted" and answer["decided_by"] == "admin-debao"
        village, version, _ = await state(db_urls, hid)
        assert village == OTHER_COUNTY_VILLAGE and answer["household_version"] == version
        # The destination reads it now, the source no longer does.
        card = await registry.get(f"/households/{hid}", headers=dest)
        assert card.status_code == 200, card.text
        assert (
            card.json()["village_code"] == OTHER_COUNTY_VILLAGE and card.json()["natural_village"] == "那甲屯"
        )
        assert card.json()["status"] == "registered"
        assert_problem(await registry.get(f"/households/{hid}", headers=admin), 404)
        assert await incoming(registry, dest) == []
        assert [i["status"] for i in await incoming(registry, dest, status="accepted")] == ["accepted"]
        # The pairing is kept; the history has a relocate event; both sides have an audit entry.
        pairings = await sql(
            db_urls,
            "SELECT count(*) FROM registry_pairing WHERE household_id = $1 AND superseded_at IS NULL",
            hid,
        )
        assert pairings[0][0] == 1
        events = await sql(
            db_urls,
            "SELECT status_after, data FROM registry_workflow_event WHERE household_id = $1"
            " AND command = 'relocate'",
            hid,
        )
        assert len(events) == 1 and events[0]["status_after"] == "registered"
        audits = await sql(
            db_urls,
            "SELECT region_code FROM registry_audit_event WHERE household_id = $1"
            " AND action = 'household.transfer_accept' ORDER BY region_code",
            hid,
        )
        assert [a["region_code"] for a in audits] == [VILLAGE, OTHER_COUNTY_VILLAGE]
        # THE FEED: the source is told the household left its scope, the destination gets it.
        left, _ = await drain(registry, db_urls, admin, source_cursor)
        mine = [(i["op"], i["reason"]) for i in left if i["type"] == "household" and i["id"] == hid]
        assert ("tombstone", "left_scope") in mine and mine[-1] == ("tombstone", "left_scope")
        arrived, _ = await drain(registry, db_urls, dest, dest_cursor)
        theirs = [i for i in arrived if i["type"] == "household" and i["id"] == hid]
        assert theirs and theirs[-1]["op"] == "upsert"
        assert theirs[-1]["record"]["village_code"] == OTHER_COUNTY_VILLAGE
        # Done: a second acceptance is refused.
        again = await registry.post(f"/household-transfers/{transfer['id']}/accept", json={}, headers=dest)
        assert assert_problem(again, 409)["code"] == "transfer_not_pending"

    async def test_pending_blocks_relocation_and_a_second_transfer(
        self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers, db_urls: dict[str, str]
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        await ask(registry, admin, db_urls, hid)
        before = await state(db_urls, hid)
        second = await registry.post(
            f"/households/{hid}/transfers", json=body(), headers=admin | await if_match(db_urls, hid)
        )
        assert assert_problem(second, 409)["code"] == "transfer_pending"
        relocate = await registry.post(
            f"/households/{hid}/relocate",
            json={"to_village_code": OTHER_VILLAGE, "reason": "relocation", "effective_date": str(TODAY)},
            headers=admin | await if_match(db_urls, hid),
        )
        assert assert_problem(relocate, 409)["code"] == "transfer_pending"
        assert await state(db_urls, hid) == before

    @pytest.mark.parametrize(
        ("payload", "status", "code"),
        [
            (body(OTHER_COUNTY_TOWNSHIP), 422, "not_a_village"),
            (body(OTHER_VILLAGE), 422, "transfer_same_county"),
            (body("451026100299"), 422, "region_unknown"),
            (body(effective_date=str(TODAY + timedelta(days=2))), 422, "relocation_date_future"),
            (body(reason="tourism"), 422, None),
        ],
    )
    async def test_bad_requests_change_nothing(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        db_urls: dict[str, str],
        payload: dict[str, Any],
        status: int,
        code: str | None,
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        before = await state(db_urls, hid)
        response = await registry.post(
            f"/households/{hid}/transfers", json=payload, headers=admin | await if_match(db_urls, hid)
        )
        problem = assert_problem(response, status)
        if code is not None:
            assert problem["code"] == code
        assert await state(db_urls, hid) == before

    async def test_mid_workflow_stale_and_who(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        stale = {"If-Match": '"999"'}
        assert_problem(
            await registry.post(f"/households/{hid}/transfers", json=body(), headers=admin | stale), 412
        )
        township = auth(issue(signing_key, "township_officer", TOWNSHIP, sub="officer-xinjing"))
        refused = await registry.post(
            f"/households/{hid}/transfers", json=body(), headers=township | await if_match(db_urls, hid)
        )
        assert assert_problem(refused, 403)["code"] == "transfer_not_allowed"
        await set_household_status(db_urls, hid, "first_notice")
        busy = await registry.post(
            f"/households/{hid}/transfers", json=body(), headers=admin | await if_match(db_urls, hid)
        )
        assert assert_problem(busy, 409)["code"] == "relocation_in_workflow"
        assert (await state(db_urls, hid))[2] == 0

    async def test_wrong_county_and_wrong_side(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        dest: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        transfer = await ask(registry, admin, db_urls, hid)
        third = auth(issue(signing_key, "county_admin", "451027000000", sub="admin-napo"))
        for step, payload in (("accept", {}), ("reject", {"reason": "x"}), ("cancel", {"reason": "x"})):
            outside = assert_problem(
                await registry.post(
                    f"/household-transfers/{transfer['id']}/{step}", json=payload, headers=third
                ),
                404,
            )
            missing = assert_problem(
                await registry.post(f"/household-transfers/{MISSING}/{step}", json=payload, headers=third),
                404,
            )
            same = {k: v for k, v in outside.items() if k not in ("detail", "instance")}
            assert same == {k: v for k, v in missing.items() if k not in ("detail", "instance")}
        assert await incoming(registry, third) == []
        # The source does not accept its own request; the destination does not cancel it.
        own = await registry.post(f"/household-transfers/{transfer['id']}/accept", json={}, headers=admin)
        assert assert_problem(own, 403)["code"] == "transfer_wrong_side"
        theirs = await registry.post(
            f"/household-transfers/{transfer['id']}/cancel", json={"reason": "x"}, headers=dest
        )
        assert assert_problem(theirs, 403)["code"] == "transfer_wrong_side"
        assert (await state(db_urls, hid))[0] == VILLAGE
        pending = await sql(
            db_urls, "SELECT status FROM registry_household_transfer WHERE household_id = $1", hid
        )
        assert [r["status"] for r in pending] == ["pending"]

    async def test_cancel_then_ask_again_then_reject(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        dest: Headers,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        first = await ask(registry, admin, db_urls, hid)
        cancelled = await registry.post(
            f"/household-transfers/{first['id']}/cancel", json={"reason": "申请有误"}, headers=admin
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled" and cancelled.json()["decision_reason"] == "申请有误"
        assert await incoming(registry, dest) == []
        second = await ask(registry, admin, db_urls, hid)  # no longer pending: a new request may be made
        rejected = await registry.post(
            f"/household-transfers/{second['id']}/reject", json={"reason": "户口未迁入"}, headers=dest
        )
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["status"] == "rejected"
        late = await registry.post(
            f"/household-transfers/{second['id']}/cancel", json={"reason": "x"}, headers=admin
        )
        assert assert_problem(late, 409)["code"] == "transfer_not_pending"
        village, _, count = await state(db_urls, hid)
        assert village == VILLAGE and count == 2
        assert_problem(
            await registry.post(f"/household-transfers/{second['id']}/reject", json={}, headers=dest), 422
        )

    async def test_pending_blocks_workflow_steps_until_cancelled(
        self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers, db_urls: dict[str, str]
    ) -> None:
        hid = await create_household(registry, clerk)  # a candidate: the village may apply for it
        transfer = await ask(registry, admin, db_urls, hid)
        before = await state(db_urls, hid)
        path = f"/households/{hid}/workflow/apply"
        blocked = await registry.post(path, json={"data": {}}, headers=clerk | await if_match(db_urls, hid))
        assert assert_problem(blocked, 409)["code"] == "transfer_pending"
        assert await state(db_urls, hid) == before
        cancelled = await registry.post(
            f"/household-transfers/{transfer['id']}/cancel", json={"reason": "暂缓"}, headers=admin
        )
        assert cancelled.status_code == 200, cancelled.text
        applied = await registry.post(path, json={"data": {}}, headers=clerk | await if_match(db_urls, hid))
        assert applied.status_code == 200, applied.text


@pytest.mark.usefixtures("other_county")
class TestReadAndPages:
    async def test_either_side_reads_one_transfer_and_nobody_else(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        dest: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        transfer = await ask(registry, admin, db_urls, hid)
        for side in (admin, dest):
            response = await registry.get(f"/household-transfers/{transfer['id']}", headers=side)
            assert response.status_code == 200, response.text
            read = response.json()
            assert {k: v for k, v in read.items() if k != "household"} == transfer
            assert read["household"]["head_name"] == "黄志强" and read["household"]["household_size"] >= 1
            assert "id_number" not in response.text and "phone" not in response.text
        # Another county's office: missing, exactly like a transfer that does not exist.
        third = auth(issue(signing_key, "county_admin", "451027000000", sub="admin-napo"))
        outside = assert_problem(
            await registry.get(f"/household-transfers/{transfer['id']}", headers=third), 404
        )
        missing = assert_problem(await registry.get(f"/household-transfers/{MISSING}", headers=third), 404)
        assert {k: v for k, v in outside.items() if k not in ("detail", "instance")} == {
            k: v for k, v in missing.items() if k not in ("detail", "instance")
        }
        # Below the county office: refused before any lookup, as the list is.
        refused = await registry.get(f"/household-transfers/{transfer['id']}", headers=clerk)
        assert assert_problem(refused, 403)["code"] == "transfer_not_allowed"

    async def test_keyset_pages_oldest_request_first(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        dest: Headers,
        db_urls: dict[str, str],
    ) -> None:
        asked = [
            (await ask(registry, admin, db_urls, await registered_household(registry, clerk, db_urls)))["id"]
            for _ in range(5)
        ]
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"direction": "incoming", "limit": "2"} | ({"cursor": cursor} if cursor else {})
            response = await registry.get("/household-transfers", params=params, headers=dest)
            assert response.status_code == 200, response.text
            page = response.json()
            pages += 1
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and seen == asked
        # A page that ends exactly at the last transfer says so (no empty page after it).
        whole = await registry.get(
            "/household-transfers", params={"direction": "outgoing", "limit": "5"}, headers=admin
        )
        assert [i["id"] for i in whole.json()["items"]] == asked and whole.json()["next_cursor"] is None
        # A cursor continues its own list only; a forged one is refused.
        first = await registry.get(
            "/household-transfers", params={"direction": "incoming", "limit": "2"}, headers=dest
        )
        other_list = await registry.get(
            "/household-transfers",
            params={"direction": "outgoing", "limit": "2", "cursor": first.json()["next_cursor"]},
            headers=dest,
        )
        assert assert_problem(other_list, 400)["code"] == "cursor_invalid"
        forged = await registry.get(
            "/household-transfers",
            params={"direction": "incoming", "cursor": "bm90LWEtY3Vyc29y"},
            headers=dest,
        )
        assert assert_problem(forged, 400)["code"] == "cursor_invalid"

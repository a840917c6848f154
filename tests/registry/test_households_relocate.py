"""Household relocation (易地扶贫搬迁, issue #15): `POST /households/{id}/relocate`, against the real registry app
and PostgreSQL, plus the pure rule (households/domain.py `check_relocation`).

A relocation moves the whole record to another administrative village of the county office's scope: members,
history and pairings stay, the old village's lists and officers no longer see it, the new village's do, and the
move leaves a history-only workflow event, an audit entry and a change-feed row. Refusals change nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.registry.households import domain
from services.registry.identification import domain as workflow
from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.jwt import SigningKey
from shared.roles import Principal, Role
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_VILLAGE,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    create_household,
    issue,
    pair,
    registered_household,
    set_household_status,
    sql,
    unit_and_cadres,
)

Headers = dict[str, str]
TODAY = datetime.now(UTC).date()
#: A village code inside the county that names no region.
UNKNOWN_VILLAGE = "451025100299"


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "township_officer", TOWNSHIP, sub="officer-xinjing"))


def body(to: str = OTHER_VILLAGE, **extra: Any) -> dict[str, Any]:
    return {
        "to_village_code": to,
        "reason": "relocation",
        "effective_date": str(TODAY - timedelta(days=1)),
        "document_reference": "靖政发[2016]12号",
    } | extra


async def version_of(registry: httpx.AsyncClient, headers: Headers, household_id: str) -> str:
    response = await registry.get(f"/households/{household_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


async def listed(registry: httpx.AsyncClient, headers: Headers) -> set[str]:
    response = await registry.get("/households", headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def village_and_version(db_urls: dict[str, str], household_id: str) -> tuple[str, int]:
    row = (
        await sql(db_urls, "SELECT village_code, version FROM registry_household WHERE id = $1", household_id)
    )[0]
    return str(row["village_code"]), int(row["version"])


# == the rule, pure ===============================================================================================
class TestCheckRelocation:
    admin = Principal(sub="a", role=Role.county_admin, region=COUNTY)

    def check(
        self,
        principal: Principal | None = None,
        status: str = "registered",
        to: str = OTHER_VILLAGE,
        effective: date = TODAY,
    ) -> None:
        domain.check_relocation(
            principal or self.admin, status, VILLAGE, to, effective=effective, today=TODAY
        )

    def test_registered_exited_and_candidate_households_move(self) -> None:
        for status in ("registered", "exited", "candidate", "rejected"):
            self.check(status=status)

    def test_refusals(self) -> None:
        township = Principal(sub="t", role=Role.township_officer, region=TOWNSHIP)
        cases: list[tuple[dict[str, Any], type[Exception], str]] = [
            ({"principal": township}, NotAllowed, "relocation_not_allowed"),
            ({"status": "removed"}, Refused, "record_closed"),
            ({"status": "dissolved"}, Refused, "record_closed"),
            ({"status": "first_notice"}, Refused, "relocation_in_workflow"),
            ({"to": TOWNSHIP}, Invalid, "not_a_village"),
            ({"to": VILLAGE}, Invalid, "relocation_same_village"),
            ({"to": OTHER_COUNTY_VILLAGE}, Missing, "region_missing"),
            ({"effective": TODAY + timedelta(days=1)}, Invalid, "relocation_date_future"),
        ]
        for kwargs, kind, code in cases:
            with pytest.raises(kind) as caught:
                self.check(**kwargs)
            assert getattr(caught.value, "code", None) == code, kwargs

    def test_relocation_events_leave_the_workflow_state_alone(self) -> None:
        assert workflow.RELOCATION_COMMAND in workflow.HISTORY_ONLY_COMMANDS


# == the route =====================================================================================================
@pytest.mark.usefixtures("seed_regions")
class TestRelocate:
    async def test_across_townships_the_household_changes_lists_and_keeps_pairings(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        _unit, cadres = await unit_and_cadres(registry, admin, "staff")
        await pair(registry, admin, hid, cadres[0], str(TODAY - timedelta(days=30)))
        changes_before = (
            await sql(db_urls, "SELECT count(*) FROM registry_change WHERE household_id = $1", hid)
        )[0][0]
        tag = await version_of(registry, admin, hid)
        new_clerk = auth(issue(signing_key, "village_officer", OTHER_VILLAGE, sub="clerk-huadong"))
        other_township = auth(issue(signing_key, "township_officer", OTHER_TOWNSHIP, sub="officer-huadong"))
        assert hid in await listed(registry, clerk) and hid not in await listed(registry, new_clerk)

        moved = await registry.post(
            f"/households/{hid}/relocate",
            json=body(natural_village="安置点", note="整户搬迁至集中安置点"),
            headers=admin | {"If-Match": tag},
        )

        assert moved.status_code == 200, moved.text
        answer = moved.json()
        assert answer["village_code"] == OTHER_VILLAGE and answer["from_village_code"] == VILLAGE
        assert answer["active_pairings"] == 1
        assert moved.headers["etag"] == f'"{answer["version"]}"'
        # The old village no longer lists or reads it; the new village and township do.
        assert hid not in await listed(registry, clerk)
        assert_problem(await registry.get(f"/households/{hid}", headers=clerk), 404)
        assert hid in await listed(registry, new_clerk)
        assert hid in await listed(registry, other_township)
        card = (await registry.get(f"/households/{hid}", headers=new_clerk)).json()
        assert card["village_code"] == OTHER_VILLAGE and card["status"] == "registered"
        # The pairing stays (不脱贫不脱钩).
        pairings = await sql(
            db_urls,
            "SELECT count(*) FROM registry_pairing WHERE household_id = $1 AND superseded_at IS NULL"
            " AND valid_to IS NULL",
            hid,
        )
        assert pairings[0][0] == 1
        # The history: a workflow event, an audit entry with both villages, a change-feed row.
        events = await sql(
            db_urls,
            "SELECT command, status_after, data FROM registry_workflow_event WHERE household_id = $1",
            hid,
        )
        relocations = [e for e in events if e["command"] == "relocate"]
        assert len(relocations) == 1 and relocations[0]["status_after"] == "registered"
        audits = await sql(
            db_urls,
            "SELECT detail, region_code FROM registry_audit_event WHERE household_id = $1"
            " AND action = 'household.relocate'",
            hid,
        )
        assert len(audits) == 1
        detail = audits[0]["detail"]
        detail = detail if isinstance(detail, dict) else json.loads(detail)
        assert detail["from_village_code"] == VILLAGE and detail["to_village_code"] == OTHER_VILLAGE
        assert detail["document_reference"] == "靖政发[2016]12号" and detail["pairings_kept"] == 1
        changes_after = (
            await sql(db_urls, "SELECT count(*) FROM registry_change WHERE household_id = $1", hid)
        )[0][0]
        assert changes_after > changes_before
        assert await village_and_version(db_urls, hid) == (OTHER_VILLAGE, answer["version"])

    async def test_within_a_township_and_stale_version(
        self, registry: httpx.AsyncClient, clerk: Headers, admin: Headers, db_urls: dict[str, str]
    ) -> None:
        hid = await create_household(registry, clerk)
        tag = await version_of(registry, admin, hid)
        moved = await registry.post(
            f"/households/{hid}/relocate",
            json=body(SIBLING_VILLAGE, reason="marriage_move"),
            headers=admin | {"If-Match": tag},
        )
        assert moved.status_code == 200, moved.text
        assert (await village_and_version(db_urls, hid))[0] == SIBLING_VILLAGE
        # The old tag is stale now: 412, nothing changes.
        again = await registry.post(
            f"/households/{hid}/relocate", json=body(VILLAGE), headers=admin | {"If-Match": tag}
        )
        assert_problem(again, 412)
        assert (await village_and_version(db_urls, hid))[0] == SIBLING_VILLAGE

    @pytest.mark.parametrize(
        ("payload", "status", "code"),
        [
            (body(TOWNSHIP), 422, "not_a_village"),
            (body(VILLAGE), 422, "relocation_same_village"),
            (body(UNKNOWN_VILLAGE), 422, "region_unknown"),
            (body(effective_date=str(TODAY + timedelta(days=2))), 422, "relocation_date_future"),
            (body(reason="tourism"), 422, None),
            (body(OTHER_COUNTY_VILLAGE), 404, "region_missing"),
        ],
    )
    async def test_bad_destinations_change_nothing(
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
        before = await village_and_version(db_urls, hid)
        tag = await version_of(registry, admin, hid)
        problem = assert_problem(
            await registry.post(
                f"/households/{hid}/relocate", json=payload, headers=admin | {"If-Match": tag}
            ),
            status,
        )
        if code is not None:
            assert problem["code"] == code
        assert await village_and_version(db_urls, hid) == before

    @pytest.mark.parametrize(
        ("status", "code"), [("removed", "record_closed"), ("first_notice", "relocation_in_workflow")]
    )
    async def test_closed_or_mid_workflow_households_are_refused(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        db_urls: dict[str, str],
        status: str,
        code: str,
    ) -> None:
        hid = await create_household(registry, clerk)
        await set_household_status(db_urls, hid, status)
        before = await village_and_version(db_urls, hid)
        problem = assert_problem(
            await registry.post(
                f"/households/{hid}/relocate", json=body(), headers=admin | {"If-Match": f'"{before[1]}"'}
            ),
            409,
        )
        assert problem["code"] == code
        assert await village_and_version(db_urls, hid) == before

    async def test_out_of_scope_answers_like_missing_and_roles_are_refused(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        hid = await registered_household(registry, clerk, db_urls)
        before = await village_and_version(db_urls, hid)
        if_match = {"If-Match": f'"{before[1]}"'}
        other_admin = auth(issue(signing_key, "county_admin", OTHER_COUNTY, sub="admin-napo"))
        outside = assert_problem(
            await registry.post(f"/households/{hid}/relocate", json=body(), headers=other_admin | if_match),
            404,
        )
        missing = assert_problem(
            await registry.post(
                "/households/00000000-0000-4000-8000-000000000000/relocate",
                json=body(),
                headers=other_admin | if_match,
            ),
            404,
        )
        assert set(outside) == set(missing) and outside["type"] == missing["type"]
        assert outside["detail"].replace(hid, "?") == missing["detail"].replace(
            "00000000-0000-4000-8000-000000000000", "?"
        )
        # Township and village officers write households but do not relocate them; cadres never write.
        for headers in (township, clerk):
            problem = assert_problem(
                await registry.post(f"/households/{hid}/relocate", json=body(), headers=headers | if_match),
                403,
            )
            assert problem["code"] == "relocation_not_allowed"
        cadre = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-x"))
        assert_problem(
            await registry.post(f"/households/{hid}/relocate", json=body(), headers=cadre | if_match), 403
        )
        assert await village_and_version(db_urls, hid) == before

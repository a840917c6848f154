"""The registry's scope matrix: every route that names a record, called by every kind of outsider.

DOMAIN.md §1.4 and invariants 32 and 48: scope is "region subtree ∩ role"; a cadre reads and writes only
households with an active pairing; the provincial client is read-only. CONTRIBUTING.md: out of scope answers
exactly like missing.

The matrix is built from the app's own routes: every route whose path has a parameter naming a record
(`{household_id}`, `{record_id}`, `{code}` …; anything but the few listed in `NOT_RECORDS`) must have a probe
in `PROBES`, so a new route without a scope probe fails `test_every_record_route_has_a_probe`. One world (two
households of 旧州村 with members and a flag, a helping unit and two cadres, a pairing, a help record with a
photo, a help plan, a monitoring round) is built once for the module. Then, for each outsider — a village
officer of the sibling village, a township officer of the other township, the admin of another county, the
system of another province, a cadre without a pairing — every probe is sent twice, on the world's records and
on ids that do not exist: both answers must be the same problem (apart from the ids and `instance`), 404 for a
read and 404 or 403 for a write (403 where the role never may, before any lookup), and the database must not
have changed at all. Last, the insiders of the world send every probe, to show the probes reach real records.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from services.registry.changes.domain import Position
from services.registry.changes.schemas import encode_position
from services.registry.settings import RegistrySettings
from shared.clock import CHINA_TIME
from shared.jwt import KeySet, SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)
from tests.harness import running

#: A code inside the county that names no region: the "missing" twin of a region code.
MISSING_CODE = "451025100299"
TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

#: Path parameters that do not name a record (a year, a parameter name, a workflow command, an export dataset).
NOT_RECORDS = frozenset({"year", "name", "command", "dataset"})

OUTSIDERS: dict[str, tuple[str, str]] = {
    "sibling village officer": ("village_officer", SIBLING_VILLAGE),
    "other township officer": ("township_officer", OTHER_TOWNSHIP),
    "other county admin": ("county_admin", "451026000000"),
    "other province system": ("province_system", "440000000000"),
    "cadre without pairing": ("cadre", COUNTY),
}
#: Roles that never write what these routes write: refused (403) before any lookup.
NEVER_WRITE = frozenset({"province_system", "cadre"})


# -- the world ----------------------------------------------------------------------------------------------------
@dataclass
class World:
    """The in-scope records every probe names, and the clients of the people they belong to."""

    client: httpx.AsyncClient
    db_url: str
    headers: dict[str, dict[str, str]]  # insider name → auth headers
    household: dict[str, Any]
    other: dict[str, Any]
    flag_id: str
    unit_id: str
    cadre_id: str
    successor_id: str
    pairing_id: str
    record: dict[str, Any]
    attachment_id: str
    item_id: str
    round_id: str
    job_id: str = ""  # an import job of the county admin (issue #15)
    webhook_id: str = ""  # a webhook subscription of the county admin (issue #15)
    transfer_id: str = ""  # a pending transfer of the other household to THIRD_COUNTY (issue #15)

    def member(self, i: int) -> str:
        member_id: str = self.household["members"][i]["id"]
        return member_id

    @property
    def params(self) -> dict[str, str]:
        """The value of every path parameter, for the records of this world."""
        return {
            "household_id": self.household["id"],
            "member_id": self.member(1),
            "flag_id": self.flag_id,
            "record_id": self.record["id"],
            "attachment_id": self.attachment_id,
            "unit_id": self.unit_id,
            "cadre_id": self.cadre_id,
            "pairing_id": self.pairing_id,
            "item_id": self.item_id,
            "round_id": self.round_id,
            "job_id": self.job_id,
            "webhook_id": self.webhook_id,
            "transfer_id": self.transfer_id,
            "code": VILLAGE,
            "year": "2016",
            "name": "notice_days",
            "command": "apply",
        }


Body = dict[str, Any] | None


@dataclass(frozen=True)
class Probe:
    """One call of one route on the world's records."""

    method: str
    path: str  # the route's template, as the app declares it
    #: The JSON body, from the world and the values of the path's parameters (a body may repeat a path id).
    body: Callable[[World, dict[str, str]], Body] = lambda w, v: None
    query: str = ""
    params: Callable[[World], dict[str, str]] = lambda w: {}  # per-probe parameter values
    #: Where the current version (the If-Match to send) is read, as a template; None: no If-Match.
    version_of: str | None = None
    content: tuple[bytes, str] | None = None  # a raw body and its content type
    #: Outsider role → status, where it is not the default (read 404; write 403 for NEVER_WRITE, else 404).
    statuses: dict[str, int] = field(default_factory=dict)
    #: Outsiders for whom the record is legitimately in scope (reference data): a read answers 200, a write
    #: its expected status, and there is no missing twin to compare with.
    visible_to: frozenset[str] = frozenset()
    #: Who reaches it in the positive control, and what they may legitimately be told.
    insider: str = "admin"
    insider_refusals: frozenset[int] = frozenset()

    @property
    def write(self) -> bool:
        return self.method != "GET"

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def expected(self, role: str) -> int:
        if role in self.statuses:
            return self.statuses[role]
        return 403 if self.write and role in NEVER_WRITE else 404

    def names(self) -> set[str]:
        """The record parameters of the path."""
        return set(re.findall(r"\{(\w+)\}", self.path)) - NOT_RECORDS

    def values(self, world: World, *, missing: bool = False) -> dict[str, str]:
        """Every parameter's value; with `missing`, the path's records replaced by ids that name nothing."""
        values = world.params | self.params(world)
        if missing:
            values |= {k: _missing_twin(values[k]) for k in self.names()}
        return values


def _missing_twin(value: str) -> str:
    """An id of the same kind as `value` that names nothing."""
    if re.fullmatch(r"[0-9]{12}", value):
        return MISSING_CODE
    if value.isdigit():
        return str(10**9 + int(value))
    return str(uuid.uuid4())


# -- the table of probes ---------------------------------------------------------------------------------------
INCOME = {"wage": "1", "operating": "0", "property": "0", "transfer": "0", "operating_expenses": "0"}
HOUSEHOLD = "/households/{household_id}"
HELP_PLAN = "/households/{household_id}/help-plan"
RECORD = "/help-records/{record_id}"
#: Reading unmasked personal data is for the county and the province only: refused before any lookup.
UNMASK_REFUSED = {"village_officer": 403, "township_officer": 403, "cadre": 403}
#: The region tree is reference data a cadre reads within their unit's county (tests/test_scope.py).
REGION_TREE_READERS = frozenset({"cadre without pairing"})
#: Cadres write help plans and help records of their paired households: without a pairing, 404.
CADRE_WRITES = {"cadre": 404}
#: Webhook subscriptions are their owner's: every other caller, writer or not, finds none.
WEBHOOK_WRITES = {"province_system": 404, "cadre": 404}
#: A valid change-feed cursor (a replay's `after`).
FEED_START = encode_position(Position(1, 0))
#: The county a household transfer of the world goes to (issue #15): county, township, village.
THIRD_COUNTY = ("451027000000", "451027100000", "451027100201")


def _transfer(w: World | None, v: dict[str, str]) -> Body:
    return {"to_village_code": THIRD_COUNTY[2], "reason": "marriage_move", "effective_date": str(TODAY)}


#: Region statuses and policy parameters are set by county administrators only (DOMAIN.md §1.4).
COUNTY_ONLY = {"village_officer": 403, "township_officer": 403}
#: Transfers are read by county offices only (the list's rule): every other role is refused before any lookup.
TRANSFER_READ_REFUSED = COUNTY_ONLY | {"province_system": 403, "cadre": 403}


def _plan(w: World, v: dict[str, str]) -> Body:
    """The next version of the world's help plan (same item, a new description)."""
    return _plan_body(w.cadre_id, item_id=w.item_id, description="养山羊 12 只")


def _record_fix(w: World, v: dict[str, str]) -> Body:
    fix = {k: v for k, v in w.record.items() if k not in ("id", "household_id")}
    return fix | {"content": "补充走访内容", "correction_reason": "补充"}


PROBES: list[Probe] = [
    # households (建档立卡户)
    Probe("GET", HOUSEHOLD, insider="clerk"),
    Probe("GET", HOUSEHOLD, query="?unmask=true", statuses=UNMASK_REFUSED),
    Probe("GET", "/households/{household_id}/help-records", insider="cadre"),
    Probe("GET", "/households/{household_id}/pairings"),
    Probe("GET", HELP_PLAN, insider="cadre"),
    Probe(
        "PATCH", HOUSEHOLD, lambda w, v: {"bank_name": "农村商业银行"}, version_of=HOUSEHOLD, insider="clerk"
    ),
    Probe(
        "POST",
        "/households/{household_id}/members",
        lambda w, v: household_payload()["members"][2] | {"relation": "son"},
        version_of=HOUSEHOLD,
        insider="clerk",
    ),
    Probe(
        "PATCH",
        "/households/{household_id}/members/{member_id}",
        lambda w, v: {"name": "黄小明"},
        version_of=HOUSEHOLD,
        insider="clerk",
    ),
    Probe(
        "PUT",
        "/households/{household_id}/incomes/{year}",
        lambda w, v: INCOME,
        params=lambda w: {"year": "2013"},
        version_of=HOUSEHOLD,
        insider="clerk",
    ),
    Probe(
        "POST",
        "/households/{household_id}/flags/{flag_id}/clear",
        lambda w, v: {"reason": "入户核实"},
        version_of=HOUSEHOLD,
        insider="township",  # flags are cleared above the village
    ),
    Probe(
        "POST",
        "/households/{household_id}/quota-override",
        lambda w, v: {"household_id": v["household_id"], "reason": "特殊困难"},
        version_of=HOUSEHOLD,
        # Only the county overrides a quota: officers below are refused before any lookup.
        statuses={"village_officer": 403, "township_officer": 403},
        insider="admin",
        insider_refusals=frozenset({409, 422}),
    ),
    Probe(
        "POST",
        "/households/{household_id}/workflow/{command}",
        lambda w, v: {"data": {}},
        version_of=HOUSEHOLD,
        insider="clerk",
        insider_refusals=frozenset({409, 422}),
    ),
    # help plans (一户一策)
    Probe(
        "PUT",
        HELP_PLAN,
        _plan,
        version_of=HELP_PLAN,
        statuses=CADRE_WRITES,
        insider="cadre",
        # the workflow probe above may have moved the household out of `registered`: plans are then refused
        insider_refusals=frozenset({409}),
    ),
    Probe(
        "POST",
        HELP_PLAN + "/acknowledgement",
        lambda w, v: {"version": 1, "signatory": "黄志强", "acknowledged_on": str(TODAY)},
        statuses=CADRE_WRITES,
        insider="cadre",
        insider_refusals=frozenset({409}),
    ),
    Probe(
        "POST",
        HELP_PLAN + "/items/{item_id}/progress",
        lambda w, v: {"percent": 40, "note": "已购羊 6 只"},
        statuses=CADRE_WRITES,
        insider="cadre",
    ),
    # help records (帮扶记录)
    Probe("GET", RECORD, insider="cadre"),
    Probe("GET", RECORD + "/attachments/{attachment_id}", insider="township"),
    Probe(
        "POST", RECORD + "/versions", _record_fix, version_of=RECORD, statuses=CADRE_WRITES, insider="cadre"
    ),
    Probe(
        "POST",
        RECORD + "/confirmations",
        lambda w, v: {"party": "unit_responsible", "signatory": "李局长"},
        statuses=CADRE_WRITES,  # the cadre signs for the household head
        insider="township",
    ),
    Probe(
        "POST",
        RECORD + "/reviews",
        lambda w, v: {"flag": "clock_skew", "outcome": "accepted", "reason": "核实"},
        statuses=CADRE_WRITES,
        insider="township",
        insider_refusals=frozenset({409}),  # the world's record carries no flag to review
    ),
    Probe(
        "POST",
        RECORD + "/attachments",
        content=(PNG + b"matrix", "image/png"),
        statuses=CADRE_WRITES,
        insider="cadre",
    ),
    # helping units, cadres, work teams, pairings (结对帮扶)
    Probe("GET", "/helping-units/{unit_id}"),
    Probe(
        "PUT",
        "/helping-units/{unit_id}/responsible",
        lambda w, v: {"responsible_sub": "matrix-unit-boss"},
        version_of="/helping-units/{unit_id}",
        statuses=COUNTY_ONLY,  # the county office links the unit's responsible person
    ),
    Probe("GET", "/cadres/{cadre_id}"),
    Probe(
        "PATCH",
        "/cadres/{cadre_id}",
        lambda w, v: {"position": "科长"},
        version_of="/cadres/{cadre_id}",
        statuses={"village_officer": 403},  # cadres are managed by townships and counties
    ),
    Probe("GET", "/villages/{code}/assignments"),
    # the notice board (公示): every role of the region reads it
    Probe("GET", "/villages/{code}/notices", visible_to=REGION_TREE_READERS),
    Probe("GET", "/villages/{code}/notices/print", visible_to=REGION_TREE_READERS),
    Probe(
        "POST",
        "/pairings/{pairing_id}/end",
        lambda w, v: {
            "valid_to": str(TODAY),
            "end_reason": "handover",
            "reason": "调岗",
            "successor": {"cadre_id": w.successor_id},
        },
    ),
    # monitoring rounds (监测)
    Probe("GET", "/monitoring/rounds/{round_id}", insider="township"),
    Probe(
        "POST",
        "/monitoring/rounds/{round_id}/findings",
        lambda w, v: {
            "pairing_id": w.pairing_id,
            "projects": "养羊项目",
            "funds_yuan": "8000.00",
            "results": "人均增收 1000 元",
        },
        statuses={"village_officer": 403},  # rounds are run by townships and counties (DOMAIN.md §2.17)
        insider="township",
    ),
    Probe(
        "POST",
        "/monitoring/rounds/{round_id}/close",
        lambda w, v: {"summary": "按计划推进"},
        statuses={"village_officer": 403},
        insider="township",
    ),
    # regions (区划), their statuses, policy parameters, quotas and population
    Probe("GET", "/regions/{code}", visible_to=REGION_TREE_READERS),
    Probe("GET", "/regions/{code}/subtree", visible_to=REGION_TREE_READERS),
    Probe("GET", "/regions/{code}/statuses", visible_to=REGION_TREE_READERS),
    Probe("GET", "/regions/{code}/policy/{year}", visible_to=REGION_TREE_READERS),
    Probe("GET", "/regions/{code}/quotas/{year}", visible_to=REGION_TREE_READERS),
    Probe(
        "PUT",
        "/regions/{code}/statuses/{year}",
        lambda w, v: {"statuses": ["poor_village"]},
        statuses=COUNTY_ONLY,
        visible_to=REGION_TREE_READERS,
    ),
    Probe(
        "PUT",
        "/regions/{code}/policy/{year}/{name}",
        lambda w, v: {"value": 7, "reason": "县定"},
        statuses=COUNTY_ONLY,
        visible_to=REGION_TREE_READERS,
    ),
    Probe(
        "PUT",
        "/regions/{code}/quotas/{year}",
        lambda w, v: {"people": 1},
        visible_to=REGION_TREE_READERS,
        # Villages' quotas are split by their township; the county does not set them (tests/test_registry_regions.py).
        insider="township",
        insider_refusals=frozenset({409}),
    ),
    Probe("GET", "/regions/{code}/exit-targets/{year}", visible_to=REGION_TREE_READERS),
    Probe(
        "PUT",
        "/regions/{code}/exit-targets/{year}",
        lambda w, v: {"people": 1, "households": 1},
        visible_to=REGION_TREE_READERS,
        # Like quotas: villages' targets are split by their township, under the township's own target.
        insider="township",
        insider_refusals=frozenset({409}),
    ),
    # Deadlines and uploads are per township (invariant 20): probed on the world's township.
    Probe(
        "GET",
        "/regions/{code}/deadlines/{year}",
        params=lambda w: {"code": TOWNSHIP},
        visible_to=REGION_TREE_READERS,
        insider="township",
    ),
    Probe(
        "PUT",
        "/regions/{code}/uploads/{year}",
        lambda w, v: {"reference": "回执"},
        params=lambda w: {"code": TOWNSHIP},
        visible_to=REGION_TREE_READERS,
        insider="township",
    ),
    Probe(
        "PUT",
        "/regions/{code}/population/{year}",
        lambda w, v: {"population": 10},
        params=lambda w: {"year": "2014"},
        visible_to=REGION_TREE_READERS,
    ),
    # Last: the writes that reshape the household (the positive control runs in this order).
    Probe(
        "POST",
        "/households/{household_id}/members/{member_id}/leave",
        lambda w, v: {"reason": "death", "on": "2014-01-01"},
        params=lambda w: {"member_id": w.member(3)},
        version_of=HOUSEHOLD,
        insider="clerk",
    ),
    Probe(
        "POST",
        "/households/{household_id}/head",
        lambda w, v: {"member_id": w.member(1), "former_head_relation": "spouse", "reason": "户主外出务工"},
        version_of=HOUSEHOLD,
        insider="clerk",
    ),
    Probe(
        "POST",
        "/households/{household_id}/members/{member_id}/move",
        lambda w, v: {
            "to_household_id": w.other["id"],
            "to_version": w.other["version"],
            "relation": "other",
            "reason": "投亲",
        },
        params=lambda w: {"member_id": w.member(2)},
        version_of=HOUSEHOLD,
        insider="clerk",
        insider_refusals=frozenset({409, 412}),
    ),
    Probe(
        "POST",
        "/households/{household_id}/split",
        # Member 0 is no longer the head (the probe before this one made member 1 head).
        lambda w, v: {"member_ids": [w.member(0)], "new_head_id": w.member(0), "reason": "分户"},
        version_of=HOUSEHOLD,
        insider="clerk",
        insider_refusals=frozenset({409}),
    ),
    Probe(
        "POST",
        "/households/{household_id}/merge",
        lambda w, v: {
            "from_household_id": w.other["id"],
            "from_version": w.other["version"],
            "relations": {},
            "reason": "合户",
        },
        version_of=HOUSEHOLD,
        insider="clerk",
        insider_refusals=frozenset({409, 412, 422}),
    ),
    # The very last: the household leaves the world's village (易地扶贫搬迁, county office).
    Probe(
        "POST",
        "/households/{household_id}/relocate",
        lambda w, v: {
            "to_village_code": SIBLING_VILLAGE,
            "reason": "relocation",
            "effective_date": str(TODAY),
        },
        version_of=HOUSEHOLD,
        insider_refusals=frozenset({409, 412}),
    ),
    # the cross-county handover (迁出申请 / 迁入确认, issue #15): county offices only; the destination decides
    Probe(
        "POST",
        "/households/{household_id}/transfers",
        _transfer,
        version_of=HOUSEHOLD,
        statuses=COUNTY_ONLY,
        insider_refusals=frozenset({409, 412}),
    ),
    # a transfer is read by the county office of either side (the destination here), like the list
    Probe("GET", "/household-transfers/{transfer_id}", statuses=TRANSFER_READ_REFUSED, insider="dest"),
    Probe(
        "POST",
        "/household-transfers/{transfer_id}/reject",
        lambda w, v: {"reason": "户口未迁入"},
        statuses=COUNTY_ONLY,
        insider="dest",
        insider_refusals=frozenset({409}),
    ),
    Probe(
        "POST",
        "/household-transfers/{transfer_id}/accept",
        lambda w, v: {},
        statuses=COUNTY_ONLY,
        insider="dest",
        insider_refusals=frozenset({409}),
    ),
    Probe(
        "POST",
        "/household-transfers/{transfer_id}/cancel",
        lambda w, v: {"reason": "申请有误"},
        statuses=COUNTY_ONLY,
        insider_refusals=frozenset({409}),
    ),
    # import and export jobs (导入导出任务, issue #15): a job is its principal's (the county admin's)
    Probe("GET", "/jobs/{job_id}"),
    Probe("GET", "/jobs/{job_id}/errors"),
    Probe("GET", "/jobs/{job_id}/result", insider_refusals=frozenset({409})),
    # a cadre never has a job (imports are the county's, exports are not for cadres): like a missing job
    Probe("POST", "/jobs/{job_id}/cancel", statuses=CADRE_WRITES, insider_refusals=frozenset({409})),
    # signed webhooks (变更推送, issue #15): a subscription is its owner's (the county admin's login); anyone
    # else, province systems and cadres included, finds none (404, never 403: they may own subscriptions)
    Probe("GET", "/webhooks/{webhook_id}"),
    Probe("GET", "/webhooks/{webhook_id}/deliveries"),
    Probe("PATCH", "/webhooks/{webhook_id}", lambda w, v: {"status": "paused"}, statuses=WEBHOOK_WRITES),
    Probe("POST", "/webhooks/{webhook_id}/rotate-secret", statuses=WEBHOOK_WRITES),
    Probe(
        "POST", "/webhooks/{webhook_id}/replay", lambda w, v: {"after": FEED_START}, statuses=WEBHOOK_WRITES
    ),
    Probe("DELETE", "/webhooks/{webhook_id}", statuses=WEBHOOK_WRITES),  # last: it removes the subscription
]


# -- building the world once ---------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """The tests of this module share one world (`world`), which empties the tables once before building it;
    the per-test emptying of tests/conftest.py would wipe it."""


async def _truncate_all(db_urls: dict[str, str]) -> None:
    for url in db_urls.values():
        conn = await asyncpg.connect(url)
        try:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic_%'"
            )
            if tables:
                await conn.execute(
                    "TRUNCATE " + ", ".join(f'"{t["tablename"]}"' for t in tables) + " CASCADE"
                )
        finally:
            await conn.close()


async def _sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
async def world(db_urls: dict[str, str], keyset: KeySet, signing_key: SigningKey) -> AsyncIterator[World]:
    from ops.seed import DEMO_REGIONS
    from services.registry.main import create_app as create_registry

    await _truncate_all(db_urls)
    url = db_urls["registry"]
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
            DEMO_REGIONS,
        )
        await conn.execute(  # a county neither the world nor any outsider holds: where the transfer goes
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES"
            " ($1, '凌云县', 'county', '451000000000'), ($2, '泗城镇', 'township', $1), ($3, '后龙村', 'village', $2)",
            *THIRD_COUNTY,
        )
    finally:
        await conn.close()
    settings = RegistrySettings(environment="test", database_url=url, json_logs=False, log_level="WARNING")
    app = create_registry(settings, keyset=keyset)
    headers = {
        "clerk": auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-1")),
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1")),
        "admin": auth(issue(signing_key, "county_admin", COUNTY, sub="county-1")),
        "cadre": auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang")),
        "dest": auth(issue(signing_key, "county_admin", THIRD_COUNTY[0], sub="county-3")),
    }
    async with running(app) as client:
        ids = []
        for _ in range(2):
            payload = household_payload(formed_on="2026-01-01", size=4)
            ids.append(_ok(await client.post("/households", json=payload, headers=headers["clerk"]))["id"])
        # Pairing needs registered households (DOMAIN.md §3.1); the identification workflow is not under test.
        await _sql(url, "UPDATE registry_household SET status = 'registered'")
        unit = _ok(
            await client.post(
                "/helping-units",
                json={"name": "靖西市财政局", "kind": "government_department", "region_code": COUNTY},
                headers=headers["admin"],
            )
        )
        cadres = [
            _ok(
                await client.post(
                    "/cadres",
                    json={"unit_id": unit["id"], "name": name, "position_level": "staff", "user_sub": sub},
                    headers=headers["admin"],
                )
            )["id"]
            for name, sub in (("王干部", "cadre-wang"), ("李干部", "cadre-li"))
        ]
        pairing = _ok(
            await client.post(
                "/pairings",
                json={
                    "household_id": ids[0],
                    "cadre_id": cadres[0],
                    "valid_from": str(TODAY - timedelta(days=30)),
                },
                headers=headers["admin"],
            )
        )
        _ok(
            await client.post(
                "/village-assignments",
                json={
                    "village_code": VILLAGE,
                    "cadre_id": cadres[1],
                    "role": "first_secretary",
                    "starts_on": str(TODAY - timedelta(days=30)),
                    "ends_on": str(TODAY + timedelta(days=400)),
                },
                headers=headers["admin"],
            )
        )
        record = {
            "id": str(uuid.uuid4()),
            "household_id": ids[0],
            "record_type": "visit",
            "device_time": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "device_id": "phone-1",
            "content": "入户走访了解种植情况",
            "money_yuan": "200.00",
        }
        _ok(await client.post("/help-records", json=record, headers=headers["cadre"]))
        photo = _ok(
            await client.post(
                f"/help-records/{record['id']}/attachments",
                content=PNG,
                headers=headers["cadre"] | {"Content-Type": "image/png"},
            )
        )
        plan = _plan_body(cadres[0])
        help_plan = _ok(
            await client.put(f"/households/{ids[0]}/help-plan", json=plan, headers=headers["cadre"]), 200
        )
        the_round = _ok(
            await client.post(
                "/monitoring/rounds",
                json={
                    "township_code": TOWNSHIP,
                    # the latest round whose period has begun (June / December; no future rounds)
                    "year": TODAY.year if TODAY.month >= 6 else TODAY.year - 1,
                    "half": "H1" if 6 <= TODAY.month < 12 else "H2",
                },
                headers=headers["township"],
            )
        )
        household = _ok(await client.get(f"/households/{ids[0]}", headers=headers["clerk"]), 200)
        other = _ok(await client.get(f"/households/{ids[1]}", headers=headers["clerk"]), 200)
        job = _ok(
            await client.post(
                "/jobs/imports",
                content=json.dumps(household_payload()).encode(),
                headers=headers["admin"] | {"Content-Type": "application/x-ndjson"},
            ),
            202,
        )
        webhook = _ok(
            await client.post(
                "/webhooks", json={"url": "https://sjk.gxfp.example/hook"}, headers=headers["admin"]
            ),
            201,
        )
        transfer = _ok(
            await client.post(
                f"/households/{ids[1]}/transfers",
                json=_transfer(None, {}),
                headers=headers["admin"] | {"If-Match": f'"{other["version"]}"'},
            ),
            201,
        )
        yield World(
            client=client,
            db_url=url,
            headers=headers,
            household=household,
            other=other,
            flag_id=str(household["flags_detail"][0]["id"]),
            unit_id=unit["id"],
            cadre_id=cadres[0],
            successor_id=cadres[1],
            pairing_id=pairing["id"],
            record=record,
            attachment_id=photo["id"],
            item_id=help_plan["items"][0]["item_id"],
            round_id=the_round["id"],
            job_id=job["id"],
            webhook_id=webhook["id"],
            transfer_id=transfer["id"],
        )


def _plan_body(
    cadre_id: str, *, item_id: str | None = None, description: str = "养山羊 10 只 (到户增收项目 + 小额贷款)"
) -> dict[str, Any]:
    """A help plan (一户一策) of one item for the paired household (tests/test_plans_monitoring.py)."""
    item: dict[str, Any] = {
        "measure": "breeding",
        "description": description,
        "responsible_cadre_id": cadre_id,
        "due_date": "2015-09-30",
        "expected_income_gain_yuan": "3000.00",
        "cost_yuan": "8000.00",
        "funding_source": "credit",
        "funding_amount_yuan": "8000.00",
    }
    if item_id is not None:
        item["item_id"] = item_id
    return {"year_from": 2015, "year_to": 2016, "target_exit_year": 2016, "items": [item]}


# -- calling a probe -------------------------------------------------------------------------------------------------
async def _current_version(world: World, probe: Probe) -> dict[str, str]:
    if probe.version_of is None:
        return {}
    read = await world.client.get(probe.version_of.format(**world.params), headers=world.headers["admin"])
    assert read.status_code == 200 and "etag" in read.headers, (probe.version_of, read.text)
    return {"If-Match": read.headers["etag"]}


async def call(
    world: World, probe: Probe, headers: dict[str, str], values: dict[str, str] | None = None
) -> httpx.Response:
    """The probe's request with the world's records, or with other `values` for its path."""
    headers = headers | await _current_version(world, probe)
    values = values or probe.values(world)
    url = probe.path.format(**values) + probe.query
    if probe.content is not None:
        data, content_type = probe.content
        return await world.client.request(
            probe.method, url, content=data, headers=headers | {"Content-Type": content_type}
        )
    return await world.client.request(probe.method, url, json=probe.body(world, values), headers=headers)


UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _normalised(
    probe: Probe, world: World, values: dict[str, str], response: httpx.Response
) -> dict[str, Any]:
    """The problem with the ids the caller gave (in the path and in the body) replaced, and without `instance`
    (the path it answers). An id the caller did not give that appears in the answer is a leak."""
    given = {values[name] for name in probe.names()}
    given |= set(UUID_TEXT.findall(json.dumps(probe.body(world, values))))
    text = response.text
    for value in sorted(given, key=len, reverse=True):
        text = text.replace(value, "<id>")
    body: dict[str, Any] = json.loads(text)
    body.pop("instance", None)
    return body


async def _snapshot(url: str) -> dict[str, str]:
    """A digest of every table's content: equal snapshots mean nothing was written."""
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        out = {}
        for table in tables:
            out[table] = str(
                await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"  # noqa: S608
                )
            )
        return out
    finally:
        await conn.close()


# -- the tests ------------------------------------------------------------------------------------------------------
def _record_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route whose path names a record; converters (`:uuid`) dropped."""
    out = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        if not path:
            continue
        template = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
        names = set(re.findall(r"\{(\w+)\}", template))
        if not names - NOT_RECORDS:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                out.add((method, template))
    return out


def test_every_record_route_has_a_probe(registry_app: FastAPI) -> None:
    """A route that names a record and has no probe here has no scope test: add one to `PROBES`."""
    probed = {p.key for p in PROBES}
    unprobed = sorted(_record_routes(registry_app) - probed)
    assert unprobed == [], f"routes without a scope probe in tests/registry/test_scope_matrix.py: {unprobed}"


def test_every_probe_names_a_route(registry_app: FastAPI) -> None:
    """A probe whose route is gone (or was renamed) would test nothing."""
    stale = sorted({p.key for p in PROBES} - _record_routes(registry_app))
    assert stale == [], f"probes of routes the registry does not have: {stale}"


@pytest.mark.parametrize("who", list(OUTSIDERS))
async def test_outsiders_neither_see_nor_change(world: World, signing_key: SigningKey, who: str) -> None:
    role, region = OUTSIDERS[who]
    headers = auth(issue(signing_key, role, region, sub=f"outsider-{role}"))
    before = await _snapshot(world.db_url)
    failures: list[str] = []
    for probe in PROBES:
        label = f"{probe.method} {probe.path}{probe.query}"
        real, missing = probe.values(world), probe.values(world, missing=True)
        response = await call(world, probe, headers, real)
        if who in probe.visible_to:
            expected = probe.expected(role) if probe.write else 200
            if response.status_code != expected:
                failures.append(
                    f"{label}: {response.status_code}, expected {expected}: {response.text[:300]}"
                )
            continue
        twin = await call(world, probe, headers, missing)
        expected = probe.expected(role)
        if response.status_code != expected:
            failures.append(f"{label}: {response.status_code}, expected {expected}: {response.text[:300]}")
            continue
        assert_problem(response, expected)
        if twin.status_code != response.status_code:
            failures.append(f"{label}: {response.status_code} but {twin.status_code} for a missing id")
        elif _normalised(probe, world, real, response) != _normalised(probe, world, missing, twin):
            failures.append(
                f"{label}: answers differently than for a missing id: {response.text} / {twin.text}"
            )
        elif sorted(response.headers) != sorted(twin.headers):
            failures.append(f"{label}: headers differ from a missing id's: {sorted(response.headers)}")
    after = await _snapshot(world.db_url)
    changed = sorted(t for t in before if before[t] != after.get(t))
    assert failures == [], f"{who}:\n" + "\n".join(failures)
    assert changed == [], f"{who} changed {changed}"


async def test_insiders_reach_every_route(world: World) -> None:
    """The positive control: the world's own people reach each probe's records (so an outsider's 404 is scope,
    not a wrong id). Runs last: these calls write."""
    failures = []
    for probe in sorted(PROBES, key=lambda p: p.write):
        response = await call(world, probe, world.headers[probe.insider])
        status = response.status_code
        if status in (401, 403, 404) or status >= 500:
            failures.append(
                f"{probe.method} {probe.path}{probe.query} as {probe.insider}: {status} {response.text}"
            )
        elif status >= 400 and status not in probe.insider_refusals:
            failures.append(
                f"{probe.method} {probe.path}{probe.query} as {probe.insider}: unexpected {status} {response.text}"
            )
    assert failures == [], "\n".join(failures)


def test_record_routes_are_found_behind_included_routers() -> None:
    """The walk sees routes of included routers and plain Starlette routes, and ignores non-record parameters."""
    from fastapi import APIRouter
    from starlette.responses import Response
    from starlette.routing import Route

    router = APIRouter(prefix="/things")

    @router.get("/{thing_id}")
    async def thing(thing_id: str) -> None: ...

    @router.put("/years/{year}/{name}")
    async def setting(year: int, name: str) -> None: ...

    app = FastAPI()
    app.include_router(router)
    app.router.routes.insert(0, Route("/cards/{card_id:uuid}", lambda request: Response(), methods=["GET"]))
    assert _record_routes(app) == {("GET", "/things/{thing_id}"), ("GET", "/cards/{card_id}")}

"""Planning's access matrix (issue #11 Access): every planning route, called by everyone who is not its actor.

The issue: village officers draft plans and projects for their village; township officers review in their
township; county admins approve, allocate and record money in their county; cadres read their paired
households' projects; the province client reads (DOMAIN.md §1.3, §1.4; invariants 32 and 48). README: out of
scope answers exactly like missing.

The matrix is a table (`PROBES`), one probe per route that names a record, checked against the app's OpenAPI
document: every operation is a probe, a listing (`LISTINGS`, routes naming no record) or exempt (`EXEMPT`: the
health checks, `/me`, the code lists, and `/reports…`, `…/disclosure…` and `/figures…`, which their own tests
cover), so a new route that is not listed fails `test_every_operation_is_in_the_matrix`.

One world is built once for the module through the APIs (the registry's households and a pairing made through the
registry's API; plans at each step of their chain, projects, funding lines, the ledger, the risk fund). Each probe
names its actors, the roles that succeed on the world's records. Then:

- an outsider (a village officer of the sibling village, a township officer of the other township, the admin of
  another county, the system of another province, a cadre without a pairing) sends every probe twice, on the
  world's records and on ids that name nothing: both answers are the same problem (apart from the ids and
  `instance`), 404 — or 403 where the role may never do this and is refused before any lookup — and nothing in
  the planning database changed;
- an insider whose role may not act (the village's own officers, its township and county, the province client,
  the paired cadre) gets 403 — 404 exactly like missing where the record is not theirs to see (a county's books
  are not its township's) — and reads succeed for every role that reads, the province client's included;
- the paired cadre reads the project that benefits their paired household and nothing else;
- bad input (negative money or a fraction of a fen, unknown categories and sources, a household of another
  village, dates out of order, a plan horizon that ends before it starts, an approval out of turn, a disbursement
  above what was received) is a problem+json 4xx that points at the input and changes nothing;
- last, the positive control: each probe's insider reaches its record (2xx; every 201 carries `Location`).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from gateway.settings import GatewaySettings
from services.planning.settings import PlanningSettings
from services.registry.settings import RegistrySettings
from shared.clock import CHINA_TIME
from shared.jwt import KeySet, SigningKey
from shared.roles import Role
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    create_household,
    headers_for,
    pair,
    registered_household,
    unit_and_cadres,
)
from tests.harness import running
from tests.wire_format import check_time_format

Json = dict[str, Any]
Body = Any

TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()
#: Codes inside the county that name no region: the "missing" twins of a village's and a county's code.
MISSING_VILLAGE = "451025100299"
MISSING_COUNTY = "451088000000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Path parameters that do not name a record (a year, a cell of the earmark matrix).
NOT_RECORDS = frozenset({"year", "source", "category"})

V, T, C = Role.village_officer, Role.township_officer, Role.county_admin
P, K = Role.province_system, Role.cadre
OFFICERS = frozenset({V, T, C})
READERS = OFFICERS | {P}
PROJECT_READERS = READERS | {K}


# -- who calls ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    role: Role
    region: str
    sub: str
    #: The world's records lie in the caller's region (for the paired cadre: the main project's beneficiary).
    inside: bool


CALLERS: dict[str, Caller] = {
    "clerk": Caller(V, VILLAGE, "clerk-jiuzhou", True),
    "township": Caller(T, TOWNSHIP, "officer-xinjing", True),
    "admin": Caller(C, COUNTY, "admin-jingxi", True),
    "province": Caller(P, PROVINCE, "guangxi", True),
    "cadre": Caller(K, COUNTY, "cadre-wang", True),  # paired with the main project's beneficiary
    "sibling clerk": Caller(V, SIBLING_VILLAGE, "clerk-quyang", False),
    "other township officer": Caller(T, OTHER_TOWNSHIP, "officer-huadong", False),
    "other county admin": Caller(C, OTHER_COUNTY, "admin-napo", False),
    "other province system": Caller(P, "440000000000", "guangdong", False),
    "unpaired cadre": Caller(K, COUNTY, "cadre-li", False),
}
INSIDERS = [name for name, c in CALLERS.items() if c.inside]
OUTSIDERS = [name for name, c in CALLERS.items() if not c.inside]
#: Outsiders who share the world's county (the unpaired cadre's unit is the county's): the county's reference data
#: is theirs to read.
COUNTY_FOLK = ("sibling clerk", "other township officer", "unpaired cadre")


# -- the world ----------------------------------------------------------------------------------------------------
@dataclass
class World:
    planning: httpx.AsyncClient
    db_url: str
    headers: dict[str, Headers]
    ids: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        """Every path parameter's default value in this world."""
        ids = self.ids
        return {
            "code": VILLAGE,
            "year": "2015",
            "plan_id": ids["plan_active"],
            "project_id": ids["project_main"],
            "milestone_id": ids["milestone"],
            "attachment_id": ids["attachment"],
            "line_id": ids["line_main"],
            "transfer_id": ids["transfer"],
            "allocation_id": ids["allocation"],
            "entry_id": ids["receipt_entry"],
            "event_id": ids["event"],
            "source": "social_donation",
            "category": "road",
        }


@dataclass(frozen=True)
class Probe:
    """One call of one route on the world's records, and who may make it."""

    method: str
    path: str  # the route's template, as the OpenAPI document names it
    #: The roles that succeed on the world's records (in scope).
    actors: frozenset[Role]
    #: Who reaches it in the positive control.
    insider: str = "clerk"
    body: Callable[[World], Body] = lambda w: None
    params: Callable[[World], dict[str, str]] = lambda w: {}
    query: str = ""
    #: Where the current version (the If-Match to send) is read, as a template; None: no If-Match.
    version_of: str | None = None
    content: tuple[bytes, str] | None = None  # a raw body and its content type
    #: Roles that are not actors but are refused only after the record is found (the level of a step decides):
    #: out of scope they get 404 like missing, in scope 403. Every other role is refused before any lookup (403).
    late: frozenset[Role] = frozenset()
    #: Caller → status, where the rules above do not say it (a county's books are not its township's).
    statuses: Mapping[str, int] = field(default_factory=dict)
    success: int = 200

    @property
    def write(self) -> bool:
        return self.method != "GET"

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}{self.query}"

    def expected(self, name: str) -> int:
        if name in self.statuses:
            return self.statuses[name]
        caller = CALLERS[name]
        if caller.inside:
            return self.success if caller.role in self.actors else 403
        return 404 if caller.role in self.actors | self.late else 403

    def names(self) -> set[str]:
        """The record parameters of the path."""
        return set(re.findall(r"\{(\w+)\}", self.path)) - NOT_RECORDS

    def values(self, world: World, *, missing: bool = False) -> dict[str, str]:
        values = world.params | self.params(world)
        if missing:
            values |= {k: _missing_twin(values[k]) for k in self.names()}
        return values


def _missing_twin(value: str) -> str:
    """An id of the same kind as `value` that names nothing."""
    if re.fullmatch(r"[0-9]{12}", value):
        return MISSING_COUNTY if value.endswith("000000") else MISSING_VILLAGE
    if value.isdigit():
        return str(10**9 + int(value))
    if UUID_TEXT.fullmatch(value):
        return str(uuid.uuid4())
    return value + "_missing"  # an indicator's code


# -- bodies ---------------------------------------------------------------------------------------------------------
FIGURES: Json = {
    "villager_groups": 14,
    "households": 428,
    "population": 1560,
    "dibao_people": 53,
    "collective_income_yuan": "8000.00",
}


def target(code: str, unit: str, direction: str, baseline: str, goal: str) -> Json:
    return {
        "indicator_code": code,
        "unit": unit,
        "direction": direction,
        "baseline": {"value": baseline, "year": 2014},
        "target": {"value": goal, "year": 2016},
    }


PLAN: Json = {
    "plan_type": "exit",
    "title": "旧州村“一低七有”脱贫规划",
    "start_year": 2015,
    "end_year": 2016,
    "targets": [
        target("poverty_incidence", "percent", "decrease", "19.9", "3.9"),
        target("collective_income", "yuan", "increase", "0", "8000"),
    ],
}
ASSEMBLY: Json = {
    "held_on": "2015-03-20",
    "representatives": 45,
    "present": 38,
    "votes_for": 35,
    "votes_against": 2,
    "votes_abstaining": 1,
}
#: The plan's chain: (route, body, who takes the step, the status it reaches).
PLAN_CHAIN: tuple[tuple[str, Json, str, str], ...] = (
    ("assembly", ASSEMBLY, "clerk", "village_approved"),
    ("township-review", {"opinion": "同意上报"}, "township", "township_reviewed"),
    ("county-approval", {"document_number": "靖扶发[2015]7号"}, "admin", "county_approved"),
    ("activation", {}, "admin", "active"),
)
#: F5's road (seed 001#13).
ROAD: Json = {
    "category": "road",
    "name": "通村水泥路(村委会至那坡屯)",
    "quantity": "3.50",
    "unit": "km",
    "starts_on": "2016-05-01",
    "finishes_on": "2016-10-31",
    "responsible_person": "黄建国",
    "budget_yuan": "1750000.00",
}
VILLAGE_RECORD: list[Json] = [
    {"step": "party_branch_proposal", "held_on": "2016-03-01"},
    {"step": "committees_discussion", "held_on": "2016-03-05", "attendees": 9},
    {"step": "party_members_review", "held_on": "2016-03-10", "attendees": 31},
    {
        "step": "villagers_resolution",
        "held_on": "2016-03-15",
        "attendees": 45,
        "votes_for": 41,
        "votes_against": 2,
    },
    {"step": "resolution_disclosure", "posted_on": "2016-03-16", "place": "村务公开栏"},
]
TOWNSHIP_REVIEW: Json = {"step": "township_review", "approve": True, "decided_on": "2016-04-01"}
COUNTY_APPROVAL: Json = {"step": "county_approval", "approve": True, "decided_on": "2016-04-20"}
ACCEPTANCE: Json = {
    "accepted_on": "2016-10-30",
    "passed": True,
    "findings": "路面合格",
    "accepted_by": "县验收组",
}
ASSET: Json = {
    "asset_type": "road",
    "description": "通村水泥路 3.5 公里",
    "value_yuan": "1750000.00",
    "owner_kind": "village_collective",
    "owner_name": "旧州村村民委员会",
}
EVENT: Json = {"kind": "animal_epidemic", "occurred_on": "2015-08-10", "description": "猪瘟, 生猪死亡 40 头"}


def allocation(document: str, **extra: Any) -> Json:
    return {
        "year": 2016,
        "source": "fiscal_special_poverty_fund",
        "document_number": document,
        "amount_yuan": "1000000.00",
    } | extra


def line(source: str, committed: str | float, funder: str = "县交通运输局", **extra: Any) -> Json:
    return {"source": source, "funder": funder, "committed_yuan": committed} | extra


def receipt(amount: str | float = "100000.00", **extra: Any) -> Json:
    return {"amount_yuan": amount, "entry_date": "2016-06-01", "voucher": "收-001"} | extra


def disbursement(amount: str | float = "50000.00", **extra: Any) -> Json:
    body = {
        "amount_yuan": amount,
        "entry_date": "2016-06-10",
        "stage": "progress",
        "payee": "靖西市路桥工程公司",
        "voucher": "付-001",
        "approved_by": "县扶贫办 黄主任",
    }
    return body | extra


# -- the table -------------------------------------------------------------------------------------------------------
VILLAGE_PATH = "/villages/{code}"
PROFILE = VILLAGE_PATH + "/profiles/{year}"
PLAN_PATH = "/plans/{plan_id}"
PROJECT = "/projects/{project_id}"
LINE = "/funding-lines/{line_id}"
RISK_FUND = VILLAGE_PATH + "/risk-fund"
COUNTY_PATH = "/counties/{code}"
#: The county's earmark matrix and its allocations are read by every officer in the county, read-only — the
#: allocations are public under 两公开 (cadres read no books; other counties see nothing).
OFFICERS_OF_THE_COUNTY = dict.fromkeys(("sibling clerk", "other township officer"), 200)
#: The county's own indicators are read by everyone in the county (the catalogue is reference data, like the code
#: lists: no role check).
EVERYONE_IN_THE_COUNTY = dict.fromkeys(COUNTY_FOLK, 200)


def _county(w: World) -> dict[str, str]:
    return {"code": COUNTY}


def _id(name: str, key: str) -> Callable[[World], dict[str, str]]:
    """The path parameter `key` naming the world's record `name`."""
    return lambda w: {key: w.ids[name]}


def _step(to: str) -> frozenset[Role]:
    """The officers who are not the step's level: refused after the plan is found (its level decides)."""
    return OFFICERS - {{"clerk": V, "township": T, "admin": C}[to]}


PROBES: list[Probe] = [
    # village profiles (村情)
    Probe("GET", PROFILE, READERS),
    Probe(
        "PUT", PROFILE, frozenset({V, C}), body=lambda w: FIGURES | {"dibao_people": 54}, version_of=PROFILE
    ),
    # village plans
    Probe("GET", VILLAGE_PATH + "/plans", READERS),
    Probe("POST", VILLAGE_PATH + "/plans", frozenset({V}), body=lambda w: PLAN, success=201),
    Probe("GET", PLAN_PATH, READERS),
    Probe("GET", PLAN_PATH + "/versions", READERS),
    Probe("GET", PLAN_PATH + "/actuals/{year}", READERS),
    Probe("GET", VILLAGE_PATH + "/exit-checklist/{year}", READERS),
    Probe(
        "PATCH",
        PLAN_PATH,
        frozenset({V}),
        body=lambda w: {"title": "旧州村脱贫规划(修订)"},
        params=_id("plan_draft", "plan_id"),
        version_of=PLAN_PATH,
    ),
    Probe(
        "POST",
        PLAN_PATH + "/amendments",
        frozenset({V}),
        body=lambda w: {"reason": "调整集体经济目标"},
        success=201,
    ),
    Probe(
        "POST",
        PLAN_PATH + "/assembly",
        frozenset({V}),
        body=lambda w: ASSEMBLY,
        params=_id("plan_draft_2", "plan_id"),
        late=_step("clerk"),
    ),
    Probe(
        "POST",
        PLAN_PATH + "/township-review",
        frozenset({T}),
        insider="township",
        body=lambda w: {"opinion": "同意上报"},
        params=_id("plan_village_approved", "plan_id"),
        late=_step("township"),
    ),
    Probe(
        "POST",
        PLAN_PATH + "/county-approval",
        frozenset({C}),
        insider="admin",
        body=lambda w: {"document_number": "靖扶发[2015]9号"},
        params=_id("plan_township_reviewed", "plan_id"),
        late=_step("admin"),
    ),
    Probe(
        "POST",
        PLAN_PATH + "/activation",
        frozenset({C}),
        insider="admin",
        body=lambda w: {},
        params=_id("plan_county_approved", "plan_id"),
        late=_step("admin"),
    ),
    Probe(
        "POST",
        PLAN_PATH + "/closure",
        frozenset({C}),
        insider="admin",
        body=lambda w: {"reason": "规划期满"},
        params=_id("plan_to_close", "plan_id"),
        late=_step("admin"),
    ),
    Probe(
        "POST",
        PLAN_PATH + "/return",
        frozenset({T}),
        insider="township",
        body=lambda w: {"reason": "目标需细化到户"},
        params=_id("plan_to_return", "plan_id"),
        late=_step("township"),
    ),
    Probe(
        "PUT",
        PLAN_PATH + "/actuals/{year}",
        frozenset({V, C}),
        body=lambda w: {"values": [{"indicator_code": "collective_income", "value": "6000"}]},
        late=frozenset({T}),
    ),
    # the project library (项目库)
    Probe("GET", PROJECT, PROJECT_READERS),
    Probe("GET", PROJECT + "/beneficiaries", PROJECT_READERS),
    Probe("GET", PROJECT + "/attachments/{attachment_id}", PROJECT_READERS),
    Probe("POST", VILLAGE_PATH + "/projects", frozenset({V}), body=lambda w: ROAD, success=201),
    Probe(
        "PATCH",
        PROJECT,
        frozenset({V}),
        body=lambda w: {"responsible_person": "黄志强"},
        params=_id("project_draft", "project_id"),
        version_of=PROJECT,
    ),
    Probe(
        "PUT",
        PROJECT + "/beneficiaries",
        frozenset({V}),
        body=lambda w: {"household_ids": [w.ids["h2"]]},
        params=_id("project_draft", "project_id"),
        version_of=PROJECT,
    ),
    Probe(
        "POST",
        PROJECT + "/beneficiaries",
        frozenset({V}),
        body=lambda w: {"household_ids": [w.ids["h1"]]},
        params=_id("project_draft", "project_id"),
        version_of=PROJECT,
    ),
    Probe(
        "POST",
        PROJECT + "/steps",
        frozenset({V}),
        body=lambda w: VILLAGE_RECORD[0],
        params=_id("project_step", "project_id"),
        version_of=PROJECT,
        success=201,
    ),
    Probe(
        "POST",
        PROJECT + "/milestones",
        OFFICERS,
        body=lambda w: {"name": "路面硬化", "due_on": "2016-09-30", "percent": 0},
        success=201,
    ),
    Probe("PATCH", PROJECT + "/milestones/{milestone_id}", OFFICERS, body=lambda w: {"percent": 60}),
    Probe("POST", PROJECT + "/attachments", OFFICERS, content=(PDF, "application/pdf"), success=201),
    Probe(
        "POST",
        PROJECT + "/acceptance",
        frozenset({C}),
        insider="admin",
        body=lambda w: ACCEPTANCE,
        params=_id("project_to_accept", "project_id"),
        version_of=PROJECT,
        success=201,
    ),
    Probe(
        "POST",
        PROJECT + "/assets",
        frozenset({T, C}),
        insider="township",
        body=lambda w: ASSET,
        params=_id("project_accepted", "project_id"),
        success=201,
    ),
    # funds (资金): allocations, lines, the earmark matrix, transfers, the ledger
    Probe(
        "GET",
        COUNTY_PATH + "/allocations",
        READERS,
        insider="township",
        params=_county,
        statuses=OFFICERS_OF_THE_COUNTY,
    ),
    Probe("GET", "/allocations/{allocation_id}", READERS, statuses=OFFICERS_OF_THE_COUNTY),
    Probe(
        "POST",
        COUNTY_PATH + "/allocations",
        frozenset({C}),
        insider="admin",
        body=lambda w: allocation("靖财农[2016]31号"),
        params=_county,
        success=201,
    ),
    Probe("GET", PROJECT + "/funding-lines", READERS),
    Probe("GET", PROJECT + "/funding", READERS),
    Probe("GET", LINE, READERS),
    Probe(
        "POST",
        PROJECT + "/funding-lines",
        OFFICERS,
        body=lambda w: line("social_donation", "100000.00", "在外乡贤"),
        params=_id("project_draft", "project_id"),
        success=201,
    ),
    Probe(
        "PATCH",
        PROJECT + "/funding-lines/{line_id}",
        OFFICERS,
        body=lambda w: {"funder": "市交通运输局"},
        params=lambda w: {"project_id": w.ids["project_draft"], "line_id": w.ids["line_draft"]},
        version_of=LINE,
    ),
    Probe(
        "DELETE",
        PROJECT + "/funding-lines/{line_id}",
        OFFICERS,
        params=lambda w: {"project_id": w.ids["project_draft"], "line_id": w.ids["line_draft_2"]},
        version_of=LINE,
        success=204,
    ),
    Probe("GET", COUNTY_PATH + "/earmark-matrix", READERS, params=_county, statuses=OFFICERS_OF_THE_COUNTY),
    Probe(
        "PUT",
        COUNTY_PATH + "/earmark-matrix/{source}/{category}",
        frozenset({C}),
        insider="admin",
        body=lambda w: {"allowed": True, "reason": "县扶贫开发领导小组会议纪要 2016-2"},
        params=_county,
    ),
    Probe("GET", PROJECT + "/line-transfers", READERS),
    Probe("GET", PROJECT + "/line-transfers/{transfer_id}", READERS),
    Probe(
        "POST",
        PROJECT + "/line-transfers",
        frozenset({C}),
        insider="admin",
        body=lambda w: {
            "from_line_id": w.ids["line_main_2"],
            "to_line_id": w.ids["line_main"],
            "amount_yuan": "10000.00",
            "approval_document": "靖扶发[2016]12号",
            "reason": "群众自筹不足, 交通补助调剂",
        },
        success=201,
    ),
    Probe("GET", LINE + "/ledger", READERS),
    Probe("GET", PROJECT + "/ledger", READERS),
    Probe("GET", "/ledger-entries/{entry_id}", READERS),
    Probe("POST", LINE + "/receipts", frozenset({C}), insider="admin", body=lambda w: receipt(), success=201),
    Probe(
        "POST",
        LINE + "/disbursements",
        frozenset({C}),
        insider="admin",
        body=lambda w: disbursement(),
        success=201,
    ),
    Probe(
        "POST",
        "/ledger-entries/{entry_id}/reversals",
        frozenset({C}),
        insider="admin",
        body=lambda w: {"entry_date": "2016-06-20", "voucher": "冲-001", "reason": "付款单位名称有误"},
        params=_id("disbursement_entry", "entry_id"),
        success=201,
    ),
    # the risk fund (项目风险金)
    Probe("GET", RISK_FUND, READERS),
    Probe("GET", RISK_FUND + "/entries", READERS),
    Probe("GET", RISK_FUND + "/entries/{entry_id}", READERS, params=_id("risk_fund_entry", "entry_id")),
    Probe("GET", VILLAGE_PATH + "/force-majeure-events", READERS),
    Probe("GET", VILLAGE_PATH + "/force-majeure-events/{event_id}", READERS),
    Probe(
        "POST",
        RISK_FUND + "/contributions",
        OFFICERS,
        body=lambda w: {
            "project_id": w.ids["project_breeding"],
            "amount_yuan": "1000.00",
            "entry_date": "2015-09-01",
        },
        success=201,
    ),
    Probe(
        "POST",
        VILLAGE_PATH + "/force-majeure-events",
        OFFICERS,
        body=lambda w: EVENT | {"kind": "hail", "occurred_on": "2015-09-02"},
        success=201,
    ),
    Probe(
        "POST",
        RISK_FUND + "/payouts",
        frozenset({T, C}),
        insider="township",
        body=lambda w: {"event_id": w.ids["event"], "amount_yuan": "1000.00", "entry_date": "2015-08-15"},
        success=201,
    ),
    # the indicator catalogue: a county's own indicator is read in the county and above it
    Probe(
        "GET",
        "/indicators/{code}",
        PROJECT_READERS,
        params=lambda w: {"code": w.ids["indicator"]},
        statuses=EVERYONE_IN_THE_COUNTY,
    ),
]

#: Routes that name no record: lists filtered to the caller's scope, and adding an indicator (always for the
#: caller's own county). `test_lists_show_each_caller_their_own` and `test_indicator_editors` cover them.
LISTINGS = frozenset(
    {
        ("GET", "/projects"),
        ("GET", "/projects/overdue-milestones"),
        ("GET", "/indicators"),
        ("POST", "/indicators"),
        # The province exchange (issue #15): tests/planning/test_exchange_routes.py covers scope and roles.
        ("GET", "/exports/{dataset}"),
        ("GET", "/changes"),
    }
)


def exempt(path: str) -> bool:
    """Operations outside the matrix: health and readiness, the caller, the code lists (reference data for
    everyone), and the reports, the public disclosure and the assessment figures, whose own test modules cover
    their access (tests/planning/test_figures_routes.py for `/figures…`)."""
    return (
        path in ("/healthz", "/readyz", "/me")
        or path.startswith(("/code-lists", "/reports", "/figures"))
        or "/disclosure" in path
    )


# -- building the world once ---------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_tables() -> None:
    """The tests of this module share one world (`world`), which empties the tables once before building it; the
    per-test emptying of tests/conftest.py would wipe it."""


#: Catalogues the planning migrations ship as data (tests/conftest.py keeps them the same way).
_CATALOGUES = {
    "planning_indicator": "DELETE FROM planning_indicator WHERE county_code IS NOT NULL",
    "planning_earmark_rule": "DELETE FROM planning_earmark_rule WHERE county_code <> ''",
}


async def _empty(db_urls: dict[str, str]) -> None:
    for url in db_urls.values():
        conn = await asyncpg.connect(url)
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'alembic_%'"
                )
            ]
            wiped = [t for t in tables if t not in _CATALOGUES]
            if wiped:
                await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in wiped) + " CASCADE")
            for table in tables:
                if table in _CATALOGUES:
                    await conn.execute(_CATALOGUES[table])
        finally:
            await conn.close()


async def _sql(url: str, statement: str, *args: Any) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


def _ok(response: httpx.Response, status: int = 201) -> Json:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    body: Json = response.json()
    return body


class _Builder:
    """The world's records, made through the APIs as their people would make them."""

    def __init__(self, planning: httpx.AsyncClient, headers: dict[str, Headers]) -> None:
        self.planning = planning
        self.headers = headers

    async def post(
        self, who: str, url: str, body: Json, *, status: int = 201, headers: Headers | None = None
    ) -> Json:
        return _ok(
            await self.planning.post(url, json=body, headers=self.headers[who] | (headers or {})), status
        )

    async def plan(self, reach: str | None = None, *, who: str = "clerk", village: str = VILLAGE) -> str:
        """A plan of the village, walked along its chain until it is `reach` (None: a draft)."""
        plan = await self.post(who, f"/villages/{village}/plans", PLAN)
        for route, body, actor, status in PLAN_CHAIN if reach else ():
            reached = await self.post(actor, f"/plans/{plan['id']}/{route}", body, status=200)
            assert reached["status"] == status, reached
            if status == reach:
                break
        plan_id: str = plan["id"]
        return plan_id

    async def version(self, project_id: str) -> Headers:
        detail = _ok(await self.planning.get(f"/projects/{project_id}", headers=self.headers["admin"]), 200)
        return {"If-Match": f'"{detail["version"]}"'}

    async def project(self, body: Json = ROAD, *, beneficiaries: tuple[str, ...] = ()) -> str:
        project = await self.post("clerk", f"/villages/{VILLAGE}/projects", body)
        if beneficiaries:
            _ok(
                await self.planning.put(
                    f"/projects/{project['id']}/beneficiaries",
                    json={"household_ids": list(beneficiaries)},
                    headers=self.headers["clerk"] | await self.version(project["id"]),
                ),
                200,
            )
        project_id: str = project["id"]
        return project_id

    async def approve(self, project_id: str) -> None:
        """四议两公开, the township's review, the county's approval."""
        chain = [("clerk", s) for s in VILLAGE_RECORD] + [
            ("township", TOWNSHIP_REVIEW),
            ("admin", COUNTY_APPROVAL),
        ]
        for who, step in chain:
            await self.post(
                who, f"/projects/{project_id}/steps", step, headers=await self.version(project_id)
            )

    async def line(self, project_id: str, body: Json) -> str:
        created = await self.post("clerk", f"/projects/{project_id}/funding-lines", body)
        line_id: str = created["id"]
        return line_id


@pytest.fixture(scope="module")
async def world(db_urls: dict[str, str], keyset: KeySet, signing_key: SigningKey) -> AsyncIterator[World]:
    from argon2 import PasswordHasher

    from gateway.main import create_app as create_gateway
    from ops.seed import DEMO_REGIONS
    from services.planning.main import create_app as create_planning
    from services.registry.main import create_app as create_registry

    await _empty(db_urls)
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
            DEMO_REGIONS,
        )
    finally:
        await conn.close()
    secret = "s3cret-client-secret"
    await _sql(
        db_urls["gateway"],
        "INSERT INTO gateway_client (client_id, secret_hash, role, region_code)"
        " VALUES ('planning-service', $1, 'service', '000000000000')",
        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(secret),
    )
    gateway_app = create_gateway(
        GatewaySettings(
            environment="test",
            database_url=db_urls["gateway"],
            json_logs=False,
            log_level="WARNING",
            argon2_time_cost=1,
            argon2_memory_kib=1024,
            argon2_parallelism=1,
        ),
        signing_key=signing_key,
    )
    registry_app = create_registry(
        RegistrySettings(
            environment="test", database_url=db_urls["registry"], json_logs=False, log_level="WARNING"
        ),
        keyset=keyset,
    )
    planning_app = create_planning(
        PlanningSettings(
            environment="test",
            database_url=db_urls["planning"],
            json_logs=False,
            log_level="WARNING",
            gateway_url="http://gateway",
            registry_url="http://registry",
            service_client_id="planning-service",
            service_client_secret=secret,
        ),
        keyset=keyset,
        registry_transport=httpx.ASGITransport(app=registry_app),
        gateway_transport=httpx.ASGITransport(app=gateway_app),
    )
    headers = {name: headers_for(signing_key, c.role.value, c.region, c.sub) for name, c in CALLERS.items()}
    async with running(gateway_app), running(registry_app) as registry, running(planning_app) as planning:
        planning.event_hooks["response"].append(check_time_format)
        ids = await _build(planning, registry, headers, db_urls, signing_key)
        yield World(planning=planning, db_url=db_urls["planning"], headers=headers, ids=ids)


async def _build(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    headers: dict[str, Headers],
    db_urls: dict[str, str],
    signing_key: SigningKey,
) -> dict[str, str]:
    ids: dict[str, str] = {}
    # The registry: two households of 旧州村, one of 化峒村, and 王干部 paired with the first (through its API).
    clerk, admin = headers["clerk"], headers["admin"]
    ids["h1"] = await registered_household(registry, clerk, db_urls)
    ids["h2"] = await registered_household(registry, clerk, db_urls)
    far_clerk = headers_for(signing_key, "village_officer", OTHER_VILLAGE, "clerk-huadong")
    ids["h_other"] = await create_household(registry, far_clerk, OTHER_VILLAGE)
    _, cadres = await unit_and_cadres(registry, admin, "staff", "staff", subs=("cadre-wang", "cadre-li"))
    await pair(registry, admin, ids["h1"], cadres[0], str(TODAY - timedelta(days=30)))

    make = _Builder(planning, headers | {"far clerk": far_clerk})
    # A profile, a county indicator, plans at every step of their chain.
    _ok(await planning.put(f"/villages/{VILLAGE}/profiles/2015", json=FIGURES, headers=clerk), 201)
    indicator = await make.post(
        "admin",
        "/indicators",
        {"code": "jingxi_mushroom_households", "label_zh": "食用菌种植户数", "label_en": "Mushroom growers",
         "unit": "households", "direction": "increase"},
    )  # fmt: skip
    ids["indicator"] = indicator["code"]
    ids["plan_draft"] = await make.plan()
    ids["plan_draft_2"] = await make.plan()
    ids["plan_village_approved"] = await make.plan("village_approved")
    ids["plan_to_return"] = await make.plan("village_approved")
    ids["plan_township_reviewed"] = await make.plan("township_reviewed")
    ids["plan_county_approved"] = await make.plan("county_approved")
    ids["plan_active"] = await make.plan("active")
    ids["plan_to_close"] = await make.plan("active")
    ids["plan_elsewhere"] = await make.plan(who="far clerk", village=OTHER_VILLAGE)
    # Money of the county, and of another county.
    ids["allocation"] = (
        await make.post("admin", f"/counties/{COUNTY}/allocations", allocation("靖财农[2016]12号"))
    )["id"]
    ids["allocation_elsewhere"] = (
        await make.post(
            "other county admin", f"/counties/{OTHER_COUNTY}/allocations", allocation("那财农[2016]3号")
        )
    )["id"]
    # The main project: two lines, 黄志强's household benefits, approved, in progress, money in and out.
    main = ids["project_main"] = await make.project(beneficiaries=(ids["h1"],))
    ids["line_main"] = await make.line(main, line("sector_department_fund", "880000.00"))
    ids["line_main_2"] = await make.line(main, line("beneficiary_self_raised", "650000.00", "受益农户"))
    await make.approve(main)
    milestone = await make.post(
        "clerk", f"/projects/{main}/milestones", {"name": "路基", "due_on": "2016-07-31", "percent": 50}
    )
    ids["milestone"] = milestone["id"]
    attachment = _ok(
        await planning.post(
            f"/projects/{main}/attachments", content=PNG, headers=clerk | {"Content-Type": "image/png"}
        )
    )
    ids["attachment"] = attachment["id"]
    ids["receipt_entry"] = str(
        (await make.post("admin", f"/funding-lines/{ids['line_main']}/receipts", receipt("500000.00")))["id"]
    )
    ids["disbursement_entry"] = str(
        (
            await make.post(
                "admin", f"/funding-lines/{ids['line_main']}/disbursements", disbursement("100000.00")
            )
        )["id"]
    )
    transfer = await make.post(
        "admin",
        f"/projects/{main}/line-transfers",
        {"from_line_id": ids["line_main_2"], "to_line_id": ids["line_main"], "amount_yuan": "10000.00",
         "approval_document": "靖扶发[2016]11号", "reason": "调剂"},
    )  # fmt: skip
    ids["transfer"] = transfer["id"]
    # A draft with two lines and the second household; a draft that takes its first step; one to accept, one accepted.
    draft = ids["project_draft"] = await make.project(beneficiaries=(ids["h2"],))
    ids["line_draft"] = await make.line(draft, line("sector_department_fund", "880000.00"))
    ids["line_draft_2"] = await make.line(draft, line("social_donation", "220000.00", "社会捐资"))
    ids["project_step"] = await make.project()
    for name in ("project_to_accept", "project_accepted"):
        project_id = ids[name] = await make.project()
        await make.approve(project_id)
        await make.post(
            "clerk",
            f"/projects/{project_id}/milestones",
            {"name": "路面", "due_on": "2016-07-31", "percent": 100, "done_on": "2016-07-20"},
        )
    await make.post(
        "admin",
        f"/projects/{ids['project_accepted']}/acceptance",
        ACCEPTANCE,
        headers=await make.version(ids["project_accepted"]),
    )
    # The risk fund: a breeding project pays in; an epidemic struck.
    breeding = {"category": "industry_breeding", "name": "肉牛养殖", "budget_yuan": "200000.00"}
    ids["project_breeding"] = await make.project(breeding)
    entry = await make.post(
        "clerk",
        f"/villages/{VILLAGE}/risk-fund/contributions",
        {"project_id": ids["project_breeding"], "amount_yuan": "5000.00", "entry_date": "2015-08-01"},
    )
    ids["risk_fund_entry"] = str(entry["id"])
    ids["event"] = (await make.post("clerk", f"/villages/{VILLAGE}/force-majeure-events", EVENT))["id"]
    return ids


# -- calling a probe -------------------------------------------------------------------------------------------------
async def _version(world: World, probe: Probe) -> Headers:
    if probe.version_of is None:
        return {}
    url = probe.version_of.format(**probe.values(world))
    read = await world.planning.get(url, headers=world.headers["admin"])
    assert read.status_code == 200 and "etag" in read.headers, (url, read.text)
    return {"If-Match": read.headers["etag"]}


async def call(world: World, probe: Probe, who: str, values: dict[str, str] | None = None) -> httpx.Response:
    """The probe's request by `who`, on the world's records (or on other `values` of its path)."""
    headers = world.headers[who] | await _version(world, probe)
    url = probe.path.format(**(values or probe.values(world))) + probe.query
    if probe.content is not None:
        data, content_type = probe.content
        return await world.planning.request(
            probe.method, url, content=data, headers=headers | {"Content-Type": content_type}
        )
    return await world.planning.request(probe.method, url, json=probe.body(world), headers=headers)


def _normalised(response: httpx.Response, given: set[str]) -> Json:
    """The problem with the ids the caller gave replaced, and without `instance` (the path it answers). An id the
    caller did not give that appears in the answer is a leak."""
    text = response.text
    for value in sorted(given, key=len, reverse=True):
        text = text.replace(value, "<id>")
    body: Json = json.loads(text)
    body.pop("instance", None)
    return body


def _given(probe: Probe, world: World, values: dict[str, str]) -> set[str]:
    given = {values[name] for name in probe.names()}
    return given | set(UUID_TEXT.findall(json.dumps(probe.body(world))))


async def like_missing(world: World, probe: Probe, who: str, response: httpx.Response) -> str | None:
    """Why the answer on the world's records differs from the answer on records that do not exist (None: it
    does not)."""
    missing = probe.values(world, missing=True)
    twin = await call(world, probe, who, missing)
    if twin.status_code != response.status_code:
        return f"{response.status_code}, but {twin.status_code} for a missing id"
    if _normalised(response, _given(probe, world, probe.values(world))) != _normalised(
        twin, _given(probe, world, missing)
    ):
        return f"answers differently than for a missing id: {response.text} / {twin.text}"
    if sorted(response.headers) != sorted(twin.headers):
        return f"headers differ from a missing id's: {sorted(response.headers)} / {sorted(twin.headers)}"
    return None


async def snapshot(url: str) -> dict[str, str]:
    """A digest of every table's content: equal snapshots mean nothing was written."""
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
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


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


# -- the table against the app --------------------------------------------------------------------------------------
def _operations() -> set[tuple[str, str]]:
    from services.planning.main import create_app

    settings = PlanningSettings(environment="test", database_url="postgresql://matrix@127.0.0.1:9/none")
    document = create_app(settings).openapi()
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "put", "post", "patch", "delete")
    }


def test_every_operation_is_in_the_matrix() -> None:
    """An operation of planning's OpenAPI document that is neither probed, a listing nor exempt has no access test:
    add it to `PROBES` (or `LISTINGS`)."""
    operations = _operations()
    covered = {p.key for p in PROBES} | LISTINGS
    missing = sorted(op for op in operations - covered if not exempt(op[1]))
    assert missing == [], (
        f"operations without an access probe in tests/planning/test_access_matrix.py: {missing}"
    )
    assert not [op for op in covered if exempt(op[1])], "an exempt operation is probed"


def test_every_probe_names_an_operation() -> None:
    """A probe whose route is gone (or was renamed) would test nothing; a route is probed once."""
    keys = [p.key for p in PROBES]
    assert sorted(set(keys) - _operations()) == [] and len(keys) == len(set(keys))
    assert LISTINGS <= _operations()


def test_probes_are_consistent() -> None:
    """Each probe's insider may act, and the actors of a write never include the read-only province client."""
    for probe in PROBES:
        assert CALLERS[probe.insider].inside and probe.expected(probe.insider) == probe.success, probe.label
        assert not (probe.write and P in probe.actors), probe.label
        assert not probe.late & probe.actors, probe.label


# -- outsiders ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", OUTSIDERS)
async def test_outsiders_neither_see_nor_change(world: World, who: str) -> None:
    """Every probe by someone outside the world: 404 exactly like a missing id (403 where the role never may,
    before any lookup); the planning database unchanged."""
    before = await snapshot(world.db_url)
    failures: list[str] = []
    for probe in PROBES:
        response = await call(world, probe, who)
        expected = probe.expected(who)
        if response.status_code != expected:
            failures.append(
                f"{probe.label}: {response.status_code}, expected {expected}: {response.text[:300]}"
            )
            continue
        if expected >= 400:
            assert_problem(response, expected)
            if (why := await like_missing(world, probe, who, response)) is not None:
                failures.append(f"{probe.label}: {why}")
    assert failures == [], f"{who}:\n" + "\n".join(failures)
    assert _changed(before, await snapshot(world.db_url)) == [], f"{who} changed the planning database"


# -- insiders who may not act, and readers ------------------------------------------------------------------------
@pytest.mark.parametrize("who", INSIDERS)
async def test_insiders_who_may_not_are_refused_and_readers_read(world: World, who: str) -> None:
    """The world's own people: a role that may not act gets 403 (404 like missing where the record is not its to
    see); every role that reads reads (the province client's reads succeed, its writes are 403)."""
    before = await snapshot(world.db_url)
    failures: list[str] = []
    for probe in PROBES:
        expected = probe.expected(who)
        if expected < 400 and probe.write:
            continue  # an actor: the positive control writes, once
        response = await call(world, probe, who)
        if response.status_code != expected:
            failures.append(
                f"{probe.label}: {response.status_code}, expected {expected}: {response.text[:300]}"
            )
        elif expected >= 400:
            body = assert_problem(response, expected)
            # A 403 is the role's: the rule's code (`role_may_not`, `wrong_level`, `plan_drafter_required` …), or
            # the read-only client's refusal.
            if expected == 403 and body.get("code") is None and "read-only" not in body["detail"]:
                failures.append(f"{probe.label}: 403 without the rule's code: {body}")
            if expected == 404 and (why := await like_missing(world, probe, who, response)) is not None:
                failures.append(f"{probe.label}: {why}")
    assert failures == [], f"{who}:\n" + "\n".join(failures)
    assert _changed(before, await snapshot(world.db_url)) == [], f"{who} changed the planning database"


def test_the_province_client_reads_and_never_writes() -> None:
    """(The matrix's rule for the province client, stated once:) every read is the province's, no write is."""
    for probe in PROBES:
        assert probe.expected("province") == (403 if probe.write else 200), probe.label


# -- cadres -------------------------------------------------------------------------------------------------------------
async def test_cadres_read_their_paired_households_projects_and_nothing_else(world: World) -> None:
    """王干部 is paired (through the registry's API) with 黄志强's household, which the main project benefits: that
    project is all they see of planning; a cadre without a pairing sees none."""
    planning, ids = world.planning, world.ids
    cadre, unpaired = world.headers["cadre"], world.headers["unpaired cadre"]
    listed = _ok(await planning.get("/projects", headers=cadre), 200)
    assert [p["id"] for p in listed["items"]] == [ids["project_main"]]
    overdue = _ok(await planning.get("/projects/overdue-milestones?on=2016-12-31", headers=cadre), 200)
    assert {m["project_id"] for m in overdue["items"]} == {ids["project_main"]}
    detail = _ok(await planning.get(f"/projects/{ids['project_main']}", headers=cadre), 200)
    assert detail["funding"]["budget_yuan"] == "1750000.00"  # money is read through the project
    beneficiaries = _ok(
        await planning.get(f"/projects/{ids['project_main']}/beneficiaries", headers=cadre), 200
    )
    assert [b["household_id"] for b in beneficiaries["items"]] == [ids["h1"]]
    for name in ("project_draft", "project_accepted", "project_breeding"):
        hidden = await planning.get(f"/projects/{ids[name]}", headers=cadre)
        missing = await planning.get(f"/projects/{uuid.uuid4()}", headers=cadre)
        assert_problem(hidden, 404)
        assert _normalised(hidden, {ids[name]}) == _normalised(
            missing, set(UUID_TEXT.findall(str(missing.url)))
        )
    for headers in (unpaired,):
        assert _ok(await planning.get("/projects", headers=headers), 200)["items"] == []
        assert (
            _ok(await planning.get("/projects/overdue-milestones?on=2016-12-31", headers=headers), 200)[
                "items"
            ]
            == []
        )


# -- listings ---------------------------------------------------------------------------------------------------------
async def test_lists_show_each_caller_their_own(world: World) -> None:
    """The lists naming no record are filtered to the caller: the village's projects for its officers and the
    province, none for outsiders (with or without a `region` they ask for); a county's indicators in the county."""
    planning, ids = world.planning, world.ids
    projects = {ids[k] for k in ids if k.startswith("project_")}
    for who in ("clerk", "township", "admin", "province"):
        listed = _ok(await planning.get("/projects?limit=500", headers=world.headers[who]), 200)
        assert {p["id"] for p in listed["items"]} == projects, who
        overdue = _ok(
            await planning.get("/projects/overdue-milestones?on=2016-12-31", headers=world.headers[who]), 200
        )
        assert {m["project_id"] for m in overdue["items"]} == {ids["project_main"]}, who
    for who in OUTSIDERS:
        for query in ("", f"?region={VILLAGE}", f"?region={COUNTY}"):
            for url in ("/projects", "/projects/overdue-milestones"):
                response = _ok(await planning.get(url + query, headers=world.headers[who]), 200)
                assert response["items"] == [], (who, url, query)
    for who, sees in (
        ("sibling clerk", True),
        ("other county admin", False),
        ("other province system", False),
    ):
        indicators = _ok(await planning.get("/indicators?origin=county", headers=world.headers[who]), 200)
        assert (ids["indicator"] in {i["code"] for i in indicators["items"]}) is sees, who


async def test_indicator_editors(world: World) -> None:
    """Only a county admin adds an indicator (for their county): everyone else is refused, and nothing changes."""
    before = await snapshot(world.db_url)
    body = {
        "code": "matrix_refused",
        "label_zh": "测试",
        "label_en": "Test",
        "unit": "people",
        "direction": "increase",
    }
    for who in CALLERS:
        if CALLERS[who].role is C:
            continue
        assert_problem(await world.planning.post("/indicators", json=body, headers=world.headers[who]), 403)
    assert _changed(before, await snapshot(world.db_url)) == []


# -- bad input --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bad:
    """A request with bad input: its problem, where it points, and a read that must answer the same after it."""

    who: str
    method: str
    path: Callable[[World], str]
    body: Callable[[World], Body]
    status: int
    read: Callable[[World], str]
    code: str | None = None
    pointer: str | None = None
    #: Where the If-Match is read (a template of World.ids), for versioned writes.
    version_of: str | None = None
    #: The same request naming records that do not exist: its answer must be the same (apart from the ids).
    twin: Callable[[World], Body] | None = None


def _at(template: str) -> Callable[[World], str]:
    return lambda w: template.format(**w.ids, village=VILLAGE, county=COUNTY)


LEDGER = _at("/funding-lines/{line_main}/ledger")
DRAFT_LINES = _at("/projects/{project_draft}/funding-lines")
PROJECTS = _at("/projects?limit=500")
BAD_INPUT = [
    pytest.param(
        Bad("admin", "POST", _at("/counties/{county}/allocations"), lambda w: allocation("靖财-负", amount_yuan="-1.00"),
            422, _at("/counties/{county}/allocations"), pointer="/amount_yuan"),
        id="negative money (string)",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/funding-lines/{line_main}/disbursements"), lambda w: disbursement(-100), 422, LEDGER,
            pointer="/amount_yuan"),
        id="negative money (number)",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/funding-lines/{line_main}/receipts"), lambda w: receipt("0.015"), 422, LEDGER,
            pointer="/amount_yuan"),
        id="a fraction of a fen (string)",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/funding-lines/{line_main}/receipts"), lambda w: receipt(0.015), 422, LEDGER,
            pointer="/amount_yuan"),
        id="a fraction of a fen (number: 1.5 fen)",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/projects/{project_draft}/funding-lines"),
            lambda w: line("social_donation", 0.1 + 0.2), 422, DRAFT_LINES, pointer="/committed_yuan"),
        id="a float that is not a whole number of fen (0.1 + 0.2)",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/funding-lines/{line_main}/receipts"),
            lambda w: {"amount_fen": 100.0, "entry_date": "2016-06-01", "voucher": "收-002"}, 422, LEDGER,
            pointer="/amount_fen"),
        id="fen as a float (amount_fen: 100.0: money is yuan on the wire)",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/villages/{village}/projects"), lambda w: ROAD | {"category": "roads"}, 422, PROJECTS,
            pointer="/category"),
        id="unknown project category",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/projects/{project_draft}/funding-lines"), lambda w: line("lottery", "100.00"), 422,
            DRAFT_LINES, pointer="/source"),
        id="unknown funding source",
    ),
    pytest.param(
        Bad("admin", "PUT", _at("/counties/{county}/earmark-matrix/social_donation/roads"),
            lambda w: {"allowed": True, "reason": "县定"}, 422, _at("/counties/{county}/earmark-matrix")),
        id="unknown category in the earmark matrix",
    ),
    pytest.param(
        Bad("clerk", "PUT", _at("/projects/{project_draft}/beneficiaries"), lambda w: {"household_ids": [w.ids["h_other"]]},
            422, _at("/projects/{project_draft}/beneficiaries"), code="household_unknown", pointer="/household_ids/0",
            version_of="/projects/{project_draft}", twin=lambda w: {"household_ids": [str(uuid.uuid4())]}),
        id="a household of another village as a beneficiary (like an unknown one)",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/villages/{village}/projects"), lambda w: ROAD | {"plan_id": w.ids["plan_elsewhere"]},
            422, PROJECTS, code="plan_missing", pointer="/plan_id",
            twin=lambda w: ROAD | {"plan_id": str(uuid.uuid4())}),
        id="a plan of another village (like a missing one)",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/projects/{project_draft}/funding-lines"),
            lambda w: line("fiscal_special_poverty_fund", "100.00", allocation_id=w.ids["allocation_elsewhere"]), 422,
            DRAFT_LINES, code="unknown_allocation",
            twin=lambda w: line("fiscal_special_poverty_fund", "100.00", allocation_id=str(uuid.uuid4()))),
        id="another county's allocation (like a missing one)",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/projects/{project_main}/milestones"),
            lambda w: {"name": "早于开工", "due_on": "2016-04-01", "percent": 0}, 422, _at("/projects/{project_main}"),
            code="due_outside_schedule", pointer="/due_on"),
        id="a milestone due before the project starts",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/projects/{project_main}/milestones"),
            lambda w: {"name": "倒填", "due_on": "2016-06-01", "percent": 100, "done_on": "2016-04-30"}, 422,
            _at("/projects/{project_main}"), code="done_before_start", pointer="/done_on"),
        id="a milestone done before the project starts",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/villages/{village}/projects"), lambda w: ROAD | {"finishes_on": "2016-04-30"}, 422,
            PROJECTS, pointer="/finishes_on"),
        id="a project that finishes before it starts",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/villages/{village}/plans"), lambda w: PLAN | {"start_year": 2017}, 422,
            _at("/villages/{village}/plans"), code="horizon_reversed", pointer="/end_year"),
        id="a plan horizon that ends before it starts",
    ),
    pytest.param(
        Bad("clerk", "PUT", _at("/plans/{plan_active}/actuals/2015"),
            lambda w: {"values": [{"indicator_code": "poverty_incidence", "value": "120"}]}, 422,
            _at("/plans/{plan_active}/actuals/2015"), code="value_out_of_range", pointer="/values/0/value"),
        id="a percentage above 100",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/plans/{plan_draft}/county-approval"), lambda w: {}, 409, _at("/plans/{plan_draft}"),
            code="step_out_of_order"),
        id="a plan approved by the county before the assembly",
    ),
    pytest.param(
        Bad("township", "POST", _at("/projects/{project_step}/steps"), lambda w: TOWNSHIP_REVIEW, 409,
            _at("/projects/{project_step}"), code="wrong_state", version_of="/projects/{project_step}"),
        id="a project reviewed by the township before the village decided",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/projects/{project_draft}/steps"), lambda w: COUNTY_APPROVAL, 409,
            _at("/projects/{project_draft}"), code="wrong_state", version_of="/projects/{project_draft}"),
        id="a project approved by the county before the township",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/funding-lines/{line_main}/disbursements"), lambda w: disbursement("400000.01"), 409,
            LEDGER, code="disbursement_exceeds_receipts"),
        id="a disbursement above what was received",
    ),
    pytest.param(
        Bad("admin", "POST", _at("/funding-lines/{line_main}/receipts"), lambda w: receipt("390000.01"), 409, LEDGER,
            code="receipt_exceeds_commitment"),
        id="a receipt above what is committed",
    ),
    pytest.param(
        Bad("township", "POST", _at("/villages/{village}/risk-fund/payouts"),
            lambda w: {"event_id": w.ids["event"], "amount_yuan": "5000.01", "entry_date": "2015-08-15"}, 409,
            _at("/villages/{village}/risk-fund/entries"), code="insufficient_balance"),
        id="a risk-fund payout above the balance",
    ),
    pytest.param(
        Bad("clerk", "POST", _at("/villages/{village}/risk-fund/contributions"),
            lambda w: {"project_id": w.ids["project_breeding"], "amount_yuan": "-5.00", "entry_date": "2015-08-01"},
            422, _at("/villages/{village}/risk-fund"), pointer="/amount_yuan"),
        id="a negative risk-fund contribution",
    ),
]  # fmt: skip


def _pointers(body: Json) -> list[str]:
    """Where a problem points: its `errors` (JSON Pointers into the body, or parameters), or the rule's member."""
    out = [
        str(e.get("pointer") if e.get("pointer") is not None else e.get("parameter"))
        for e in body.get("errors") or []
    ]
    return out + [str(body[k]) for k in ("pointer", "field") if body.get(k) is not None]


@pytest.mark.parametrize("bad", BAD_INPUT)
async def test_bad_input_is_a_problem_and_changes_nothing(world: World, bad: Bad) -> None:
    planning = world.planning
    headers = world.headers[bad.who]
    if bad.version_of is not None:
        read = await planning.get(bad.version_of.format(**world.ids), headers=world.headers["admin"])
        headers = headers | {"If-Match": read.headers["etag"]}
    url = bad.path(world)
    before = await snapshot(world.db_url)
    seen = _ok(await planning.get(bad.read(world), headers=world.headers["admin"]), 200)
    response = await planning.request(bad.method, url, json=bad.body(world), headers=headers)
    body = assert_problem(response, bad.status)
    assert {"type", "title", "status", "detail"} <= body.keys()
    if bad.code is not None:
        assert body.get("code") == bad.code, body
    if bad.pointer is not None:
        assert bad.pointer in _pointers(body), body
    elif bad.status == 422:
        assert _pointers(body), body  # a validation problem says which input
    if bad.twin is not None:
        twin_body = bad.twin(world)
        twin = await planning.request(bad.method, url, json=twin_body, headers=headers)
        given = set(UUID_TEXT.findall(json.dumps(bad.body(world))))
        assert _normalised(response, given) == _normalised(
            twin, set(UUID_TEXT.findall(json.dumps(twin_body)))
        )
    assert _ok(await planning.get(bad.read(world), headers=world.headers["admin"]), 200) == seen
    assert _changed(before, await snapshot(world.db_url)) == []


def _cursor(*parts: object) -> str:
    """A cursor as the lists encode one (base64url of a JSON array, unpadded): here, a forged one."""
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


async def test_forged_cursors_are_a_problem(world: World) -> None:
    """A cursor of the right ordering whose values are `null` (or of the wrong type) is 400 `cursor_invalid` on
    every list, never a 500 nor a silently empty page."""
    ids = world.ids
    lists = {
        f"/villages/{VILLAGE}/plans": ("village_plans", 2),
        f"/plans/{ids['plan_active']}/versions": ("plan_versions", 1),
        "/projects": ("village", 2),
        "/projects/overdue-milestones": ("due", 2),
        f"/projects/{ids['project_main']}/beneficiaries": ("household", 1),
        "/indicators": ("indicators", 1),
        f"/villages/{VILLAGE}/force-majeure-events": ("force_majeure_events", 2),
        f"/villages/{VILLAGE}/risk-fund/entries": ("risk_fund_entries", 1),
        f"/counties/{COUNTY}/allocations": ("allocations", 2),
        f"/projects/{ids['project_main']}/funding-lines": ("funding_lines", 2),
        f"/funding-lines/{ids['line_main']}/ledger": ("ledger", 1),
        f"/projects/{ids['project_main']}/line-transfers": ("line_transfers", 2),
    }
    for url, (kind, size) in lists.items():
        for forged in (_cursor(kind, *[None] * size), _cursor(kind, *[[1]] * size), _cursor("other", 1)):
            response = await world.planning.get(
                url, params={"cursor": forged}, headers=world.headers["admin"]
            )
            assert assert_problem(response, 400)["code"] == "cursor_invalid", (url, forged)


# -- the positive control (last: these calls write) -----------------------------------------------------------------
async def test_insiders_reach_every_route(world: World) -> None:
    """Each probe's insider reaches its record (so an outsider's 404 is scope, not a wrong id); every 201 carries
    `Location`. Reads first, then the writes, in the table's order."""
    failures = []
    for probe in sorted(PROBES, key=lambda p: p.write):
        response = await call(world, probe, probe.insider)
        if response.status_code != probe.success:
            failures.append(f"{probe.label} as {probe.insider}: {response.status_code} {response.text[:300]}")
        elif probe.success == 201 and "location" not in response.headers:
            failures.append(f"{probe.label}: 201 without Location")
    created = await world.planning.post(
        "/indicators",
        json={
            "code": "matrix_indicator",
            "label_zh": "测试",
            "label_en": "Test",
            "unit": "people",
            "direction": "increase",
        },
        headers=world.headers["admin"],
    )
    if created.status_code != 201 or "location" not in created.headers:
        failures.append(f"POST /indicators as admin: {created.status_code} {created.text[:300]}")
    assert failures == [], "\n".join(failures)

"""Assessment figure routes (考核数据, issue #12): `/figures/{subject_type}` and `/figures/catalogue`.

One hand-made year (2015) in 新靖镇, built through the registry's API with a test clock (the workflow's 7-day
notices are crossed by moving it), with help records and signatures inserted as phones would leave them:

- 旧州村: ten households registered by import on 2014-03-01 (H1 of four people, the others of three), income of
  2014 imported (2000 yuan per head; H10 3000). H10 exits in 2014 and re-enters (返贫) in March 2015; H1, H2, H3
  exit in June 2015; H4's exit is proposed in November 2015 but county-reviewed only in January 2016. H9 is not
  willing to develop; H8 has no pairing. The county's exit line for 2015 is 3000 yuan; the village counts 300
  people in 2015.
- 渠洋村: H11, imported without an income; its 2014 income is recorded late (March 2015); it exits in June 2015.
- Unit U (first secretary A in 旧州村 since June 2014, liaison named): cadre A paired with H1-H6 and (after its
  return) H10, cadre B with H7 and H11. Unit U2: cadre C paired with H9.

Every figure of every row is checked against the value worked out by hand below. Then: JSON pages equal the NDJSON
stream, the year and role and region rules, and the number of SQL statements does not grow with the subjects.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from services.registry.figures import repository as figure_repository
from services.registry.figures.domain import SubjectType, served
from shared import db
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
    household_payload,
    resident_id,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

YEAR = 2015
NDJSON = "application/x-ndjson"
#: A code inside the county that names no region.
MISSING = "451025100299"


class Clock:
    """The registry's clock in tests: 10:00 China time on the day given, moved forward as the year goes by."""

    def __init__(self) -> None:
        self.now = datetime(2014, 3, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: str) -> None:
        moment = datetime.fromisoformat(day).replace(hour=2, tzinfo=UTC)
        assert moment >= self.now, "the clock only moves forward"
        self.now = moment

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


# -- members and households ------------------------------------------------------------------------------------
def member(relation: str, born: str, **extra: Any) -> dict[str, Any]:
    sex = "female" if relation == "spouse" else "male"
    body: dict[str, Any] = {
        "name": {"head": "黄志强", "spouse": "农秀兰"}.get(relation, "黄小明"),
        "relation": relation,
        "sex": sex,
        "birth_year_month": born,
        "resident_id_number": resident_id(born.replace("-", "") + "15", sex),
        "labor_capacity": "ordinary" if relation == "head" else "none",
        "health_status": "healthy",
        "details": {"insurance": {"ncms_enrolled": True, "pension_enrolled": relation == "head"}},
    }
    body.update(extra)
    return body


def members(n: int) -> list[dict[str, Any]]:
    """H<n>'s members: a head (1968, labour, pension), a spouse (1970) and a son (2005, in school); H1 also has a
    son of 2002; H5's spouse is not in the NCMS; H6's son (2003) dropped out."""
    head = member("head", "1968-04")
    spouse = member("spouse", "1970-09")
    son = member("son", "2005-03", school_status="junior_middle")
    if n == 5:
        spouse["details"] = {"insurance": {"ncms_enrolled": False}}
    if n == 6:
        son = member("son", "2003-01", school_status="not_in_school")
        son["details"] = {"insurance": {"ncms_enrolled": True}, "dropout": True}
    out = [head, spouse, son]
    if n == 1:
        out.append(member("son", "2002-05", school_status="junior_middle"))
    return out


def income(wage: int) -> dict[str, str]:
    return {"wage": str(wage), "operating": "0", "property": "0", "transfer": "0", "operating_expenses": "0"}


def import_line(n: int) -> dict[str, Any]:
    village = SIBLING_VILLAGE if n == 11 else VILLAGE
    body = household_payload(village, year=2014)
    body.pop("contact_phone")
    body.pop("bank_account")
    body["members"] = members(n)
    body["status"] = "registered"
    body["national_household_code"] = f"NHC-{n:03d}"
    if n != 11:
        body["income"] = {"year": 2014, **income({1: 8000, 10: 9000}.get(n, 6000))}
    if n in (1, 2, 3, 6):
        body["planned_exit_year"] = 2015
    if n == 9:
        body["details"] = {"development": {"willing": False}}
    return body


REVIEW = {"minutes_ref": "村民代表大会记录", "attendees": 40, "votes_for": 31, "approved": True}
EXIT_SURVEY = {
    "minutes_ref": "脱贫评议",
    "attendees": 30,
    "votes_for": 20,
    "food_and_clothing_secure": True,
    "stable_income_source": True,
    "head_acknowledged": True,
}
ADMIN_VILLAGE = {"places": ["administrative_village"]}
BOTH_PLACES = {"places": ["administrative_village", "natural_village"]}


@dataclass
class World:
    """The records of the year, by name, and the people who act on them."""

    client: httpx.AsyncClient
    clock: Clock
    db_url: str
    admin: Headers
    township: Headers
    clerks: dict[str, Headers]
    households: dict[int, str] = field(default_factory=dict)
    cadres: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    pairings: dict[tuple[str, int], str] = field(default_factory=dict)
    items: dict[tuple[int, int], str] = field(default_factory=dict)

    def clerk(self, n: int) -> Headers:
        return self.clerks[SIBLING_VILLAGE if n == 11 else VILLAGE]

    async def version(self, n: int) -> int:
        card = await self.client.get(f"/households/{self.households[n]}", headers=self.admin)
        assert card.status_code == 200, card.text
        version: int = card.json()["version"]
        return version

    async def step(self, n: int, command: str, who: Headers, **data: Any) -> None:
        response = await self.client.post(
            f"/households/{self.households[n]}/workflow/{command}",
            json={"data": data},
            headers=who | {"If-Match": f'"{await self.version(n)}"'},
        )
        assert response.status_code == 200, f"H{n} {command}: {response.text}"

    async def set_income(self, n: int, year: int, wage: int) -> None:
        response = await self.client.put(
            f"/households/{self.households[n]}/incomes/{year}",
            json=income(wage),
            headers=self.clerk(n) | {"If-Match": f'"{await self.version(n)}"'},
        )
        assert response.status_code == 200, response.text

    async def exits(self, group: list[int], *, until_county: bool = True) -> None:
        """The exit chain (两公示一公告) for every household of `group` together, moving the clock 16 days."""
        for n in group:
            await self.step(n, "propose_exit", self.clerk(n), **EXIT_SURVEY)
            await self.step(n, "start_notice", self.clerk(n), **ADMIN_VILLAGE)
        if until_county:
            await self.exits_from_first_notice(group)

    async def exits_from_first_notice(self, group: list[int]) -> None:
        self.clock.advance(8)
        for n in group:
            await self.step(n, "township_review", self.township, approve=True)
            await self.step(n, "start_notice", self.township, **ADMIN_VILLAGE)
        self.clock.advance(8)
        for n in group:
            await self.step(n, "county_review", self.admin, approve=True)
            await self.step(n, "announce", self.admin)

    async def pair(self, cadre: str, n: int, valid_from: str) -> None:
        body = {"household_id": self.households[n], "cadre_id": self.cadres[cadre], "valid_from": valid_from}
        response = await self.client.post("/pairings", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        self.pairings[(cadre, n)] = response.json()["id"]

    async def sql(self, statement: str, *args: Any) -> None:
        conn = await asyncpg.connect(self.db_url)
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    async def record(
        self, cadre: str, n: int, when: datetime, *, signed_by: int = 0, version: int = 1
    ) -> str:
        """A help record of `cadre` at H<n> (as a phone leaves it), signed by the first `signed_by` parties."""
        record_id = uuid.uuid4()
        for v in range(1, version + 1):
            await self.sql(
                "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
                " received_at, content, payload_hash, created_by) VALUES ($1, $2, $3, $4, 'visit', $5, $5, '走访',"
                " 'h', 'x')",
                record_id,
                v,
                uuid.UUID(self.households[n]),
                uuid.UUID(self.cadres[cadre]),
                when,
            )
        for party in ("household_head", "village_director", "unit_responsible")[:signed_by]:
            await self.sql(
                "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by, signatory)"
                " VALUES ($1, $2, $3, 'x', '签字人')",
                record_id,
                party,
                when,
            )
        return str(record_id)

    async def plan(
        self, n: int, year_from: int, year_to: int, target: int, items: list[tuple[str, int]]
    ) -> None:
        body = {
            "year_from": year_from,
            "year_to": year_to,
            "target_exit_year": target,
            "items": [
                {
                    "measure": "breeding",
                    "description": f"养殖项目 {i}",
                    "responsible_cadre_id": self.cadres["C" if n == 9 else "A"],
                    "due_date": due,
                    "expected_income_gain_yuan": f"{gain}.00",
                }
                for i, (due, gain) in enumerate(items)
            ],
        }
        response = await self.client.put(
            f"/households/{self.households[n]}/help-plan", json=body, headers=self.admin
        )
        assert response.status_code == 200, response.text
        for i, item in enumerate(response.json()["items"]):
            self.items[(n, i)] = item["item_id"]

    async def complete(self, n: int, i: int, on: str) -> None:
        response = await self.client.post(
            f"/households/{self.households[n]}/help-plan/items/{self.items[(n, i)]}/progress",
            json={"percent": 100, "completed_on": on},
            headers=self.admin,
        )
        assert response.status_code == 200, response.text


async def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def build_world(client: httpx.AsyncClient, clock: Clock, db_url: str, signing_key: SigningKey) -> World:
    admin = headers_for(signing_key, "county_admin", COUNTY, "county-1")
    w = World(
        client=client,
        clock=clock,
        db_url=db_url,
        admin=admin,
        township=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1"),
        clerks={
            VILLAGE: headers_for(signing_key, "village_officer", VILLAGE, "clerk-1"),
            SIBLING_VILLAGE: headers_for(signing_key, "village_officer", SIBLING_VILLAGE, "clerk-2"),
        },
    )
    # 2014-03-01: the registry of 2014, the quotas and population of 2015, the county's exit line of 2015.
    lines = "\n".join(json.dumps(import_line(n), ensure_ascii=False) for n in range(1, 12))
    await _ok(
        await client.post(
            "/households/import",
            params={"mode": "migration", "source_document": "test migration"},
            content=lines.encode(),
            headers=admin | {"Content-Type": NDJSON},
        )
    )
    listed = await _ok(
        await client.get("/households", params={"region": TOWNSHIP, "limit": 50}, headers=admin)
    )
    by_code = {}
    for item in listed["items"]:
        card = await _ok(await client.get(f"/households/{item['id']}", headers=admin))
        by_code[card["national_household_code"]] = item["id"]
    w.households = {n: by_code[f"NHC-{n:03d}"] for n in range(1, 12)}
    for code, who, people in ((COUNTY, admin, 100), (TOWNSHIP, admin, 60), (VILLAGE, w.township, 40)):
        await _ok(await client.put(f"/regions/{code}/quotas/{YEAR}", json={"people": people}, headers=who))
    line = {"value": 3000, "reason": "县定脱贫标准"}
    await _ok(
        await client.put(f"/regions/{COUNTY}/policy/{YEAR}/exit_income_line_yuan", json=line, headers=admin)
    )
    for code, people in ((VILLAGE, 300), (SIBLING_VILLAGE, 100)):
        await _ok(
            await client.put(
                f"/regions/{code}/population/{YEAR}", json={"population": people}, headers=admin
            ),
            204,
        )

    # 2014-05: H10 exits (its 2014 income, 3000 yuan a head, passes the 2014 line of 2736).
    clock.at("2014-05-05")
    await w.exits([10])

    # 2015-01-02: units, cadres, the first secretary, pairings from New Year's day.
    clock.at("2015-01-02")
    for name, liaison in (("U", "李联络"), ("U2", None)):
        body = {"name": f"帮扶单位{name}", "kind": "government_department", "region_code": COUNTY}
        if liaison:
            body["liaison_name"] = liaison
        w.units[name] = (await _ok(await client.post("/helping-units", json=body, headers=admin), 201))["id"]
    for name, unit in (("A", "U"), ("B", "U"), ("C", "U2")):
        body = {"unit_id": w.units[unit], "name": f"干部{name}", "position_level": "staff"}
        if name == "A":  # the first secretary logs in: the work team's co-signer (issue #13 item 4)
            body["user_sub"] = "secretary-a"
        w.cadres[name] = (await _ok(await client.post("/cadres", json=body, headers=admin), 201))["id"]
    assignment = {
        "village_code": VILLAGE,
        "cadre_id": w.cadres["A"],
        "role": "first_secretary",
        "starts_on": "2014-06-01",
    }
    await _ok(await client.post("/village-assignments", json=assignment, headers=admin), 201)
    for cadre, group in (("A", [1, 2, 3, 4, 5, 6]), ("B", [7, 11]), ("C", [9])):
        for n in group:
            await w.pair(cadre, n, "2015-01-01")

    # 2015-02-10: help plans of H4 (exit 2015; measures due June and September), H5 (one due August), H9 (2016).
    clock.at("2015-02-10")
    await w.plan(4, 2015, 2016, 2015, [("2015-06-30", 1000), ("2015-09-30", 500)])
    await w.plan(5, 2015, 2016, 2016, [("2015-08-31", 600)])
    await w.plan(9, 2016, 2016, 2016, [("2016-03-31", 800)])
    ack = {"version": 1, "signatory": "黄志强", "acknowledged_on": "2015-02-10"}
    await _ok(
        await client.post(f"/households/{w.households[4]}/help-plan/acknowledgement", json=ack, headers=admin)
    )

    # 2015-03: H11's 2014 income, late; H10 returns (因病返贫) and is paired with A.
    clock.at("2015-03-01")
    await w.set_income(11, 2014, 6000)
    await w.step(10, "apply_return", w.clerk(10), cause="illness", evidence_ref="住院费用清单")
    await w.step(10, "village_review", w.clerk(10), **REVIEW)
    await w.step(10, "cosign", w.clerk(10), party="village_committee")
    secretary = headers_for(signing_key, "village_officer", VILLAGE, "secretary-a")
    await w.step(10, "cosign", secretary, party="work_team")
    await w.step(10, "start_notice", w.clerk(10), **BOTH_PLACES)
    clock.advance(8)
    await w.step(10, "township_review", w.township, approve=True)
    await w.step(10, "start_notice", w.township, **ADMIN_VILLAGE)
    clock.advance(8)
    await w.step(10, "county_review", admin, approve=True)
    await w.step(10, "announce", admin)
    clock.at("2015-04-01")
    await w.pair("A", 10, "2015-04-01")

    # Help records: A visits H1 twice (the first signed by all three, then corrected), H2 once (two signatures),
    # H4 once; one visit of A to H1 in December 2014 does not count; B visits H7.
    await w.record("A", 1, datetime(2014, 12, 20, 2, tzinfo=UTC))
    await w.record("A", 1, datetime(2015, 4, 10, 2, tzinfo=UTC), signed_by=3, version=2)
    await w.record("A", 1, datetime(2015, 8, 10, 2, tzinfo=UTC))
    await w.record("A", 2, datetime(2015, 5, 10, 2, tzinfo=UTC), signed_by=2)
    await w.record("A", 4, datetime(2015, 9, 10, 2, tzinfo=UTC))
    await w.record("B", 7, datetime(2015, 7, 10, 2, tzinfo=UTC))

    # 2015-06: the incomes of 2015; H1, H2, H3 and H11 exit.
    clock.at("2015-06-01")
    wages = {1: 16000, 2: 12000, 3: 12000, 4: 9300, 10: 3000, 11: 9000}
    for n in range(1, 12):
        await w.set_income(n, YEAR, wages.get(n, 6000))
    await w.exits([1, 2, 3, 11])
    clock.at("2015-06-20")
    await w.complete(4, 0, "2015-06-20")  # on time

    # The June round: a finding on A's pairing with H4, closed in June.
    clock.at("2015-06-25")
    june = await _ok(
        await client.post(
            "/monitoring/rounds",
            json={"township_code": TOWNSHIP, "year": YEAR, "half": "H1"},
            headers=w.township,
        ),
        201,
    )
    finding = {
        "pairing_id": w.pairings[("A", 4)],
        "projects": "养殖",
        "funds_yuan": "0.00",
        "results": "增收",
    }
    await _ok(
        await client.post(f"/monitoring/rounds/{june['id']}/findings", json=finding, headers=w.township), 201
    )
    await _ok(
        await client.post(
            f"/monitoring/rounds/{june['id']}/close", json={"summary": "完成"}, headers=w.township
        )
    )

    clock.at("2015-10-15")
    await w.complete(4, 1, "2015-10-15")  # due 2015-09-30: late

    # 2015-11-20: H4's exit is proposed; its first notice runs into December.
    clock.at("2015-11-20")
    await w.exits([4], until_county=False)

    # The December round opens, with a finding on B's pairing, and is not closed in 2015.
    clock.at("2015-12-20")
    december = await _ok(
        await client.post(
            "/monitoring/rounds",
            json={"township_code": TOWNSHIP, "year": YEAR, "half": "H2"},
            headers=w.township,
        ),
        201,
    )
    finding = {
        "pairing_id": w.pairings[("B", 7)],
        "projects": "务工",
        "funds_yuan": "0.00",
        "results": "稳定",
    }
    await _ok(
        await client.post(f"/monitoring/rounds/{december['id']}/findings", json=finding, headers=w.township),
        201,
    )

    # 2016-01: H4's exit is county-reviewed (it counts for 2016); H2's house is found dangerous (C).
    clock.at("2016-01-05")
    await w.exits_from_first_notice([4])
    patch = {"dangerous_house_grade": "C", "reason": "复查发现危房"}
    await _ok(
        await client.patch(
            f"/households/{w.households[2]}",
            json=patch,
            headers=w.clerk(2) | {"If-Match": f'"{await w.version(2)}"'},
        )
    )
    clock.at("2016-03-01")
    return w


@pytest.fixture
def clock(registry_app: FastAPI) -> Clock:
    c = Clock()
    registry_app.state.clock = c
    return c


@pytest.fixture
async def world(
    registry: httpx.AsyncClient, clock: Clock, db_urls: dict[str, str], signing_key: SigningKey
) -> World:
    return await build_world(registry, clock, db_urls["registry"], signing_key)


@pytest.fixture
def service(signing_key: SigningKey) -> Headers:
    """The assessment's service token (role service, bound to the national root)."""
    return headers_for(signing_key, "service", "000000000000", "assessment-service")


async def rows(
    client: httpx.AsyncClient, subject: str, headers: Headers, **params: Any
) -> list[dict[str, Any]]:
    """Every row of `subject`, page by page (limit 1: every cursor is used)."""
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {"year": YEAR, "limit": 1, **params}
    while True:
        page = await _ok(await client.get(f"/figures/{subject}", params=query, headers=headers))
        out.extend(page["items"])
        if page["next_cursor"] is None:
            return out
        assert len(page["items"]) == 1
        query["cursor"] = page["next_cursor"]


async def streamed(
    client: httpx.AsyncClient, subject: str, headers: Headers, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/figures/{subject}", params={"year": YEAR, **params}, headers=headers | {"Accept": NDJSON}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    return [json.loads(line) for line in response.text.splitlines() if line]


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


# == the figures, by hand ==========================================================================================
#: 旧州村 in 2015. Poor at the end of 2015: H4 (exit pending), H5-H9, H10 (returned) = 7 households of 3 = 21 people
#: of 300. Caseload: those 7 and H1-H3 (exited): 10 households, 31 people, 31 members.
VILLAGE_2015 = {
    "exited_people": 10,  # H1 (4) + H2 (3) + H3 (3); H4 was county-reviewed in January 2016
    "exit_quota_people": None,  # no exit target in the world (TestExitQuotaFigure sets them)
    "poverty_incidence": "7.00",  # 21 / 300
    "returnees": 3,  # H10
    "returnees_increase": 3,  # 3 - 0 (2014)
    # 2015: 16000 + 2 x 12000 + 9300 + 5 x 6000 + 3000 = 82300; 2014: 8000 + 8 x 6000 + 9000 = 65000; 31 people
    "income_growth": "26.62",
    "share_households_above_line": "40.00",  # H1, H2, H3 (4000), H4 (3100) >= 3000, of 10
    "ncms_coverage": "96.77",  # 30 of 31 (H5's spouse)
    "pension_coverage": "50.00",  # the 10 heads of the 20 adults (the children are in school or too young)
    "junior_middle_enrolment": "50.00",  # H1's son of 2002 in school; H6's son of 2003 dropped out
    "pairing_coverage": "83.33",  # poor, labour, willing: H4-H8, H10 (H9 unwilling); H8 unpaired: 5 / 6
    "measures_on_schedule": "33.33",  # H4 June (on time), H4 September (late), H5 August (not done)
    "monitoring_rounds_closed": 1,  # June closed; December still open on 31 Dec
    "deadline_jan_update_met": True,  # the 2014 incomes of H1-H9 (poor at the end of 2014) imported in March 2014
    "deadline_dec_exits_met": False,  # H4 proposed in November, still at its first notice on 31 Dec
    "incomplete_cards": 5,  # H6, H7, H8, H10 without a plan, H9's plan starts in 2016
}
SIBLING_2015 = {
    "exited_people": 3,
    "exit_quota_people": None,
    "poverty_incidence": "0.00",
    "returnees": 0,
    "returnees_increase": 0,
    "income_growth": "50.00",  # 9000 / 6000
    "share_households_above_line": "100.00",  # 3000 >= 3000
    "ncms_coverage": "100.00",
    "pension_coverage": "50.00",
    "junior_middle_enrolment": None,  # nobody of 12-14
    "pairing_coverage": None,  # nobody poor at the end of the year
    "measures_on_schedule": None,
    "monitoring_rounds_closed": 1,
    "deadline_jan_update_met": False,  # H11's 2014 income recorded in March 2015
    "deadline_dec_exits_met": True,
    "incomplete_cards": 0,
}
TOWNSHIP_2015 = {
    "exited_people": 13,
    "exit_quota_people": None,
    "poverty_incidence": "5.25",  # 21 / (300 + 100): the township has no figure of its own
    "returnees": 3,
    "returnees_increase": 3,
    "income_growth": "28.59",  # (82300 + 9000) / (65000 + 6000) - 1
    "share_households_above_line": "45.45",  # 5 / 11
    "ncms_coverage": "97.06",  # 33 / 34
    "pension_coverage": "50.00",  # 11 / 22
    "junior_middle_enrolment": "50.00",
    "pairing_coverage": "83.33",
    "measures_on_schedule": "33.33",
    "monitoring_rounds_closed": 1,
    "deadline_jan_update_met": False,
    "deadline_dec_exits_met": False,
    "incomplete_cards": 5,
    "exit_plan_achievement": "81.25",  # 13 exited / 16 planned (H1 4, H2, H3, H4 by its plan, H6)
}
#: A: paired during 2015 with H1-H6 and H10 (7). B: H7, H11. C: H9.
CADRE_A = {
    "exit_plan_achievement": "62.50",  # exited H1-H3 (10) / planned H1-H4, H6 (16)
    "measures_on_schedule": "33.33",
    "monitoring_rounds_closed": 1,
    "visits_per_pairing": "0.57",  # 4 records of 2015 / 7
    "confirmed_records_per_pairing": "0.14",  # 1 / 7
    "unsigned_cards": 3,
    "households_without_card": 4,  # H3, H5, H6, H10
    "help_plan_completeness": "14.29",  # H4's acknowledged plan / 7
    "income_increase_vs_plan": "157.14",  # (3300 + 0) / (1000 + 500 + 600)
    "help_targets_missed": 2,
    "exit_per_plan_no_return": False,  # H4 planned 2015 but exited 2016; H10 returned
}
CADRE_B = {
    "exit_plan_achievement": None,
    "measures_on_schedule": None,
    "monitoring_rounds_closed": 0,  # the December round was not closed in 2015
    "visits_per_pairing": "0.50",
    "confirmed_records_per_pairing": "0.00",
    "unsigned_cards": 1,
    "households_without_card": 1,  # H11
    "help_plan_completeness": "0.00",
    "income_increase_vs_plan": None,
    "help_targets_missed": 0,
    "exit_per_plan_no_return": None,  # no plan
}
CADRE_C = {
    "exit_plan_achievement": None,
    "measures_on_schedule": None,
    "monitoring_rounds_closed": 0,
    "visits_per_pairing": "0.00",
    "confirmed_records_per_pairing": "0.00",
    "unsigned_cards": 0,
    "households_without_card": 1,
    "help_plan_completeness": "0.00",  # the plan starts in 2016 and is not acknowledged
    "income_increase_vs_plan": None,
    "help_targets_missed": 0,
    "exit_per_plan_no_return": True,  # planned for 2016; nobody returned
}
UNIT_U = {
    "exit_plan_achievement": "81.25",  # 13 / 16
    "measures_on_schedule": "33.33",
    "monitoring_rounds_closed": 1,
    "visits_per_pairing": "0.56",  # 5 / 9
    "confirmed_records_per_pairing": "0.11",
    "unsigned_cards": 4,
    "households_without_card": 5,
    "help_plan_completeness": "11.11",
    "income_increase_vs_plan": "157.14",
    "help_targets_missed": 2,
    "pairing_coverage": "100.00",  # H4-H7, H10 still poor, all paired on 31 Dec
    "resident_team_stable": True,  # A first secretary since June 2014
    "first_secretary_assigned": True,
    "liaison_designated": True,
}
UNIT_U2 = {
    "exit_plan_achievement": None,
    "measures_on_schedule": None,
    "monitoring_rounds_closed": 0,
    "visits_per_pairing": "0.00",
    "confirmed_records_per_pairing": "0.00",
    "unsigned_cards": 0,
    "households_without_card": 1,
    "help_plan_completeness": "0.00",
    "income_increase_vs_plan": None,
    "help_targets_missed": 0,
    "pairing_coverage": "100.00",
    "resident_team_stable": False,
    "first_secretary_assigned": False,
    "liaison_designated": False,
}
#: The exit test of the households whose exit was proposed in 2015 (line: the county's 3000 yuan).
EXIT_PASSING = {
    "poverty_line_fen": 300000,
    "food_clothing_secure": True,
    "compulsory_schooling_ok": True,
    "medical_insurance_all": True,
    "housing_safe": True,
    "stable_income_source": True,
    "social_assistance_covered": True,
    "exit_procedure_complete": True,
    "head_acknowledged": True,
}


def _served_exactly(row: dict[str, Any], subject: SubjectType) -> None:
    assert set(row["figures"]) == {f.code.value for f in served(subject)}


class TestVillageFigures:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/figures/village", params={"region": COUNTY, "year": YEAR}), 401)

    async def test_every_figure_of_a_hand_made_village(self, world: World, service: Headers) -> None:
        items = await rows(world.client, "village", service, region=COUNTY)
        assert [i["id"] for i in items] == [VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE]
        village, sibling, other = items
        assert (village["name"], village["parent_code"], village["parent_name"]) == (
            "旧州村",
            TOWNSHIP,
            "新靖镇",
        )
        assert village["subject_type"] == "village" and village["year"] == YEAR
        for row in items:
            _served_exactly(row, SubjectType.village)
        assert village["figures"] == VILLAGE_2015
        assert sibling["figures"] == SIBLING_2015
        # The counts the incidence rests on, as of 31 Dec 2015 (H4-H10: 7 households of 3; H1-H3 exited).
        counts = ("poor_households", "poor_people", "population")
        assert [tuple(row[k] for k in counts) for row in items] == [(7, 21, 300), (0, 0, 100), (0, 0, None)]
        # 化峒村 has no household: counts are 0, what needs data is null (never a made-up 0).
        assert other["parent_code"] == OTHER_TOWNSHIP
        assert other["figures"] == {
            **{k: None for k in VILLAGE_2015},
            "exited_people": 0,
            "returnees": 0,
            "monitoring_rounds_closed": 0,
            "incomplete_cards": 0,
        }

    async def test_the_year_ends_on_31_december(self, world: World, service: Headers) -> None:
        """2014: H10's exit counted; nothing of 2015 (H10's return, H1-H3's exits) leaks into it."""
        (village,) = await rows(world.client, "village", service, region=VILLAGE, year=2014)
        figures = village["figures"]
        assert figures["exited_people"] == 3 and figures["returnees"] == 0
        assert figures["returnees_increase"] is None  # nothing recorded before 2014
        assert figures["poverty_incidence"] is None  # no population of 2014
        # Poor at the end of 2014: H1-H9 (H10 exited in May; its return of 2015 does not leak back).
        assert (village["poor_households"], village["population"]) == (9, None)
        assert figures["deadline_dec_exits_met"] is True  # H10's exit was done in May 2014
        assert figures["deadline_jan_update_met"] is None  # nobody was poor at the end of 2013

    async def test_the_year_under_way(self, world: World, service: Headers, clock: Clock) -> None:
        """Asked on 2016-03-01 for 2016: H4's January exit counts; the December deadline is not judged yet."""
        (village,) = await rows(world.client, "village", service, region=VILLAGE, year=2016)
        assert village["figures"]["exited_people"] == 3
        assert village["figures"]["deadline_dec_exits_met"] is None
        assert village["figures"]["deadline_jan_update_met"] is True  # the 2015 incomes were recorded in June

    async def test_wrong_role(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        for role, region in (("village_officer", VILLAGE), ("cadre", COUNTY)):
            problem = assert_problem(
                await registry.get(
                    "/figures/village",
                    params={"region": VILLAGE, "year": YEAR},
                    headers=headers_for(signing_key, role, region),
                ),
                403,
            )
            assert problem["code"] == "role_not_allowed"

    async def test_other_region(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        other_township = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        other_county = headers_for(signing_key, "county_admin", "451026000000")
        other_province = headers_for(signing_key, "province_system", "440000000000")
        missing = assert_problem(
            await registry.get(
                "/figures/village",
                params={"region": MISSING, "year": YEAR},
                headers=headers_for(signing_key, "county_admin", COUNTY),
            ),
            404,
        )
        for who, region in ((other_township, TOWNSHIP), (other_township, COUNTY), (other_county, COUNTY),
                            (other_province, VILLAGE)):  # fmt: skip
            problem = assert_problem(
                await registry.get("/figures/village", params={"region": region, "year": YEAR}, headers=who),
                404,
            )
            assert set(problem) == set(missing)

    async def test_invalid(self, registry: httpx.AsyncClient, signing_key: SigningKey, clock: Clock) -> None:
        admin = headers_for(signing_key, "county_admin", COUNTY)
        clock.at("2016-03-01")
        future = assert_problem(
            await registry.get("/figures/village", params={"region": COUNTY, "year": 2017}, headers=admin),
            422,
        )
        assert future["code"] == "value_out_of_range" and future["errors"][0]["parameter"] == "year"
        early = assert_problem(
            await registry.get("/figures/village", params={"region": COUNTY, "year": 2012}, headers=admin),
            422,
        )
        assert early["errors"][0]["parameter"] == "year"
        invalid: list[dict[str, str | int]] = [
            {"region": "4510", "year": YEAR},
            {"year": YEAR},
            {"region": COUNTY, "year": YEAR, "limit": 0},
        ]
        for params in invalid:
            assert_problem(await registry.get("/figures/village", params=params, headers=admin), 422)
        unknown = assert_problem(
            await registry.get(
                "/figures/village",
                params={"region": COUNTY, "year": YEAR, "township": TOWNSHIP},
                headers=admin,
            ),
            400,
        )
        assert unknown["code"] == "unknown_parameter"
        bad_cursor = assert_problem(
            await registry.get(
                "/figures/village", params={"region": COUNTY, "year": YEAR, "cursor": "bm9wZQ"}, headers=admin
            ),
            400,
        )
        assert bad_cursor["code"] == "cursor_invalid"
        assert_problem(
            await registry.get("/figures/nobody", params={"region": COUNTY, "year": YEAR}, headers=admin), 404
        )

    async def test_who_reads(self, world: World, signing_key: SigningKey) -> None:
        """Services, the province, the county's admin and the township's own officer read; each within scope."""
        readers = {
            "county admin": (headers_for(signing_key, "county_admin", COUNTY), COUNTY),
            "province": (headers_for(signing_key, "province_system", "450000000000"), COUNTY),
            "township officer": (world.township, TOWNSHIP),
            "township officer, a village of theirs": (world.township, VILLAGE),
        }
        for who, (headers, region) in readers.items():
            items = await rows(world.client, "village", headers, region=region)
            assert VILLAGE in {i["id"] for i in items}, who
            assert by_name(items)["旧州村"]["figures"] == VILLAGE_2015, who
        township_only = await rows(world.client, "village", world.township, region=TOWNSHIP)
        assert [i["id"] for i in township_only] == [VILLAGE, SIBLING_VILLAGE]


class TestTownshipFigures:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/figures/township", params={"region": COUNTY, "year": YEAR}), 401)

    async def test_valid(self, world: World, service: Headers) -> None:
        items = await rows(world.client, "township", service, region=COUNTY)
        assert [i["id"] for i in items] == [TOWNSHIP, OTHER_TOWNSHIP]
        xinjing, huadong = items
        assert (xinjing["name"], xinjing["parent_code"], xinjing["parent_name"]) == (
            "新靖镇",
            COUNTY,
            "靖西县",
        )
        _served_exactly(xinjing, SubjectType.township)
        assert xinjing["figures"] == TOWNSHIP_2015
        # No population of its own: its villages' 300 + 100.
        assert (xinjing["poor_households"], xinjing["poor_people"], xinjing["population"]) == (7, 21, 400)
        assert (
            huadong["figures"]["exited_people"] == 0 and huadong["figures"]["exit_plan_achievement"] is None
        )

    async def test_wrong_role_and_other_region(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        assert_problem(
            await registry.get("/figures/township", params={"region": TOWNSHIP, "year": YEAR}, headers=clerk),
            403,
        )
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(
            await registry.get("/figures/township", params={"region": TOWNSHIP, "year": YEAR}, headers=other),
            404,
        )


class TestExitQuotaFigure:
    """Issue #13 item 17: `exit_quota_people` is the year's exit target decomposed to the village or township
    (invariant 25), what template B's B1.1 reads as the target of `exited_people`; null without a target."""

    async def test_the_target_of_the_year_beside_its_exits(self, world: World, service: Headers) -> None:
        for code, people, households, who in (
            (COUNTY, 40, 12, world.admin),
            (TOWNSHIP, 30, 9, world.admin),
            (VILLAGE, 12, 4, world.township),
            (SIBLING_VILLAGE, 5, 2, world.township),
        ):
            await _ok(
                await world.client.put(
                    f"/regions/{code}/exit-targets/{YEAR}",
                    json={"people": people, "households": households},
                    headers=who,
                )
            )
        villages = {
            r["id"]: r["figures"] for r in await rows(world.client, "village", service, region=COUNTY)
        }
        assert {code: f["exit_quota_people"] for code, f in villages.items()} == {
            VILLAGE: 12,
            SIBLING_VILLAGE: 5,
            OTHER_VILLAGE: None,  # no target: null, never a made-up 0
        }
        townships = {
            r["id"]: r["figures"] for r in await rows(world.client, "township", service, region=COUNTY)
        }
        assert {code: f["exit_quota_people"] for code, f in townships.items()} == {
            TOWNSHIP: 30,
            OTHER_TOWNSHIP: None,
        }
        (earlier,) = await rows(world.client, "village", service, region=VILLAGE, year=2014)
        assert earlier["figures"]["exit_quota_people"] is None  # the target of 2015 is not 2014's
        # The target's progress counts the same exits as the figure (H1-H3: 10 people of 3 households).
        target = await _ok(
            await world.client.get(f"/regions/{VILLAGE}/exit-targets/{YEAR}", headers=world.admin)
        )
        assert target["exited"]["people"] == villages[VILLAGE]["exited_people"] == 10
        assert target["exited"]["households"] == 3
        assert target["shortfall"] == {"people": 2, "households": 1}
        assert target["flags"] == ["shortfall"]  # 2015 is over and the target was not reached


class TestCadreFigures:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/figures/cadre", params={"region": COUNTY, "year": YEAR}), 401)

    async def test_valid(self, world: World, service: Headers) -> None:
        items = await rows(world.client, "cadre", service, region=COUNTY)
        assert sorted(i["id"] for i in items) == sorted(world.cadres.values())
        assert [i["id"] for i in items] == sorted(i["id"] for i in items)  # keyset order: by id
        found = by_name(items)
        for name, expected, unit in (
            ("干部A", CADRE_A, "U"),
            ("干部B", CADRE_B, "U"),
            ("干部C", CADRE_C, "U2"),
        ):
            row = found[name]
            _served_exactly(row, SubjectType.cadre)
            assert row["figures"] == expected, name
            assert (row["unit_id"], row["unit_name"]) == (world.units[unit], f"帮扶单位{unit}")
            assert (row["parent_code"], row["position_level"]) == (COUNTY, "staff")

    async def test_only_pairings_in_the_region(self, world: World, service: Headers) -> None:
        """Asked for 渠洋村, B is the only cadre, with H11 alone."""
        (b,) = await rows(world.client, "cadre", service, region=SIBLING_VILLAGE)
        assert b["name"] == "干部B"
        assert b["figures"]["visits_per_pairing"] == "0.00" and b["figures"]["households_without_card"] == 1

    async def test_wrong_role(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        cadre = headers_for(signing_key, "cadre", COUNTY)
        assert_problem(
            await registry.get("/figures/cadre", params={"region": COUNTY, "year": YEAR}, headers=cadre), 403
        )


class TestHelpingUnitFigures:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(
            await registry.get("/figures/helping_unit", params={"region": COUNTY, "year": YEAR}), 401
        )

    async def test_valid(self, world: World, service: Headers) -> None:
        items = await rows(world.client, "helping_unit", service, region=COUNTY)
        found = by_name(items)
        assert set(found) == {"帮扶单位U", "帮扶单位U2"}
        for name, expected in (("帮扶单位U", UNIT_U), ("帮扶单位U2", UNIT_U2)):
            _served_exactly(found[name], SubjectType.helping_unit)
            assert found[name]["figures"] == expected, name
            assert found[name]["kind"] == "government_department" and found[name]["parent_code"] == COUNTY

    async def test_other_region(self, world: World, signing_key: SigningKey) -> None:
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert await rows(world.client, "helping_unit", other, region=OTHER_TOWNSHIP) == []
        assert_problem(
            await world.client.get(
                "/figures/helping_unit", params={"region": TOWNSHIP, "year": YEAR}, headers=other
            ),
            404,
        )


class TestHouseholdExitFigures:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(
            await registry.get("/figures/household_exit", params={"region": COUNTY, "year": YEAR}), 401
        )

    async def test_valid(self, world: World, service: Headers) -> None:
        items = await rows(world.client, "household_exit", service, region=COUNTY)
        ids = {hid: n for n, hid in world.households.items()}
        found = {ids[i["id"]]: i for i in items}
        assert sorted(found) == [1, 2, 3, 4, 11]  # the exits proposed in 2015
        for n, row in found.items():
            _served_exactly(row, SubjectType.household_exit)
            assert row["name"] == "黄志强" and row["parent_code"] == (SIBLING_VILLAGE if n == 11 else VILLAGE)
        assert found[1]["figures"] == EXIT_PASSING | {"per_capita_net_income_fen": 400000}
        assert found[1]["status"] == "exited"
        # H2's house was found dangerous after its exit: the record as it stands.
        assert found[2]["figures"] == EXIT_PASSING | {
            "per_capita_net_income_fen": 400000,
            "housing_safe": False,
        }
        assert found[11]["figures"] == EXIT_PASSING | {"per_capita_net_income_fen": 300000}
        # H4 was county-reviewed in January 2016: its 2015 procedure was not complete by 31 December.
        assert found[4]["figures"] == EXIT_PASSING | {
            "per_capita_net_income_fen": 310000,
            "exit_procedure_complete": False,
        }

    async def test_the_line_of_the_year(self, world: World, service: Headers) -> None:
        """2014: H10 alone, judged on the national line of 2014 (2736 yuan: no county line that year)."""
        (h10,) = await rows(world.client, "household_exit", service, region=VILLAGE, year=2014)
        assert h10["id"] == world.households[10] and h10["status"] == "registered"
        assert h10["figures"] == EXIT_PASSING | {
            "per_capita_net_income_fen": 300000,
            "poverty_line_fen": 273600,
        }

    async def test_wrong_role(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        assert_problem(
            await registry.get(
                "/figures/household_exit", params={"region": VILLAGE, "year": YEAR}, headers=clerk
            ),
            403,
        )


class TestFigureCatalogue:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/figures/catalogue"), 401)

    async def test_valid(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)  # static: any caller reads it
        body = await _ok(await registry.get("/figures/catalogue", headers=clerk))
        subjects = {s["subject_type"]: s for s in body["subjects"]}
        assert list(subjects) == [s.value for s in SubjectType]
        village = subjects["village"]
        assert village["path"] == "/figures/village" and village["zh_cn"] == "行政村"
        exited = next(f for f in village["figures"] if f["code"] == "exited_people")
        assert (
            exited["zh_cn"] == "本年脱贫人数" and exited["unit"] == "people" and exited["wire"] == "integer"
        )
        assert "invariant 19" in exited["definition"]
        quota = next(f for f in village["figures"] if f["code"] == "exit_quota_people")
        assert quota["unit"] == "people" and "invariant 25" in quota["definition"]
        assert all(u["code"] != "exit_quota_people" for u in village["unsupported"])
        assert "31 December" in body["as_of"]
        assert_problem(await registry.get("/figures/catalogue", params={"year": 2015}, headers=clerk), 400)


# == one world, every way of reading it ===========================================================================
class TestPagingEqualsNdjson:
    async def test_every_subject_type(self, world: World, service: Headers) -> None:
        for subject in SubjectType:
            paged = await rows(world.client, subject.value, service, region=COUNTY)
            assert paged, subject
            assert await streamed(world.client, subject.value, service, region=COUNTY) == paged, subject
            whole = await _ok(
                await world.client.get(
                    f"/figures/{subject.value}", params={"region": COUNTY, "year": YEAR}, headers=service
                )
            )
            assert whole["items"] == paged and whole["next_cursor"] is None

    async def test_ndjson_continues_a_cursor(self, world: World, service: Headers) -> None:
        first = await _ok(
            await world.client.get(
                "/figures/village", params={"region": COUNTY, "year": YEAR, "limit": 1}, headers=service
            )
        )
        rest = await streamed(world.client, "village", service, region=COUNTY, cursor=first["next_cursor"])
        assert [r["id"] for r in rest] == [SIBLING_VILLAGE, OTHER_VILLAGE]

    async def test_a_cursor_continues_only_its_own_subject_type(self, world: World, service: Headers) -> None:
        cadres = await _ok(
            await world.client.get(
                "/figures/cadre", params={"region": COUNTY, "year": YEAR, "limit": 1}, headers=service
            )
        )
        params = {"region": COUNTY, "year": YEAR, "cursor": cadres["next_cursor"]}
        problem = assert_problem(
            await world.client.get("/figures/village", params=params, headers=service), 400
        )
        assert problem["code"] == "cursor_invalid"

    async def test_refusals_are_problems_before_the_stream(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        response = await registry.get(
            "/figures/village", params={"region": VILLAGE, "year": YEAR}, headers=clerk | {"Accept": NDJSON}
        )
        assert_problem(response, 403)


@dataclass
class StatementCounter:
    """Counts the statements a request sends: through SQLAlchemy, and on the asyncpg connection the figures
    repository uses (its raw statements)."""

    count: int = 0

    def bump(self, *_: Any, **__: Any) -> None:
        self.count += 1


class _CountingConnection:
    def __init__(self, conn: Any, counter: StatementCounter) -> None:
        self._conn = conn
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute", "cursor"):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self._counter.bump()
                return attribute(*args, **kwargs)

            return counted
        return attribute


@pytest.fixture
def counter(registry_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[StatementCounter]:
    found = StatementCounter()
    original = db.raw_connection

    async def counting(session: Any) -> Any:
        return _CountingConnection(await original(session), found)

    monkeypatch.setattr(figure_repository, "raw_connection", counting)
    engine = registry_app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", found.bump)
    yield found
    event.remove(engine, "before_cursor_execute", found.bump)


class TestStatementCount:
    async def test_constant_whatever_the_number_of_subjects(
        self, world: World, service: Headers, counter: StatementCounter
    ) -> None:
        counts = {}
        for subject in SubjectType:
            for region in (OTHER_VILLAGE, SIBLING_VILLAGE, COUNTY):  # 0-1 subjects, a few, all of the county
                counter.count = 0
                await _ok(
                    await world.client.get(
                        f"/figures/{subject.value}", params={"region": region, "year": YEAR}, headers=service
                    )
                )
                counts[(subject, region)] = counter.count
            assert len({counts[(subject, r)] for r in (OTHER_VILLAGE, SIBLING_VILLAGE, COUNTY)}) == 1, counts
        # the region check, SET LOCAL and the one statement of the figures
        assert set(counts.values()) == {3}, counts


async def test_benchmark_hook_runs_the_route_statement(world: World, service: Headers) -> None:
    """bench/assessment.py times `fetch_figures` on a plain connection: the same rows as the route's."""
    conn = await asyncpg.connect(world.db_url)
    try:
        for subject in SubjectType:
            records = await figure_repository.fetch_figures(conn, subject, COUNTY, YEAR, date(2016, 3, 1))
            paged = await rows(world.client, subject.value, service, region=COUNTY)
            assert [str(r["id"]) for r in records] == [p["id"] for p in paged], subject
    finally:
        await conn.close()

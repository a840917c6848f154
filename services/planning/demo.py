"""Planning demo for `make run`: 旧州村's year in planning — a profile, an exit plan in force, two funded projects.

Loaded through the public planning API (so every rule holds, exactly as for a client), as the demo's own logins:
the village officer `clerk.jiuzhou` (旧州村), the township officer `officer.xinjing` (新靖镇) and the county admin
`admin.jingxi` (靖西县). For the current year (China date) it writes:

- the village profile (村情) with F5's figures (DOMAIN.md §9: 350 households, 1,358 people, 87 poor households …);
- an exit plan (脱贫规划, three years) with six targets from the indicator catalogue, through the villager
  representatives' assembly, the township review, the county approval and the activation (`active`), and the
  year's first actuals;
- the county's allocation of the year from the special poverty fund (文号 靖财农(year)12号 in the 文号's own
  brackets, 1,000,000 yuan);
- F5's road (1,750,000 = 880,000 transport department + 650,000 self-raised + 220,000 donations) and a drinking-water
  project (400,000 = 200,000 water bureau + 200,000 from the allocation; F5 leaves that half to the beneficiaries),
  each through 四议两公开, the township review and the county approval (which draws on the allocation), with
  receipts, disbursements and milestones: one done on each, one of the water project's overdue; the road's results
  made public (the second 公开).

With a `registry` client too, the village's registered households become both projects' beneficiaries and the
county's exit thresholds for the year (`village_exit_incidence_max_percent` 4, `village_exit_collective_income_min_yuan`
8,000: DOMAIN.md §5.4) are set in the registry when unset, so the exit checklist has something to judge.

**Idempotent**: every object is looked up first (the plan and the projects by name, the allocation by its 文号, lines
by source and funder, ledger entries by voucher, milestones by name) and only what is missing is written; a plan or
project stopped half way is taken on from where it stands. A second run writes nothing. Dates are days before today,
never before 1 January of the year, so the chain's dates run forward and none lies in the future. Development only,
like the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from shared.clock import china_date

__all__ = [
    "ALLOCATION_AMOUNT_YUAN",
    "COUNTY",
    "PLAN_TITLE",
    "PROJECTS",
    "TOWNSHIP",
    "VILLAGE",
    "DemoProject",
    "load_demo_planning",
]

VILLAGE = "451025100201"  # 旧州村
TOWNSHIP = "451025100000"  # 新靖镇
COUNTY = "451025000000"  # 靖西县

PLAN_TITLE = "旧州村整村脱贫规划(三年)"
ALLOCATION_AMOUNT_YUAN = "1000000.00"
ALLOCATION_SOURCE = "fiscal_special_poverty_fund"
#: The county's exit thresholds set in the registry when unset (DOMAIN.md §5.4, S 001#13; §10 item 3).
EXIT_THRESHOLDS = {
    "village_exit_incidence_max_percent": "4.00",
    "village_exit_collective_income_min_yuan": "8000",
}

Json = dict[str, Any]


def _allocation_document(year: int) -> str:
    return f"靖财农〔{year}〕12号"  # noqa: RUF001 - the 文号's own brackets


@dataclass(frozen=True)
class Line:
    """A funding line of a demo project; `allocation`: it draws on the county's allocation of the year."""

    source: str
    funder: str
    committed_yuan: str
    allocation: bool = False


@dataclass(frozen=True)
class Entry:
    """A ledger entry of a demo project (its voucher is its identity), `days` before today."""

    kind: str  # receipt | disbursement
    line: int  # index into the project's lines
    amount_yuan: str
    days: int
    voucher: str
    stage: str | None = None
    payee: str | None = None


@dataclass(frozen=True)
class Milestone:
    name: str
    due_days: int | None  # days before today; None: 31 December
    percent: int
    done_days: int | None = None


@dataclass(frozen=True)
class DemoProject:
    """A demo project: its fields (`starts_on`, `finishes_on` and `plan_id` are filled in), lines, entries and
    milestones; `results_disclosed`: its implementation results are made public (the second 公开)."""

    fields: Json
    lines: tuple[Line, ...]
    entries: tuple[Entry, ...]
    milestones: tuple[Milestone, ...]
    results_disclosed: bool = False
    start_days: int = 80

    @property
    def name(self) -> str:
        return str(self.fields["name"])


_PAYMASTER = "县扶贫办 黄主任"

PROJECTS: tuple[DemoProject, ...] = (
    DemoProject(
        fields={
            "category": "road",
            "name": "旧州村委会至那坡屯通村水泥路",
            "natural_village": "那坡屯",
            "quantity": "3.50",
            "unit": "km",
            "implementing_party": "靖西县交通运输局",
            "responsible_person": "黄建国",
            "expected_outputs": "3.5 公里水泥路通到村委会, 组组通硬化路, 350 户群众出行",
            "budget_yuan": "1750000.00",
        },
        lines=(
            Line("sector_department_fund", "靖西县交通运输局(交通部门专项补助)", "880000.00"),
            Line("beneficiary_self_raised", "旧州村受益群众(自筹、投工投劳)", "650000.00"),
            Line("social_donation", "在外乡贤及爱心企业捐资", "220000.00"),
        ),
        entries=(
            Entry("receipt", 0, "880000.00", 85, "收-道路-001"),
            Entry("receipt", 2, "220000.00", 84, "收-道路-002"),
            Entry("receipt", 1, "300000.00", 70, "收-道路-003"),
            Entry("disbursement", 0, "350000.00", 75, "付-道路-001", "advance", "靖西市路桥工程有限公司"),
            Entry("disbursement", 0, "400000.00", 35, "付-道路-002", "progress", "靖西市路桥工程有限公司"),
            Entry("disbursement", 2, "150000.00", 34, "付-道路-003", "progress", "靖西市路桥工程有限公司"),
        ),
        milestones=(
            Milestone("路基开挖与边沟", due_days=40, percent=100, done_days=42),
            Milestone("水泥路面浇筑", due_days=None, percent=40),
        ),
        results_disclosed=True,
    ),
    DemoProject(
        fields={
            "category": "water_drinking",
            "name": "那坡屯集中供水站 2 座",
            "natural_village": "那坡屯",
            "quantity": "2.00",
            "unit": "piece",
            "implementing_party": "靖西县水利局",
            "responsible_person": "农志明",
            "expected_outputs": "2 座供水站, 解决 600 余人安全饮水",
            "budget_yuan": "400000.00",
        },
        lines=(
            Line("sector_department_fund", "靖西县水利局", "200000.00"),
            Line(ALLOCATION_SOURCE, "靖西县财政局(财政专项扶贫资金)", "200000.00", allocation=True),
        ),
        entries=(
            Entry("receipt", 0, "200000.00", 78, "收-供水-001"),
            Entry("receipt", 1, "200000.00", 78, "收-供水-002"),
            Entry("disbursement", 1, "120000.00", 60, "付-供水-001", "advance", "靖西市水利水电建筑公司"),
        ),
        milestones=(
            Milestone("蓄水池主体", due_days=30, percent=100, done_days=32),
            Milestone("入户管网铺设", due_days=10, percent=60),
        ),
        start_days=76,
    ),
)

#: 四议两公开 and the reviews, in order: (step, who, days before today, the step's own fields).
_CHAIN: tuple[tuple[str, str, int, Json], ...] = (
    ("party_branch_proposal", "village", 110, {"minutes_ref": "旧州村党支部会议记录", "attendees": 7}),
    ("committees_discussion", "village", 107, {"minutes_ref": "村两委联席会议记录", "attendees": 9}),
    ("party_members_review", "village", 104, {"minutes_ref": "党员大会记录", "attendees": 31}),
    (
        "villagers_resolution",
        "village",
        100,
        {"minutes_ref": "村民代表会议决议", "attendees": 45, "votes_for": 41, "votes_against": 2},
    ),
    ("resolution_disclosure", "village", 99, {"place": "旧州村村务公开栏"}),
    ("township_review", "township", 95, {"approve": True}),
    ("county_approval", "admin", 90, {"approve": True}),
)
_DATE_FIELD = {
    "resolution_disclosure": "posted_on",
    "results_disclosure": "posted_on",
    "township_review": "decided_on",
    "county_approval": "decided_on",
}


def _plan_body(year: int) -> Json:
    """An exit plan of three years (三年实现脱贫, DOMAIN.md §5.1) with targets from the catalogue (§5.3, F5)."""

    def target(code: str, unit: str, direction: str, baseline: str, goal: str, goal_year: int) -> Json:
        return {
            "indicator_code": code,
            "unit": unit,
            "direction": direction,
            "baseline": {"value": baseline, "year": year - 1},
            "target": {"value": goal, "year": goal_year},
        }

    return {
        "plan_type": "exit",
        "title": PLAN_TITLE,
        "summary": "一低七有: 贫困发生率降到 4% 以下; 通村水泥路、安全饮水、村卫生室、集体经济收入 8000 元",
        "start_year": year,
        "end_year": year + 2,
        "targets": [
            target("poverty_incidence", "percent", "decrease", "19.88", "3.5", year + 2),
            target("per_capita_net_income", "yuan", "increase", "2532", "3500", year + 2),
            target("collective_income", "yuan", "increase", "0", "8000", year + 1),
            target("village_road_connected", "bool", "increase", "0", "1", year),
            target("safe_drinking_water_rate", "percent", "increase", "62", "100", year + 1),
            target("village_clinic", "bool", "increase", "0", "1", year + 1),
        ],
    }


#: The year's first actuals (年度实绩) of the plan's indicators.
_ACTUALS: list[Json] = [
    {"indicator_code": "per_capita_net_income", "value": "2980", "source": "村统计报表"},
    {"indicator_code": "safe_drinking_water_rate", "value": "85", "source": "县水利局"},
    {"indicator_code": "collective_income", "value": "3000", "source": "村集体账"},
]

#: The village profile (村情) as the exit plan states it (DOMAIN.md §9 F5).
_PROFILE: Json = {
    "villager_groups": 4,
    "natural_villages": 14,
    "households": 350,
    "population": 1358,
    "arable_land": {"total_mu": "880.00"},
    "poor_village": True,
    "poor_households": 87,
    "poor_people": 270,
    "poor_by_measure": [
        {"name": "种植业", "households": 31, "people": 158},
        {"name": "养殖业", "households": 10, "people": 32},
        {"name": "易地搬迁", "households": 14, "people": 44},
        {"name": "危房改造", "households": 6, "people": 23},
        {"name": "低保兜底", "households": 28, "people": 28},
    ],
    "main_income_sources": ["砂糖橘", "核桃", "外出务工"],
    "infrastructure": {"road_to_village_hardened": False, "hardened_road_km": "1.20", "clinics": 0},
    "collective_income_yuan": "0.00",
    "note": "演示数据 (make run): 数字取自 DOMAIN.md §9 F5",
}


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"planning demo: {what} failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


def _if_match(headers: dict[str, str], version: int) -> dict[str, str]:
    return {**headers, "If-Match": f'"{version}"'}


@dataclass
class _Demo:
    planning: httpx.AsyncClient
    who: dict[str, dict[str, str]]  # village, township, admin → Authorization headers
    registry: httpx.AsyncClient | None
    today: date
    writes: int = 0
    households: list[str] = field(default_factory=list)

    @property
    def year(self) -> int:
        return self.today.year

    def day(self, days_before: int) -> str:
        """`days_before` today, never before 1 January of the year (so the whole demo lies in the year)."""
        return max(self.today - timedelta(days=days_before), date(self.year, 1, 1)).isoformat()

    async def write(self, method: str, url: str, what: str, **kwargs: Any) -> Any:
        self.writes += 1
        return _ok(await self.planning.request(method, url, **kwargs), what)

    async def read(self, url: str, what: str, who: str = "admin", **params: Any) -> Any:
        return _ok(await self.planning.get(url, params=params or None, headers=self.who[who]), what)

    # -- the registry side (optional) ------------------------------------------------------------------------
    async def from_registry(self) -> None:
        if self.registry is None:
            return
        admin = self.who["admin"]
        listed = _ok(
            await self.registry.get(
                "/households",
                params={"region": VILLAGE, "status": "registered", "fields": "id", "limit": 50},
                headers=self.who["village"],
            ),
            "registry households",
        )
        self.households = [str(item["id"]) for item in listed["items"]]
        policy = _ok(
            await self.registry.get(f"/regions/{COUNTY}/policy/{self.year}", headers=admin), "policy"
        )
        unset = {p["name"] for p in policy["parameters"] if p["source"] != "region"}
        for name, value in EXIT_THRESHOLDS.items():
            if name in unset:
                self.writes += 1
                _ok(
                    await self.registry.put(
                        f"/regions/{COUNTY}/policy/{self.year}/{name}",
                        json={"value": value, "reason": "一低七有退出标准 (演示数据)"},
                        headers=admin,
                    ),
                    f"policy {name}",
                )

    # -- profile and plan ----------------------------------------------------------------------------------------
    async def profile(self) -> None:
        url = f"/villages/{VILLAGE}/profiles/{self.year}"
        found = await self.planning.get(url, headers=self.who["village"])
        if found.status_code == 404:
            await self.write("PUT", url, "village profile", json=_PROFILE, headers=self.who["village"])
        else:
            _ok(found, "village profile")

    async def plan(self) -> Json:
        village = self.who["village"]
        listed = await self.read(
            f"/villages/{VILLAGE}/plans", "plans", "village", plan_type="exit", limit=500
        )
        mine = [p for p in listed["items"] if p["title"] == PLAN_TITLE and p["status"] != "superseded"]
        if mine:
            plan: Json = await self.read(f"/plans/{mine[-1]['id']}", "plan", "village")
        else:
            plan = await self.write(
                "POST", f"/villages/{VILLAGE}/plans", "plan", json=_plan_body(self.year), headers=village
            )
        steps: dict[str, tuple[str, str, Json]] = {
            "draft": (
                "assembly",
                "village",
                {
                    "held_on": self.day(120),
                    "representatives": 45,
                    "present": 38,
                    "votes_for": 35,
                    "votes_against": 1,
                    "votes_abstaining": 2,
                    "minutes_ref": "旧州村村民代表会议记录",
                    "poor_household_representatives": 12,
                },
            ),
            "village_approved": ("township-review", "township", {"opinion": "同意, 报县审批"}),
            "township_reviewed": (
                "county-approval",
                "admin",
                {"document_number": f"靖扶办批〔{self.year}〕3号", "opinion": "同意"},  # noqa: RUF001
            ),
            "county_approved": ("activation", "admin", {"note": "启动实施"}),
        }
        while plan["status"] in steps:
            path, who, body = steps[plan["status"]]
            plan = await self.write(
                "POST", f"/plans/{plan['id']}/{path}", f"plan {path}", json=body, headers=self.who[who]
            )
        if plan["status"] == "active":
            actuals = await self.read(f"/plans/{plan['id']}/actuals/{self.year}", "actuals", "village")
            if not actuals["values"]:
                await self.write(
                    "PUT",
                    f"/plans/{plan['id']}/actuals/{self.year}",
                    "plan actuals",
                    json={"values": _ACTUALS},
                    headers=village,
                )
        return plan

    # -- money -----------------------------------------------------------------------------------------------------
    async def allocation(self) -> Json:
        document = _allocation_document(self.year)
        listed = await self.read(
            f"/counties/{COUNTY}/allocations",
            "allocations",
            year=self.year,
            source=ALLOCATION_SOURCE,
            limit=1000,
        )
        for item in listed["items"]:
            if item["document_number"] == document:
                return dict(item)
        created: Json = await self.write(
            "POST",
            f"/counties/{COUNTY}/allocations",
            "allocation",
            json={
                "year": self.year,
                "source": ALLOCATION_SOURCE,
                "document_number": document,
                "amount_yuan": ALLOCATION_AMOUNT_YUAN,
                "note": "县级财政专项扶贫资金 (演示数据)",
            },
            headers=self.who["admin"],
        )
        return created

    # -- projects ----------------------------------------------------------------------------------------------------
    async def project(self, spec: DemoProject, plan_id: str, allocation_id: str) -> Json:
        village = self.who["village"]
        listed = await self.read("/projects", "projects", "village", region=VILLAGE, limit=500)
        found = [p for p in listed["items"] if p["name"] == spec.name]
        if found:
            project_id = str(found[0]["id"])
        else:
            body = {
                **spec.fields,
                "plan_id": plan_id,
                "starts_on": self.day(spec.start_days),
                "finishes_on": date(self.year, 12, 31).isoformat(),
            }
            created = await self.write(
                "POST", f"/villages/{VILLAGE}/projects", "project", json=body, headers=village
            )
            project_id = str(created["id"])
        detail = await self.detail(project_id)
        lines = await self.lines(spec, detail, allocation_id)
        if (
            detail["status"] in ("draft", "returned")
            and self.households
            and not detail["beneficiaries_count"]
        ):
            await self.write(
                "PUT",
                f"/projects/{project_id}/beneficiaries",
                "beneficiaries",
                json={"household_ids": self.households},
                headers=_if_match(village, detail["version"]),
            )
            detail = await self.detail(project_id)
        detail = await self.chain(detail)
        await self.milestones(spec, detail)
        await self.ledger(spec, project_id, lines)
        detail = await self.detail(project_id)
        if spec.results_disclosed and "results_disclosure" in detail["next_steps"]:
            await self.step(
                detail, "results_disclosure", "village", self.day(30), {"place": "旧州村村务公开栏"}
            )
            detail = await self.detail(project_id)
        return detail

    async def detail(self, project_id: str) -> Json:
        found: Json = await self.read(f"/projects/{project_id}", "project", "village")
        return found

    async def lines(self, spec: DemoProject, detail: Json, allocation_id: str) -> list[str | None]:
        """The project's line ids in the order of `spec.lines` (None: missing, and no longer addable)."""
        project_id = detail["id"]
        listed = await self.read(
            f"/projects/{project_id}/funding-lines", "funding lines", "village", limit=1000
        )
        have = {(item["source"], item["funder"]): str(item["id"]) for item in listed["items"]}
        editable = detail["status"] not in ("approved", "in_progress", "accepted", "rejected")
        ids: list[str | None] = []
        for line in spec.lines:
            key = (line.source, line.funder)
            if key not in have and editable:
                body: Json = {
                    "source": line.source,
                    "funder": line.funder,
                    "committed_yuan": line.committed_yuan,
                }
                if line.allocation:
                    body["allocation_id"] = allocation_id
                created = await self.write(
                    "POST",
                    f"/projects/{project_id}/funding-lines",
                    "funding line",
                    json=body,
                    headers=self.who["village"],
                )
                have[key] = str(created["id"])
            ids.append(have.get(key))
        return ids

    async def step(self, detail: Json, step: str, who: str, on: str, fields: Json) -> int:
        body = {"step": step, _DATE_FIELD.get(step, "held_on"): on, **fields}
        result = await self.write(
            "POST",
            f"/projects/{detail['id']}/steps",
            f"project step {step}",
            json=body,
            headers=_if_match(self.who[who], detail["version"]),
        )
        return int(result["version"])

    async def chain(self, detail: Json) -> Json:
        """四议两公开, the township review and the county approval, from wherever the project stands."""
        order = {step: (who, days, fields) for step, who, days, fields in _CHAIN}
        while detail["status"] in ("draft", "village_deciding", "village_decided", "township_reviewed"):
            pending = [s for s in detail["next_steps"] if s in order]
            if not pending:
                break
            who, days, fields = order[pending[0]]
            await self.step(detail, pending[0], who, self.day(days), fields)
            detail = await self.detail(str(detail["id"]))
        return detail

    async def milestones(self, spec: DemoProject, detail: Json) -> None:
        if detail["status"] not in ("approved", "in_progress"):
            return
        have = {m["name"] for m in detail["milestones"]}
        for milestone in spec.milestones:
            if milestone.name in have:
                continue
            due = (
                date(self.year, 12, 31).isoformat()
                if milestone.due_days is None
                else self.day(milestone.due_days)
            )
            body: Json = {"name": milestone.name, "due_on": due, "percent": milestone.percent}
            if milestone.done_days is not None:
                body["done_on"] = self.day(milestone.done_days)
            await self.write(
                "POST",
                f"/projects/{detail['id']}/milestones",
                "milestone",
                json=body,
                headers=self.who["village"],
            )

    async def ledger(self, spec: DemoProject, project_id: str, lines: list[str | None]) -> None:
        listed = await self.read(f"/projects/{project_id}/ledger", "ledger", limit=1000)
        recorded = {item["voucher"] for item in listed["items"]}
        for entry in spec.entries:
            line_id = lines[entry.line]
            if entry.voucher in recorded or line_id is None:
                continue
            body: Json = {
                "amount_yuan": entry.amount_yuan,
                "entry_date": self.day(entry.days),
                "voucher": entry.voucher,
            }
            if entry.kind == "disbursement":
                body |= {"stage": entry.stage, "payee": entry.payee, "approved_by": _PAYMASTER}
            path = "receipts" if entry.kind == "receipt" else "disbursements"
            await self.write(
                "POST", f"/funding-lines/{line_id}/{path}", entry.kind, json=body, headers=self.who["admin"]
            )


async def load_demo_planning(
    planning: httpx.AsyncClient,
    *,
    village: dict[str, str],
    township: dict[str, str],
    admin: dict[str, str],
    registry: httpx.AsyncClient | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Load (or complete) the planning demo through the planning API (`planning`'s base URL is the planning root,
    e.g. `…/api/planning`; `registry`'s the registry's); `village`, `township` and `admin` are the three logins'
    Authorization headers. What stands afterwards, and how many writes it took (`writes`: 0 when all was there)."""
    demo = _Demo(
        planning,
        {"village": village, "township": township, "admin": admin},
        registry,
        today or china_date(datetime.now(UTC)),
    )
    await demo.from_registry()
    await demo.profile()
    plan = await demo.plan()
    allocation = await demo.allocation()
    projects = [await demo.project(spec, str(plan["id"]), str(allocation["id"])) for spec in PROJECTS]
    allocation = await demo.read(f"/allocations/{allocation['id']}", "allocation")
    return {
        "year": demo.year,
        "village": VILLAGE,
        "plan_id": str(plan["id"]),
        "plan_status": plan["status"],
        "allocation_id": str(allocation["id"]),
        "allocation_drawn_yuan": allocation["drawn_yuan"],
        "projects": [
            {
                "id": str(p["id"]),
                "name": p["name"],
                "status": p["status"],
                "funding": p["funding"],
                "milestones": len(p["milestones"]),
            }
            for p in projects
        ],
        "beneficiaries": len(demo.households),
        "writes": demo.writes,
    }

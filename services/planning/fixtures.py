"""The seed fixtures F4-F8 of DOMAIN.md §9 as plain data: village profiles, plans with their targets and actuals,
projects with their funding lines and ledger entries, county allocations. Pure — no I/O: the tests enter them
through the planning API (tests/planning/seed_fixtures.py, tests/planning/test_seed_fixtures.py), and the demo
may (`make run`).

Every amount is integer fen (`*_fen`); `yuan_text` gives the wire's yuan text (`"1750000.00"`). A figure the seed
states is quoted from it (`001#n` = piece n of seed 001); where the seed leaves a figure out and the API needs
one, its comment says **[D]** — a choice made for the fixture, not a seed figure:

- F4 (001#7) states only the total (6,994,000 yuan), that it is four categories and seven projects, and the
  poverty funds (630,000 for industry, 400,000 for drinking water): the other budgets and sources are [D];
- F5's safe-drinking-water baseline, F4's and F5's zero baselines of new jobs and collective income, and the
  plans' start months are [D]; F5's exit-year actuals are the plan as fulfilled, a simulation;
- the seeds blank their years ("20xx"): F4 runs 2015-2016 (its figures are of 2014), F5 exits in 2016 (its
  figures are of 2015), F6 runs 2015-2020 (six years), F7 and F8 are of 2015;
- the villages are the demo county's (靖西县, DOMAIN.md §9 places none of them): F4 in 化峒村, F5 in 渠洋村, F7 in
  旧州村, F6 in a village the loader adds (岳庄村, named after one of its groups: the seed blanks the name), F8's
  allocations in the county itself.

The checks of §9 are the fixtures' own arithmetic (`total_fen`, `committed_by_source`, `budget_by_group`); where
a seed is inconsistent the fixture keeps its figures as written (F4's "78 %", F5's measure rows, F6's NCMS count)
and the API flags them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from services.planning.funds.domain import FundingSource, yuan_text
from services.planning.indicators.domain import Direction, Unit
from services.planning.plans.domain import PlanType
from services.planning.projects.domain import ProjectCategory, QuantityUnit

__all__ = [
    "F4",
    "F4_POVERTY_FUNDS_FEN",
    "F4_POVERTY_FUND_DOCUMENT",
    "F4_TOTAL_FEN",
    "F5",
    "F5_CREDIT_HOUSEHOLDS",
    "F5_ROAD_FEN",
    "F6",
    "F6_COOPS_FEN",
    "F6_GROUPS",
    "F6_LIST_FEN",
    "F6_MAIN_FEN",
    "F6_SEED_INCONSISTENCIES",
    "F7",
    "F7_MONTHS",
    "F7_TOTAL_FEN",
    "F8",
    "F8_TOTAL_FEN",
    "F8_WHOLE_VILLAGE_DOCUMENT",
    "F8_WITHOUT_CREDIT_FEN",
    "Allocation",
    "CountyFixture",
    "Earmark",
    "Entry",
    "Line",
    "Milestone",
    "Plan",
    "Project",
    "Target",
    "VillageFixture",
    "budget_by_group",
    "committed_by_source",
    "household_sizes",
    "profile_body",
    "total_fen",
    "yuan_text",
]

Json = dict[str, Any]
_WAN = 1_000_000  # 1 万元 (10,000 yuan) in fen


def _wan(amount: int | str) -> int:
    """An amount the seeds write in 万元 as integer fen (`_wan(87.5)` is 875,000 yuan)."""
    fen = Decimal(str(amount)) * _WAN
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} 万元 is not a whole number of fen")
    return int(fen)


def _quantity(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


# == building blocks ============================================================================================
@dataclass(frozen=True, slots=True)
class Line:
    """A funding line (§5.7 `project_funding[]`); `allocation`: the 文号 of the fixture's allocation it draws on."""

    source: FundingSource
    funder: str
    committed_fen: int
    allocation: str | None = None

    def body(self, allocation_id: str | None = None) -> Json:
        body: Json = {
            "source": self.source.value,
            "funder": self.funder,
            "committed_yuan": yuan_text(self.committed_fen),
        }
        if allocation_id is not None:
            body["allocation_id"] = allocation_id
        return body


@dataclass(frozen=True, slots=True)
class Milestone:
    name: str
    due_on: date
    percent: int = 0

    def body(self) -> Json:
        return {"name": self.name, "due_on": self.due_on.isoformat(), "percent": self.percent}


@dataclass(frozen=True, slots=True)
class Project:
    """A project of the village's library (§5.7 [D] `project`); `group` is how the seed groups its lines."""

    key: str
    group: str
    category: ProjectCategory
    name: str
    budget_fen: int
    quantity: Decimal | None = None
    unit: QuantityUnit | None = None
    starts_on: date | None = None
    finishes_on: date | None = None
    natural_village: str | None = None
    implementing_party: str | None = None
    responsible_person: str | None = None
    expected_outputs: str | None = None
    lines: tuple[Line, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    #: Taken through 四议两公开, the township review and the county approval by the loader.
    approve: bool = False

    @property
    def committed_fen(self) -> int:
        return sum(line.committed_fen for line in self.lines)

    @property
    def funding_gap_fen(self) -> int:
        """Budget - Σ commitments when positive (invariant 36)."""
        return max(self.budget_fen - self.committed_fen, 0)

    def body(self, plan_id: str | None = None) -> Json:
        """The `ProjectCreate` body."""
        body: Json = {
            "category": self.category.value,
            "name": self.name,
            "budget_yuan": yuan_text(self.budget_fen),
        }
        optional: dict[str, Any] = {
            "plan_id": plan_id,
            "quantity": _quantity(self.quantity),
            "unit": None if self.unit is None else self.unit.value,
            "starts_on": None if self.starts_on is None else self.starts_on.isoformat(),
            "finishes_on": None if self.finishes_on is None else self.finishes_on.isoformat(),
            "natural_village": self.natural_village,
            "implementing_party": self.implementing_party,
            "responsible_person": self.responsible_person,
            "expected_outputs": self.expected_outputs,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger entry (§5.10) on line `line` (an index) of project `project` (a key)."""

    project: str
    line: int
    kind: str  # receipt | disbursement
    amount_fen: int
    entry_date: date
    voucher: str
    stage: str | None = None  # a disbursement's stage
    payee: str | None = None

    def body(self) -> Json:
        body: Json = {
            "amount_yuan": yuan_text(self.amount_fen),
            "entry_date": self.entry_date.isoformat(),
            "voucher": self.voucher,
        }
        if self.kind == "disbursement":
            body.update(stage=self.stage, payee=self.payee, approved_by="县扶贫办")
        return body


@dataclass(frozen=True, slots=True)
class Earmark:
    """A county's override of one cell of the earmark matrix (专款专用), with its reason."""

    source: FundingSource
    category: ProjectCategory
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Target:
    """A plan target (invariant 40): unit, direction, baseline and target with their years."""

    indicator_code: str
    unit: Unit
    direction: Direction
    baseline: Decimal
    baseline_year: int
    target: Decimal
    target_year: int

    def body(self) -> Json:
        return {
            "indicator_code": self.indicator_code,
            "unit": self.unit.value,
            "direction": self.direction.value,
            "baseline": {"value": str(self.baseline), "year": self.baseline_year},
            "target": {"value": str(self.target), "year": self.target_year},
        }


@dataclass(frozen=True, slots=True)
class Plan:
    plan_type: PlanType
    title: str
    summary: str
    start_year: int
    end_year: int
    targets: tuple[Target, ...]

    def body(self) -> Json:
        return {
            "plan_type": self.plan_type.value,
            "title": self.title,
            "summary": self.summary,
            "start_year": self.start_year,
            "end_year": self.end_year,
            "targets": [t.body() for t in self.targets],
        }


@dataclass(frozen=True, slots=True)
class Allocation:
    """A county's yearly allocation (资金下达); `count` x `unit_fen` is how the seed arrives at the amount."""

    year: int
    source: FundingSource
    document_number: str
    amount_fen: int
    note: str
    count: int | None = None
    unit_fen: int | None = None

    def body(self) -> Json:
        return {
            "year": self.year,
            "source": self.source.value,
            "document_number": self.document_number,
            "amount_yuan": yuan_text(self.amount_fen),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class VillageFixture:
    """One village's fixture: its profile (money as `*_fen`), the registry's figures it is checked against, a
    plan with its projects, and what the county does for it (allocations, earmark overrides, policy)."""

    key: str
    seed: str
    village_code: str
    village_name: str
    year: int  # the profile's year
    plan: Plan
    projects: tuple[Project, ...]
    profile: Mapping[str, Any] | None = None
    population: int | None = None  # the registry's population of the years the plan reads
    registered: tuple[int, int] | None = None  # (households, people) registered in the registry
    allocations: tuple[Allocation, ...] = ()
    earmarks: tuple[Earmark, ...] = ()
    ledger: tuple[Entry, ...] = ()
    #: The county's policy parameters by year (name → value), e.g. the exit threshold of 一低七有.
    policy: Mapping[int, Mapping[str, str]] = field(default_factory=dict)
    #: The plan's actuals by year (indicator → value).
    actuals: Mapping[int, Mapping[str, Decimal]] = field(default_factory=dict)

    @property
    def county_code(self) -> str:
        return self.village_code[:6] + "000000"

    @property
    def township_code(self) -> str:
        return self.village_code[:9] + "000"

    def project(self, key: str) -> Project:
        return next(p for p in self.projects if p.key == key)


@dataclass(frozen=True, slots=True)
class CountyFixture:
    """A county's annual plan as allocations, with one sample project drawing on one of them."""

    key: str
    seed: str
    county_code: str
    year: int
    absolute_poor_households: int
    low_standard_people: int
    stated_minimum_fen: int  # "力争扶贫资金规模达到8000万元以上"
    allocations: tuple[Allocation, ...]
    sample_village_code: str
    sample_project: Project
    ledger: tuple[Entry, ...] = ()


# == arithmetic =================================================================================================
def total_fen(projects: Iterable[Project]) -> int:
    """Σ budgets."""
    return sum(p.budget_fen for p in projects)


def committed_by_source(projects: Iterable[Project]) -> dict[str, int]:
    """Σ commitments by funding source."""
    out: dict[str, int] = {}
    for p in projects:
        for line in p.lines:
            out[line.source.value] = out.get(line.source.value, 0) + line.committed_fen
    return out


def budget_by_group(projects: Iterable[Project]) -> dict[str, int]:
    """Σ budgets by the seed's grouping."""
    out: dict[str, int] = {}
    for p in projects:
        out[p.group] = out.get(p.group, 0) + p.budget_fen
    return out


def household_sizes(households: int, people: int) -> list[int]:
    """Sizes of `households` households holding `people` people, as even as possible (the larger first)."""
    if households <= 0 or people < households:
        raise ValueError(f"{people} people do not fill {households} households")
    base, extra = divmod(people, households)
    return [base + 1] * extra + [base] * (households - extra)


def profile_body(profile: Mapping[str, Any]) -> Json:
    """A profile's wire body (`ProfileFigures`): money members `<name>_fen` become `<name>_yuan` text."""
    body: Json = {}
    for name, value in profile.items():
        if name.endswith("_fen"):
            body[name.removesuffix("_fen") + "_yuan"] = yuan_text(int(value))
        else:
            body[name] = value
    return body


def _d(value: str | int) -> Decimal:
    return Decimal(str(value))


def _target(
    code: str,
    unit: Unit,
    direction: Direction,
    baseline: str | int,
    target: str | int,
    years: tuple[int, int],
) -> Target:
    return Target(code, unit, direction, _d(baseline), years[0], _d(target), years[1])


_UP, _DOWN = Direction.increase, Direction.decrease
_S = FundingSource
_C = ProjectCategory
_Q = QuantityUnit


# == F4: whole-village exit plan (整村脱贫项目规划书, seed 001#7) ===============================================
_F4_INFRA, _F4_INDUSTRY, _F4_TRAINING, _F4_LIVELIHOOD = (
    "基础设施建设",
    "基础产业发展",
    "基本素质提升",
    "基本民生保障",
)
#: "其中扶贫资金103万元, 用于产业发展63万元, 饮水工程40万元" — the county's allocation the two lines draw on.
F4_POVERTY_FUND_DOCUMENT = "靖财农[2015]7号"

F4 = VillageFixture(
    key="F4",
    seed="001#7",
    village_code="451025101201",  # 化峒村 (the seed's "XX村")
    village_name="化峒村",
    year=2014,
    profile={
        "villager_groups": 5,
        "households": 544,
        "population": 1718,
        "resident_population": 1146,
        "area_km2": "9.60",
        # "耕地面积3835畝(田1137畝, 高產穩產田500畝, 人均0.3畝)": the 0.3 mu is high-yield land per person.
        "arable_land": {"total_mu": "3835.00", "paddy_mu": "1137.00", "high_yield_mu": "500.00"},
        "forest_land_mu": "4000.00",
        "forest_cover_percent": "76.00",
        "poor_village": True,
        "poor_households": 107,
        "poor_people": 242,
        "per_capita_net_income_fen": 546_300,
        "district_average_income_fen": 518_500,
        # As written: 5,463 / 5,185 is 105.4 %, not 78 % — the profile flags it (income_ratio_inconsistent).
        "income_ratio_to_district_percent": "78.00",
        "income_growth_percent": "12.50",
        "main_income_sources": ["奶牛、肉牛养殖", "榨菜", "家禽"],
    },
    population=1718,
    registered=(107, 242),
    plan=Plan(
        plan_type=PlanType.exit,
        title="化峒村整村脱贫项目规划书(三圈一带)",
        summary=(
            "四个大类七个项目, 预计投资699.4万元, 其中扶贫资金103万元(产业发展63万元, 饮水工程40万元); "
            "两年内实现组组通硬化公路, 人均每年增加900元以上, 人均纯收入超过6000元"
        ),
        start_year=2015,
        end_year=2016,
        targets=(
            _target(
                "per_capita_net_income", Unit.yuan, _UP, "5463", "6000", (2014, 2016)
            ),  # "> 6000, +900/yr"
            _target(
                "hardened_road_all_groups", Unit.bool, _UP, 0, 1, (2014, 2016)
            ),  # "两年内实现组组通硬化公路"
            _target("seasonal_jobs", Unit.people, _UP, 0, 200, (2014, 2016)),  # baselines 0: [D]
            _target("long_term_jobs", Unit.people, _UP, 0, 60, (2014, 2016)),
            _target("labor_export", Unit.people, _UP, 0, 200, (2014, 2016)),
            _target("dangerous_houses_renovated", Unit.households, _UP, 0, 106, (2014, 2016)),
            _target("forest_cover", Unit.percent, _UP, "76", "76", (2014, 2016)),  # kept at 76 %
        ),
    ),
    # The seed's own figures of its year: the baseline as an actual.
    actuals={2014: {"per_capita_net_income": _d(5463), "forest_cover": _d(76)}},
    allocations=(
        Allocation(
            2015,
            _S.fiscal_special_poverty_fund,
            F4_POVERTY_FUND_DOCUMENT,
            _wan(103),
            "化峒村整村脱贫: 产业发展63万元, 饮水工程40万元 (seed 001#7)",
        ),
    ),
    # "新建村級公路10公里, 目前我村依托互助會資金支持" — the default matrix lets mutual aid pay productive projects
    # only; the county allows it for this road, with the seed as its reason.
    earmarks=(
        Earmark(
            _S.mutual_aid_fund,
            _C.road,
            True,
            "村级公路新建依托互助会资金支持(整村脱贫规划, seed 001#7)",
        ),
    ),
    projects=(
        # [D] budgets and sources of everything but the poverty funds: an illustrative split of 6,994,000.
        Project(
            "f4-road",
            _F4_INFRA,
            _C.road,
            "村级公路新建10公里、硬化10.9公里(含一、二组至三组5公里出境路及环村路)",
            _wan(280),
            quantity=_d("20.90"),
            unit=_Q.km,
            starts_on=date(2015, 3, 1),
            finishes_on=date(2016, 12, 31),
            implementing_party="镇交通办",
            lines=(
                Line(_S.programme_fund, "全区整村脱贫开发工程", _wan(250)),
                Line(_S.mutual_aid_fund, "村扶贫互助会", _wan(30)),
            ),
            approve=True,
        ),
        Project(
            "f4-paths",
            _F4_INFRA,
            _C.road,
            "各组人行生产便道8.2公里",
            _wan(60),
            quantity=_d("8.20"),
            unit=_Q.km,
            starts_on=date(2015, 3, 1),
            finishes_on=date(2016, 6, 30),
            lines=(
                Line(_S.programme_fund, "全区整村脱贫开发工程", _wan(40)),
                Line(_S.beneficiary_self_raised, "受益群众投工投劳", _wan(20)),
            ),
            approve=True,
        ),
        Project(
            "f4-water",
            _F4_INFRA,
            _C.water_drinking,
            "人畜安全饮水工程: 修水池7口2400立方米, 铺设管道14.5公里",
            _wan(80),
            quantity=_d("2400"),
            unit=_Q.m3,
            starts_on=date(2015, 4, 1),
            finishes_on=date(2015, 12, 31),
            lines=(
                Line(
                    _S.fiscal_special_poverty_fund,
                    "县扶贫办(财政专项扶贫资金)",
                    _wan(40),
                    F4_POVERTY_FUND_DOCUMENT,
                ),
                Line(_S.sector_department_fund, "区水务局", _wan(40)),
            ),
            approve=True,
        ),
        Project(
            "f4-ponds",
            _F4_INFRA,
            _C.water_irrigation,
            "整治山坪塘27口, 约2万立方米",
            _wan(54),
            quantity=_d("20000"),
            unit=_Q.m3,
            starts_on=date(2015, 4, 1),
            finishes_on=date(2016, 4, 30),
            lines=(Line(_S.sector_department_fund, "区水务局", _wan(54)),),
            approve=True,
        ),
        Project(
            "f4-industry",
            _F4_INDUSTRY,
            _C.industry_breeding,
            "产业发展: 肉牛年出栏500头、万只养鸡场1个、榨菜1500亩、樱桃350亩、中药材大户5户300亩",
            _wan(126),
            starts_on=date(2015, 3, 1),
            finishes_on=date(2016, 12, 31),
            lines=(
                Line(
                    _S.fiscal_special_poverty_fund,
                    "县扶贫办(财政专项扶贫资金)",
                    _wan(63),
                    F4_POVERTY_FUND_DOCUMENT,
                ),
                Line(_S.programme_fund, "农户万元增收工程", _wan(33)),
                Line(_S.beneficiary_self_raised, "养殖、种植大户自筹", _wan(30)),
            ),
            approve=True,
        ),
        Project(
            "f4-training",
            _F4_TRAINING,
            _C.training,
            "农民学校: 每人掌握1-2门实用技术, 两后生职业教育培训90%以上",
            _wan(15),
            starts_on=date(2015, 3, 1),
            finishes_on=date(2016, 12, 31),
            lines=(Line(_S.sector_department_fund, "区级机关部门、镇农业服务中心", _wan(15)),),
            approve=True,
        ),
        Project(
            "f4-housing",
            _F4_LIVELIHOOD,
            _C.housing,
            "生态移民12户42人、危旧房改造106户212人(冒火山、石桥集中居民点)",
            _wan("84.4"),
            quantity=_d("118"),
            unit=_Q.household,
            starts_on=date(2015, 5, 1),
            finishes_on=date(2016, 12, 31),
            lines=(
                Line(_S.programme_fund, "生态移民、危旧房改造项目", _wan(60)),
                Line(_S.beneficiary_self_raised, "移民、改造户自筹", _wan("24.4")),
            ),
            approve=True,
        ),
    ),
    ledger=(
        Entry("f4-industry", 0, "receipt", _wan(63), date(2015, 4, 10), "收-F4-001"),
        Entry("f4-water", 0, "receipt", _wan(40), date(2015, 4, 10), "收-F4-002"),
        Entry(
            "f4-industry",
            0,
            "disbursement",
            _wan("31.5"),
            date(2015, 5, 6),
            "付-F4-001",
            "advance",
            "肉牛养殖合作社",
        ),
        Entry("f4-water", 0, "disbursement", _wan(20), date(2015, 5, 6), "付-F4-002", "advance", "镇水利站"),
        Entry("f4-road", 1, "receipt", _wan(30), date(2015, 4, 2), "收-F4-003"),
        Entry(
            "f4-road",
            1,
            "disbursement",
            _wan(30),
            date(2015, 6, 1),
            "付-F4-003",
            "progress",
            "镇交通办施工队",
        ),
    ),
)
#: "預計需投資699.4萬元. 其中扶貧資金103萬元, 用於產業發展63萬元, 飲水工程40萬元" (seed 001#7).
F4_TOTAL_FEN = _wan("699.4")
F4_POVERTY_FUNDS_FEN = _wan(103)


# == F5: village exit plan "一低七有" (seed 001#13) ==================================================================
F5 = VillageFixture(
    key="F5",
    seed="001#13",
    village_code="451025100202",  # 渠洋村 (the seed's "**村")
    village_name="渠洋村",
    year=2015,
    profile={
        "distance_to_township_km": "8.00",
        "villager_groups": 4,  # "全村原14個村民小組, 現合併為4個大社"
        "households": 350,
        "population": 1358,
        "arable_land": {"total_mu": "880.00"},  # 0.65 mu per person (derived)
        "poor_village": True,
        "poor_households": 87,
        "poor_people": 270,
        # The rows add up to 89 households / 285 people, not 87 / 270: flagged (measure_breakdown_differs).
        "poor_by_measure": [
            {"name": "种植业(辣椒、青菜, 60亩)", "households": 31, "people": 158},
            {"name": "养殖业(猪、羊、鸡、鱼)", "households": 10, "people": 32},
            {"name": "易地扶贫搬迁", "households": 14, "people": 44},
            {"name": "危房改造", "households": 6, "people": 23},
            {"name": "低保兜底", "households": 28, "people": 28},
        ],
        "main_income_sources": ["种养殖业", "劳务输出"],
        "infrastructure": {
            "road_to_village_hardened": False,  # "到村委會還有3.5公里未通水泥路"
            "hardened_road_km": "1.20",
            "clinics": 0,
            "culture_rooms": 1,
        },
        "note": "集中供气80户(8月完成), 培训2期174人次, 核桃40亩, 特困农户5户",
    },
    population=1358,
    registered=(87, 270),
    # "貧困發生率要低於4%" — the region's threshold (§10 item 3), and 8,000 yuan collective income "達到脫貧退出標準".
    policy={
        year: {
            "village_exit_incidence_max_percent": "4.00",
            "village_exit_collective_income_min_yuan": "8000",
        }
        for year in (2015, 2016)
    },
    plan=Plan(
        plan_type=PlanType.exit,
        title="渠洋村“一低七有”脱贫实施方案",
        summary=(
            "按照“一低七有”要求: 贫困发生率低于4%, 集体经济收入0.8万元, 通村道路3.5公里175万元, 供水站2处40万元, "
            "村卫生室60平方米12万元; 生活用电、村文化室、宽带入户已达标"
        ),
        start_year=2016,
        end_year=2016,
        targets=(
            # "< 4 %": 3.99 is the highest two-place value below it (the checklist's threshold is strict).
            _target("poverty_incidence", Unit.percent, _DOWN, "19.88", "3.99", (2015, 2016)),
            _target("collective_income", Unit.yuan, _UP, 0, 8000, (2015, 2016)),  # baseline 0: [D]
            _target("village_road_connected", Unit.bool, _UP, 0, 1, (2015, 2016)),
            _target("safe_drinking_water_rate", Unit.percent, _UP, 80, 100, (2015, 2016)),  # baseline 80: [D]
            _target("household_electricity", Unit.bool, _UP, 1, 1, (2015, 2016)),
            _target("village_clinic", Unit.bool, _UP, 0, 1, (2015, 2016)),
            _target("village_culture_room", Unit.bool, _UP, 1, 1, (2015, 2016)),
            _target("broadband_to_households", Unit.bool, _UP, 1, 1, (2015, 2016)),
        ),
    ),
    actuals={
        # The seed's state: no road to the committee, no clinic; grid, culture room and broadband meet the standard.
        2015: {
            "poverty_incidence": _d("19.88"),
            "village_road_connected": _d(0),
            "household_electricity": _d(1),
            "village_clinic": _d(0),
            "village_culture_room": _d(1),
            "broadband_to_households": _d(1),
        },
        # The exit year with the plan fulfilled ([D] a simulation): road, water stations and clinic built.
        2016: {
            "collective_income": _d(8000),
            "village_road_connected": _d(1),
            "safe_drinking_water_rate": _d(100),
            "household_electricity": _d(1),
            "village_clinic": _d(1),
            "village_culture_room": _d(1),
            "broadband_to_households": _d(1),
        },
    },
    projects=(
        Project(
            "f5-road",
            "七有: 通村道路",
            _C.road,
            "通村水泥路(至村委会3.5公里)",
            _wan(175),
            quantity=_d("3.50"),
            unit=_Q.km,
            starts_on=date(2016, 3, 1),
            finishes_on=date(2016, 12, 31),
            implementing_party="县交通运输局",
            expected_outputs="解决老百姓出行难",
            lines=(
                Line(_S.sector_department_fund, "交通部门专项补助", _wan(88)),
                Line(_S.beneficiary_self_raised, "农户自筹", _wan(65)),
                Line(_S.social_donation, "社会捐资", _wan(22)),
            ),
            approve=True,
        ),
        Project(
            "f5-water",
            "七有: 安全饮水",
            _C.water_drinking,
            "供水站2处",
            _wan(40),
            quantity=_d(2),
            unit=_Q.piece,
            starts_on=date(2016, 3, 1),
            finishes_on=date(2016, 10, 31),  # "力爭20xx年10月底前完成"
            lines=(
                Line(_S.sector_department_fund, "水务局专项补助", _wan(20)),
                Line(_S.beneficiary_self_raised, "受益农户自筹(资金不足部分)", _wan(20)),
            ),
        ),
        Project(
            "f5-clinic",
            "七有: 村卫生室",
            _C.health_facility,
            "村卫生室60平方米",
            _wan(12),
            quantity=_d(60),
            unit=_Q.m2,
            starts_on=date(2016, 4, 1),  # "4月上旬進場施工, 年底建成投入使用"
            finishes_on=date(2016, 12, 31),
            responsible_person="蒲纪君",
            lines=(Line(_S.sector_department_fund, "市卫生局专项资金", _wan(12)),),
        ),
        Project(
            "f5-land",
            "土地整治项目220万元",
            _C.land,
            "整治土地250亩(原村6社、11社)",
            _wan(120),
            quantity=_d(250),
            unit=_Q.mu,
            starts_on=date(2016, 7, 1),  # "力爭20xx年下半年啟動"
            lines=(Line(_S.programme_fund, "土地整治项目资金", _wan(120)),),
        ),
        Project(
            "f5-ponds",
            "土地整治项目220万元",
            _C.water_irrigation,
            "小微水池及病害水利工程4口, 田间作业道路1公里",
            _wan(100),
            quantity=_d(4),
            unit=_Q.piece,
            starts_on=date(2016, 7, 1),
            lines=(Line(_S.programme_fund, "土地整治项目资金", _wan(100)),),
        ),
        Project(
            "f5-credit",
            "小额贴息贷款",
            _C.finance,
            "为40户贫困户提供小额贴息贷款",
            _wan(20),
            quantity=_d(40),
            unit=_Q.household,
            starts_on=date(2016, 3, 1),
            lines=(Line(_S.credit, "扶贫小额贷款", _wan(20)),),
        ),
    ),
    ledger=(
        Entry("f5-road", 0, "receipt", _wan(88), date(2016, 5, 10), "收-F5-001"),
        Entry("f5-road", 2, "receipt", _wan(22), date(2016, 5, 12), "收-F5-002"),
        Entry("f5-road", 1, "receipt", _wan(30), date(2016, 6, 1), "收-F5-003"),
        Entry(
            "f5-road", 0, "disbursement", _wan(35), date(2016, 6, 5), "付-F5-001", "advance", "县路桥工程公司"
        ),
    ),
)
#: F5's road: "項目預計投資175萬元, 爭取交通部門專項補助資金88萬元, 農戶自籌65萬元, 社會捐資22萬元".
F5_ROAD_FEN = _wan(175)
#: The households who get the micro-credit ("為符合條件的40戶貧困戶提供小額貼息貸款20萬元").
F5_CREDIT_HOUSEHOLDS = 40


# == F6: village project list, six years (seed 001#12) ===========================================================
_F6_MAIN = "六、主要目标任务和措施"  # (一) infrastructure, (二) social undertakings
_F6_COOPS = "六(三)、农民专业合作组织"
_F6_LIST = "附: 脱贫规划项目一览表"
_F6_START, _F6_END = date(2015, 1, 1), date(2020, 12, 31)


def _f6(
    key: str,
    group: str,
    category: ProjectCategory,
    name: str,
    wan: int | str,
    quantity: str | int | None = None,
    unit: QuantityUnit | None = None,
    lines: tuple[Line, ...] = (),
) -> Project:
    return Project(
        key,
        group,
        category,
        name,
        _wan(wan),
        quantity=None if quantity is None else _d(quantity),
        unit=unit,
        starts_on=_F6_START,
        finishes_on=_F6_END,
        lines=lines,
    )


F6 = VillageFixture(
    key="F6",
    seed="001#12",
    village_code="451025100203",  # added by the loader (the seed's "**村")
    village_name="岳庄村",
    year=2015,
    profile={
        "distance_to_county_km": "6.00",
        "natural_villages": 18,
        "villager_groups": 14,
        "households": 428,
        "population": 1560,
        "area_km2": "7.00",
        "arable_land": {"total_mu": "1859.00"},
        "main_income_sources": ["种植", "养殖", "县区内闲时务工"],
        "infrastructure": {
            "grid_coverage_percent": "100.00",
            "mobile_coverage_percent": "90.00",
            "tv_coverage_percent": "75.00",
            "clinics": 1,
        },
        # "每年新型農村合作醫療覆蓋人數達1680人" in a village of 1,560: stored and flagged (invariants 10, 41).
        "ncms_participants": 1680,
        "ncms_participation_percent": "100.00",
        "dibao_people": 53,
        "pension_coverage_percent": "99.70",
        "dangerous_houses_renovated_percent": "68.00",
    },
    population=1560,
    plan=Plan(
        plan_type=PlanType.development,
        title="岳庄村脱贫规划(六年)",
        summary="整合资金, 集中投入, 以整村推进为基础; 基础设施、社会事业、合作组织、产业发展、生态环境",
        start_year=2015,
        end_year=2020,
        targets=(
            _target("ncms_participation", Unit.percent, _UP, 100, 100, (2015, 2020)),
            _target("pension_coverage", Unit.percent, _UP, "99.7", 100, (2015, 2020)),
            _target("labor_export", Unit.people, _UP, 0, 1000, (2015, 2020)),  # "實現轉移就業人數1000人"
        ),
    ),
    projects=(
        # 六(一) infrastructure and (二) social undertakings: 12,050,000 yuan.
        _f6("f6-group-roads", _F6_MAIN, _C.road, "上场、上学两个村民组通组道路硬化", 50),
        _f6("f6-access-roads", _F6_MAIN, _C.road, "尹东、尹西、邓庄三组入户道路修复硬化、路灯、绿化", 120),
        _f6(
            "f6-ponds", _F6_MAIN, _C.water_irrigation, "岳庄等14个村民小组重点堰塘整治40处", 240, 40, _Q.piece
        ),
        _f6("f6-rivers", _F6_MAIN, _C.water_irrigation, "西片、东片排水河道及小河道治理", 160, 2, _Q.piece),
        _f6("f6-wells", _F6_MAIN, _C.water_drinking, "东西片9个村民组新建饮水井50口", 95, 50, _Q.piece),
        _f6("f6-houses", _F6_MAIN, _C.housing, "危房改造5户", 120, 5, _Q.household),
        _f6("f6-slope-land", _F6_MAIN, _C.land, "坡岭地整治150亩", 150, 150, _Q.mu),
        _f6(
            "f6-schools",
            _F6_MAIN,
            _C.education_facility,
            "学前幼儿园一所、技术培训学校一所",
            130,
            2,
            _Q.piece,
        ),
        _f6(
            "f6-village-hq",
            _F6_MAIN,
            _C.culture_public_service,
            "新建村部及文化活动中心一处",
            140,
            1,
            _Q.piece,
        ),
        # 六(三) cooperatives, "產業協調資金": 2,900,000 yuan.
        _f6(
            "f6-livestock-coop",
            _F6_COOPS,
            _C.cooperative,
            "黄牛、生猪综合养殖专业合作组织",
            200,
            1,
            _Q.piece,
            (Line(_S.integrated_fund, "产业协调资金", _wan(200)),),
        ),
        _f6(
            "f6-vegetable-coops",
            _F6_COOPS,
            _C.cooperative,
            "蔬菜种植专业合作组织4个",
            90,
            4,
            _Q.piece,
            (Line(_S.integrated_fund, "产业协调资金", _wan(90)),),
        ),
        # The appended project list (its first heading is lost in the seed: "投資概算350萬元 … 教育基礎設施").
        _f6("f6-education", _F6_LIST, _C.education_facility, "完善教育基础设施(一览表, 标题缺失)", 350),
        _f6("f6-skills", _F6_LIST, _C.training, "实用技术培训每年80人, 六年480人", 50, 480, _Q.person),
        _f6("f6-demonstration", _F6_LIST, _C.training, "示范户培育每年20户, 六年120户", 5, 120, _Q.household),
        _f6(
            "f6-transfer-training",
            _F6_LIST,
            _C.training,
            "劳动力转移培训六年1200人(转移就业1000人)",
            200,
            1200,
            _Q.person,
        ),
        _f6("f6-coop", _F6_LIST, _C.cooperative, "农民专业合作组织1个", 10, 1, _Q.piece),
        _f6("f6-activity-centre", _F6_LIST, _C.governance, "扩建组级组织活动中心1个", 20, 1, _Q.piece),
        _f6("f6-family-planning", _F6_LIST, _C.governance, "乡、村计生服务设备设施和队伍建设", 20),
        _f6("f6-clinic", _F6_LIST, _C.health_facility, "维护村卫生院1个", 2, 1, _Q.piece),
        _f6("f6-ncms", _F6_LIST, _C.social_security, "新型农村合作医疗每年覆盖1680人", 15, 1680, _Q.person),
        _f6("f6-dibao", _F6_LIST, _C.social_security, "农村低保每年覆盖89人", 12, 89, _Q.person),
        _f6("f6-pension", _F6_LIST, _C.social_security, "农村养老保险每年覆盖600人", 6, 600, _Q.person),
        # "蔬菜種植 … 新增油桃面積350畝": nectarines under vegetable planting, as the seed has it.
        _f6(
            "f6-nectarines",
            _F6_LIST,
            _C.industry_planting,
            "蔬菜种植: 王沟等4组新增油桃350亩",
            80,
            350,
            _Q.mu,
        ),
        _f6("f6-nuts", _F6_LIST, _C.industry_planting, "干果种植(核桃等)300亩", 60, 300, _Q.mu),
        _f6("f6-herbs", _F6_LIST, _C.industry_planting, "中药材(血参)种植100亩", 25, 100, _Q.mu),
        _f6(
            "f6-poultry",
            _F6_LIST,
            _C.industry_breeding,
            "林下生态肉鸡、蛋鸡养殖新增出栏0.5万只",
            30,
            5000,
            _Q.head,
        ),
        _f6("f6-processing", _F6_LIST, _C.industry_processing_market, "资源型加工企业3个", 300, 3, _Q.piece),
        _f6(
            "f6-logistics",
            _F6_LIST,
            _C.industry_processing_market,
            "市场物流企业1个(中坪组)",
            10,
            1,
            _Q.piece,
        ),
        _f6(
            "f6-labour-economy",
            _F6_LIST,
            _C.training,
            "劳务经济: 转移就业100人, 扶持创业50人",
            10,
            150,
            _Q.person,
        ),
        _f6("f6-habitat", _F6_LIST, _C.environment, "民居及环境改造176户", 25, 176, _Q.household),
        _f6("f6-garbage", _F6_LIST, _C.environment, "组内垃圾处理六年50吨", 6, 50, _Q.ton),
        _f6("f6-greening", _F6_LIST, _C.environment, "环境绿化美化六年5万平方米", 30, 50000, _Q.m2),
        _f6("f6-forest", _F6_LIST, _C.environment, "天然林保护1300亩", 5, 1300, _Q.mu),
    ),
)
#: DOMAIN.md §9 F6's check, verified against the seed: section 六's lines sum to 12,050,000 yuan (infrastructure
#: 9,350,000 + social undertakings 2,700,000) and its cooperatives to 2,900,000; the appended list (not summed in
#: DOMAIN.md) to 12,710,000; 27,660,000 in all.
F6_MAIN_FEN = _wan(1205)
F6_COOPS_FEN = _wan(290)
F6_LIST_FEN = _wan(1271)
F6_GROUPS = {_F6_MAIN: F6_MAIN_FEN, _F6_COOPS: F6_COOPS_FEN, _F6_LIST: F6_LIST_FEN}
#: The seed's other inconsistencies (DOMAIN.md §0.2 corrections; §9 F6): what it declares and what its items add
#: up to. The planning API has no field that would flag them (they are prose counts, not profile figures).
F6_SEED_INCONSISTENCIES: dict[str, tuple[int, int]] = {
    # "建設內容: 農民種、養專業合作組織2個" — then 1 livestock + 4 vegetable cooperatives.
    "cooperatives_declared_vs_itemised": (2, 1 + 4),
    # "轉移就業人數100人, 扶持創業人數50人" — then "轉移就業和創業人數達200人".
    "labour_economy_people": (100 + 50, 200),
    # "按轉移就業和創業人數每人每年增收2.4萬元計算, 六年內可增加農民總收入達2100萬元": 2.4万 x 200 x 6 = 2,880万.
    "labour_economy_income_wan": (2100, 24 * 200 * 6 // 10),
}


# == F7: Guangxi village annual plan (seed 001#14) ===============================================================
_F7_YEAR_START, _F7_YEAR_END = date(2015, 1, 1), date(2015, 12, 31)


def _f7(
    key: str,
    category: ProjectCategory,
    name: str,
    wan: int | str,
    finishes_on: date,
    funder: str,
    source: FundingSource = _S.sector_department_fund,
    *,
    quantity: str | int | None = None,
    unit: QuantityUnit | None = None,
    starts_on: date = _F7_YEAR_START,
    natural_village: str | None = None,
    milestones: tuple[Milestone, ...] = (),
    approve: bool = False,
) -> Project:
    budget = _wan(wan)
    return Project(
        key,
        "年度工作计划",
        category,
        name,
        budget,
        quantity=None if quantity is None else _d(quantity),
        unit=unit,
        starts_on=starts_on,  # [D] the year's start where the seed names only the finishing month
        finishes_on=finishes_on,
        natural_village=natural_village,
        implementing_party=funder,
        # An in-kind item (cement, the forestry bureau's work) has no cash budget and no line.
        lines=(Line(source, funder, budget),) if budget else (),
        milestones=milestones,
        approve=approve,
    )


F7 = VillageFixture(
    key="F7",
    seed="001#14",
    village_code="451025100201",  # 旧州村 (the seed's "xx村")
    village_name="旧州村",
    year=2015,
    plan=Plan(
        plan_type=PlanType.annual,
        title="旧州村扶贫开发整村推进年度工作计划",
        summary="经济强村、产业富村、科技兴村、文明治村; 贫困村人均收入增幅达到或超过区平均水平",
        start_year=2015,
        end_year=2015,
        targets=(
            _target("people_water_solved", Unit.people, _UP, 0, 600, (2014, 2015)),  # "兩屯600多人口"
            _target("village_specialty", Unit.bool, _UP, 0, 1, (2014, 2015)),  # 油茶 "一村一品"
        ),
    ),
    projects=(
        _f7(
            "f7-service-centre",
            _C.culture_public_service,
            "村部综合服务中心",
            35,
            _F7_YEAR_END,  # "年內交付使用"
            "区组织部、计生局、卫生局、文化局",
            starts_on=date(2015, 3, 1),  # "計劃3月份動工, 6月份完成主體工程"
            milestones=(Milestone("主体工程完成", date(2015, 6, 30)),),
            approve=True,
        ),
        _f7(
            "f7-water",
            _C.water_drinking,
            "那马屯、六合屯人畜饮水工程",
            30,
            _F7_YEAR_END,
            "区水利局",
            quantity=600,
            unit=_Q.person,
        ),
        _f7(
            "f7-channels",
            _C.water_irrigation,
            "农田水利渠道8条12公里及那马屯1.6公里屯级道路",
            480,
            date(2015, 7, 31),
            "区政府农业综合开发项目",
            quantity="12.00",
            unit=_Q.km,
            natural_village="那马屯",
        ),
        _f7(
            "f7-hamlet-roads",
            _C.road,
            "那华屯0.3、那母屯3、平利屯0.5、那户屯0.8公里屯级道路改造",
            92,
            date(2015, 8, 31),
            "区扶贫办、国土局",
            _S.integrated_fund,
            quantity="4.60",
            unit=_Q.km,
        ),
        _f7(
            "f7-road-baina",
            _C.road,
            "二桥头至百拿屯4.8公里屯级道路硬化",
            200,
            date(2015, 10, 31),
            "区扶贫办、国土局",
            _S.integrated_fund,
            quantity="4.80",
            unit=_Q.km,
        ),
        _f7(
            "f7-dike",
            _C.water_irrigation,
            "大垌田3公里防护坝",
            600,
            date(2015, 11, 30),
            "区国土局",
            quantity="3.00",
            unit=_Q.km,
        ),
        _f7("f7-bridge", _C.road, "二桥修缮", 15, date(2015, 2, 28), "区交通局"),
        _f7(
            "f7-cement",
            _C.road,
            "那华屯屯内道路硬化(区农业局水泥50吨, 群众投工投劳)",
            0,
            _F7_YEAR_END,
            "区农业局",
            quantity=50,
            unit=_Q.ton,
            natural_village="那华屯",
        ),
        _f7(
            "f7-oil-tea",
            _C.industry_planting,
            "油茶低产改造500亩(一村一品)",
            0,
            _F7_YEAR_END,
            "区林业局",
            quantity=500,
            unit=_Q.mu,
        ),
        _f7(
            "f7-teaching-point",
            _C.education_facility,
            "六合屯教学点卫生间、操场硬化",
            5,
            _F7_YEAR_END,
            "区教育局",
            natural_village="六合屯",
        ),
    ),
    ledger=(
        Entry("f7-service-centre", 0, "receipt", _wan(35), date(2015, 3, 2), "收-F7-001"),
        Entry(
            "f7-service-centre",
            0,
            "disbursement",
            _wan(10),
            date(2015, 3, 20),
            "付-F7-001",
            "advance",
            "村部施工队",
        ),
    ),
)
#: "Sum 14,570,000" (DOMAIN.md §9 F7): 35 + 30 + 480 + 92 + 200 + 600 + 15 + 5 万元.
F7_TOTAL_FEN = _wan(1457)
#: Each project's finishing month as the seed gives it (the service centre starts in March, its structure in June).
F7_MONTHS: dict[str, int] = {
    "f7-service-centre": 12,
    "f7-water": 12,
    "f7-channels": 7,
    "f7-hamlet-roads": 8,
    "f7-road-baina": 10,
    "f7-dike": 11,
    "f7-bridge": 2,
    "f7-cement": 12,
    "f7-oil-tea": 12,
    "f7-teaching-point": 12,
}


# == F8: county annual plan (seed 001#15) =======================================================================
F8_WHOLE_VILLAGE_DOCUMENT = "县扶发[2015]1号"

F8 = CountyFixture(
    key="F8",
    seed="001#15",
    county_code="451025000000",  # 靖西县 (the seed's county is Zhenxiong, Yunnan)
    year=2015,
    absolute_poor_households=15_000,  # "解決1.5萬戶絕對貧困人口的溫飽問題"
    low_standard_people=20_000,  # "不斷提高2萬低標準人口的經濟收入"
    stated_minimum_fen=_wan(8000),  # "力爭扶貧資金規模達到8000萬元以上"
    allocations=(
        Allocation(
            2015,
            _S.programme_fund,
            F8_WHOLE_VILLAGE_DOCUMENT,
            _wan(2280),
            "整村推进项目152个, 国家投资2280万元",
            count=152,
            unit_fen=_wan(15),
        ),
        Allocation(
            2015,
            _S.fiscal_special_poverty_fund,
            "县扶发[2015]2号",
            _wan(5000),
            "专项茅草房改造5000户, 国家投资5000万元",
            count=5000,
            unit_fen=_wan(1),
        ),
        Allocation(
            2015, _S.programme_fund, "县扶发[2015]3号", _wan(800), "整乡推进项目1-2个, 争取国家投资800万元"
        ),
        Allocation(
            2015,
            _S.fiscal_special_poverty_fund,
            "县扶发[2015]4号",
            _wan(600),
            "易地搬迁扶贫300户1200人, 投资600万元",
            count=300,
            unit_fen=_wan(2),
        ),
        Allocation(2015, _S.credit, "县扶发[2015]5号", _wan(1400), "小额信贷扶贫资金放贷指标1400万元"),
        Allocation(2015, _S.interest_subsidy, "县扶发[2015]6号", _wan(100), "财政贴息资金100万元"),
        Allocation(
            2015,
            _S.fiscal_special_poverty_fund,
            "县扶发[2015]7号",
            _wan(200),
            "产业扶贫资金200万元(蚕桑、魔芋等)",
        ),
    ),
    sample_village_code="451025100201",
    # One of the 152 whole-village projects, drawing its 150,000 yuan on the allocation.
    sample_project=Project(
        "f8-whole-village",
        "整村推进",
        _C.whole_village,
        "旧州村整村推进项目",
        _wan(15),
        starts_on=date(2015, 3, 1),
        finishes_on=date(2015, 12, 31),
        lines=(Line(_S.programme_fund, "县扶贫办(整村推进)", _wan(15), F8_WHOLE_VILLAGE_DOCUMENT),),
        approve=True,
    ),
    ledger=(
        Entry("f8-whole-village", 0, "receipt", _wan(15), date(2015, 4, 1), "收-F8-001"),
        Entry(
            "f8-whole-village",
            0,
            "disbursement",
            _wan(5),
            date(2015, 4, 15),
            "付-F8-001",
            "advance",
            "村施工队",
        ),
    ),
)
#: 22.8 M + 50 M + 8 M + 6 M + 14 M + 1 M + 2 M = 103.8 M: "≥ 80 M" holds, also without the 14 M of loans (89.8 M).
F8_TOTAL_FEN = _wan(10380)
F8_WITHOUT_CREDIT_FEN = _wan(8980)

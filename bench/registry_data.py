"""Synthetic registry data: a county of 300 villages and its poor households, as the bulk import reads them.

    python bench/registry_data.py [--households 10000] [--seed 1] [--out households.ndjson]
    python bench/registry_data.py --regions-csv regions.csv        # the tree for POST /regions/import

The county is 靖西县 (451025000000): 15 townships 451025100000 … 451025114000, 20 villages each
(4510251tt2vv). Households are whole families with exactly one head, valid resident ID numbers (issued in
451025, birth date and sex agreeing with the member's record, ISO 7064 check character, all distinct), incomes
in yuan with two decimals (per capita mostly 1,500-4,000, around the 2,736 yuan line of 2013) and poverty
causes weighted the way the 2014 identification found them (illness, lack of capital, skills, labour first).

As a module: `generate(n, seed)` yields the lines as dicts, deterministically for a seed; `region_csv()` gives
the region tree as CSV (code,name,parent_code).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/registry_data.py` puts bench/ first on the path
    sys.path.insert(0, str(ROOT))

from services.registry.households.domain import check_character  # noqa: E402

__all__ = [
    "COUNTY",
    "ISSUE_REGION",
    "TOWNSHIPS",
    "VILLAGES",
    "generate",
    "main",
    "region_csv",
    "resident_id",
]

COUNTY = "451025000000"  # 靖西县
ISSUE_REGION = "451025"
IDENTIFICATION_YEAR = 2014
INCOME_YEAR = 2013  # the reference year of the 2014 identification
REFERENCE_DATE = date(2013, 12, 31)

_TOWNSHIP_NAMES = (
    "新靖镇",
    "化峒镇",
    "湖润镇",
    "安德镇",
    "龙临镇",
    "渠洋镇",
    "岳圩镇",
    "龙邦镇",
    "禄峒镇",
    "武平镇",
    "地州镇",
    "同德乡",
    "壬庄乡",
    "安宁乡",
    "南坡乡",
)
_VILLAGE_WORDS = (
    "旧州 渠洋 化峒 那坡 弄乃 三合 新兴 东兴 大利 平江 龙昌 多吉 古劳 念安 足荣 坡豆 孟麻 其龙 巴蒙 陇念"
)
_DEMO_NAMES = {  # codes the demo seed already has keep its names, so importing the CSV renames nothing
    "451025100000": "新靖镇",
    "451025100201": "旧州村",
    "451025100202": "渠洋村",
    "451025101000": "化峒镇",
    "451025101201": "化峒村",
}

TOWNSHIPS: list[str] = [f"451025{100 + t:03d}000" for t in range(15)]
VILLAGES: list[str] = [f"{t[:9]}{201 + v:03d}" for t in TOWNSHIPS for v in range(20)]


def region_csv() -> str:
    """The county's townships and villages as the CSV `POST /regions/import` takes (code,name,parent_code)."""
    words = _VILLAGE_WORDS.split()
    lines = ["code,name,parent_code"]
    for t, township in enumerate(TOWNSHIPS):
        lines.append(f"{township},{_DEMO_NAMES.get(township, _TOWNSHIP_NAMES[t])},{COUNTY}")
        for v in range(20):
            code = f"{township[:9]}{201 + v:03d}"
            name = _DEMO_NAMES.get(code, f"{words[v]}{t + 1}村")
            lines.append(f"{code},{name},{township}")
    return "\n".join(lines) + "\n"


def resident_id(birth: date, sequence: int) -> str:
    """An 18-character ID issued in 451025: sequence odd for men, even for women (GB 11643)."""
    first17 = f"{ISSUE_REGION}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


# -- weights ------------------------------------------------------------------------------------------------------
_CAUSES = {
    "illness": 24,
    "lack_of_capital": 18,
    "lack_of_skills": 15,
    "lack_of_labor": 13,
    "disability": 6,
    "schooling": 5,
    "lack_of_land": 4,
    "disaster": 3,
    "poor_transport": 3,
    "low_motivation": 2,
    "old_age": 2,
    "lack_of_water": 1,
    "dangerous_housing": 1,
    "low_education": 1,
    "lack_of_information": 1,
    "other": 1,
}
_ATTRIBUTES = {"general_poor": 70, "dibao_poor": 25, "wubao_poor": 5}
_INCOME_SOURCES = {
    "migrant_work": 35,
    "farming": 30,
    "local_odd_jobs": 12,
    "breeding": 8,
    "transfer": 8,
    "public_welfare_job": 4,
    "other": 3,
}
_SIZES = {1: 10, 2: 18, 3: 24, 4: 26, 5: 14, 6: 8}
_HEALTH = {"healthy": 72, "chronic_illness": 14, "serious_illness": 6, "disabled": 8}
_STRUCTURES = {
    "brick_wood": 30,
    "earth_wood": 25,
    "brick_concrete": 20,
    "mud_brick": 12,
    "adobe": 8,
    "stone_wood_tile": 5,
}
_GRADES = {None: 40, "A": 15, "B": 20, "C": 15, "D": 10}
_SURNAMES = "黄农梁李赵陆韦马岑凌何罗许林滕谭廖蒙覃闭"
_GIVEN = "文志明华建国光荣德福金玉秀英兰芳丽春海强军平安宝成胜利桂红梅燕"


def _pick(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _money(value: float) -> str:
    return f"{max(0.0, value):.2f}"


class _People:
    """Unique resident IDs across the whole file."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def new_id(self, birth: date, sex: str) -> str:
        while True:
            sequence = self.rng.randrange(1, 999)
            if (sequence % 2 == 1) != (sex == "male"):
                sequence = sequence + 1 if sequence < 998 else sequence - 1
            key = f"{birth:%Y%m%d}{sequence:03d}"
            if key not in self.used:
                self.used.add(key)
                return resident_id(birth, sequence)


def _birth(rng: random.Random, age: int) -> date:
    """A birth date that makes someone `age` on the reference date."""
    year = REFERENCE_DATE.year - age
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def _age(birth: date) -> int:
    return REFERENCE_DATE.year - birth.year


def _member(
    rng: random.Random, people: _People, *, relation: str, sex: str, birth: date, surname: str
) -> dict[str, Any]:
    age = _age(birth)
    health = _pick(rng, _HEALTH) if age >= 16 else ("healthy" if rng.random() < 0.95 else "disabled")
    if age < 16 or age > 70:
        labor = "none"
    elif health in ("serious_illness", "disabled") and rng.random() < 0.7:
        labor = "lost"
    else:
        labor = "skilled" if rng.random() < 0.12 else "ordinary"
    m: dict[str, Any] = {
        "name": surname + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2)))),
        "relation": relation,
        "sex": sex,
        "ethnicity": "zhuang" if rng.random() < 0.9 else "han",
        "birth_year_month": f"{birth:%Y-%m}",
        "resident_id_number": people.new_id(birth, sex),
        "labor_capacity": labor,
        "health_status": health,
    }
    if age < 6:
        m["education_level"], m["school_status"] = "preschool", "preschool" if age >= 3 else "not_in_school"
    elif age < 12:
        m["education_level"], m["school_status"] = "primary", "primary"
    elif age < 15:
        m["education_level"], m["school_status"] = "junior_middle", "junior_middle"
    elif age < 18 and rng.random() < 0.6:
        m["education_level"], m["school_status"] = "junior_middle", "senior_high"
    else:
        m["education_level"] = _pick(
            rng, {"illiterate": 15, "primary": 40, "junior_middle": 35, "senior_high": 10}
        )
        m["school_status"] = "not_in_school"
    details: dict[str, Any] = {}
    if health == "chronic_illness":
        details["disease"] = rng.choice(("高血压", "糖尿病", "风湿病", "慢性胃炎"))
        details["chronic_disease_card"] = rng.random() < 0.6
    if health == "disabled":
        details["disability"] = {
            "certificate": True,
            "grade": rng.randint(1, 4),
            "subsidies": rng.random() < 0.5,
        }
    if labor in ("ordinary", "skilled"):
        details["work_status"] = _pick(rng, {"migrant_long_term": 40, "farming": 45, "odd_jobs": 15})
        if details["work_status"] == "migrant_long_term":
            details["work_location"] = _pick(rng, {"outside_province": 60, "province": 30, "county": 10})
            details["work_months"] = rng.randint(6, 12)
    details["insurance"] = {
        "ncms_enrolled": rng.random() < 0.97,
        "pension_enrolled": age >= 16 and rng.random() < 0.8,
    }
    m["details"] = details
    return m


def _members(rng: random.Random, people: _People) -> list[dict[str, Any]]:
    size = _pick(rng, _SIZES)
    surname = rng.choice(_SURNAMES)
    head_age = rng.randint(60, 85) if size == 1 and rng.random() < 0.6 else rng.randint(28, 75)
    head_sex = "male" if rng.random() < 0.85 else "female"
    head_birth = _birth(rng, head_age)
    out = [_member(rng, people, relation="head", sex=head_sex, birth=head_birth, surname=surname)]
    other = "female" if head_sex == "male" else "male"
    if size >= 2 and rng.random() < 0.85:
        age = max(20, head_age + rng.randint(-6, 4))
        spouse_surname = rng.choice(_SURNAMES)
        out.append(
            _member(rng, people, relation="spouse", sex=other, birth=_birth(rng, age), surname=spouse_surname)
        )
    while len(out) < size:
        if head_age >= 55 and rng.random() < 0.4:
            child_age = rng.randint(0, 12)  # grandchildren left behind with their grandparents
            relation = "grandchild"
        elif head_age <= 45 and rng.random() < 0.15:
            child_age = min(95, head_age + rng.randint(22, 32))
            relation = "parent"
        else:
            child_age = max(0, head_age - rng.randint(20, 36))
            relation = ""
        sex = "male" if rng.random() < 0.52 else "female"
        relation = relation or ("son" if sex == "male" else "daughter")
        out.append(
            _member(rng, people, relation=relation, sex=sex, birth=_birth(rng, child_age), surname=surname)
        )
    return out


def _income(rng: random.Random, size: int) -> dict[str, Any]:
    per_capita = rng.triangular(1300, 4200, 2500)
    net = per_capita * size
    wage = net * rng.uniform(0.3, 0.6)
    property_ = net * rng.uniform(0.0, 0.05)
    transfer = net * rng.uniform(0.05, 0.25)
    operating_net = net - wage - property_ - transfer
    expenses = max(0.0, operating_net) * rng.uniform(0.15, 0.35) + rng.uniform(50, 400)
    wage_s, property_s, transfer_s, expenses_s = (_money(v) for v in (wage, property_, transfer, expenses))
    operating = operating_net + float(expenses_s)  # gross: the net plus what it cost
    return {
        "year": INCOME_YEAR,
        "wage": wage_s,
        "operating": _money(operating),
        "property": property_s,
        "transfer": transfer_s,
        "operating_expenses": expenses_s,
        "surveyed_on": "2014-04-15",
    }


def household(rng: random.Random, people: _People, number: int, seed: int) -> dict[str, Any]:
    """One NDJSON line (a dict)."""
    members = _members(rng, people)
    primary = _pick(rng, _CAUSES)
    others = [c for c in rng.sample(list(_CAUSES), k=rng.choice((0, 0, 1, 1, 2))) if c != primary]
    attribute = _pick(rng, _ATTRIBUTES)
    grade = _pick(rng, _GRADES)
    line: dict[str, Any] = {
        "village_code": rng.choice(VILLAGES),
        "identification_year": IDENTIFICATION_YEAR,
        "national_household_code": f"45102520140{seed % 1000:03d}{number:08d}",
        "status": "registered" if rng.random() < 0.9 else "candidate",
        "poverty_cause_primary": primary,
        "poverty_attribute": attribute,
        "main_income_source": _pick(rng, _INCOME_SOURCES),
        "planned_exit_year": rng.choice((2016, 2017, 2018, 2019, 2020)),
        "members": members,
        "income": _income(rng, len(members)),
        "details": {
            "development": {"willing": rng.random() < 0.85},
            "housing": {
                "rooms_total": rng.randint(1, 6),
                "area_m2": _money(rng.uniform(30, 140)),
                "built_period": rng.choice(("1970s", "1980s", "1990s", "2000s")),
                "structure": _pick(rng, _STRUCTURES),
                "needs_renovation": grade in ("C", "D"),
            },
            "land": {
                "arable_mu": _money(rng.uniform(0.3, 2.5) * len(members)),
                "forest_mu": _money(rng.uniform(0, 8)),
            },
            "categories": {
                "is_dibao_household": attribute == "dibao_poor",
                "is_wubao_household": attribute == "wubao_poor",
            },
            "living_conditions": {"living_power": True, "drinking_water_safe": rng.random() < 0.7},
        },
    }
    if others:
        line["poverty_causes_other"] = others
    if grade is not None:
        line["dangerous_house_grade"] = grade
    if rng.random() < 0.5:
        line["contact_phone"] = "1" + rng.choice("3578") + "".join(rng.choices("0123456789", k=9))
    return line


def generate(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """`n` households (dicts in the NDJSON line format), the same ones for the same seed."""
    rng = random.Random(seed)
    people = _People(rng)
    for number in range(n):
        yield household(rng, people, number, seed)


def ndjson_lines(n: int, seed: int = 1) -> Iterator[bytes]:
    for line in generate(n, seed):
        yield json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="NDJSON file (default: standard output)")
    parser.add_argument("--regions-csv", type=Path, help="write the region tree CSV here and stop")
    args = parser.parse_args(argv)
    if args.regions_csv:
        args.regions_csv.write_text(region_csv(), encoding="utf-8")
        return 0
    out = args.out.open("wb") if args.out else sys.stdout.buffer
    try:
        for chunk in ndjson_lines(args.households, args.seed):
            out.write(chunk)
    finally:
        if args.out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

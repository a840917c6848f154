"""Demo households for `make run`: registered households in the demo villages, the demo cadre paired with three.

Loaded once, through the public API (so it is exactly what a client could do), right after `ops.seed`
created the demo logins: the county admin migrates the households in as registered (`POST /households/import`
with `mode=migration` and the source document `DEMO_SOURCE_DOCUMENT`: an already-registered history, not a
registration that skipped 两公示一公告; every card shows it as `imported`), registers a helping unit and the cadre `cadre.wang` as its staff, and pairs the cadre with the
first three households of 旧州村; the cadre then records a visit. A phone developer can sync at once:
`GET /api/registry/sync/download` as `cadre.wang`. Development only, like the seed.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.registry.households.domain import check_character
from shared.clock import china_date

__all__ = ["DEMO_HOUSEHOLDS", "DEMO_SOURCE_DOCUMENT", "load_demo_households"]

#: Where the demo's registered history comes from (a migration names its source: issue #13 item 2).
DEMO_SOURCE_DOCUMENT = "靖西县2014年建档立卡数据 (全国扶贫开发信息系统迁移, 演示数据)"

# (village, head, head's birth date, spouse, spouse's birth date, children, cause)
DEMO_HOUSEHOLDS: list[tuple[str, str, str, str, str, int, str]] = [
    ("451025100201", "黄志强", "19680415", "农秀兰", "19700902", 2, "illness"),
    ("451025100201", "李文军", "19750211", "赵美华", "19770719", 1, "lack_of_capital"),
    ("451025100201", "陆建国", "19620830", "韦丽娟", "19650104", 0, "disability"),
    ("451025100201", "农志明", "19810506", "黄春燕", "19830322", 2, "lack_of_skills"),
    ("451025100202", "韦德胜", "19700923", "陆桂芳", "19720615", 1, "lack_of_labor"),
    ("451025101201", "赵永福", "19660318", "李玉梅", "19680827", 1, "schooling"),
]


def _resident_id(birth: str, number: int, female: bool) -> str:
    seq = 2 * number + (2 if female else 1)  # odd: male, even: female
    first17 = f"451025{birth}{seq:03d}"
    return first17 + check_character(first17)


def _household(index: int) -> dict[str, Any]:
    village, head, head_born, spouse, spouse_born, children, cause = DEMO_HOUSEHOLDS[index]
    surname = head[0]
    members: list[dict[str, Any]] = [
        {
            "name": head,
            "relation": "head",
            "sex": "male",
            "birth_year_month": f"{head_born[:4]}-{head_born[4:6]}",
            "resident_id_number": _resident_id(head_born, 10 * index, female=False),
            "labor_capacity": "ordinary",
            "health_status": "healthy",
        },
        {
            "name": spouse,
            "relation": "spouse",
            "sex": "female",
            "birth_year_month": f"{spouse_born[:4]}-{spouse_born[4:6]}",
            "resident_id_number": _resident_id(spouse_born, 10 * index + 1, female=True),
            "labor_capacity": "ordinary",
            "health_status": "chronic_illness" if cause == "illness" else "healthy",
        },
    ]
    for child in range(children):
        born = f"20{8 + child:02d}0315"
        members.append(
            {
                "name": f"{surname}小{'明亮'[child]}",
                "relation": "son",
                "sex": "male",
                "birth_year_month": f"{born[:4]}-{born[4:6]}",
                "resident_id_number": _resident_id(born, 10 * index + 2 + child, female=False),
                "labor_capacity": "none",
                "school_status": "primary",
            }
        )
    return {
        "village_code": village,
        "identification_year": 2014,
        "natural_village": "那坡屯",
        "poverty_cause_primary": cause,
        "poverty_attribute": "general_poor",
        "main_income_source": "farming",
        "members": members,
        "status": "registered",
    }


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"demo data: {what} failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


async def load_demo_households(
    registry: httpx.AsyncClient,
    *,
    admin: dict[str, str],
    cadre: dict[str, str],
    today: datetime | None = None,
) -> dict[str, Any]:
    """Load the demo households through the registry API (`registry`'s base URL is the registry's root, e.g.
    `…/api/registry`); `admin` and `cadre` are the two logins' Authorization headers. What was created."""
    now = today or datetime.now(UTC)
    lines = "\n".join(json.dumps(_household(i), ensure_ascii=False) for i in range(len(DEMO_HOUSEHOLDS)))
    _ok(
        await registry.post(
            "/households/import",
            params={"mode": "migration", "source_document": DEMO_SOURCE_DOCUMENT},
            content=lines.encode(),
            headers=admin | {"Content-Type": "application/x-ndjson"},
        ),
        "household import",
    )
    listed = _ok(
        await registry.get(
            "/households",
            params={"region": "451025100201", "fields": "id", "limit": 3},
            headers=admin,
        ),
        "household list",
    )
    paired = [item["id"] for item in listed["items"]]
    unit = _ok(
        await registry.post(
            "/helping-units",
            json={"name": "靖西县农业农村局", "kind": "government_department", "region_code": "451025000000"},
            headers=admin,
        ),
        "helping unit",
    )
    me = _ok(await registry.get("/me", headers=cadre), "cadre identity")
    cadre_row = _ok(
        await registry.post(
            "/cadres",
            json={"unit_id": unit["id"], "name": "王干部", "position_level": "staff", "user_sub": me["sub"]},
            headers=admin,
        ),
        "cadre",
    )
    # From the day they were registered (China date): a pairing never starts before its household was identified.
    start = china_date(now).isoformat()
    for household_id in paired:
        _ok(
            await registry.post(
                "/pairings",
                json={"household_id": household_id, "cadre_id": cadre_row["id"], "valid_from": start},
                headers=admin,
            ),
            "pairing",
        )
    record = {
        "id": str(uuid.uuid4()),
        "household_id": paired[0],
        "record_type": "visit",
        "device_time": (now - timedelta(hours=2)).isoformat(),
        "place": "那坡屯",
        "content": "入户走访: 了解砂糖橘种植情况, 宣传小额信贷政策",
        "money_yuan": "0.00",
        "measures": [{"measure": "planting", "note": "砂糖橘 2 亩"}],
    }
    _ok(await registry.post("/help-records", json=record, headers=cadre), "help record")
    return {
        "households": len(DEMO_HOUSEHOLDS),
        "paired": paired,
        "cadre_id": cadre_row["id"],
        "help_record": record["id"],
    }

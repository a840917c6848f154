"""Assessment demo for `make run`: the year's village and cadre schemes of 靖西县, and one village run, finished.

Loaded through the public assessment API (so every rule holds, exactly as for a client), as the county admin
`admin.jingxi`, after the registry's and planning's demos (services/registry/demo.py, services/planning/demo.py).
For the current year (China date) it:

- sets the year's **exit targets** (年度减贫任务, `PUT /api/registry/regions/{code}/exit-targets/{year}`,
  decomposed top-down as the registry requires: the county admin sets 靖西县 and its two townships, each township
  officer its villages — `EXIT_TARGETS`), so B1.1 (exits against the year's target, `exit_quota_people`) is scored
  against a real target rather than a missing one; a target already set (by the demo or by hand) is left alone;
- drafts template **B** (贫困村年度考核, villages) and template **C** (帮扶干部年度考核, cadres) for the county
  (`POST /schemes?template=…&year=…`) and publishes both;
- asks for one **annual run of B over the county** (`POST /runs`, 202) and waits until the assessment's own run
  worker (procrastinate, in the service's lifespan: services/assessment/queue.py) has frozen the registry's and
  planning's figures and scored it — so a fresh `make run` shows a scored run with rankings and explanations
  (`GET /runs/{id}/results`, `GET /runs/{id}/results/451025100201`). The run is left `scored`, not published:
  publishing (and appealing) is the reader's next step in the README.

**Idempotent**: the schemes are looked up first (a county scheme of the year made from the template: a published
or locked version is used, a draft is published, none is drafted), and so is the run (the B scheme's annual runs
of the year: a scored or published one is used, a queued or running one is waited for; only when there is none,
or every one failed, a new run is asked for), and so is every exit target. A second start writes nothing. Development only, like the seed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from shared.clock import china_date

__all__ = ["COUNTY", "EXIT_TARGETS", "RUN_TEMPLATE", "TEMPLATES", "VILLAGE", "load_demo_assessment"]

COUNTY = "451025000000"  # 靖西县
VILLAGE = "451025100201"  # 旧州村: the village whose explanation the demo points at
#: The templates the demo publishes (code → subject type), and the one it runs.
TEMPLATES = {"B": "village", "C": "cadre"}
RUN_TEMPLATE = "B"
#: Run statuses: finished with results, still under way.
_FINISHED = ("scored", "published")
_UNDER_WAY = ("queued", "freezing", "scoring")
#: The year's exit targets (people, households), top-down, each with the demo login that sets it (the county
#: admin: the county and its townships; a township officer: its villages). Not an equal split (invariant 26), and
#: each village's within its township's, each township's within the county's (invariant 25).
EXIT_TARGETS: list[tuple[str, int, int, str]] = [
    (COUNTY, 30, 8, "admin.jingxi"),
    ("451025100000", 20, 5, "admin.jingxi"),  # 新靖镇
    ("451025101000", 6, 2, "admin.jingxi"),  # 化峒镇
    (VILLAGE, 8, 2, "officer.xinjing"),  # 旧州村
    ("451025100202", 5, 1, "officer.xinjing"),  # 渠洋村
    ("451025101201", 4, 1, "officer.huadong"),  # 化峒村
]
#: The demo logins' password (ops/seed.py's DEMO_PASSWORD; development only, refused in production).
_DEMO_PASSWORD = "jingzhun-demo-2026"  # noqa: S105

Json = dict[str, Any]
Headers = dict[str, str]


def _ok(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(
            f"assessment demo: {what} failed: HTTP {response.status_code} {response.text[:300]}"
        )
    return response.json()


class _Demo:
    def __init__(self, assessment: httpx.AsyncClient, admin: dict[str, str], year: int) -> None:
        self.client = assessment
        self.admin = admin
        self.year = year
        self.writes = 0

    async def read(self, url: str, what: str, **params: Any) -> Any:
        return _ok(await self.client.get(url, params=params or None, headers=self.admin), what)

    async def write(self, url: str, what: str, **kwargs: Any) -> Any:
        self.writes += 1
        return _ok(await self.client.post(url, headers=self.admin, **kwargs), what)

    async def every(self, url: str, what: str, **params: Any) -> list[Json]:
        """Every item of a keyset-paged list."""
        items: list[Json] = []
        cursor: str | None = None
        while True:
            page = await self.read(url, what, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def scheme(self, code: str, subject_type: str) -> Json:
        """The county's published scheme of the year made from template `code` (drafted and published if none)."""
        versions = [
            s
            for s in await self.every(
                "/schemes", "schemes", subject_type=subject_type, year=self.year, limit=200
            )
            if s["template_code"] == code and s["region_code"] == COUNTY
        ]
        in_force = [s for s in versions if s["status"] in ("published", "locked") and not s["superseded_by"]]
        if in_force:
            return max(in_force, key=lambda s: int(s["version"]))
        drafts = [s for s in versions if s["status"] == "draft"]
        draft: Json = (
            max(drafts, key=lambda s: int(s["version"]))
            if drafts
            else await self.write(
                "/schemes", f"template {code}", params={"template": code, "year": self.year}
            )
        )
        published: Json = await self.write(f"/schemes/{draft['id']}/publication", f"publish {code}")
        return published

    async def run(self, scheme_id: str) -> Json:
        """The scheme's annual run of the year over the county: an existing one, or a new one (202)."""
        runs = await self.every(
            "/runs", "runs", scheme_id=scheme_id, year=self.year, kind="annual", limit=500
        )
        mine = [r for r in runs if r["region_code"] == COUNTY]
        for statuses in (_FINISHED, _UNDER_WAY):
            found = [r for r in mine if r["status"] in statuses]
            if found:
                return max(found, key=lambda r: int(r["version"]))
        created: Json = await self.write(
            "/runs", "run", json={"scheme_id": scheme_id, "year": self.year, "region": COUNTY}
        )
        return created

    async def exit_targets(self, registry: httpx.AsyncClient, logins: Mapping[str, Headers]) -> None:
        """The year's exit targets of `EXIT_TARGETS`, top-down; a region whose target is set is left alone."""
        for code, people, households, login in EXIT_TARGETS:
            url = f"regions/{code}/exit-targets/{self.year}"
            headers = logins[login]
            current = _ok(await registry.get(url, headers=headers), f"exit target of {code}")
            if current["version"] is not None:
                continue
            self.writes += 1
            _ok(
                await registry.put(url, json={"people": people, "households": households}, headers=headers),
                f"exit target of {code}",
            )

    async def wait(self, run: Json, seconds: float, poll: float) -> Json:
        """The run once the worker has finished it (scored or failed), or as it stands after `seconds`."""
        deadline = time.monotonic() + seconds
        while run["status"] in _UNDER_WAY and time.monotonic() < deadline:
            await asyncio.sleep(poll)
            run = await self.read(f"/runs/{run['id']}", "run")
        return run


async def _login(client: httpx.AsyncClient, username: str) -> Headers:
    """A demo login's Authorization headers, from the gateway that serves `client` (`/auth/token`)."""
    response = await client.post(
        client.base_url.copy_with(path="/auth/token"),
        data={"grant_type": "password", "username": username, "password": _DEMO_PASSWORD},
    )
    token = _ok(response, f"login {username}")["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def load_demo_assessment(
    assessment: httpx.AsyncClient,
    *,
    admin: dict[str, str],
    year: int | None = None,
    registry: httpx.AsyncClient | None = None,
    logins: Mapping[str, Headers] | None = None,
    wait_seconds: float = 60.0,
    poll: float = 0.25,
) -> dict[str, Any]:
    """Load (or find) the assessment demo through the assessment API (`assessment`'s base URL is its root, e.g.
    `…/api/assessment`; `admin` the county admin's Authorization headers): the year's exit targets through the
    registry API (`registry`, by default the gateway's `…/api/registry/` next to `assessment`; `logins` the
    township officers' headers by username, by default logged in at the gateway with the demo password),
    templates B and C published for `year` (this year, China date, by default) and B's annual run over the
    county, waited for up to `wait_seconds` seconds (the service's own worker runs it). What stands afterwards;
    `writes` is 0 when all was there."""
    demo = _Demo(assessment, admin, year or china_date(datetime.now(UTC)).year)
    who: dict[str, Headers] = {"admin.jingxi": admin, **(logins or {})}
    for username in {login for *_, login in EXIT_TARGETS} - set(who):
        who[username] = await _login(assessment, username)
    if registry is None:
        base = assessment.base_url
        async with httpx.AsyncClient(
            base_url=base.copy_with(path=base.path.replace("/api/assessment", "/api/registry")),
            timeout=assessment.timeout,
        ) as own:
            await demo.exit_targets(own, who)
    else:
        await demo.exit_targets(registry, who)
    schemes = {code: await demo.scheme(code, subject_type) for code, subject_type in TEMPLATES.items()}
    run = await demo.wait(await demo.run(str(schemes[RUN_TEMPLATE]["id"])), wait_seconds, poll)
    results: list[Json] = []
    if run["status"] in _FINISHED:
        results = await demo.every(f"/runs/{run['id']}/results", "results", limit=500)
    return {
        "year": demo.year,
        "county": COUNTY,
        "schemes": {code: str(s["id"]) for code, s in schemes.items()},
        "run_id": str(run["id"]),
        "run_status": run["status"],
        "run_version": run["version"],
        "failure": run.get("failure_reason"),
        "results": [
            {k: r[k] for k in ("subject_id", "name", "parent_name", "score", "grade", "rank", "peers")}
            for r in results
        ],
        "writes": demo.writes,
    }

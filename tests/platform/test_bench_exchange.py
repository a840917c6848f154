"""bench/exchange.py's pieces (issue #15): the COPY seed makes households the export and the feed serve as the API
would, without feed rows of its own; the COPY baseline reads the same rows; real writes reach the feed.

The benchmark's figures are only worth something if its seed is data the registry accepts: these tests seed a few
households with the benchmark's own `seed()` into the test database and read them back through the in-process
registry's `GET /exports/households` and `GET /changes`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from bench.exchange import _batch, _template, copy_baseline, memory_kb, seed, write_changes
from bench.registry_data import generate
from shared.jwt import SigningKey
from tests.factories import COUNTY, VILLAGE, auth, issue, sql


def _templates(n: int) -> list[Any]:
    # The synthetic county's villages are not in the test regions: put every family in the demo village.
    return [dataclasses.replace(_template(line), village=VILLAGE) for line in generate(n, seed=7)]


class TestRows:
    def test_ids_distinct_and_members_belong_to_their_household(self) -> None:
        households, members, incomes = _batch(_templates(5), 0, 12)  # templates repeat: fresh ids each time
        ids = [h[0] for h in households]
        assert len(set(ids)) == 12 and len({h[2] for h in households}) == 12  # national codes too
        assert len({m[0] for m in members}) == len(members) and {m[2] for m in members} == set(ids)
        assert [i[0] for i in incomes] == ids
        heads = [m for m in members if m[4] == "head"]
        assert sorted(m[2] for m in heads) == sorted(ids)  # exactly one head per household

    def test_income_and_counts_agree(self) -> None:
        t = _template(next(generate(1, seed=3)))
        _, _, wage, operating, prop, transfer, expenses, size, net, per_capita, *_ = t.income
        assert net == wage + operating - expenses + prop + transfer and size == len(t.members)
        assert t.household[4] == size and per_capita == t.household[14]
        assert all(m[5].count("*") == 8 for m in t.members)  # resident IDs only masked, never in clear

    def test_memory_of_this_process(self) -> None:
        import os

        mem = memory_kb(os.getpid())
        assert mem["VmRSS"] > 0 and mem.get("VmHWM", mem["VmRSS"]) >= mem["VmRSS"]


@pytest.mark.usefixtures("seed_regions")
class TestAgainstTheRegistry:
    async def test_seeded_households_export_like_the_api_and_write_no_feed(
        self, db_urls: dict[str, str], registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        url = db_urls["registry"]
        members = await seed(url, _templates(4), 0, 10, batch=3)
        assert (await sql(db_urls, "SELECT count(*) FROM registry_change"))[0][0] == 0
        admin = auth(issue(signing_key, "county_admin", COUNTY)) | {"Accept-Encoding": "identity"}
        export = await registry.get("/exports/households", headers=admin)
        assert export.status_code == 200, export.text
        lines = [json.loads(x) for x in export.text.splitlines()]
        rows, trailer = lines[:-1], lines[-1]["_trailer"]
        assert len(rows) == 10 == trailer["rows"] and sum(len(r["members"]) for r in rows) == members
        assert all(r["latest_income"]["per_capita_net_income"] for r in rows)
        baseline = await copy_baseline(url)
        assert baseline.rows == 10 and baseline.bytes > 0

        await write_changes(url, 4, batch=3)  # two transactions
        # The feed delivers a change once every transaction older than it has ended, server-wide: other
        # sessions on a shared test server can hold it back for a moment, so long-poll for it.
        items: list[dict[str, Any]] = []
        cursor = export.headers["X-Feed-Cursor"]
        for _ in range(12):
            page = await registry.get(
                "/changes", params={"after": cursor, "limit": 1000, "wait": 5}, headers=admin
            )
            assert page.status_code == 200, page.text
            items += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if len(items) >= 4:
                break
        assert len(items) == 4 and all(i["op"] == "upsert" and i["record"]["version"] == 2 for i in items)

"""The demo households `make run` loads through the API (services/registry/demo.py)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.registry.demo import DEMO_HOUSEHOLDS, load_demo_households
from shared.jwt import SigningKey
from tests.factories import auth, issue

pytestmark = pytest.mark.usefixtures("seed_regions")


async def test_demo_cadre_can_sync_at_once(registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
    admin = auth(issue(signing_key, "county_admin", "451025000000"))
    cadre = auth(issue(signing_key, "cadre", "451025000000", sub=str(uuid.uuid4())))
    loaded = await load_demo_households(registry, admin=admin, cadre=cadre)
    assert loaded["households"] == len(DEMO_HOUSEHOLDS) and len(loaded["paired"]) == 3
    listed = (await registry.get("/households", params={"limit": 50}, headers=admin)).json()["items"]
    assert len(listed) == len(DEMO_HOUSEHOLDS) and {h["status"] for h in listed} == {"registered"}
    # The phone's first sync: the three paired households, one with the visit just recorded.
    download = (await registry.get("/sync/download", headers=cadre)).json()
    assert sorted(h["id"] for h in download["households"]) == sorted(loaded["paired"])
    records = [r["id"] for h in download["households"] for r in h["help_records"]]
    assert records == [loaded["help_record"]]
    mine = (await registry.get("/me/households", headers=cadre)).json()
    assert len(mine["active"]) == 3

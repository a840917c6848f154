"""Clock skew measured from the phone's clock at sending (issue #13 item 14): `X-Device-Time`.

offset = server now - X-Device-Time; a record's device time is judged corrected by it; only an offset beyond the
limit, or a corrected time in the future, flags `clock_skew`. Without the header, the documented fallback.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.registry.help_records import domain
from services.registry.help_records.domain import (
    CLOCK_OFFSET_LIMIT,
    FALLBACK_FUTURE,
    FALLBACK_PAST,
    FUTURE_TOLERANCE,
    EvidenceFlag,
)
from services.registry.help_records.schemas import device_sent_at
from shared.errors import Invalid
from shared.jwt import SigningKey
from tests.factories import COUNTY, TOWNSHIP, assert_problem, headers_for
from tests.registry import test_help_records_routes as base
from tests.registry.test_help_records_routes import Db, Headers, Phone, correction, new_household, record

# The help-record route fixtures, shared with tests/registry/test_help_records_routes.py.
clerk, db, phone = base.clerk, base.db, base.phone

pytestmark = pytest.mark.usefixtures("seed_regions")

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


class TestClockSkewed:
    def test_honestly_offline_with_a_correct_clock_is_not_skewed(self) -> None:
        assert not domain.clock_skewed(T0 - timedelta(days=3), T0, T0 - timedelta(seconds=2))
        assert not domain.clock_skewed(T0 - timedelta(days=90), T0, T0)

    def test_a_wrong_clock_is_skewed_whatever_the_record(self) -> None:
        wrong = T0 - CLOCK_OFFSET_LIMIT - timedelta(seconds=1)
        assert domain.clock_skewed(T0 - timedelta(hours=1), T0, wrong)
        assert domain.clock_skewed(T0, T0, T0 + CLOCK_OFFSET_LIMIT + timedelta(seconds=1))
        assert not domain.clock_skewed(T0 - timedelta(hours=1), T0, T0 - CLOCK_OFFSET_LIMIT)

    def test_the_corrected_time_in_the_future_is_skewed(self) -> None:
        # Phone 10 min slow: a visit stamped 2 min after the phone's send time is 2 min ahead of the server.
        sent = T0 - timedelta(minutes=10)
        assert not domain.clock_skewed(sent + timedelta(minutes=2), T0, sent)
        assert domain.clock_skewed(sent + FUTURE_TOLERANCE + timedelta(seconds=1), T0, sent)
        assert domain.clock_skewed(T0 + timedelta(days=60), T0, T0)

    def test_without_the_header_the_fallback(self) -> None:
        assert not domain.clock_skewed(T0 + FALLBACK_FUTURE, T0, None)
        assert domain.clock_skewed(T0 + FALLBACK_FUTURE + timedelta(seconds=1), T0, None)
        assert not domain.clock_skewed(T0 - FALLBACK_PAST, T0, None)
        assert domain.clock_skewed(T0 - FALLBACK_PAST - timedelta(seconds=1), T0, None)

    def test_assess_takes_the_send_time(self) -> None:
        evidence = domain.assess(
            device_time=T0 - timedelta(days=3), received_at=T0, sent_at=T0, fix=None, home=None
        )
        assert evidence.flags == ()
        evidence = domain.assess(
            device_time=T0 - timedelta(days=3),
            received_at=T0,
            sent_at=T0 - timedelta(hours=3),
            fix=None,
            home=None,
        )
        assert evidence.flags == (EvidenceFlag.clock_skew,)

    def test_uncounted(self) -> None:
        assert EvidenceFlag.clock_skew in domain.UNCOUNTED_FLAGS


class TestHeader:
    def test_parse(self) -> None:
        assert device_sent_at(None) is None
        assert device_sent_at("") is None
        assert device_sent_at("2026-12-04T16:00:00+08:00") == T0
        assert device_sent_at("2026-12-04T08:00:00Z") == T0

    @pytest.mark.parametrize("value", ["yesterday", "2026-12-04T08:00:00", "2026-13-04T08:00:00Z"])
    def test_refused(self, value: str) -> None:
        with pytest.raises(Invalid) as caught:
            device_sent_at(value)
        assert caught.value.code == "device_time_header"


def _at(when: datetime) -> dict[str, str]:
    return {"X-Device-Time": when.isoformat()}


class TestRoutes:
    async def test_single_post(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        now = datetime.now(UTC)
        cases: list[tuple[dict[str, Any], dict[str, str], list[str]]] = [
            # offline for 3 days, correct clock: not skewed
            (record(hid, device_time=(now - timedelta(days=3)).isoformat()), _at(now), []),
            # the phone's clock 2 days behind: every record of the request is skewed
            (
                record(hid, device_time=(now - timedelta(days=3)).isoformat()),
                _at(now - timedelta(days=2)),
                ["clock_skew"],
            ),
            # 60 days in the future by a correct clock
            (record(hid, device_time=(now + timedelta(days=60)).isoformat()), _at(now), ["clock_skew"]),
            # phone 1 day fast, visit "tomorrow" by its clock: corrected, it happened 2 h ago, but the clock is off
            (
                record(hid, device_time=(now + timedelta(hours=22)).isoformat()),
                _at(now + timedelta(days=1)),
                ["clock_skew"],
            ),
        ]
        for body, header, flags in cases:
            response = await registry.post("/help-records", json=body, headers=phone.headers | header)
            assert response.status_code == 201, response.text
            assert response.json()["flags"] == flags, body["device_time"]

    async def test_bad_header(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        bad = {"X-Device-Time": "now"}
        refused = await registry.post("/help-records", json=record(hid), headers=phone.headers | bad)
        assert assert_problem(refused, 422)["code"] == "device_time_header"
        batch = await registry.post(
            "/help-records/batch", json={"records": [record(hid)]}, headers=phone.headers | bad
        )
        assert assert_problem(batch, 422)["code"] == "device_time_header"

    async def test_batch_and_versions(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        now = datetime.now(UTC)
        old = record(hid, device_time=(now - timedelta(days=4)).isoformat())
        future = record(hid, device_time=(now + timedelta(days=60)).isoformat())
        answer = await registry.post(
            "/help-records/batch", json={"records": [old, future]}, headers=phone.headers | _at(now)
        )
        assert answer.status_code == 200, answer.text
        assert [r["outcome"] for r in answer.json()["results"]] == ["created", "created"]
        flags = [
            (await registry.get(f"/help-records/{b['id']}", headers=phone.headers)).json()["flags"]
            for b in (old, future)
        ]
        assert flags == [[], ["clock_skew"]]
        fixed = await registry.post(
            f"/help-records/{future['id']}/versions",
            json=correction(future, device_time=(now - timedelta(hours=1)).isoformat()),
            headers=phone.headers | {"If-Match": '"1"'} | _at(now),
        )
        assert fixed.status_code == 201, fixed.text
        assert fixed.json()["flags"] == []
        skewed = await registry.post(
            f"/help-records/{old['id']}/versions",
            json=correction(old),
            headers=phone.headers | {"If-Match": '"1"'} | _at(now + timedelta(hours=5)),
        )
        assert skewed.status_code == 201 and skewed.json()["flags"] == ["clock_skew"]


class TestCounted:
    """What monitoring and figures need to leave `clock_skew` records out of visit counts."""

    async def test_counted_visit(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        from services.registry.help_records.repository import counted_visit, counted_visit_sql

        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        now = datetime.now(UTC)
        fine, future = record(hid), record(hid, device_time=(now + timedelta(days=60)).isoformat())
        for body in (fine, future):
            assert (
                await registry.post("/help-records", json=body, headers=phone.headers | _at(now))
            ).status_code == 201
        counted = counted_visit_sql("r")
        query = f"SELECT r.id::text AS id FROM registry_help_record r WHERE r.household_id = $1 AND {counted}"  # noqa: S608
        rows = await db.run(query, uuid.UUID(hid))
        assert [r["id"] for r in rows] == [fine["id"]]
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql
        from sqlmodel import col

        from services.registry.models import HelpRecord

        compiled = str(
            sa.select(col(HelpRecord.id))
            .where(counted_visit(col(HelpRecord.flags), col(HelpRecord.id), col(HelpRecord.version)))
            .compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[no-untyped-call]
        )
        assert "&&" in compiled and "clock_skew" in compiled


class TestNotCountedInVisitFrequency:
    async def test_a_wrong_clocks_records_are_not_visits(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        now = datetime.now(UTC)
        slow = now - timedelta(hours=2)  # a phone whose clock is two hours behind
        trusted, skewed = record(hid, device_time=now.isoformat()), record(hid, device_time=slow.isoformat())
        assert (
            await registry.post("/help-records", json=trusted, headers=phone.headers | _at(now))
        ).status_code == 201
        answer = await registry.post("/help-records", json=skewed, headers=phone.headers | _at(slow))
        assert answer.status_code == 201 and answer.json()["flags"] == ["clock_skew"]
        admin = headers_for(signing_key, "county_admin", COUNTY)
        report = await registry.get(
            f"/monitoring/visit-frequency?region={COUNTY}&year={now.year}", headers=admin
        )
        assert report.status_code == 200, report.text
        [item] = [i for i in report.json()["items"] if i["household_id"] == hid]
        assert item["visits"] == 1  # the skewed record waits for a review


class TestReviewHelpRecord:
    async def _skewed(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> tuple[str, str]:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        now = datetime.now(UTC)
        slow = now - timedelta(hours=2)
        assert (
            await registry.post(
                "/help-records",
                json=record(hid, device_time=now.isoformat()),
                headers=phone.headers | _at(now),
            )
        ).status_code == 201
        skewed = record(hid, device_time=slow.isoformat())
        answer = await registry.post("/help-records", json=skewed, headers=phone.headers | _at(slow))
        assert answer.status_code == 201 and answer.json()["flags"] == ["clock_skew"]
        return hid, skewed["id"]

    async def _visits(self, registry: httpx.AsyncClient, admin: Headers, hid: str) -> int:
        year = datetime.now(UTC).year
        report = await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year={year}", headers=admin)
        assert report.status_code == 200, report.text
        [item] = [i for i in report.json()["items"] if i["household_id"] == hid]
        visits: int = item["visits"]
        return visits

    async def test_an_accepted_review_makes_it_count(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid, rid = await self._skewed(registry, clerk, db, phone)
        admin = headers_for(signing_key, "county_admin", COUNTY)
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        assert await self._visits(registry, admin, hid) == 1
        body = {"flag": "clock_skew", "outcome": "accepted", "reason": "电话核实 走访日期属实"}
        reviewed = await registry.post(f"/help-records/{rid}/reviews", json=body, headers=township)
        assert reviewed.status_code == 201, reviewed.text
        assert (reviewed.json()["version"], reviewed.json()["counted"]) == (1, True)
        assert await self._visits(registry, admin, hid) == 2
        again = assert_problem(
            await registry.post(f"/help-records/{rid}/reviews", json=body, headers=admin), 409
        )
        assert again["code"] == "already_reviewed"

    async def test_a_rejected_review_keeps_it_out(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid, rid = await self._skewed(registry, clerk, db, phone)
        admin = headers_for(signing_key, "county_admin", COUNTY)
        body = {"flag": "clock_skew", "outcome": "rejected", "reason": "走访日期不实"}
        reviewed = await registry.post(f"/help-records/{rid}/reviews", json=body, headers=admin)
        assert reviewed.status_code == 201 and reviewed.json()["counted"] is False
        assert await self._visits(registry, admin, hid) == 1

    async def test_refusals(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        _, rid = await self._skewed(registry, clerk, db, phone)
        body = {"flag": "clock_skew", "outcome": "accepted", "reason": "核实"}
        cadre = assert_problem(
            await registry.post(f"/help-records/{rid}/reviews", json=body, headers=phone.headers), 403
        )
        assert cadre["code"] == "flag_reviewer_required"
        assert_problem(await registry.post(f"/help-records/{rid}/reviews", json=body, headers=clerk), 403)
        far = headers_for(signing_key, "township_officer", "451025101000")
        assert_problem(await registry.post(f"/help-records/{rid}/reviews", json=body, headers=far), 404)
        admin = headers_for(signing_key, "county_admin", COUNTY)
        other = {"flag": "far_from_household", "outcome": "accepted", "reason": "核实"}
        assert (
            assert_problem(
                await registry.post(f"/help-records/{rid}/reviews", json=other, headers=admin), 409
            )["code"]
            == "flag_not_raised"
        )
        assert_problem(
            await registry.post(f"/help-records/{rid}/reviews", json=body | {"version": 9}, headers=admin),
            404,
        )
        assert_problem(
            await registry.post(f"/help-records/{rid}/reviews", json=body | {"reason": ""}, headers=admin),
            422,
        )

"""Issue #13 items 11, 12, 13 and 15: guards on monitoring rounds, pairings, help plans and population.

Pure rules first (no database), then the routes against PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.registry.help_plans import domain as plans
from services.registry.monitoring import domain as monitoring
from services.registry.pairing import domain as pairing
from services.registry.regions import domain as regions
from shared.clock import CHINA_TIME
from shared.errors import Invalid, Refused
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    create_household,
    headers_for,
    pair,
    put_population,
    registered_household,
    registered_since,
    set_household_status,
    sql,
    unit_and_cadres,
)

TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()


# == pure rules ====================================================================================================
class TestRoundPeriod:
    def test_a_june_round_is_not_opened_in_the_december_before(self) -> None:
        with pytest.raises(monitoring.PeriodNotBegun) as caught:
            monitoring.require_period_begun(2016, monitoring.Half.H1, date(2015, 12, 20))
        assert caught.value.code == "round_period_not_begun"

    def test_the_period_begins_on_the_first_of_its_month(self) -> None:
        assert monitoring.period_start(2015, monitoring.Half.H1) == date(2015, 6, 1)
        assert monitoring.period_start(2015, monitoring.Half.H2) == date(2015, 12, 1)
        with pytest.raises(monitoring.PeriodNotBegun):
            monitoring.require_period_begun(2015, monitoring.Half.H1, date(2015, 5, 31), closing=True)
        monitoring.require_period_begun(2015, monitoring.Half.H1, date(2015, 6, 1))
        monitoring.require_period_begun(2015, monitoring.Half.H1, date(2016, 1, 15), closing=True)

    def test_an_empty_round_needs_a_reason(self) -> None:
        for reason in (None, "", "   "):
            with pytest.raises(monitoring.EmptyRoundNeedsReason) as caught:
                monitoring.require_empty_reason(0, reason)
            assert caught.value.code == "empty_round_reason_required"
        monitoring.require_empty_reason(0, "本乡镇本期无结对户")
        monitoring.require_empty_reason(2, None)


def _facts(household: uuid.UUID, cadre: uuid.UUID, start: date = date(2015, 3, 1)) -> pairing.PairingFacts:
    return pairing.PairingFacts(
        id=uuid.uuid4(),
        household_id=household,
        cadre_id=cadre,
        unit_id=uuid.uuid4(),
        role=pairing.PairingRole.primary,
        valid_from=start,
    )


def _helper(active: bool = True) -> pairing.Helper:
    return pairing.Helper(uuid.uuid4(), uuid.uuid4(), "李干部", pairing.PositionLevel.staff, active)


class TestPairingDates:
    def test_registered_since_the_first_registration_after_the_last_exit(self) -> None:
        events = [
            (date(2014, 3, 1), "first_notice"),
            (date(2014, 4, 1), "registered"),
            (date(2014, 6, 1), "registered"),  # e.g. an objection resolved: still registered since April
        ]
        assert pairing.registered_since(events, 2014) == date(2014, 4, 1)
        returned = [*events, (date(2015, 1, 5), "exited"), (date(2016, 2, 1), "registered")]
        assert pairing.registered_since(returned, 2014) == date(2016, 2, 1)

    def test_without_events_from_the_identification_year(self) -> None:
        assert pairing.registered_since([], 2014) == date(2014, 1, 1)

    def test_no_pairing_before_registration(self) -> None:
        with pytest.raises(pairing.BeforeRegistration) as caught:
            pairing.require_after_registration(date(2014, 3, 31), date(2014, 4, 1))
        assert caught.value.code == "pairing_before_registration"
        pairing.require_after_registration(date(2014, 4, 1), date(2014, 4, 1))


class TestDeactivationHandover:
    def test_the_last_pairing_needs_a_successor(self) -> None:
        current = _facts(uuid.uuid4(), uuid.uuid4())
        with pytest.raises(pairing.DeactivationNeedsSuccessor) as caught:
            pairing.deactivation_handover(
                current,
                date(2016, 7, 1),
                household_status="registered",
                others=[current],
                successor=None,
                successor_id=uuid.uuid4(),
            )
        assert caught.value.code == "deactivation_successor_required"

    def test_a_successor_takes_over_the_same_day(self) -> None:
        current = _facts(uuid.uuid4(), uuid.uuid4())
        li = _helper()
        handover = pairing.deactivation_handover(
            current,
            date(2016, 7, 1),
            household_status="registered",
            others=[current],
            successor=li,
            successor_id=uuid.uuid4(),
        )
        assert handover.ended.valid_to == date(2016, 7, 1)
        assert handover.ended.end_reason is pairing.EndReason.handover
        assert handover.successor is not None and handover.successor.cadre_id == li.id
        assert handover.successor.valid_from == date(2016, 7, 1)

    def test_no_successor_where_another_cadre_stays_or_the_household_exited(self) -> None:
        household = uuid.uuid4()
        current, other = _facts(household, uuid.uuid4()), _facts(household, uuid.uuid4())
        kept = pairing.deactivation_handover(
            current,
            date(2016, 7, 1),
            household_status="registered",
            others=[current, other],
            successor=None,
            successor_id=uuid.uuid4(),
        )
        assert kept.successor is None and kept.ended.valid_to == date(2016, 7, 1)
        exited = pairing.deactivation_handover(
            current, date(2016, 7, 1), household_status="exited", others=[current], successor=None,
            successor_id=uuid.uuid4(),
        )  # fmt: skip
        assert exited.successor is None

    def test_a_future_pairing_ends_on_its_first_day(self) -> None:
        current = _facts(uuid.uuid4(), uuid.uuid4(), start=date(2016, 9, 1))
        handover = pairing.deactivation_handover(
            current,
            date(2016, 7, 1),
            household_status="registered",
            others=[current],
            successor=_helper(),
            successor_id=uuid.uuid4(),
        )
        assert handover.ended.valid_to == date(2016, 9, 1)

    def test_successors_only_for_open_pairings(self) -> None:
        known = uuid.uuid4()
        pairing.require_known_successors([known], [known])
        with pytest.raises(pairing.UnknownSuccessorPairing) as caught:
            pairing.require_known_successors([known], [uuid.uuid4()])
        assert caught.value.code == "successor_pairing_unknown"


def _item(cost: str, funding: str | None) -> plans.PlanItemCommand:
    return plans.PlanItemCommand(
        item_id=None,
        measure=plans.Measure.breeding,
        responsible_cadre_id=CADRE,
        due_date=date(2015, 9, 30),
        cost_yuan=Decimal(cost),
        funding_source=plans.FundingSource.credit if funding is not None else None,
        funding_amount_yuan=Decimal(funding) if funding is not None else None,
    )


CADRE = uuid.uuid4()


def _check(*items: plans.PlanItemCommand) -> plans.PlanTotals:
    command = plans.PlanCommand(year_from=2015, year_to=2016, target_exit_year=2016, items=items)
    return plans.new_version(
        command, identification_year=2014, current_version=0, previous_item_ids=(), known_cadres={CADRE}
    )


class TestPlanRules:
    def test_plans_for_registered_households_only(self) -> None:
        for status in ("first_notice", "second_notice", "county_reviewed", "candidate", "removed"):
            with pytest.raises(plans.NotPlannable) as caught:
                plans.require_plannable(status)
            assert caught.value.code == "not_registered"
        for status in ("registered", "exit_proposed", "exited"):
            plans.require_plannable(status)

    def test_underfunding_is_a_gap_overfunding_is_refused(self) -> None:
        assert _check(_item("5000.00", "1.00")).cost_fen == 500_000
        assert plans.funding_gap_fen(Decimal("5000.00"), Decimal("1.00")) == 499_900
        assert plans.funding_gap_fen(Decimal("5000.00"), Decimal("5000.00")) == 0
        assert plans.funding_gap_fen(Decimal("0.00"), None) == 0
        with pytest.raises(plans.PlanInvalid) as caught:
            _check(_item("8000.00", "9000.00"))
        assert caught.value.code == "funding_exceeds_cost"
        assert caught.value.details["field"] == "/items/0/funding_amount_yuan"

    def test_the_signatory_is_the_head_or_a_member(self) -> None:
        plans.require_signatory("黄志强", "黄志强", ["黄志强", "农秀兰"])
        plans.require_signatory("农 秀兰", "黄志强", ["黄志强", "农秀兰"])
        with pytest.raises(plans.SignatoryNotMember) as caught:
            plans.require_signatory("张三", "黄志强", ["黄志强", "农秀兰"])
        assert caught.value.code == "signatory_not_member"


class TestPopulationRules:
    def test_a_population_below_the_poor_is_refused(self) -> None:
        with pytest.raises(Refused) as caught:
            regions.check_population(3, None, poor_people=13, poor_households=4)  # 433 %
        assert caught.value.code == "population_below_poor"
        regions.check_population(13, None, poor_people=13, poor_households=4)

    def test_households_between_the_poor_households_and_the_people(self) -> None:
        with pytest.raises(Invalid) as invalid:
            regions.check_population(10, 11, poor_people=0, poor_households=0)
        assert invalid.value.code == "households_exceed_population"
        with pytest.raises(Refused) as refused:
            regions.check_population(100, 3, poor_people=13, poor_households=4)
        assert refused.value.code == "households_below_poor"
        regions.check_population(1560, 428, poor_people=270, poor_households=87)


# == routes ========================================================================================================
pytestmark_routes = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY, "county-1")


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "township_officer", TOWNSHIP, "township-1")


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")


@pytestmark_routes
class TestRoundRoutes:
    async def test_a_future_round_is_not_opened(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, township: Headers
    ) -> None:
        registry_app.state.clock = lambda: datetime(2015, 12, 20, 2, tzinfo=UTC)
        june = {"township_code": TOWNSHIP, "year": 2016, "half": "H1"}
        problem = assert_problem(await registry.post("/monitoring/rounds", json=june, headers=township), 409)
        assert problem["code"] == "round_period_not_begun"
        december = {"township_code": TOWNSHIP, "year": 2015, "half": "H2"}
        assert (await registry.post("/monitoring/rounds", json=december, headers=township)).status_code == 201

    async def test_an_empty_round_closes_only_with_a_reason(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, township: Headers
    ) -> None:
        registry_app.state.clock = lambda: datetime(2015, 12, 20, 2, tzinfo=UTC)
        body = {"township_code": TOWNSHIP, "year": 2015, "half": "H2"}
        rid = (await registry.post("/monitoring/rounds", json=body, headers=township)).json()["id"]
        url = f"/monitoring/rounds/{rid}/close"
        problem = assert_problem(await registry.post(url, json={"summary": "无"}, headers=township), 422)
        assert problem["code"] == "empty_round_reason_required" and problem["field"] == "/empty_reason"
        closed = await registry.post(
            url, json={"summary": "本期无结对户", "empty_reason": "结对尚未开始"}, headers=township
        )
        assert closed.status_code == 200, closed.text
        assert closed.json()["findings"] == [] and "结对尚未开始" in closed.json()["summary"]


@pytestmark_routes
class TestPairingRoutes:
    async def test_no_pairing_before_registration(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await registered_household(registry, clerk, db_urls)
        await registered_since(db_urls, [hid], datetime(2015, 3, 1, 2, tzinfo=UTC))
        early = {"household_id": hid, "cadre_id": wang, "valid_from": "2015-01-01"}
        problem = assert_problem(await registry.post("/pairings", json=early, headers=admin), 422)
        assert problem["code"] == "pairing_before_registration" and problem["field"] == "/valid_from"
        assert (await pair(registry, admin, hid, wang, "2015-03-01"))["valid_from"] == "2015-03-01"

    async def test_without_events_not_before_the_identification_year(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await registered_household(registry, clerk, db_urls)  # identified 2014, no registration event
        body = {"household_id": hid, "cadre_id": wang, "valid_from": "2013-12-31"}
        problem = assert_problem(await registry.post("/pairings", json=body, headers=admin), 422)
        assert problem["code"] == "pairing_before_registration"

    async def test_deactivating_the_only_cadre_needs_a_successor(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff")
        hid = await registered_household(registry, clerk, db_urls)
        pid = (await pair(registry, admin, hid, wang, "2015-03-01"))["id"]
        gaps_url = f"/pairings/gaps?region={COUNTY}"
        assert hid not in [g["id"] for g in (await registry.get(gaps_url, headers=admin)).json()["items"]]
        v1 = admin | {"If-Match": '"1"'}
        problem = assert_problem(
            await registry.patch(f"/cadres/{wang}", json={"active": False}, headers=v1), 409
        )
        assert problem["code"] == "deactivation_successor_required"
        assert (await registry.get(f"/cadres/{wang}", headers=admin)).json()["active"] is True
        stranger = {"active": False, "successors": [{"pairing_id": str(uuid.uuid4()), "cadre_id": li}]}
        problem = assert_problem(await registry.patch(f"/cadres/{wang}", json=stranger, headers=v1), 422)
        assert problem["code"] == "successor_pairing_unknown"

        handed = {"active": False, "successors": [{"pairing_id": pid, "cadre_id": li}]}
        done = await registry.patch(f"/cadres/{wang}", json=handed, headers=v1)
        assert done.status_code == 200, done.text
        assert done.json()["active"] is False
        history = (await registry.get(f"/households/{hid}/pairings", headers=admin)).json()["items"]
        ended = next(p for p in history if p["id"] == pid and p["superseded_at"] is None)
        assert ended["valid_to"] == str(TODAY) and ended["end_reason"] == "handover"
        successor = next(p for p in history if p["id"] == ended["successor_id"])
        assert successor["cadre_id"] == li and successor["valid_from"] == str(TODAY)
        assert hid not in [g["id"] for g in (await registry.get(gaps_url, headers=admin)).json()["items"]]

    async def test_an_inactive_cadre_leaves_a_gap(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        """A cadre deactivated before this guard (or in the database) no longer hides the household."""
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await registered_household(registry, clerk, db_urls)
        await pair(registry, admin, hid, wang, "2015-03-01")
        await sql(db_urls, "UPDATE registry_cadre SET active = false WHERE id = $1", uuid.UUID(wang))
        gaps = (await registry.get(f"/pairings/gaps?region={COUNTY}", headers=admin)).json()
        assert hid in [g["id"] for g in gaps["items"]]


def _plan(cadre_id: str, **item: Any) -> dict[str, Any]:
    return {
        "year_from": 2015,
        "year_to": 2016,
        "target_exit_year": 2016,
        "items": [
            {
                "measure": "breeding",
                "description": "养山羊 10 只",
                "responsible_cadre_id": cadre_id,
                "due_date": "2015-09-30",
                "cost_yuan": "5000.00",
                "funding_source": "credit",
                "funding_amount_yuan": "5000.00",
            }
            | item
        ],
    }


@pytestmark_routes
class TestPlanRoutes:
    async def test_no_plan_while_in_notice(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await create_household(registry, clerk)
        await set_household_status(db_urls, hid, "first_notice")
        url = f"/households/{hid}/help-plan"
        problem = assert_problem(await registry.put(url, json=_plan(wang), headers=clerk), 409)
        assert problem["code"] == "not_registered"

    async def test_funding_gap_signatory_and_cadre_scope(
        self,
        registry: httpx.AsyncClient,
        admin: Headers,
        clerk: Headers,
        db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:
        _, (wang,) = await unit_and_cadres(registry, admin, "staff")
        hid = await registered_household(registry, clerk, db_urls)
        url = f"/households/{hid}/help-plan"
        over = _plan(wang, funding_amount_yuan="9000.00")
        problem = assert_problem(await registry.put(url, json=over, headers=clerk), 422)
        assert problem["code"] == "funding_exceeds_cost"

        # A cadre of another township's unit (not paired with the household) is unknown to its plan.
        unit = await registry.post(
            "/helping-units",
            json={"name": "化峒镇农技站", "kind": "public_institution", "region_code": OTHER_TOWNSHIP},
            headers=admin,
        )
        assert unit.status_code == 201, unit.text
        far = await registry.post(
            "/cadres",
            json={"unit_id": unit.json()["id"], "name": "外县干部", "position_level": "staff"},
            headers=admin,
        )
        assert far.status_code == 201, far.text
        problem = assert_problem(await registry.put(url, json=_plan(far.json()["id"]), headers=clerk), 422)
        assert problem["code"] == "unknown_cadre"

        gap = await registry.put(url, json=_plan(wang, funding_amount_yuan="1.00"), headers=clerk)
        assert gap.status_code == 200, gap.text
        item = gap.json()["items"][0]
        assert item["funding_gap_yuan"] == "4999.00" and item["flags"] == ["funding_gap"]
        assert gap.json()["funding_gap_yuan"] == "4999.00"

        ack = {"version": 1, "signatory": "张三", "acknowledged_on": "2015-03-02"}
        problem = assert_problem(await registry.post(f"{url}/acknowledgement", json=ack, headers=clerk), 422)
        assert problem["code"] == "signatory_not_member" and problem["field"] == "/signatory"
        spouse = ack | {"signatory": "农秀兰"}
        done = await registry.post(f"{url}/acknowledgement", json=spouse, headers=clerk)
        assert done.status_code == 200, done.text
        assert done.json()["acknowledged"]["signatory"] == "农秀兰"


@pytestmark_routes
class TestPopulationRoutes:
    async def test_a_population_below_the_poor_people_is_refused(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        for _ in range(4):  # 4 registered households of 3 people: 12 poor people
            await registered_household(registry, clerk, db_urls)
        low = await put_population(registry, admin, VILLAGE, 2015, 3)
        problem = assert_problem(low, 409)
        assert problem["code"] == "population_below_poor" and problem["poor_people"] == 12
        before = await put_population(registry, admin, VILLAGE, 2013, 3)  # identified 2014: not yet counted
        assert before.status_code == 204, before.text
        assert_problem(await put_population(registry, admin, VILLAGE, 2015, 12, households=13), 422)
        few = assert_problem(await put_population(registry, admin, VILLAGE, 2015, 12, households=3), 409)
        assert few["code"] == "households_below_poor"
        ok = await put_population(registry, admin, VILLAGE, 2015, 12, households=4)
        assert ok.status_code == 204, ok.text

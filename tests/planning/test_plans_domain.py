"""Village plan rules (DOMAIN.md §5.1, §5.3, §5.4; invariants 12, 18, 40): the event-sourced approval chain, the
assembly's quorum and majority, amendments, targets, actuals and progress, the exit checklist. Pure."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.planning.indicators.domain import Direction, IndicatorDef, Unit
from services.planning.plans.domain import (
    Activation,
    Actor,
    Assembly,
    CheckResult,
    Closure,
    CountyApproval,
    Event,
    ExitItem,
    PlanState,
    PlanStatus,
    PlanStep,
    PlanType,
    ProgressState,
    Return,
    Target,
    TownshipReview,
    amendment_event,
    check_actuals,
    check_amendable,
    check_plan,
    decide,
    draft_event,
    evaluate_checklist,
    progress,
    replay,
    require_editable,
    supersede,
)
from shared.errors import DomainError, Invalid, NotAllowed, Refused
from shared.roles import Role

NOW = datetime(2015, 4, 1, 2, 0, tzinfo=UTC)
TODAY = date(2015, 4, 1)
CLERK = Actor("clerk", Role.village_officer)
TOWNSHIP = Actor("township", Role.township_officer)
COUNTY = Actor("county", Role.county_admin)
ASSEMBLY = Assembly(
    held_on=date(2015, 3, 20),
    representatives=45,
    present=38,
    votes_for=35,
    votes_against=2,
    votes_abstaining=1,
    minutes_ref="新民村[2015]3号",
)


def _at(events: list[Event]) -> PlanState:
    return replay(events)


def _walk(*steps: tuple[object, Actor], amends_active: bool = False) -> list[Event]:
    events = [draft_event(CLERK, NOW)]
    for step, actor in steps:
        events.append(decide(_at(events), step, actor, NOW, amends_active=amends_active))  # type: ignore[arg-type]
    return events


APPROVED = (
    (ASSEMBLY, CLERK),
    (TownshipReview("同意"), TOWNSHIP),
    (CountyApproval("靖政复[2015]12号"), COUNTY),
)


class TestChain:
    def test_draft_to_closed(self) -> None:
        events = _walk(*APPROVED, (Activation(), COUNTY), (Closure("规划期满"), COUNTY))
        assert [e.status_after for e in events] == [
            PlanStatus.draft,
            PlanStatus.village_approved,
            PlanStatus.township_reviewed,
            PlanStatus.county_approved,
            PlanStatus.active,
            PlanStatus.closed,
        ]
        assert events[1].data["votes_for"] == 35 and events[1].data["held_on"] == "2015-03-20"
        assert events[3].data["document_number"] == "靖政复[2015]12号"
        assert replay(events) == PlanState(PlanStatus.closed, 6, None)

    @pytest.mark.parametrize(
        ("done", "step", "actor"),
        [
            ((), TownshipReview(), TOWNSHIP),  # no assembly yet
            ((), CountyApproval(), COUNTY),  # township review skipped
            (APPROVED[:1], CountyApproval(), COUNTY),
            (APPROVED[:2], Activation(), COUNTY),  # not approved yet
            (APPROVED, Closure(), COUNTY),  # not active yet
            (APPROVED[:1], ASSEMBLY, CLERK),  # passed already
        ],
    )
    def test_no_step_is_skipped_or_repeated(
        self, done: tuple[tuple[object, Actor], ...], step: object, actor: Actor
    ) -> None:
        events = _walk(*done)
        with pytest.raises(Refused) as raised:
            decide(replay(events), step, actor, NOW)  # type: ignore[arg-type]
        assert raised.value.code == "step_out_of_order"

    @pytest.mark.parametrize(
        ("done", "step", "actor"),
        [
            ((), ASSEMBLY, TOWNSHIP),
            (APPROVED[:1], TownshipReview(), COUNTY),  # the county does not review for the township
            (APPROVED[:1], TownshipReview(), CLERK),
            (APPROVED[:2], CountyApproval(), TOWNSHIP),
            (APPROVED, Activation(), CLERK),
            ((), CountyApproval(), TOWNSHIP),  # the level is checked before the order
        ],
    )
    def test_only_the_assigned_level_acts(
        self, done: tuple[tuple[object, Actor], ...], step: object, actor: Actor
    ) -> None:
        with pytest.raises(NotAllowed) as raised:
            decide(replay(_walk(*done)), step, actor, NOW)  # type: ignore[arg-type]
        assert raised.value.code == "wrong_level"

    def test_the_reviewer_of_the_level_returns_it(self) -> None:
        events = _walk(APPROVED[0])
        with pytest.raises(NotAllowed):
            decide(replay(events), Return("数据不实"), COUNTY, NOW)  # waits for the township
        returned = decide(replay(events), Return("贫困人口数据与系统不符"), TOWNSHIP, NOW)
        assert (returned.step, returned.status_after, returned.reason) == (
            PlanStep.return_,
            PlanStatus.draft,
            "贫困人口数据与系统不符",
        )
        events = _walk(*APPROVED[:2])
        assert decide(replay(events), Return("预算不足"), COUNTY, NOW).status_after is PlanStatus.draft
        with pytest.raises(NotAllowed):
            decide(replay(events), Return("x"), TOWNSHIP, NOW)

    def test_nothing_to_return(self) -> None:
        with pytest.raises(Refused) as raised:
            decide(replay(_walk()), Return("x"), TOWNSHIP, NOW)
        assert raised.value.code == "step_out_of_order"
        with pytest.raises(Refused):
            decide(replay(_walk(*APPROVED)), Return("x"), COUNTY, NOW)  # approved: amend instead
        with pytest.raises(NotAllowed):
            decide(replay(_walk()), Return("x"), CLERK, NOW)

    def test_a_returned_plan_needs_a_new_assembly_after_the_return(self) -> None:
        events = _walk(APPROVED[0])
        events.append(decide(replay(events), Return("重新表决"), TOWNSHIP, datetime(2015, 3, 25, tzinfo=UTC)))
        state = replay(events)
        assert state.status is PlanStatus.draft and state.last_return_on == date(2015, 3, 25)
        with pytest.raises(Invalid) as raised:
            decide(state, ASSEMBLY, CLERK, NOW)  # held on 20 March, before the return
        assert raised.value.code == "assembly_before_return"
        again = Assembly(date(2015, 3, 28), 45, 40, 30, 5, 5)
        assert decide(state, again, CLERK, NOW).status_after is PlanStatus.village_approved

    def test_an_approved_amendment_of_an_active_plan_is_active(self) -> None:
        events = _walk(*APPROVED, amends_active=True)
        assert events[-1].status_after is PlanStatus.active


class TestAssembly:
    @pytest.mark.parametrize(
        ("present", "votes_for", "code"),
        [
            (29, 29, "assembly_quorum_not_met"),  # 29 of 45 < two thirds
            (30, 15, "assembly_not_passed"),  # half of those present is not more than half
            (30, 14, "assembly_not_passed"),
        ],
    )
    def test_quorum_and_majority(self, present: int, votes_for: int, code: str) -> None:
        step = Assembly(date(2015, 3, 20), 45, present, votes_for, 0, 0)
        with pytest.raises(Refused) as raised:
            decide(replay(_walk()), step, CLERK, NOW)
        assert raised.value.code == code

    def test_two_thirds_present_and_a_majority_pass(self) -> None:
        step = Assembly(date(2015, 3, 20), 45, 30, 16, 14, 0)
        assert decide(replay(_walk()), step, CLERK, NOW).status_after is PlanStatus.village_approved

    @pytest.mark.parametrize(
        "step",
        [
            Assembly(date(2015, 3, 20), 45, 46, 40, 0, 0),  # more present than members
            Assembly(date(2015, 3, 20), 45, 40, 30, 8, 3),  # more votes than present
            Assembly(date(2015, 3, 20), 0, 0, 0, 0, 0),
            Assembly(date(2015, 3, 20), 45, 40, 30, 0, 0, poor_household_representatives=41),
            Assembly(date(2015, 4, 2), 45, 40, 30, 0, 0),  # tomorrow
        ],
    )
    def test_impossible_counts_and_dates_are_invalid(self, step: Assembly) -> None:
        with pytest.raises(Invalid):
            decide(replay(_walk()), step, CLERK, NOW)


class TestAmendments:
    def test_only_an_approved_plan_in_force_is_amended_one_at_a_time(self) -> None:
        check_amendable(replay(_walk(*APPROVED)), open_amendment=False)
        with pytest.raises(Refused) as raised:
            check_amendable(replay(_walk(*APPROVED)), open_amendment=True)
        assert raised.value.code == "amendment_open"
        for done in ((), APPROVED[:2]):
            with pytest.raises(Refused) as raised:
                check_amendable(replay(_walk(*done)), open_amendment=False)
            assert raised.value.code == "plan_not_in_force"

    def test_an_amendment_starts_as_a_draft_naming_what_it_amends(self) -> None:
        event = amendment_event(CLERK, NOW, amends="p-1", reason="增加饮水项目")
        assert (event.step, event.status_after, event.data) == (
            PlanStep.amended,
            PlanStatus.draft,
            {"amends": "p-1"},
        )
        with pytest.raises(NotAllowed):
            amendment_event(TOWNSHIP, NOW, amends="p-1", reason="x")

    def test_supersession_retires_a_version_in_force(self) -> None:
        retired = supersede(replay(_walk(*APPROVED)), COUNTY, NOW, by="p-2")
        assert (retired.status_after, retired.data) == (PlanStatus.superseded, {"by": "p-2"})
        with pytest.raises(Refused):
            supersede(
                replay(_walk(*APPROVED, (Activation(), COUNTY), (Closure(), COUNTY))), COUNTY, NOW, by="p-2"
            )

    def test_an_approved_plan_is_never_edited(self) -> None:
        require_editable(PlanStatus.draft)
        with pytest.raises(Refused) as raised:
            require_editable(PlanStatus.active)
        assert raised.value.code == "plan_not_draft" and "amend" in raised.value.message


CATALOGUE = {
    "poverty_incidence": IndicatorDef("poverty_incidence", Unit.percent, Direction.decrease),
    "per_capita_net_income": IndicatorDef("per_capita_net_income", Unit.yuan, Direction.increase),
    "village_clinic": IndicatorDef("village_clinic", Unit.bool, Direction.increase),
}
INCIDENCE = Target(
    "poverty_incidence", Unit.percent, Direction.decrease, Decimal("19.9"), 2014, Decimal("3.9"), 2016
)
INCOME = Target(
    "per_capita_net_income", Unit.yuan, Direction.increase, Decimal(5463), 2014, Decimal(6000), 2016
)


def _with(target: Target, **changes: Any) -> Target:
    return dataclasses.replace(target, **changes)


class TestTargets:
    def test_a_valid_plan(self) -> None:
        check_plan(PlanType.exit, 2015, 2016, [INCIDENCE, INCOME], CATALOGUE)

    @pytest.mark.parametrize(
        ("targets", "code", "pointer"),
        [
            ([INCIDENCE, INCIDENCE], "indicator_repeated", "/targets/1/indicator_code"),
            ([_with(INCIDENCE, indicator_code="no_such")], "indicator_unknown", "/targets/0/indicator_code"),
            ([_with(INCIDENCE, unit=Unit.people)], "unit_mismatch", "/targets/0/unit"),
            ([_with(INCIDENCE, direction=Direction.increase)], "direction_mismatch", "/targets/0/direction"),
            ([_with(INCIDENCE, target_value=Decimal(120))], "value_out_of_range", "/targets/0/target/value"),
            ([_with(INCIDENCE, baseline_year=2017)], "baseline_after_target", "/targets/0/baseline/year"),
            (
                [_with(INCIDENCE, target_year=2018, baseline_year=2014)],
                "target_outside_horizon",
                "/targets/0/target/year",
            ),
            ([_with(INCIDENCE, target_year=2014)], "target_outside_horizon", "/targets/0/target/year"),
            (
                [_with(INCIDENCE, target_value=Decimal(25))],
                "target_against_direction",
                "/targets/0/target/value",
            ),
            (
                [_with(INCOME, target_value=Decimal(5000))],
                "target_against_direction",
                "/targets/0/target/value",
            ),
            (
                [_with(INCOME, target_value=Decimal("6000.001"))],
                "value_out_of_range",
                "/targets/0/target/value",
            ),
        ],
    )
    def test_invariant_40(self, targets: list[Target], code: str, pointer: str) -> None:
        with pytest.raises(Invalid) as raised:
            check_plan(PlanType.exit, 2015, 2016, targets, CATALOGUE)
        assert (raised.value.code, raised.value.details["pointer"]) == (code, pointer)

    @pytest.mark.parametrize(
        ("plan_type", "start", "end", "code"),
        [
            (PlanType.exit, 2016, 2015, "horizon_reversed"),
            (PlanType.development, 2015, 2025, "horizon_too_long"),
            (PlanType.annual, 2015, 2016, "annual_plan_one_year"),
        ],
    )
    def test_the_horizon(self, plan_type: PlanType, start: int, end: int, code: str) -> None:
        with pytest.raises(Invalid) as raised:
            check_plan(plan_type, start, end, [], CATALOGUE)
        assert raised.value.code == code


class TestActualsAndProgress:
    def test_actuals_of_a_plan_in_force(self) -> None:
        targets = {"poverty_incidence": INCIDENCE}
        check_actuals(
            PlanStatus.active,
            2015,
            [("poverty_incidence", Decimal("9.5"))],
            targets,
            role=Role.village_officer,
            today=TODAY,
        )
        cases: list[tuple[PlanStatus, int, list[tuple[str, Decimal]], Role, type[DomainError], str]] = [
            (PlanStatus.draft, 2015, [("poverty_incidence", Decimal(9))], Role.village_officer, Refused, "plan_not_in_force"),
            (PlanStatus.active, 2016, [("poverty_incidence", Decimal(9))], Role.village_officer, Invalid, "actual_in_future"),
            (PlanStatus.active, 2013, [("poverty_incidence", Decimal(9))], Role.village_officer, Invalid, "actual_before_baseline"),
            (PlanStatus.active, 2015, [("village_clinic", Decimal(1))], Role.village_officer, Invalid, "indicator_not_in_plan"),
            (PlanStatus.active, 2015, [("poverty_incidence", Decimal(101))], Role.village_officer, Invalid, "value_out_of_range"),
            (PlanStatus.active, 2015, [("poverty_incidence", Decimal(9))] * 2, Role.village_officer, Invalid, "indicator_repeated"),
            (PlanStatus.active, 2015, [("poverty_incidence", Decimal(9))], Role.township_officer, NotAllowed, "actual_recorder_required"),
        ]  # fmt: skip
        for status, year, values, role, error, code in cases:
            with pytest.raises(error) as raised:
                check_actuals(status, year, values, targets, role=role, today=TODAY)
            assert raised.value.code == code

    @pytest.mark.parametrize(
        ("target", "actual", "state", "percent"),
        [
            (INCIDENCE, None, ProgressState.no_data, None),
            (INCIDENCE, "19.9", ProgressState.in_progress, "0.00"),
            (INCIDENCE, "11.9", ProgressState.in_progress, "50.00"),  # half way from 19.9 down to 3.9
            (INCIDENCE, "3.9", ProgressState.met, "100.00"),
            (INCIDENCE, "2", ProgressState.met, "100.00"),
            (INCIDENCE, "25", ProgressState.regressed, "0.00"),
            (INCOME, "5731.5", ProgressState.in_progress, "50.00"),
            (INCOME, "7000", ProgressState.met, "100.00"),
            (INCOME, "5000", ProgressState.regressed, "0.00"),
        ],
    )
    def test_progress_is_direction_aware_and_capped(
        self, target: Target, actual: str | None, state: ProgressState, percent: str | None
    ) -> None:
        found = progress(target, None if actual is None else Decimal(actual))
        assert found.state is state
        assert found.percent == (None if percent is None else Decimal(percent))

    def test_a_yes_no_target(self) -> None:
        clinic = Target("village_clinic", Unit.bool, Direction.increase, Decimal(0), 2014, Decimal(1), 2016)
        assert progress(clinic, Decimal(0)).state is ProgressState.in_progress
        assert progress(clinic, Decimal(1)).state is ProgressState.met


HAVE_ALL = {
    "village_road_connected": Decimal(1),
    "safe_drinking_water_rate": Decimal(100),
    "household_electricity": Decimal(1),
    "village_clinic": Decimal(1),
    "village_culture_room": Decimal(1),
    "broadband_to_households": Decimal(1),
}


def _checklist(**overrides: object) -> dict[ExitItem | str, CheckResult]:
    """The result of every item, and the checklist's under "overall"."""
    arguments: dict[str, object] = {
        "incidence": Decimal("2.50"),
        "incidence_source": "registry",
        "incidence_max": Decimal("4.00"),
        "collective_income": Decimal("8000.00"),
        "collective_income_source": "indicator:collective_income",
        "collective_income_min": Decimal(8000),
        "actuals": HAVE_ALL,
    }
    arguments.update(overrides)
    found = evaluate_checklist(**arguments)  # type: ignore[arg-type]
    assert [i.item for i in found.items] == list(ExitItem)  # one low, seven haves, in order
    results: dict[ExitItem | str, CheckResult] = {i.item: i.result for i in found.items}
    results["overall"] = found.result
    return results


class TestExitChecklist:
    def test_every_item_met(self) -> None:
        found = _checklist()
        assert set(found.values()) == {CheckResult.met}

    def test_f5_incidence_is_far_above_four_percent(self) -> None:
        found = _checklist(incidence=Decimal("19.88"))
        assert found[ExitItem.low_incidence] is CheckResult.not_met
        assert found["overall"] is CheckResult.not_met

    def test_incidence_is_strictly_below_the_threshold(self) -> None:
        assert _checklist(incidence=Decimal("4.00"))[ExitItem.low_incidence] is CheckResult.not_met
        assert _checklist(incidence=Decimal("3.99"))[ExitItem.low_incidence] is CheckResult.met

    def test_unset_thresholds_and_missing_figures_are_unknown(self) -> None:
        found = _checklist(collective_income_min=None, incidence=None)
        assert found[ExitItem.collective_income] is CheckResult.unknown
        assert found[ExitItem.low_incidence] is CheckResult.unknown
        assert found["overall"] is CheckResult.unknown
        missing = _checklist(actuals={k: v for k, v in HAVE_ALL.items() if k != "village_clinic"})
        assert missing[ExitItem.clinic] is CheckResult.unknown

    def test_the_seven_haves_from_the_actuals(self) -> None:
        no_clinic = _checklist(actuals={**HAVE_ALL, "village_clinic": Decimal(0)})
        assert no_clinic[ExitItem.clinic] is CheckResult.not_met
        water = _checklist(actuals={**HAVE_ALL, "safe_drinking_water_rate": Decimal(99)})
        assert water[ExitItem.drinking_water] is CheckResult.not_met
        by_rate = {k: v for k, v in HAVE_ALL.items() if k != "village_road_connected"}
        assert (
            _checklist(actuals={**by_rate, "village_road_access_rate": Decimal(100)})[ExitItem.road]
            is CheckResult.met
        )
        grid = {k: v for k, v in HAVE_ALL.items() if k != "household_electricity"}
        assert (
            _checklist(actuals={**grid, "grid_upgrade": Decimal(1)})[ExitItem.electricity] is CheckResult.met
        )

    def test_items_carry_their_figures_and_thresholds(self) -> None:
        found = evaluate_checklist(
            incidence=Decimal("19.88"),
            incidence_source="registry",
            incidence_max=Decimal("4.00"),
            collective_income=None,
            collective_income_source=None,
            collective_income_min=Decimal(8000),
            actuals={},
        )
        low = found.items[0]
        assert (low.figure, low.threshold, low.comparison, low.source) == (
            Decimal("19.88"),
            Decimal("4.00"),
            "<",
            "registry",
        )
        assert found.items[1].result is CheckResult.unknown and "no collective income" in found.items[1].note


def test_replay_needs_a_history() -> None:
    with pytest.raises(ValueError):
        replay([])


def test_a_return_is_dated_in_china() -> None:
    late = datetime(2015, 3, 24, 17, 0, tzinfo=UTC)  # already 25 March in China
    events = _walk(APPROVED[0])
    events.append(decide(replay(events), Return("x"), TOWNSHIP, late))
    assert replay(events).last_return_on == date(2015, 3, 25)

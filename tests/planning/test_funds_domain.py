"""Money rules (services/planning/funds/domain.py): fen, allocations, lines and the funding gap, earmarking, the
ledger and line transfers — no database."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from services.planning.funds import domain
from services.planning.funds.domain import DisbursementStage, FundingSource, LedgerKind
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import lookup
from shared.roles import Role

TODAY = date(2015, 6, 30)
PROJECT = uuid.uuid4()


def project(
    status: str = "approved", category: str = "road", budget: int = 175_000_000
) -> domain.ProjectFacts:
    return domain.ProjectFacts(
        id=PROJECT,
        village_code="451025100201",
        category=category,
        budget_fen=budget,
        status=status,
        starts_on=date(2015, 3, 1),
    )


def line(
    committed: int = 88_000_000, received: int = 0, disbursed: int = 0, source: str = "sector_department_fund"
) -> domain.LineFacts:
    return domain.LineFacts(
        id=uuid.uuid4(),
        project_id=PROJECT,
        source=source,
        allocation_id=None,
        committed_fen=committed,
        received_fen=received,
        disbursed_fen=disbursed,
        drawn=False,
    )


def allocation(amount: int = 100_000_00, drawn: int = 0, **kw: object) -> domain.AllocationFacts:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "county_code": "451025000000",
        "year": 2015,
        "source": "fiscal_special_poverty_fund",
        "document_number": "靖财农2015-12",
        "amount_fen": amount,
        "drawn_fen": drawn,
    }
    values.update(kw)
    return domain.AllocationFacts(**values)  # type: ignore[arg-type]


class TestCodeLists:
    def test_funding_sources_match_the_shipped_earmark_matrix(self) -> None:
        from importlib import import_module

        catalogue = import_module("services.planning.migrations.versions.2026_12_02_0003_planning_catalogues")
        assert [s.value for s in FundingSource] == catalogue.SOURCES
        assert all(s.label for s in FundingSource)

    def test_registered_with_zh_labels(self) -> None:
        for name in ("planning_funding_source", "planning_disbursement_stage", "planning_ledger_kind"):
            found = lookup(name)
            assert found is not None and found.label
        assert DisbursementStage.completion.label == "竣工结算款"


class TestMoney:
    def test_yuan_to_fen_exactly(self) -> None:
        assert domain.fen(Decimal("1750000.00")) == 175_000_000
        assert domain.fen(Decimal("0.01")) == 1
        assert domain.yuan(175_000_000) == Decimal("1750000.00")
        assert domain.yuan_text(5) == "0.05"

    def test_a_fraction_of_a_fen_is_invalid(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.fen(Decimal("0.005"))
        assert caught.value.code == "fraction_of_fen"

    def test_moving_money_is_positive(self) -> None:
        with pytest.raises(Invalid):
            domain.require_positive(0)


class TestWho:
    def test_only_county_admins_keep_the_books(self) -> None:
        domain.require_role(Role.county_admin, domain.MONEY_KEEPERS, "record money")
        for role in (Role.township_officer, Role.village_officer, Role.cadre, Role.province_system):
            with pytest.raises(NotAllowed):
                domain.require_role(role, domain.MONEY_KEEPERS, "record money")

    def test_cadres_do_not_read_the_books(self) -> None:
        assert Role.cadre not in domain.MONEY_READERS
        assert Role.province_system in domain.MONEY_READERS

    def test_allocations_belong_to_counties(self) -> None:
        domain.check_county("451025000000")
        with pytest.raises(Invalid):
            domain.check_county("451025100201")
        assert domain.county_of("451025100201") == "451025000000"


class TestAllocations:
    def test_a_draw_within_the_allocation(self) -> None:
        domain.check_draw(allocation(amount=1000, drawn=400), 600)

    def test_overspending_is_refused_with_the_figures(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.check_draw(allocation(amount=1000, drawn=400), 601)
        assert caught.value.code == "allocation_exceeded"
        assert caught.value.details["remaining_yuan"] == "6.00"
        assert caught.value.details["commitment_yuan"] == "6.01"

    def test_a_line_draws_on_its_county_source_and_year(self) -> None:
        p = project()
        domain.check_allocation_link(p, "fiscal_special_poverty_fund", allocation())
        cases = {
            "allocation_other_county": allocation(county_code="451026000000"),
            "allocation_source_mismatch": allocation(source="credit"),
            "allocation_year_mismatch": allocation(year=2014),
        }
        for code, other in cases.items():
            with pytest.raises(Refused) as caught:
                domain.check_allocation_link(p, "fiscal_special_poverty_fund", other)
            assert caught.value.code == code

    def test_an_unscheduled_project_has_no_year(self) -> None:
        p = domain.ProjectFacts(PROJECT, "451025100201", "road", 100, "draft", None)
        with pytest.raises(Refused) as caught:
            domain.check_allocation_link(p, "fiscal_special_poverty_fund", allocation())
        assert caught.value.code == "project_unscheduled"

    def test_release_only_before_money_arrived(self) -> None:
        domain.release(line())
        with pytest.raises(Refused) as caught:
            domain.release(line(received=1))
        assert caught.value.code == "money_on_line"


class TestFundingLines:
    def test_f5_road_is_fully_funded(self) -> None:
        lines = [line(88_000_000), line(65_000_000), line(22_000_000)]
        totals = domain.funding_totals(175_000_000, lines)
        assert totals.committed_fen == 175_000_000
        assert totals.funding_gap_fen == 0 and totals.flags == []

    def test_a_shortfall_is_shown_as_the_funding_gap(self) -> None:
        totals = domain.funding_totals(40_000_000, [line(20_000_000)])  # F5's water: the bureau's 200,000
        assert totals.funding_gap_fen == 20_000_000
        assert totals.flags == ["funding_gap"]

    def test_commitments_never_exceed_the_budget(self) -> None:
        domain.check_commitments(project(budget=100), 60, 40)
        with pytest.raises(Refused) as caught:
            domain.check_commitments(project(budget=100), 60, 41)
        assert caught.value.code == "over_budget"

    def test_a_project_has_a_bounded_number_of_lines(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.check_commitments(project(), 0, 1, line_count=domain.MAX_LINES_PER_PROJECT + 1)
        assert caught.value.code == "too_many_lines"

    def test_the_split_freezes_on_approval(self) -> None:
        domain.check_lines_editable(project("draft"))
        with pytest.raises(Refused) as caught:
            domain.check_lines_editable(project("approved"))
        assert caught.value.code == "project_approved"

    def test_disbursement_rate(self) -> None:
        totals = domain.funding_totals(300, [line(300, 300, 100)])
        assert totals.disbursement_rate == Decimal("33.33")
        assert domain.funding_totals(0, []).disbursement_rate == Decimal("0.00")


class TestEarmarking:
    def test_county_overrides_replace_defaults(self) -> None:
        defaults = {("credit", "road"): False, ("credit", "finance"): True}
        cells = domain.effective_matrix(defaults, {("credit", "road"): True})
        assert [(c.category, c.allowed, c.origin) for c in cells] == [
            ("road", True, domain.EarmarkOrigin.county),
            ("finance", True, domain.EarmarkOrigin.default),
        ]

    def test_a_source_that_may_not_pay_the_category_is_refused(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.check_earmark("interest_subsidy", "road", False)
        assert caught.value.code == "not_earmarked"
        with pytest.raises(Refused):
            domain.check_earmark("unknown", "road", None)


class TestLedger:
    def test_receipt_up_to_the_commitment(self) -> None:
        state = domain.receipt(project(), line(100), 100, TODAY, TODAY)
        assert state.received_fen == 100
        with pytest.raises(Refused) as caught:
            domain.receipt(project(), line(100, received=50), 51, TODAY, TODAY)
        assert caught.value.code == "receipt_exceeds_commitment"

    def test_money_moves_only_on_an_approved_project(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.receipt(project("township_reviewed"), line(100), 10, TODAY, TODAY)
        assert caught.value.code == "project_not_approved"

    def test_no_entry_dated_in_the_future(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.receipt(project(), line(100), 10, date(2015, 7, 1), TODAY)
        assert caught.value.code == "date_in_future"

    def _pay(
        self,
        ln: domain.LineFacts,
        amount: int,
        stage: DisbursementStage = DisbursementStage.progress,
        **kw: object,
    ) -> domain.LineState:
        options: dict[str, object] = {"earmarked": True, "acceptance_passed": None}
        options.update(kw)
        return domain.disbursement(project(), ln, amount, stage, TODAY, TODAY, **options)  # type: ignore[arg-type]

    def test_disbursed_never_exceeds_received(self) -> None:
        assert self._pay(line(100, 60), 60).disbursed_fen == 60
        with pytest.raises(Refused) as caught:
            self._pay(line(100, 60, 10), 51)
        assert caught.value.code == "disbursement_exceeds_receipts"

    def test_not_earmarked(self) -> None:
        with pytest.raises(Refused) as caught:
            self._pay(line(100, 100), 10, earmarked=False)
        assert caught.value.code == "not_earmarked"

    def test_completion_needs_a_passed_acceptance(self) -> None:
        for passed in (None, False):
            with pytest.raises(Refused) as caught:
                self._pay(line(100, 100), 10, DisbursementStage.completion, acceptance_passed=passed)
            assert caught.value.code == "acceptance_required"
        assert (
            self._pay(line(100, 100), 10, DisbursementStage.retention, acceptance_passed=True).disbursed_fen
            == 10
        )

    def _entry(
        self, kind: LedgerKind = LedgerKind.receipt, amount: int = 50, reverses: int | None = None
    ) -> domain.LedgerEntryFacts:
        return domain.LedgerEntryFacts(1, uuid.uuid4(), kind, amount, reverses, date(2015, 6, 1))

    def test_a_reversal_is_the_negative_of_the_entry(self) -> None:
        assert domain.reversal(self._entry(), line(100, 50), TODAY, TODAY, already_reversed=False) == -50

    def test_at_most_once_and_never_of_a_reversal(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.reversal(self._entry(), line(100, 50), TODAY, TODAY, already_reversed=True)
        assert caught.value.code == "already_reversed"
        with pytest.raises(Refused) as caught:
            domain.reversal(
                self._entry(amount=-50, reverses=3), line(100, 50), TODAY, TODAY, already_reversed=False
            )
        assert caught.value.code == "reversal_of_reversal"

    def test_a_reversed_receipt_never_leaves_more_paid_than_received(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.reversal(self._entry(amount=50), line(100, 80, 40), TODAY, TODAY, already_reversed=False)
        assert caught.value.code == "reversal_below_disbursed"
        # a reversed disbursement only lowers what was paid
        assert (
            domain.reversal(
                self._entry(LedgerKind.disbursement, 40),
                line(100, 80, 40),
                TODAY,
                TODAY,
                already_reversed=False,
            )
            == -40
        )

    def test_a_reversal_is_dated_between_the_entry_and_today(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.reversal(self._entry(), line(100, 50), date(2015, 5, 31), TODAY, already_reversed=False)
        assert caught.value.code == "reversal_before_entry"


class TestTransfers:
    def test_commitment_moves_and_the_sum_stays(self) -> None:
        a, b = line(100, 30), line(50)
        moved = domain.transfer(project(), a, b, 70, target_earmarked=True)
        assert (moved.from_committed_fen, moved.to_committed_fen) == (30, 120)

    def test_never_below_what_the_line_received(self) -> None:
        with pytest.raises(Refused) as caught:
            domain.transfer(project(), line(100, 30), line(50), 71, target_earmarked=True)
        assert caught.value.code == "below_received"

    def test_between_two_lines_of_the_project_earmarked_for_it(self) -> None:
        a = line(100)
        with pytest.raises(Invalid):
            domain.transfer(project(), a, a, 10, target_earmarked=True)
        other = domain.LineFacts(uuid.uuid4(), uuid.uuid4(), "credit", None, 10, 0, 0, False)
        with pytest.raises(Invalid):
            domain.transfer(project(), a, other, 10, target_earmarked=True)
        with pytest.raises(Refused) as caught:
            domain.transfer(project(), a, line(10), 10, target_earmarked=False)
        assert caught.value.code == "not_earmarked"

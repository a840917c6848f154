"""The checking chain's rules (DOMAIN.md §6.3, R11, R13-R15) and the manual entries' (invariant 44), with no
database: levels and scopes, who may create, report and review, the lifecycle, the deterministic draw, finding
subjects, deadlines and overdue, what the inspection metrics count, and manual values in their metric's unit."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from services.assessment.inspections import domain
from services.assessment.inspections.domain import (
    DEFAULT_RATE,
    FINDING_COUNTS,
    FindingCategory,
    FindingStatus,
    FindingSubjectType,
    InspectionLevel,
    InspectionStatus,
    OwnerKind,
    RectificationStatus,
    SamplingUnit,
)
from services.assessment.manual_scores import domain as manual
from services.assessment.metrics.domain import CATALOGUE, MetricSource, SubjectType
from shared.errors import DomainError, Invalid, Missing, NotAllowed, Refused
from shared.roles import Principal, RegionLevel, Role
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PREFECTURE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
)

TODAY = date(2016, 6, 1)


def who(role: Role, region: str, sub: str = "u-1") -> Principal:
    return Principal(sub=sub, role=role, region=region)


def pointer(exc: DomainError) -> str:
    errors = exc.details["errors"]
    assert len(errors) == 1
    return str(errors[0]["pointer"])


# -- regions and levels -----------------------------------------------------------------------------------------
class TestRegions:
    def test_region_at_a_level(self) -> None:
        assert domain.region_at(VILLAGE, RegionLevel.township) == TOWNSHIP
        assert domain.region_at(VILLAGE, RegionLevel.county) == COUNTY
        assert domain.region_at(TOWNSHIP, RegionLevel.prefecture) == PREFECTURE
        assert domain.region_at(COUNTY, RegionLevel.township) is None  # a county is above any township
        assert domain.region_at("469001000000", RegionLevel.prefecture) == "469000000000"

    def test_owner_region_of_each_level(self) -> None:
        assert domain.owner_region(InspectionLevel.county, VILLAGE) == COUNTY
        assert domain.owner_region(InspectionLevel.township, TOWNSHIP) == TOWNSHIP
        assert domain.owner_region(InspectionLevel.city, COUNTY) == PREFECTURE
        assert domain.owner_region(InspectionLevel.province, COUNTY) == PROVINCE

    def test_a_township_does_not_check_a_county(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.owner_region(InspectionLevel.township, COUNTY)
        assert caught.value.code == "scope_above_level" and pointer(caught.value) == "/region_code"

    def test_child_region_of_a_summary(self) -> None:
        assert domain.child_region(COUNTY, VILLAGE) == TOWNSHIP
        assert domain.child_region(TOWNSHIP, VILLAGE) == VILLAGE
        assert domain.child_region(COUNTY, COUNTY) == COUNTY
        assert domain.child_region(PROVINCE, VILLAGE) == PREFECTURE

    def test_year_range(self) -> None:
        domain.check_year(2016, TODAY)
        for year in (2012, 2017):
            with pytest.raises(Invalid) as caught:
                domain.check_year(year, TODAY)
            assert pointer(caught.value) == "/year"


# -- who may ----------------------------------------------------------------------------------------------------
class TestWhoMay:
    def test_the_levels_own_officers_create(self) -> None:
        assert (
            domain.require_creator(who(Role.county_admin, COUNTY), InspectionLevel.county, TOWNSHIP) == COUNTY
        )
        assert (
            domain.require_creator(who(Role.township_officer, TOWNSHIP), InspectionLevel.township, VILLAGE)
            == TOWNSHIP
        )

    @pytest.mark.parametrize("level", list(InspectionLevel))
    def test_the_province_client_creates_nothing(self, level: InspectionLevel) -> None:
        """Invariant 48: the provincial client is read-only — no inspection of any level, province and city
        included (no role creates those yet)."""
        with pytest.raises(NotAllowed) as caught:
            domain.require_creator(who(Role.province_system, PROVINCE), level, VILLAGE)
        assert caught.value.code == "inspection_creator_required"
        assert domain.LEVEL_CREATORS[InspectionLevel.province] is None
        assert domain.LEVEL_CREATORS[InspectionLevel.city] is None

    def test_the_province_client_reads_as_the_checking_side_but_never_writes(self) -> None:
        province = who(Role.province_system, PROVINCE)
        township_check = (InspectionLevel.township, TOWNSHIP)
        assert domain.is_owner_side(province, *township_check)  # it sees the sample
        assert not domain.acts_for_checking_side(province, *township_check)
        assert domain.acts_for_checking_side(who(Role.county_admin, COUNTY), *township_check)
        with pytest.raises(NotAllowed) as reporting:
            domain.require_reporter(province, *township_check, [province.sub])
        assert reporting.value.code == "inspector_required"
        with pytest.raises(NotAllowed) as reviewing:
            domain.require_reviewer(province, *township_check, "someone-else")
        assert reviewing.value.code == "reviewer_level_required"
        with pytest.raises(NotAllowed) as ordering:
            domain.require_rectification_reviewer(province, *township_check, None)
        assert ordering.value.code == "rectification_reviewer_required"

    @pytest.mark.parametrize(
        ("role", "region", "level"),
        [
            (Role.township_officer, TOWNSHIP, InspectionLevel.county),
            (Role.county_admin, COUNTY, InspectionLevel.township),
            (Role.county_admin, COUNTY, InspectionLevel.province),
            (Role.village_officer, VILLAGE, InspectionLevel.township),
            (Role.cadre, COUNTY, InspectionLevel.county),
        ],
    )
    def test_another_role_is_refused(self, role: Role, region: str, level: InspectionLevel) -> None:
        with pytest.raises(NotAllowed) as caught:
            domain.require_creator(who(role, region), level, VILLAGE)
        assert caught.value.code == "inspection_creator_required"

    def test_a_region_outside_is_missing(self) -> None:
        with pytest.raises(Missing):
            domain.require_creator(who(Role.county_admin, OTHER_COUNTY), InspectionLevel.county, VILLAGE)
        with pytest.raises(Missing):
            domain.require_creator(
                who(Role.township_officer, OTHER_TOWNSHIP), InspectionLevel.township, VILLAGE
            )

    def test_the_checking_side_is_the_level_or_above(self) -> None:
        township_check = (InspectionLevel.township, TOWNSHIP)
        assert domain.is_owner_side(who(Role.township_officer, TOWNSHIP), *township_check)
        assert domain.is_owner_side(who(Role.county_admin, COUNTY), *township_check)
        assert domain.is_owner_side(who(Role.province_system, PROVINCE), *township_check)
        assert not domain.is_owner_side(who(Role.township_officer, OTHER_TOWNSHIP), *township_check)
        assert not domain.is_owner_side(who(Role.village_officer, VILLAGE), *township_check)
        county_check = (InspectionLevel.county, COUNTY)
        assert not domain.is_owner_side(who(Role.township_officer, TOWNSHIP), *county_check)
        assert not domain.is_owner_side(who(Role.county_admin, OTHER_COUNTY), *county_check)

    def test_inspectors_and_the_checking_side_report(self) -> None:
        domain.require_reporter(who(Role.cadre, COUNTY, "insp"), InspectionLevel.county, COUNTY, ["insp"])
        domain.require_reporter(who(Role.county_admin, COUNTY), InspectionLevel.county, COUNTY, [])
        with pytest.raises(NotAllowed) as caught:
            domain.require_reporter(
                who(Role.village_officer, VILLAGE), InspectionLevel.county, COUNTY, ["insp"]
            )
        assert caught.value.code == "inspector_required"

    def test_a_second_person_reviews(self) -> None:
        domain.require_reviewer(
            who(Role.township_officer, TOWNSHIP, "b"), InspectionLevel.township, TOWNSHIP, "a"
        )
        domain.require_reviewer(who(Role.county_admin, COUNTY, "c"), InspectionLevel.township, TOWNSHIP, "a")
        with pytest.raises(NotAllowed) as caught:
            domain.require_reviewer(
                who(Role.township_officer, TOWNSHIP, "a"), InspectionLevel.township, TOWNSHIP, "a"
            )
        assert caught.value.code == "second_person_required"
        with pytest.raises(NotAllowed) as caught:
            domain.require_reviewer(
                who(Role.township_officer, TOWNSHIP, "b"), InspectionLevel.county, COUNTY, "a"
            )
        assert caught.value.code == "reviewer_level_required"

    def test_the_owner_answers_a_rectification(self) -> None:
        domain.require_rectification_answerer(who(Role.cadre, COUNTY, "x"), OwnerKind.user, "x", None)
        domain.require_rectification_answerer(
            who(Role.village_officer, VILLAGE), OwnerKind.region_office, VILLAGE, None
        )
        domain.require_rectification_answerer(
            who(Role.cadre, COUNTY, "liaison"), OwnerKind.helping_unit, "u", "liaison"
        )
        for principal in (who(Role.township_officer, TOWNSHIP), who(Role.province_system, PROVINCE)):
            with pytest.raises(NotAllowed):
                domain.require_rectification_answerer(principal, OwnerKind.region_office, VILLAGE, None)


# -- the lifecycle ----------------------------------------------------------------------------------------------
class TestLifecycle:
    def test_start_close_and_findings(self) -> None:
        domain.check_startable(InspectionStatus.planned)
        with pytest.raises(Refused):
            domain.check_startable(InspectionStatus.in_progress)
        domain.check_closable(InspectionStatus.in_progress, 0)
        with pytest.raises(Refused) as caught:
            domain.check_closable(InspectionStatus.in_progress, 2)
        assert caught.value.code == "findings_unreviewed" and caught.value.details["unreviewed"] == 2
        with pytest.raises(Refused):
            domain.check_closable(InspectionStatus.planned, 0)
        domain.check_takes_findings(InspectionStatus.in_progress)
        for status, code in (
            (InspectionStatus.planned, "inspection_not_started"),
            (InspectionStatus.closed, "inspection_closed"),
        ):
            with pytest.raises(Refused) as caught:
                domain.check_takes_findings(status)
            assert caught.value.code == code

    def test_editing(self) -> None:
        domain.check_editable(InspectionStatus.planned, sampling=True)
        domain.check_editable(InspectionStatus.in_progress, sampling=False)
        with pytest.raises(Refused):
            domain.check_editable(InspectionStatus.in_progress, sampling=True)
        with pytest.raises(Refused):
            domain.check_editable(InspectionStatus.closed, sampling=False)

    def test_finding_review(self) -> None:
        assert domain.confirm(FindingStatus.reported) is FindingStatus.confirmed
        assert domain.dismiss(FindingStatus.reported) is FindingStatus.dismissed
        assert domain.dismiss(FindingStatus.confirmed) is FindingStatus.dismissed
        with pytest.raises(Refused):
            domain.confirm(FindingStatus.confirmed)
        with pytest.raises(Refused):
            domain.dismiss(FindingStatus.dismissed)

    def test_rectification_steps(self) -> None:
        assert domain.check_submittable(RectificationStatus.open) is RectificationStatus.submitted
        assert domain.check_submittable(RectificationStatus.reopened) is RectificationStatus.submitted
        assert domain.check_reopen(RectificationStatus.submitted) is RectificationStatus.reopened
        with pytest.raises(Refused):
            domain.check_submittable(RectificationStatus.accepted)
        with pytest.raises(Refused):
            domain.check_reviewable(RectificationStatus.open)
        domain.check_rectifiable(FindingStatus.confirmed, unfinished=False)
        with pytest.raises(Refused) as caught:
            domain.check_rectifiable(FindingStatus.reported, unfinished=False)
        assert caught.value.code == "finding_not_confirmed"
        with pytest.raises(Refused) as caught:
            domain.check_rectifiable(FindingStatus.confirmed, unfinished=True)
        assert caught.value.code == "rectification_open"

    def test_deadline_after_the_finding_and_overdue(self) -> None:
        domain.check_deadline(date(2016, 7, 1), found_on=date(2016, 5, 20), today=TODAY)
        with pytest.raises(Invalid) as caught:
            domain.check_deadline(date(2016, 5, 20), found_on=date(2016, 5, 20), today=date(2016, 5, 20))
        assert caught.value.code == "deadline_not_after_finding" and pointer(caught.value) == "/deadline"
        with pytest.raises(Invalid) as caught:
            domain.check_deadline(date(2016, 5, 30), found_on=date(2016, 5, 20), today=TODAY)
        assert caught.value.code == "deadline_past"
        assert domain.is_overdue(RectificationStatus.open, date(2016, 5, 31), TODAY)
        assert domain.is_overdue(RectificationStatus.reopened, date(2016, 5, 31), TODAY)
        assert not domain.is_overdue(RectificationStatus.open, TODAY, TODAY)  # due today: not late yet
        assert not domain.is_overdue(RectificationStatus.submitted, date(2016, 5, 1), TODAY)
        assert not domain.is_overdue(RectificationStatus.accepted, date(2016, 5, 1), TODAY)
        assert domain.days_overdue(date(2016, 5, 29), TODAY) == 3


# -- the draw ---------------------------------------------------------------------------------------------------
def frame(counts: dict[str, int]) -> list[tuple[uuid.UUID, str]]:
    return [(uuid.uuid4(), village) for village, n in counts.items() for _ in range(n)]


class TestDraw:
    def test_draw_size(self) -> None:
        rate = Decimal(10)
        assert [domain.draw_size(n, rate) for n in (0, 1, 9, 10, 11, 20, 25)] == [0, 1, 1, 1, 2, 2, 3]
        assert domain.draw_size(7, Decimal(100)) == 7
        assert domain.draw_size(3, Decimal("0.01")) == 1

    def test_per_township_at_the_rate(self) -> None:
        households = frame({VILLAGE: 12, SIBLING_VILLAGE: 3, OTHER_VILLAGE: 5})
        sample = domain.draw("seed", households, Decimal(10), SamplingUnit.household)
        strata = {s.code: (s.frame_size, s.drawn) for s in sample.strata}
        assert strata == {TOWNSHIP: (15, 2), OTHER_TOWNSHIP: (5, 1)}
        assert len(sample.households) == 3 and sample.frame_size == 20
        assert {h.stratum for h in sample.households} == {TOWNSHIP, OTHER_TOWNSHIP}

    def test_the_same_seed_and_frame_give_the_same_sample_in_any_order(self) -> None:
        households = frame({VILLAGE: 30, OTHER_VILLAGE: 30})
        first = domain.draw("5eed", households, Decimal(20), SamplingUnit.household)
        again = domain.draw("5eed", list(reversed(households)), Decimal(20), SamplingUnit.household)
        assert first == again and first.digest == again.digest
        other = domain.draw("another", households, Decimal(20), SamplingUnit.household)
        assert {h.household_id for h in other.households} != {h.household_id for h in first.households}

    def test_the_draw_is_the_smallest_keys(self) -> None:
        households = frame({VILLAGE: 10})
        sample = domain.draw("k", households, Decimal(30), SamplingUnit.household)
        expected = sorted((h for h, _ in households), key=lambda h: domain.sample_key("k", str(h)))[:3]
        assert [h.household_id for h in sample.households] == expected
        assert [h.rank for h in sample.households] == [0, 1, 2]

    def test_a_household_added_later_does_not_reshuffle_the_others(self) -> None:
        households = frame({VILLAGE: 40})
        before = domain.draw("k", households, Decimal(10), SamplingUnit.household)
        after = domain.draw("k", [*households, (uuid.uuid4(), VILLAGE)], Decimal(10), SamplingUnit.household)
        # ceil(4.1) = 5 drawn from 41: the 4 of before are still among them
        assert {h.household_id for h in before.households} <= {h.household_id for h in after.households}
        assert before.strata[0].digest != after.strata[0].digest

    def test_full_check_and_villages(self) -> None:
        households = frame({VILLAGE: 4, SIBLING_VILLAGE: 2})
        full = domain.draw("k", households, DEFAULT_RATE[InspectionLevel.township], SamplingUnit.household)
        assert len(full.households) == 6
        villages = domain.draw("k", households, Decimal(50), SamplingUnit.village)
        drawn = {h.village_code for h in villages.households}
        assert len(drawn) == 1 and villages.strata[0].units == 2 and villages.strata[0].drawn == 1
        assert len(villages.households) == {VILLAGE: 4, SIBLING_VILLAGE: 2}[drawn.pop()]

    def test_default_rates(self) -> None:
        assert DEFAULT_RATE[InspectionLevel.county] == 10
        assert DEFAULT_RATE[InspectionLevel.township] == 100


# -- findings ---------------------------------------------------------------------------------------------------
class TestFindings:
    def test_subject_ids(self) -> None:
        domain.validate_subject(FindingSubjectType.village, VILLAGE, FindingCategory.missing_record)
        domain.validate_subject(
            FindingSubjectType.household, str(uuid.uuid4()), FindingCategory.split_household
        )
        for subject, wrong in (
            (FindingSubjectType.village, TOWNSHIP),
            (FindingSubjectType.township, VILLAGE),
            (FindingSubjectType.household, VILLAGE),
        ):
            with pytest.raises(Invalid) as caught:
                domain.validate_subject(subject, wrong, FindingCategory.other)
            assert pointer(caught.value) == "/subject_id"

    def test_integrity_categories_are_about_places(self) -> None:
        with pytest.raises(Invalid) as caught:
            domain.validate_subject(
                FindingSubjectType.cadre, str(uuid.uuid4()), FindingCategory.split_household
            )
        assert caught.value.code == "category_subject_mismatch" and pointer(caught.value) == "/category"
        domain.validate_subject(FindingSubjectType.cadre, str(uuid.uuid4()), FindingCategory.fabricated_data)

    def test_where_a_finding_lies(self) -> None:
        hid = str(uuid.uuid4())
        assert (
            domain.finding_region(FindingSubjectType.village, VILLAGE, household_village=None, given=None)
            == VILLAGE
        )
        assert (
            domain.finding_region(FindingSubjectType.household, hid, household_village=VILLAGE, given=None)
            == VILLAGE
        )
        assert (
            domain.finding_region(
                FindingSubjectType.cadre, hid, household_village=None, given=SIBLING_VILLAGE
            )
            == SIBLING_VILLAGE
        )
        with pytest.raises(Invalid) as caught:
            domain.finding_region(FindingSubjectType.household, hid, household_village=None, given=None)
        assert caught.value.code == "household_unknown"
        with pytest.raises(Invalid) as caught:
            domain.finding_region(FindingSubjectType.cadre, hid, household_village=None, given=None)
        assert pointer(caught.value) == "/region_code"

    def test_in_the_scope_and_dated(self) -> None:
        domain.subject_in_scope(TOWNSHIP, VILLAGE, "/subject_id")
        with pytest.raises(Invalid) as caught:
            domain.subject_in_scope(TOWNSHIP, OTHER_VILLAGE, "/subject_id")
        assert caught.value.code == "subject_outside_inspection"
        domain.check_found_on(TODAY, started_on=date(2016, 5, 1), today=TODAY)
        with pytest.raises(Invalid) as caught:
            domain.check_found_on(date(2016, 6, 2), started_on=None, today=TODAY)
        assert pointer(caught.value) == "/found_on"
        with pytest.raises(Invalid) as caught:
            domain.check_found_on(date(2016, 4, 30), started_on=date(2016, 5, 1), today=TODAY)
        assert caught.value.code == "found_before_start"


# -- what the metrics count -------------------------------------------------------------------------------------
class TestMetrics:
    def test_every_inspection_metric_is_computed(self) -> None:
        inspection = {c for c, m in CATALOGUE.items() if m.source is MetricSource.inspection}
        assert inspection == {c.metric for c in FINDING_COUNTS} | {domain.ACCURACY}
        assert domain.ZERO_WHEN_ABSENT == inspection - {domain.ACCURACY}

    def test_special_fund_misuse_is_critical(self) -> None:
        (count,) = [c for c in FINDING_COUNTS if c.metric == "funds_misused_confirmed"]
        assert count.categories == frozenset({FindingCategory.fund_misuse})
        assert count.severities == frozenset({domain.Severity.critical})

    def test_counts_per_subject_type(self) -> None:
        village = {c.metric for c in domain.counts_for(SubjectType.village)}
        cadre = {c.metric for c in domain.counts_for(SubjectType.cadre)}
        assert "split_households_confirmed" in village and "split_households_confirmed" not in cadre
        assert "fabricated_visits_confirmed" in cadre and "fabricated_visits_confirmed" not in village
        assert domain.counts_for(SubjectType.cppcc_unit) == ()

    def test_identification_accuracy(self) -> None:
        assert domain.identification_accuracy(4, 1) == Decimal("75.00")
        assert domain.identification_accuracy(6, 1) == Decimal("83.33")
        assert domain.identification_accuracy(3, 0) == Decimal("100.00")
        assert domain.identification_accuracy(0, 0) is None

    def test_ndjson_negotiation(self) -> None:
        assert domain.wants_ndjson("application/x-ndjson")
        assert not domain.wants_ndjson("application/json")
        assert not domain.wants_ndjson(None)
        assert domain.wants_ndjson("application/json;q=0.5, application/x-ndjson")


class TestAttachments:
    def test_types_by_their_bytes(self) -> None:
        domain.check_attachment("image/png", b"\x89PNG\r\n\x1a\n....")
        with pytest.raises(domain.AttachmentTypeRefused):
            domain.check_attachment("image/png", b"%PDF-1.4")
        with pytest.raises(domain.AttachmentTypeRefused):
            domain.check_attachment("text/plain", b"hello")
        with pytest.raises(Invalid):
            domain.check_attachment("application/pdf", b"")


# -- manual entries ---------------------------------------------------------------------------------------------
class TestManualEntries:
    def test_manual_metrics_of_a_subject_type(self) -> None:
        assert manual.manual_metrics(SubjectType.helping_unit) == (
            "main_leader_visited",
            "pairing_meetings_held",
            "year_end_report_filed",
        )
        assert manual.manual_metrics(SubjectType.township) == ("training_sessions",)

    @pytest.mark.parametrize(
        ("code", "subject", "error"),
        [
            ("no_such_metric", SubjectType.helping_unit, "unknown_metric"),
            ("poverty_incidence", SubjectType.village, "metric_not_manual"),
            ("training_sessions", SubjectType.helping_unit, "metric_subject_mismatch"),
        ],
    )
    def test_a_metric_that_is_not_manual(self, code: str, subject: SubjectType, error: str) -> None:
        with pytest.raises(Invalid) as caught:
            manual.manual_metric(code, subject)
        assert caught.value.code == error and pointer(caught.value) == "/metric_code"

    def test_values_in_the_metrics_unit(self) -> None:
        visited = manual.manual_metric("main_leader_visited", SubjectType.helping_unit)
        meetings = manual.manual_metric("pairing_meetings_held", SubjectType.helping_unit)
        attendance = manual.manual_metric("cppcc_attendance", SubjectType.cppcc_unit)
        assert manual.check_value(visited, Decimal(1)) == 1
        assert manual.check_value(meetings, Decimal("4.0")) == 4
        assert manual.check_value(attendance, Decimal("85.5")) == Decimal("85.5")
        for metric, value, code in (
            (visited, Decimal(2), "value_not_bool"),
            (meetings, Decimal("1.5"), "value_not_whole"),
            (meetings, Decimal(-1), "value_not_whole"),
            (attendance, Decimal(101), "value_out_of_range"),
            (attendance, Decimal("50.12345"), "value_too_precise"),
        ):
            with pytest.raises(Invalid) as caught:
                manual.check_value(metric, value)
            assert caught.value.code == code and pointer(caught.value) == "/value"

    def test_points_and_reason(self) -> None:
        assert manual.check_points(Decimal(8), Decimal(10), "C6") == 8
        with pytest.raises(Invalid) as caught:
            manual.check_points(Decimal("10.5"), Decimal(10), "C6")
        assert caught.value.code == "manual_score_out_of_range"
        assert manual.check_reason("  经核查属实 ") == "经核查属实"
        with pytest.raises(Invalid) as caught:
            manual.check_reason("   ")
        assert caught.value.code == "reason_required" and pointer(caught.value) == "/reason"

    def test_where_an_entry_lies(self) -> None:
        unit = str(uuid.uuid4())
        assert manual.entry_region(SubjectType.township, TOWNSHIP, None) == TOWNSHIP
        assert manual.entry_region(SubjectType.helping_unit, unit, COUNTY) == COUNTY
        with pytest.raises(Invalid) as caught:
            manual.entry_region(SubjectType.helping_unit, unit, None)
        assert pointer(caught.value) == "/region_code"
        with pytest.raises(Invalid) as caught:
            manual.entry_region(SubjectType.village, TOWNSHIP, None)
        assert pointer(caught.value) == "/subject_id"

    def test_who_enters(self) -> None:
        manual.require_editor(who(Role.county_admin, COUNTY), TOWNSHIP, SubjectType.township, TOWNSHIP)
        manual.require_editor(who(Role.township_officer, TOWNSHIP), VILLAGE, SubjectType.village, VILLAGE)
        with pytest.raises(NotAllowed) as caught:
            manual.require_editor(
                who(Role.township_officer, TOWNSHIP), TOWNSHIP, SubjectType.township, TOWNSHIP
            )
        assert caught.value.code == "own_assessment"
        with pytest.raises(NotAllowed):
            manual.require_editor(who(Role.village_officer, VILLAGE), VILLAGE, SubjectType.village, VILLAGE)
        with pytest.raises(Missing):
            manual.require_editor(
                who(Role.county_admin, OTHER_COUNTY), TOWNSHIP, SubjectType.township, TOWNSHIP
            )

    def test_targets_have_one_key_per_entry(self) -> None:
        lineage = uuid.uuid4()
        assert manual.Target(metric="training_sessions").key == "metric:training_sessions"
        assert manual.Target(scheme_lineage=lineage, indicator="C6").key == f"indicator:{lineage}:C6"

"""The household record's rules (services/registry/households/domain.py), with no database.

Resident ID numbers (DOMAIN.md §7 invariant 1), derived values (invariants 4, 11), income (§2.4), integrity flags
(§2.11; invariants 1, 5-8), who may write, unmask and clear flags (§1.4, invariant 49), member changes and
split / merge / move (invariants 2-4), incidence (§2.15 counts).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import ClassVar

import pytest

from services.registry.households import domain
from services.registry.households.domain import (
    FlagMember,
    FlagSubject,
    IdNumberError,
    LaborCapacity,
    Relation,
    Sex,
    check_character,
    parse_resident_id,
)
from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.roles import Principal, Role
from tests.factories import resident_id

TODAY = date(2026, 11, 23)
# The GB 11643-1999 standard's own example: 11010519491231002X (female, born 1949-12-31).
STANDARD_EXAMPLE = "11010519491231002X"


def make_id(region: str, born: str, seq: str) -> str:
    first17 = region + born + seq
    return first17 + check_character(first17)


class TestResidentId:
    def test_standard_example(self) -> None:
        parsed = parse_resident_id(STANDARD_EXAMPLE, today=TODAY)
        assert parsed.birth_date == date(1949, 12, 31)
        assert parsed.sex is Sex.female
        assert parsed.region_of_issue == "110105"

    def test_lower_case_x_and_spaces_are_normalised(self) -> None:
        assert parse_resident_id(" 11010519491231002x ", today=TODAY).number == STANDARD_EXAMPLE

    def test_fixture_household_head(self) -> None:
        # DOMAIN.md §9 synthetic fixture: head, male, born 1968-05 in Jingxi (451025).
        number = make_id("451025", "19680512", "031")
        parsed = parse_resident_id(number, today=TODAY)
        assert parsed.sex is Sex.male and parsed.birth_date == date(1968, 5, 12)

    @pytest.mark.parametrize(
        ("number", "reason"),
        [
            ("11010519491231002", "17 digits"),
            ("1101051949123100211", "17 digits"),
            ("11010519491231002A", "17 digits"),
            ("110105194912310021", "check character"),
            (make_id("451025", "19680230", "031"), "real birth date"),
            (make_id("451025", "20991231", "031"), "future"),
            (make_id("451025", "18501231", "031"), "implausibly old"),
        ],
    )
    def test_rejected(self, number: str, reason: str) -> None:
        with pytest.raises(IdNumberError, match=reason):
            parse_resident_id(number, today=date(2026, 11, 23))

    def test_the_future_is_the_day_passed_in(self) -> None:
        number = make_id("451025", "20150101", "031")
        assert parse_resident_id(number, today=date(2015, 1, 1)).birth_date == date(2015, 1, 1)
        with pytest.raises(IdNumberError, match="future"):
            parse_resident_id(number, today=date(2014, 12, 31))

    def test_every_single_digit_error_is_caught(self) -> None:
        # MOD 11-2 detects all single-character substitutions.
        for position in range(17):
            for digit in "0123456789":
                if STANDARD_EXAMPLE[position] == digit:
                    continue
                mutated = STANDARD_EXAMPLE[:position] + digit + STANDARD_EXAMPLE[position + 1 :]
                assert check_character(mutated[:17]) != mutated[17]

    def test_helpers_resident_id_is_valid(self) -> None:
        parse_resident_id(resident_id("19900101", "female"), today=TODAY)

    def test_valid_id_number_names_the_field(self) -> None:
        assert domain.valid_id_number(STANDARD_EXAMPLE.lower(), today=TODAY, pointer="/x") == STANDARD_EXAMPLE
        with pytest.raises(Invalid) as info:
            domain.valid_id_number("110105194912310021", today=TODAY, pointer="/members/1/resident_id_number")
        assert info.value.code == "id_number_invalid"
        assert info.value.details == {"field": "/members/1/resident_id_number"}
        assert (
            info.value.message == "resident_id_number: the check character does not match (ISO 7064 MOD 11-2)"
        )

    def test_id_warnings_compare_birth_and_sex(self) -> None:
        number = make_id("451025", "19680512", "031")  # male, 1968-05
        assert domain.id_warnings(number, "male", "1968-05") == []
        assert domain.id_warnings(None, "male", "1968-05") == []
        assert domain.id_warnings(number, "female", "1968-06") == [
            "birth date in the ID number differs from birth_year_month",
            "sex in the ID number differs from the member's sex",
        ]


@dataclass(frozen=True)
class M:
    name: str
    relation: str
    labor_capacity: str = LaborCapacity.none


class TestDerive:
    def test_size_labour_and_head(self) -> None:
        derived = domain.derive(
            [
                M("黄志强", Relation.head, LaborCapacity.ordinary),
                M("农秀兰", Relation.spouse, LaborCapacity.skilled),
                M("黄小", Relation.son, LaborCapacity.none),
                M("黄老", Relation.parent, LaborCapacity.lost),
            ]
        )
        assert (derived.household_size, derived.labor_count, derived.has_labor_capacity) == (4, 2, True)
        assert derived.head_name == "黄志强"

    def test_nobody_working(self) -> None:
        derived = domain.derive([M("农秀英", Relation.head, LaborCapacity.lost)])
        assert (derived.household_size, derived.labor_count, derived.has_labor_capacity) == (1, 0, False)

    @pytest.mark.parametrize("heads", [0, 2])
    def test_exactly_one_head(self, heads: int) -> None:
        members = [M(f"h{i}", Relation.head) for i in range(heads)] + [M("s", Relation.spouse)]
        with pytest.raises(Invalid) as info:
            domain.derive(members)
        assert info.value.code == "one_head_required" and info.value.details == {"field": "/members"}
        assert f"(found {heads})" in info.value.message


@dataclass(frozen=True)
class Income:
    wage: Decimal
    operating: Decimal
    property: Decimal
    transfer: Decimal
    operating_expenses: Decimal


class TestComputeIncome:
    def test_net_and_per_capita(self) -> None:
        computed = domain.compute_income(
            Income(Decimal("6000.00"), Decimal("3000.50"), Decimal(0), Decimal(1200), Decimal(2000)), 3
        )
        assert (computed.net_income, computed.per_capita_net_income) == (
            Decimal("8200.50"),
            Decimal("2733.50"),
        )

    def test_rounded_half_up_to_the_fen(self) -> None:
        computed = domain.compute_income(Income(Decimal("0.05"), *(Decimal(0),) * 4), 2)  # 0.025
        assert computed.per_capita_net_income == Decimal("0.03")
        computed = domain.compute_income(Income(Decimal(10), *(Decimal(0),) * 4), 3)  # 3.333…
        assert str(computed.per_capita_net_income) == "3.33" and str(computed.net_income) == "10.00"

    def test_negative_net_income_is_computed(self) -> None:
        computed = domain.compute_income(
            Income(Decimal(0), Decimal(100), Decimal(0), Decimal(0), Decimal(400)), 3
        )
        assert computed.per_capita_net_income == Decimal("-100.00")

    def test_no_members(self) -> None:
        with pytest.raises(Invalid) as info:
            domain.compute_income(Income(*(Decimal(1),) * 5), 0)
        assert info.value.code == "no_active_members"


def subject(**changes: object) -> FlagSubject:
    values: dict[str, object] = {
        "formed_on": None,
        "origin_kind": None,
        "origin_household_id": None,
        "related_officials": [],
        "net_income": Decimal("100.00"),
    }
    values.update(changes)
    return FlagSubject(**values)  # type: ignore[arg-type]


def member(*, resident: bool = True, number: str | None = "x", **changes: object) -> FlagMember:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "sex": "male",
        "birth_year_month": "1968-05",
        "resident": resident,
        "id_number": make_id("451025", "19680512", "031") if number == "x" else number,
    }
    values.update(changes)
    return FlagMember(**values)  # type: ignore[arg-type]


class TestFlagCodes:
    def test_a_clean_household_raises_nothing(self) -> None:
        assert domain.flag_codes(subject(), [member(), member()], today=TODAY) == {}

    def test_split_within_24_months(self) -> None:
        origin = uuid.uuid4()
        flags = domain.flag_codes(
            subject(formed_on=date(2025, 1, 1), origin_kind="split", origin_household_id=origin),
            [member(), member()],
            today=TODAY,
        )
        assert flags == {"split_recent": {"origin_household_id": str(origin), "formed_on": "2025-01-01"}}
        # 24 months (732 days) later the split is no longer recent.
        assert (
            domain.flag_codes(
                subject(formed_on=date(2024, 11, 20), origin_kind="split"), [member()] * 2, today=TODAY
            )
            == {}
        )
        assert domain.SPLIT_FLAG_MONTHS == 24

    def test_formed_recently_and_single_person(self) -> None:
        flags = domain.flag_codes(subject(formed_on=date(2026, 1, 10)), [member()], today=TODAY)
        assert flags == {
            "formed_recently": {"formed_on": "2026-01-10"},
            "single_person_new": {"formed_on": "2026-01-10"},
        }

    def test_nobody_resident(self) -> None:
        assert "nobody_resident" in domain.flag_codes(subject(), [member(resident=False)] * 2, today=TODAY)
        assert "nobody_resident" not in domain.flag_codes(subject(), [], today=TODAY)

    def test_related_to_official(self) -> None:
        declared = [{"name": "黄村长", "relation": "brother", "position": "村主任"}]
        flags = domain.flag_codes(subject(related_officials=declared), [member()], today=TODAY)
        assert flags == {"related_to_official": {"declared": declared}}

    def test_id_mismatch_and_no_id(self) -> None:
        wrong = member(sex="female")
        flags = domain.flag_codes(subject(), [wrong, member(number=None)], today=TODAY)
        assert flags["id_mismatch"] == {
            "members": [
                {
                    "member_id": str(wrong.id),
                    "problems": ["sex in the ID number differs from the member's sex"],
                }
            ]
        }
        assert flags["no_id_number"] == {}

    def test_negative_net_income(self) -> None:
        flags = domain.flag_codes(subject(net_income=Decimal("-300.00")), [member()], today=TODAY)
        assert flags == {"net_income_negative": {"net_income": "-300.00"}}


def principal(role: Role, region: str = "451025100201") -> Principal:
    return Principal(sub="someone", role=role, region=region)


class TestWhoMay:
    @pytest.mark.parametrize("role", sorted(domain.HOUSEHOLD_WRITERS))
    def test_officers_write(self, role: Role) -> None:
        domain.require_writer(role)

    @pytest.mark.parametrize("role", [Role.cadre, Role.province_system, Role.service])
    def test_others_do_not(self, role: Role) -> None:
        with pytest.raises(NotAllowed, match="may not change households"):
            domain.require_writer(role)

    def test_unmask_is_for_the_county_and_the_province(self) -> None:
        for role in Role:
            if role in (Role.county_admin, Role.province_system):
                domain.require_unmask(role)
            else:
                with pytest.raises(NotAllowed) as info:
                    domain.require_unmask(role)
                assert info.value.code == "unmask_not_allowed"

    def test_flags_are_cleared_above_the_village(self) -> None:
        domain.require_flag_clearer(Role.township_officer)
        domain.require_flag_clearer(Role.county_admin)
        with pytest.raises(NotAllowed, match="not by the village"):
            domain.require_flag_clearer(Role.village_officer)

    def test_households_belong_to_a_village_in_scope(self) -> None:
        clerk = principal(Role.village_officer)
        domain.check_village(clerk, "451025100201")
        with pytest.raises(Invalid, match="administrative village"):
            domain.check_village(clerk, "451025100000")
        with pytest.raises(Missing, match="not found"):
            domain.check_village(clerk, "451025100202")

    def test_closed_records(self) -> None:
        hid = uuid.uuid4()
        for status in ("candidate", "registered", "exited"):
            domain.require_open(hid, status)
        for status in domain.CLOSED_STATUSES:
            with pytest.raises(Refused, match="its record is closed"):
                domain.require_open(hid, status)

    def test_a_list_region_must_overlap_the_scope(self) -> None:
        township = principal(Role.township_officer, "451025100000")
        assert domain.region_visible(township, "451025000000")  # above: narrowed to the township
        assert domain.region_visible(township, "451025100201")
        assert not domain.region_visible(township, "451025101000")
        assert domain.region_visible(principal(Role.service, "000000000000"), "451026000000")


class TestMemberRules:
    def test_one_head_only(self) -> None:
        domain.check_new_member(Relation.son)
        with pytest.raises(Invalid) as info:
            domain.check_new_member(Relation.head)
        assert info.value.details == {"field": "/relation"}

    def test_leaving(self) -> None:
        domain.check_leave(Relation.spouse, TODAY, today=TODAY)
        with pytest.raises(Refused) as refused:
            domain.check_leave(Relation.head, TODAY, today=TODAY)
        assert refused.value.code == "head_leaving"
        with pytest.raises(Invalid, match="in the future"):
            domain.check_leave(Relation.spouse, date(2026, 11, 24), today=TODAY)

    def test_head_change(self) -> None:
        domain.check_head_change(Relation.spouse, Relation.spouse)
        with pytest.raises(Invalid, match="already the head"):
            domain.check_head_change(Relation.head, Relation.spouse)
        with pytest.raises(Invalid, match="needs another relation"):
            domain.check_head_change(Relation.spouse, Relation.head)

    def test_patches_keep_required_fields(self) -> None:
        domain.require_non_null({"name": "x", "ethnicity": None})
        with pytest.raises(Invalid, match="sex cannot be null"):
            domain.require_non_null({"sex": None})
        with pytest.raises(Invalid, match="nothing to change"):
            domain.require_changes({})


class TestSplitMergeMove:
    head, spouse, son, daughter = (uuid.uuid4() for _ in range(4))

    @property
    def active(self) -> dict[uuid.UUID, str]:
        return {self.head: "head", self.spouse: "spouse", self.son: "son", self.daughter: "daughter"}

    def test_split_plan(self) -> None:
        planned = domain.plan_split(
            self.active, [self.son, self.daughter, self.son], self.son, {self.daughter: Relation.sibling}
        )
        assert planned == [(self.son, Relation.head), (self.daughter, Relation.sibling)]
        # Relations default to "other".
        assert domain.plan_split(self.active, [self.son, self.daughter], self.daughter, {})[0] == (
            self.son,
            Relation.other,
        )

    @pytest.mark.parametrize(
        ("moving", "new_head", "code"),
        [
            ("stranger", "son", "not_a_member"),
            ("son", "daughter", "new_head_invalid"),
            ("everyone", "son", "split_leaves_nobody"),
            ("head", "head", "head_stays"),
        ],
    )
    def test_split_refusals(self, moving: str, new_head: str, code: str) -> None:
        ids = {
            "son": [self.son],
            "head": [self.head],
            "stranger": [uuid.uuid4()],
            "everyone": list(self.active),
        }
        heads = {"son": self.son, "daughter": self.daughter, "head": self.head}
        with pytest.raises(Invalid) as info:
            domain.plan_split(self.active, ids[moving], heads[new_head], {})
        assert info.value.code == code

    def test_merge(self) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        domain.check_merge_request(a, b)
        with pytest.raises(Invalid, match="cannot absorb itself"):
            domain.check_merge_request(a, a)
        domain.check_merge("451025100201", "451025100201", [a], {a: Relation.son})
        with pytest.raises(Invalid, match="within one village"):
            domain.check_merge("451025100201", "451025100202", [a], {a: Relation.son})
        with pytest.raises(Invalid) as info:
            domain.check_merge("451025100201", "451025100201", [a, b], {a: Relation.son})
        assert info.value.details == {"field": "/relations", "missing": [str(b)]}
        with pytest.raises(Invalid, match="keeps its head"):
            domain.check_merge("451025100201", "451025100201", [a], {a: Relation.head})

    def test_move(self) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        domain.check_move_request(a, b, Relation.son)
        with pytest.raises(Invalid, match="already in this household"):
            domain.check_move_request(a, a, Relation.son)
        with pytest.raises(Invalid, match="keeps its head"):
            domain.check_move_request(a, b, Relation.head)
        domain.check_mover(Relation.son)
        with pytest.raises(Refused, match="the head cannot move"):
            domain.check_mover(Relation.head)


class TestStatistics:
    def test_tallies_sum_by_prefix(self) -> None:
        tallies = [
            domain.VillageTally("451025100201", 3, 8, 0, 0, 1, 1),
            domain.VillageTally("451025100202", 1, 4, 1, 3, 1, 0),
            domain.VillageTally("451025101201", 4, 9, 1, 3, 2, 0),
        ]
        township = domain.tally_under("451025100", tallies)
        assert (township.poor_households, township.poor_people, township.exited_people) == (4, 12, 3)
        assert domain.tally_under("451025", tallies).poor_people == 21

    def test_population_is_the_own_figure_else_the_childrens(self) -> None:
        children = {"county": ["t1", "t2"], "t1": ["v1", "v2"], "t2": ["v3"]}
        recorded = {"v1": 1000, "v2": 500, "t2": 1440, "v3": 650}
        assert domain.population_of("t1", recorded, children) == 1500
        assert domain.population_of("t2", recorded, children) == 1440  # its own row wins
        assert domain.population_of("county", recorded, children) == 2940
        assert domain.population_of("nowhere", recorded, children) is None

    def test_incidence(self) -> None:
        assert domain.incidence_percent(9, 1440) == Decimal("0.63")  # 0.625 rounded half up
        assert domain.incidence_percent(12, 1500) == Decimal("0.80")
        assert domain.incidence_percent(3, 0) is None and domain.incidence_percent(3, None) is None


class TestRelationChange:
    """A declared relation (优亲厚友, §2.11) is cleared only by someone else, with a reason."""

    REL: ClassVar[list[dict[str, str]]] = [{"user_sub": "clerk-1", "name": "黄文书", "relation": "cousin"}]

    def test_the_relative_cannot_clear_it(self) -> None:
        with pytest.raises(NotAllowed) as info:
            domain.check_relation_change(self.REL, [], actor_sub="clerk-1", reason="搞错了")
        assert info.value.code == "relation_self_clear"

    def test_clearing_needs_a_reason(self) -> None:
        with pytest.raises(Invalid) as info:
            domain.check_relation_change(self.REL, [], actor_sub="clerk-2", reason=None)
        assert info.value.code == "relation_clear_reason_required"

    def test_someone_else_with_a_reason(self) -> None:
        change = domain.check_relation_change(self.REL, [], actor_sub="clerk-2", reason="核实无亲属关系")
        assert change.cleared == ("clerk-1",) and change.declared == ()

    def test_declaring_is_recorded(self) -> None:
        change = domain.check_relation_change([], self.REL, actor_sub="clerk-2", reason=None)
        assert change.declared == ("clerk-1",) and change.changed

"""The rules of the household record (建档立卡户), checkable line by line against DOMAIN.md §2.2-§2.7, §2.11 and §7.

Pure: standard library, `shared.roles` and `shared.errors` only; "today" is passed in, never read.

- Resident ID numbers (公民身份号码, GB 11643-1999): shape, ISO 7064 MOD 11-2 check character, birth date and sex
  (invariant 1).
- Derived values: household size, labour count and head come from the active members, with exactly one head
  (invariants 4, 11); net and per-capita net income are computed, never typed in (§2.4, invariants 8, 11).
- Integrity flags (§2.11 严禁; invariants 1, 5, 6, 7, 8): the conditions a reviewer must look at.
- Member and household changes: who may write, unmask and clear flags (§1.4, invariant 49); a closed record takes no
  edits; the head stays put until another member becomes head; a split leaves someone behind; merges stay within one
  village (invariants 2-4).

Encryption of personal data is not here: it needs keys (services/registry/pii.py), so the service applies it.
"""

from __future__ import annotations

import builtins
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import Principal, RegionLevel, Role, in_scope, level_of

__all__ = [
    "CENT",
    "CLOSED_STATUSES",
    "DANGEROUS_HOUSE_GRADES",
    "FLAG_CLEARERS",
    "HOUSEHOLD_WRITERS",
    "RELATIONS_AUDIT_ACTION",
    "RELOCATABLE_STATUSES",
    "RELOCATORS",
    "SPLIT_FLAG_MONTHS",
    "SYSTEM_LEFT_REASONS",
    "UNMASK_ROLES",
    "WORKING",
    "ComputedIncome",
    "Derived",
    "FlagCode",
    "FlagMember",
    "FlagSubject",
    "HouseGrade",
    "HouseholdStatus",
    "IdNumberError",
    "IncomeComponents",
    "LaborCapacity",
    "LeftReason",
    "MemberLike",
    "PovertyAttribute",
    "Relation",
    "RelationChange",
    "RelocationReason",
    "ResidentId",
    "Sex",
    "VillageTally",
    "base_flags",
    "check_character",
    "check_head_change",
    "check_identification_year",
    "check_income_year",
    "check_leave",
    "check_merge",
    "check_merge_request",
    "check_move_request",
    "check_mover",
    "check_new_member",
    "check_planned_exit_year",
    "check_relation_change",
    "check_relocation",
    "check_village",
    "compute_income",
    "derive",
    "flag_codes",
    "hidden_person_conflict",
    "id_warnings",
    "incidence_percent",
    "parse_resident_id",
    "person_conflict_hidden",
    "plan_split",
    "population_of",
    "region_visible",
    "require_changes",
    "require_flag_clearer",
    "require_non_null",
    "require_open",
    "require_unmask",
    "require_writer",
    "tally_under",
    "valid_id_number",
]


# == code lists the rules use (the others live with the API models) =========================================
@code_list("relation_to_head", "与户主关系", "Relation to the household head")
class Relation(LabelledEnum):
    """与户主关系 (relation to the head)."""

    head = "head", "户主", "Household head"
    spouse = "spouse", "配偶"
    son = "son", "之子"
    daughter = "daughter", "之女"
    daughter_in_law = "daughter_in_law", "儿媳", "Daughter-in-law"
    son_in_law = "son_in_law", "女婿", "Son-in-law"
    grandchild = "grandchild", "孙子女"
    parent = "parent", "父母"
    sibling = "sibling", "兄弟姐妹"
    other = "other", "其他"


@code_list("sex", "性别", "Sex")
class Sex(LabelledEnum):
    """性别; the 17th digit of an ID number is odd for men, even for women (invariant 1)."""

    male = "male", "男"
    female = "female", "女"


@code_list("labor_capacity", "劳动能力", "Labour capacity")
class LaborCapacity(LabelledEnum):
    """劳动能力."""

    ordinary = "ordinary", "普通劳动力", "Ordinary labour"
    skilled = "skilled", "技能劳动力", "Skilled labour"
    lost = "lost", "丧失劳动力", "Lost labour capacity"
    none = "none", "无劳动力", "No labour capacity"  # child, student, elderly


#: Members who count as labour (主要劳动力, §2.2 `labor_count`).
WORKING: frozenset[LaborCapacity] = frozenset({LaborCapacity.ordinary, LaborCapacity.skilled})


@code_list("dangerous_house_grade", "危房等级", "Dangerous-house grade")
class HouseGrade(LabelledEnum):
    """危房等级: C and D count as dangerous (§2.2)."""

    A = "A", "A级", "Grade A"
    B = "B", "B级", "Grade B"
    C = "C", "C级(局部危房)", "Grade C (partly dangerous)"
    D = "D", "D级(整幢危房)", "Grade D (whole house dangerous)"


#: Dangerous housing: the exit test's "housing safe" fails on these grades (§6.5-A item 5).
DANGEROUS_HOUSE_GRADES: frozenset[HouseGrade] = frozenset({HouseGrade.C, HouseGrade.D})


@code_list("poverty_attribute", "贫困户属性", "Poverty attribute")
class PovertyAttribute(LabelledEnum):
    """贫困户属性 (DOMAIN.md §2.7)."""

    general_poor = "general_poor", "一般贫困户", "General poor household"
    dibao_poor = "dibao_poor", "低保贫困户", "Dibao poor household"
    wubao_poor = "wubao_poor", "五保(特困供养)贫困户", "Wubao (five-guarantee) poor household"


@code_list("left_reason", "减员原因", "Reason for leaving")
class LeftReason(LabelledEnum):
    """减员原因."""

    death = "death", "死亡"
    marriage_out = "marriage_out", "婚出", "Married out"
    household_transfer = "household_transfer", "户口迁出 / 分户", "Household registration moved out"
    military_service = "military_service", "服兵役"
    other = "other", "其他"
    #: Set by the registry when the household is removed (识别不准清退): its members may join another household.
    released = "released", "清退后释放", "Released (household removed)"


#: Leaving reasons only the registry sets (not a member's own leaving).
SYSTEM_LEFT_REASONS: frozenset[LeftReason] = frozenset({LeftReason.released})


@code_list("household_record_status", "档案状态", "Household record status")
class HouseholdStatus(LabelledEnum):
    """The record's own states outside the workflow chain (§2.15; the chain is `identification.domain.Status`)."""

    candidate = "candidate", "候选(未进入识别流程)", "Candidate"  # on record, no workflow step yet
    removed = "removed", "识别不准清退", "Removed (mis-identified)"  # the workflow's removal
    # merged into another household: no active member left [I]
    dissolved = "dissolved", "户已消亡(已合并)", "Dissolved (merged)"


#: Records whose history is closed: they accept no edit (a removal or a merge is final).
CLOSED_STATUSES: frozenset[HouseholdStatus] = frozenset({HouseholdStatus.removed, HouseholdStatus.dissolved})


@code_list("integrity_flag", "核查标记", "Integrity flag")
class FlagCode(LabelledEnum):
    """Integrity flags (§2.11): raised for review, cleared by the township or county with a reason."""

    # 拆户/分户 within SPLIT_FLAG_MONTHS (invariant 5)
    split_recent = "split_recent", "近期拆户、分户", "Recently split"
    # formed within SPLIT_FLAG_MONTHS, origin not recorded (invariant 5)
    formed_recently = "formed_recently", "近期新立户(来源未记录)", "Formed recently"
    # a newly formed single-person household (§2.11)
    single_person_new = "single_person_new", "新立单人户", "New single-person household"
    nobody_resident = "nobody_resident", "空挂户", "Nobody resident (empty household)"  # invariant 6
    # 优亲厚友 declaration (invariant 7)
    related_to_official = "related_to_official", "优亲厚友(与干部有亲属关系)", "Related to an official"
    # ID birth date or sex differs from the record (invariant 1, W)
    id_mismatch = "id_mismatch", "身份证号与登记信息不符", "ID number does not match the record"
    # a member without an ID number yet (invariant 1, infants)
    no_id_number = "no_id_number", "无身份证号", "No ID number"
    # allowed, but flagged (invariant 8, W)
    net_income_negative = "net_income_negative", "家庭纯收入为负", "Negative net income"
    # registered over the village quota by county override (invariant 24, W)
    quota_override = "quota_override", "超规模指标登记", "Registered over the quota (override)"


# == resident ID numbers (invariant 1) ========================================================================
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


class IdNumberError(ValueError):
    """Why an ID number is not acceptable (the message is safe to show)."""


@dataclass(frozen=True, slots=True)
class ResidentId:
    """An ID number decomposed: region of issue (positions 1-6), birth date (7-14), sex (17)."""

    number: str
    region_of_issue: str
    birth_date: date
    sex: Sex


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _decompose(raw: str) -> ResidentId:
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise IdNumberError("an ID number is 17 digits followed by a digit or X")
    if check_character(number[:17]) != number[17]:
        raise IdNumberError("the check character does not match (ISO 7064 MOD 11-2)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise IdNumberError("positions 7-14 are not a real birth date") from exc
    sex = Sex.male if int(number[16]) % 2 else Sex.female
    return ResidentId(number=number, region_of_issue=number[:6], birth_date=born, sex=sex)


def parse_resident_id(raw: str, *, today: date) -> ResidentId:
    """Validate and decompose an ID number; raises `IdNumberError` with the reason."""
    parsed = _decompose(raw)
    if parsed.birth_date > today or parsed.birth_date.year < 1890:
        raise IdNumberError("the birth date is in the future or implausibly old")
    return parsed


def valid_id_number(number: str, *, today: date, pointer: str) -> str:
    """The ID number as stored (upper-case X) or `Invalid` naming the field (invariant 1, E)."""
    try:
        parse_resident_id(number, today=today)
    except IdNumberError as exc:
        raise Invalid("id_number_invalid", f"resident_id_number: {exc}", field=pointer) from exc
    return number.upper()


def id_warnings(number: str | None, sex: str, birth_year_month: str) -> list[str]:
    """Invariant 1 (W): the ID's birth date and sex should equal the member's record."""
    if number is None:
        return []
    info = _decompose(number)
    out = []
    if info.birth_date.strftime("%Y-%m") != birth_year_month:
        out.append("birth date in the ID number differs from birth_year_month")
    if info.sex != sex:
        out.append("sex in the ID number differs from the member's sex")
    return out


# == derived values (invariants 4, 11) ========================================================================
class MemberLike(Protocol):
    """What derivation reads of an active member (a stored row or a new member's payload)."""

    @property
    def name(self) -> str: ...

    @property
    def relation(self) -> str: ...

    @property
    def labor_capacity(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Derived:
    """Household values derived from its active members (never typed in: invariants 4, 11)."""

    household_size: int
    labor_count: int
    has_labor_capacity: bool
    head_name: str


def derive(active_members: Iterable[MemberLike]) -> Derived:
    """Size, labour and head from the active members; `Invalid` unless exactly one is the head (invariant 4)."""
    members = list(active_members)
    heads = [m for m in members if m.relation == Relation.head]
    if len(heads) != 1:
        raise Invalid(
            "one_head_required",
            f"a household has exactly one active head (found {len(heads)})",
            field="/members",
        )
    labor = sum(1 for m in members if LaborCapacity(m.labor_capacity) in WORKING)
    return Derived(
        household_size=len(members),
        labor_count=labor,
        has_labor_capacity=labor > 0,
        head_name=str(heads[0].name),
    )


# == income (§2.4) ============================================================================================
CENT = Decimal("0.01")


class IncomeComponents(Protocol):
    """The components of one reference year's income, in yuan (each >= 0, invariant 8)."""

    # `builtins.property`: one component is itself named `property` (财产性收入).
    @builtins.property
    def wage(self) -> Decimal: ...  # 工资性收入

    @builtins.property
    def operating(self) -> Decimal: ...  # 生产经营性收入

    @builtins.property
    def property(self) -> Decimal: ...  # 财产性收入

    @builtins.property
    def transfer(self) -> Decimal: ...  # 转移性收入

    @builtins.property
    def operating_expenses(self) -> Decimal: ...  # 生产经营性支出


@dataclass(frozen=True, slots=True)
class ComputedIncome:
    net_income: Decimal
    per_capita_net_income: Decimal


def compute_income(components: IncomeComponents, household_size: int) -> ComputedIncome:
    """net = wage + operating + property + transfer - operating expenses; per capita = net / size, rounded half
    up to the fen (§2.4, invariant 11). Net income may be negative (invariant 8: flagged, not refused)."""
    if household_size < 1:
        raise Invalid("no_active_members", "the household has no active members", field="/household_size")
    c = components
    net = c.wage + c.operating + c.property + c.transfer - c.operating_expenses
    per_capita = (net / household_size).quantize(CENT, rounding=ROUND_HALF_UP)
    return ComputedIncome(net_income=net.quantize(CENT), per_capita_net_income=per_capita)


def check_income_year(year: int, today: date) -> None:
    """An income is recorded for a calendar year already begun (§2.8, invariant 13), never a later one."""
    if year > today.year:
        raise Invalid(
            "income_year_future", f"no income can be recorded for {year}: it is after the current year"
        )


def check_identification_year(year: int, today: date) -> None:
    """A household is identified in the current round or an earlier one, never a future year (§2.8)."""
    if year > today.year:
        raise Invalid(
            "identification_year_future",
            f"the identification year {year} is after the current year",
            field="/identification_year",
        )


# == integrity flags (§2.11; invariants 1, 5, 6, 7, 8) ========================================================
#: A household formed from another within this many months before applying is flagged (拆户/分户, invariant 5).
SPLIT_FLAG_MONTHS = 24


@dataclass(frozen=True, slots=True)
class FlagSubject:
    """What the flags read of the household itself."""

    formed_on: date | None
    origin_kind: str | None
    origin_household_id: uuid.UUID | None
    related_officials: Sequence[Mapping[str, Any]]  # declared relations to officials (优亲厚友)
    net_income: Decimal | None


@dataclass(frozen=True, slots=True)
class FlagMember:
    """What the flags read of one active member; `id_number` is the decrypted number, None when there is none."""

    id: uuid.UUID
    sex: str
    birth_year_month: str
    resident: bool
    id_number: str | None


def flag_codes(
    household: FlagSubject, active: Sequence[FlagMember], *, today: date
) -> dict[str, dict[str, Any]]:
    """The integrity conditions that hold now, each with the details a reviewer needs."""
    out: dict[str, dict[str, Any]] = {}
    formed = household.formed_on
    recent = formed is not None and formed >= today - timedelta(days=SPLIT_FLAG_MONTHS * 366 // 12)
    if household.origin_kind == "split" and recent:
        out[FlagCode.split_recent.value] = {
            "origin_household_id": str(household.origin_household_id),
            "formed_on": str(formed),
        }
    elif recent:
        out[FlagCode.formed_recently.value] = {"formed_on": str(formed)}
    if len(active) == 1 and recent:
        out[FlagCode.single_person_new.value] = {"formed_on": str(formed)}
    if active and not any(m.resident for m in active):
        out[FlagCode.nobody_resident.value] = {}
    if household.related_officials:
        out[FlagCode.related_to_official.value] = {"declared": [dict(r) for r in household.related_officials]}
    mismatches = []
    for m in active:
        problems = id_warnings(m.id_number, m.sex, m.birth_year_month)
        if problems:
            mismatches.append({"member_id": str(m.id), "problems": problems})
    if mismatches:
        out[FlagCode.id_mismatch.value] = {"members": mismatches}
    if any(m.id_number is None for m in active):
        out[FlagCode.no_id_number.value] = {}
    if household.net_income is not None and household.net_income < 0:
        out[FlagCode.net_income_negative.value] = {"net_income": str(household.net_income)}
    return out


# == who may do what (DOMAIN.md §1.4; invariant 49) ===========================================================
#: Roles that change household records: the officers of the household's village, township and county.
HOUSEHOLD_WRITERS: frozenset[Role] = frozenset(
    {Role.village_officer, Role.township_officer, Role.county_admin}
)
#: Roles that may read full ID numbers, phones and bank accounts (every such read is audited, invariant 49).
UNMASK_ROLES: frozenset[Role] = frozenset({Role.county_admin, Role.province_system})
#: A flag is cleared above the village that raised the record: by the township or the county.
FLAG_CLEARERS: frozenset[Role] = frozenset({Role.township_officer, Role.county_admin})


def require_writer(role: Role) -> None:
    if role not in HOUSEHOLD_WRITERS:
        raise NotAllowed("household_write_not_allowed", f"role '{role}' may not change households")


def require_unmask(role: Role) -> None:
    if role not in UNMASK_ROLES:
        raise NotAllowed(
            "unmask_not_allowed",
            f"role '{role}' sees personal data masked; unmasked values are for "
            + " and ".join(sorted(UNMASK_ROLES)),
        )


def require_flag_clearer(role: Role) -> None:
    if role not in FLAG_CLEARERS:
        raise NotAllowed(
            "flag_clear_not_allowed", "flags are cleared by the township or the county, not by the village"
        )


def check_village(principal: Principal, village_code: str) -> None:
    """A household belongs to an administrative village inside the caller's scope (404 outside it, like missing)."""
    if level_of(village_code) is not RegionLevel.village:
        raise Invalid(
            "not_a_village", "village_code must be an administrative village", field="/village_code"
        )
    if not principal.covers(village_code):
        raise Missing("region_missing", f"region {village_code} not found")


def require_open(household_id: uuid.UUID, status: str) -> None:
    if status in CLOSED_STATUSES:
        raise Refused("record_closed", f"household {household_id} is {status}; its record is closed")


#: The audit action that records the relations a household declares and clears (the recusal history, §2.11).
RELATIONS_AUDIT_ACTION = "household.related_officials"


def _relation_key(relation: Mapping[str, Any]) -> str:
    return str(relation.get("user_sub") or f"name:{relation.get('name')}")


@dataclass(frozen=True, slots=True)
class RelationChange:
    """What an edit does to the declared relations (优亲厚友): the official ids declared and cleared."""

    declared: tuple[str, ...]
    cleared: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.declared or self.cleared)


def check_relation_change(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    *,
    actor_sub: str,
    reason: str | None,
) -> RelationChange:
    """A declared relation to an official (§2.11 优亲厚友, invariant 7) is cleared only by someone other than that
    official, and only with a reason; otherwise the official could undo their own recusal and then review."""
    kept = {_relation_key(r) for r in after}
    had = {_relation_key(r) for r in before}
    cleared = [r for r in before if _relation_key(r) not in kept]
    if cleared and any(r.get("user_sub") == actor_sub for r in cleared):
        raise NotAllowed(
            "relation_self_clear",
            "you are the declared relative: another officer must clear this relation (recusal)",
        )
    if cleared and not (reason and reason.strip()):
        raise Invalid(
            "relation_clear_reason_required",
            "clearing a declared relation to an official needs a reason",
            field="/reason",
        )
    return RelationChange(
        declared=tuple(
            sorted(str(r["user_sub"]) for r in after if r.get("user_sub") and _relation_key(r) not in had)
        ),
        cleared=tuple(sorted(_relation_key(r) for r in cleared)),
    )


def require_changes(given: Collection[str]) -> None:
    if not given:
        raise Invalid("nothing_to_change", "nothing to change", field="/")


#: Member fields a record cannot be without once created (a PATCH may not null them).
REQUIRED_MEMBER_FIELDS = ("name", "sex", "birth_year_month", "labor_capacity", "health_status", "resident")


def require_non_null(given: Mapping[str, Any]) -> None:
    for name in REQUIRED_MEMBER_FIELDS:
        if name in given and given[name] is None:
            raise Invalid("field_required", f"{name} cannot be null", field=f"/{name}")


# == members: join, leave, head (invariants 2-4) ==============================================================
def check_new_member(relation: str) -> None:
    """A new member joins under the existing head (a second head is refused; change the head afterwards)."""
    if relation == Relation.head:
        raise Invalid(
            "head_exists",
            "a household already has its head; add the member with another relation and change the head",
            field="/relation",
        )


def check_leave(relation: str, on: date, *, today: date, reason: str | None = None) -> None:
    """The head cannot leave (invariant 4: change the head first); nobody leaves in the future; `released` is the
    registry's own reason (a removal), not one a member leaves with."""
    if reason is not None and reason in SYSTEM_LEFT_REASONS:
        raise Invalid(
            "left_reason_reserved", "members are released only by the household's removal", field="/reason"
        )
    if relation == Relation.head:
        raise Refused("head_leaving", "the head cannot leave; change the head first (POST .../head)")
    if on > today:
        raise Invalid("date_in_future", "the leaving date is in the future", field="/on")


def check_head_change(new_head_relation: str, former_head_relation: str) -> None:
    if new_head_relation == Relation.head:
        raise Invalid("already_head", "this member is already the head", field="/member_id")
    if former_head_relation == Relation.head:
        raise Invalid(
            "former_head_relation_invalid",
            "the former head needs another relation",
            field="/former_head_relation",
        )


# == split / merge / move (分户, 合户, 迁移) =====================================================================
def plan_split(
    active: Mapping[uuid.UUID, str],
    member_ids: Sequence[uuid.UUID],
    new_head_id: uuid.UUID,
    relations: Mapping[uuid.UUID, Relation],
) -> list[tuple[uuid.UUID, Relation]]:
    """The members moving into the new household with their relation to its head.

    `active` maps each active member of the household to their relation. The moving members must be active here,
    the new head one of them; at least one member stays behind, and the head stays (change the head first).
    """
    moving = list(dict.fromkeys(member_ids))
    for mid in moving:
        if mid not in active:
            raise Invalid(
                "not_a_member", f"{mid} is not an active member of this household", field="/member_ids"
            )
    if new_head_id not in moving:
        raise Invalid("new_head_invalid", "new_head_id must be one of member_ids", field="/new_head_id")
    if len(moving) == len(active):
        raise Invalid("split_leaves_nobody", "a split leaves at least one member behind", field="/member_ids")
    if any(active[mid] == Relation.head for mid in moving):
        raise Invalid(
            "head_stays",
            "the head stays in the original household (change the head first)",
            field="/member_ids",
        )
    return [
        (mid, Relation.head if mid == new_head_id else relations.get(mid, Relation.other)) for mid in moving
    ]


def check_merge_request(household_id: uuid.UUID, from_household_id: uuid.UUID) -> None:
    if from_household_id == household_id:
        raise Invalid("merge_into_itself", "a household cannot absorb itself", field="/from_household_id")


def check_merge(
    village_code: str,
    from_village_code: str,
    absorbed: Sequence[uuid.UUID],
    relations: Mapping[uuid.UUID, Relation],
) -> None:
    """Merges stay within one village; every absorbed member gets a relation to this head, none becomes head."""
    if village_code != from_village_code:
        raise Invalid(
            "merge_across_villages", "households merge within one village", field="/from_household_id"
        )
    missing = [str(m) for m in absorbed if m not in relations]
    if missing:
        raise Invalid(
            "relations_missing",
            "give the relation to this household's head of every absorbed member",
            field="/relations",
            missing=missing,
        )
    if any(r is Relation.head for r in relations.values()):
        raise Invalid("head_stays", "this household keeps its head", field="/relations")


def check_move_request(household_id: uuid.UUID, to_household_id: uuid.UUID, relation: Relation) -> None:
    if to_household_id == household_id:
        raise Invalid("already_member", "the member is already in this household", field="/to_household_id")
    if relation is Relation.head:
        raise Invalid("head_stays", "the receiving household keeps its head", field="/relation")


def check_mover(relation: str) -> None:
    if relation == Relation.head:
        raise Refused("head_leaving", "the head cannot move; change the head first")


# == relocation (易地扶贫搬迁, issue #15) =========================================================================
@code_list("relocation_reason", "搬迁原因", "Relocation reason")
class RelocationReason(LabelledEnum):
    """Why a whole household moves to another administrative village (户籍迁移)."""

    relocation = "relocation", "易地扶贫搬迁", "Poverty relocation"
    ecological = "ecological", "生态移民", "Ecological migration"
    geo_hazard = "geo_hazard", "地质灾害避险搬迁", "Geological-hazard relocation"
    marriage_move = "marriage_move", "婚迁", "Moved on marriage"
    other = "other", "其他"


#: Who relocates a household: the county office, whose scope must hold both villages (a county-level admin moves
#: households within the county; a move across counties needs a scope that holds both, else 404 like missing).
RELOCATORS: frozenset[Role] = frozenset({Role.county_admin})
#: Records at rest: not in the registry's workflow yet, registered (建档立卡) or exited (已脱贫), or rejected. A
#: household in the middle of a review or a notice (posted in its village) finishes that step first.
RELOCATABLE_STATUSES: frozenset[str] = frozenset({"candidate", "registered", "exited", "rejected"})


def check_relocation(
    principal: Principal, status: str, from_village: str, to_village: str, *, effective: date, today: date
) -> None:
    """A whole household moves to another village (易地扶贫搬迁): by the county office, to an administrative
    village of its scope other than the current one, from a record that is open and not mid-workflow, on a day
    that has come (a move is recorded once it happened)."""
    if principal.role not in RELOCATORS:
        raise NotAllowed("relocation_not_allowed", "households are relocated by the county office")
    if status in CLOSED_STATUSES:
        raise Refused("record_closed", f"the household is {status}; its record is closed")
    if level_of(to_village) is not RegionLevel.village:
        raise Invalid(
            "not_a_village", "to_village_code must be an administrative village", field="/to_village_code"
        )
    if to_village == from_village:
        raise Invalid(
            "relocation_same_village", "the household already lives in this village", field="/to_village_code"
        )
    if effective > today:
        raise Invalid(
            "relocation_date_future", "effective_date cannot be in the future", field="/effective_date"
        )
    if not principal.covers(to_village):
        raise Missing("region_missing", f"region {to_village} not found")
    if status not in RELOCATABLE_STATUSES:
        raise Refused(
            "relocation_in_workflow",
            f"the household is {status}: finish the running review or notice before relocating it",
            status=status,
        )


# == lists and statistics (§2.15 counts; incidence = poor people / population) ==============================
def region_visible(principal: Principal, region: str) -> bool:
    """A list narrowed to `region` can show something: the region and the caller's scope overlap."""
    return (
        principal.role is Role.service
        or in_scope(principal.region, region)
        or in_scope(region, principal.region)
    )


@dataclass(frozen=True, slots=True)
class VillageTally:
    """One village's households (and people) by where they stand."""

    village_code: str
    poor_households: int
    poor_people: int
    exited_households: int
    exited_people: int
    in_identification_households: int
    returned_households: int


def tally_under(prefix: str, tallies: Iterable[VillageTally]) -> VillageTally:
    """The sum of the villages whose code starts with `prefix` (a region's prefix)."""
    rows = [t for t in tallies if t.village_code.startswith(prefix)]
    return VillageTally(
        village_code=prefix,
        poor_households=sum(t.poor_households for t in rows),
        poor_people=sum(t.poor_people for t in rows),
        exited_households=sum(t.exited_households for t in rows),
        exited_people=sum(t.exited_people for t in rows),
        in_identification_households=sum(t.in_identification_households for t in rows),
        returned_households=sum(t.returned_households for t in rows),
    )


def population_of(
    code: str, recorded: Mapping[str, int], children: Mapping[str, Sequence[str]]
) -> int | None:
    """A region's population: its own figure, else the sum of its children's (each counted once), else None."""
    if code in recorded:
        return recorded[code]
    below = [
        p for p in (population_of(c, recorded, children) for c in children.get(code, ())) if p is not None
    ]
    return sum(below) if below else None


def base_flags(poor_people: int, population: int | None) -> list[str]:
    """Flags on a region's counts (invariant 10): `poor_above_population` when the poor people counted now exceed
    the population recorded for the year (registrations after the population was recorded), so an incidence above
    100 % is never shown silently."""
    return ["poor_above_population"] if population is not None and poor_people > population else []


def check_planned_exit_year(planned: int | None, identification_year: int) -> None:
    """A planned exit year lies at or after the identification year (invariant 35): 422 `exit_year_out_of_range`."""
    if planned is not None and planned < identification_year:
        raise Invalid(
            "exit_year_out_of_range",
            f"planned_exit_year {planned} is before the identification year {identification_year}",
            field="/planned_exit_year",
        )


def incidence_percent(poor_people: int, population: int | None) -> Decimal | None:
    """Poverty incidence (贫困发生率) in percent, two places rounded half up; None without a population."""
    if not population:
        return None
    return (Decimal(poor_people) * 100 / population).quantize(CENT, rounding=ROUND_HALF_UP)


# -- membership conflicts outside the caller's scope (issue #14 item 8) ------------------------------------------
def person_conflict_hidden(conflicting_in_scope: bool | None) -> bool:
    """Whether a membership conflict (invariant 2) must be answered without revealing it.

    `conflicting_in_scope` is True when the household the person is an active member of lies in the caller's
    scope (the caller may see it, so the detailed answer tells nothing new), False when it lies outside, None when
    the conflict could not be traced to a household (a race, a removed record): both of the latter are hidden.
    """
    return conflicting_in_scope is not True


def hidden_person_conflict() -> Refused:
    """The one answer for a conflict outside the caller's scope: the same whether the ID number belongs to an
    active member of a household elsewhere or the conflict is otherwise unresolvable, naming no household or
    region (an officer of another village or county learns nothing about the person's membership)."""
    return Refused(
        "person_registration_conflict",
        "this person cannot be registered here; the county poverty office resolves it through the documented "
        "transfer procedure (a member moves between households: POST /households/{id}/members/{member_id}/move)",
    )

"""The checking chain (检查考核, DOMAIN.md §6.3, R11, R13-R15): inspections with their sample, findings, and
rectification tasks (限期整改); and what the inspection metrics of the catalogue count. Pure: the standard
library, `shared.roles`, `shared.errors`, `shared.labels` and the metric catalogue.

`provincial spot-check (sample)` → `city supervision` → `county verification (核查)` → `township full spot-check`
→ villages and households. Each check is an **inspection** of one region (its scope) for one year, with a sample
of households drawn at a configurable rate, **findings** (severity, category) and **rectification** tasks
(owner, deadline, status). Only confirmed findings count: they are the `inspection` metrics a scheme reads
(deductions, vetoes), and a finding may name its own effect (points off an indicator, or a veto).

| rule | DOMAIN.md | here |
|---|---|---|
| the chain: province spot-checks, city supervises, county verifies, township checks everything | §6.3, R13, R15 | `InspectionLevel`, `LEVEL_REGION` |
| a check's scope lies at or below the checking level's region; the level's own officers create it | R15 ("province supervises cities/counties, …, townships supervise villages and households") | `owner_region`, `require_creator` |
| sampling rate configurable; default county 10 % of households per township [D]; the township's check is full | §6.3 [D] | `DEFAULT_RATE`, `draw` |
| the sample is drawn from a seed stored on the inspection, so it can be re-derived | issue #12 [D] | `sample_key`, `draw` |
| planned → in progress → closed; a closed inspection takes no new finding | §6.3 [D] | `InspectionStatus`, `check_*` |
| finding: subject, category (mis-identified, missing record, fund misuse, 拆户, 空挂户, 优亲厚友, 数据造假, …), severity | §6.3, invariants 5-7, 37 | `FindingCategory`, `Severity` |
| a finding is confirmed by another person than its reporter, at the inspection's level or above | issue #12 [D]; invariant 18 (no skipping levels) | `require_reviewer` |
| findings feed scoring: deductions or a veto; only confirmed findings count | §6.3; invariant 45 | `Effect`, `FINDING_COUNTS`, `identification_accuracy` |
| 限期整改: owner, deadline after the finding, open → submitted → accepted / reopened; overdue reported | R11 | `RectificationStatus`, `check_deadline`, `is_overdue` |
| identification accuracy = households checked without a mis-identification / households checked x 100 | R13; metric `identification_accuracy` | `identification_accuracy` |
| the provincial client is read-only | invariant 48 (E); §1.4 `province_system` "read-only" | `LEVEL_CREATORS`, `acts_for_checking_side` |

Invariant 48 is enforced, with no exception: the province client (`province_system`, the only role bound to the
province) reads every inspection, finding, sample and rectification of its province — it is on the checking side
of every check for reading — but writes none of them: it creates no inspection, reports and reviews no finding,
orders and accepts no rectification. §1.4 has no provincial or prefecture officer role (its `assessor`, the
provincial spot-check team A3, is not a role of this system yet), so province- and city-level inspections have no
creator (`LEVEL_CREATORS`): they answer 403 `inspection_creator_required` until such a role exists.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.assessment.metrics.domain import CATALOGUE, MetricSource, SubjectType
from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import PREFIX_LENGTH, Principal, RegionLevel, Role, in_scope, is_region_code, level_of

__all__ = [
    "ACCURACY",
    "ATTACHMENT_TYPES",
    "DEFAULT_RATE",
    "FINDING_COUNTS",
    "FINDING_SUBJECTS_FOR",
    "FIRST_YEAR",
    "FRAME_STATUSES",
    "INSPECTION_FIGURE_SUBJECTS",
    "LEVEL_CREATORS",
    "LEVEL_REGION",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MAX_INSPECTORS",
    "NDJSON",
    "OVERDUE_STATUSES",
    "PLACE_ONLY_CATEGORIES",
    "UNFINISHED_RECTIFICATION",
    "ZERO_WHEN_ABSENT",
    "AttachmentTooLarge",
    "AttachmentTypeRefused",
    "Effect",
    "EffectKind",
    "FindingCategory",
    "FindingCount",
    "FindingStatus",
    "FindingSubjectType",
    "InspectionLevel",
    "InspectionStatus",
    "OwnerKind",
    "RectificationStatus",
    "Sample",
    "SampledHousehold",
    "SamplingUnit",
    "Severity",
    "Stratum",
    "acts_for_checking_side",
    "check_attachment",
    "check_attachment_count",
    "check_closable",
    "check_deadline",
    "check_editable",
    "check_found_on",
    "check_rectifiable",
    "check_reopen",
    "check_reviewable",
    "check_startable",
    "check_submittable",
    "check_takes_findings",
    "check_year",
    "child_region",
    "confirm",
    "counts_for",
    "days_overdue",
    "dismiss",
    "draw",
    "draw_size",
    "finding_region",
    "identification_accuracy",
    "inspection_metrics",
    "invalid_at",
    "is_overdue",
    "is_owner_side",
    "owner_region",
    "region_at",
    "require_creator",
    "require_rectification_answerer",
    "require_rectification_reviewer",
    "require_reporter",
    "require_reviewer",
    "sample_key",
    "sniff",
    "subject_in_scope",
    "validate_subject",
    "wants_ndjson",
]

#: The first year assessed (precision poverty alleviation, 2013: the registry's first year too).
FIRST_YEAR = 2013
#: People named as inspectors of one inspection.
MAX_INSPECTORS = 50


# -- code lists -------------------------------------------------------------------------------------------------
@code_list("assessment_inspection_level", "检查层级", "Inspection level")
class InspectionLevel(LabelledEnum):
    """Who checks (§6.3, R13, R15): the province's spot check down to the township's full check."""

    province = "province", "省抽查", "Provincial spot check"
    city = "city", "市督查", "City supervision"
    county = "county", "县核查", "County verification"
    township = "township", "乡镇全面抽查", "Township full spot check"

    @property
    def rank(self) -> int:
        """Higher checks lower: township 1 < county 2 < city 3 < province 4."""
        return _RANK[self]


_RANK = {
    InspectionLevel.township: 1,
    InspectionLevel.county: 2,
    InspectionLevel.city: 3,
    InspectionLevel.province: 4,
}


@code_list("assessment_inspection_status", "检查状态", "Inspection status")
class InspectionStatus(LabelledEnum):
    planned = "planned", "计划中", "Planned"
    in_progress = "in_progress", "检查中", "In progress"
    closed = "closed", "已结束", "Closed"


@code_list("assessment_sampling_unit", "抽样单位", "Sampling unit")
class SamplingUnit(LabelledEnum):
    """What is drawn: households, or villages (every household of a drawn village is checked)."""

    household = "household", "按户抽取", "Households"
    village = "village", "按村抽取(抽中村全部农户)", "Villages (all their households)"


@code_list("assessment_finding_subject", "问题对象类型", "Finding subject")
class FindingSubjectType(LabelledEnum):
    """What a finding is about."""

    household = "household", "农户"
    village = "village", "行政村", "Village"
    township = "township", "乡镇"
    cadre = "cadre", "帮扶干部", "Cadre"
    helping_unit = "helping_unit", "帮扶单位", "Helping unit"


@code_list("assessment_finding_category", "问题类别", "Finding category")
class FindingCategory(LabelledEnum):
    """What was found wrong (§6.3; invariants 5-7 and 37 name the integrity ones)."""

    mis_identified = "mis_identified", "识别不准", "Mis-identified"
    missing_record = "missing_record", "资料缺失", "Missing record"
    fund_misuse = "fund_misuse", "资金违规", "Fund misuse"
    split_household = "split_household", "拆户分户", "Split household (拆户)"
    empty_household = "empty_household", "空挂户", "Empty household (空挂户)"
    favouritism = "favouritism", "优亲厚友", "Favouritism (优亲厚友)"
    fabricated_data = "fabricated_data", "数据造假", "Fabricated data"
    other = "other", "其他问题", "Other"


@code_list("assessment_finding_severity", "问题严重程度", "Finding severity")
class Severity(LabelledEnum):
    minor = "minor", "一般"
    major = "major", "较重"
    critical = "critical", "严重"


@code_list("assessment_finding_status", "问题核实状态", "Finding status")
class FindingStatus(LabelledEnum):
    """Reported by an inspector; confirmed (it counts) or dismissed by a second person."""

    reported = "reported", "已上报(待核实)", "Reported"
    confirmed = "confirmed", "已核实", "Confirmed"
    dismissed = "dismissed", "不予认定", "Dismissed"


@code_list("assessment_finding_effect", "问题处理方式", "Finding effect")
class EffectKind(LabelledEnum):
    """What a confirmed finding does to a score: points off one indicator, or a veto rule (§6.3)."""

    deduction = "deduction", "扣分"
    veto = "veto", "一票否决"


@code_list("assessment_rectification_status", "整改状态", "Rectification status")
class RectificationStatus(LabelledEnum):
    """限期整改 (R11): open until the owner reports, then accepted (销号) or sent back."""

    open = "open", "整改中", "Open"
    submitted = "submitted", "已报送整改情况", "Submitted"
    accepted = "accepted", "已验收销号", "Accepted"
    reopened = "reopened", "退回重新整改", "Reopened"


@code_list("assessment_rectification_owner", "整改责任主体", "Rectification owner")
class OwnerKind(LabelledEnum):
    """Who must rectify: a person (a user of the platform), a helping unit, or the office of a region (the
    village committees, a township government)."""

    user = "user", "责任人", "A person (user)"
    helping_unit = "helping_unit", "帮扶单位", "Helping unit"
    region_office = "region_office", "村(乡镇)组织", "Office of a region"


#: The region an inspection level's own officers are bound to: a city's is its prefecture.
LEVEL_REGION: Mapping[InspectionLevel, RegionLevel] = {
    InspectionLevel.province: RegionLevel.province,
    InspectionLevel.city: RegionLevel.prefecture,
    InspectionLevel.county: RegionLevel.county,
    InspectionLevel.township: RegionLevel.township,
}
#: Default sampling rates in percent [D]: county 10 % of households per township (§6.3); the township's check is
#: 全面 (every household); province and city as the county's.
DEFAULT_RATE: Mapping[InspectionLevel, Decimal] = {
    InspectionLevel.province: Decimal(10),
    InspectionLevel.city: Decimal(10),
    InspectionLevel.county: Decimal(10),
    InspectionLevel.township: Decimal(100),
}
#: The sampling frame: identified (建档立卡) households, from registration to exit (the registry's statuses).
FRAME_STATUSES: tuple[str, ...] = (
    "registered",
    "exit_proposed",
    "exit_first_notice",
    "exit_township_reviewed",
    "exit_second_notice",
    "exit_county_reviewed",
    "exited",
)
#: Integrity findings about identification: only about households and the places that identified them.
PLACE_ONLY_CATEGORIES: frozenset[FindingCategory] = frozenset(
    {FindingCategory.split_household, FindingCategory.empty_household, FindingCategory.favouritism}
)
_PLACE_SUBJECTS = frozenset(
    {FindingSubjectType.household, FindingSubjectType.village, FindingSubjectType.township}
)
_REGION_SUBJECTS = {
    FindingSubjectType.village: RegionLevel.village,
    FindingSubjectType.township: RegionLevel.township,
}
#: Who creates an inspection of each level: that level's own officers. None for province and city checks: the
#: province client is read-only (invariant 48) and no other role is a provincial or city officer.
LEVEL_CREATORS: Mapping[InspectionLevel, Role | None] = {
    InspectionLevel.township: Role.township_officer,
    InspectionLevel.county: Role.county_admin,
    InspectionLevel.city: None,
    InspectionLevel.province: None,
}
#: The inspection level each officer role checks at (the province client: every level, for reading only).
_OFFICER_RANK: Mapping[Role, int] = {
    Role.township_officer: InspectionLevel.township.rank,
    Role.county_admin: InspectionLevel.county.rank,
    Role.province_system: InspectionLevel.province.rank,
}
#: Rectification tasks still to be done: one per finding at a time; overdue ones are those past the deadline.
UNFINISHED_RECTIFICATION: frozenset[RectificationStatus] = frozenset(
    {RectificationStatus.open, RectificationStatus.submitted, RectificationStatus.reopened}
)
#: Waiting for the owner: past the deadline in one of these, a task is overdue.
OVERDUE_STATUSES: frozenset[RectificationStatus] = frozenset(
    {RectificationStatus.open, RectificationStatus.reopened}
)


def invalid_at(code: str, pointer: str, message: str, **details: object) -> Invalid:
    """A 422 naming the input by its JSON Pointer (the `errors[]` of every validation problem)."""
    return Invalid(
        code,
        f"{pointer}: {message}",
        errors=[{"pointer": pointer, "message": message, "code": code}],
        **details,
    )


# -- regions ----------------------------------------------------------------------------------------------------
def region_at(code: str, level: RegionLevel) -> str | None:
    """The region at `level` that `code` lies in (or is), None when `code` is above that level or the level is
    skipped on its way (Hainan's counties have no prefecture)."""
    if not is_region_code(code) or level is RegionLevel.national:
        return None
    n = PREFIX_LENGTH[level]
    if PREFIX_LENGTH[level_of(code)] < n:
        return None
    candidate = code[:n].ljust(12, "0")
    return candidate if is_region_code(candidate) and level_of(candidate) is level else None


def owner_region(level: InspectionLevel, scope: str) -> str:
    """The region whose officers check `scope` at `level` (the county of a county verification, …); 422 naming
    `/region_code` when the scope is not below that level (a township cannot check a county)."""
    found = region_at(scope, LEVEL_REGION[level])
    if found is None:
        raise invalid_at(
            "scope_above_level",
            "/region_code",
            f"a {level.value}-level inspection checks a region inside one {LEVEL_REGION[level].value}",
            level=level.value,
        )
    return found


def child_region(parent: str, code: str) -> str:
    """The child of `parent` on the way down to `code` (`code` itself when it is the parent): the row of a
    per-region summary."""
    if code == parent:
        return parent
    depth = PREFIX_LENGTH[level_of(parent)]
    for level in (RegionLevel.province, RegionLevel.prefecture, RegionLevel.county, RegionLevel.township):
        n = PREFIX_LENGTH[level]
        if n <= depth:
            continue
        candidate = code[:n].ljust(12, "0")
        if candidate != parent and is_region_code(candidate) and level_of(candidate) is level:
            return candidate
    return code


def check_year(year: int, today: date) -> None:
    if not FIRST_YEAR <= year <= today.year:
        raise invalid_at(
            "year_out_of_range", "/year", f"the year lies in {FIRST_YEAR}..{today.year}", year=year
        )


# -- who may ----------------------------------------------------------------------------------------------------
def require_creator(principal: Principal, level: InspectionLevel, scope: str) -> str:
    """The owner region of a new inspection when the caller is the level's own officer: a township officer in
    their township, a county admin in their county (`LEVEL_CREATORS`). A scope outside the caller's region is
    missing (404); another role is 403 — for a province or city check every role, the province client included
    (invariant 48: it is read-only)."""
    owner = owner_region(level, scope)
    creator = LEVEL_CREATORS[level]
    if creator is None or principal.role is not creator or principal.read_only:
        detail = (
            f"no role creates a {level.value}-level inspection yet: the province client is read-only "
            "(invariant 48)"
            if creator is None
            else f"a {level.value}-level inspection is created by that level's own officers, "
            f"not {principal.role.value}"
        )
        raise NotAllowed("inspection_creator_required", detail, role=principal.role.value, level=level.value)
    own = principal.region == owner if level in (InspectionLevel.township, InspectionLevel.county) else True
    if not own or not principal.covers(scope):
        raise Missing("region_not_found", f"region {scope} not found")
    return owner


def is_owner_side(principal: Principal, level: InspectionLevel, owner: str) -> bool:
    """The checking side: an officer of the inspection's level or above whose region holds its owner region
    (a township check: its township's officers, the county's admins, the province; a county check: the county's
    admins and the province; city and province checks: the province). The province client is on it for reading
    (a check's sample) only: every write asks `acts_for_checking_side`."""
    rank = _OFFICER_RANK.get(principal.role)
    return rank is not None and rank >= level.rank and principal.covers(owner)


def acts_for_checking_side(principal: Principal, level: InspectionLevel, owner: str) -> bool:
    """The checking side when it writes (edits, starts, closes, reports, reviews, orders, accepts): never a
    read-only client (invariant 48), which is on the checking side for reading only."""
    return not principal.read_only and is_owner_side(principal, level, owner)


def require_reporter(
    principal: Principal, level: InspectionLevel, owner: str, inspectors: Iterable[str]
) -> None:
    """A finding is reported by one of the inspection's inspectors or by its checking side (never by a read-only
    client, invariant 48)."""
    if not principal.read_only and (
        principal.sub in set(inspectors) or is_owner_side(principal, level, owner)
    ):
        return
    raise NotAllowed(
        "inspector_required",
        "findings are reported by the inspection's inspectors or its checking officers",
        role=principal.role.value,
    )


def require_reviewer(principal: Principal, level: InspectionLevel, owner: str, reporter: str) -> None:
    """A finding is confirmed or dismissed by a second person, of the inspection's level or above."""
    if not acts_for_checking_side(principal, level, owner):
        raise NotAllowed(
            "reviewer_level_required",
            f"a finding of a {level.value}-level inspection is reviewed at that level or above",
            role=principal.role.value,
            level=level.value,
        )
    if principal.sub == reporter:
        raise NotAllowed(
            "second_person_required", "the reporter of a finding may not review it: another person confirms"
        )


def require_rectification_reviewer(
    principal: Principal, level: InspectionLevel, owner: str, submitter: str | None
) -> None:
    """A rectification is ordered, accepted or sent back by the checking side — never by whoever reported it."""
    if not acts_for_checking_side(principal, level, owner):
        raise NotAllowed(
            "rectification_reviewer_required",
            "rectification is ordered and accepted by the inspection's checking officers",
            role=principal.role.value,
        )
    if submitter is not None and principal.sub == submitter:
        raise NotAllowed(
            "second_person_required",
            "whoever reported the rectification may not accept it: another person does",
        )


def require_rectification_answerer(
    principal: Principal, owner_kind: OwnerKind, owner_id: str, responsible_sub: str | None
) -> None:
    """The owner answers: the person named, the unit's responsible person, a region office's own officers."""
    if principal.read_only:
        raise NotAllowed("rectification_owner_required", "a read-only client does not rectify")
    if responsible_sub is not None and principal.sub == responsible_sub:
        return
    if owner_kind is OwnerKind.user and principal.sub == owner_id:
        return
    if (
        owner_kind is OwnerKind.region_office
        and principal.region == owner_id
        and principal.role
        in (
            Role.village_officer,
            Role.township_officer,
            Role.county_admin,
        )
    ):
        return
    raise NotAllowed(
        "rectification_owner_required",
        "only the task's owner reports its rectification",
        role=principal.role.value,
    )


# -- the inspection lifecycle -----------------------------------------------------------------------------------
def check_startable(status: InspectionStatus) -> None:
    if status is not InspectionStatus.planned:
        raise Refused(
            "inspection_not_planned",
            f"the inspection is {status.value}: only a planned one starts",
            status=status.value,
        )


def check_closable(status: InspectionStatus, unreviewed: int) -> None:
    """An inspection closes once it is under way and every finding has been confirmed or dismissed."""
    if status is not InspectionStatus.in_progress:
        raise Refused(
            "inspection_not_in_progress",
            f"the inspection is {status.value}: only one in progress closes",
            status=status.value,
        )
    if unreviewed:
        raise Refused(
            "findings_unreviewed",
            f"{unreviewed} finding(s) still wait for confirmation or dismissal",
            unreviewed=unreviewed,
        )


def check_takes_findings(status: InspectionStatus) -> None:
    if status is InspectionStatus.planned:
        raise Refused(
            "inspection_not_started", "the inspection has not started: start it (draw its sample) first"
        )
    if status is InspectionStatus.closed:
        raise Refused("inspection_closed", "the inspection is closed: it takes no new findings")


def check_editable(status: InspectionStatus, *, sampling: bool) -> None:
    """The sampling (rate, unit) changes while planned; name and inspectors until closed."""
    if status is InspectionStatus.closed or (sampling and status is not InspectionStatus.planned):
        raise Refused(
            "inspection_not_editable",
            "the sampling changes only while planned, the rest until the inspection is closed",
            status=status.value,
        )


# -- sampling ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SampledHousehold:
    household_id: uuid.UUID
    village_code: str
    #: The township it was drawn in (strata are townships, §6.3: "per township").
    stratum: str
    #: Its place in the stratum's draw (0 first): sorted by `sample_key`.
    rank: int


@dataclass(frozen=True, slots=True)
class Stratum:
    """One township of the frame: how many units it had, how many were drawn, and the frame's digest (the sorted
    ids' sha256) so the same frame can be recognised when the sample is re-derived."""

    code: str
    frame_size: int
    units: int
    drawn: int
    digest: str


@dataclass(frozen=True, slots=True)
class Sample:
    households: tuple[SampledHousehold, ...]
    strata: tuple[Stratum, ...]

    @property
    def frame_size(self) -> int:
        return sum(s.frame_size for s in self.strata)

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(f"{s.code}:{s.digest}" for s in self.strata).encode()).hexdigest()


def sample_key(seed: str, unit: str) -> str:
    """The unit's place in every draw from `seed`: sha256("<seed>:<unit>"). Sorting by it is a random permutation
    that anyone holding the seed and the frame re-derives, and a unit's key does not depend on the others, so a
    household added to the frame later never reshuffles the rest."""
    return hashlib.sha256(f"{seed}:{unit}".encode()).hexdigest()


def draw_size(units: int, rate: Decimal) -> int:
    """ceil(units x rate / 100): at least one of any non-empty stratum, all of them at 100 %."""
    if units <= 0:
        return 0
    return min(units, max(1, math.ceil(Decimal(units) * rate / 100)))


def draw(seed: str, frame: Iterable[tuple[uuid.UUID, str]], rate: Decimal, unit: SamplingUnit) -> Sample:
    """The sample of `frame` ((household id, village code) pairs) at `rate` percent per township: households (or
    villages) of each township sorted by `sample_key`, the first `draw_size` taken."""
    by_stratum: dict[str, list[tuple[uuid.UUID, str]]] = {}
    for household_id, village in frame:
        by_stratum.setdefault(village[:9].ljust(12, "0"), []).append((household_id, village))
    households: list[SampledHousehold] = []
    strata: list[Stratum] = []
    for code in sorted(by_stratum):
        members = sorted(by_stratum[code], key=lambda m: str(m[0]))
        digest = hashlib.sha256("\n".join(str(h) for h, _ in members).encode()).hexdigest()
        if unit is SamplingUnit.household:
            ordered = sorted(members, key=lambda m: sample_key(seed, str(m[0])))
            taken = ordered[: draw_size(len(ordered), rate)]
            households.extend(SampledHousehold(h, v, code, k) for k, (h, v) in enumerate(taken))
            strata.append(Stratum(code, len(members), len(members), len(taken), digest))
            continue
        villages = sorted({v for _, v in members}, key=lambda v: sample_key(seed, v))
        chosen = villages[: draw_size(len(villages), rate)]
        rank = {v: k for k, v in enumerate(chosen)}
        picked = sorted((m for m in members if m[1] in rank), key=lambda m: (rank[m[1]], str(m[0])))
        households.extend(SampledHousehold(h, v, code, k) for k, (h, v) in enumerate(picked))
        strata.append(Stratum(code, len(members), len(villages), len(chosen), digest))
    return Sample(tuple(households), tuple(strata))


# -- findings ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Effect:
    """What a confirmed finding does: `points` off the indicator `code` (deduction), or the veto rule `code`."""

    kind: EffectKind
    code: str
    points: Decimal | None = None


def validate_subject(subject_type: FindingSubjectType, subject_id: str, category: FindingCategory) -> None:
    """The subject's id is of its type (a village's or township's division code, else a UUID) and the category
    fits it (拆户, 空挂户, 优亲厚友 are about households and the places that identified them)."""
    level = _REGION_SUBJECTS.get(subject_type)
    if level is not None:
        if not is_region_code(subject_id) or level_of(subject_id) is not level:
            raise invalid_at(
                "subject_id_invalid",
                "/subject_id",
                f"a {subject_type.value} is named by its {level.value} code",
            )
    else:
        try:
            uuid.UUID(subject_id)
        except ValueError:
            raise invalid_at(
                "subject_id_invalid", "/subject_id", f"a {subject_type.value} is named by its id (a UUID)"
            ) from None
    if category in PLACE_ONLY_CATEGORIES and subject_type not in _PLACE_SUBJECTS:
        raise invalid_at(
            "category_subject_mismatch",
            "/category",
            f"{category.value} is found on a household, village or township, not a {subject_type.value}",
        )


def finding_region(
    subject_type: FindingSubjectType, subject_id: str, *, household_village: str | None, given: str | None
) -> str:
    """Where a finding lies: a place's own code, a household's village, or (cadre, unit) the region given."""
    if subject_type in _REGION_SUBJECTS:
        if given is not None and given != subject_id:
            raise invalid_at("region_mismatch", "/region_code", "a place's finding lies in the place itself")
        return subject_id
    if subject_type is FindingSubjectType.household:
        if household_village is None:
            raise invalid_at("household_unknown", "/subject_id", "the registry has no such household")
        if given is not None and given != household_village:
            raise invalid_at("region_mismatch", "/region_code", "the household lives in another village")
        return household_village
    if given is None:
        raise invalid_at(
            "region_required",
            "/region_code",
            f"say where the {subject_type.value}'s finding was made (a region code)",
        )
    return given


def subject_in_scope(scope: str, region: str, pointer: str) -> None:
    """A finding's subject lies in the inspection's scope."""
    if not in_scope(scope, region):
        raise invalid_at(
            "subject_outside_inspection",
            pointer,
            f"the subject lies in {region}, outside the inspection's region {scope}",
        )


def check_found_on(found_on: date, *, started_on: date | None, today: date) -> None:
    if found_on > today:
        raise invalid_at("found_in_future", "/found_on", "a finding is not dated in the future")
    if started_on is not None and found_on < started_on:
        raise invalid_at(
            "found_before_start", "/found_on", f"the inspection started on {started_on.isoformat()}"
        )


def confirm(status: FindingStatus) -> FindingStatus:
    if status is not FindingStatus.reported:
        raise Refused(
            "finding_not_reported",
            f"the finding is {status.value}: only a reported one is confirmed",
            status=status.value,
        )
    return FindingStatus.confirmed


def dismiss(status: FindingStatus) -> FindingStatus:
    """Reported or confirmed → dismissed (a confirmed finding overturned on review); it stops counting."""
    if status is FindingStatus.dismissed:
        raise Refused("finding_dismissed", "the finding is dismissed already", status=status.value)
    return FindingStatus.dismissed


# -- rectification ----------------------------------------------------------------------------------------------
def check_deadline(deadline: date, *, found_on: date, today: date, pointer: str = "/deadline") -> None:
    """限期: the deadline comes after the finding's date, and not in the past."""
    if deadline <= found_on:
        raise invalid_at(
            "deadline_not_after_finding",
            pointer,
            f"the deadline comes after the finding ({found_on.isoformat()})",
        )
    if deadline < today:
        raise invalid_at("deadline_past", pointer, "the deadline is not in the past")


def check_rectifiable(status: FindingStatus, unfinished: bool) -> None:
    if status is not FindingStatus.confirmed:
        raise Refused("finding_not_confirmed", "only a confirmed finding is rectified", status=status.value)
    if unfinished:
        raise Refused("rectification_open", "the finding has a rectification under way: accept or reopen it")


def check_submittable(status: RectificationStatus) -> RectificationStatus:
    if status not in OVERDUE_STATUSES:
        raise Refused(
            "rectification_not_open",
            f"the task is {status.value}: only an open or reopened one is reported",
            status=status.value,
        )
    return RectificationStatus.submitted


def check_reviewable(status: RectificationStatus) -> None:
    if status is not RectificationStatus.submitted:
        raise Refused(
            "rectification_not_submitted",
            f"the task is {status.value}: only a submitted one is reviewed",
            status=status.value,
        )


def check_reopen(status: RectificationStatus) -> RectificationStatus:
    check_reviewable(status)
    return RectificationStatus.reopened


def is_overdue(status: RectificationStatus, deadline: date, today: date) -> bool:
    """Waiting for the owner past the deadline."""
    return status in OVERDUE_STATUSES and deadline < today


def days_overdue(deadline: date, today: date) -> int:
    return max((today - deadline).days, 0)


# -- what the inspection metrics count --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FindingCount:
    """A metric counting confirmed findings of the year: of these categories (and severities), about subjects of
    these kinds, for the subject types listed."""

    metric: str
    categories: frozenset[FindingCategory]
    subjects: frozenset[SubjectType]
    severities: frozenset[Severity] | None = None


_PLACES = frozenset({SubjectType.village, SubjectType.township})
_HELPERS = frozenset({SubjectType.cadre, SubjectType.helping_unit})
_C = FindingCategory

#: Every inspection count of the metric catalogue. Two readings need saying: 挪用专项资金
#: (`funds_misused_confirmed`, the veto of templates B, D, E) is a *critical* fund-misuse finding, the others
#: are deducted; a cadre's or unit's fabricated data is their help records (`fabricated_visits_confirmed`, the
#: veto of template C, counts the same findings as `fabricated_data_confirmed`).
FINDING_COUNTS: tuple[FindingCount, ...] = (
    FindingCount("findings_mis_identified", frozenset({_C.mis_identified}), _PLACES | _HELPERS),
    FindingCount("findings_missing_record", frozenset({_C.missing_record}), _PLACES | _HELPERS),
    FindingCount("findings_fund_misuse", frozenset({_C.fund_misuse}), _PLACES | _HELPERS),
    FindingCount("findings_other", frozenset({_C.other}), _PLACES | _HELPERS),
    FindingCount("split_households_confirmed", frozenset({_C.split_household}), _PLACES),
    FindingCount("empty_households_confirmed", frozenset({_C.empty_household}), _PLACES),
    FindingCount("favouritism_confirmed", frozenset({_C.favouritism}), _PLACES),
    FindingCount("fabricated_data_confirmed", frozenset({_C.fabricated_data}), _PLACES | _HELPERS),
    FindingCount("fabricated_visits_confirmed", frozenset({_C.fabricated_data}), _HELPERS),
    FindingCount(
        "funds_misused_confirmed",
        frozenset({_C.fund_misuse}),
        _PLACES | _HELPERS,
        frozenset({Severity.critical}),
    ),
)
#: Which findings count for a subject type: a place's are those on it, on places inside it and on its households
#: (by region); a cadre's or unit's those on it (by id).
FINDING_SUBJECTS_FOR: Mapping[SubjectType, frozenset[FindingSubjectType]] = {
    SubjectType.village: frozenset({FindingSubjectType.household, FindingSubjectType.village}),
    SubjectType.township: frozenset(
        {FindingSubjectType.household, FindingSubjectType.village, FindingSubjectType.township}
    ),
    SubjectType.cadre: frozenset({FindingSubjectType.cadre}),
    SubjectType.helping_unit: frozenset({FindingSubjectType.helping_unit}),
}
#: Subject types with inspection metrics (figures) — and with manual ones (cppcc_unit: manual only).
INSPECTION_FIGURE_SUBJECTS: tuple[SubjectType, ...] = (
    SubjectType.village,
    SubjectType.township,
    SubjectType.cadre,
    SubjectType.helping_unit,
    SubjectType.cppcc_unit,
)
#: Counts: a subject with no confirmed finding has 0, not "no figure" (a deduction indicator gives full points).
ZERO_WHEN_ABSENT: frozenset[str] = frozenset(c.metric for c in FINDING_COUNTS)
ACCURACY = "identification_accuracy"


def identification_accuracy(checked: int, mis_identified: int) -> Decimal | None:
    """Households checked without a confirmed mis-identification / households checked x 100, two places half
    up; None when nothing was checked (no figure, not 100 %)."""
    if checked <= 0:
        return None
    value = Decimal(checked - mis_identified) * 100 / Decimal(checked)
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _check_catalogue() -> None:
    for count in FINDING_COUNTS:
        found = CATALOGUE[count.metric]
        assert found.source is MetricSource.inspection, count.metric
        assert count.subjects <= found.subject_types, count.metric


_check_catalogue()


def inspection_metrics(subject_type: SubjectType) -> tuple[str, ...]:
    """The inspection metrics of a subject type, by code."""
    return tuple(
        sorted(
            code
            for code, m in CATALOGUE.items()
            if m.source is MetricSource.inspection and subject_type in m.subject_types
        )
    )


def counts_for(subject_type: SubjectType) -> tuple[FindingCount, ...]:
    return tuple(c for c in FINDING_COUNTS if subject_type in c.subjects)


# -- evidence ---------------------------------------------------------------------------------------------------
#: The formats of evidence (photos and scanned documents), checked by their bytes as well as their declared type
#: — the same rule as planning's project attachments and the registry's help-record photos.
ATTACHMENT_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp", "application/pdf"})
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: Evidence files per finding, rectification or manual entry.
MAX_ATTACHMENTS = 20


class AttachmentTypeRefused(Invalid):
    """Not one of `ATTACHMENT_TYPES`, or the bytes are not what the type says (HTTP 415)."""


class AttachmentTooLarge(Invalid):
    """Larger than `MAX_ATTACHMENT_BYTES` (HTTP 413)."""


def sniff(data: bytes) -> str | None:
    """The type the bytes start with (magic numbers), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def check_attachment(content_type: str, data: bytes) -> None:
    """An allowed type, within the size limit, not empty, and bytes of the type declared."""
    if content_type not in ATTACHMENT_TYPES:
        raise AttachmentTypeRefused(
            "attachment_type", f"evidence is {', '.join(sorted(ATTACHMENT_TYPES))}, not '{content_type}'"
        )
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLarge(
            "attachment_too_large", f"evidence is limited to {MAX_ATTACHMENT_BYTES} bytes"
        )
    if not data:
        raise Invalid("empty_attachment", "the evidence file is empty")
    if sniff(data) != content_type:
        raise AttachmentTypeRefused("attachment_type", f"the bytes are not {content_type}")


def check_attachment_count(stored: int) -> None:
    if stored >= MAX_ATTACHMENTS:
        raise Refused("too_many_attachments", f"a record holds at most {MAX_ATTACHMENTS} evidence files")


#: The media type of a streamed answer: one JSON row per line (as the registry's figures).
NDJSON = "application/x-ndjson"


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def wants_ndjson(accept: str | None) -> bool:
    """The caller asks for NDJSON: `Accept` names application/x-ndjson (or application/ndjson) with a quality
    above 0 and at least that of application/json; anything else is answered as JSON pages."""
    ndjson = json = 0.0
    for item in (accept or "").split(","):
        media, *params = (p.strip().lower() for p in item.split(";"))
        if media in (NDJSON, "application/ndjson"):
            ndjson = max(ndjson, _quality(params))
        elif media == "application/json":
            json = max(json, _quality(params))
    return ndjson > 0 and ndjson >= json

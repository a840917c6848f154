"""Household help plan rules (一户一策, DOMAIN.md §4.3): versions, invariants 34 and 35, acknowledgement, progress.

Pure: the standard library, `shared.roles` and `shared.errors`. Time is passed in (`today`).

| rule | DOMAIN.md | here |
|---|---|---|
| the plan is written by the household's officers or its paired cadre, with the household's consent | §4.3 header; §1.4 | `PLAN_WRITERS`, `acknowledge` |
| every change is a new version; old versions stay readable | §4.3 [D] `help_plan` (household, year, version) | `new_version` |
| plan years run forward | invariant 12 | `new_version` (`years_reversed`) |
| the target exit year lies between the identification year and the plan's end | invariant 35 | `new_version` (`exit_year_out_of_range`) |
| every item has a catalogue measure, a due date within the plan's years, a responsible person and, if it costs money, a funding line | invariant 34; §4.1 | `Measure`, `new_version` |
| the head acknowledges the current version only, once | §4.3 header (在征得贫困户同意的基础上) | `acknowledge` |
| progress is appended per item; a completed item is at 100 %, completed no later than today | §4.3 deadlines; invariant 12 | `check_progress` |
| plans are made for identified households: registered (建档立卡) or later, never while still in notice | §4.4 step 1 ("从识别出的户中"), §2.15 | `PLANNABLE_STATUSES`, `require_plannable` |
| an item's funding never exceeds its cost; a shortfall is shown as a funding gap (flag), never hidden | invariant 36 (Σ funding = budget, or flagged `funding_gap` > 0); invariant 8 | `new_version` (`funding_exceeds_cost`), `funding_gap_fen` |
| the acknowledgement is signed by the household head (or a member of the household) | §3.2 (贫困户主 signs); §4.3 header (household's consent) | `require_signatory` |
| responsible cadres are cadres of a unit covering the household's village, or paired with it | §3.1 P5, P9; invariant 48 | repository `known_cadres` |
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shared.errors import Invalid, Missing, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import Role

__all__ = [
    "PLANNABLE_STATUSES",
    "PLAN_WRITERS",
    "AlreadyAcknowledged",
    "FundingSource",
    "Measure",
    "NotCurrent",
    "NotPlannable",
    "PlanCommand",
    "PlanInvalid",
    "PlanItemCommand",
    "PlanItemMissing",
    "PlanTotals",
    "PlanVersionMissing",
    "RoleMayNot",
    "SignatoryNotMember",
    "acknowledge",
    "check_progress",
    "fen",
    "funding_gap_fen",
    "new_version",
    "require_plannable",
    "require_signatory",
    "require_writer",
    "yuan",
]


@code_list("measure", "帮扶措施", "Help measure")
class Measure(LabelledEnum):
    """Help measures (精选路子, DOMAIN.md §4.1)."""

    planting = "planting", "种植"
    breeding = "breeding", "养殖"
    education = "education", "教育扶贫", "Education support"
    labor_export = "labor_export", "劳务输出 / 转移就业", "Labour export"
    housing_renovation = "housing_renovation", "危房改造", "Dangerous-house renovation"
    skills_training = "skills_training", "技术培训 / 雨露计划", "Skills training"
    relocation = "relocation", "易地扶贫搬迁", "Poverty relocation"
    equity_dividend = "equity_dividend", "入股分红 / 资产收益", "Equity dividends"
    dibao_guarantee = "dibao_guarantee", "低保兜底", "Dibao safety net"
    infrastructure = "infrastructure", "基础设施建设"
    industry_support = "industry_support", "产业扶持"
    capital_support = "capital_support", "资金扶持 / 小额信贷", "Capital support / micro-credit"
    tech_guidance = "tech_guidance", "技术指导", "Technical guidance"
    medical_service = "medical_service", "医疗服务 / 大病救助", "Medical services and assistance"
    public_welfare_job = "public_welfare_job", "公益岗位", "Public-welfare job"
    workshop_employment = "workshop_employment", "扶贫车间", "Poverty workshop employment"
    enterprise_employment = "enterprise_employment", "企业招工", "Enterprise job placement"
    cooperative_join = "cooperative_join", "加入合作社", "Join a cooperative"
    temporary_relief = "temporary_relief", "临时救助 / 物资帮助", "Temporary relief"
    insurance_subsidy = "insurance_subsidy", "保险个人缴费补助", "Insurance premium subsidy"
    disability_support = "disability_support", "残疾人两项补贴", "Disability support"
    motivation_support = "motivation_support", "扶志", "Motivational support"
    information_service = "information_service", "信息服务 / 电商", "Information services / e-commerce"
    ecological_compensation = "ecological_compensation", "生态补偿"


@code_list("funding_source", "资金来源", "Funding source")
class FundingSource(LabelledEnum):
    """Where an item's money comes from (DOMAIN.md §5.6)."""

    fiscal_special = "fiscal_special", "财政专项扶贫资金", "Fiscal special poverty fund"
    industry_fund = "industry_fund", "行业部门资金", "Line-department funds"
    helping_unit = "helping_unit", "帮扶单位"
    credit = "credit", "信贷(小额贷款)", "Credit (micro-loan)"
    social_donation = "social_donation", "社会捐助"
    self_raised = "self_raised", "群众自筹", "Self-raised"
    other = "other", "其他"


#: Who writes a household's plan: the officers of its region and the cadre paired with it today (the region
#: and the pairing are checked by the repository's scope).
PLAN_WRITERS: frozenset[Role] = frozenset(
    {Role.village_officer, Role.township_officer, Role.county_admin, Role.cadre}
)

#: Households a plan is made for: registered (建档立卡), in the exit chain, or exited (the plan's history and
#: the transition period, 摘帽不摘政策). A household still in identification or notice has no plan yet.
PLANNABLE_STATUSES: frozenset[str] = frozenset(
    {
        "registered",
        "exit_proposed",
        "exit_first_notice",
        "exit_township_reviewed",
        "exit_second_notice",
        "exit_county_reviewed",
        "exited",
    }
)


# -- errors (stable codes) --------------------------------------------------------------------------------------
class RoleMayNot(NotAllowed):
    def __init__(self, role: Role) -> None:
        super().__init__("role_not_allowed", f"role '{role}' may not change help plans")


class PlanInvalid(Invalid):
    """A plan that breaks invariant 34 or 35; `field` points at the offending member."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(code, message, field=field)


class NotPlannable(Refused):
    def __init__(self, status: str) -> None:
        super().__init__(
            "not_registered", f"help plans are made for registered households (this one is {status})"
        )


class SignatoryNotMember(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "signatory_not_member",
            "the acknowledgement is signed by the household head or a member of the household",
            field="/signatory",
        )


class PlanVersionMissing(Missing):
    def __init__(self, version: int) -> None:
        super().__init__("no_plan_version", f"no plan version {version}")


class NotCurrent(Refused):
    def __init__(self, current_version: int) -> None:
        super().__init__(
            "not_current", "only the current version is acknowledged", current_version=current_version
        )


class AlreadyAcknowledged(Refused):
    def __init__(self) -> None:
        super().__init__("already_acknowledged", "this version is acknowledged already")


class PlanItemMissing(Missing):
    def __init__(self, item_id: uuid.UUID) -> None:
        super().__init__("no_plan_item", f"no item {item_id} in the current plan")


# -- commands and results ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlanItemCommand:
    """One measure of a plan as written (money in yuan with two decimals, as the form has it)."""

    item_id: uuid.UUID | None
    measure: Measure
    responsible_cadre_id: uuid.UUID
    due_date: date
    expected_income_gain_yuan: Decimal = Decimal(0)
    cost_yuan: Decimal = Decimal(0)
    funding_source: FundingSource | None = None
    funding_amount_yuan: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PlanCommand:
    """Command: write the household's plan as a new version."""

    year_from: int
    year_to: int
    target_exit_year: int
    items: Sequence[PlanItemCommand]


@dataclass(frozen=True, slots=True)
class PlanTotals:
    """The new version's number and the sums it stores, in fen."""

    version: int
    expected_income_gain_fen: int
    cost_fen: int


# -- rules ------------------------------------------------------------------------------------------------------
def fen(amount_yuan: Decimal) -> int:
    """Yuan with two decimals as integer fen."""
    return int(amount_yuan * 100)


def yuan(amount_fen: int) -> Decimal:
    """Integer fen as yuan (exact: a Decimal, never a float)."""
    return Decimal(amount_fen) / 100


def require_writer(role: Role) -> None:
    if role not in PLAN_WRITERS:
        raise RoleMayNot(role)


def new_version(
    command: PlanCommand,
    *,
    identification_year: int,
    current_version: int,
    previous_item_ids: Collection[uuid.UUID],
    known_cadres: Collection[uuid.UUID],
) -> PlanTotals:
    """Check a plan against invariants 34 and 35 and number its version (`current_version` + 1).

    `previous_item_ids` are the items of the current version (an item keeps its id across versions; a new item
    comes without one), `known_cadres` those of the responsible cadres that exist.
    """
    if command.year_to < command.year_from:
        raise PlanInvalid("years_reversed", "year_to is before year_from", "/year_to")
    if not identification_year <= command.target_exit_year <= command.year_to:
        raise PlanInvalid(
            "exit_year_out_of_range",
            f"target_exit_year must lie between the identification year ({identification_year}) "
            f"and the plan's end ({command.year_to})",
            "/target_exit_year",
        )
    for n, item in enumerate(command.items):
        pointer = f"/items/{n}"
        if not command.year_from <= item.due_date.year <= command.year_to:
            raise PlanInvalid(
                "due_outside_plan", "due_date lies outside the plan's years", f"{pointer}/due_date"
            )
        if item.responsible_cadre_id not in known_cadres:
            raise PlanInvalid("unknown_cadre", "no such cadre", f"{pointer}/responsible_cadre_id")
        if item.cost_yuan > 0 and (item.funding_source is None or item.funding_amount_yuan is None):
            raise PlanInvalid(
                "funding_required",
                "an item that costs money names its funding source and amount",
                f"{pointer}/funding_source",
            )
        if item.funding_amount_yuan is not None and item.funding_amount_yuan > item.cost_yuan:
            raise PlanInvalid(
                "funding_exceeds_cost",
                "funding_amount_yuan is more than the item's cost_yuan",
                f"{pointer}/funding_amount_yuan",
            )
        if item.item_id is not None and item.item_id not in previous_item_ids:
            raise PlanInvalid(
                "unknown_item", "item_id is not an item of the previous version", f"{pointer}/item_id"
            )
    kept = [i.item_id for i in command.items if i.item_id is not None]
    if len(set(kept)) != len(kept):
        raise PlanInvalid("duplicate_item", "an item_id appears twice", "/items")
    return PlanTotals(
        version=current_version + 1,
        expected_income_gain_fen=sum(fen(i.expected_income_gain_yuan) for i in command.items),
        cost_fen=sum(fen(i.cost_yuan) for i in command.items),
    )


def require_plannable(status: str) -> None:
    """Plans are made for identified (registered) households, never for one still in notice."""
    if status not in PLANNABLE_STATUSES:
        raise NotPlannable(status)


def funding_gap_fen(cost_yuan: Decimal, funding_amount_yuan: Decimal | None) -> int:
    """How much of an item's cost its funding line leaves uncovered, in fen (0: fully funded)."""
    return max(fen(cost_yuan) - fen(funding_amount_yuan or Decimal(0)), 0)


def require_signatory(signatory: str, head_name: str, member_names: Collection[str]) -> None:
    """The signatory is the household head or one of its active members (names compared without spaces)."""

    def norm(name: str) -> str:
        return "".join(name.split())

    if norm(signatory) not in {norm(head_name), *(norm(n) for n in member_names)}:
        raise SignatoryNotMember()


def acknowledge(current_version: int | None, version: int) -> None:
    """The household head acknowledges (signs) the current version only."""
    if current_version is None or version > current_version:
        raise PlanVersionMissing(version)
    if version != current_version:
        raise NotCurrent(current_version)


def check_progress(
    item_id: uuid.UUID,
    current_items: Collection[uuid.UUID],
    *,
    percent: int,
    completed_on: date | None,
    today: date,
) -> None:
    """Progress is recorded on an item of the current version; completion means 100 %, on a day already past."""
    if item_id not in current_items:
        raise PlanItemMissing(item_id)
    if completed_on is not None and percent != 100:
        raise PlanInvalid("completed_below_100", "a completed item is at 100 percent", "/percent")
    if completed_on is not None and completed_on > today:
        raise PlanInvalid("completed_in_future", "completed_on is in the future", "/completed_on")

"""Project risk fund rules (项目风险金, DOMAIN.md §5.12; invariants 8, 12, 42): pure, integer fen.

Pure: the standard library, `shared.roles`, `shared.errors`, `shared.labels` and the process's other domain
modules. Time is passed in (`today`).

| rule | DOMAIN.md | here |
|---|---|---|
| after a planting or breeding project succeeds, the implementing household (or the project) pays a share of the input into the village's risk fund | §5.12 [S 001#12] | `contribution` (`not_a_productive_project`, `project_of_other_village`, `not_a_beneficiary`) |
| the fund is kept per village by a dedicated person, account and ledger: entries are appended, never changed | §5.12; §5.9 专户、专账、专人管理 | the append-only `planning_risk_fund_entry`; `RiskFundEntryKind` |
| it pays production relief against force majeure: every payout names a recorded event of the village | §5.12; invariant 42 | `ForceMajeureKind`, `check_event`, `payout` (`event_of_other_village`, `payout_before_event`) |
| a payout never exceeds the balance (also a database CHECK, under concurrency) | invariant 42 | `payout` (`insufficient_balance`), CHECK `balance_fen >= 0` |
| amounts are more than zero with at most two decimals; dates no later than today | invariants 8, 12 | `fen` (funds.domain), `require_positive`, `check_date` (`date_in_future`) |
| the village's officers keep it; payouts are approved above the village (township or county) | §1.3; §5.12 专人管理 | `KEEPERS`, `PAYOUT_APPROVERS`, `READERS` |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from services.planning.funds.domain import require_positive, yuan_text
from shared.errors import Invalid, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import RegionLevel, Role, level_of

__all__ = [
    "CONTRIBUTING_CATEGORIES",
    "KEEPERS",
    "PAYOUT_APPROVERS",
    "READERS",
    "EventFacts",
    "ForceMajeureKind",
    "InsufficientBalance",
    "ProjectOfVillage",
    "RiskFundEntryKind",
    "check_date",
    "check_event",
    "check_village",
    "contribution",
    "payout",
]


@code_list("planning_risk_fund_entry_kind", "风险金收支类型", "Risk-fund entry kind")
class RiskFundEntryKind(LabelledEnum):
    contribution = "contribution", "缴存", "Contribution"
    payout = "payout", "赔付支出", "Payout"


@code_list("planning_force_majeure_kind", "不可抗力类型", "Force-majeure kind")
class ForceMajeureKind(LabelledEnum):
    """What struck the village's production (§5.12: relief against force majeure)."""

    drought = "drought", "旱灾"
    flood = "flood", "洪涝"
    hail = "hail", "冰雹"
    frost = "frost", "冻害", "Frost or cold wave"
    storm = "storm", "风灾", "Storm or typhoon"
    landslide = "landslide", "山体滑坡、泥石流", "Landslide or debris flow"
    earthquake = "earthquake", "地震"
    animal_epidemic = "animal_epidemic", "动物疫病", "Animal epidemic"
    crop_pest = "crop_pest", "农作物病虫害", "Crop disease or pest"
    fire = "fire", "火灾"
    other = "other", "其他不可抗力", "Other force majeure"


#: Categories whose projects pay into the risk fund: planting, breeding and the cooperatives and processing that
#: carry them (§5.12 "种植、养殖项目").
CONTRIBUTING_CATEGORIES: frozenset[str] = frozenset(
    {"industry_planting", "industry_breeding", "cooperative", "industry_processing_market"}
)
#: Who keeps a village's fund: its officers and those above (contributions and events).
KEEPERS: frozenset[Role] = frozenset({Role.village_officer, Role.township_officer, Role.county_admin})
#: Who approves a payout: above the village.
PAYOUT_APPROVERS: frozenset[Role] = frozenset({Role.township_officer, Role.county_admin})
#: Who reads the fund and its entries (in their scope).
READERS: frozenset[Role] = frozenset(
    {Role.village_officer, Role.township_officer, Role.county_admin, Role.province_system, Role.service}
)


@dataclass(frozen=True, slots=True)
class ProjectOfVillage:
    """What a contribution needs of the project it comes from."""

    id: uuid.UUID
    village_code: str
    category: str


@dataclass(frozen=True, slots=True)
class EventFacts:
    id: uuid.UUID
    village_code: str
    occurred_on: date


def check_village(code: str) -> None:
    """A risk fund belongs to an administrative village."""
    if level_of(code) is not RegionLevel.village:
        raise Invalid("not_a_village", f"{code} is not a village's code", region_code=code)


def check_date(day: date, today: date, field: str = "entry_date") -> None:
    if day > today:
        raise Invalid("date_in_future", f"{day} is after today ({today})", field=field)


def contribution(
    village_code: str,
    project: ProjectOfVillage,
    amount_fen: int,
    entry_date: date,
    today: date,
    *,
    household_id: uuid.UUID | None,
    beneficiary: bool,
) -> None:
    """A contribution comes from a planting/breeding project of the village, or one of its beneficiary
    households."""
    require_positive(amount_fen, "amount_yuan")
    check_date(entry_date, today)
    if project.village_code != village_code:
        raise Invalid(
            "project_of_other_village",
            f"project {project.id} belongs to village {project.village_code}",
            field="project_id",
        )
    if project.category not in CONTRIBUTING_CATEGORIES:
        raise Refused(
            "not_a_productive_project",
            f"a {project.category} project pays no risk fund (planting and breeding projects do)",
            category=project.category,
        )
    if household_id is not None and not beneficiary:
        raise Invalid(
            "not_a_beneficiary",
            f"household {household_id} is not a beneficiary of project {project.id}",
            field="household_id",
        )


def check_event(village_code: str, occurred_on: date, today: date) -> None:
    check_village(village_code)
    check_date(occurred_on, today, "occurred_on")


class InsufficientBalance(Refused):
    def __init__(self, village_code: str, balance_fen: int, amount_fen: int) -> None:
        super().__init__(
            "insufficient_balance",
            f"the risk fund of village {village_code} holds {yuan_text(balance_fen)} yuan; the payout is"
            f" {yuan_text(amount_fen)}",
            balance_yuan=yuan_text(balance_fen),
            amount_yuan=yuan_text(amount_fen),
        )


def payout(
    village_code: str, event: EventFacts, balance_fen: int, amount_fen: int, entry_date: date, today: date
) -> None:
    """A payout answers a recorded force-majeure event of the village, after it, within the balance."""
    require_positive(amount_fen, "amount_yuan")
    check_date(entry_date, today)
    if event.village_code != village_code:
        raise Invalid(
            "event_of_other_village",
            f"event {event.id} was recorded for village {event.village_code}",
            field="event_id",
        )
    if entry_date < event.occurred_on:
        raise Invalid(
            "payout_before_event",
            f"a payout on {entry_date} cannot precede the event of {event.occurred_on}",
            field="entry_date",
        )
    if amount_fen > balance_fen:
        raise InsufficientBalance(village_code, balance_fen, amount_fen)

"""Public disclosure rules (村级公示, DOMAIN.md §5.8 四议两公开, §5.9 公开透明, §5.10; invariants 14, 48, 49): what a
village board shows of its projects, their money and who they benefit, and who may read it. Pure — the standard
library, `shared.roles`, `shared.errors` and the process's other domain modules.

| rule | DOMAIN.md | here |
|---|---|---|
| a village's projects are disclosed once its villagers resolved them and made the resolution public (the first 公开), through review, approval, implementation and acceptance; a draft, a project under its 四议 or one returned for amendment is not | §5.8 (四议两公开); §5.9 | `DISCLOSED_STATUSES` |
| a disclosure is of one year: the projects whose schedule starts in it, with all their money and every disbursement (reversals as the negative entries they are) | §5.10 "every disbursement is publishable"; issue #11 Reports (the one year of the reports) | `reports.domain.year_bounds` |
| a beneficiary household appears by its head's name, its village and natural village only; ID numbers, phones and bank data never | invariant 49; §1.4 `public` | `PublicHousehold`, `public_households` |
| a notice lasts at least 7 full days from the day it is posted | invariant 14 | `NOTICE_DAYS`, `notice_ends_on` |
| every role reads the disclosure of a village in its region; a cadre, of a village where a household is paired with them today; out of scope is missing | §1.4; invariants 32, 48 | `check_village`, `require_in_scope` |
| progress is the mean of the milestones' percentages; the rate is disbursed ÷ committed | issue #11 | `reports.domain.progress_percent`, `reports.domain.execution_rate` |
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from services.planning.projects.domain import CLOSED, IMPLEMENTING, ProjectStatus
from shared.errors import Missing
from shared.roles import RegionLevel, Role, in_scope, level_of

__all__ = [
    "DISCLOSED_STATUSES",
    "NOTICE_DAYS",
    "HouseholdFacts",
    "PublicHousehold",
    "check_village",
    "notice_ends_on",
    "public_households",
    "require_in_scope",
]

#: From the village's public resolution on: reviewed, approved, implemented, with its acceptance decided.
DISCLOSED_STATUSES: frozenset[ProjectStatus] = (
    frozenset({ProjectStatus.village_decided, ProjectStatus.township_reviewed}) | IMPLEMENTING | CLOSED
)

#: A notice stays posted at least this many full days (invariant 14).
NOTICE_DAYS = 7


def notice_ends_on(posted_on: date) -> date:
    """The last day of the notice period of a disclosure posted on `posted_on`."""
    return posted_on + timedelta(days=NOTICE_DAYS)


def check_village(code: str) -> None:
    """A disclosure is of an administrative village (a code of another level names no village: 404)."""
    if level_of(code) is not RegionLevel.village:
        raise Missing("village_missing", f"village {code} not found", region_code=code)


def require_in_scope(
    role: Role, region: str, village: str, *, paired_villages: Collection[str] | None = None
) -> None:
    """The village is the caller's to read: in their region, or for a cadre, where a household is paired with
    them (`paired_villages`, from the registry). Otherwise 404, exactly like a village that does not exist."""
    if role is Role.cadre:
        visible = village in (paired_villages or ())
    else:
        visible = in_scope(region, village)
    if not visible:
        raise Missing("village_missing", f"village {village} not found", region_code=village)


class HouseholdFacts(Protocol):
    """What the registry says of a household (planning's `registry.HouseholdSummary` has more)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def village_code(self) -> str: ...
    @property
    def head_name(self) -> str: ...
    @property
    def natural_village(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PublicHousehold:
    """A beneficiary household as the board shows it (invariant 49): nothing but these, and the projects."""

    head_name: str
    village_code: str
    natural_village: str | None
    project_ids: tuple[uuid.UUID, ...]


def public_households(
    beneficiaries: Iterable[tuple[uuid.UUID, uuid.UUID]], found: Mapping[uuid.UUID, HouseholdFacts]
) -> list[PublicHousehold]:
    """Each beneficiary household once (`beneficiaries`: project id, household id), with the projects it benefits
    in their given order, as the registry names it; by village, natural village, head's name. A household the
    registry no longer has is left out (nothing can be shown of it)."""
    projects: dict[uuid.UUID, list[uuid.UUID]] = {}
    for project_id, household_id in beneficiaries:
        listed = projects.setdefault(household_id, [])
        if project_id not in listed:
            listed.append(project_id)
    out = []
    for household_id, project_ids in projects.items():
        household = found.get(household_id)
        if household is None:
            continue
        out.append(
            (
                (household.village_code, household.natural_village or "", household.head_name, household_id),
                PublicHousehold(
                    head_name=household.head_name,
                    village_code=household.village_code,
                    natural_village=household.natural_village,
                    project_ids=tuple(project_ids),
                ),
            )
        )
    return [public for _, public in sorted(out, key=lambda pair: pair[0])]

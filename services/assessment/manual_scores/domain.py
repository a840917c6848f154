"""Manual indicator entries (考核人员录入, DOMAIN.md §6.4 `manual`, invariant 44): an assessor's figure of a manual
metric, or score of a manual indicator, for one subject and year, with a written reason. Pure: the standard
library, `shared.roles`, `shared.errors`, `shared.labels` and the metric catalogue.

An entry targets either a **metric** whose source is `manual` (a helping unit's main leaders visited the village,
its pairing meetings, its year-end report; a township's training sessions; the CPPCC figures) — a value in the
metric's unit — or a **manual indicator** of a scheme (the method `manual`: "household and village confirmation"
of template C) — points in [0, the indicator's max]. Entries are versioned: a correction is a new version of the
same entry (its reason says why), the earlier stays readable, and the latest counts.

| rule | DOMAIN.md | here |
|---|---|---|
| manual scores need a written reason; scores lie in [0, max_points] | invariant 44 | `check_reason`, `check_points` |
| evidence required where configured (the indicator's `evidence_required`) | invariant 44 | shown with the entry; a run reads it |
| a value is in the metric's unit: yes/no 1 or 0, counts and fen whole, percents 0-100 | metric catalogue conventions | `check_value` |
| corrections are new versions, never edits; the earlier stays readable | invariant 46 (the same rule for results) | `Target`, versions |
| assessors enter figures for subjects in their region, never for their own region (the county assesses townships, townships villages) | §6.2 | `require_editor` |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from services.assessment.metrics.domain import CATALOGUE, Metric, MetricSource, MetricUnit, SubjectType
from shared.errors import Invalid, Missing, NotAllowed
from shared.roles import Principal, RegionLevel, Role, is_region_code, level_of

__all__ = [
    "ENTRY_READERS",
    "MANUAL_EDITORS",
    "MAX_REASON",
    "Target",
    "check_points",
    "check_reason",
    "check_value",
    "entry_region",
    "manual_metric",
    "manual_metrics",
    "require_editor",
    "require_reader",
]

#: Who enters manual figures: the county poverty office in its county, township officers in their township.
MANUAL_EDITORS: frozenset[Role] = frozenset({Role.county_admin, Role.township_officer})
#: Who reads them (and the figures): the assessors, the province, and other services (a run).
ENTRY_READERS: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.province_system, Role.service}
)
MAX_REASON = 2000
_REGION_SUBJECTS = {SubjectType.village: RegionLevel.village, SubjectType.township: RegionLevel.township}
_WHOLE = frozenset({MetricUnit.people, MetricUnit.households, MetricUnit.items, MetricUnit.fen})


def _pointer(code: str, pointer: str, message: str, **details: object) -> Invalid:
    return Invalid(
        code,
        f"{pointer}: {message}",
        errors=[{"pointer": pointer, "message": message, "code": code}],
        **details,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """What an entry gives: a manual metric's value (`metric`), or a manual indicator's score (`indicator` of the
    scheme lineage `scheme_lineage`). `key` is the same for every version of one entry."""

    metric: str | None = None
    scheme_lineage: uuid.UUID | None = None
    indicator: str | None = None

    @property
    def key(self) -> str:
        if self.metric is not None:
            return f"metric:{self.metric}"
        return f"indicator:{self.scheme_lineage}:{self.indicator}"


def manual_metrics(subject_type: SubjectType) -> tuple[str, ...]:
    """The manual metrics of a subject type, by code."""
    return tuple(
        sorted(
            code
            for code, m in CATALOGUE.items()
            if m.source is MetricSource.manual and subject_type in m.subject_types
        )
    )


def manual_metric(code: str, subject_type: SubjectType) -> Metric:
    """The manual metric `code` of the subject type, or 422 naming `/metric_code`."""
    found = CATALOGUE.get(code)
    if found is None:
        raise _pointer("unknown_metric", "/metric_code", f"there is no metric {code} (GET /metric-catalogue)")
    if found.source is not MetricSource.manual:
        raise _pointer(
            "metric_not_manual",
            "/metric_code",
            f"{code} comes from the {found.source.value}, not from assessors",
            source=found.source.value,
        )
    if subject_type not in found.subject_types:
        raise _pointer(
            "metric_subject_mismatch", "/metric_code", f"{code} is not a metric of a {subject_type.value}"
        )
    return found


def check_value(metric: Metric, value: Decimal) -> Decimal:
    """A value in the metric's unit: 1 or 0 for yes/no, a whole number >= 0 for counts and fen, 0-100 for a percent
    (four places at most)."""
    if metric.unit is MetricUnit.bool:
        if value not in (Decimal(0), Decimal(1)):
            raise _pointer("value_not_bool", "/value", "a yes/no figure is 1 (yes) or 0 (no)")
    elif metric.unit in _WHOLE:
        if value < 0 or value != value.to_integral_value():
            raise _pointer(
                "value_not_whole", "/value", f"a figure in {metric.unit.value} is a whole number >= 0"
            )
    elif not Decimal(0) <= value <= Decimal(100):
        raise _pointer("value_out_of_range", "/value", "a percent lies in 0..100")
    if value.as_tuple().exponent < -4:  # type: ignore[operator]  # finite decimals have an int exponent
        raise _pointer("value_too_precise", "/value", "at most four decimal places")
    return value.normalize() if value == value.to_integral_value() else value


def check_points(points: Decimal, max_points: Decimal, indicator: str) -> Decimal:
    """An assessor's score lies in [0, the indicator's max] (invariant 44)."""
    if not Decimal(0) <= points <= max_points:
        raise _pointer(
            "manual_score_out_of_range",
            "/value",
            f"indicator {indicator}: a score lies in [0, {max_points.normalize():f}]",
            max_points=f"{max_points.normalize():f}",
        )
    return points


def check_reason(reason: str, pointer: str = "/reason") -> str:
    """A written reason: not blank (invariant 44)."""
    text = reason.strip()
    if not text:
        raise _pointer("reason_required", pointer, "a manual figure needs a written reason")
    return text


def entry_region(subject_type: SubjectType, subject_id: str, region_code: str | None) -> str:
    """Where an entry's subject lies: a village's or township's own code, else the region given (422 naming the
    field when the subject's id is not of its type or the region is missing)."""
    level = _REGION_SUBJECTS.get(subject_type)
    if level is not None:
        if not is_region_code(subject_id) or level_of(subject_id) is not level:
            raise _pointer(
                "subject_id_invalid",
                "/subject_id",
                f"a {subject_type.value} is named by its {level.value} code",
            )
        if region_code is not None and region_code != subject_id:
            raise _pointer("region_mismatch", "/region_code", "a place's entry lies in the place itself")
        return subject_id
    try:
        uuid.UUID(subject_id)
    except ValueError:
        raise _pointer(
            "subject_id_invalid", "/subject_id", f"a {subject_type.value} is named by its id (a UUID)"
        ) from None
    if region_code is None:
        raise _pointer(
            "region_required", "/region_code", f"say in which region the {subject_type.value} is assessed"
        )
    if not is_region_code(region_code):
        raise _pointer("region_invalid", "/region_code", "a 12-digit division code")
    return region_code


def require_reader(principal: Principal) -> None:
    if principal.role not in ENTRY_READERS:
        raise NotAllowed(
            "manual_reader_required",
            f"role {principal.role.value} does not read assessors' entries",
            role=principal.role.value,
        )


def require_editor(principal: Principal, region: str, subject_type: SubjectType, subject_id: str) -> None:
    """County admins in their county and township officers in their township enter figures — never for their
    own region as the subject (§6.2: the county assesses townships, the township its villages). A region outside
    the caller's is missing (404)."""
    if principal.role not in MANUAL_EDITORS:
        raise NotAllowed(
            "manual_editor_required",
            "manual figures are entered by county administrators and township officers",
            role=principal.role.value,
        )
    if not principal.covers(region):
        raise Missing("region_not_found", f"region {region} not found")
    if subject_type in _REGION_SUBJECTS and subject_id == principal.region:
        raise NotAllowed(
            "own_assessment", "an assessor does not enter figures for their own region: the level above does"
        )

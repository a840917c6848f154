"""Statistical division codes (统计用区划代码) and the region scope they imply.

A region is named by its 12-digit code: 2 digits province, 2 prefecture, 2 county, 3 township, 3 village
(DOMAIN.md §1.1). The level of a code is read from its trailing zeros, so a user's scope is a plain string
prefix of the codes below it and no lookup is needed to decide whether a record is in scope.
"""

from __future__ import annotations

import enum
import re

__all__ = ["NATIONAL_CODE", "RegionLevel", "in_scope", "is_region_code", "level_of", "scope_prefix"]

_CODE = re.compile(r"^[0-9]{12}$")

#: The root above all provinces; only internal service principals are bound to it.
NATIONAL_CODE = "000000000000"


class RegionLevel(enum.StrEnum):
    """Administrative level of a region (DOMAIN.md §1.1)."""

    national = "national"
    province = "province"  # 省 / 自治区
    prefecture = "prefecture"  # 地级市
    county = "county"  # 县 / 区 / 县级市
    township = "township"  # 乡 / 镇 / 街道
    village = "village"  # 行政村 / 社区


_SEGMENTS: tuple[tuple[int, int, RegionLevel], ...] = (
    (0, 2, RegionLevel.province),
    (2, 4, RegionLevel.prefecture),
    (4, 6, RegionLevel.county),
    (6, 9, RegionLevel.township),
    (9, 12, RegionLevel.village),
)

PREFIX_LENGTH: dict[RegionLevel, int] = {RegionLevel.national: 0} | {lvl: end for _, end, lvl in _SEGMENTS}


def _last_segment(code: str) -> int:
    """Index in _SEGMENTS of the last non-zero segment, -1 for the national root."""
    last = -1
    for i, (start, end, _level) in enumerate(_SEGMENTS):
        if code[start:end].strip("0"):
            last = i
    return last


def is_region_code(code: str) -> bool:
    """True for 12 digits whose segments are non-zero up to the code's level and zero after it."""
    if not _CODE.match(code):
        return False
    last = _last_segment(code)
    return all(code[start:end].strip("0") for start, end, _ in _SEGMENTS[: last + 1])


def level_of(code: str) -> RegionLevel:
    """The administrative level a 12-digit code names."""
    last = _last_segment(code)
    return RegionLevel.national if last < 0 else _SEGMENTS[last][2]


def scope_prefix(code: str) -> str:
    """The prefix shared by every code inside the region ('45' for 450000000000, '' for national)."""
    return code[: PREFIX_LENGTH[level_of(code)]]


def in_scope(scope_code: str, record_code: str) -> bool:
    """True when the record's region lies inside (or is) the scope region."""
    return record_code.startswith(scope_prefix(scope_code))

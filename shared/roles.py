"""Who acts, and where: roles, region levels, division codes and the verified caller. Pure: standard library only.

Domain modules (`*/domain.py`) may import this module, `shared.clock` and `shared.errors`, nothing else of
`shared/`, so the rules they hold can be read and tested without FastAPI, SQLAlchemy or a database
(`scripts/check_imports.py` holds the line).

A region is named by its 12-digit statistical division code (统计用区划代码): 2 digits province, 2 prefecture,
2 county, 3 township, 3 village (DOMAIN.md §1.1). The level of a code is read from its trailing zeros, so a
caller's scope is a plain string prefix of the codes below it and no lookup is needed to decide whether a record
is in scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.labels import LabelledEnum, code_list

__all__ = [
    "MANAGER_ROLES",
    "NATIONAL_CODE",
    "PREFIX_LENGTH",
    "READ_ONLY_ROLES",
    "ROLE_LEVEL",
    "ROLE_RANK",
    "Principal",
    "RegionLevel",
    "Role",
    "ancestors_of",
    "in_scope",
    "is_region_code",
    "level_of",
    "scope_prefix",
]


@code_list("role", "系统角色", "System role")
class Role(LabelledEnum):
    """System roles (DOMAIN.md §1.4)."""

    county_admin = "county_admin", "县扶贫办", "County poverty alleviation office"
    township_officer = "township_officer", "乡镇扶贫专干", "Township specialist"
    village_officer = "village_officer", "村两委 / 驻村工作队", "Village committees or work team"
    cadre = "cadre", "帮扶干部", "Helping cadre"  # sees paired households only
    province_system = "province_system", "省级系统", "Provincial system"  # machine client, read-only
    service = "service", "内部服务", "Internal service"  # one service calling another


#: Higher rank manages lower ranks (users may only create/disable/reset roles strictly below their own).
ROLE_RANK: dict[Role, int] = {
    Role.county_admin: 40,
    Role.township_officer: 30,
    Role.village_officer: 20,
    Role.cadre: 10,
    Role.province_system: 0,
    Role.service: 0,
}

#: Roles that administer users in their subtree.
MANAGER_ROLES = frozenset({Role.county_admin, Role.township_officer})

#: Roles that only read.
READ_ONLY_ROLES = frozenset({Role.province_system})


@code_list("region_level", "行政区划级别", "Region level")
class RegionLevel(LabelledEnum):
    """Administrative level of a region (DOMAIN.md §1.1)."""

    national = "national", "全国"
    province = "province", "省 / 自治区"
    prefecture = "prefecture", "地级市", "Prefecture-level city"
    county = "county", "县 / 区 / 县级市"
    township = "township", "乡 / 镇 / 街道"
    village = "village", "行政村 / 社区", "Administrative village"


#: The level of region each role is bound to (None: any level).
ROLE_LEVEL: dict[Role, RegionLevel | None] = {
    Role.county_admin: RegionLevel.county,
    Role.township_officer: RegionLevel.township,
    Role.village_officer: RegionLevel.village,
    Role.cadre: None,
    Role.province_system: RegionLevel.province,
    Role.service: RegionLevel.national,
}

# -- division codes ------------------------------------------------------------------------------------------
_CODE = re.compile(r"^[0-9]{12}$")

#: The root above all provinces; only internal service principals are bound to it.
NATIONAL_CODE = "000000000000"

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


def ancestors_of(code: str) -> list[str]:
    """Codes of the possible ancestors of `code`, nearest first (levels may be skipped, DOMAIN.md §1.1)."""
    prefix = scope_prefix(code)
    out = []
    for level in (RegionLevel.township, RegionLevel.county, RegionLevel.prefecture, RegionLevel.province):
        n = PREFIX_LENGTH[level]
        if n < len(prefix):
            candidate = prefix[:n].ljust(12, "0")
            if is_region_code(candidate) and candidate != code:
                out.append(candidate)
    return out


# -- the caller ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller: subject, role, and the region their scope is rooted at.

    Built from a verified token by `shared.auth`; the SQL form of its scope is `shared.db.scope_filter`.
    """

    sub: str
    role: Role
    region: str
    jti: str = ""
    issued_at: int = 0
    expires_at: int = 0
    username: str | None = None
    #: The login session (the gateway's refresh-token family) the token was minted in, from the `sid` claim;
    #: None for machine clients, which have no session. Logging out or revoking the family revokes the token.
    sid: str | None = None

    @property
    def prefix(self) -> str:
        """Every region code inside the caller's scope starts with this."""
        return scope_prefix(self.region)

    @property
    def level(self) -> RegionLevel:
        return level_of(self.region)

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES

    def covers(self, region_code: str) -> bool:
        """True when `region_code` lies inside the caller's scope."""
        return in_scope(self.region, region_code)

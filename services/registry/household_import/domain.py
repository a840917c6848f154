"""The rules of a bulk registration (households identified elsewhere, migrated in), all or nothing. Pure.

A file is accepted whole or not at all: every line is checked as a single registration is (households/domain.py),
plus what only a file can break: the same ID number twice (one person, one household: invariant 2) or the same
national household code twice. Errors name the line and the JSON pointer (RFC 6901) of the field; at most
`MAX_ERRORS` are reported, since the file has to be fixed anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.errors import Invalid, NotAllowed
from shared.roles import Principal, RegionLevel, Role, level_of

__all__ = [
    "IMPORTERS",
    "MAX_ERRORS",
    "MAX_LINES",
    "FileIdentity",
    "ImportErrors",
    "LineError",
    "json_pointer",
    "region_problem",
    "require_importer",
    "require_lines",
]

#: At most this many errors are reported; checking stops there.
MAX_ERRORS = 100
#: A county registers a few hundred thousand households at most; beyond that, split the file.
MAX_LINES = 500_000
#: Bulk registration replaces the county's identification list: the county poverty office does it (§1.4).
IMPORTERS: frozenset[Role] = frozenset({Role.county_admin})


def require_importer(role: Role) -> None:
    if role not in IMPORTERS:
        raise NotAllowed("import_not_allowed", "only county administrators bulk-register households")


def require_lines(count: int) -> None:
    """A file holds at least one household and at most MAX_LINES (checked as lines arrive)."""
    if count > MAX_LINES:
        raise Invalid("too_many_lines", f"more than {MAX_LINES} households; split the file", field="/")
    if count == 0:
        raise Invalid("empty_file", "the file has no households", errors=[])


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    pointer: str  # JSON pointer of the field, "" for the whole line
    message: str


@dataclass
class ImportErrors:
    """The errors of a file, in the order found, up to MAX_ERRORS (`truncated`: checking stopped there)."""

    items: list[LineError] = field(default_factory=list)
    truncated: bool = False

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS

    def add(self, line: int, pointer: str, message: str) -> None:
        if self.full:
            self.truncated = True
            return
        self.items.append(LineError(line, pointer, message))

    def sort(self) -> None:
        self.items.sort(key=lambda e: e.line)


def json_pointer(loc: Sequence[int | str]) -> str:
    """JSON pointer (RFC 6901) of a validation error's location."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


def region_problem(principal: Principal, village_code: str) -> str | None:
    """Why a line's village is not acceptable (not a village, outside the importer's county), or None."""
    if level_of(village_code) is not RegionLevel.village:
        return "village_code must be an administrative village"
    if not principal.covers(village_code):
        return f"region {village_code} lies outside your scope"
    return None


@dataclass
class FileIdentity:
    """What must be unique across the file: ID numbers (by blind index) and national household codes."""

    id_lines: dict[str, tuple[int, str]] = field(default_factory=dict)  # blind index -> first (line, pointer)
    code_lines: dict[str, int] = field(default_factory=dict)  # national household code -> first line

    def repeated_code(self, code: str, line: int) -> str | None:
        """The message when `code` appeared on an earlier line (the first line is remembered)."""
        first = self.code_lines.setdefault(code, line)
        return None if first == line else f"national_household_code repeats line {first}"

    def repeated_person(self, index: str, line: int, pointer: str) -> str | None:
        """The message when the person (ID number's blind index) appeared earlier in the file (invariant 2)."""
        seen = self.id_lines.setdefault(index, (line, pointer))
        if seen == (line, pointer):
            return None
        return f"the resident ID number repeats line {seen[0]} ({seen[1]}): one person, one household"

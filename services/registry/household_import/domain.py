"""The rules of a bulk registration (households identified elsewhere, migrated in), all or nothing. Pure.

Two modes (issue #13 item 2). An ordinary import brings households in as candidates: they are registered only
through the identification workflow (两公示一公告, DOMAIN.md §2.9, invariant 15) and its quota check. A
`migration` (an already-registered history from an older system) is a separate, explicit county-level mode: it
names its source document (文号, system name), its registered households count against the village quota of
their quota year (invariant 24, all or nothing), and their card says so (`imported`).

Checking a file is also a lookup of ID numbers (issue #14 item 8): a number that is an active member of a
household outside the importer's county gets the generic answer of households/domain.py, and the rows checked
without writing (dry runs, refused imports) are audited and limited per caller and hour.

A file is accepted whole or not at all: every line is checked as a single registration is (households/domain.py),
plus what only a file can break: the same ID number twice (one person, one household: invariant 2) or the same
national household code twice. Errors name the line and the JSON pointer (RFC 6901) of the field. Every line
is checked and every error counted (`error_count`); the synchronous import lists at most `MAX_ERRORS` of them
(`truncated` when it cut the list), an import job (services/registry/jobs/) keeps them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum
from shared.roles import Principal, RegionLevel, Role, level_of

__all__ = [
    "CHECK_WINDOW",
    "DEFAULT_CHECK_ROWS_PER_HOUR",
    "HIDDEN_CONFLICT_MESSAGE",
    "IMPORTERS",
    "MAX_ERRORS",
    "MAX_LINES",
    "MAX_SOURCE_DOCUMENT",
    "MEMBER_CONFLICT_MESSAGE",
    "FileIdentity",
    "ImportErrors",
    "ImportMode",
    "LineError",
    "QuotaUse",
    "check_mode",
    "check_quotas",
    "check_retry_after",
    "json_pointer",
    "region_problem",
    "require_importer",
    "require_lines",
    "status_problem",
]

#: At most this many errors are listed by the synchronous import (all are counted; a job lists all).
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


class ImportMode(LabelledEnum):
    """How a file comes in: `registration` (candidates, the ordinary import) or `migration` (a registered
    history from an older system, on the county's authority)."""

    registration = "registration", "新增识别对象", "New candidates"
    migration = "migration", "历史数据迁移", "Migration of a registered history"


#: The source document of a migration: a 文号 or the name of the system the history comes from.
MAX_SOURCE_DOCUMENT = 200


def check_mode(mode: ImportMode, source_document: str | None) -> str | None:
    """The source document a mode needs (stripped): a migration names one, an ordinary import none."""
    document = (source_document or "").strip() or None
    if mode is ImportMode.migration:
        if document is None:
            raise Invalid(
                "source_document_required",
                "a migration names its source document (文号 or the older system it comes from)",
                field="source_document",
            )
        if len(document) > MAX_SOURCE_DOCUMENT:
            raise Invalid(
                "source_document_too_long",
                f"source_document is longer than {MAX_SOURCE_DOCUMENT} characters",
                field="source_document",
            )
        return document
    if document is not None:
        raise Invalid(
            "source_document_without_migration",
            "source_document belongs to a migration (mode=migration)",
            field="source_document",
        )
    return None


def status_problem(mode: ImportMode, status: str) -> tuple[str, str] | None:
    """(code, message) when a line's status is not one its mode imports: an ordinary import brings candidates
    only (registration goes through 两公示一公告 and the quota: invariants 15, 24)."""
    if mode is ImportMode.registration and status != "candidate":
        return (
            "registered_requires_migration",
            "an import brings households in as candidates; an already-registered history is imported only "
            "as a migration (mode=migration with its source_document)",
        )
    return None


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """The registered people a migration brings to one village's quota of one year."""

    village_code: str
    year: int
    quota: int | None  # None: no quota recorded for that year
    used: int  # people counted against it already, without the file's
    importing: int
    lines: tuple[int, ...]


def check_quotas(uses: Iterable[QuotaUse]) -> None:
    """Invariant 24 for a migration: every village's registered people stay within the quota of their quota year,
    or nothing is imported (409 `quota_exceeded`, naming every village, year and line over it).

    A village with no quota recorded for the year (a history older than this system's scale control) is let
    in: its people count against any quota set for that year later (a quota never falls below the people
    counted, issue #13 item 9).
    """
    over = [u for u in uses if u.quota is not None and u.used + u.importing > u.quota]
    if not over:
        return
    first = over[0]
    raise Refused(
        "quota_exceeded",
        f"the migration would exceed {len(over)} village quota(s), e.g. {first.village_code} in {first.year}: "
        f"{first.importing} more people with {first.used} of {first.quota} used; nothing was imported",
        quota=first.quota,
        used=first.used,
        household_size=first.importing,
        rows=[
            {
                "village_code": u.village_code,
                "year": u.year,
                "quota": u.quota,
                "used": u.used,
                "importing": u.importing,
                "lines": list(u.lines[:MAX_ERRORS]),
            }
            for u in over
        ],
    )


# -- checking a file is a lookup of ID numbers (issue #14 item 8) ------------------------------------------------
#: The rows a caller may have checked without writing (dry runs, refused imports) in `CHECK_WINDOW`.
DEFAULT_CHECK_ROWS_PER_HOUR = 50_000
CHECK_WINDOW = timedelta(hours=1)
MEMBER_CONFLICT_MESSAGE = "a person with this resident ID number is already an active member of a household"
#: The per-line answer for a conflict outside the importer's scope (the same as households/domain.py's).
HIDDEN_CONFLICT_MESSAGE = (
    "this person cannot be registered here; the county poverty office resolves it through the documented "
    "transfer procedure"
)


def check_retry_after(
    used: int, rows: int, limit: int, oldest: datetime | None, now: datetime, *, dry_run: bool
) -> int | None:
    """Seconds to wait before checking `rows` more rows, or None when they may be checked now.

    `used` rows were checked in the window, the oldest at `oldest`. A dry run must fit in what is left; an
    import (which writes when it passes) is refused only once the window is used up.
    """
    over = used + rows > limit if dry_run else used >= limit
    if not over:
        return None
    if oldest is None:  # the file alone is over the limit: it must be split
        return int(CHECK_WINDOW.total_seconds())
    return max(1, int((oldest + CHECK_WINDOW - now).total_seconds()) + 1)


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    pointer: str  # JSON pointer of the field, "" for the whole line
    message: str
    code: str | None = None


@dataclass
class ImportErrors:
    """The errors of a file, in the order found. Every error is counted (`total`); at most `limit` are kept
    (`None`: all of them, as an import job reports) and `truncated` says some were counted but not listed."""

    items: list[LineError] = field(default_factory=list)
    truncated: bool = False
    limit: int | None = MAX_ERRORS
    total: int = 0

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.items) >= self.limit

    def add(self, line: int, pointer: str, message: str, code: str | None = None) -> None:
        self.total += 1
        if self.full:
            self.truncated = True
            return
        self.items.append(LineError(line, pointer, message, code))

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

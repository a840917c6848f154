"""Bulk registration of households identified elsewhere (migrated from the national system), all or nothing.

The input is NDJSON: one household per line, the fields of `HouseholdCreate` plus an optional `status`
("candidate" or "registered") and an optional `income` ({"year": ..., IncomeSet fields}). Every line is
checked the way `HouseholdService.create` checks one household (the rows are built by the same functions in
`core`), then the regions, the caller's scope and the uniqueness of ID numbers and national household codes are
checked for the whole file at once. If anything fails, nothing is written and the errors come back (line,
JSON pointer, message; the first `MAX_ERRORS`). Otherwise every table is written with one `COPY` each, in the
caller's transaction:

- `registry_household` and `registry_member` (derived fields computed here; flags empty; version 1),
- `registry_household_income` (version 1 of the given year, per-capita income computed),
- `registry_workflow_event`: one `import` event per registered household, whose replay starts at `registered`,
- `registry_membership_change`: a `joined` entry per member, as a single create writes,
- one `registry_audit_event` for the whole import.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import asyncpg
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.registry.households.core import compute_income, derive, encrypt_household_contact, member_row
from services.registry.households.schemas import HouseholdCreate, IncomeSet, Year
from services.registry.legacy_context import Context, audit
from services.registry.models import (
    Region,
    household,
    household_income,
    member,
    membership_change,
    workflow_event,
)
from shared.problems import Conflict, Forbidden, UnprocessableEntity
from shared.roles import RegionLevel, Role, level_of
from shared.schemas import NUL_CHECKED

__all__ = ["MAX_ERRORS", "MAX_LINES", "BulkHousehold", "BulkIncome", "BulkResult", "bulk_register"]

#: At most this many errors are reported; checking stops there (the file has to be fixed anyway).
MAX_ERRORS = 100
#: A county registers a few hundred thousand households at most; beyond that, split the file.
MAX_LINES = 500_000
#: Lines validated between two yields to the event loop, so that one big import does not starve the others.
_YIELD_EVERY = 500
#: Households per COPY chunk: validated in Python while the previous chunk goes into PostgreSQL.
_CHUNK = 5000


class BulkIncome(IncomeSet):
    year: Year


class BulkHousehold(HouseholdCreate):
    """One NDJSON line."""

    status: Literal["candidate", "registered"] = "candidate"
    income: BulkIncome | None = None


@dataclass
class BulkResult:
    dry_run: bool
    households: int = 0
    members: int = 0
    registered: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False  # more errors than reported: checking stopped at MAX_ERRORS

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "households": self.households,
            "members": self.members,
            "registered": self.registered,
            "errors": self.errors,
        }


@dataclass
class _Planned:
    """One valid line, turned into rows (the parsed model is not kept: 100,000 of them fill memory)."""

    line: int
    village_code: str
    registered: bool
    household: dict[str, Any]
    members: list[dict[str, Any]]
    income: tuple[Any, ...] | None  # a registry_household_income row in _INCOME_COLUMNS order


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.truncated = False

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS

    def add(self, line: int, pointer: str, message: str) -> None:
        if self.full:
            self.truncated = True
            return
        self.items.append({"line": line, "pointer": pointer, "message": message})


def _pointer(loc: Sequence[int | str]) -> str:
    """JSON pointer (RFC 6901) of a pydantic error location."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in loc)


# Columns written by COPY, in order (the others take their server defaults).
_HOUSEHOLD_COLUMNS = (
    "id",
    "village_code",
    "natural_village",
    "villager_group",
    "national_household_code",
    "status",
    "identification_year",
    "quota_year",
    "head_name",
    "household_size",
    "labor_count",
    "has_labor_capacity",
    "poverty_cause_primary",
    "poverty_causes_other",
    "poverty_attribute",
    "main_income_source",
    "dangerous_house_grade",
    "income_year",
    "net_income",
    "per_capita_net_income",
    "details",
    "contact_phone_enc",
    "contact_phone_masked",
    "bank_account_enc",
    "bank_account_masked",
    "bank_name",
    "formed_on",
    "flags",
    "planned_exit_year",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)
_MEMBER_COLUMNS = (
    "id",
    "person_id",
    "household_id",
    "name",
    "relation",
    "sex",
    "ethnicity",
    "birth_year_month",
    "id_number_enc",
    "id_number_index",
    "id_number_masked",
    "no_id_reason",
    "labor_capacity",
    "health_status",
    "education_level",
    "school_status",
    "resident",
    "annual_personal_income",
    "details",
    "active",
    "joined_on",
    "created_at",
    "updated_at",
)
_INCOME_COLUMNS = (
    "household_id",
    "year",
    "version",
    "wage",
    "operating",
    "property",
    "transfer",
    "operating_expenses",
    "household_size",
    "net_income",
    "per_capita_net_income",
    "surveyed_on",
    "note",
    "recorded_at",
    "recorded_by",
)
_EVENT_COLUMNS = (
    "household_id",
    "seq",
    "command",
    "at",
    "actor",
    "role",
    "data",
    "status_after",
    "request_id",
)
_MEMBERSHIP_COLUMNS = ("person_id", "kind", "to_household_id", "to_member_id", "at", "actor", "reason")


def _text(value: Any) -> Any:
    """Enum members as their plain string values (the binary COPY encoder wants exact types)."""
    return None if value is None else str(value)


class _Loader:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.errors = _Errors()
        self.planned: list[_Planned] = []
        self.id_lines: dict[str, tuple[int, str]] = {}  # blind index -> first (line, pointer)
        self.code_lines: dict[str, int] = {}  # national household code -> first line

    # -- one line ------------------------------------------------------------------------------------------
    def check_line(self, number: int, raw: bytes | str) -> None:
        if (b"\\u0000" in raw) if isinstance(raw, bytes) else ("\\u0000" in raw):
            self.errors.add(number, "", "strings must not contain NUL (\\u0000) characters")
            return
        try:
            payload = BulkHousehold.model_validate_json(raw, context={NUL_CHECKED: True})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                self.errors.add(number, _pointer(err["loc"]), err["msg"])
            return
        ctx, errors = self.ctx, self.errors
        before = len(errors.items)
        if level_of(payload.village_code) is not RegionLevel.village:
            errors.add(number, "/village_code", "village_code must be an administrative village")
        elif not ctx.principal.covers(payload.village_code):
            errors.add(number, "/village_code", f"region {payload.village_code} lies outside your scope")
        if payload.national_household_code is not None:
            first = self.code_lines.setdefault(payload.national_household_code, number)
            if first != number:
                errors.add(
                    number, "/national_household_code", f"national_household_code repeats line {first}"
                )
        hid = uuid.uuid4()
        members: list[dict[str, Any]] = []
        for i, m in enumerate(payload.members):
            pointer = f"/members/{i}"
            try:
                row = member_row(ctx.cipher, m, hid, joined_on=ctx.today, pointer=pointer)
            except UnprocessableEntity as exc:
                errors.add(number, str(exc.extensions.get("field") or pointer), exc.detail)
                continue
            index = row["id_number_index"]
            if index is not None:
                seen = self.id_lines.setdefault(index, (number, f"{pointer}/resident_id_number"))
                if seen[0] != number or seen[1] != f"{pointer}/resident_id_number":
                    errors.add(
                        number,
                        f"{pointer}/resident_id_number",
                        f"the resident ID number repeats line {seen[0]} ({seen[1]}): one person, one household",
                    )
            members.append(row)
        if len(errors.items) > before or errors.truncated:
            return
        d = derive(members)
        computed: dict[str, Decimal] = {}
        income: tuple[Any, ...] | None = None
        given = payload.income
        if given is not None:
            computed = compute_income(given, d.household_size)
            income = (
                hid,
                given.year,
                1,
                given.wage,
                given.operating,
                given.property,
                given.transfer,
                given.operating_expenses,
                d.household_size,
                computed["net_income"],
                computed["per_capita_net_income"],
                given.surveyed_on,
                given.note,
                ctx.now,
                ctx.principal.sub,
            )
        values: dict[str, Any] = {
            "id": hid,
            "village_code": payload.village_code,
            "natural_village": payload.natural_village,
            "villager_group": payload.villager_group,
            "national_household_code": payload.national_household_code,
            "status": payload.status,
            "identification_year": payload.identification_year,
            "quota_year": payload.identification_year,
            "head_name": d.head_name,
            "household_size": d.household_size,
            "labor_count": d.labor_count,
            "has_labor_capacity": d.has_labor_capacity,
            "poverty_cause_primary": _text(payload.poverty_cause_primary),
            "poverty_causes_other": [str(c) for c in payload.poverty_causes_other or []],
            "poverty_attribute": _text(payload.poverty_attribute),
            "main_income_source": _text(payload.main_income_source),
            "dangerous_house_grade": _text(payload.dangerous_house_grade),
            "income_year": given.year if given else None,
            "net_income": computed.get("net_income"),
            "per_capita_net_income": computed.get("per_capita_net_income"),
            "details": payload.details.model_dump(mode="json"),
            "bank_name": payload.bank_name,
            "formed_on": payload.formed_on,
            "planned_exit_year": payload.planned_exit_year,
        }
        values.update(encrypt_household_contact(ctx.cipher, hid, payload.contact_phone, payload.bank_account))
        self.planned.append(
            _Planned(number, payload.village_code, payload.status == "registered", values, members, income)
        )

    # -- the whole file against the database ---------------------------------------------------------------
    async def _present(self, column: Any, values: Iterable[str], *where: sa.ColumnElement[bool]) -> set[str]:
        """Those of `values` found in `column` (one `= ANY($1)` parameter, however many values)."""
        wanted = sa.bindparam(None, list(values), type_=ARRAY(sa.String))
        query = select(column).where(column == sa.any_(wanted), *where)
        return set(await self.ctx.session.exec(query))

    async def check_database(self, chunk: Sequence[_Planned]) -> None:
        """Regions exist; no ID number or national code of the chunk is taken in the registry already."""
        found = await self._present(col(Region.code), {p.village_code for p in chunk})
        for p in chunk:
            if p.village_code not in found:
                self.errors.add(p.line, "/village_code", f"region {p.village_code} does not exist")
        indexes = {m["id_number_index"] for p in chunk for m in p.members if m["id_number_index"]}
        if indexes:
            taken = await self._present(member.c.id_number_index, indexes, member.c.active)
            for index in sorted(taken, key=lambda i: self.id_lines[i]):
                line, pointer = self.id_lines[index]
                self.errors.add(
                    line,
                    pointer,
                    "a person with this resident ID number is already an active member of a household",
                )
        codes = {
            p.household["national_household_code"] for p in chunk if p.household["national_household_code"]
        }
        if codes:
            for code in await self._present(household.c.national_household_code, codes):
                self.errors.add(
                    self.code_lines[code],
                    "/national_household_code",
                    "national_household_code is already used by another household",
                )
        self.errors.items.sort(key=lambda e: e["line"])

    async def flush(self, chunk: list[_Planned], *, write: bool) -> None:
        """Check a chunk against the database and, unless anything failed so far, COPY it."""
        await self.check_database(chunk)
        if write and not self.errors.items:
            await self.write(chunk)

    # -- writing -------------------------------------------------------------------------------------------
    async def write(self, chunk: Sequence[_Planned]) -> None:
        ctx = self.ctx
        sub, role, now = ctx.principal.sub, str(ctx.principal.role), ctx.now
        households: list[tuple[Any, ...]] = []
        members: list[tuple[Any, ...]] = []
        incomes: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        joins: list[tuple[Any, ...]] = []
        event_data = json.dumps({"source": "bulk"})
        for p in chunk:
            hh = p.household
            hh.update(
                details=json.dumps(hh["details"], ensure_ascii=False),
                flags=[],
                version=1,
                created_at=now,
                created_by=sub,
                updated_at=now,
                updated_by=sub,
            )
            households.append(tuple(hh.get(c) for c in _HOUSEHOLD_COLUMNS))
            for m in p.members:
                m.update(details=json.dumps(m["details"], ensure_ascii=False), created_at=now, updated_at=now)
                members.append(tuple(m.get(c) for c in _MEMBER_COLUMNS))
                joins.append((m["person_id"], "joined", hh["id"], m["id"], now, sub, "bulk import"))
            if p.income is not None:
                incomes.append(p.income)
            if p.registered:
                events.append(
                    (hh["id"], 1, "import", now, sub, role, event_data, "registered", ctx.request_id)
                )
        conn = await ctx.session.connection()
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        copies: list[tuple[sa.Table, Sequence[str], list[tuple[Any, ...]]]] = [
            (household, _HOUSEHOLD_COLUMNS, households),
            (member, _MEMBER_COLUMNS, members),
            (household_income, _INCOME_COLUMNS, incomes),
            (workflow_event, _EVENT_COLUMNS, events),
            (membership_change, _MEMBERSHIP_COLUMNS, joins),
        ]
        try:
            for table, columns, records in copies:
                if records:
                    await raw.copy_records_to_table(table.name, records=records, columns=list(columns))
        except asyncpg.UniqueViolationError as exc:  # written concurrently since the checks above
            if "ux_registry_member_active_person" in str(exc):
                raise Conflict(
                    "a person in the file became an active member of another household during the import; "
                    "nothing was imported",
                    code="person_already_member",
                ) from exc
            raise Conflict("the import conflicts with data written meanwhile; nothing was imported") from exc


def _lines(lines: Iterable[bytes | str]) -> Iterable[tuple[int, bytes | str]]:
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield number, raw


async def bulk_register(ctx: Context, lines: Iterable[bytes | str], *, dry_run: bool = False) -> BulkResult:
    """Check every line, then write all households or none; `errors` is non-empty when nothing was written.

    Lines are validated in Python while the previous chunk is checked against the database and copied in, so
    PostgreSQL works while Python parses. All chunks share the caller's transaction: if any line fails, the
    caller does not commit and nothing is written.
    """
    if ctx.principal.role is not Role.county_admin:
        raise Forbidden("only county administrators bulk-register households")
    loader = _Loader(ctx)
    result = BulkResult(dry_run=dry_run)
    incomes = villages = 0
    seen_villages: set[str] = set()
    pending: asyncio.Task[None] | None = None
    count = 0
    try:
        for number, raw in _lines(lines):
            count += 1
            if count > MAX_LINES:
                raise UnprocessableEntity(f"more than {MAX_LINES} households; split the file", field="/")
            loader.check_line(number, raw)
            if loader.errors.full:
                loader.errors.truncated = True
                break
            if len(loader.planned) >= _CHUNK and not loader.errors.items:
                chunk, loader.planned = loader.planned, []
                for p in chunk:
                    result.households += 1
                    result.members += len(p.members)
                    result.registered += p.registered
                    incomes += p.income is not None
                    seen_villages.add(p.village_code)
                if pending is not None:
                    await pending
                pending = asyncio.create_task(loader.flush(chunk, write=not dry_run))
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        if count == 0:
            raise UnprocessableEntity("the file has no households", errors=[])
    finally:
        if pending is not None:
            await pending  # never leave a COPY running on the connection
    chunk, loader.planned = loader.planned, []
    for p in chunk:
        result.households += 1
        result.members += len(p.members)
        result.registered += p.registered
        incomes += p.income is not None
        seen_villages.add(p.village_code)
    villages = len(seen_villages)
    if not loader.errors.items and chunk:
        await loader.flush(chunk, write=not dry_run)
    result.errors = loader.errors.items
    result.truncated = loader.errors.truncated
    if result.errors:
        result.households = result.members = result.registered = 0
        return result
    if not dry_run:
        await audit(
            ctx,
            "household.bulk_register",
            record_type="import",
            record_id=uuid.uuid4(),
            region_code=ctx.principal.region,
            detail={
                "households": result.households,
                "members": result.members,
                "registered": result.registered,
                "incomes": incomes,
                "villages": villages,
            },
        )
    return result

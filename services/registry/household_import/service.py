"""Bulk registration of households identified elsewhere (migrated from the national system), all or nothing.

The input is NDJSON: one household per line, the fields of `HouseholdCreate` plus an optional `status`
("candidate" or "registered") and an optional `income` ({"year": ..., IncomeSet fields}). Every line is checked
the way `HouseholdService.create` checks one household (the rows are built by the same functions of
households/service.py and the same rules of households/domain.py), then the regions, the caller's scope and the
uniqueness of ID numbers and national household codes are checked for the whole file at once. If anything fails,
nothing is written and the errors come back (line, JSON pointer, message; all counted, the first `MAX_ERRORS`
listed, or all of them for an import job). Otherwise every table is written with one `COPY` each, in the
caller's transaction:

- `registry_household` and `registry_member` (derived fields computed here; flags empty; version 1),
- `registry_household_income` (version 1 of the given year, per-capita income computed),
- `registry_workflow_event`: one `import` event per registered household, whose replay starts at `registered`
  (its data records the mode and the source document),
- `registry_membership_change`: a `joined` entry per member, as a single create writes,
- one `registry_audit_event` for the whole import.

Modes (issue #13 item 2, household_import/domain.py): an ordinary import brings candidates only (a line with
`status: registered` is an error coded `registered_requires_migration`); `mode=migration` imports a registered
history with its `source_document`, and its registered households must fit the village quotas of their quota
years (checked after the COPYs, under the quota rows' locks, so a refusal undoes everything).

Checking a file looks ID numbers up (issue #14 item 8): a number that is an active member of a household outside
the importer's scope gets the generic `person_registration_conflict`; every dry run and every refused import
leaves one audit entry (`household.import_check`: rows, conflicts, the masked numbers answered generically),
kept although the import is refused, and those rows are limited per caller and hour (`check_rows_per_hour`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.registry.audit.repository import RegistryAudit
from services.registry.household_import import domain
from services.registry.household_import.domain import ImportMode
from services.registry.household_import.repository import (
    CHECK_ACTION,
    HOUSEHOLD_COLUMNS,
    MEMBER_COLUMNS,
    ImportRepository,
    Rows,
)
from services.registry.household_import.schemas import BulkHousehold, ImportLineError, ImportResult
from services.registry.households import domain as households
from services.registry.households.service import contact_values, new_member_row
from services.registry.identification.domain import IMPORT_COMMAND, Status
from services.registry.pii import PersonalDataCipher
from shared.context import Context
from shared.errors import DomainError, Invalid
from shared.problems import TooManyRequests, from_domain
from shared.schemas import NUL_CHECKED

__all__ = ["ChunkHook", "HouseholdImportService"]

#: Called between chunks with (lines checked, errors so far): a job's progress and cancellation point.
ChunkHook = Callable[[int, int], Awaitable[None]]

#: Lines validated between two yields to the event loop, so that one big import does not starve the others.
_YIELD_EVERY = 500
#: Households per COPY chunk: validated in Python while the previous chunk goes into PostgreSQL.
_CHUNK = 5000
#: At most this many masked numbers are listed in one check's audit entry (all are counted).
_AUDITED_NUMBERS = 1000


@dataclass
class _Planned:
    """One valid line, turned into rows (the parsed model is not kept: 100,000 of them fill memory)."""

    line: int
    village_code: str
    registered: bool
    household: dict[str, Any]
    members: list[dict[str, Any]]
    income: tuple[Any, ...] | None  # a registry_household_income row in INCOME_COLUMNS order


def _code(value: Any) -> Any:
    """Enum members as their plain string values (the binary COPY encoder wants exact types)."""
    return None if value is None else str(value)


class _Loader:
    def __init__(
        self,
        ctx: Context,
        cipher: PersonalDataCipher,
        mode: ImportMode,
        source_document: str | None,
        max_errors: int | None = domain.MAX_ERRORS,
    ) -> None:
        self.ctx = ctx
        self.cipher = cipher
        self.mode = mode
        self.source_document = source_document
        self.repo = ImportRepository(ctx)
        self.errors = domain.ImportErrors(limit=max_errors)
        self.seen = domain.FileIdentity()
        self.planned: list[_Planned] = []
        self.rows = 0  # non-blank lines checked
        self.conflicts = 0  # ID numbers found as active members of a household
        self.hidden: list[str] = []  # the masked numbers of those outside the importer's scope
        # Read once: every member of the file joins on the same (China) day.
        self.today = ctx.today

    # -- one line ------------------------------------------------------------------------------------------
    def check_line(self, number: int, raw: bytes | str) -> None:
        errors = self.errors
        if (b"\\u0000" in raw) if isinstance(raw, bytes) else ("\\u0000" in raw):
            errors.add(number, "", "strings must not contain NUL (\\u0000) characters")
            return
        try:
            payload = BulkHousehold.model_validate_json(raw, context={NUL_CHECKED: True})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                errors.add(number, domain.json_pointer(err["loc"]), err["msg"])
            return
        ctx = self.ctx
        before = errors.total
        refused_status = domain.status_problem(self.mode, payload.status)
        if refused_status is not None:
            errors.add(number, "/status", refused_status[1], refused_status[0])
        problem = domain.region_problem(ctx.principal, payload.village_code)
        if problem is not None:
            errors.add(number, "/village_code", problem)
        if payload.national_household_code is not None:
            repeated = self.seen.repeated_code(payload.national_household_code, number)
            if repeated is not None:
                errors.add(number, "/national_household_code", repeated)
        hid = uuid.uuid4()
        members: list[dict[str, Any]] = []
        for i, m in enumerate(payload.members):
            pointer = f"/members/{i}"
            try:
                row = new_member_row(
                    self.cipher, m, hid, joined_on=self.today, today=self.today, pointer=pointer
                )
            except Invalid as exc:
                errors.add(number, str(exc.details.get("field") or pointer), exc.message)
                continue
            index = row["id_number_index"]
            if index is not None:
                id_pointer = f"{pointer}/resident_id_number"
                repeated = self.seen.repeated_person(index, number, id_pointer)
                if repeated is not None:
                    errors.add(number, id_pointer, repeated)
            members.append(row)
        if errors.total > before:
            return
        derived = households.derive(payload.members)
        net = per_capita = None
        income: tuple[Any, ...] | None = None
        given = payload.income
        if given is not None:
            computed = households.compute_income(given, derived.household_size)
            net, per_capita = computed.net_income, computed.per_capita_net_income
            income = (
                hid,
                given.year,
                1,
                given.wage,
                given.operating,
                given.property,
                given.transfer,
                given.operating_expenses,
                derived.household_size,
                net,
                per_capita,
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
            "head_name": derived.head_name,
            "household_size": derived.household_size,
            "labor_count": derived.labor_count,
            "has_labor_capacity": derived.has_labor_capacity,
            "poverty_cause_primary": _code(payload.poverty_cause_primary),
            "poverty_causes_other": [str(c) for c in payload.poverty_causes_other or []],
            "poverty_attribute": _code(payload.poverty_attribute),
            "main_income_source": _code(payload.main_income_source),
            "dangerous_house_grade": _code(payload.dangerous_house_grade),
            "income_year": given.year if given else None,
            "net_income": net,
            "per_capita_net_income": per_capita,
            "details": payload.details.model_dump(mode="json"),
            "bank_name": payload.bank_name,
            "formed_on": payload.formed_on,
            "planned_exit_year": payload.planned_exit_year,
        }
        values.update(contact_values(self.cipher, hid, payload.contact_phone, payload.bank_account))
        self.planned.append(
            _Planned(
                number, payload.village_code, payload.status == Status.registered, values, members, income
            )
        )

    # -- the whole file against the database ---------------------------------------------------------------
    async def check_database(self, chunk: Sequence[_Planned]) -> None:
        """Regions exist; no ID number or national code of the chunk is taken in the registry already."""
        found = await self.repo.existing_villages({p.village_code for p in chunk})
        for p in chunk:
            if p.village_code not in found:
                self.errors.add(p.line, "/village_code", f"region {p.village_code} does not exist")
        indexes = {m["id_number_index"] for p in chunk for m in p.members if m["id_number_index"]}
        if indexes:
            taken = await self.repo.active_people(indexes)
            masked = {m["id_number_index"]: m["id_number_masked"] for p in chunk for m in p.members}
            for index in sorted(taken, key=lambda i: self.seen.id_lines[i]):
                line, pointer = self.seen.id_lines[index]
                self.conflicts += 1
                if self.ctx.principal.covers(taken[index]):
                    self.errors.add(line, pointer, domain.MEMBER_CONFLICT_MESSAGE, "person_already_member")
                else:  # issue #14 item 8: the same answer as any conflict the importer may not trace
                    self.hidden.append(str(masked.get(index)))
                    self.errors.add(
                        line, pointer, domain.HIDDEN_CONFLICT_MESSAGE, "person_registration_conflict"
                    )
        codes = {
            p.household["national_household_code"] for p in chunk if p.household["national_household_code"]
        }
        if codes:
            for code in await self.repo.taken_national_codes(codes):
                self.errors.add(
                    self.seen.code_lines[code],
                    "/national_household_code",
                    "national_household_code is already used by another household",
                )
        self.errors.sort()

    async def flush(self, chunk: list[_Planned], *, write: bool) -> None:
        """Check a chunk against the database and, unless anything failed so far, COPY it."""
        await self.check_database(chunk)
        if write and not self.errors.total:
            await self.write(chunk)

    # -- writing -------------------------------------------------------------------------------------------
    async def write(self, chunk: Sequence[_Planned]) -> None:
        ctx = self.ctx
        sub, role, now = ctx.principal.sub, ctx.principal.role.value, ctx.now
        households_rows: Rows = []
        members: Rows = []
        incomes: Rows = []
        events: Rows = []
        joins: Rows = []
        data: dict[str, Any] = {"source": "bulk"}
        if self.mode is ImportMode.migration:
            data.update(mode=self.mode.value, source_document=self.source_document)
        event_data = json.dumps(data, ensure_ascii=False)
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
            households_rows.append(tuple(hh.get(c) for c in HOUSEHOLD_COLUMNS))
            for m in p.members:
                m.update(details=json.dumps(m["details"], ensure_ascii=False), created_at=now, updated_at=now)
                members.append(tuple(m.get(c) for c in MEMBER_COLUMNS))
                joins.append((m["person_id"], "joined", hh["id"], m["id"], now, sub, "bulk import"))
            if p.income is not None:
                incomes.append(p.income)
            if p.registered:
                events.append(
                    (
                        hh["id"],
                        1,
                        IMPORT_COMMAND,
                        now,
                        sub,
                        role,
                        event_data,
                        Status.registered.value,
                        ctx.request_id,
                    )
                )
        await self.repo.copy(
            households=households_rows, members=members, incomes=incomes, events=events, joins=joins
        )


async def _lines(
    lines: Iterable[bytes | str] | AsyncIterable[bytes | str],
) -> AsyncIterator[tuple[int, bytes | str]]:
    """The non-blank lines with their numbers, from a list, a generator or an async source (a job's stored file)."""
    number = 0
    if isinstance(lines, AsyncIterable):
        async for raw in lines:
            number += 1
            if raw.strip():
                yield number, raw
        return
    for raw in lines:
        number += 1
        if raw.strip():
            yield number, raw


class HouseholdImportService:
    def __init__(self, ctx: Context, cipher: PersonalDataCipher) -> None:
        self.ctx = ctx
        self.cipher = cipher
        self.audit = RegistryAudit(ctx)

    async def run(
        self,
        lines: Iterable[bytes | str] | AsyncIterable[bytes | str],
        *,
        dry_run: bool = False,
        mode: ImportMode = ImportMode.registration,
        source_document: str | None = None,
        rows: int = 0,
        check_rows_per_hour: int = domain.DEFAULT_CHECK_ROWS_PER_HOUR,
        max_errors: int | None = domain.MAX_ERRORS,
        on_chunk: ChunkHook | None = None,
    ) -> ImportResult:
        """Check every line, then write all households or none (`Invalid` with the per-line errors: none).

        `rows` is the number of households in the file (counted by the route), for the hourly limit of rows
        checked without writing. A dry run, or an import refused for any reason, leaves one audit entry that
        is kept although the import is refused.

        `max_errors`: how many errors the refusal lists (`None`: all, for an import job); every error is counted.
        `on_chunk(lines_done, errors_so_far)` runs between chunks (a job's progress and cancellation: it may
        raise, and the savepoint undoes every chunk written).
        """
        ctx = self.ctx
        domain.require_importer(ctx.principal.role)
        document = domain.check_mode(mode, source_document)
        repo = ImportRepository(ctx)
        used, oldest = await repo.rows_checked(ctx.principal.sub, ctx.now - domain.CHECK_WINDOW)
        wait = domain.check_retry_after(used, rows, check_rows_per_hour, oldest, ctx.now, dry_run=dry_run)
        if wait is not None:
            raise TooManyRequests(
                f"at most {check_rows_per_hour} households an hour are checked without being imported "
                f"({used} already); try again later or split the file",
                headers={"Retry-After": str(wait)},
                code="import_check_limit",
                limit=check_rows_per_hour,
                used=used,
            )
        loader = _Loader(ctx, self.cipher, mode, document, max_errors)
        try:
            async with repo.savepoint():
                result = await self._load(loader, lines, dry_run=dry_run, on_chunk=on_chunk)
        except DomainError as exc:
            await self._audit_check(loader, dry_run=dry_run, outcome=exc.code)
            # The savepoint undid every COPY; only the audit entry of the check is committed.
            raise from_domain(exc).keep_writes() from exc
        if dry_run:
            await self._audit_check(loader, dry_run=True, outcome="ok")
        return result

    async def _audit_check(self, loader: _Loader, *, dry_run: bool, outcome: str) -> None:
        """One entry per file checked without writing: rows, conflicts, the masked numbers answered generically."""
        await self.audit.record(
            CHECK_ACTION,
            record_type="import",
            record_id=uuid.uuid4(),
            region_code=self.ctx.principal.region,
            detail={
                "dry_run": dry_run,
                "mode": loader.mode.value,
                "outcome": outcome,
                "rows": loader.rows,
                "errors": loader.errors.total,
                "conflicts": loader.conflicts,
                "hidden_conflicts": len(loader.hidden),
                "hidden_id_numbers": loader.hidden[:_AUDITED_NUMBERS],
            },
        )

    async def _check_quotas(
        self, loader: _Loader, registered: dict[tuple[str, int], tuple[int, list[int]]], *, written: bool
    ) -> None:
        """Invariant 24 for a migration: lock the quotas concerned, then count what is used against them."""
        if not registered:
            return
        keys = sorted(registered)
        quotas = await loader.repo.village_quotas_locked(keys)
        used = await loader.repo.used_people(keys)
        domain.check_quotas(
            domain.QuotaUse(
                village_code=village,
                year=year,
                quota=quotas.get((village, year)),
                # Once written, the file's own households are among those counted.
                used=used.get((village, year), 0) - (registered[village, year][0] if written else 0),
                importing=registered[village, year][0],
                lines=tuple(registered[village, year][1]),
            )
            for village, year in keys
        )

    async def _load(
        self,
        loader: _Loader,
        lines: Iterable[bytes | str] | AsyncIterable[bytes | str],
        *,
        dry_run: bool,
        on_chunk: ChunkHook | None = None,
    ) -> ImportResult:
        """Lines are validated in Python while the previous chunk is checked against the database and copied in,
        so PostgreSQL works while Python parses. All chunks share the caller's transaction: if any line fails,
        the refusal rolls it back and nothing is written.
        """
        ctx = self.ctx
        result = ImportResult(dry_run=dry_run, mode=loader.mode.value, source_document=loader.source_document)
        incomes = 0
        villages: set[str] = set()
        registered: dict[tuple[str, int], tuple[int, list[int]]] = {}
        pending: asyncio.Task[None] | None = None
        count = 0

        def counted(chunk: Sequence[_Planned]) -> None:
            nonlocal incomes
            for p in chunk:
                result.households += 1
                result.members += len(p.members)
                result.registered += p.registered
                incomes += p.income is not None
                villages.add(p.village_code)
                if p.registered:
                    key = (p.village_code, int(p.household["quota_year"]))
                    people, at = registered.get(key, (0, []))
                    at.append(p.line)
                    registered[key] = (people + int(p.household["household_size"]), at)

        try:
            async for number, raw in _lines(lines):
                count += 1
                loader.rows = count
                domain.require_lines(count)
                loader.check_line(number, raw)
                # Every chunk is checked against the database, also after errors (the report is complete);
                # it is written only while the file has none.
                if len(loader.planned) >= _CHUNK:
                    chunk, loader.planned = loader.planned, []
                    counted(chunk)
                    if pending is not None:
                        await pending
                        pending = None
                    if on_chunk is not None:
                        await on_chunk(count, loader.errors.total)
                    pending = asyncio.create_task(loader.flush(chunk, write=not dry_run))
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            domain.require_lines(count)
        finally:
            if pending is not None:
                await pending  # never leave a COPY running on the connection
        chunk, loader.planned = loader.planned, []
        counted(chunk)
        if chunk:
            await loader.flush(chunk, write=not dry_run)
        if on_chunk is not None:
            await on_chunk(count, loader.errors.total)
        errors = loader.errors
        if errors.total:
            listed = f" (the first {len(errors.items)} listed)" if errors.truncated else ""
            raise Invalid(
                "import_invalid",
                f"{errors.total} error(s) in the file{listed}; nothing was imported",
                error_count=errors.total,
                truncated=errors.truncated,
                errors=[
                    ImportLineError(
                        line=e.line, pointer=e.pointer, message=e.message, code=e.code
                    ).model_dump(exclude_none=True)
                    for e in errors.items
                ],
            )
        if loader.mode is ImportMode.migration:
            await self._check_quotas(loader, registered, written=not dry_run)
        if not dry_run:
            await self.audit.record(
                "household.bulk_register",
                record_type="import",
                record_id=uuid.uuid4(),
                region_code=ctx.principal.region,
                detail={
                    "households": result.households,
                    "members": result.members,
                    "registered": result.registered,
                    "incomes": incomes,
                    "villages": len(villages),
                    "mode": loader.mode.value,
                    "source_document": loader.source_document,
                },
            )
        return result

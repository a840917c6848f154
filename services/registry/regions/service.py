"""Registry use cases for the region tree."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.models import PolicyParameter, Region
from services.registry.regions.policy import PARAMETERS, ParameterKind, default_for
from services.registry.regions.repository import (
    PolicyRepository,
    QuotaRepository,
    RegionRepository,
    StatusRepository,
)
from services.registry.regions.schemas import (
    EffectiveParameter,
    ImportResult,
    PolicyParameterSet,
    PolicyPublic,
    QuotaChild,
    QuotaPublic,
    QuotaSet,
    RegionCreate,
    RegionStatusKind,
    StatusesPublic,
    StatusesSet,
)
from shared.clock import utcnow
from shared.problems import Conflict, Forbidden, NotFound, PayloadTooLarge, UnprocessableEntity
from shared.roles import Principal, RegionLevel, Role, ancestors_of, is_region_code, level_of, scope_prefix

__all__ = [
    "PolicyService",
    "QuotaService",
    "RegionImportService",
    "RegionService",
    "StatusService",
]


class RegionService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.repo = RegionRepository(session, principal)

    async def get(self, code: str) -> Region:
        region = await self.repo.get(code)
        if region is None:
            raise NotFound(f"region {code} not found")
        return region

    async def create(self, payload: RegionCreate) -> Region:
        if self.principal.role is not Role.county_admin:
            raise Forbidden("only county administrators edit the region tree")
        code = payload.code
        if not is_region_code(code):
            raise UnprocessableEntity("not a valid statistical division code", field="code")
        if not self.principal.covers(code) or code == self.principal.region:
            raise Forbidden("the region lies outside your county")
        candidates = ancestors_of(code)
        if payload.parent_code is not None:
            if payload.parent_code not in candidates:
                raise UnprocessableEntity("parent_code is not an ancestor of code", field="parent_code")
            if not await self.repo.exists_unscoped(payload.parent_code):
                raise UnprocessableEntity("parent region does not exist", field="parent_code")
            parent: str = payload.parent_code
        else:
            nearest = await self.repo.nearest_ancestor(candidates)
            if nearest is None:
                raise UnprocessableEntity("no ancestor region exists; create the parent first", field="code")
            parent = nearest
        region = Region(code=code, name=payload.name, level=level_of(code), parent_code=parent)
        self.session.add(region)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise Conflict(f"region {code} already exists") from exc
        return region


async def _region_in_scope(repo: RegionRepository, code: str, *, lock: bool = False) -> Region:
    region = await (repo.lock(code) if lock else repo.get(code))
    if region is None:
        raise NotFound(f"region {code} not found")
    return region


# -- statuses -------------------------------------------------------------------------------------------------
#: Which level of region may hold which status (DOMAIN.md §1.1; natural villages are recorded on their village).
_STATUS_LEVELS: dict[RegionStatusKind, RegionLevel] = {
    RegionStatusKind.poor_county: RegionLevel.county,
    RegionStatusKind.old_revolutionary_base: RegionLevel.county,
    RegionStatusKind.poor_village: RegionLevel.village,
    RegionStatusKind.national_poor_village: RegionLevel.village,
    RegionStatusKind.provincial_poor_village: RegionLevel.village,
    RegionStatusKind.extremely_poor_natural_village: RegionLevel.village,
    RegionStatusKind.designated_help_village: RegionLevel.village,
}


class StatusService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.regions = RegionRepository(session, principal)
        self.repo = StatusRepository(session, principal)

    async def list(self, code: str) -> StatusesPublic:
        await _region_in_scope(self.regions, code)
        by_year: dict[int, list[RegionStatusKind]] = {}
        for row in await self.repo.for_region(code):
            by_year.setdefault(row.year, []).append(RegionStatusKind(row.status))
        return StatusesPublic(region_code=code, statuses_by_year=by_year)

    async def replace(self, code: str, year: int, payload: StatusesSet) -> StatusesPublic:
        if self.principal.role is not Role.county_admin:
            raise Forbidden("only county administrators set region statuses")
        region = await _region_in_scope(self.regions, code, lock=True)
        wanted = sorted(set(payload.statuses))
        for status in wanted:
            if _STATUS_LEVELS[status] != region.level:
                raise UnprocessableEntity(
                    f"status {status} applies to a {_STATUS_LEVELS[status]}, not a {region.level}",
                    field="statuses",
                )
        await self.repo.replace(code, year, wanted)
        await self.session.commit()
        return await self.list(code)


# -- CSV import -----------------------------------------------------------------------------------------------
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
_COLUMNS = ("code", "name", "parent_code")


@dataclass(slots=True)
class _Row:
    line: int
    code: str
    name: str
    parent_code: str | None


class RegionImportService:
    """All-or-nothing import of region rows (code, name[, parent_code]) into the caller's county."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.repo = RegionRepository(session, principal)

    def _parse(self, body: bytes) -> tuple[list[_Row], list[dict[str, Any]]]:
        if len(body) > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"CSV larger than {MAX_IMPORT_BYTES} bytes")
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnprocessableEntity("the CSV must be UTF-8", field="body") from exc
        if "\x00" in text:
            raise UnprocessableEntity("the CSV must not contain NUL characters", field="body")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [h.strip() for h in next(reader, [])]
        if (
            header[:2] != ["code", "name"]
            or not set(header) <= set(_COLUMNS)
            or len(set(header)) != len(header)
        ):
            raise UnprocessableEntity(
                "the header must be code,name or code,name,parent_code",
                errors=[{"row": 1, "field": "header", "message": "expected code,name[,parent_code]"}],
            )
        rows: list[_Row] = []
        errors: list[dict[str, Any]] = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise PayloadTooLarge(f"more than {MAX_IMPORT_ROWS} rows")
            if len(values) != len(header):
                errors.append({"row": line, "field": None, "message": f"expected {len(header)} columns"})
                continue
            record = dict(zip(header, (v.strip() for v in values), strict=True))
            rows.append(_Row(line, record["code"], record["name"], record.get("parent_code") or None))
        if not rows and not errors:
            raise UnprocessableEntity("the CSV has no rows", errors=[])
        return rows, errors

    async def run(self, body: bytes, *, dry_run: bool) -> ImportResult:
        if self.principal.role is not Role.county_admin:
            raise Forbidden("only county administrators edit the region tree")
        rows, errors = self._parse(body)
        candidates = {c for r in rows if is_region_code(r.code) for c in ancestors_of(r.code)}
        existing = await self.repo.existing_unscoped(sorted(candidates | {r.code for r in rows}))
        known = set(existing)  # codes that exist in the DB or earlier in the file
        seen: set[str] = set()
        creates: list[Region] = []
        renames: list[tuple[Region, str]] = []
        unchanged = 0

        def fail(row: _Row, field: str, message: str) -> None:
            errors.append({"row": row.line, "field": field, "message": message})

        for row in rows:
            bad = len(errors)
            if not 1 <= len(row.name) <= 128:
                fail(row, "name", "name must be 1 to 128 characters")
            if not is_region_code(row.code):
                fail(row, "code", "not a valid statistical division code")
                continue
            if not self.principal.covers(row.code) or row.code == self.principal.region:
                fail(row, "code", "the region lies outside your county")
                continue
            if row.code in seen:
                fail(row, "code", "code appears more than once in the file")
                continue
            seen.add(row.code)
            ancestors = ancestors_of(row.code)
            current = existing.get(row.code)
            parent: str | None
            if row.parent_code is not None:
                if row.parent_code not in ancestors:
                    fail(row, "parent_code", "parent_code is not an ancestor of code")
                elif row.parent_code not in known:
                    fail(row, "parent_code", "parent region does not exist (in the database or earlier rows)")
                elif current is not None and current.parent_code != row.parent_code:
                    fail(row, "parent_code", "an existing region cannot be moved; only its name is updated")
                parent = row.parent_code
            else:
                parent = current.parent_code if current else next((c for c in ancestors if c in known), None)
                if parent is None:
                    fail(row, "code", "no ancestor region exists in the database or earlier rows")
            if len(errors) > bad:
                continue
            known.add(row.code)
            if current is None:
                creates.append(
                    Region(code=row.code, name=row.name, level=level_of(row.code), parent_code=parent)
                )
            elif current.name != row.name:
                renames.append((current, row.name))
            else:
                unchanged += 1
        if errors:
            errors.sort(key=lambda e: e["row"])
            raise UnprocessableEntity(
                f"{len(errors)} error(s) in the CSV; nothing was imported", errors=errors[:1000]
            )
        result = ImportResult(
            dry_run=dry_run, rows=len(rows), created=len(creates), updated=len(renames), unchanged=unchanged
        )
        if dry_run:
            return result
        for region in creates:
            self.session.add(region)
            await self.session.flush()  # parents before children
        for region, name in renames:
            region.name = name
            region.version += 1
            region.updated_at = utcnow()
            self.session.add(region)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise Conflict("the region tree changed during the import; nothing was imported") from exc
        return result


# -- policy parameters ----------------------------------------------------------------------------------------
def _from_storage(kind: ParameterKind, value: Decimal) -> int | Decimal:
    if kind is ParameterKind.percent:
        return value.quantize(Decimal("0.01"))
    return int(value)


class PolicyService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.regions = RegionRepository(session, principal)
        self.repo = PolicyRepository(session, principal)

    async def effective(self, code: str, year: int) -> PolicyPublic:
        await _region_in_scope(self.regions, code)
        chain = [code, *ancestors_of(code)]  # nearest first
        rank = {c: i for i, c in enumerate(chain)}
        best: dict[str, PolicyParameter] = {}
        for row in await self.repo.newest_along(chain, year):
            held = best.get(row.name)
            if held is None or rank[row.region_code] < rank[held.region_code]:
                best[row.name] = row
        out = []
        for name, spec in PARAMETERS.items():
            chosen = best.get(name)
            if chosen is not None:
                out.append(
                    EffectiveParameter(
                        name=name,
                        kind=spec.kind,
                        description=spec.description,
                        value=_from_storage(spec.kind, chosen.value),
                        source="region",
                        region_code=chosen.region_code,
                        version=chosen.version,
                        valid_from=chosen.valid_from,
                        created_by=chosen.created_by,
                        reason=chosen.reason,
                    )
                )
            else:
                default = default_for(name, year)
                out.append(
                    EffectiveParameter(
                        name=name,
                        kind=spec.kind,
                        description=spec.description,
                        value=default,
                        source="unset" if default is None else "default",
                    )
                )
        return PolicyPublic(region_code=code, year=year, parameters=out)

    def _validate(self, name: str, value: int | Decimal) -> Decimal:
        spec = PARAMETERS.get(name)
        if spec is None:
            raise UnprocessableEntity(
                f"unknown policy parameter {name!r}", field="name", known=sorted(PARAMETERS)
            )
        number = Decimal(value)
        if not number.is_finite():
            raise UnprocessableEntity("value must be a finite number", field="value")
        if spec.kind is ParameterKind.percent:
            if number != number.quantize(Decimal("0.01")):
                raise UnprocessableEntity("a percentage has at most two decimal places", field="value")
        elif number != number.to_integral_value():
            raise UnprocessableEntity(f"{spec.kind} values are whole numbers", field="value")
        if not spec.minimum <= number <= spec.maximum:
            raise UnprocessableEntity(
                f"value must be between {spec.minimum} and {spec.maximum}", field="value"
            )
        return number

    async def set(self, code: str, year: int, name: str, payload: PolicyParameterSet) -> PolicyPublic:
        if self.principal.role is not Role.county_admin:
            raise Forbidden("only county administrators set policy parameters")
        value = self._validate(name, payload.value)
        await _region_in_scope(self.regions, code, lock=True)  # serialises versions of this region
        await self.repo.append(code=code, year=year, name=name, value=value, reason=payload.reason)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise Conflict("the parameter changed concurrently; retry") from exc
        return await self.effective(code, year)


# -- quotas (规模控制) --------------------------------------------------------------------------------------------
#: Which role sets quotas of which level (DOMAIN.md §2.10: county → townships → villages).
_QUOTA_SETTERS: dict[Role, frozenset[RegionLevel]] = {
    Role.county_admin: frozenset({RegionLevel.county, RegionLevel.township}),
    Role.township_officer: frozenset({RegionLevel.village}),
}
_QUOTA_LEVELS = frozenset({RegionLevel.county, RegionLevel.township, RegionLevel.village})


class QuotaService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.regions = RegionRepository(session, principal)
        self.repo = QuotaRepository(session, principal)

    async def show(self, code: str, year: int) -> QuotaPublic:
        region = await _region_in_scope(self.regions, code)
        own = await self.repo.get(code, year)
        children = await self.regions.children(code)
        quotas = await self.repo.for_children(code, year)
        allocated = sum(quotas.values())
        people = own.people if own else None
        from services.registry.identification.service import quota_used_by_village

        by_village = await quota_used_by_village(self.session, scope_prefix(region.code), year)

        def used_under(code: str) -> int:
            prefix = scope_prefix(code)
            return sum(people for village, people in by_village.items() if village.startswith(prefix))

        used = {c.code: used_under(c.code) for c in children}
        return QuotaPublic(
            region_code=region.code,
            year=year,
            people=people,
            version=own.version if own else None,
            allocated=allocated,
            remaining=None if people is None else people - allocated,
            used=used_under(region.code),
            warnings=["equal_distribution"] if len(quotas) >= 2 and len(set(quotas.values())) == 1 else [],
            children=[
                QuotaChild(region_code=c.code, name=c.name, people=quotas.get(c.code), used=used[c.code])
                for c in children
            ],
        )

    async def set(self, code: str, year: int, payload: QuotaSet) -> QuotaPublic:
        region = await _region_in_scope(self.regions, code)
        if region.level not in _QUOTA_SETTERS.get(self.principal.role, frozenset()):
            raise Forbidden(f"role '{self.principal.role}' may not set the quota of a {region.level}")
        parent = region.parent_code if region.level != RegionLevel.county else None
        if parent is not None and level_of(parent) in _QUOTA_LEVELS:
            # Lock the parent's quota row: every writer of a sibling queues here, so the sum check below
            # sees their committed quotas and concurrent writes cannot together exceed the parent.
            parent_quota = await self.repo.get(parent, year, lock=True)
            if parent_quota is None:
                raise Conflict(
                    f"region {parent} has no quota for {year}; set it first (quotas are decomposed top-down)",
                    parent=parent,
                    parent_quota=None,
                )
            siblings = await self.repo.children_sum(parent, year, excluding=code)
            if siblings + payload.people > parent_quota.people:
                raise Conflict(
                    f"quotas below {parent} would total {siblings + payload.people}, "
                    f"more than its quota of {parent_quota.people}",
                    parent=parent,
                    parent_quota=parent_quota.people,
                    would_be_sum=siblings + payload.people,
                )
        # Lock this region's own row: writers of its children lock it as their parent.
        await self.repo.get(code, year, lock=True)
        allocated = await self.repo.children_sum(code, year)
        if payload.people < allocated:
            raise Conflict(
                f"the quotas below {code} already total {allocated}, more than {payload.people}",
                parent=code,
                parent_quota=payload.people,
                would_be_sum=allocated,
            )
        await self.repo.upsert(code, year, payload.people)
        await self.session.commit()
        return await self.show(code, year)

"""Every SQL statement of the funds feature, scoped in one place.

Scope: allocations and county overrides by their `county_code`; funding lines, ledger entries and transfers
through their project's `village_code` (`_project_scope`). The few unscoped reads are named so (`*_unscoped`):
an allocation a line names is checked against the project's county by the rules, never returned to a caller
outside it.

The money counters move only by single UPDATE statements (`drawn_fen = drawn_fen + :x`, `received_fen = ...`)
inside a savepoint: under concurrency the database CHECKs (`ck_planning_allocation_drawn`,
`ck_planning_funding_line_counters`) decide, and a refused UPDATE comes back as `None` for the service to explain
with the domain rule on fresh figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from services.planning.funds import domain
from services.planning.models import (
    Acceptance,
    Allocation,
    EarmarkRule,
    FundingLine,
    LedgerEntry,
    LineTransfer,
    Project,
)
from shared.context import Context
from shared.db import scope_filter
from shared.errors import Refused

__all__ = ["FundsRepository", "StoredAllocation", "StoredEntry"]

_ALLOCATION_CHECK = "ck_planning_allocation_drawn"
_LINE_CHECK = "ck_planning_funding_line_counters"


@dataclass(frozen=True, slots=True)
class StoredAllocation:
    """An allocation with the commitments of not-yet-approved lines that name it."""

    row: Allocation
    pending_fen: int

    @property
    def facts(self) -> domain.AllocationFacts:
        return allocation_facts(self.row)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A ledger entry and the entry that reversed it (if any)."""

    row: LedgerEntry
    reversed_by: int | None


def allocation_facts(row: Allocation) -> domain.AllocationFacts:
    return domain.AllocationFacts(
        id=row.id,
        county_code=row.county_code,
        year=row.year,
        source=row.source,
        document_number=row.document_number,
        amount_fen=row.amount_fen,
        drawn_fen=row.drawn_fen,
    )


def line_facts(row: FundingLine) -> domain.LineFacts:
    return domain.LineFacts(
        id=row.id,
        project_id=row.project_id,
        source=row.source,
        allocation_id=row.allocation_id,
        committed_fen=row.committed_fen,
        received_fen=row.received_fen,
        disbursed_fen=row.disbursed_fen,
        drawn=row.drawn,
    )


def project_facts(row: Project) -> domain.ProjectFacts:
    return domain.ProjectFacts(
        id=row.id,
        village_code=row.village_code,
        category=row.category,
        budget_fen=row.budget_fen,
        status=row.status,
        starts_on=row.starts_on,
    )


def _refused_by(exc: IntegrityError, constraint: str) -> bool:
    return constraint in str(exc.orig)


class FundsRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    def _project_scope(self) -> Any:
        return scope_filter(self.principal, col(Project.village_code))

    def _allocation_scope(self) -> Any:
        """A county's allocations are read in the county: the caller's scope, or the county the caller's region
        lies in (its townships' and villages' officers; domain.reads_county). Writes never read through this."""
        county = col(Allocation.county_code)
        return sa.or_(scope_filter(self.principal, county), county == domain.county_of(self.principal.region))

    # -- projects (read for the money rules; the projects feature owns them) ------------------------------------
    async def project(self, project_id: uuid.UUID, *, lock: bool = False) -> domain.ProjectFacts | None:
        """The project in scope; locked (`FOR UPDATE`) to serialise a change of its split with its approval."""
        query = select(Project).where(col(Project.id) == project_id, self._project_scope())
        if lock:
            query = query.with_for_update()
        row = (await self.session.exec(query.execution_options(populate_existing=True))).first()
        return project_facts(row) if row is not None else None

    async def acceptance_passed(self, project_id: uuid.UUID) -> bool | None:
        """Whether the project's completion acceptance passed; None when none is recorded."""
        query = select(col(Acceptance.passed)).where(col(Acceptance.project_id) == project_id)
        return (await self.session.exec(query)).first()

    # -- allocations --------------------------------------------------------------------------------------------
    def _pending(self) -> Any:
        """Σ commitments of lines naming an allocation whose project has not drawn them yet."""
        return (
            sa.select(sa.func.coalesce(sa.func.sum(col(FundingLine.committed_fen)), 0))
            .where(col(FundingLine.allocation_id) == col(Allocation.id), col(FundingLine.drawn).is_(False))
            .correlate(Allocation)
            .scalar_subquery()
        )

    async def add_allocation(self, row: Allocation) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError as exc:
            if "uq_planning_allocation_document" in str(exc.orig):
                raise Refused(
                    "document_number_taken",
                    f"the county already has an allocation with document number {row.document_number}",
                    document_number=row.document_number,
                ) from exc
            raise

    async def allocation(self, allocation_id: uuid.UUID) -> StoredAllocation | None:
        """The allocation in scope, with its pending commitments."""
        query = select(Allocation, self._pending()).where(
            col(Allocation.id) == allocation_id, self._allocation_scope()
        )
        found = (await self.session.exec(query.execution_options(populate_existing=True))).first()
        return StoredAllocation(found[0], int(found[1])) if found is not None else None

    async def allocation_unscoped(self, allocation_id: uuid.UUID) -> domain.AllocationFacts | None:
        """An allocation a line names, whatever the caller's scope (the rules compare its county with the
        project's; its row is never returned)."""
        query = select(Allocation).where(col(Allocation.id) == allocation_id)
        row = (await self.session.exec(query.execution_options(populate_existing=True))).first()
        return allocation_facts(row) if row is not None else None

    async def allocations(
        self,
        county_code: str,
        *,
        year: int | None,
        source: str | None,
        after: tuple[int, uuid.UUID] | None,
        limit: int,
    ) -> list[StoredAllocation]:
        """A county's allocations by (year, id), after the keyset `after`."""
        query = select(Allocation, self._pending()).where(
            col(Allocation.county_code) == county_code, self._allocation_scope()
        )
        if year is not None:
            query = query.where(col(Allocation.year) == year)
        if source is not None:
            query = query.where(col(Allocation.source) == source)
        if after is not None:
            query = query.where(sa.tuple_(col(Allocation.year), col(Allocation.id)) > sa.tuple_(*after))
        query = query.order_by(col(Allocation.year), col(Allocation.id)).limit(limit)
        return [StoredAllocation(r[0], int(r[1])) for r in (await self.session.exec(query)).all()]

    async def draw(self, allocation_id: uuid.UUID, amount_fen: int) -> domain.AllocationFacts | None:
        """Add `amount_fen` to the allocation's drawn total (negative to release); None when the CHECK
        `drawn_fen <= amount_fen` (or `>= 0`) refused it."""
        statement = (
            sa.update(Allocation)
            .where(col(Allocation.id) == allocation_id)
            .values(drawn_fen=col(Allocation.drawn_fen) + amount_fen)
            .returning(Allocation)
        )
        try:
            async with self.session.begin_nested():
                row = (
                    await self.session.exec(statement.execution_options(populate_existing=True))
                ).scalar_one()
        except IntegrityError as exc:
            if _refused_by(exc, _ALLOCATION_CHECK):
                return None
            raise
        return allocation_facts(row)

    # -- funding lines --------------------------------------------------------------------------------------------
    async def lines(self, project_id: uuid.UUID, *, lock: bool = False) -> list[FundingLine]:
        """The project's lines (the project was read in scope), by creation; locked in allocation order."""
        query = select(FundingLine).where(col(FundingLine.project_id) == project_id)
        if lock:
            query = query.order_by(col(FundingLine.allocation_id), col(FundingLine.id)).with_for_update()
        else:
            query = query.order_by(col(FundingLine.created_at), col(FundingLine.id))
        return list((await self.session.exec(query.execution_options(populate_existing=True))).all())

    async def lines_page(
        self, project_id: uuid.UUID, *, after: tuple[Any, uuid.UUID] | None, limit: int
    ) -> list[FundingLine]:
        query = select(FundingLine).where(col(FundingLine.project_id) == project_id)
        if after is not None:
            query = query.where(
                sa.tuple_(col(FundingLine.created_at), col(FundingLine.id)) > sa.tuple_(*after)
            )
        query = query.order_by(col(FundingLine.created_at), col(FundingLine.id)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def line(
        self, line_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[FundingLine, domain.ProjectFacts] | None:
        """The line and its project, in scope through the project."""
        query = (
            select(FundingLine, Project)
            .join(Project, col(Project.id) == col(FundingLine.project_id))
            .where(col(FundingLine.id) == line_id, self._project_scope())
        )
        if lock:
            query = query.with_for_update(of=FundingLine)
        found = (await self.session.exec(query.execution_options(populate_existing=True))).first()
        if found is None:
            return None
        return found[0], project_facts(found[1])

    async def add_line(self, row: FundingLine) -> None:
        self.session.add(row)
        await self.session.flush()

    async def save_line(self, row: FundingLine, **values: Any) -> FundingLine:
        """Write the changed fields and bump the version."""
        statement = (
            sa.update(FundingLine)
            .where(col(FundingLine.id) == row.id)
            .values(**values, version=col(FundingLine.version) + 1)
            .returning(FundingLine)
        )
        result = await self.session.exec(statement.execution_options(populate_existing=True))
        saved: FundingLine = result.scalar_one()
        return saved

    async def delete_line(self, line_id: uuid.UUID) -> None:
        await self.session.exec(sa.delete(FundingLine).where(col(FundingLine.id) == line_id))

    async def mark_drawn(self, line_ids: Collection[uuid.UUID], drawn: bool) -> None:
        if not line_ids:
            return
        await self.session.exec(
            sa.update(FundingLine)
            .where(col(FundingLine.id).in_(list(line_ids)))
            .values(drawn=drawn, version=col(FundingLine.version) + 1)
        )

    async def move(
        self, line_id: uuid.UUID, *, committed: int = 0, received: int = 0, disbursed: int = 0
    ) -> FundingLine | None:
        """Add to the line's counters in one statement; None when the CHECK 0 <= disbursed <= received <=
        committed refused it (another entry came first)."""
        values: dict[str, Any] = {"version": col(FundingLine.version) + 1}
        if committed:
            values["committed_fen"] = col(FundingLine.committed_fen) + committed
        if received:
            values["received_fen"] = col(FundingLine.received_fen) + received
        if disbursed:
            values["disbursed_fen"] = col(FundingLine.disbursed_fen) + disbursed
        statement = (
            sa.update(FundingLine)
            .where(col(FundingLine.id) == line_id)
            .values(**values)
            .returning(FundingLine)
        )
        try:
            async with self.session.begin_nested():
                result = await self.session.exec(statement.execution_options(populate_existing=True))
                moved: FundingLine = result.scalar_one()
                return moved
        except IntegrityError as exc:
            if _refused_by(exc, _LINE_CHECK):
                return None
            raise

    async def line_unscoped(self, line_id: uuid.UUID) -> FundingLine | None:
        """A line re-read after a refused UPDATE (its project was read in scope before)."""
        query = select(FundingLine).where(col(FundingLine.id) == line_id)
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    # -- earmarking -----------------------------------------------------------------------------------------------
    async def earmark_cells(self, county_code: str) -> list[EarmarkRule]:
        """The shipped default cells and the county's overrides (`county_code` '' is the default)."""
        query = (
            select(EarmarkRule)
            .where(col(EarmarkRule.county_code).in_(["", county_code]))
            .order_by(col(EarmarkRule.source), col(EarmarkRule.category), col(EarmarkRule.county_code))
        )
        return list((await self.session.exec(query)).all())

    async def earmarked(self, county_code: str, source: str, category: str) -> bool | None:
        """Whether `source` may pay `category` in the county: its override, else the default; None if unknown."""
        query = (
            select(col(EarmarkRule.allowed))
            .where(
                col(EarmarkRule.county_code).in_(["", county_code]),
                col(EarmarkRule.source) == source,
                col(EarmarkRule.category) == category,
            )
            .order_by(col(EarmarkRule.county_code).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).first()

    async def default_cell_exists(self, source: str, category: str) -> bool:
        query = select(col(EarmarkRule.allowed)).where(
            col(EarmarkRule.county_code) == "",
            col(EarmarkRule.source) == source,
            col(EarmarkRule.category) == category,
        )
        return (await self.session.exec(query)).first() is not None

    async def set_earmark(self, county_code: str, source: str, category: str, allowed: bool) -> EarmarkRule:
        insert = pg_insert(EarmarkRule).values(
            county_code=county_code,
            source=source,
            category=category,
            allowed=allowed,
            updated_at=self.ctx.now,
            updated_by=self.principal.sub,
        )
        statement = insert.on_conflict_do_update(
            index_elements=["county_code", "source", "category"],
            set_={
                "allowed": insert.excluded.allowed,
                "updated_at": insert.excluded.updated_at,
                "updated_by": insert.excluded.updated_by,
            },
        ).returning(EarmarkRule)
        result = await self.session.exec(statement.execution_options(populate_existing=True))
        rule: EarmarkRule = result.scalar_one()
        return rule

    # -- the ledger -----------------------------------------------------------------------------------------------
    async def add_entry(self, row: LedgerEntry) -> LedgerEntry:
        self.session.add(row)
        await self.session.flush()
        return row

    def _entries(self) -> Any:
        reversal = aliased(LedgerEntry)
        return (
            select(LedgerEntry, col(reversal.id))
            .join(Project, col(Project.id) == col(LedgerEntry.project_id))
            .outerjoin(reversal, col(reversal.reverses) == col(LedgerEntry.id))
            .where(self._project_scope())
        )

    async def entry(self, entry_id: int) -> StoredEntry | None:
        """A ledger entry in scope (through its project) and the entry that reversed it."""
        found = (await self.session.exec(self._entries().where(col(LedgerEntry.id) == entry_id))).first()
        return StoredEntry(found[0], found[1]) if found is not None else None

    async def reversal_of(self, entry_id: int) -> int | None:
        query = select(col(LedgerEntry.id)).where(col(LedgerEntry.reverses) == entry_id)
        return (await self.session.exec(query)).first()

    async def entries(
        self,
        *,
        line_id: uuid.UUID | None = None,
        project_id: uuid.UUID | None = None,
        after: int | None,
        limit: int,
    ) -> list[StoredEntry]:
        """Ledger entries of a line or a project in the order recorded (keyset on the id)."""
        query = self._entries()
        if line_id is not None:
            query = query.where(col(LedgerEntry.line_id) == line_id)
        if project_id is not None:
            query = query.where(col(LedgerEntry.project_id) == project_id)
        if after is not None:
            query = query.where(col(LedgerEntry.id) > after)
        query = query.order_by(col(LedgerEntry.id)).limit(limit)
        return [StoredEntry(r[0], r[1]) for r in (await self.session.exec(query)).all()]

    # -- line transfers ---------------------------------------------------------------------------------------------
    async def add_transfer(self, row: LineTransfer) -> None:
        self.session.add(row)
        await self.session.flush()

    async def transfer(self, project_id: uuid.UUID, transfer_id: uuid.UUID) -> LineTransfer | None:
        query = select(LineTransfer).where(
            col(LineTransfer.id) == transfer_id, col(LineTransfer.project_id) == project_id
        )
        return (await self.session.exec(query)).first()

    async def transfers(
        self, project_id: uuid.UUID, *, after: tuple[Any, uuid.UUID] | None, limit: int
    ) -> list[LineTransfer]:
        query = select(LineTransfer).where(col(LineTransfer.project_id) == project_id)
        if after is not None:
            query = query.where(
                sa.tuple_(col(LineTransfer.approved_at), col(LineTransfer.id)) > sa.tuple_(*after)
            )
        query = query.order_by(col(LineTransfer.approved_at), col(LineTransfer.id)).limit(limit)
        return list((await self.session.exec(query)).all())

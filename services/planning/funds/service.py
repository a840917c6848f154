"""Funds use cases: allocations, funding lines, the earmark matrix, the ledger, line transfers, and the draw of a
project's commitments on its county approval (called by the projects feature).

Each use case checks the role (403), loads what the rules need in the caller's scope (404 outside it), asks
`funds.domain`, writes through the repository and files the audit entry, all in the request's transaction (the
route commits). Money counters are moved by single UPDATEs whose CHECKs decide under concurrency; when one
refuses, the domain rule is asked again on fresh figures so the problem explains what happened.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.planning.funds import domain
from services.planning.funds.repository import (
    FundsRepository,
    StoredAllocation,
    StoredEntry,
    line_facts,
)
from services.planning.funds.schemas import (
    AllocationCreate,
    AllocationPage,
    AllocationPublic,
    DisbursementCreate,
    DrawnLine,
    EarmarkCellPublic,
    EarmarkMatrix,
    EarmarkSet,
    FundingLineCreate,
    FundingLinePage,
    FundingLinePublic,
    FundingLineUpdate,
    FundingSummary,
    LedgerEntryPublic,
    LedgerPage,
    LineTransferCreate,
    LineTransferPage,
    LineTransferPublic,
    ProjectCategory,
    ReceiptCreate,
    ReversalCreate,
)
from services.planning.models import Allocation, FundingLine, LedgerEntry, LineTransfer, audit_event
from shared.audit import AuditLog
from shared.context import Context
from shared.errors import Invalid, Refused
from shared.etag import stale
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound

__all__ = [
    "AllocationService",
    "EarmarkService",
    "FundsService",
    "LedgerService",
    "LineService",
    "TransferService",
    "allocation_public",
    "entry_public",
    "line_public",
]

_ALLOCATIONS = "allocations"
_LINES = "funding_lines"
_LEDGER = "ledger"
_TRANSFERS = "line_transfers"


# -- answers ---------------------------------------------------------------------------------------------------
def allocation_public(stored: StoredAllocation) -> AllocationPublic:
    row = stored.row
    return AllocationPublic(
        id=row.id,
        county_code=row.county_code,
        year=row.year,
        source=domain.FundingSource(row.source),
        document_number=row.document_number,
        amount_yuan=domain.yuan(row.amount_fen),
        drawn_yuan=domain.yuan(row.drawn_fen),
        remaining_yuan=domain.yuan(row.amount_fen - row.drawn_fen),
        pending_yuan=domain.yuan(stored.pending_fen),
        note=row.note,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def line_public(row: FundingLine) -> FundingLinePublic:
    return FundingLinePublic(
        id=row.id,
        project_id=row.project_id,
        source=domain.FundingSource(row.source),
        funder=row.funder,
        allocation_id=row.allocation_id,
        committed_yuan=domain.yuan(row.committed_fen),
        received_yuan=domain.yuan(row.received_fen),
        disbursed_yuan=domain.yuan(row.disbursed_fen),
        drawn=row.drawn,
        version=row.version,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def entry_public(row: LedgerEntry, reversed_by: int | None) -> LedgerEntryPublic:
    assert row.id is not None  # a stored entry has its identity
    return LedgerEntryPublic(
        id=row.id,
        line_id=row.line_id,
        project_id=row.project_id,
        kind=domain.LedgerKind(row.kind),
        amount_yuan=domain.yuan(row.amount_fen),
        stage=domain.DisbursementStage(row.stage) if row.stage else None,
        payee=row.payee,
        voucher=row.voucher,
        approved_by=row.approved_by,
        reverses=row.reverses,
        reversed_by=reversed_by,
        entry_date=row.entry_date,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


def transfer_public(row: LineTransfer) -> LineTransferPublic:
    return LineTransferPublic(
        id=row.id,
        project_id=row.project_id,
        from_line_id=row.from_line_id,
        to_line_id=row.to_line_id,
        amount_yuan=domain.yuan(row.amount_fen),
        approval_document=row.approval_document,
        reason=row.reason,
        approved_at=row.approved_at,
        approved_by=row.approved_by,
    )


def summary_of(project: domain.ProjectFacts, lines: Sequence[FundingLine]) -> FundingSummary:
    totals = domain.funding_totals(project.budget_fen, [line_facts(row) for row in lines])
    return FundingSummary(
        project_id=project.id,
        status=project.status,
        budget_yuan=domain.yuan(totals.budget_fen),
        committed_yuan=domain.yuan(totals.committed_fen),
        received_yuan=domain.yuan(totals.received_fen),
        disbursed_yuan=domain.yuan(totals.disbursed_fen),
        funding_gap_yuan=domain.yuan(totals.funding_gap_fen),
        over_commitment_yuan=domain.yuan(totals.over_commitment_fen),
        disbursement_rate=totals.disbursement_rate,
        lines=totals.lines,
        flags=totals.flags,
    )


def _cursor_values(cursor: str | None, kind: str, types: Sequence[type]) -> tuple[object, ...] | None:
    if cursor is None:
        return None
    values = decode_cursor(cursor, kind, types)
    if any(v is None for v in values):
        raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
    return values


class _Feature:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = FundsRepository(ctx)
        self.audit = AuditLog(audit_event)

    def _read(self) -> None:
        domain.require_role(self.principal.role, domain.MONEY_READERS, "read the books")

    def _county(self, code: str) -> None:
        """A county code in the caller's scope (404 outside it, exactly like a county that does not exist)."""
        domain.check_county(code)
        if not self.principal.covers(code):
            raise NotFound(f"county {code} not found")

    def _readable_county(self, code: str) -> None:
        """A county whose reference data and allocations the caller reads: its own officers (the county, its
        townships and villages) and above; 404 elsewhere, exactly like a county that does not exist."""
        domain.check_county(code)
        if not (self.principal.covers(code) or domain.reads_county(self.principal.region, code)):
            raise NotFound(f"county {code} not found")

    async def _project(self, project_id: uuid.UUID, *, lock: bool = False) -> domain.ProjectFacts:
        project = await self.repo.project(project_id, lock=lock)
        if project is None:
            raise NotFound(f"project {project_id} not found")
        return project

    async def _line(
        self, line_id: uuid.UUID, *, lock: bool = False
    ) -> tuple[FundingLine, domain.ProjectFacts]:
        found = await self.repo.line(line_id, lock=lock)
        if found is None:
            raise NotFound(f"funding line {line_id} not found")
        return found

    async def _record(
        self,
        action: str,
        record_type: str,
        record_id: uuid.UUID | str | int,
        *,
        region_code: str,
        project_id: uuid.UUID | None = None,
        reason: str | None = None,
        **detail: object,
    ) -> None:
        await self.audit.record(
            self.ctx,
            action,
            record_type=record_type,
            record_id=str(record_id),
            region_code=region_code,
            reason=reason,
            detail=detail,
            project_id=project_id,
        )


# -- the approval hook ------------------------------------------------------------------------------------------
class FundsService(_Feature):
    """What other features of planning call: the draw on approval, its release, a project's totals."""

    async def draw_for_approval(self, project_id: uuid.UUID) -> list[DrawnLine]:
        """Draw each allocation-backed line's commitment from its allocation, atomically, and mark the lines
        drawn. The projects feature calls this inside its county approval (the project row already locked);
        `Refused("allocation_exceeded")` when an allocation would be overspent — the approval then writes
        nothing. Lines are locked, and allocations updated, in allocation order (no deadlock between two
        approvals drawing on the same allocations)."""
        project = await self._project(project_id)
        drawn: list[DrawnLine] = []
        for line in await self.repo.lines(project_id, lock=True):
            if line.allocation_id is None or line.drawn:
                continue
            allocation = await self.repo.allocation_unscoped(line.allocation_id)
            if allocation is None:  # pragma: no cover - a foreign key holds it
                raise Refused("allocation_missing", f"allocation {line.allocation_id} does not exist")
            domain.check_allocation_link(project, line.source, allocation)
            after = await self.repo.draw(line.allocation_id, line.committed_fen)
            if after is None:
                fresh = await self.repo.allocation_unscoped(line.allocation_id)
                raise domain.AllocationExceeded(fresh or allocation, line.committed_fen, line.id)
            drawn.append(
                DrawnLine(
                    line_id=line.id,
                    allocation_id=after.id,
                    committed_yuan=domain.yuan(line.committed_fen),
                    drawn_yuan=domain.yuan(after.drawn_fen),
                    remaining_yuan=domain.yuan(after.remaining_fen),
                )
            )
        await self.repo.mark_drawn([d.line_id for d in drawn], True)
        if drawn:
            await self._record(
                "funds.draw",
                "project",
                project_id,
                region_code=project.village_code,
                project_id=project_id,
                lines=[str(d.line_id) for d in drawn],
            )
        return drawn

    async def release_for_return(self, project_id: uuid.UUID) -> list[uuid.UUID]:
        """Give a project's drawn commitments back to their allocations (a county that withdraws its approval
        before any money arrived). Refused (`money_on_line`) once a line received money: reverse the receipts
        first. In the approval chain of projects/domain.py a return happens before county approval, when nothing
        is drawn yet, so this is a no-op there; it exists for a withdrawal after approval."""
        project = await self._project(project_id)
        released: list[uuid.UUID] = []
        for line in await self.repo.lines(project_id, lock=True):
            if line.allocation_id is None or not line.drawn:
                continue
            domain.release(line_facts(line))
            if await self.repo.draw(line.allocation_id, -line.committed_fen) is None:  # pragma: no cover
                raise Refused(
                    "allocation_inconsistent", f"allocation {line.allocation_id} drew less than the line"
                )
            released.append(line.id)
        await self.repo.mark_drawn(released, False)
        if released:
            await self._record(
                "funds.release",
                "project",
                project_id,
                region_code=project.village_code,
                project_id=project_id,
                lines=[str(i) for i in released],
            )
        return released

    async def summary(self, project_id: uuid.UUID) -> FundingSummary:
        """The project's budget, Σ of its lines, its funding gap (invariant 36) and disbursement rate."""
        self._read()
        project = await self._project(project_id)
        return summary_of(project, await self.repo.lines(project_id))


# -- allocations -------------------------------------------------------------------------------------------------
class AllocationService(_Feature):
    async def create(self, county_code: str, payload: AllocationCreate) -> AllocationPublic:
        """A county admin records a yearly allocation (文号 unique per county)."""
        domain.require_role(self.principal.role, domain.MONEY_KEEPERS, "record allocations")
        self._county(county_code)
        amount = domain.fen(payload.amount_yuan)
        domain.require_positive(amount, "amount_yuan")
        row = Allocation(
            id=uuid.uuid4(),
            county_code=county_code,
            year=payload.year,
            source=str(payload.source),
            document_number=payload.document_number,
            amount_fen=amount,
            drawn_fen=0,
            note=payload.note,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        await self.repo.add_allocation(row)
        await self._record(
            "allocation.create",
            "allocation",
            row.id,
            region_code=county_code,
            document_number=row.document_number,
            amount_fen=amount,
            source=row.source,
            year=row.year,
        )
        return allocation_public(StoredAllocation(row, 0))

    async def page(
        self,
        county_code: str,
        *,
        year: int | None,
        source: domain.FundingSource | None,
        cursor: str | None,
        limit: int,
    ) -> AllocationPage:
        """The county's allocations, read in the whole county (its townships and villages too: 两公开)."""
        domain.require_role(self.principal.role, domain.ALLOCATION_READERS, "read the county's allocations")
        self._readable_county(county_code)
        after = _cursor_values(cursor, _ALLOCATIONS, (int, uuid.UUID))
        rows = await self.repo.allocations(
            county_code,
            year=year,
            source=str(source) if source else None,
            after=(int(str(after[0])), uuid.UUID(str(after[1]))) if after else None,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1].row if rows else None
        return AllocationPage(
            items=[allocation_public(r) for r in rows],
            next_cursor=encode_cursor(_ALLOCATIONS, last.year, last.id) if more and last else None,
        )

    async def get(self, allocation_id: uuid.UUID) -> AllocationPublic:
        """One allocation, read in the whole county like the list."""
        domain.require_role(self.principal.role, domain.ALLOCATION_READERS, "read the county's allocations")
        stored = await self.repo.allocation(allocation_id)
        if stored is None:
            raise NotFound(f"allocation {allocation_id} not found")
        return allocation_public(stored)


# -- funding lines -------------------------------------------------------------------------------------------------
class LineService(_Feature):
    def _edit(self) -> None:
        domain.require_role(self.principal.role, domain.LINE_EDITORS, "edit funding lines")

    async def _allocation(
        self, project: domain.ProjectFacts, source: str, allocation_id: uuid.UUID
    ) -> domain.AllocationFacts:
        allocation = await self.repo.allocation_unscoped(allocation_id)
        if allocation is None or allocation.county_code != project.county_code:
            # Another county's allocation answers exactly like a missing one: its 文号 and county are not the
            # caller's to learn (out of scope looks like missing).
            raise Invalid(
                "unknown_allocation", f"allocation {allocation_id} does not exist", field="/allocation_id"
            )
        domain.check_allocation_link(project, source, allocation)
        return allocation

    async def create(self, project_id: uuid.UUID, payload: FundingLineCreate) -> FundingLinePublic:
        """Add a line to a project that is not approved; Σ commitments stay within the budget."""
        self._edit()
        project = await self._project(project_id, lock=True)
        domain.check_lines_editable(project)
        committed = domain.fen(payload.committed_yuan)
        domain.require_positive(committed, "committed_yuan")
        lines = await self.repo.lines(project_id)
        domain.check_commitments(
            project, sum(row.committed_fen for row in lines), committed, line_count=len(lines) + 1
        )
        if payload.allocation_id is not None:
            await self._allocation(project, str(payload.source), payload.allocation_id)
        row = FundingLine(
            id=uuid.uuid4(),
            project_id=project_id,
            source=str(payload.source),
            funder=payload.funder,
            allocation_id=payload.allocation_id,
            committed_fen=committed,
            received_fen=0,
            disbursed_fen=0,
            drawn=False,
            version=1,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        await self.repo.add_line(row)
        await self._record(
            "funding_line.create",
            "funding_line",
            row.id,
            region_code=project.village_code,
            project_id=project_id,
            source=row.source,
            committed_fen=committed,
        )
        return line_public(row)

    async def _editable_line(
        self, project_id: uuid.UUID, line_id: uuid.UUID, version: int
    ) -> tuple[domain.ProjectFacts, FundingLine, list[FundingLine]]:
        self._edit()
        project = await self._project(project_id, lock=True)
        lines = await self.repo.lines(project_id)
        line = next((row for row in lines if row.id == line_id), None)
        if line is None:
            raise NotFound(f"funding line {line_id} not found")
        if line.version != version:
            raise stale(line.version, what="funding line")
        domain.check_lines_editable(project)
        return project, line, lines

    async def update(
        self, project_id: uuid.UUID, line_id: uuid.UUID, version: int, payload: FundingLineUpdate
    ) -> FundingLinePublic:
        """Change a line of a project that is not approved (If-Match: the line's version)."""
        project, line, lines = await self._editable_line(project_id, line_id, version)
        sent = payload.model_fields_set
        values: dict[str, object] = {}
        source = str(payload.source) if "source" in sent and payload.source is not None else line.source
        if source != line.source:
            values["source"] = source
        if "funder" in sent and payload.funder is not None:
            values["funder"] = payload.funder
        committed = line.committed_fen
        if "committed_yuan" in sent and payload.committed_yuan is not None:
            committed = domain.fen(payload.committed_yuan)
            domain.require_positive(committed, "committed_yuan")
            values["committed_fen"] = committed
        others = sum(row.committed_fen for row in lines if row.id != line_id)
        domain.check_commitments(project, others, committed)
        allocation_id = payload.allocation_id if "allocation_id" in sent else line.allocation_id
        if "allocation_id" in sent:
            values["allocation_id"] = allocation_id
        if allocation_id is not None:
            await self._allocation(project, source, allocation_id)
        saved = await self.repo.save_line(line, **values)
        await self._record(
            "funding_line.update",
            "funding_line",
            line_id,
            region_code=project.village_code,
            project_id=project_id,
            fields=sorted(values),
        )
        return line_public(saved)

    async def delete(self, project_id: uuid.UUID, line_id: uuid.UUID, version: int) -> None:
        """Remove a line of a project that is not approved (no money ever moves before approval)."""
        project, line, _ = await self._editable_line(project_id, line_id, version)
        await self.repo.delete_line(line_id)
        await self._record(
            "funding_line.delete",
            "funding_line",
            line_id,
            region_code=project.village_code,
            project_id=project_id,
            source=line.source,
            committed_fen=line.committed_fen,
        )

    async def get(self, line_id: uuid.UUID) -> FundingLinePublic:
        self._read()
        row, _ = await self._line(line_id)
        return line_public(row)

    async def page(self, project_id: uuid.UUID, cursor: str | None, limit: int) -> FundingLinePage:
        self._read()
        await self._project(project_id)
        after = _cursor_values(cursor, _LINES, (datetime, uuid.UUID))
        rows = await self.repo.lines_page(
            project_id, after=(after[0], uuid.UUID(str(after[1]))) if after else None, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return FundingLinePage(
            items=[line_public(r) for r in rows],
            next_cursor=encode_cursor(_LINES, rows[-1].created_at, rows[-1].id) if more and rows else None,
        )


# -- the earmark matrix -------------------------------------------------------------------------------------------
class EarmarkService(_Feature):
    async def matrix(self, county_code: str) -> EarmarkMatrix:
        """The shipped default matrix with the county's overrides (专款专用)."""
        self._read()
        self._readable_county(county_code)
        rows = await self.repo.earmark_cells(county_code)
        defaults = {(r.source, r.category): r for r in rows if r.county_code == ""}
        overrides = {(r.source, r.category): r for r in rows if r.county_code == county_code}
        cells = domain.effective_matrix(
            {k: v.allowed for k, v in defaults.items()}, {k: v.allowed for k, v in overrides.items()}
        )
        out = []
        for cell in cells:
            override = overrides.get((cell.source, cell.category))
            out.append(
                EarmarkCellPublic(
                    source=domain.FundingSource(cell.source),
                    category=ProjectCategory(cell.category),
                    allowed=cell.allowed,
                    origin=cell.origin,
                    updated_at=override.updated_at if override else None,
                    updated_by=override.updated_by if override else None,
                )
            )
        return EarmarkMatrix(county_code=county_code, cells=out)

    async def set(
        self, county_code: str, source: domain.FundingSource, category: ProjectCategory, payload: EarmarkSet
    ) -> EarmarkCellPublic:
        """A county admin sets one cell for the county, with a reason (audited)."""
        domain.require_role(self.principal.role, domain.MONEY_KEEPERS, "set the earmark matrix")
        self._county(county_code)
        if not await self.repo.default_cell_exists(str(source), str(category)):
            raise Invalid("unknown_category", f"{category} is not in the earmark matrix", field="category")
        row = await self.repo.set_earmark(county_code, str(source), str(category), payload.allowed)
        await self._record(
            "earmark.set",
            "earmark_rule",
            f"{county_code}/{source}/{category}",
            region_code=county_code,
            reason=payload.reason,
            allowed=payload.allowed,
        )
        return EarmarkCellPublic(
            source=source,
            category=category,
            allowed=row.allowed,
            origin=domain.EarmarkOrigin.county,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )


# -- the ledger ---------------------------------------------------------------------------------------------------
class LedgerService(_Feature):
    def _keep(self) -> None:
        domain.require_role(self.principal.role, domain.MONEY_KEEPERS, "record money")

    async def _fresh(self, line_id: uuid.UUID) -> domain.LineFacts:
        row = await self.repo.line_unscoped(line_id)
        assert row is not None  # it was read in scope in this transaction
        return line_facts(row)

    async def receive(self, line_id: uuid.UUID, payload: ReceiptCreate) -> LedgerEntryPublic:
        """Money arriving on a line: received <= committed, checked by the rule and held by the CHECK."""
        self._keep()
        line, project = await self._line(line_id)
        amount = domain.fen(payload.amount_yuan)
        today = self.ctx.today
        domain.receipt(project, line_facts(line), amount, payload.entry_date, today)
        if await self.repo.move(line_id, received=amount) is None:
            domain.receipt(project, await self._fresh(line_id), amount, payload.entry_date, today)
            raise Refused("line_changed", "the line changed concurrently; read it again")  # pragma: no cover
        row = await self.repo.add_entry(
            LedgerEntry(
                line_id=line_id,
                project_id=project.id,
                kind=str(domain.LedgerKind.receipt),
                amount_fen=amount,
                payee=payload.payee,
                voucher=payload.voucher,
                approved_by=payload.approved_by,
                entry_date=payload.entry_date,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self._record(
            "ledger.receipt",
            "ledger_entry",
            str(row.id),
            region_code=project.village_code,
            project_id=project.id,
            line_id=str(line_id),
            amount_fen=amount,
        )
        return entry_public(row, None)

    async def disburse(self, line_id: uuid.UUID, payload: DisbursementCreate) -> LedgerEntryPublic:
        """A payment out of a line: earmarked for the category, disbursed <= received (rule and CHECK), the
        completion payment after a passed acceptance."""
        self._keep()
        line, project = await self._line(line_id)
        amount = domain.fen(payload.amount_yuan)
        today = self.ctx.today
        earmarked = await self.repo.earmarked(project.county_code, line.source, project.category)
        accepted = (
            await self.repo.acceptance_passed(project.id)
            if payload.stage in domain.STAGES_NEEDING_ACCEPTANCE
            else None
        )

        def check(facts: domain.LineFacts) -> None:
            domain.disbursement(
                project,
                facts,
                amount,
                payload.stage,
                payload.entry_date,
                today,
                earmarked=earmarked,
                acceptance_passed=accepted,
            )

        check(line_facts(line))
        if await self.repo.move(line_id, disbursed=amount) is None:
            check(await self._fresh(line_id))
            raise Refused("line_changed", "the line changed concurrently; read it again")  # pragma: no cover
        row = await self.repo.add_entry(
            LedgerEntry(
                line_id=line_id,
                project_id=project.id,
                kind=str(domain.LedgerKind.disbursement),
                amount_fen=amount,
                stage=str(payload.stage),
                payee=payload.payee,
                voucher=payload.voucher,
                approved_by=payload.approved_by,
                entry_date=payload.entry_date,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self._record(
            "ledger.disbursement",
            "ledger_entry",
            str(row.id),
            region_code=project.village_code,
            project_id=project.id,
            line_id=str(line_id),
            amount_fen=amount,
            stage=str(payload.stage),
        )
        return entry_public(row, None)

    async def reverse(self, entry_id: int, payload: ReversalCreate) -> LedgerEntryPublic:
        """A correction: the negative of one entry, referencing it, at most once (the line is locked first, so
        two reversals of one entry serialise and the second sees the first)."""
        self._keep()
        stored = await self._entry(entry_id)
        original = stored.row
        line, project = await self._line(original.line_id, lock=True)
        already = await self.repo.reversal_of(entry_id) is not None
        facts = domain.LedgerEntryFacts(
            id=entry_id,
            line_id=original.line_id,
            kind=domain.LedgerKind(original.kind),
            amount_fen=original.amount_fen,
            reverses=original.reverses,
            entry_date=original.entry_date,
        )
        amount = domain.reversal(
            facts, line_facts(line), payload.entry_date, self.ctx.today, already_reversed=already
        )
        receipt = facts.kind is domain.LedgerKind.receipt
        moved = await self.repo.move(
            line.id, received=amount if receipt else 0, disbursed=0 if receipt else amount
        )
        if moved is None:  # pragma: no cover - the line is locked and the rule checked it
            raise Refused("line_changed", "the line changed concurrently; read it again")
        row = await self.repo.add_entry(
            LedgerEntry(
                line_id=line.id,
                project_id=project.id,
                kind=original.kind,
                amount_fen=amount,
                stage=original.stage,
                payee=original.payee,
                voucher=payload.voucher,
                approved_by=payload.approved_by,
                reverses=entry_id,
                entry_date=payload.entry_date,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self._record(
            "ledger.reversal",
            "ledger_entry",
            str(row.id),
            region_code=project.village_code,
            project_id=project.id,
            reason=payload.reason,
            reverses=entry_id,
            amount_fen=amount,
        )
        return entry_public(row, None)

    async def _entry(self, entry_id: int) -> StoredEntry:
        stored = await self.repo.entry(entry_id)
        if stored is None:
            raise NotFound(f"ledger entry {entry_id} not found")
        return stored

    async def get(self, entry_id: int) -> LedgerEntryPublic:
        self._read()
        stored = await self._entry(entry_id)
        return entry_public(stored.row, stored.reversed_by)

    async def page(
        self,
        *,
        line_id: uuid.UUID | None = None,
        project_id: uuid.UUID | None = None,
        cursor: str | None,
        limit: int,
    ) -> LedgerPage:
        """A line's or a project's ledger, in the order recorded."""
        self._read()
        if line_id is not None:
            await self._line(line_id)
        if project_id is not None:
            await self._project(project_id)
        after = _cursor_values(cursor, _LEDGER, (int,))
        rows = await self.repo.entries(
            line_id=line_id,
            project_id=project_id,
            after=int(str(after[0])) if after else None,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1].row.id if rows else None
        return LedgerPage(
            items=[entry_public(r.row, r.reversed_by) for r in rows],
            next_cursor=encode_cursor(_LEDGER, last) if more and last is not None else None,
        )


# -- line transfers (渠道不乱) ---------------------------------------------------------------------------------------
class TransferService(_Feature):
    async def create(self, project_id: uuid.UUID, payload: LineTransferCreate) -> LineTransferPublic:
        """Move commitment between two lines of a project with the county's re-approval, in one transaction:
        both lines' commitments (Σ unchanged), and for drawn lines their allocations' drawn totals."""
        domain.require_role(self.principal.role, domain.MONEY_KEEPERS, "re-approve a line transfer")
        project = await self._project(project_id, lock=True)
        lines = {row.id: row for row in await self.repo.lines(project_id, lock=True)}
        source_line, target_line = lines.get(payload.from_line_id), lines.get(payload.to_line_id)
        for name, found in (("from_line_id", source_line), ("to_line_id", target_line)):
            if found is None:
                raise Invalid(
                    "line_of_other_project",
                    f"{name}: not a funding line of project {project_id}",
                    field=name,
                )
        assert source_line is not None and target_line is not None
        amount = domain.fen(payload.amount_yuan)
        earmarked = await self.repo.earmarked(project.county_code, target_line.source, project.category)
        domain.transfer(
            project, line_facts(source_line), line_facts(target_line), amount, target_earmarked=earmarked
        )
        # Allocations of drawn lines follow their commitments (in allocation order: no deadlock).
        draws = sorted(
            (
                (line.allocation_id, delta, line)
                for line, delta in ((source_line, -amount), (target_line, amount))
                if line.drawn and line.allocation_id is not None
            ),
            key=lambda d: (str(d[0]), d[1]),
        )
        for allocation_id, delta, line in draws:
            assert allocation_id is not None
            if await self.repo.draw(allocation_id, delta) is None:
                fresh = await self.repo.allocation_unscoped(allocation_id)
                assert fresh is not None
                raise domain.AllocationExceeded(fresh, delta, line.id)
        for line_id, delta in sorted(
            ((source_line.id, -amount), (target_line.id, amount)), key=lambda d: str(d[0])
        ):
            if await self.repo.move(line_id, committed=delta) is None:  # pragma: no cover - rule checked it
                raise Refused("line_changed", "the line changed concurrently; read it again")
        row = LineTransfer(
            id=uuid.uuid4(),
            project_id=project_id,
            from_line_id=source_line.id,
            to_line_id=target_line.id,
            amount_fen=amount,
            approval_document=payload.approval_document,
            reason=payload.reason,
            approved_at=self.ctx.now,
            approved_by=self.principal.sub,
        )
        await self.repo.add_transfer(row)
        await self._record(
            "line_transfer.create",
            "line_transfer",
            row.id,
            region_code=project.village_code,
            project_id=project_id,
            reason=payload.reason,
            from_line_id=str(source_line.id),
            to_line_id=str(target_line.id),
            amount_fen=amount,
            approval_document=payload.approval_document,
        )
        return transfer_public(row)

    async def get(self, project_id: uuid.UUID, transfer_id: uuid.UUID) -> LineTransferPublic:
        self._read()
        await self._project(project_id)
        row = await self.repo.transfer(project_id, transfer_id)
        if row is None:
            raise NotFound(f"line transfer {transfer_id} not found")
        return transfer_public(row)

    async def page(self, project_id: uuid.UUID, cursor: str | None, limit: int) -> LineTransferPage:
        self._read()
        await self._project(project_id)
        after = _cursor_values(cursor, _TRANSFERS, (datetime, uuid.UUID))
        rows = await self.repo.transfers(
            project_id, after=(after[0], uuid.UUID(str(after[1]))) if after else None, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return LineTransferPage(
            items=[transfer_public(r) for r in rows],
            next_cursor=encode_cursor(_TRANSFERS, rows[-1].approved_at, rows[-1].id)
            if more and rows
            else None,
        )

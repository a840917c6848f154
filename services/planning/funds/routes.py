"""Funds routes (资金): allocations, funding lines, the earmark matrix, the ledger, line transfers (thin: payload in,
one service call, a response model out)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Response

from services.planning.funds.schemas import (
    AllocationCreate,
    AllocationPage,
    AllocationPublic,
    DisbursementCreate,
    EarmarkCellPublic,
    EarmarkMatrix,
    EarmarkSet,
    FundingLineCreate,
    FundingLinePage,
    FundingLinePublic,
    FundingLineUpdate,
    FundingSource,
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
from services.planning.funds.service import (
    AllocationService,
    EarmarkService,
    FundsService,
    LedgerService,
    LineService,
    TransferService,
)
from shared.auth import require_writer
from shared.context import ContextDep, ReadContextDep
from shared.etag import IfMatchDep, etag
from shared.pagination import MAX_CURSOR_LENGTH
from shared.routing import APIRouter

router = APIRouter(tags=["funds"])

#: The tag of these routes, with its description (planning's main.py declares it).
TAGS = {
    "funds": (
        "Funds (资金): county allocations (资金下达), funding lines of projects, the earmark matrix (专款专用), "
        "the append-only ledger of receipts and disbursements, line transfers (渠道不乱)"
    )
}

Id = Annotated[uuid.UUID, Path()]
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CountyCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The county's 12-digit division code")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=1000)]

_READ: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid cursor"},
    403: {"description": "Cadres read money through the project and the public disclosure"},
    404: {"description": "Missing or outside your region"},
}
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Role may not do this (county admins record money)"},
    404: {"description": "Missing or outside your region"},
    409: {"description": "Refused by a rule (the problem's `code` says which)"},
    422: {"description": "Invalid input (a negative amount or a fraction of a fen); nothing changed"},
}
_VERSIONED: dict[int | str, dict[str, Any]] = _WRITE | {
    412: {"description": "Stale If-Match (`current_version`)"},
    428: {"description": "If-Match missing"},
}


# -- allocations ------------------------------------------------------------------------------------------------
@router.post(
    "/counties/{code}/allocations",
    status_code=201,
    response_model=AllocationPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record a county's yearly allocation from a funding source (county admin)",
)
async def create_allocation(
    code: CountyCode, payload: AllocationCreate, ctx: ContextDep, response: Response
) -> AllocationPublic:
    """Record a yearly allocation (资金下达) of the county from one funding source: its document number (文号,
    unique per county) and amount. Approved projects' lines draw on it; `Location` is the allocation."""
    allocation = await AllocationService(ctx).create(code, payload)
    response.headers["Location"] = f"/allocations/{allocation.id}"
    return allocation


@router.get(
    "/counties/{code}/allocations",
    response_model=AllocationPage,
    responses=_READ,
    summary="A county's allocations, by year (keyset pages)",
)
async def list_allocations(
    code: CountyCode,
    ctx: ReadContextDep,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    source: FundingSource | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> AllocationPage:
    """The county's allocations by year, optionally of one year or source: amount, drawn, remaining and what
    lines of projects not yet approved would draw. Read in the whole county, read-only: its county staff, its
    townships' and villages' officers (the money that reaches them is public, 两公开), and the province."""
    return await AllocationService(ctx).page(code, year=year, source=source, cursor=cursor, limit=limit)


@router.get(
    "/allocations/{allocation_id}",
    response_model=AllocationPublic,
    responses=_READ,
    summary="One allocation: amount, drawn, remaining",
)
async def get_allocation(allocation_id: Id, ctx: ReadContextDep) -> AllocationPublic:
    """One allocation of your county (county, township and village officers alike): its amount, what approved
    projects drew, what remains."""
    return await AllocationService(ctx).get(allocation_id)


# -- funding lines ----------------------------------------------------------------------------------------------
@router.post(
    "/projects/{project_id}/funding-lines",
    status_code=201,
    response_model=FundingLinePublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Add a funding line to a project that is not approved",
)
async def create_funding_line(
    project_id: Id, payload: FundingLineCreate, ctx: ContextDep, response: Response
) -> FundingLinePublic:
    """Add a line to the project's budget split (source, funder, committed amount, optionally the county
    allocation it draws on) while the project is not approved; Σ commitments never exceed the budget.
    `Location` is the line."""
    line = await LineService(ctx).create(project_id, payload)
    response.headers["Location"] = f"/funding-lines/{line.id}"
    response.headers["ETag"] = etag(line.version)
    return line


@router.get(
    "/projects/{project_id}/funding-lines",
    response_model=FundingLinePage,
    responses=_READ,
    summary="A project's funding lines (keyset pages)",
)
async def list_funding_lines(
    project_id: Id, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> FundingLinePage:
    """The project's funding lines with their counters (committed, received, disbursed), in the order added."""
    return await LineService(ctx).page(project_id, cursor, limit)


@router.patch(
    "/projects/{project_id}/funding-lines/{line_id}",
    response_model=FundingLinePublic,
    responses=_VERSIONED,
    dependencies=[require_writer],
    summary="Change a funding line of a project that is not approved (If-Match)",
)
async def update_funding_line(
    project_id: Id,
    line_id: Id,
    payload: FundingLineUpdate,
    version: IfMatchDep,
    ctx: ContextDep,
    response: Response,
) -> FundingLinePublic:
    """Change a line's source, funder, commitment or allocation while the project is not approved, based on the
    version you read (`If-Match`)."""
    line = await LineService(ctx).update(project_id, line_id, version, payload)
    response.headers["ETag"] = etag(line.version)
    return line


@router.delete(
    "/projects/{project_id}/funding-lines/{line_id}",
    status_code=204,
    response_class=Response,
    responses=_VERSIONED,
    dependencies=[require_writer],
    summary="Remove a funding line of a project that is not approved (If-Match)",
)
async def delete_funding_line(project_id: Id, line_id: Id, version: IfMatchDep, ctx: ContextDep) -> Response:
    """Remove a line from the split of a project that is not approved (no money moves before approval)."""
    await LineService(ctx).delete(project_id, line_id, version)
    return Response(status_code=204)


@router.get(
    "/projects/{project_id}/funding",
    response_model=FundingSummary,
    responses=_READ,
    summary="A project's money: budget, commitments, funding gap, received, disbursed",
)
async def get_project_funding(project_id: Id, ctx: ContextDep) -> FundingSummary:
    """The project's budget against Σ of its lines: the funding gap while commitments fall short (invariant 36),
    what was received and disbursed, and the disbursement rate."""
    return await FundsService(ctx).summary(project_id)


@router.get(
    "/funding-lines/{line_id}",
    response_model=FundingLinePublic,
    responses=_READ,
    summary="One funding line and its counters",
)
async def get_funding_line(line_id: Id, ctx: ReadContextDep, response: Response) -> FundingLinePublic:
    """One funding line: committed, received and disbursed (always 0 <= disbursed <= received <= committed);
    its `version` is the ETag."""
    line = await LineService(ctx).get(line_id)
    response.headers["ETag"] = etag(line.version)
    return line


# -- the earmark matrix -----------------------------------------------------------------------------------------
@router.get(
    "/counties/{code}/earmark-matrix",
    response_model=EarmarkMatrix,
    responses=_READ,
    summary="Which funding source may pay which project category in a county (专款专用)",
)
async def get_earmark_matrix(code: CountyCode, ctx: ReadContextDep) -> EarmarkMatrix:
    """The earmark matrix in force in the county: the shipped default, with the county's own cells on top
    (`origin`). Its officers at every level read it."""
    return await EarmarkService(ctx).matrix(code)


@router.put(
    "/counties/{code}/earmark-matrix/{source}/{category}",
    response_model=EarmarkCellPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Set one cell of the county's earmark matrix, with a reason (county admin)",
)
async def set_earmark_cell(
    code: CountyCode, source: FundingSource, category: ProjectCategory, payload: EarmarkSet, ctx: ContextDep
) -> EarmarkCellPublic:
    """Whether `source` money may pay `category` projects in the county, with the reason (audited); the
    county's cell replaces the default."""
    return await EarmarkService(ctx).set(code, source, category, payload)


# -- line transfers ---------------------------------------------------------------------------------------------
@router.post(
    "/projects/{project_id}/line-transfers",
    status_code=201,
    response_model=LineTransferPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Move commitment between two lines of a project with the county's re-approval (county admin)",
)
async def create_line_transfer(
    project_id: Id, payload: LineTransferCreate, ctx: ContextDep, response: Response
) -> LineTransferPublic:
    """Move commitment from one line of the project to another (渠道不乱: with the re-approval's document and a
    reason), in one transaction; never below what the giving line already received. `Location` is the
    transfer."""
    transfer = await TransferService(ctx).create(project_id, payload)
    response.headers["Location"] = f"/projects/{project_id}/line-transfers/{transfer.id}"
    return transfer


@router.get(
    "/projects/{project_id}/line-transfers",
    response_model=LineTransferPage,
    responses=_READ,
    summary="A project's line transfers (keyset pages)",
)
async def list_line_transfers(
    project_id: Id, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> LineTransferPage:
    """The project's re-approved line transfers, oldest first."""
    return await TransferService(ctx).page(project_id, cursor, limit)


@router.get(
    "/projects/{project_id}/line-transfers/{transfer_id}",
    response_model=LineTransferPublic,
    responses=_READ,
    summary="One line transfer",
)
async def get_line_transfer(project_id: Id, transfer_id: Id, ctx: ReadContextDep) -> LineTransferPublic:
    """One re-approved line transfer of the project."""
    return await TransferService(ctx).get(project_id, transfer_id)


# -- the ledger -------------------------------------------------------------------------------------------------
@router.post(
    "/funding-lines/{line_id}/receipts",
    status_code=201,
    response_model=LedgerEntryPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record money arriving on a funding line (county admin)",
)
async def create_receipt(
    line_id: Id, payload: ReceiptCreate, ctx: ContextDep, response: Response
) -> LedgerEntryPublic:
    """Record money arriving on a line (资金到位) of an approved project: never more than the line commits.
    `Location` is the ledger entry."""
    entry = await LedgerService(ctx).receive(line_id, payload)
    response.headers["Location"] = f"/ledger-entries/{entry.id}"
    return entry


@router.post(
    "/funding-lines/{line_id}/disbursements",
    status_code=201,
    response_model=LedgerEntryPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Record a payment out of a funding line (county admin)",
)
async def create_disbursement(
    line_id: Id, payload: DisbursementCreate, ctx: ContextDep, response: Response
) -> LedgerEntryPublic:
    """Record a payment (资金拨付: stage, payee, voucher, who approved) out of a line of an approved project:
    the line's source must be earmarked for the category, never more than it received, and the completion
    payment only after a passed acceptance. `Location` is the ledger entry."""
    entry = await LedgerService(ctx).disburse(line_id, payload)
    response.headers["Location"] = f"/ledger-entries/{entry.id}"
    return entry


@router.get(
    "/funding-lines/{line_id}/ledger",
    response_model=LedgerPage,
    responses=_READ,
    summary="A funding line's ledger, in the order recorded (keyset pages)",
)
async def list_line_ledger(
    line_id: Id, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> LedgerPage:
    """The line's receipts, disbursements and reversals in the order recorded."""
    return await LedgerService(ctx).page(line_id=line_id, cursor=cursor, limit=limit)


@router.get(
    "/projects/{project_id}/ledger",
    response_model=LedgerPage,
    responses=_READ,
    summary="A project's ledger over all its lines (keyset pages)",
)
async def list_project_ledger(
    project_id: Id, ctx: ReadContextDep, cursor: Cursor = None, limit: Limit = 100
) -> LedgerPage:
    """Every ledger entry of the project's lines in the order recorded."""
    return await LedgerService(ctx).page(project_id=project_id, cursor=cursor, limit=limit)


@router.get(
    "/ledger-entries/{entry_id}",
    response_model=LedgerEntryPublic,
    responses=_READ,
    summary="One ledger entry",
)
async def get_ledger_entry(entry_id: EntryId, ctx: ReadContextDep) -> LedgerEntryPublic:
    """One ledger entry, with the entry that reversed it if any."""
    return await LedgerService(ctx).get(entry_id)


@router.post(
    "/ledger-entries/{entry_id}/reversals",
    status_code=201,
    response_model=LedgerEntryPublic,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Reverse a ledger entry: a negative entry referencing it, at most once (county admin)",
)
async def create_reversal(
    entry_id: EntryId, payload: ReversalCreate, ctx: ContextDep, response: Response
) -> LedgerEntryPublic:
    """Correct the ledger without rewriting it (红字冲销): a new entry with the negative amount that references
    the original, once per entry, with a reason (audited). `Location` is the reversal."""
    entry = await LedgerService(ctx).reverse(entry_id, payload)
    response.headers["Location"] = f"/ledger-entries/{entry.id}"
    return entry

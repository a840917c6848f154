"""Funds API models (资金): allocations, funding lines and the project's totals, the earmark matrix, the ledger and
line transfers. Money on the wire is yuan as a decimal string with two places (`"1750000.00"`); stored as fen."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from services.planning.funds.domain import (
    DisbursementStage,
    EarmarkOrigin,
    FundingSource,
    LedgerKind,
)
from services.planning.projects.domain import ProjectCategory
from shared.pagination import Page
from shared.schemas import Percent, RequestModel, ResponseModel, SignedYuan, Yuan

__all__ = [
    "AllocationCreate",
    "AllocationPage",
    "AllocationPublic",
    "DisbursementCreate",
    "DisbursementStage",
    "DrawnLine",
    "EarmarkCellPublic",
    "EarmarkMatrix",
    "EarmarkSet",
    "FundingLineCreate",
    "FundingLinePage",
    "FundingLinePublic",
    "FundingLineUpdate",
    "FundingSource",
    "FundingSummary",
    "LedgerEntryPublic",
    "LedgerKind",
    "LedgerPage",
    "LineTransferCreate",
    "LineTransferPage",
    "LineTransferPublic",
    "ProjectCategory",
    "ReceiptCreate",
    "ReversalCreate",
]

#: An amount that moves: more than zero, at most two decimals (a fraction of a fen is a 422).
Amount = Annotated[Yuan, Field(gt=0)]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Voucher = Annotated[str, Field(min_length=1, max_length=100, description="Voucher reference (凭证号)")]


# -- allocations ---------------------------------------------------------------------------------------------
class AllocationCreate(RequestModel):
    """A county's yearly allocation from one funding source (资金下达: 文号 and amount)."""

    year: Annotated[int, Field(ge=2000, le=2100)]
    source: FundingSource
    document_number: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100,
            description="文号, unique per county",
            examples=["靖财农〔2014〕12号"],  # noqa: RUF001
        ),
    ]
    amount_yuan: Amount
    note: Annotated[str, Field(max_length=500)] | None = None


class AllocationPublic(ResponseModel):
    """An allocation with what approved projects drew on it and what lines waiting for approval would draw."""

    id: uuid.UUID
    county_code: str
    year: int
    source: FundingSource
    document_number: str
    amount_yuan: Yuan
    drawn_yuan: Yuan = Field(description="Σ commitments of approved projects' lines drawing on it")
    remaining_yuan: Yuan = Field(description="amount - drawn")
    pending_yuan: Yuan = Field(
        description="Σ commitments of lines naming it whose project is not approved yet"
    )
    note: str | None
    created_at: datetime
    created_by: str


AllocationPage = Page[AllocationPublic]


# -- funding lines ---------------------------------------------------------------------------------------------
class FundingLineCreate(RequestModel):
    """One line of a project's budget split (§5.7): source, funder, committed amount, optional allocation."""

    source: FundingSource
    funder: Annotated[str, Field(min_length=1, max_length=200, description="Funder organisation (出资单位)")]
    committed_yuan: Amount
    allocation_id: uuid.UUID | None = Field(
        None,
        description="The county allocation it draws on (same county, source and the project's start year)",
    )


class FundingLineUpdate(RequestModel):
    """Change a line while its project is not approved (only the fields sent; `allocation_id: null` unlinks)."""

    source: FundingSource | None = None
    funder: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    committed_yuan: Amount | None = None
    allocation_id: uuid.UUID | None = None


class FundingLinePublic(ResponseModel):
    """A funding line and its counters: always 0 <= disbursed <= received <= committed (invariant 38)."""

    id: uuid.UUID
    project_id: uuid.UUID
    source: FundingSource
    funder: str
    allocation_id: uuid.UUID | None
    committed_yuan: Yuan
    received_yuan: Yuan
    disbursed_yuan: Yuan
    drawn: bool = Field(description="The project's approval drew the commitment from the allocation")
    version: int
    created_at: datetime
    created_by: str


FundingLinePage = Page[FundingLinePublic]


class FundingSummary(ResponseModel):
    """A project's money: budget, Σ of its lines, the funding gap (invariant 36) and the disbursement rate."""

    project_id: uuid.UUID
    status: str
    budget_yuan: Yuan
    committed_yuan: Yuan
    received_yuan: Yuan
    disbursed_yuan: Yuan
    funding_gap_yuan: Yuan = Field(description="budget - Σ committed when positive (invariant 36), else 0.00")
    over_commitment_yuan: Yuan = Field(
        description="Σ committed - budget when the budget was lowered below it"
    )
    disbursement_rate: Percent = Field(description="disbursed / committed x 100")
    lines: int
    flags: list[str] = Field(description="`funding_gap` while Σ commitments < budget; `over_committed`")


class DrawnLine(ResponseModel):
    """A line whose commitment an approval drew from its allocation."""

    line_id: uuid.UUID
    allocation_id: uuid.UUID
    committed_yuan: Yuan
    drawn_yuan: Yuan = Field(description="The allocation's drawn total after this line")
    remaining_yuan: Yuan


# -- the earmark matrix --------------------------------------------------------------------------------------
class EarmarkCellPublic(ResponseModel):
    source: FundingSource
    category: ProjectCategory
    allowed: bool
    origin: EarmarkOrigin
    updated_at: datetime | None
    updated_by: str | None


class EarmarkMatrix(ResponseModel):
    """Which funding source may pay which project category in a county (专款专用): the shipped default with the
    county's overrides."""

    county_code: str
    cells: list[EarmarkCellPublic]


class EarmarkSet(RequestModel):
    """A county's own rule for one cell, with the reason (audited)."""

    allowed: bool
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


# -- line transfers ------------------------------------------------------------------------------------------
class LineTransferCreate(RequestModel):
    """Move commitment between two lines of the project with the county's re-approval (渠道不乱)."""

    from_line_id: uuid.UUID
    to_line_id: uuid.UUID
    amount_yuan: Amount
    approval_document: Annotated[
        str, Field(min_length=1, max_length=100, description="The re-approval's 文号")
    ]
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class LineTransferPublic(ResponseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    from_line_id: uuid.UUID
    to_line_id: uuid.UUID
    amount_yuan: Yuan
    approval_document: str
    reason: str
    approved_at: datetime
    approved_by: str


LineTransferPage = Page[LineTransferPublic]


# -- the ledger ----------------------------------------------------------------------------------------------
class ReceiptCreate(RequestModel):
    """Money arriving on a line (资金到位)."""

    amount_yuan: Amount
    entry_date: date
    voucher: Voucher
    payee: Annotated[str, Field(min_length=1, max_length=200, description="The account credited")] | None = (
        None
    )
    approved_by: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class DisbursementCreate(RequestModel):
    """A payment out of a line (资金拨付)."""

    amount_yuan: Amount
    entry_date: date
    stage: DisbursementStage
    payee: Text200
    voucher: Voucher
    approved_by: Annotated[str, Field(min_length=1, max_length=200, description="Who approved the payment")]


class ReversalCreate(RequestModel):
    """A correction: a negative entry for the whole of one entry (红字冲销), at most once."""

    entry_date: date
    voucher: Voucher
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    approved_by: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class LedgerEntryPublic(ResponseModel):
    """An entry of the ledger (append-only); a reversal has a negative amount and names the entry it reverses."""

    id: int
    line_id: uuid.UUID
    project_id: uuid.UUID
    kind: LedgerKind
    amount_yuan: SignedYuan
    stage: DisbursementStage | None
    payee: str | None
    voucher: str | None
    approved_by: str | None
    reverses: int | None
    reversed_by: int | None = Field(description="The entry that reversed this one, if any")
    entry_date: date
    recorded_at: datetime
    recorded_by: str


LedgerPage = Page[LedgerEntryPublic]

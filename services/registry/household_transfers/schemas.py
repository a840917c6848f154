"""Requests and answers of the cross-county handover (迁出申请 / 迁入确认)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from services.registry.household_transfers.domain import Direction, TransferStatus
from services.registry.households.domain import RelocationReason
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "Direction",
    "HouseholdBrief",
    "TransferAccept",
    "TransferCreate",
    "TransferDecision",
    "TransferListItem",
    "TransferPublic",
    "TransferStatus",
]


class TransferCreate(RequestModel):
    """Ask to hand the household over to a village of another county (迁出申请)."""

    to_village_code: RegionCode
    reason: RelocationReason
    effective_date: date = Field(description="The day the household moved (迁出日期), not in the future")
    document_reference: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="The approval or household-registration document (批复文号)"
    )
    note: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class TransferAccept(RequestModel):
    """Take the household in (迁入确认); its natural village and villager group in the new village."""

    natural_village: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    villager_group: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    note: Annotated[str, Field(min_length=1, max_length=1000)] | None = None


class TransferDecision(RequestModel):
    """Why the transfer is rejected or cancelled."""

    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class TransferPublic(ResponseModel):
    """One handover and where it stands; `household_version` is the household's ETag after an acceptance."""

    id: uuid.UUID
    household_id: uuid.UUID
    from_village_code: str
    to_village_code: str
    reason: RelocationReason
    effective_date: date
    document_reference: str | None
    note: str | None
    status: TransferStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    household_version: int | None = None


class HouseholdBrief(ResponseModel):
    """What the destination sees of a household before it takes it in: no ID numbers, phones or accounts."""

    head_name: str | None
    household_size: int
    poverty_cause_primary: str | None


class TransferListItem(TransferPublic):
    household: HouseholdBrief

"""Pairing API models (结对帮扶, DOMAIN.md §3.1): helping units, cadres, village assignments, pairings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import Field

from services.registry.pairing.domain import (
    AssignmentRole,
    EndReason,
    PairingRole,
    PositionLevel,
    UnitKind,
)
from shared.pagination import Page
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "AssignmentCreate",
    "AssignmentPage",
    "AssignmentPublic",
    "AssignmentRole",
    "AssignmentWithCadre",
    "CadreCreate",
    "CadrePage",
    "CadrePublic",
    "CadreSuccessor",
    "CadreUpdate",
    "EndReason",
    "GapReport",
    "MyHousehold",
    "MyHouseholds",
    "PairingCreate",
    "PairingCreated",
    "PairingEnd",
    "PairingEnded",
    "PairingGap",
    "PairingHistory",
    "PairingHistoryEntry",
    "PairingPublic",
    "PairingRole",
    "PositionLevel",
    "Successor",
    "UnitCreate",
    "UnitKind",
    "UnitPage",
    "UnitPublic",
]

Name = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Phone = Annotated[str, Field(pattern=r"^[0-9+\- ]{5,20}$")]
UserSub = Annotated[str, Field(min_length=1, max_length=64)]


# -- helping units (帮扶单位) ------------------------------------------------------------------------------------
class UnitCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=128, examples=["靖西市财政局"])]
    kind: UnitKind
    region_code: RegionCode
    liaison_name: Name | None = Field(None, description="The unit's liaison (联络员, P8)")
    leader_max_households: Annotated[int, Field(ge=1, le=100)] = 1
    middle_cadres_per_household: Annotated[int, Field(ge=1, le=10)] = 2


class UnitPublic(ResponseModel):
    """A helping unit (帮扶单位) with its ratio policy (P1)."""

    id: uuid.UUID
    name: str
    kind: UnitKind
    region_code: str
    liaison_name: str | None
    leader_max_households: int
    middle_cadres_per_household: int
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime


UnitPage = Page[UnitPublic]


# -- cadres (帮扶干部) -------------------------------------------------------------------------------------------
class CadreCreate(RequestModel):
    unit_id: uuid.UUID
    name: Name
    position_level: PositionLevel
    position: Annotated[str, Field(max_length=64)] | None = None
    phone: Phone | None = None
    user_sub: UserSub | None = Field(
        None, description="The gateway user id this cadre logs in with (the token's `sub`)"
    )


class CadreSuccessor(RequestModel):
    """Who takes over one of a deactivated cadre's pairings (自然接替, P4)."""

    pairing_id: uuid.UUID
    cadre_id: uuid.UUID
    role: PairingRole = PairingRole.primary


class CadreUpdate(RequestModel):
    position_level: PositionLevel | None = None
    position: Annotated[str, Field(max_length=64)] | None = None
    phone: Phone | None = None
    user_sub: UserSub | None = None
    active: bool | None = None
    successors: Annotated[list[CadreSuccessor], Field(max_length=500)] | None = Field(
        None,
        description="With `active: false`: a successor for each open pairing that is its household's last one "
        "(不脱贫不脱钩, 自然接替); the cadre's open pairings end today as handovers",
    )


class CadrePublic(ResponseModel):
    """A cadre (帮扶干部); the phone only masked."""

    id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    position_level: PositionLevel
    position: str | None
    phone_masked: str | None
    user_sub: str | None
    region_code: str
    active: bool
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime


CadrePage = Page[CadrePublic]


# -- village assignments (驻村工作队, 第一书记) ----------------------------------------------------------------------
class AssignmentCreate(RequestModel):
    village_code: RegionCode
    cadre_id: uuid.UUID
    role: AssignmentRole
    starts_on: date
    ends_on: date | None = Field(
        None, description="Planned end; a term lasts at least one year (DOMAIN.md P7)"
    )


class AssignmentPublic(ResponseModel):
    """A cadre's assignment to a village (第一书记 / 驻村工作队)."""

    id: uuid.UUID
    village_code: str
    cadre_id: uuid.UUID
    role: AssignmentRole
    starts_on: date
    ends_on: date | None
    end_reason: str | None
    created_at: datetime
    created_by: str


class AssignmentWithCadre(AssignmentPublic):
    cadre_name: str


AssignmentPage = Page[AssignmentWithCadre]


# -- pairings (结对) --------------------------------------------------------------------------------------------
class PairingCreate(RequestModel):
    household_id: uuid.UUID
    cadre_id: uuid.UUID
    role: PairingRole = PairingRole.primary
    valid_from: date


class Successor(RequestModel):
    cadre_id: uuid.UUID
    role: PairingRole = PairingRole.primary


class PairingEnd(RequestModel):
    valid_to: date = Field(description="The first day the cadre is no longer responsible")
    end_reason: EndReason
    successor: Successor | None = Field(
        None, description="Required unless the household has exited: 不脱贫不脱钩 (P3), starting the same day"
    )
    reason: Reason | None = None


class PairingPublic(ResponseModel):
    """One row of a pairing: valid time (`valid_from` .. `valid_to`, exclusive) and transaction time
    (`recorded_at` .. `superseded_at`)."""

    row_id: int
    id: uuid.UUID
    household_id: uuid.UUID
    cadre_id: uuid.UUID
    unit_id: uuid.UUID
    role: PairingRole
    valid_from: date
    valid_to: date | None
    end_reason: EndReason | None
    successor_id: uuid.UUID | None
    reason: str | None
    recorded_at: datetime
    recorded_by: str
    superseded_at: datetime | None


class PairingCreated(PairingPublic):
    warnings: list[str] = Field(description="Unit ratio policy (P1, invariant 29): warnings, never refusals")


class PairingEnded(ResponseModel):
    ended: PairingPublic
    successor: PairingPublic | None


class PairingHistoryEntry(PairingPublic):
    cadre_name: str
    position_level: PositionLevel
    unit_name: str


class PairingHistory(ResponseModel):
    """Who was responsible for the household (all current rows, or those in force `on` a day as known `as_of`)."""

    household_id: uuid.UUID
    on: date | None
    items: list[PairingHistoryEntry]


class PairingGap(ResponseModel):
    """A registered household with labour capacity and no pairing in force (invariant 27)."""

    id: uuid.UUID
    village_code: str
    head_name: str
    household_size: int
    status: str


class GapReport(ResponseModel):
    region: str
    on: date
    count: int
    items: list[PairingGap]


class MyHousehold(ResponseModel):
    """A household the calling cadre is (or was) paired with."""

    household_id: uuid.UUID
    valid_from: date
    valid_to: date | None
    head_name: str
    village_code: str
    status: str
    active: bool


class MyHouseholds(ResponseModel):
    active: list[MyHousehold] = Field(description="Paired today")
    past: list[MyHousehold] = Field(description="Paired before (read-only)")

"""Pairing API models (DOMAIN.md §3.1)."""

from __future__ import annotations

import enum
import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from shared.schemas import RegionCode, RequestModel

Name = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class UnitKind(enum.StrEnum):
    """帮扶单位 kinds."""

    government_department = "government_department"  # 党政机关
    public_institution = "public_institution"  # 事业单位
    state_enterprise = "state_enterprise"  # 国有企业
    private_enterprise = "private_enterprise"  # 民营企业
    social_organisation = "social_organisation"  # 社会组织
    other = "other"


class PositionLevel(enum.StrEnum):
    """职级: drives the unit ratio policy (a leader pairs with one household, middle-level cadres share one)."""

    unit_leader = "unit_leader"  # 单位领导
    middle_level = "middle_level"  # 中层干部
    staff = "staff"  # 一般干部职工


class AssignmentRole(enum.StrEnum):
    first_secretary = "first_secretary"  # 第一书记
    work_team_leader = "work_team_leader"  # 驻村工作队队长
    work_team_member = "work_team_member"  # 驻村工作队队员


class PairingRole(enum.StrEnum):
    primary = "primary"  # 主要帮扶责任人
    secondary = "secondary"


class EndReason(enum.StrEnum):
    household_exited = "household_exited"  # 脱贫
    handover = "handover"  # 工作调整, 自然接替
    unit_change = "unit_change"
    death = "death"
    household_removed = "household_removed"  # 识别不准清退 / 户已消亡
    other = "other"


class UnitCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=128, examples=["靖西市财政局"])]
    kind: UnitKind
    region_code: RegionCode
    liaison_name: Name | None = None
    leader_max_households: Annotated[int, Field(ge=1, le=100)] = 1
    middle_cadres_per_household: Annotated[int, Field(ge=1, le=10)] = 2


class CadreCreate(RequestModel):
    unit_id: uuid.UUID
    name: Name
    position_level: PositionLevel
    position: Annotated[str, Field(max_length=64)] | None = None
    phone: Annotated[str, Field(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    user_sub: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="The gateway user id this cadre logs in with (the token's `sub`)"
    )


class CadrePatch(RequestModel):
    position_level: PositionLevel | None = None
    position: Annotated[str, Field(max_length=64)] | None = None
    phone: Annotated[str, Field(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    user_sub: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    active: bool | None = None


class AssignmentCreate(RequestModel):
    village_code: RegionCode
    cadre_id: uuid.UUID
    role: AssignmentRole
    starts_on: date
    ends_on: date | None = Field(
        None, description="Planned end; a term lasts at least one year (DOMAIN.md P7)"
    )


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

"""Registry tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import CODE_COLLATION, utcnow

__all__ = ["PolicyParameter", "Quota", "Region", "RegionStatus"]


class Region(SQLModel, table=True):
    """A node of the administrative tree, keyed by its 12-digit statistical division code (DOMAIN.md §1.1)."""

    __tablename__ = "registry_region"

    code: str = Field(primary_key=True, sa_type=sa.String(12, collation=CODE_COLLATION))
    name: str = Field(max_length=128)
    level: str = Field(max_length=16)
    parent_code: str | None = Field(
        default=None,
        sa_type=sa.String(12, collation=CODE_COLLATION),
        foreign_key="registry_region.code",
        index=True,
    )
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


def _code_fk() -> sa.String:
    return sa.String(12, collation=CODE_COLLATION)


class RegionStatus(SQLModel, table=True):
    """A special status a region holds in one year (贫困县, 贫困村, ...; DOMAIN.md §1.1)."""

    __tablename__ = "registry_region_status"

    region_code: str = Field(primary_key=True, sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int = Field(primary_key=True)
    status: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: str = Field(max_length=64)


class PolicyParameter(SQLModel, table=True):
    """One version of a policy parameter for a region and year (append-only; DOMAIN.md §2.8)."""

    __tablename__ = "registry_policy_parameter"
    __table_args__ = (sa.UniqueConstraint("region_code", "year", "name", "version"),)

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True))
    region_code: str = Field(sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int
    name: str = Field(max_length=64)
    value: Decimal = Field(sa_type=sa.Numeric(18, 4))
    version: int
    valid_from: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: str = Field(max_length=64)
    reason: str = Field(max_length=500)


class Quota(SQLModel, table=True):
    """Scale-control quota (规模控制) of a region for a year, in people (DOMAIN.md §2.10)."""

    __tablename__ = "registry_quota"

    region_code: str = Field(primary_key=True, sa_type=_code_fk(), foreign_key="registry_region.code")
    year: int = Field(primary_key=True)
    people: int
    version: int = 1
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_by: str = Field(max_length=64)

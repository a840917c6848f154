"""Registry tables."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import CODE_COLLATION, utcnow

__all__ = ["Region"]


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

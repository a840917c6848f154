"""Request and answer of `PUT /helping-units/{unit_id}/responsible`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from shared.schemas import RequestModel, ResponseModel

__all__ = ["ResponsibleSet", "UnitResponsible"]


class ResponsibleSet(RequestModel):
    """Link (a login `sub`) or unlink (null) the helping unit's responsible person (帮扶单位责任人)."""

    responsible_sub: Annotated[str, Field(min_length=1, max_length=64, examples=["user-li-juzhang"])] | None
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class UnitResponsible(ResponseModel):
    """The helping unit's responsible login after the change; `version` is the unit's new ETag."""

    unit_id: uuid.UUID
    responsible_sub: str | None
    version: int
    updated_at: datetime

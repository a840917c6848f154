"""`PUT /helping-units/{unit_id}/responsible`: the county office links the unit's responsible login."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Response

from services.registry.unit_responsible.schemas import ResponsibleSet, UnitResponsible
from services.registry.unit_responsible.service import UnitResponsibleService
from shared.auth import require_writer
from shared.context import ContextDep
from shared.etag import IfMatchDep, etag
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["pairing"])

UnitId = Annotated[uuid.UUID, Path(description="Helping unit id (UUID)")]
_WRITE: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only the county office links a unit's responsible person"},
    404: {"description": "Missing or outside your region"},
    412: {"description": "Stale If-Match: the body carries `current_version`"},
    422: {"description": "Invalid input; nothing changed"},
    428: {"description": "If-Match missing"},
}


@router.put(
    "/helping-units/{unit_id}/responsible",
    response_model=UnitResponsible,
    responses=_WRITE,
    dependencies=[require_writer],
    summary="Link or unlink the login of the unit's responsible person (帮扶单位责任人)",
)
async def put_unit_responsible(
    unit_id: UnitId, payload: ResponsibleSet, version: IfMatchDep, ctx: ContextDep, response: Response
) -> UnitResponsible:
    """Link the gateway login (`sub`) of the helping unit's responsible person, or unlink it with null, based on
    the unit's version you read (`If-Match`). With a login linked, only that login signs the unit's part of its
    help records (`unit_responsible`); without one, a township or county officer records it."""
    result = await UnitResponsibleService(ctx).put(unit_id, version, payload)
    response.headers["ETag"] = etag(result.version)
    return result

"""Routes every service has besides its domain: `/me`, the caller as this service sees them."""

from __future__ import annotations

from shared.auth import PrincipalDep
from shared.routing import APIRouter
from shared.schemas import ResponseModel

__all__ = ["CallerPublic", "me_router"]


class CallerPublic(ResponseModel):
    sub: str
    role: str
    region: str
    scope_prefix: str
    read_only: bool


me_router = APIRouter(tags=["caller"])


@me_router.get("/me", response_model=CallerPublic, summary="The verified caller and their region scope")
async def get_caller(principal: PrincipalDep) -> CallerPublic:
    """The verified caller as this service sees them: subject, role, region and the region prefix that scopes
    every query."""
    return CallerPublic(
        sub=principal.sub,
        role=principal.role,
        region=principal.region,
        scope_prefix=principal.prefix,
        read_only=principal.read_only,
    )

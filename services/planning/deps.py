"""Dependencies of the planning routes beyond shared/: the registry, reached over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.planning.registry import RegistryGateway

__all__ = ["RegistryDep"]


async def _registry(request: Request) -> RegistryGateway:
    registry: RegistryGateway = request.app.state.registry
    return registry


#: The registry's API, authenticated as the planning service.
RegistryDep = Annotated[RegistryGateway, Depends(_registry)]

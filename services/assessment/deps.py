"""Dependencies of the assessment routes beyond shared/: the registry, reached over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.assessment.registry import RegistryGateway, RegistryUnavailable
from services.assessment.sources import FigureSources

__all__ = ["FigureSourcesDep", "RegistryDep"]


async def _registry(request: Request) -> RegistryGateway:
    registry: RegistryGateway | None = getattr(request.app.state, "registry", None)
    if registry is None:
        # main.py's lifespan opens it (registry.open_registry); without it nothing that needs the registry runs.
        raise RegistryUnavailable("the assessment has no registry client configured")
    return registry


#: The registry's API, authenticated as the assessment service.
RegistryDep = Annotated[RegistryGateway, Depends(_registry)]


async def _figure_sources(request: Request) -> FigureSources | None:
    sources: FigureSources | None = getattr(request.app.state, "figure_sources", None)
    return sources


#: The registry and planning as a run's figure sources (and the registry's cadre logins), or None when the app
#: runs without them.
FigureSourcesDep = Annotated[FigureSources | None, Depends(_figure_sources)]

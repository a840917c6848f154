"""API models of the yearly exit targets: the target set (PUT), and a region's target with its children and progress."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.schemas import RequestModel, ResponseModel

__all__ = ["ExitTargetChild", "ExitTargetFigures", "ExitTargetPublic", "ExitTargetSet"]

_COUNT = Field(ge=0, le=2**31 - 1)


class ExitTargetSet(RequestModel):
    """A region's exit target of the year (年度减贫任务): people and households (households ≤ people)."""

    people: Annotated[int, _COUNT, Field(examples=[1200])]
    households: Annotated[int, _COUNT, Field(examples=[310])]


class ExitTargetFigures(ResponseModel):
    """People and households (a target, an allocation, exits or a shortfall)."""

    people: int
    households: int


class _Progress(ResponseModel):
    people: int | None = Field(description="The target in people; null when none is set")
    households: int | None = Field(description="The target in households; null when none is set")
    exited: ExitTargetFigures = Field(
        description="Households whose exit the county re-reviewed (approved) in the year, China time (invariant "
        "19), and the sum of their household size — the figures' `exited_people`"
    )
    shortfall: ExitTargetFigures | None = Field(
        description="target - exited, never below 0; null without a target (nothing is filled in)"
    )
    flags: list[str] = Field(
        default_factory=list,
        description="`shortfall` when the year is over and the exits did not reach the target (invariant 25)",
    )


class ExitTargetChild(_Progress):
    """A child region's target and progress."""

    region_code: str
    name: str


class ExitTargetPublic(_Progress):
    """A region's exit target of a year, what its children were given, and the progress of each."""

    region_code: str
    year: int
    version: int | None = Field(description="The target row's version; null when none is set")
    allocated: ExitTargetFigures = Field(description="The sum of the children's targets")
    remaining: ExitTargetFigures | None = Field(
        description="target - allocated (not yet given to a child); null without a target"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="`equal_distribution` when every child got the same target, in people or in households "
        "(平均分配, invariant 26): a warning, not a refusal",
    )
    children: list[ExitTargetChild]

"""API models of the assessment figures (考核数据): one row per subject, the catalogue of what they mean.

The rows have the registry's shape (`GET /api/registry/figures/{subject_type}`): `subject_type`, `id`, `year`,
`name`, the region the subject is grouped under (`parent_code`, `parent_name`) and `figures`, an object with one
member per figure planning serves for the subject type (figures/domain.py `served`): percents as decimal strings
with two places (`"85.00"`), fen as integers, yes/no as booleans, and `null` when the data to compute a figure is
absent — never a made-up 0.

Planning keeps no region names (the registry's tree has them): a village's or township's `name` and `parent_name`
are null, its `parent_code` is the region above it by its code. A helping unit is known to planning only as the
funder named on its lines (source `helping_unit_fund`): its `id` is planning's key of that name (the MD5 of the
text, hex), its `name` the text — match it to the registry's unit by name; it has no parent region here.

Each field's description is the figure's definition from the domain, so the OpenAPI document is the same text as
`GET /figures/catalogue`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema

from services.planning.figures.domain import (
    AS_OF,
    FigureCode,
    FigureUnit,
    FigureWire,
    SubjectType,
    figure,
)
from shared.figures import (
    FigureCatalogueBase,
    FigurePublicBase,
    FigureQuery,
    FigureSubjectCatalogueBase,
    UnsupportedPublicBase,
)
from shared.pagination import Page
from shared.schemas import Int64, Percent, ResponseModel

__all__ = [
    "FIGURE_ROWS",
    "FigureCatalogue",
    "FigurePublic",
    "FigureQuery",
    "FigureSubjectCatalogue",
    "HelpingUnitFigureRow",
    "HelpingUnitFigures",
    "OpenPercent",
    "Page",
    "SubjectType",
    "TownshipFigureRow",
    "TownshipFigures",
    "UnsupportedPublic",
    "VillageFigureRow",
    "VillageFigures",
]

#: A percent that may exceed 100 (and 9999.99): a decimal string with two places, never negative.
OPEN_PERCENT_PATTERN = r"^[0-9]+\.[0-9]{2}$"
OpenPercent = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("999999999.99"), decimal_places=2),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": OPEN_PERCENT_PATTERN,
            "description": "Percent, a decimal string with two places; may exceed 100",
            "examples": ["69.49"],
        }
    ),
]


def _f(code: FigureCode) -> Any:
    """The field of figure `code`: null by default, described by its zh-CN label and definition."""
    found = figure(code)
    return Field(None, description=f"{code.label} ({found.unit.label}). {found.definition}")


# -- figures per subject type (fields in catalogue order; `test_figures_domain` checks them against it) ----------
class VillageFigures(ResponseModel):
    """The figures of a village (行政村) for a year."""

    road_to_group_coverage: Percent | None = _f(FigureCode.road_to_group_coverage)
    safe_water_coverage: Percent | None = _f(FigureCode.safe_water_coverage)
    power_and_broadband: bool | None = _f(FigureCode.power_and_broadband)
    biogas_coverage: Percent | None = _f(FigureCode.biogas_coverage)
    clinic_with_doctor: bool | None = _f(FigureCode.clinic_with_doctor)
    collective_income_fen: Int64 | None = _f(FigureCode.collective_income_fen)
    has_cooperative: bool | None = _f(FigureCode.has_cooperative)
    funds_disbursed_share: OpenPercent | None = _f(FigureCode.funds_disbursed_share)
    projects_accepted_share: Percent | None = _f(FigureCode.projects_accepted_share)


class TownshipFigures(ResponseModel):
    """The figures of a township (乡镇) for a year, over the projects and plans of its villages."""

    funds_raised_fen: Int64 | None = _f(FigureCode.funds_raised_fen)
    funds_disbursed_share: OpenPercent | None = _f(FigureCode.funds_disbursed_share)
    projects_accepted_share: Percent | None = _f(FigureCode.projects_accepted_share)
    village_indicator_progress: Percent | None = _f(FigureCode.village_indicator_progress)


class HelpingUnitFigures(ResponseModel):
    """The figures of a helping unit (帮扶单位) for a year, over its funding lines in the region asked for."""

    funds_raised_fen: Int64 | None = _f(FigureCode.funds_raised_fen)
    funds_pledged_completion: OpenPercent | None = _f(FigureCode.funds_pledged_completion)
    funds_disbursed_share: OpenPercent | None = _f(FigureCode.funds_disbursed_share)
    projects_accepted_share: Percent | None = _f(FigureCode.projects_accepted_share)
    village_indicator_progress: Percent | None = _f(FigureCode.village_indicator_progress)


# -- rows -------------------------------------------------------------------------------------------------------
class _Row(ResponseModel):
    year: int = Field(description="The assessment year Y")
    name: str | None = Field(
        description="The subject's name: a helping unit's as its lines name it; null for villages and townships "
        "(planning keeps no region names: the registry's `GET /regions/{code}` has them)"
    )
    parent_code: str | None = Field(
        description="The region the subject is grouped under (peer groups): a village's township, a township's "
        "county (by their codes); null for a helping unit"
    )
    parent_name: str | None = Field(description="Null: planning keeps no region names")


class VillageFigureRow(_Row):
    """A village planning holds something of for the year, and its figures."""

    subject_type: Literal["village"] = "village"
    id: str = Field(description="The village's division code", examples=["451025100201"])
    figures: VillageFigures


class TownshipFigureRow(_Row):
    """A township with such a village, and its figures."""

    subject_type: Literal["township"] = "township"
    id: str = Field(description="The township's division code", examples=["451025100000"])
    figures: TownshipFigures


class HelpingUnitFigureRow(_Row):
    """A helping unit (the funder of `helping_unit_fund` lines) with a line of the year or a receipt dated in
    it in the region, and its figures."""

    subject_type: Literal["helping_unit"] = "helping_unit"
    id: str = Field(
        description="Planning's key of the unit: the MD5 (hex) of the funder's name as its lines write it (not "
        "the registry's unit id: match the unit by `name`)",
        examples=["9f1c3f0e2c5b4d7a8e6f0a1b2c3d4e5f"],
    )
    figures: HelpingUnitFigures


#: The row model of each subject type.
FIGURE_ROWS: dict[SubjectType, type[_Row]] = {
    SubjectType.village: VillageFigureRow,
    SubjectType.township: TownshipFigureRow,
    SubjectType.helping_unit: HelpingUnitFigureRow,
}


# -- the catalogue (the envelope is shared/figures.py's, with planning's enums) ----------------------------------
class FigurePublic(FigurePublicBase[FigureCode, FigureUnit, FigureWire]):
    """A figure planning serves for a subject type."""


class UnsupportedPublic(UnsupportedPublicBase[FigureCode]):
    """A planning-sourced metric planning does not serve for a subject type, and why."""


class FigureSubjectCatalogue(FigureSubjectCatalogueBase[SubjectType, FigurePublic, UnsupportedPublic]):
    """The figures of one subject type: served, and unsupported with the reason."""


class FigureCatalogue(FigureCatalogueBase[FigureSubjectCatalogue]):
    """Which figures each subject type serves (GET /figures/{subject_type}), with their definitions."""

    as_of: str = Field(default=AS_OF, description="The rule that bounds every figure to its year")

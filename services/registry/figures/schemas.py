"""Assessment figure API models: one row per subject with its `figures`, and the catalogue of what is served.

A row carries the subject's id (a region code, or a UUID), its name, the region it is grouped under (its peer
group: a village's township, a township's county, a cadre's or unit's own region) and `figures`, an object with
one member per figure the registry serves for the subject type (figures/domain.py `served`): percents and ratios
as decimal strings with two places (`"85.00"`), counts and fen as integers, yes/no as booleans, and `null` when
the data to compute a figure is absent — never a made-up 0. A metric the registry cannot compute is not a member
at all; the catalogue lists it as unsupported, with why.

Each field's description is the figure's definition from the domain, so the OpenAPI document is the same text
as `GET /figures/catalogue`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, WithJsonSchema

from services.registry.figures.domain import (
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
from shared.schemas import Int64, Percent, Quantity, ResponseModel

__all__ = [
    "FIGURE_ROWS",
    "CadreFigureRow",
    "CadreFigures",
    "FigureCatalogue",
    "FigurePublic",
    "FigureQuery",
    "FigureSubjectCatalogue",
    "HelpingUnitFigureRow",
    "HelpingUnitFigures",
    "HouseholdExitFigureRow",
    "HouseholdExitFigures",
    "Page",
    "SignedPercent",
    "SubjectType",
    "TownshipFigureRow",
    "TownshipFigures",
    "UnsupportedPublic",
    "VillageFigureRow",
    "VillageFigures",
]

#: A percent that may be negative (a growth rate) or exceed 100 (an achievement against a plan).
SIGNED_PERCENT_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
SignedPercent = Annotated[
    Decimal,
    Field(ge=Decimal("-999999999.99"), le=Decimal("999999999.99"), decimal_places=2),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SIGNED_PERCENT_PATTERN,
            "description": "Percent, a decimal string with two places; may be negative or exceed 100",
            "examples": ["-4.50"],
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

    exited_people: Int64 | None = _f(FigureCode.exited_people)
    exit_quota_people: Int64 | None = _f(FigureCode.exit_quota_people)
    poverty_incidence: Percent | None = _f(FigureCode.poverty_incidence)
    returnees: Int64 | None = _f(FigureCode.returnees)
    returnees_increase: Int64 | None = _f(FigureCode.returnees_increase)
    income_growth: SignedPercent | None = _f(FigureCode.income_growth)
    share_households_above_line: Percent | None = _f(FigureCode.share_households_above_line)
    ncms_coverage: Percent | None = _f(FigureCode.ncms_coverage)
    pension_coverage: Percent | None = _f(FigureCode.pension_coverage)
    junior_middle_enrolment: Percent | None = _f(FigureCode.junior_middle_enrolment)
    pairing_coverage: Percent | None = _f(FigureCode.pairing_coverage)
    measures_on_schedule: Percent | None = _f(FigureCode.measures_on_schedule)
    monitoring_rounds_closed: Int64 | None = _f(FigureCode.monitoring_rounds_closed)
    deadline_jan_update_met: bool | None = _f(FigureCode.deadline_jan_update_met)
    deadline_dec_exits_met: bool | None = _f(FigureCode.deadline_dec_exits_met)
    incomplete_cards: Int64 | None = _f(FigureCode.incomplete_cards)


class TownshipFigures(VillageFigures):
    """The figures of a township (乡镇) for a year: a village's, and the exit plan achieved."""

    exit_plan_achievement: SignedPercent | None = _f(FigureCode.exit_plan_achievement)


class _HelperFigures(ResponseModel):
    exit_plan_achievement: SignedPercent | None = _f(FigureCode.exit_plan_achievement)
    measures_on_schedule: Percent | None = _f(FigureCode.measures_on_schedule)
    monitoring_rounds_closed: Int64 | None = _f(FigureCode.monitoring_rounds_closed)
    visits_per_pairing: Quantity | None = _f(FigureCode.visits_per_pairing)
    confirmed_records_per_pairing: Quantity | None = _f(FigureCode.confirmed_records_per_pairing)
    unsigned_cards: Int64 | None = _f(FigureCode.unsigned_cards)
    households_without_card: Int64 | None = _f(FigureCode.households_without_card)
    help_plan_completeness: Percent | None = _f(FigureCode.help_plan_completeness)
    income_increase_vs_plan: SignedPercent | None = _f(FigureCode.income_increase_vs_plan)
    help_targets_missed: Int64 | None = _f(FigureCode.help_targets_missed)


class CadreFigures(_HelperFigures):
    """The figures of a cadre (帮扶责任人) for a year, over their pairings in the region asked for."""

    exit_per_plan_no_return: bool | None = _f(FigureCode.exit_per_plan_no_return)


class HelpingUnitFigures(_HelperFigures):
    """The figures of a helping unit (帮扶单位) for a year, over its pairings and assignments in the region."""

    pairing_coverage: Percent | None = _f(FigureCode.pairing_coverage)
    resident_team_stable: bool | None = _f(FigureCode.resident_team_stable)
    first_secretary_assigned: bool | None = _f(FigureCode.first_secretary_assigned)
    liaison_designated: bool | None = _f(FigureCode.liaison_designated)


class HouseholdExitFigures(ResponseModel):
    """The household exit test (§6.5-A) of a household whose exit was proposed in the year."""

    per_capita_net_income_fen: Int64 | None = _f(FigureCode.per_capita_net_income_fen)
    poverty_line_fen: Int64 | None = _f(FigureCode.poverty_line_fen)
    food_clothing_secure: bool | None = _f(FigureCode.food_clothing_secure)
    compulsory_schooling_ok: bool | None = _f(FigureCode.compulsory_schooling_ok)
    medical_insurance_all: bool | None = _f(FigureCode.medical_insurance_all)
    housing_safe: bool | None = _f(FigureCode.housing_safe)
    stable_income_source: bool | None = _f(FigureCode.stable_income_source)
    social_assistance_covered: bool | None = _f(FigureCode.social_assistance_covered)
    exit_procedure_complete: bool | None = _f(FigureCode.exit_procedure_complete)
    head_acknowledged: bool | None = _f(FigureCode.head_acknowledged)


# -- rows -------------------------------------------------------------------------------------------------------
class _Row(ResponseModel):
    year: int = Field(description="The assessment year Y")
    name: str
    parent_code: str | None = Field(
        description="The region the subject is grouped under (peer groups): a village's township, a township's "
        "county, a cadre's or unit's own region, a household's village"
    )
    parent_name: str | None


class _PlaceRow(_Row):
    """A village's or township's row: beside its figures, the year-end counts its poverty incidence rests on (as
    of 31 December of Y, like every figure; planning's village profiles and exit checklist read them)."""

    poor_households: Int64 = Field(
        description="Households of the subject poor (registered, the exit chain up to the county re-review "
        "included, §2.15) at the end of Y: the status their last workflow event taken by then left"
    )
    poor_people: Int64 = Field(description="The sum of household size of those households")
    population: Int64 | None = Field(
        description="The region's recorded population of Y (a township without its own figure: the sum of its "
        "villages' figures); null when none is recorded"
    )


class VillageFigureRow(_PlaceRow):
    """A village and its figures."""

    subject_type: Literal["village"] = "village"
    id: str = Field(description="The village's division code", examples=["451025100201"])
    figures: VillageFigures


class TownshipFigureRow(_PlaceRow):
    """A township and its figures."""

    subject_type: Literal["township"] = "township"
    id: str = Field(description="The township's division code", examples=["451025100000"])
    figures: TownshipFigures


class CadreFigureRow(_Row):
    """A cadre with a pairing in the region during the year, and their figures."""

    subject_type: Literal["cadre"] = "cadre"
    id: uuid.UUID = Field(description="The cadre's id")
    unit_id: uuid.UUID
    unit_name: str
    position_level: str = Field(description="职级 (code list `position_level`)")
    figures: CadreFigures


class HelpingUnitFigureRow(_Row):
    """A helping unit with a pairing or a resident assignment in the region during the year, and its figures."""

    subject_type: Literal["helping_unit"] = "helping_unit"
    id: uuid.UUID = Field(description="The unit's id")
    kind: str = Field(description="Helping unit kind (code list `helping_unit_kind`)")
    figures: HelpingUnitFigures


class HouseholdExitFigureRow(_Row):
    """A household whose exit was proposed in the year (name: the head's), and its exit test."""

    subject_type: Literal["household_exit"] = "household_exit"
    id: uuid.UUID = Field(description="The household's id")
    status: str = Field(description="The household's workflow status now (code list `workflow_status`)")
    figures: HouseholdExitFigures


#: The row model of each subject type.
FIGURE_ROWS: dict[SubjectType, type[_Row]] = {
    SubjectType.village: VillageFigureRow,
    SubjectType.township: TownshipFigureRow,
    SubjectType.cadre: CadreFigureRow,
    SubjectType.helping_unit: HelpingUnitFigureRow,
    SubjectType.household_exit: HouseholdExitFigureRow,
}


# -- the catalogue (the envelope is shared/figures.py's, with the registry's enums) ------------------------------
class FigurePublic(FigurePublicBase[FigureCode, FigureUnit, FigureWire]):
    """A figure the registry serves for a subject type."""


class UnsupportedPublic(UnsupportedPublicBase[FigureCode]):
    """A registry-sourced metric the registry does not serve for a subject type, and why."""


class FigureSubjectCatalogue(FigureSubjectCatalogueBase[SubjectType, FigurePublic, UnsupportedPublic]):
    """The figures of one subject type: served, and unsupported with the reason."""


class FigureCatalogue(FigureCatalogueBase[FigureSubjectCatalogue]):
    """Which figures each subject type serves (GET /figures/{subject_type}), with their definitions."""

    as_of: str = Field(default=AS_OF, description="The rule that bounds every figure to its year")

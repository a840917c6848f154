"""The scheme format on the wire (考核方案) and the schemes API models.

A scheme document is JSON: points and figures are decimal strings (`"15"`, `"6.61"`, `"8.5"`; a number is accepted
on input), money is integer fen (`"min_fen": 5000000` is 50,000 yuan), codes are the zh-CN-labelled code lists of
`schemes.domain`. A leaf indicator's `method` is a tagged union on its `method` member (`binary`, `threshold`,
`linear`, `tiered`, `deduction`, `rank`, `manual`, `embedded`); `GET /schemes/json-schema` serves the JSON Schema
of the document (`SchemeCreate`). The structure is checked here (types, required members, unknown members are
refused); the rules of invariant 43 by `schemes.domain.validate`, with a JSON Pointer into the same document.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PlainSerializer, ValidationError, WithJsonSchema

from services.assessment.metrics.domain import MetricUnit, SubjectType
from services.assessment.schemes import domain
from services.assessment.schemes.domain import (
    Comparison,
    Grade,
    MethodKind,
    Operator,
    PeerGroup,
    RoundingMode,
    SchemeStatus,
    SubjectKind,
    VetoEffect,
)
from shared.errors import Invalid
from shared.pagination import Page
from shared.problems import json_pointer
from shared.schemas import RequestModel, ResponseModel

__all__ = [
    "FIGURE_PATTERN",
    "POINTS_PATTERN",
    "BinaryMethod",
    "BonusRuleSpec",
    "BonusesSpec",
    "CommendationSpec",
    "ConditionSpec",
    "DeductionMethod",
    "EmbeddedMethod",
    "EmbeddedSchemeSpec",
    "GradeBandSpec",
    "IndicatorSpec",
    "LinearMethod",
    "ManualMethod",
    "MethodSpec",
    "RankBandSpec",
    "RankMethod",
    "RoundingSpec",
    "SchemeCreate",
    "SchemeDocument",
    "SchemeJsonSchema",
    "SchemePage",
    "SchemePublic",
    "SchemeStatus",
    "SchemeUpdate",
    "SubjectType",
    "TemplatePage",
    "TemplatePublic",
    "TemplateSummary",
    "ThresholdMethod",
    "TierSpec",
    "TieredMethod",
    "VetoSpec",
    "document_of",
    "merged",
    "scheme_json_schema",
    "to_domain",
    "untag_locations",
]


def plain_decimal(value: Decimal) -> str:
    """A decimal as plain text without trailing zeros or exponent: 15.00 → "15", 6.610 → "6.61"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


#: Points on the wire: a non-negative decimal string with at most four places (`"15"`, `"6.61"`).
POINTS_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,4})?$"
#: A figure (a target, a band's bound, a condition's value) in its metric's unit: may be negative.
FIGURE_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$"
_AS_TEXT = PlainSerializer(plain_decimal, return_type=str, when_used="json")

Points = Annotated[
    Decimal,
    Field(ge=0, le=Decimal(100000), decimal_places=4),
    _AS_TEXT,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": POINTS_PATTERN,
            "description": "Points, a decimal string (at most four places)",
            "examples": ["15"],
        }
    ),
]
Figure = Annotated[
    Decimal,
    Field(ge=Decimal("-1e15"), le=Decimal("1e15"), decimal_places=4),
    _AS_TEXT,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": FIGURE_PATTERN,
            "description": "A figure in the metric's unit, a decimal string (at most four places)",
            "examples": ["90"],
        }
    ),
]
Fen = Annotated[int, Field(ge=0, le=2**53, description="Money in integer fen (分): 5000000 is 50,000 yuan")]
Code = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$", description="A code, unique in the scheme")
]
MetricCode = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]{1,63}$", description="A metric of the catalogue (`GET /metric-catalogue`)"
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Sources = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    Field(max_length=20, description="Where the rule comes from (`S 004`, `R3`, `D`)"),
]


# -- methods ----------------------------------------------------------------------------------------------------
class BinaryMethod(RequestModel):
    """Full points when the figure is > 0 (a yes), else 0."""

    method: Literal["binary"]


class ThresholdMethod(RequestModel):
    """Full points when the figure is at least / at most the target (a constant in `unit`, or `target_metric`)."""

    method: Literal["threshold"]
    comparison: Comparison
    unit: MetricUnit = Field(description="The target's unit: the metric's")
    target: Figure | None = None
    target_metric: MetricCode | None = Field(
        None, description="The subject's figure of this metric is the target"
    )


class LinearMethod(RequestModel):
    """max x clamp((figure - zero_value) / (target - zero_value), 0, 1): `zero_value` 0 by default (max x min(1, v/t));
    above the target for a lower-is-better metric."""

    method: Literal["linear"]
    unit: MetricUnit = Field(description="The target's unit: the metric's")
    target: Figure | None = None
    target_metric: MetricCode | None = Field(
        None, description="The subject's figure of this metric is the target"
    )
    zero_value: Figure | None = Field(None, description="The figure that earns 0 points (default 0)")


class TierSpec(RequestModel):
    bound: Figure
    points: Points


class TieredMethod(RequestModel):
    """The points of the best band reached (`at_least`: figure >= bound; `at_most`: figure <= bound); 0 below all."""

    method: Literal["tiered"]
    comparison: Comparison
    unit: MetricUnit = Field(description="The bounds' unit: the metric's")
    bands: list[TierSpec] = Field(min_length=1, max_length=20)


class DeductionMethod(RequestModel):
    """max - per_occurrence x occurrences, never below `floor`."""

    method: Literal["deduction"]
    per_occurrence: Points
    floor: Points = Decimal(0)


class RankBandSpec(RequestModel):
    top_percent: Points = Field(description="Subjects within the best top_percent of their peers (0-100]")
    points: Points


class RankMethod(RequestModel):
    """By position among peers (needs the peer set): the first band whose top_percent holds 100 x rank / peers."""

    method: Literal["rank"]
    peer_group: PeerGroup
    bands: list[RankBandSpec] = Field(min_length=1, max_length=20)


class ManualMethod(RequestModel):
    """An assessor's score in [0, max] with a written reason."""

    method: Literal["manual"]
    evidence_required: bool = False


#: The document's recursive models (an indicator holds indicators, an embedded scheme holds indicators) have one
#: schema for requests and answers: pydantic would otherwise name them twice (`-Input`, `-Output`).
_ONE_SCHEMA = ConfigDict(json_schema_mode_override="validation")


class EmbeddedSchemeSpec(RequestModel):
    """A scheme inside an indicator (R1): scaled to the indicator's max points."""

    model_config = _ONE_SCHEMA

    code: Code
    name: Name
    total_points: Points
    indicators: list[IndicatorSpec] = Field(min_length=1, max_length=50)


class EmbeddedMethod(RequestModel):
    """The embedded scheme's points x max / its total."""

    model_config = _ONE_SCHEMA

    method: Literal["embedded"]
    scheme: EmbeddedSchemeSpec


MethodSpec = Annotated[
    BinaryMethod
    | ThresholdMethod
    | LinearMethod
    | TieredMethod
    | DeductionMethod
    | RankMethod
    | ManualMethod
    | EmbeddedMethod,
    Field(discriminator="method"),
]


class IndicatorSpec(RequestModel):
    """An indicator: a group (`children` share its points) or a leaf (a `method`, and the `metric` it reads)."""

    model_config = _ONE_SCHEMA

    code: Code
    name: Name = Field(description="The zh-CN name", examples=["减贫成效"])
    name_en: Name | None = None
    max_points: Points
    metric: MetricCode | None = None
    method: MethodSpec | None = None
    children: list[IndicatorSpec] = Field(default_factory=list, max_length=50)
    sources: Sources = Field(default_factory=list)


EmbeddedSchemeSpec.model_rebuild()


# -- rules after scoring ----------------------------------------------------------------------------------------
class ConditionSpec(RequestModel):
    """`metric <op> value`, in the metric's unit (`{"metric": "split_households_confirmed", "op": "gt", "value": "0"}`)."""

    metric: MetricCode
    op: Operator
    value: Figure


class VetoSpec(RequestModel):
    """一票否决: the effect applies whatever the score; `reason` is shown to the subject (invariant 45)."""

    code: Code
    name: Name
    condition: ConditionSpec
    effect: VetoEffect
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    sources: Sources = Field(default_factory=list)


class BonusRuleSpec(RequestModel):
    code: Code
    name: Name
    condition: ConditionSpec
    points: Points


class BonusesSpec(RequestModel):
    cap: Points = Field(domain.DEFAULT_BONUS_CAP, description="The most all bonuses add together (default 5)")
    rules: list[BonusRuleSpec] = Field(default_factory=list, max_length=50)


class GradeBandSpec(RequestModel):
    """Scores in [min, max) earn the grade; the band ending at the total includes it."""

    grade: Grade
    min: Points
    max: Points


class CommendationSpec(RequestModel):
    """Who may be commended (R2, R17): a kind, a least grade and a money threshold (each optional), the award."""

    code: Code
    name: Name
    subject_kind: SubjectKind | None = None
    min_grade: Grade | None = None
    metric: MetricCode | None = Field(None, description="A money metric (fen) compared with `min_fen`")
    min_fen: Fen | None = None
    award_fen: Fen | None = Field(None, description="The award (R17: 500000 = 5,000 yuan)")


class RoundingSpec(RequestModel):
    """Points are rounded per indicator, then the total, to `places` by `mode`."""

    places: Annotated[int, Field(ge=0, le=4)] = 2
    mode: RoundingMode = RoundingMode.half_up


# -- the document -----------------------------------------------------------------------------------------------
class SchemeDocument(RequestModel):
    """An assessment scheme (考核方案): what a county admin sends to create one, and what a template holds."""

    name: Name = Field(examples=["2015年度贫困村考核方案"])
    description: Annotated[str, Field(max_length=2000)] | None = None
    subject_type: SubjectType
    year: Annotated[int, Field(ge=2000, le=2100)]
    total_points: Points = Decimal(100)
    rounding: RoundingSpec = Field(default_factory=RoundingSpec)
    indicators: list[IndicatorSpec] = Field(min_length=1, max_length=50)
    vetoes: list[VetoSpec] = Field(default_factory=list, max_length=50)
    bonuses: BonusesSpec = Field(default_factory=BonusesSpec)
    grades: list[GradeBandSpec] = Field(min_length=1, max_length=10)
    commendations: list[CommendationSpec] = Field(default_factory=list, max_length=20)
    sources: Sources = Field(default_factory=list)


class SchemeCreate(SchemeDocument):
    """A new draft scheme of your county (validated: invariant 43)."""

    model_config = ConfigDict(title="AssessmentScheme")


class SchemeUpdate(RequestModel):
    """Change a draft: the members sent replace the stored ones (a list is replaced whole)."""

    name: Name | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    subject_type: SubjectType | None = None
    year: Annotated[int, Field(ge=2000, le=2100)] | None = None
    total_points: Points | None = None
    rounding: RoundingSpec | None = None
    indicators: list[IndicatorSpec] | None = Field(None, min_length=1, max_length=50)
    vetoes: list[VetoSpec] | None = Field(None, max_length=50)
    bonuses: BonusesSpec | None = None
    grades: list[GradeBandSpec] | None = Field(None, min_length=1, max_length=10)
    commendations: list[CommendationSpec] | None = Field(None, max_length=20)
    sources: Sources | None = None


class SchemePublic(ResponseModel):
    """A scheme version: its document, its place in the scheme's versions, its status."""

    id: uuid.UUID
    lineage_id: uuid.UUID = Field(description="Shared by every version of the scheme")
    version: int = Field(description="1, 2, … within the lineage")
    revision: int = Field(description="Edits of this version (the ETag)")
    region_code: str = Field(description="The county the scheme belongs to")
    status: SchemeStatus
    template_code: str | None = Field(description="The template it was created from")
    supersedes: uuid.UUID | None = Field(description="The published version it was drafted from")
    superseded_by: uuid.UUID | None = Field(description="The newer version published after it")
    needs_peers: bool = Field(description="A rank indicator: subjects are scored among their peers")
    metrics: list[str] = Field(description="Every metric the scheme reads")
    name: str
    description: str | None
    subject_type: SubjectType
    year: int
    total_points: Points
    rounding: RoundingSpec
    indicators: list[IndicatorSpec]
    vetoes: list[VetoSpec]
    bonuses: BonusesSpec
    grades: list[GradeBandSpec]
    commendations: list[CommendationSpec]
    sources: list[str]
    created_at: datetime
    created_by: str
    updated_at: datetime
    published_at: datetime | None
    published_by: str | None
    locked_at: datetime | None
    locked_by: str | None


SchemePage = Page[SchemePublic]


class SchemeJsonSchema(ResponseModel):
    """The JSON Schema (draft 2020-12) of a scheme document, as `POST /schemes` validates it: besides the members
    below, `$schema`, `$id` and `$defs` (the definitions the `$ref`s point to)."""

    # `$`-members are carried as extra members: generated clients cannot name a property `$defs`.
    model_config = ConfigDict(extra="allow")

    title: str
    description: str
    type: Literal["object"]
    properties: dict[str, Any]
    required: list[str]
    additionalProperties: bool


# -- templates --------------------------------------------------------------------------------------------------
class TemplateSummary(ResponseModel):
    """A default template (§6.5 A-F)."""

    code: str = Field(examples=["B"])
    name: str
    subject_type: SubjectType
    total_points: Points
    description: str


class TemplatePublic(TemplateSummary):
    """A default template with its whole scheme document (create a draft from it: `POST /schemes?template=B`)."""

    scheme: SchemeDocument


TemplatePage = Page[TemplateSummary]


# -- the wire to the rules --------------------------------------------------------------------------------------
def _method(spec: Any) -> domain.Method:
    if isinstance(spec, BinaryMethod):
        return domain.Binary()
    if isinstance(spec, ThresholdMethod):
        return domain.Threshold(spec.comparison, spec.unit, spec.target, spec.target_metric)
    if isinstance(spec, LinearMethod):
        return domain.Linear(spec.unit, spec.target, spec.target_metric, spec.zero_value)
    if isinstance(spec, TieredMethod):
        return domain.Tiered(
            spec.comparison, spec.unit, tuple(domain.Tier(b.bound, b.points) for b in spec.bands)
        )
    if isinstance(spec, DeductionMethod):
        return domain.Deduction(spec.per_occurrence, spec.floor)
    if isinstance(spec, RankMethod):
        return domain.Rank(
            spec.peer_group, tuple(domain.RankBand(b.top_percent, b.points) for b in spec.bands)
        )
    if isinstance(spec, ManualMethod):
        return domain.Manual(spec.evidence_required)
    assert isinstance(spec, EmbeddedMethod)
    inner = spec.scheme
    return domain.Embedded(
        domain.EmbeddedScheme(inner.code, inner.name, inner.total_points, _indicators(inner.indicators))
    )


def _indicators(specs: Sequence[IndicatorSpec]) -> tuple[domain.Indicator, ...]:
    return tuple(
        domain.Indicator(
            code=s.code,
            name=s.name,
            max_points=s.max_points,
            metric=s.metric,
            method=_method(s.method) if s.method is not None else None,
            children=_indicators(s.children),
            name_en=s.name_en,
            sources=tuple(s.sources),
        )
        for s in specs
    )


def _condition(spec: ConditionSpec) -> domain.Condition:
    return domain.Condition(spec.metric, spec.op, spec.value)


def to_domain(doc: SchemeDocument) -> domain.Scheme:
    """The scheme the rules read, from its document."""
    return domain.Scheme(
        name=doc.name,
        subject_type=doc.subject_type,
        year=doc.year,
        total_points=doc.total_points,
        indicators=_indicators(doc.indicators),
        grades=tuple(domain.GradeBand(g.grade, g.min, g.max) for g in doc.grades),
        rounding=domain.Rounding(doc.rounding.places, doc.rounding.mode),
        vetoes=tuple(
            domain.Veto(v.code, v.name, _condition(v.condition), v.effect, v.reason, tuple(v.sources))
            for v in doc.vetoes
        ),
        bonuses=domain.Bonuses(
            doc.bonuses.cap,
            tuple(
                domain.BonusRule(b.code, b.name, _condition(b.condition), b.points) for b in doc.bonuses.rules
            ),
        ),
        commendations=tuple(
            domain.Commendation(c.code, c.name, c.subject_kind, c.min_grade, c.metric, c.min_fen, c.award_fen)
            for c in doc.commendations
        ),
        sources=tuple(doc.sources),
    )


def document_of(stored: dict[str, Any]) -> SchemeDocument:
    """A stored document (JSONB, validated when it was saved), read back."""
    return SchemeDocument.model_validate(stored)


_METHOD_TAGS = frozenset(m.value for m in MethodKind)


def untag_locations(errors: Sequence[Any]) -> list[Any]:
    """Validation errors with the tag of the `method` union taken out of their location: pydantic reports
    `("body", "indicators", 0, "method", "threshold", "unit")`, the document's pointer is
    `/indicators/0/method/unit`."""
    out = []
    for error in errors:
        loc = list(error.get("loc", ()))
        cleaned = [
            part
            for i, part in enumerate(loc)
            if not (i > 0 and loc[i - 1] == "method" and isinstance(part, str) and part in _METHOD_TAGS)
        ]
        out.append({**error, "loc": tuple(cleaned)})
    return out


def merged(stored: SchemeDocument, update: SchemeUpdate) -> SchemeDocument:
    """The stored document with the members the update sent replacing its own; 422 (`scheme_invalid`, each error
    with its pointer) when the result is not a document (a required member sent as null)."""
    raw = stored.model_dump(mode="json")
    raw.update(update.model_dump(mode="json", exclude_unset=True))
    try:
        return SchemeDocument.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"pointer": json_pointer(list(e["loc"])), "message": e["msg"], "code": e["type"]}
            for e in untag_locations(exc.errors(include_url=False, include_input=False))
        ]
        raise Invalid(
            "scheme_invalid", f"{errors[0]['pointer']}: {errors[0]['message']}", errors=errors
        ) from exc


#: The `$id` of the scheme format's JSON Schema.
SCHEMA_ID = "https://jingzhun.example/schemas/assessment-scheme.json"


def scheme_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scheme document, from the model `POST /schemes` validates with."""
    schema = SchemeCreate.model_json_schema(ref_template="#/$defs/{model}")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}

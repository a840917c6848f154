"""The assessment's export catalogues against the REST models they mirror (pure, no database): a field added to
`RunPublic` or `ResultPublic` and forgotten in the export (or the other way round) fails here."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from services.assessment.changes.domain import RecordType, check_reader
from services.assessment.exports import domain
from services.assessment.exports.schemas import DATASETS, FINDINGS, RESULTS, RUNS
from services.assessment.inspections.schemas import (
    EffectPublic,
    EvidencePublic,
    FindingPublic,
    RectificationPublic,
)
from services.assessment.runs.schemas import (
    BonusHitPublic,
    CommendationPublic,
    IndicatorResultPublic,
    ResultPublic,
    ResultSummary,
    RunPublic,
    VetoHitPublic,
)
from shared.errors import DomainError
from shared.exchange.export import dataset_of, parse_fields
from shared.exchange.feed import parse_types
from shared.roles import Role

_PROSE = {"explanation_zh", "explanation_en", "tie_rule_zh", "tie_rule_en"}
_NESTED = {"indicators", "vetoes", "bonus_hits", "commendations"}


def test_runs_are_run_public_in_its_order() -> None:
    assert domain.RUN_FIELDS == tuple(RunPublic.model_fields)
    assert RUNS.nested == ()


def test_results_are_result_public_without_prose_with_the_ranking_flags() -> None:
    rest = [f for f in ResultPublic.model_fields if f not in _PROSE | _NESTED]
    extra = {"id", "peer_group", "vetoed"}
    assert [f for f in domain.RESULT_FIELDS if f not in extra] == rest
    assert "vetoed" in ResultSummary.model_fields
    assert {n.name for n in RESULTS.nested} == _NESTED


@pytest.mark.parametrize(
    ("nested", "model"),
    [
        ("indicators", IndicatorResultPublic),
        ("vetoes", VetoHitPublic),
        ("bonus_hits", BonusHitPublic),
        ("commendations", CommendationPublic),
    ],
)
def test_nested_parts_are_their_models_without_prose(nested: str, model: type[BaseModel]) -> None:
    part = RESULTS.nested_named(nested)
    assert part is not None and part.many
    assert list(part.fields) == [f for f in model.model_fields if f not in _PROSE]


def test_fields_reach_nested_fields_in_catalogue_order() -> None:
    selection = parse_fields("indicators.points,score,indicators.code,subject_id", RESULTS)
    assert selection.top == ("subject_id", "score")
    assert [(n.name, fields) for n, fields in selection.nested] == [("indicators", ("code", "points"))]
    assert parse_fields("vetoes", RESULTS).nested[0][1] == domain.VETO_FIELDS
    with pytest.raises(DomainError) as caught:
        parse_fields("indicators.explanation_zh", RESULTS)
    assert caught.value.code == "unknown_export_field"
    with pytest.raises(DomainError) as missing:
        dataset_of("appeals", DATASETS)
    assert missing.value.code == "unknown_export_dataset"


def test_findings_are_finding_public_with_rectification_public_nested() -> None:
    nested = {n.name: n for n in FINDINGS.nested}
    assert list(FINDINGS.fields) == [f for f in FindingPublic.model_fields if f not in ("effect", "evidence")]
    assert set(FINDINGS.fields) | {"effect", "evidence"} == set(FindingPublic.model_fields)
    assert list(nested["effect"].fields) == list(EffectPublic.model_fields) and not nested["effect"].many
    assert list(nested["evidence"].fields) == list(EvidencePublic.model_fields)
    assert list(nested["rectifications"].fields) == [
        f for f in RectificationPublic.model_fields if f != "finding"
    ]


@pytest.mark.parametrize("role", list(Role))
def test_bulk_access_is_for_those_who_list_results(role: Role) -> None:
    allowed = role in (Role.county_admin, Role.township_officer, Role.province_system, Role.service)
    if allowed:
        domain.check_exporter(role, "results")
        check_reader(role)
        return
    with pytest.raises(DomainError) as export:
        domain.check_exporter(role, "results")
    with pytest.raises(DomainError) as feed:
        check_reader(role)
    assert (export.value.code, feed.value.code) == ("export_not_allowed", "feed_not_allowed")


def test_feed_types_and_result_ids() -> None:
    assert parse_types("result", RecordType) == frozenset({RecordType.result})
    assert parse_types(None, RecordType) == frozenset(RecordType)
    assert domain.result_id("r", "451025100201") == "r:451025100201"

"""The set-based scorer (runs/repository.py: SQL in PostgreSQL) gives exactly the reference scorer's results
(scoring/domain.py): 50 generated schemes (groups, embedded schemes, every method, vetoes, bonuses, rounding modes),
each over a handful of villages in two townships with generated figures and manual scores — every indicator's
points, figure, target and explanation, the raw total, bonus, score, grade, vetoes and what was not evaluated.
Then the worked example of DOMAIN.md §6.6, and re-scoring one snapshot twice. Real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.metrics.domain import CATALOGUE
from services.assessment.models import AssessmentScheme, Result, ResultIndicator, Run
from services.assessment.runs import domain as run_domain
from services.assessment.runs.repository import RunRepository, SnapshotRows
from services.assessment.schemes.domain import Embedded, Indicator, Manual, PeerGroup, Rank, Scheme
from services.assessment.schemes.schemas import to_domain
from services.assessment.schemes.service import flat_rows
from services.assessment.schemes.templates import TEMPLATES
from services.assessment.scoring.domain import (
    IndicatorScore,
    ManualScore,
    PeerPosition,
    SchemeResult,
    SubjectFacts,
    peer_positions,
    score,
)
from shared.context import Context
from shared.roles import NATIONAL_CODE, Principal, Role
from shared.settings import asyncpg_url
from tests.assessment.test_scoring_domain import WORKED_EXAMPLE, cents, schemes

D = Decimal
#: Villages of two townships (peer groups of rank indicators).
VILLAGES = ("451025100201", "451025100202", "451025100203", "451025101201", "451025101202")
TOWNSHIP = {v: v[:9] + "000" for v in VILLAGES}


@dataclass(frozen=True)
class Case:
    scheme: Scheme
    facts: dict[str, SubjectFacts]


def _walk(indicators: tuple[Indicator, ...]) -> list[Indicator]:
    out = []
    for ind in indicators:
        out.append(ind)
        out.extend(_walk(ind.children))
        if isinstance(ind.method, Embedded):
            out.extend(_walk(ind.method.scheme.indicators))
    return out


def _with_peers(scheme: Scheme, facts: dict[str, SubjectFacts]) -> dict[str, SubjectFacts]:
    """Each subject's positions among its peers for every rank indicator, as the reference scorer takes them."""
    out = {s: SubjectFacts(f.values, manual=f.manual) for s, f in facts.items()}
    for ind in _walk(scheme.indicators):
        if not isinstance(ind.method, Rank):
            continue
        assert ind.metric is not None
        direction = CATALOGUE[ind.metric].direction
        groups: dict[str, dict[str, Decimal | None]] = {}
        for subject, f in facts.items():
            key = TOWNSHIP[subject] if ind.method.peer_group is PeerGroup.township else subject[:6]
            groups.setdefault(key, {})[subject] = f.values.get(ind.metric)
        for values in groups.values():
            for subject, position in peer_positions(values, direction).items():
                current = out[subject]
                out[subject] = SubjectFacts(
                    current.values, manual=current.manual, peers={**current.peers, ind.code: position}
                )
    return out


@st.composite
def cases(draw: st.DrawFn) -> Case:
    scheme = draw(schemes())
    subjects = draw(st.lists(st.sampled_from(VILLAGES), min_size=1, max_size=5, unique=True))
    facts = {}
    for subject in subjects:
        values: dict[str, Decimal | None] = {}
        for code in sorted(scheme.metrics()):
            if draw(st.integers(0, 7)) == 0:
                continue  # no row at all
            values[code] = draw(st.one_of(st.none(), cents(-2000, 30000)))
        manual = {}
        for ind in _walk(scheme.indicators):
            if isinstance(ind.method, Manual) and draw(st.booleans()):
                manual[ind.code] = ManualScore(draw(cents(0, int(ind.max_points * 100))), "评分理由")
        facts[subject] = SubjectFacts(values, manual=manual)
    return Case(scheme, facts)


def generated(n: int = 50) -> list[Case]:
    found: list[Case] = []

    @settings(
        max_examples=n,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def collect(case: Case) -> None:
        found.append(case)

    collect()
    return found[-n:]


# -- running the SQL scorer -----------------------------------------------------------------------------------------
@pytest.fixture
async def session(db_urls: dict[str, str]) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(asyncpg_url(db_urls["assessment"]))
    try:
        async with AsyncSession(engine, expire_on_commit=False) as s:
            yield s
    finally:
        await engine.dispose()


NOW = datetime(2016, 1, 15, 2, 0, tzinfo=UTC)
PRINCIPAL = Principal(sub="test", role=Role.service, region=NATIONAL_CODE)


async def sql_score(session: AsyncSession, scheme: Scheme, facts: dict[str, SubjectFacts]) -> uuid.UUID:
    """The scheme stored as a run would find it, the facts as a frozen snapshot, scored in SQL; the run's id."""
    ctx = Context(principal=PRINCIPAL, session=session, now=NOW)
    scheme_id, run_id = uuid.uuid4(), uuid.uuid4()
    async with session.begin():
        row = AssessmentScheme(
            id=scheme_id,
            lineage_id=scheme_id,
            version=1,
            region_code="451025000000",
            subject_type=scheme.subject_type.value,
            year=scheme.year,
            name=scheme.name,
            status="published",
            total_points=scheme.total_points,
            rounding_places=scheme.rounding.places,
            rounding_mode=scheme.rounding.mode.value,
            bonus_cap=scheme.bonuses.cap,
            document={},
            revision=1,
            created_at=NOW,
            created_by="test",
            updated_at=NOW,
        )
        session.add(row)
        await session.flush()
        for rows in flat_rows(scheme_id, scheme):
            session.add_all(list(rows))
        run = Run(
            id=run_id,
            scheme_id=scheme_id,
            lineage_id=scheme_id,
            scheme_version=1,
            scheme_revision=1,
            scheme_document={},
            subject_type=scheme.subject_type.value,
            region_code="451025000000",
            county_code="451025000000",
            year=scheme.year,
            kind="annual",
            version=1,
            status="scoring",
            snapshot_run_id=run_id,
            absent_metrics=[],
            created_at=NOW,
            created_by="test",
            updated_at=NOW,
        )
        session.add(run)
        await session.flush()
        repo = RunRepository(ctx)
        await repo.store_snapshot(
            run_id,
            SnapshotRows(
                subjects=[(s, s, s, TOWNSHIP[s], None, None) for s in facts],
                values=[(s, m, v, "registry") for s, f in facts.items() for m, v in f.values.items()],
                manual=[
                    (s, code, entry.points, entry.reason)
                    for s, f in facts.items()
                    for code, entry in f.manual.items()
                ],
            ),
        )
        await repo.score(run, row)
    return run_id


async def stored(
    session: AsyncSession, run_id: uuid.UUID
) -> tuple[dict[str, Result], dict[str, list[ResultIndicator]]]:
    async with session.begin():
        results = (await session.exec(select(Result).where(Result.run_id == run_id))).all()
        rows = (await session.exec(select(ResultIndicator).where(ResultIndicator.run_id == run_id))).all()
    by_subject: dict[str, list[ResultIndicator]] = {}
    for r in rows:
        by_subject.setdefault(r.subject_id, []).append(r)
    return {r.subject_id: r for r in results}, by_subject


def _flat(scores: tuple[IndicatorScore, ...]) -> dict[str, IndicatorScore]:
    out: dict[str, IndicatorScore] = {}
    stack = list(scores)
    while stack:
        found = stack.pop()
        out[found.code] = found
        stack.extend(found.children)
    return out


def _inner(scheme: Scheme) -> dict[str, tuple[str, str]]:
    return {
        ind.code: (ind.method.scheme.code, ind.method.scheme.name)
        for ind in _walk(scheme.indicators)
        if isinstance(ind.method, Embedded)
    }


def assert_same(scheme: Scheme, expected: SchemeResult, result: Result, rows: list[ResultIndicator]) -> None:
    by_code = {r.indicator_code: r for r in rows}
    reference = _flat(expected.indicators)
    assert set(by_code) == set(reference)
    inner = _inner(scheme)
    domain_rows = {
        r.indicator_code: run_domain.IndicatorRow(
            code=r.indicator_code,
            parent_code=r.parent_code,
            level=r.level,
            position=r.position,
            kind=r.kind,
            method=r.method,
            metric=r.metric,
            max_points=r.max_points,
            value=r.value,
            target=r.target,
            exact=r.exact,
            points=r.points,
            rule=run_domain.IndicatorRule(r.rule),
            params=r.params,
        )
        for r in rows
    }
    for code, ref in reference.items():
        got = domain_rows[code]
        where: Any = (code, got.rule, ref)
        assert got.points == ref.points, where
        assert got.value == ref.value, where
        assert got.target == ref.target, where
        children = [c for c in domain_rows.values() if c.parent_code == code]
        zh, en = run_domain.explain_indicator(
            got,
            children,
            places=scheme.rounding.places,
            mode=scheme.rounding.mode.value,
            inner=inner.get(code),
        )
        assert (zh, en) == (ref.explanation_zh, ref.explanation_en), where
    assert result.raw_total == expected.raw_total
    assert result.bonus == expected.bonus
    assert result.score == expected.score
    assert result.grade == expected.grade.value and result.grade_by_score == expected.grade_by_score.value
    assert [v["code"] for v in result.vetoes] == [v.code for v in expected.vetoes]
    assert [D(v["value"]) for v in result.vetoes] == [v.value for v in expected.vetoes]
    assert [b["code"] for b in result.bonus_hits] == [b.code for b in expected.bonus_hits]
    assert list(result.not_evaluated) == list(expected.not_evaluated)
    assert result.promotion_blocked == expected.promotion_blocked
    assert [c["eligible"] for c in result.commendations] == [c.eligible for c in expected.commendations]
    zh, en = run_domain.explain_total(
        run_domain.ResultRow(
            raw_total=result.raw_total,
            bonus=result.bonus,
            score_by_points=result.score_by_points,
            score=result.score,
            grade=expected.grade,
            grade_by_score=expected.grade_by_score,
            vetoes=result.vetoes,
        )
    )
    assert (zh, en) == (expected.explanation_zh, expected.explanation_en)


CASES = generated()


async def test_the_sql_scorer_is_the_reference_scorer(session: AsyncSession) -> None:
    methods: set[str] = set()
    for case in CASES:
        facts = _with_peers(case.scheme, case.facts)
        run_id = await sql_score(session, case.scheme, facts)
        results, rows = await stored(session, run_id)
        assert set(results) == set(facts)
        for subject, subject_facts in facts.items():
            assert_same(case.scheme, score(case.scheme, subject_facts), results[subject], rows[subject])
            methods.update(r.rule for r in rows[subject])
    # The generated cases reach the common rules (which ones exactly depends on the catalogue the strategy draws
    # metrics from; the worked example below covers the template's).
    assert {"linear", "deduction", "group_sum"} <= methods and len(methods) >= 8, methods


async def test_the_worked_example_and_its_veto(session: AsyncSession) -> None:
    scheme = to_domain(TEMPLATES["B"].document)
    vetoed = {**WORKED_EXAMPLE, "split_households_confirmed": D(1)}
    facts = {"451025100201": SubjectFacts(WORKED_EXAMPLE), "451025100202": SubjectFacts(vetoed)}
    run_id = await sql_score(session, scheme, facts)
    results, rows = await stored(session, run_id)
    for subject, f in facts.items():
        assert_same(scheme, score(scheme, f), results[subject], rows[subject])
    assert results["451025100201"].score == D("86.76") and results["451025100201"].grade == "good"
    assert results["451025100202"].score == D("86.76") and results["451025100202"].grade == "unqualified"
    # Same township: the vetoed village ranks below (grade first, then score).
    assert (results["451025100201"].rank, results["451025100202"].rank) == (1, 2)


async def test_rescoring_a_snapshot_gives_identical_results(session: AsyncSession) -> None:
    case = CASES[7]
    facts = _with_peers(case.scheme, case.facts)
    first = await stored(session, await sql_score(session, case.scheme, facts))
    second = await stored(session, await sql_score(session, case.scheme, facts))
    strip = {"run_id"}
    assert {s: r.model_dump(exclude=strip) for s, r in first[0].items()} == {
        s: r.model_dump(exclude=strip) for s, r in second[0].items()
    }
    assert {s: sorted((r.model_dump(exclude=strip) for r in rs), key=str) for s, rs in first[1].items()} == {
        s: sorted((r.model_dump(exclude=strip) for r in rs), key=str) for s, rs in second[1].items()
    }


def test_peer_positions_match_competition_ranking() -> None:
    positions = peer_positions(
        {"a": D(10), "b": D(8), "c": D(8), "d": D(5), "e": None}, CATALOGUE["income_growth"].direction
    )
    assert positions == {
        "a": PeerPosition(1, 4),
        "b": PeerPosition(2, 4),
        "c": PeerPosition(2, 4),
        "d": PeerPosition(4, 4),
    }

"""Run use cases: ask for a run (and its job), read runs, results with their explanations, rankings and diffs,
publish, appeal, answer, correct; and the job's steps (start, freeze, score, fail).

Every request: the role (403) → the run in the caller's view (404 outside it) → the lifecycle rule (409) → the
rows and the audit entry; the route class commits. The job's steps run in the job's own transactions
(runs/jobs.py); each step commits once, so a step that did not finish left nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.assessment.metrics.domain import CATALOGUE, MetricSource, SubjectType
from services.assessment.models import Appeal, AssessmentScheme, ResultIndicator, Run, audit_event
from services.assessment.runs import domain
from services.assessment.runs.domain import AppealStatus, IndicatorRule, Reader, RunKind, RunStatus
from services.assessment.runs.repository import AppealRepository, DiffIndicator, RunRepository, SnapshotRows
from services.assessment.runs.schemas import (
    AppealAnswer,
    AppealCreate,
    AppealPage,
    AppealPublic,
    BonusHitPublic,
    CausePublic,
    CommendationPublic,
    IndicatorResultPublic,
    ResultPage,
    ResultPublic,
    ResultSummary,
    RunCreate,
    RunDiff,
    RunPage,
    RunPublic,
    SubjectMovePublic,
    VetoHitPublic,
)
from services.assessment.schemes.domain import Grade, MethodKind, SchemeStatus, VetoEffect
from services.assessment.schemes.repository import SchemeRepository
from services.assessment.schemes.schemas import document_of, to_domain
from services.assessment.sources import FigureSources, LocalFigures, RemoteRows
from shared.audit import AuditLog
from shared.context import Context
from shared.errors import NotAllowed, Refused
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound
from shared.roles import Role

__all__ = ["FreezePlan", "RunJobService", "RunService", "public"]

_AUDIT = AuditLog(audit_event)
_RUNS = "runs"
_RESULTS = "run_results"
_DIFF = "run_diff"
_APPEALS = "run_appeals"


# -- answers ----------------------------------------------------------------------------------------------------
def public(run: Run) -> RunPublic:
    return RunPublic(
        id=run.id,
        scheme_id=run.scheme_id,
        scheme_name=str(run.scheme_document.get("name", "")),
        scheme_version=run.scheme_version,
        lineage_id=run.lineage_id,
        subject_type=SubjectType(run.subject_type),
        region_code=run.region_code,
        county_code=run.county_code,
        year=run.year,
        kind=RunKind(run.kind),
        version=run.version,
        status=RunStatus(run.status),
        baseline_run_id=run.baseline_run_id,
        snapshot_run_id=run.snapshot_run_id,
        corrects_run_id=run.corrects_run_id,
        superseded_by=run.superseded_by,
        failure_code=run.failure_code,
        failure_reason=run.failure_reason,
        subjects=run.subjects,
        absent_metrics=list(run.absent_metrics or []),
        created_at=run.created_at,
        created_by=run.created_by,
        started_at=run.started_at,
        frozen_at=run.frozen_at,
        scored_at=run.scored_at,
        failed_at=run.failed_at,
        published_at=run.published_at,
        published_by=run.published_by,
    )


def _appeal_public(row: Appeal) -> AppealPublic:
    return AppealPublic(
        id=row.id,
        run_id=row.run_id,
        subject_id=row.subject_id,
        reason=row.reason,
        status=AppealStatus(row.status),
        filed_by=row.filed_by,
        filed_at=row.filed_at,
        answer=row.answer,
        answered_by=row.answered_by,
        answered_at=row.answered_at,
        correction_run_id=row.correction_run_id,
    )


@dataclass(frozen=True, slots=True)
class _Names:
    """Names from a run's frozen scheme document: indicators (with embedded schemes), vetoes, bonuses, rules."""

    indicators: Mapping[str, tuple[str, str | None]]
    inner: Mapping[str, tuple[str, str]]
    vetoes: Mapping[str, str]
    bonuses: Mapping[str, str]
    commendations: Mapping[str, Mapping[str, Any]]


def _names(document: Mapping[str, Any]) -> _Names:
    indicators: dict[str, tuple[str, str | None]] = {}
    inner: dict[str, tuple[str, str]] = {}

    def walk(items: Iterable[Mapping[str, Any]]) -> None:
        for item in items:
            indicators[item["code"]] = (item["name"], item.get("name_en"))
            walk(item.get("children") or ())
            method = item.get("method") or {}
            if method.get("method") == "embedded":
                scheme = method["scheme"]
                inner[item["code"]] = (scheme["code"], scheme["name"])
                walk(scheme.get("indicators") or ())

    walk(document.get("indicators") or ())
    bonuses = (document.get("bonuses") or {}).get("rules") or ()
    return _Names(
        indicators=indicators,
        inner=inner,
        vetoes={v["code"]: v["name"] for v in document.get("vetoes") or ()},
        bonuses={b["code"]: b["name"] for b in bonuses},
        commendations={c["code"]: c for c in document.get("commendations") or ()},
    )


def _label(metric: str | None) -> str | None:
    if metric is None:
        return None
    found = CATALOGUE.get(metric)
    return found.label if found else metric


def _indicator_row(row: ResultIndicator) -> domain.IndicatorRow:
    return domain.IndicatorRow(
        code=row.indicator_code,
        parent_code=row.parent_code,
        level=row.level,
        position=row.position,
        kind=row.kind,
        method=row.method,
        metric=row.metric,
        max_points=row.max_points,
        value=row.value,
        target=row.target,
        exact=row.exact,
        points=row.points,
        rule=IndicatorRule(row.rule),
        params=row.params or {},
    )


def _depth_first(rows: Sequence[domain.IndicatorRow]) -> list[domain.IndicatorRow]:
    children: dict[str | None, list[domain.IndicatorRow]] = {}
    for row in rows:
        children.setdefault(row.parent_code, []).append(row)
    out: list[domain.IndicatorRow] = []

    def walk(parent: str | None) -> None:
        for row in sorted(children.get(parent, ()), key=lambda r: r.position):
            out.append(row)
            walk(row.code)

    walk(None)
    return out


def explained(
    run: Run, rows: Sequence[ResultIndicator], *, places: int, mode: str
) -> list[IndicatorResultPublic]:
    """A result's indicators, depth first, each with its explanation (the reference scorer's words)."""
    names = _names(run.scheme_document)
    flat = [_indicator_row(r) for r in rows]
    by_parent: dict[str | None, list[domain.IndicatorRow]] = {}
    for row in flat:
        by_parent.setdefault(row.parent_code, []).append(row)
    out = []
    for row in _depth_first(flat):
        zh, en = domain.explain_indicator(
            row, by_parent.get(row.code, []), places=places, mode=mode, inner=names.inner.get(row.code)
        )
        name, name_en = names.indicators.get(row.code, (row.code, None))
        out.append(
            IndicatorResultPublic(
                code=row.code,
                name=name,
                name_en=name_en,
                parent_code=row.parent_code,
                level=row.level,
                kind="group" if row.kind == "group" else "leaf",
                method=None if row.method is None else MethodKind(row.method),
                metric=row.metric,
                metric_label=_label(row.metric),
                max_points=row.max_points,
                value=row.value,
                target=row.target,
                points=row.points,
                rule=row.rule,
                explanation_zh=zh,
                explanation_en=en,
            )
        )
    return out


def _rounding(run: Run) -> tuple[int, str]:
    rounding = run.scheme_document.get("rounding") or {}
    return int(rounding.get("places", 2)), str(rounding.get("mode", "half_up"))


# -- the job's plan ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FreezePlan:
    """What a run's job does: freeze (which metrics from which source) or score an existing snapshot."""

    run_id: uuid.UUID
    subject_type: str
    region_code: str
    year: int
    lineage_id: uuid.UUID
    freeze: bool
    remote: Mapping[MetricSource, frozenset[str]]
    local_metrics: frozenset[str]
    #: The scheme's manual indicators and their max points (invariant 44 is checked on the frozen scores).
    manual_indicators: Mapping[str, Decimal]


# -- requests ---------------------------------------------------------------------------------------------------
class RunService:
    def __init__(self, ctx: Context, sources: FigureSources | None = None) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = RunRepository(ctx)

    async def _audit(self, action: str, run: Run, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="assessment_run",
            record_id=run.id,
            region_code=run.county_code,
            detail={"version": run.version, "kind": run.kind, **detail},
        )

    def _reader(self) -> Reader:
        return domain.reader_for(self.principal)

    async def _run(self, run_id: uuid.UUID, reader: Reader | None = None, *, lock: bool = False) -> Run:
        run = await self.repo.get(run_id, reader or self._reader(), lock=lock)
        if run is None:
            raise NotFound(f"run {run_id} not found")
        return run

    async def _owned(self, run_id: uuid.UUID) -> Run:
        """The run, locked, for a county admin of its county (403 for others, 404 outside the county)."""
        county = domain.require_runner(self.principal)
        run = await self._run(run_id, lock=True)
        if run.county_code != county:
            raise NotFound(f"run {run_id} not found")
        return run

    async def _new_run(
        self,
        scheme: AssessmentScheme,
        *,
        region: str,
        county: str,
        year: int,
        kind: RunKind,
        baseline: Run | None = None,
        corrects: Run | None = None,
    ) -> Run:
        run_id = uuid.uuid4()
        now = self.ctx.now
        version = await self.repo.next_version(scheme.lineage_id, year, region, kind.value)
        run = Run(
            id=run_id,
            scheme_id=scheme.id,
            lineage_id=scheme.lineage_id,
            scheme_version=scheme.version,
            scheme_revision=scheme.revision,
            scheme_document=scheme.document,
            subject_type=scheme.subject_type,
            region_code=region,
            county_code=county,
            year=year,
            kind=kind.value,
            version=version,
            status=RunStatus.queued.value,
            baseline_run_id=baseline.id if baseline else None,
            snapshot_run_id=baseline.snapshot_run_id if baseline else run_id,
            corrects_run_id=corrects.id if corrects else None,
            absent_metrics=[],
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
        )
        await self.repo.add(run)
        return run

    async def create(self, payload: RunCreate) -> RunPublic:
        """A county admin asks for a run in their county: the run (queued) and its job, in one transaction."""
        county = domain.require_runner(self.principal)
        scheme = await SchemeRepository(self.ctx).get(payload.scheme_id)
        if scheme is None or scheme.region_code != county:
            raise NotFound(f"scheme {payload.scheme_id} not found")
        subject_type = SubjectType(scheme.subject_type)
        domain.check_run_request(
            kind=payload.kind,
            county=county,
            region=payload.region,
            year=payload.year,
            scheme_status=SchemeStatus(scheme.status),
            scheme_year=scheme.year,
            subject_type=subject_type,
            has_baseline=payload.baseline_run_id is not None,
        )
        baseline: Run | None = None
        region = payload.region
        year = payload.year
        if payload.baseline_run_id is not None:
            baseline = await self.repo.get(payload.baseline_run_id, self._reader())
            if baseline is None or baseline.county_code != county:
                raise NotFound(f"run {payload.baseline_run_id} not found")
            domain.check_what_if(
                baseline_kind=RunKind(baseline.kind),
                baseline_status=RunStatus(baseline.status),
                baseline_subject=baseline.subject_type,
                subject_type=subject_type,
            )
            # A what-if scores the baseline's subjects: its region and year.
            region, year = baseline.region_code, baseline.year
        run = await self._new_run(
            scheme, region=region, county=county, year=year, kind=payload.kind, baseline=baseline
        )
        await self._audit("run.create", run, scheme_id=str(scheme.id), region=region, year=year)
        return public(run)

    async def get(self, run_id: uuid.UUID) -> RunPublic:
        return public(await self._run(run_id))

    async def page(
        self,
        *,
        scheme_id: uuid.UUID | None,
        year: int | None,
        kind: RunKind | None,
        status: RunStatus | None,
        cursor: str | None,
        limit: int,
    ) -> RunPage:
        reader = self._reader()
        after = None
        if cursor is not None:
            created_at, last_id = decode_cursor(cursor, _RUNS, (datetime, uuid.UUID))
            after = (created_at, last_id)
        rows = await self.repo.page(
            reader,
            scheme_id=scheme_id,
            year=year,
            kind=None if kind is None else kind.value,
            status=None if status is None else status.value,
            after=after,  # type: ignore[arg-type]  # the codec typed each value
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return RunPage(
            items=[public(r) for r in rows],
            next_cursor=encode_cursor(_RUNS, last.created_at, last.id) if more and last else None,
        )

    async def publish(self, run_id: uuid.UUID) -> RunPublic:
        """Publish a scored annual run: its results are locked (invariant 46; the database refuses any change)."""
        run = await self._owned(run_id)
        domain.check_publishable(RunKind(run.kind), RunStatus(run.status))
        updated = await self.repo.update(
            run.id,
            {
                "status": RunStatus.published.value,
                "published_at": self.ctx.now,
                "published_by": self.principal.sub,
            },
        )
        superseded = await self._supersede(updated)
        await self._audit("run.publish", updated, superseded=[str(s) for s in superseded])
        return public(updated)

    async def _supersede(self, newer: Run) -> list[uuid.UUID]:
        """Older published versions of the series (and the run a correction corrects) are superseded by it."""
        out = []
        older = await self.repo.previous(newer)
        while older is not None:
            if older.status == RunStatus.published.value and older.superseded_by is None:
                await self.repo.update(older.id, {"superseded_by": newer.id})
                out.append(older.id)
            older = await self.repo.previous(older)
        return out

    async def correct(self, run_id: uuid.UUID) -> RunPublic:
        """A correction after an upheld appeal: a new version of the published run, frozen anew; never an edit."""
        run = await self._owned(run_id)
        upheld = await self.repo.upheld_uncorrected(run.id)
        domain.check_correctable(RunStatus(run.status), len(upheld), run.superseded_by is not None)
        scheme = await self.repo.scheme(run.scheme_id)
        assert scheme is not None
        correction = await self._new_run(
            scheme,
            region=run.region_code,
            county=run.county_code,
            year=run.year,
            kind=RunKind(run.kind),
            corrects=run,
        )
        await self.repo.link_corrections([a.id for a in upheld], correction.id)
        await self._audit(
            "run.correct", correction, corrects=str(run.id), appeals=[str(a.id) for a in upheld]
        )
        return public(correction)

    # -- results --------------------------------------------------------------------------------------------
    async def _scored(self, run_id: uuid.UUID, reader: Reader) -> Run:
        run = await self._run(run_id, reader)
        if RunStatus(run.status) not in domain.SCORED:
            raise Refused(
                "run_not_scored", f"the run is {run.status}: it has no results yet", status=run.status
            )
        return run

    async def results(
        self, run_id: uuid.UUID, *, peer_group: str | None, cursor: str | None, limit: int
    ) -> ResultPage:
        """The run's results in the caller's view, ranked within each peer group."""
        reader = self._reader()
        if not reader.lists_results:
            raise NotAllowed(
                "own_result_only", "you read your own result: GET /runs/{run_id}/results/{subject_id}"
            )
        run = await self._scored(run_id, reader)
        after: tuple[str, int, str] | None = None
        if cursor is not None:
            group, rank, subject = decode_cursor(cursor, _RESULTS, (str, int, str))
            after = (str(group), int(str(rank)), str(subject))
        rows = await self.repo.results_page(run, reader, peer_group=peer_group, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return ResultPage(
            items=[
                ResultSummary(
                    subject_id=r.subject_id,
                    name=r.name,
                    region_code=r.region_code,
                    parent_code=r.parent_code,
                    parent_name=r.parent_name,
                    score=r.score,
                    grade=Grade(r.grade),
                    rank=r.rank,
                    peers=r.peers,
                    vetoed=r.vetoed,
                )
                for r in rows
            ],
            next_cursor=encode_cursor(_RESULTS, last.peer_group, last.rank, last.subject_id)
            if more and last
            else None,
        )

    async def _subject_run(self, run_id: uuid.UUID, subject_id: str, sources: FigureSources | None) -> Run:
        """The scored run, with the subject in the caller's view (a cadre: their own cadre id, by the registry)."""
        reader = self._reader()
        run = await self._scored(run_id, reader)
        subject = await self.repo.subject(run, subject_id, reader)
        if subject is None:
            raise NotFound(f"no result of {subject_id} in run {run_id}")
        if reader.cadre:
            if run.subject_type != SubjectType.cadre.value or sources is None:
                raise NotFound(f"no result of {subject_id} in run {run_id}")
            login = await sources.cadres.login_of(subject_id, request_id=self.ctx.request_id)
            if login != self.principal.sub:
                raise NotFound(f"no result of {subject_id} in run {run_id}")
        return run

    async def result(self, run_id: uuid.UUID, subject_id: str, sources: FigureSources | None) -> ResultPublic:
        """One subject's result with its whole explanation."""
        run = await self._subject_run(run_id, subject_id, sources)
        reader = self._reader()
        subject = await self.repo.subject(run, subject_id, reader)
        result = await self.repo.result(run.id, subject_id)
        assert subject is not None
        if result is None:
            raise NotFound(f"no result of {subject_id} in run {run_id}")
        places, mode = _rounding(run)
        names = _names(run.scheme_document)
        rows = await self.repo.indicators(run.id, subject_id)
        grade, by_score = Grade(result.grade), Grade(result.grade_by_score)
        zh, en = domain.explain_total(
            domain.ResultRow(
                raw_total=result.raw_total,
                bonus=result.bonus,
                score_by_points=result.score_by_points,
                score=result.score,
                grade=grade,
                grade_by_score=by_score,
                vetoes=result.vetoes,
            )
        )
        vetoes = [
            VetoHitPublic(
                code=v["code"],
                name=names.vetoes.get(v["code"], v["code"]),
                effect=VetoEffect(v["effect"]),
                reason=v.get("reason") or "",
                metric=v["metric"],
                metric_label=_label(v["metric"]) or v["metric"],
                value=Decimal(v["value"]),
            )
            for v in result.vetoes
        ]
        if vetoes:
            zh += "。否决原因:" + ";".join(v.reason for v in vetoes)
            en += ". Veto: " + "; ".join(f"{v.code} ({v.effect.value})" for v in vetoes)
        commendations = []
        for outcome in result.commendations:
            code = str(outcome["code"])
            rule = names.commendations.get(code, {})
            czh, cen = domain.explain_commendation(outcome, rule, grade)
            commendations.append(
                CommendationPublic(
                    code=code,
                    name=str(rule.get("name", code)),
                    eligible=bool(outcome["eligible"]),
                    award_fen=outcome.get("award_fen"),
                    explanation_zh=czh,
                    explanation_en=cen,
                )
            )
        return ResultPublic(
            run_id=run.id,
            run_status=RunStatus(run.status),
            kind=RunKind(run.kind),
            year=run.year,
            subject_type=SubjectType(run.subject_type),
            subject_id=subject.subject_id,
            name=subject.name,
            region_code=subject.region_code,
            parent_code=subject.parent_code,
            parent_name=subject.parent_name,
            raw_total=result.raw_total,
            bonus=result.bonus,
            score_by_points=result.score_by_points,
            score=result.score,
            grade=grade,
            grade_by_score=by_score,
            rank=result.rank,
            peers=result.peers,
            tie_rule_zh=domain.TIE_RULE_ZH,
            tie_rule_en=domain.TIE_RULE_EN,
            vetoes=vetoes,
            bonus_hits=[
                BonusHitPublic(
                    code=b["code"], name=names.bonuses.get(b["code"], b["code"]), points=Decimal(b["points"])
                )
                for b in result.bonus_hits
            ],
            not_evaluated=list(result.not_evaluated),
            promotion_blocked=result.promotion_blocked,
            commendations=commendations,
            indicators=explained(run, rows, places=places, mode=mode),
            explanation_zh=zh,
            explanation_en=en,
        )

    # -- diffs ----------------------------------------------------------------------------------------------
    async def diff(
        self, run_id: uuid.UUID, against: uuid.UUID | None, *, cursor: str | None, limit: int
    ) -> RunDiff:
        """Subjects whose score, grade or rank moved between `against` (default: the previous version of the run,
        or a what-if's baseline, or the run a correction corrects) and this run, and which indicator and metric
        moved them."""
        reader = self._reader()
        if not reader.lists_results:
            raise NotAllowed(
                "own_result_only", "diffs list subjects: your own result is at /results/{subject_id}"
            )
        run = await self._scored(run_id, reader)
        if against is None:
            other_id = run.baseline_run_id or run.corrects_run_id
            other = await self.repo.get(other_id, reader) if other_id else await self.repo.previous(run)
            if other is None:
                raise Refused(
                    "no_previous_run", "the run has no earlier version to compare with: name ?against="
                )
        else:
            other = await self._scored(against, reader)
        if RunStatus(other.status) not in domain.SCORED:
            raise Refused("run_not_scored", f"run {other.id} has no results", status=other.status)
        if other.subject_type != run.subject_type:
            raise Refused("diff_subject_mismatch", "the two runs assess different subject types")
        after = None
        if cursor is not None:
            (last_subject,) = decode_cursor(cursor, _DIFF, (str,))
            after = str(last_subject)
        moved = await self.repo.diff(run, other, reader, after=after, limit=limit + 1)
        more = len(moved) > limit
        moved = moved[:limit]
        causes = await self.repo.diff_indicators(run, other, [m.subject_id for m in moved])
        by_subject: dict[str, list[DiffIndicator]] = {}
        for cause in causes:
            by_subject.setdefault(cause.subject_id, []).append(cause)
        names = _names(run.scheme_document)
        other_names = _names(other.scheme_document)
        veto_pairs = sorted(
            {(m.subject_id, v["metric"]) for m in moved for v in [*m.vetoes_before, *m.vetoes_after]}
        )
        before_values = await self.repo.metric_values(other.snapshot_run_id, veto_pairs)
        after_values = await self.repo.metric_values(run.snapshot_run_id, veto_pairs)
        items = []
        for m in moved:
            found = []
            for c in by_subject.get(m.subject_id, []):
                name = names.indicators.get(c.indicator_code) or other_names.indicators.get(c.indicator_code)
                change = None
                if c.points_before is not None and c.points_after is not None:
                    change = c.points_after - c.points_before
                found.append(
                    CausePublic(
                        kind="indicator",
                        code=c.indicator_code,
                        name=name[0] if name else c.indicator_code,
                        metric=c.metric,
                        metric_label=_label(c.metric),
                        points_before=c.points_before,
                        points_after=c.points_after,
                        points_change=change,
                        value_before=c.value_before,
                        value_after=c.value_after,
                    )
                )
            codes_before = {v["code"]: v for v in m.vetoes_before}
            codes_after = {v["code"]: v for v in m.vetoes_after}
            for code in sorted(set(codes_before) ^ set(codes_after)):
                hit = codes_after.get(code) or codes_before[code]
                metric = hit["metric"]
                found.append(
                    CausePublic(
                        kind="veto",
                        code=code,
                        name=names.vetoes.get(code) or other_names.vetoes.get(code) or code,
                        metric=metric,
                        metric_label=_label(metric),
                        points_before=None,
                        points_after=None,
                        points_change=None,
                        value_before=before_values.get((m.subject_id, metric)),
                        value_after=after_values.get((m.subject_id, metric)),
                    )
                )
            score_change = None
            if m.score_before is not None and m.score_after is not None:
                score_change = m.score_after - m.score_before
            rank_change = None
            if m.rank_before is not None and m.rank_after is not None:
                rank_change = m.rank_before - m.rank_after
            items.append(
                SubjectMovePublic(
                    subject_id=m.subject_id,
                    name=m.name,
                    score_before=m.score_before,
                    score_after=m.score_after,
                    score_change=score_change,
                    grade_before=None if m.grade_before is None else Grade(m.grade_before),
                    grade_after=None if m.grade_after is None else Grade(m.grade_after),
                    rank_before=m.rank_before,
                    rank_after=m.rank_after,
                    rank_change=rank_change,
                    causes=found,
                )
            )
        last = moved[-1] if moved else None
        return RunDiff(
            run_id=run.id,
            against_run_id=other.id,
            items=items,
            next_cursor=encode_cursor(_DIFF, last.subject_id) if more and last else None,
        )

    # -- appeals --------------------------------------------------------------------------------------------
    async def appeal(
        self, run_id: uuid.UUID, subject_id: str, payload: AppealCreate, sources: FigureSources | None
    ) -> AppealPublic:
        """The subject (a cadre their own result, a village officer their village's) or their county appeals
        against a published result."""
        role = self.principal.role
        if role not in (Role.cadre, Role.village_officer, Role.county_admin):
            raise NotAllowed(
                "appellant_required",
                "the assessed subject or its county appeals against a result",
                role=role.value,
            )
        run = await self._subject_run(run_id, subject_id, sources)
        domain.check_appealable(RunKind(run.kind), RunStatus(run.status))
        subject = await self.repo.subject(run, subject_id, self._reader())
        assert subject is not None
        row = Appeal(
            id=uuid.uuid4(),
            run_id=run.id,
            subject_id=subject_id,
            region_code=subject.region_code,
            reason=payload.reason,
            status=AppealStatus.open.value,
            filed_by=self.principal.sub,
            filed_role=role.value,
            filed_at=self.ctx.now,
        )
        self.ctx.session.add(row)
        await self.ctx.session.flush()
        await _AUDIT.record(
            self.ctx,
            "appeal.file",
            record_type="assessment_appeal",
            record_id=row.id,
            region_code=run.county_code,
            reason=payload.reason,
            detail={"run_id": str(run.id), "subject_id": subject_id},
        )
        return _appeal_public(row)

    async def appeals(self, run_id: uuid.UUID, *, cursor: str | None, limit: int) -> AppealPage:
        """The appeals of a run (county admins; township officers: their township's)."""
        reader = self._reader()
        if not reader.lists_results or self.principal.role not in (Role.county_admin, Role.township_officer):
            raise NotAllowed("appeal_reader_required", "county and township officers list a run's appeals")
        run = await self._run(run_id, reader)
        after = None
        if cursor is not None:
            filed_at, last_id = decode_cursor(cursor, _APPEALS, (datetime, uuid.UUID))
            after = (filed_at, last_id)
        rows = await AppealRepository(self.ctx).page(run.id, reader.subject_prefix, after, limit + 1)  # type: ignore[arg-type]
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return AppealPage(
            items=[_appeal_public(r) for r in rows],
            next_cursor=encode_cursor(_APPEALS, last.filed_at, last.id) if more and last else None,
        )

    async def get_appeal(self, appeal_id: uuid.UUID) -> AppealPublic:
        """An appeal: its appellant, or the officers who see its run and subject."""
        row = await AppealRepository(self.ctx).get(appeal_id)
        if row is None or not await self._sees_appeal(row):
            raise NotFound(f"appeal {appeal_id} not found")
        return _appeal_public(row)

    async def _sees_appeal(self, row: Appeal) -> bool:
        if row.filed_by == self.principal.sub:
            return True
        reader = self._reader()
        if self.principal.role not in (Role.county_admin, Role.township_officer, Role.province_system):
            return False
        run = await self.repo.get(row.run_id, reader)
        return run is not None and row.region_code.startswith(reader.subject_prefix)

    async def answer(self, appeal_id: uuid.UUID, payload: AppealAnswer) -> AppealPublic:
        """The county answers an appeal: upheld (a correction follows: POST /runs/{id}/corrections) or rejected."""
        reads = AppealRepository(self.ctx)
        row = await reads.get(appeal_id, lock=True)
        if row is None:
            raise NotFound(f"appeal {appeal_id} not found")
        run = await self.repo.get(row.run_id)
        assert run is not None
        if self.principal.role is Role.county_admin and run.county_code != self.principal.region:
            raise NotFound(f"appeal {appeal_id} not found")
        domain.require_answerer(self.principal, run.county_code)
        domain.check_answerable(AppealStatus(row.status))
        updated = await reads.answer(
            row.id, payload.decision.value, payload.answer, self.principal.sub, self.ctx.now
        )
        await _AUDIT.record(
            self.ctx,
            "appeal.answer",
            record_type="assessment_appeal",
            record_id=row.id,
            region_code=run.county_code,
            reason=payload.answer,
            detail={"decision": payload.decision.value, "run_id": str(run.id)},
        )
        return _appeal_public(updated)


# -- the job's steps ---------------------------------------------------------------------------------------------
class RunJobService:
    """The steps of a run's job, each in its own transaction (runs/jobs.py opens them)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = RunRepository(ctx)

    async def _audit(self, action: str, run: Run, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="assessment_run",
            record_id=run.id,
            region_code=run.county_code,
            detail={"version": run.version, **detail},
        )

    async def start(self, run_id: uuid.UUID) -> FreezePlan | None:
        """Take the run (locked): queued → freezing (or scoring, for a what-if); None when there is nothing to do
        (a finished run, a job delivered twice). A run interrupted mid-step resumes that step."""
        run = await self.repo.get(run_id, lock=True)
        if run is None:
            return None
        status = RunStatus(run.status)
        if status in (RunStatus.scored, RunStatus.published, RunStatus.failed):
            return None
        scheme = await self.repo.scheme(run.scheme_id)
        assert scheme is not None
        if scheme.status == SchemeStatus.draft.value and scheme.revision != run.scheme_revision:
            await self.fail(
                run_id, "scheme_changed", "the draft scheme was edited after the run was asked for"
            )
            return None
        freeze = run.snapshot_run_id == run.id and status in (RunStatus.queued, RunStatus.freezing)
        target = RunStatus.freezing if freeze else RunStatus.scoring
        if status is not target:
            run = await self.repo.update(run.id, {"status": target.value, "started_at": self.ctx.now})
        scheme_rules = to_domain(document_of(scheme.document))
        by_source = domain.metrics_by_source(scheme_rules.metrics())
        manual = {
            leaf.code: leaf.max_points
            for leaf in scheme_rules.leaves()
            if leaf.method is not None and leaf.method.kind is MethodKind.manual
        }
        return FreezePlan(
            run_id=run.id,
            subject_type=run.subject_type,
            region_code=run.region_code,
            year=run.year,
            lineage_id=run.lineage_id,
            freeze=freeze,
            remote={
                s: m for s, m in by_source.items() if s in (MetricSource.registry, MetricSource.planning)
            },
            local_metrics=by_source.get(MetricSource.inspection, frozenset())
            | by_source.get(MetricSource.manual, frozenset()),
            manual_indicators=manual,
        )

    async def store_snapshot(
        self, plan: FreezePlan, registry: RemoteRows, planning: RemoteRows | None, local: LocalFigures
    ) -> None:
        """Write the whole snapshot (subjects from the registry, figures from every source, manual scores) and
        move the run to scoring — or fail it when a manual score breaks invariant 44."""
        run = await self.repo.get(plan.run_id, lock=True)
        assert run is not None
        subject_type = SubjectType(run.subject_type)
        subjects = [
            (
                s.id,
                s.name,
                domain.subject_region(subject_type, s.id, s.parent_code, run.region_code),
                s.parent_code,
                s.parent_name,
                s.kind,
            )
            for s in registry.subjects
        ]
        ids = [s[0] for s in subjects]
        known = set(ids)
        values: list[tuple[str, str, Decimal | None, str]] = []
        for source, rows in ((MetricSource.registry, registry), (MetricSource.planning, planning)):
            if rows is None:
                continue
            wanted = plan.remote.get(source, frozenset())
            for subject_id, figures in rows.figures.items():
                if subject_id not in known:
                    continue
                values.extend(
                    (subject_id, code, figures[code], source.value)
                    for code in sorted(wanted)
                    if code in figures
                )
        session = self.ctx.session
        if plan.local_metrics:
            for figure in await local.figures(
                session,
                subject_type=run.subject_type,
                region_code=run.region_code,
                year=run.year,
                metrics=plan.local_metrics,
                subjects=ids,
            ):
                if figure.subject_id in known and figure.metric in plan.local_metrics:
                    origin = CATALOGUE[figure.metric].source.value
                    values.append((figure.subject_id, figure.metric, figure.value, origin))
        manual: list[tuple[str, str, Decimal, str]] = []
        if plan.manual_indicators:
            for entry in await local.manual_scores(
                session,
                subject_type=run.subject_type,
                region_code=run.region_code,
                year=run.year,
                lineage_id=run.lineage_id,
                indicators=frozenset(plan.manual_indicators),
                subjects=ids,
            ):
                if entry.subject_id not in known or entry.indicator_code not in plan.manual_indicators:
                    continue
                domain.check_manual_score(
                    entry.indicator_code,
                    entry.points,
                    entry.reason,
                    plan.manual_indicators[entry.indicator_code],
                )
                manual.append((entry.subject_id, entry.indicator_code, entry.points, entry.reason))
        await self.repo.store_snapshot(run.id, SnapshotRows(subjects=subjects, values=values, manual=manual))
        await self.repo.update(
            run.id, {"status": RunStatus.scoring.value, "frozen_at": self.ctx.now, "subjects": len(subjects)}
        )
        await self._audit("run.freeze", run, subjects=len(subjects), figures=len(values), manual=len(manual))

    async def score(self, run_id: uuid.UUID) -> None:
        """Score the snapshot in PostgreSQL and mark the run scored (one transaction)."""
        run = await self.repo.get(run_id, lock=True)
        assert run is not None and run.status == RunStatus.scoring.value, run
        scheme = await self.repo.scheme(run.scheme_id)
        assert scheme is not None
        scheme_rules = to_domain(document_of(scheme.document))
        await self.repo.score(run, scheme)
        absent = await self.repo.absent_metrics(run.snapshot_run_id, scheme_rules.metrics())
        subjects = await self.repo.subject_count(run.snapshot_run_id)
        updated = await self.repo.update(
            run.id,
            {
                "status": RunStatus.scored.value,
                "scored_at": self.ctx.now,
                "absent_metrics": absent,
                "subjects": subjects,
            },
        )
        await self._audit("run.score", updated, subjects=subjects, absent_metrics=absent)

    async def fail(self, run_id: uuid.UUID, code: str, reason: str) -> None:
        """The run failed, visibly: its code and reason; nothing of a half-done step was kept."""
        run = await self.repo.get(run_id, lock=True)
        if run is None or run.status in (RunStatus.published.value, RunStatus.scored.value):
            return
        updated = await self.repo.update(
            run.id,
            {
                "status": RunStatus.failed.value,
                "failed_at": self.ctx.now,
                "failure_code": code[:48],
                "failure_reason": reason[:2000],
            },
        )
        await self._audit("run.fail", updated, code=code, reason=reason[:500])

"""Every SQL statement of the assessment's exports, and the records' JSON the change feed reuses: one statement per
dataset, the rows built as JSON by PostgreSQL (only the selected fields), never once per row in Python.

- `runs`: `RunPublic` of every run in the reader's view (runs/domain.py `Reader`: the county prefix, published
  only for the province and services), by creation;
- `results`: every result of the runs in that view whose subject lies under the reader's subject prefix,
  `ResultPublic`'s fields with `indicators` (depth first, in the frozen scheme's order: `jsonb_path_query` walks
  the document in pre-order, the order of `runs.service.explained`), `vetoes`, `bonus_hits` and
  `commendations` nested; names come from the run's frozen scheme document, metric labels from the metric
  catalogue (a parameter), as the REST result reads them. By run, then peer group and rank;
- `findings`: `FindingPublic` of every finding under the reader's region prefix, its effect, its evidence's
  metadata and its rectifications (`RectificationPublic` without its `finding`: owner, history, evidence; overdue
  as of a date parameter, `inspections.domain.is_overdue`) nested. By region, date found and id.

Numbers are written as the API writes them: points and figures `trim_scale(x)::text` (`plain_decimal`: "15",
"6.61"), times through `rfc3339_sql`.

An export runs in one REPEATABLE READ, READ ONLY transaction on the read pool (`ExportRepository.snapshot`): the
feed cursor first (it fixes the snapshot), then the rows through a server-side cursor, `CHUNK` at a time, the next
chunk fetched while the previous one is written: memory stays flat whatever the county's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.assessment.exports.domain import ExportDataset
from services.assessment.metrics.domain import CATALOGUE
from shared.exchange.export import FieldSelection
from shared.sql_json import rfc3339_sql

__all__ = [
    "FINDINGS_FROM",
    "ExportRepository",
    "Scope",
    "finding_object",
    "labels_json",
    "result_object",
    "results_from",
    "run_object",
    "runs_visible",
]

_t = rfc3339_sql


def _n(expr: str) -> str:
    """A decimal as the API writes it (no trailing zeros, never an exponent); NULL stays null."""
    return f"trim_scale({expr})::text"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a reader sees (runs/domain.py `Reader`): runs of counties under `county_prefix` (published only for
    the province and services), results of subjects under `subject_prefix`. Prefixes without the `%`."""

    county_prefix: str
    subject_prefix: str
    published_only: bool
    #: The date rectifications are judged overdue on (China).
    today: date


#: The metric catalogue's labels (zh-CN) by code: `metric_label` of indicators and vetoes (a statement parameter).
@functools.cache
def labels_json() -> str:
    return json.dumps({code: metric.label for code, metric in CATALOGUE.items()}, ensure_ascii=False)


# -- runs ---------------------------------------------------------------------------------------------------------
#: `RunPublic` of the run `x` (assessment_run).
RUN_SQL: dict[str, str] = {
    "id": "x.id",
    "scheme_id": "x.scheme_id",
    "scheme_name": "coalesce(x.scheme_document->>'name', '')",
    "scheme_version": "x.scheme_version",
    "lineage_id": "x.lineage_id",
    "subject_type": "x.subject_type",
    "region_code": "x.region_code",
    "county_code": "x.county_code",
    "year": "x.year",
    "kind": "x.kind",
    "version": "x.version",
    "status": "x.status",
    "baseline_run_id": "x.baseline_run_id",
    "snapshot_run_id": "x.snapshot_run_id",
    "corrects_run_id": "x.corrects_run_id",
    "superseded_by": "x.superseded_by",
    "failure_code": "x.failure_code",
    "failure_reason": "x.failure_reason",
    "subjects": "x.subjects",
    "absent_metrics": "coalesce(x.absent_metrics, '[]'::jsonb)",
    "created_at": _t("x.created_at"),
    "created_by": "x.created_by",
    "started_at": _t("x.started_at"),
    "frozen_at": _t("x.frozen_at"),
    "scored_at": _t("x.scored_at"),
    "failed_at": _t("x.failed_at"),
    "published_at": _t("x.published_at"),
    "published_by": "x.published_by",
}


def _object(pairs: list[tuple[str, str]]) -> str:
    """`json_build_object` of (key, SQL) pairs (keys are the catalogues' constants; at most 50: 100 arguments)."""
    assert len(pairs) <= 50, pairs
    return "json_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


def run_object(fields: tuple[str, ...]) -> str:
    """The run `x` as JSON with `fields` (RunPublic's names)."""
    return _object([(f, RUN_SQL[f]) for f in fields])


# -- results ------------------------------------------------------------------------------------------------------
#: A result `res` (assessment_result) of the run `x` (with its `names`, `runs_named`), its subject `s`.
RESULT_SQL: dict[str, str] = {
    "id": "x.id::text || ':' || res.subject_id",
    "run_id": "x.id",
    "run_status": "x.status",
    "kind": "x.kind",
    "year": "x.year",
    "subject_type": "x.subject_type",
    "subject_id": "res.subject_id",
    "name": "s.name",
    "region_code": "s.region_code",
    "parent_code": "s.parent_code",
    "parent_name": "s.parent_name",
    "peer_group": "res.peer_group",
    "raw_total": _n("res.raw_total"),
    "bonus": _n("res.bonus"),
    "score_by_points": _n("res.score_by_points"),
    "score": _n("res.score"),
    "grade": "res.grade",
    "grade_by_score": "res.grade_by_score",
    "rank": "res.rank",
    "peers": "res.peers",
    "vetoed": "jsonb_array_length(res.vetoes) > 0",
    "not_evaluated": "res.not_evaluated",
    "promotion_blocked": "res.promotion_blocked",
}

#: A metric's label: from the labels of the run `x` (the parameter, cast once per run), else its code.
_LABEL = "coalesce(x.labels ->> {m}, {m})"

#: An indicator row `i` of the result, `nm` its names in the frozen document (`[name, name_en, order]`).
INDICATOR_SQL: dict[str, str] = {
    "code": "i.indicator_code",
    "name": "coalesce(nm->>0, i.indicator_code)",
    "name_en": "nm->1",
    "parent_code": "i.parent_code",
    "level": "i.level",
    "kind": "CASE WHEN i.kind = 'group' THEN 'group' ELSE 'leaf' END",
    "method": "i.method",
    "metric": "i.metric",
    "metric_label": "CASE WHEN i.metric IS NOT NULL THEN " + _LABEL.format(m="i.metric") + " END",
    "max_points": _n("i.max_points"),
    "value": _n("i.value"),
    "target": _n("i.target"),
    "points": _n("i.points"),
    "rule": "i.rule",
}


def _named(path: str, code: str) -> str:
    """The `name` of the item of the document array at `path` whose code is `code` (SQL), else the code."""
    return (
        f"coalesce(jsonb_path_query_first(x.scheme_document, '{path} ? (@.code == $c).name',"
        f" jsonb_build_object('c', {code})) #>> '{{}}', {code} #>> '{{}}')"
    )


#: A veto hit `v` (an element of `assessment_result.vetoes`), `VetoHitPublic`.
VETO_SQL: dict[str, str] = {
    "code": "v->>'code'",
    "name": _named("$.vetoes[*]", "v->'code'"),
    "effect": "v->>'effect'",
    "reason": "coalesce(v->>'reason', '')",
    "metric": "v->>'metric'",
    "metric_label": _LABEL.format(m="(v->>'metric')"),
    "value": _n("(v->>'value')::numeric"),
}
#: A bonus hit `v`, `BonusHitPublic`.
BONUS_SQL: dict[str, str] = {
    "code": "v->>'code'",
    "name": _named("$.bonuses.rules[*]", "v->'code'"),
    "points": _n("(v->>'points')::numeric"),
}
#: A commendation outcome `v`, `CommendationPublic` without its explanation.
COMMENDATION_SQL: dict[str, str] = {
    "code": "v->>'code'",
    "name": _named("$.commendations[*]", "v->'code'"),
    "eligible": "coalesce((v->>'eligible')::boolean, false)",
    "award_fen": "(v->>'award_fen')::bigint",
}


def _list(source: str, fields: tuple[str, ...], sql: dict[str, str]) -> str:
    """A JSON array of the elements `v` of the jsonb array `source`, in their order."""
    return (
        f"(SELECT coalesce(json_agg({_object([(f, sql[f]) for f in fields])} ORDER BY e.o), '[]'::json)"  # noqa: S608
        f" FROM jsonb_array_elements({source}) WITH ORDINALITY e(v, o))"
    )


def _indicators(fields: tuple[str, ...]) -> str:
    return (
        f"(SELECT coalesce(json_agg({_object([(f, INDICATOR_SQL[f]) for f in fields])}"  # noqa: S608
        " ORDER BY coalesce((nm->>2)::bigint, 1000000000), i.level, i.position), '[]'::json)"
        " FROM assessment_result_indicator i CROSS JOIN LATERAL (SELECT x.names -> i.indicator_code AS nm) k"
        " WHERE i.run_id = res.run_id AND i.subject_id = res.subject_id)"
    )


_NESTED: dict[str, Callable[[tuple[str, ...]], str]] = {
    "indicators": _indicators,
    "vetoes": lambda fields: _list("res.vetoes", fields, VETO_SQL),
    "bonus_hits": lambda fields: _list("res.bonus_hits", fields, BONUS_SQL),
    "commendations": lambda fields: _list("res.commendations", fields, COMMENDATION_SQL),
}


def result_object(selection: FieldSelection) -> str:
    """The result `res` of run `x` (with `names`) and subject `s` as JSON: the selected fields, then nested parts."""
    pairs = [(f, RESULT_SQL[f]) for f in selection.top]
    pairs += [(part.name, _NESTED[part.name](fields)) for part, fields in selection.nested]
    return _object(pairs)


#: The indicators' names in a run's frozen document, by code: `[name, name_en, order]` (pre-order of the tree,
#: embedded schemes' indicators included).
_NAMES = (
    "(SELECT jsonb_object_agg(n.v->>'code', jsonb_build_array(n.v->'name', n.v->'name_en', n.ord))"
    " FROM jsonb_path_query(r.scheme_document,"
    " 'strict $.** ? (@.type() == \"object\" && exists(@.max_points) && exists(@.code))')"
    " WITH ORDINALITY n(v, ord)) AS names"
)


def results_from(runs_where: str, labels: str) -> str:
    """`FROM` of results: the runs `runs_where` (over `r`) with their names and the metric labels (the parameter
    `labels`, jsonb text) as `x`, each result `res` and subject `s` of its snapshot."""
    return (
        # OFFSET 0: the runs (and their names, walked once per run) are a subquery of their own, never pulled up
        # into the join, where `names` would be computed again for every result and indicator row.
        f"FROM (SELECT r.*, {_NAMES}, CAST({labels} AS jsonb) AS labels\n"  # noqa: S608
        f"      FROM assessment_run r WHERE {runs_where} OFFSET 0) x\n"
        "JOIN assessment_result res ON res.run_id = x.id\n"
        "JOIN assessment_snapshot_subject s ON s.run_id = x.snapshot_run_id AND s.subject_id = res.subject_id"
    )


# -- findings -----------------------------------------------------------------------------------------------------
#: A finding `f` (assessment_finding) of the inspection `ins`, `FindingPublic`.
FINDING_SQL: dict[str, str] = {
    "id": "f.id",
    "inspection_id": "f.inspection_id",
    "inspection_level": "ins.level",
    "year": "f.year",
    "subject_type": "f.subject_type",
    "subject_id": "f.subject_id",
    "region_code": "f.region_code",
    "category": "f.category",
    "severity": "f.severity",
    "description": "f.description",
    "found_on": "f.found_on",
    "status": "f.status",
    "counts": "f.status = 'confirmed'",
    "reported_at": _t("f.reported_at"),
    "reported_by": "f.reported_by",
    "reviewed_at": _t("f.reviewed_at"),
    "reviewed_by": "f.reviewed_by",
    "review_note": "f.review_note",
    "revision": "f.revision",
}
EFFECT_SQL: dict[str, str] = {
    "kind": "f.effect_kind",
    "code": "f.effect_code",
    "points": _n("f.effect_points"),
}
#: The evidence `e` (assessment_evidence) of an owner, `EvidencePublic`.
EVIDENCE_SQL: dict[str, str] = {
    "id": "e.id",
    "sha256": "e.sha256",
    "content_type": "e.content_type",
    "size": "e.size",
    "uploaded_at": _t("e.uploaded_at"),
    "uploaded_by": "e.uploaded_by",
}


def _evidence(owner_type: str, owner: str, fields: tuple[str, ...] = tuple(EVIDENCE_SQL)) -> str:
    """The evidence of `owner` (SQL) as a JSON array of `fields`, oldest first, as the REST reads list it."""
    item = _object([(k, EVIDENCE_SQL[k]) for k in fields])
    return (
        f"(SELECT coalesce(json_agg({item} ORDER BY e.uploaded_at, e.id),"  # noqa: S608
        f" '[]'::json) FROM assessment_evidence e WHERE e.owner_type = '{owner_type}' AND e.owner_id = {owner})"
    )


#: Open or reopened past its deadline, as of `$T` (the export's date in China): `inspections.domain.is_overdue`.
_OVERDUE = "(r.status IN ('open', 'reopened') AND r.deadline < $T::date)"
_STEP = _object(
    [
        ("seq", "ev.seq"),
        ("step", "ev.step"),
        ("note", "ev.note"),
        ("deadline", "ev.deadline"),
        ("at", _t("ev.at")),
        ("by", "ev.by"),
    ]
)
#: A rectification `r` of the finding, `RectificationPublic` without its `finding`.
RECTIFICATION_SQL: dict[str, str] = {
    "id": "r.id",
    "finding_id": "r.finding_id",
    "inspection_id": "r.inspection_id",
    "year": "r.year",
    "region_code": "r.region_code",
    "owner": "json_build_object('kind', r.owner_kind, 'id', r.owner_id, 'name', r.owner_name,"
    " 'responsible_sub', r.responsible_sub)",
    "requirement": "r.requirement",
    "deadline": "r.deadline",
    "status": "r.status",
    "overdue": _OVERDUE,
    "days_overdue": f"CASE WHEN {_OVERDUE} THEN $T::date - r.deadline ELSE 0 END",
    "response": "r.response",
    "submitted_at": _t("r.submitted_at"),
    "submitted_by": "r.submitted_by",
    "reviewed_at": _t("r.reviewed_at"),
    "reviewed_by": "r.reviewed_by",
    "rounds": "r.rounds",
    "revision": "r.revision",
    "created_at": _t("r.created_at"),
    "created_by": "r.created_by",
    "history": f"(SELECT coalesce(json_agg({_STEP} ORDER BY ev.seq), '[]'::json)"  # noqa: S608
    " FROM assessment_rectification_event ev WHERE ev.rectification_id = r.id)",
    "evidence": _evidence("rectification", "r.id"),
}


def _effect(fields: tuple[str, ...]) -> str:
    return (
        "CASE WHEN f.effect_kind IS NULL OR f.effect_code IS NULL THEN NULL ELSE "
        + _object([(k, EFFECT_SQL[k]) for k in fields])
        + " END"
    )


def _rectifications(fields: tuple[str, ...]) -> str:
    return (
        f"(SELECT coalesce(json_agg({_object([(k, RECTIFICATION_SQL[k]) for k in fields])}"  # noqa: S608
        " ORDER BY r.created_at, r.id), '[]'::json) FROM assessment_rectification r WHERE r.finding_id = f.id)"
    )


_FINDING_NESTED: dict[str, Callable[[tuple[str, ...]], str]] = {
    "effect": _effect,
    "evidence": lambda fields: _evidence("finding", "f.id", fields),
    "rectifications": _rectifications,
}


def finding_object(selection: FieldSelection, today: str) -> str:
    """The finding `f` of inspection `ins` as JSON (the selected fields, then nested parts); `today` is the
    parameter of the date overdue is judged on."""
    pairs = [(k, FINDING_SQL[k]) for k in selection.top]
    pairs += [(part.name, _FINDING_NESTED[part.name](fields)) for part, fields in selection.nested]
    return _object(pairs).replace("$T", today)


#: `FROM` of findings: each finding `f` and its inspection `ins`.
FINDINGS_FROM = "FROM assessment_finding f JOIN assessment_inspection ins ON ins.id = f.inspection_id"


@functools.lru_cache(maxsize=64)
def findings_sql(selection: FieldSelection) -> str:
    """Every finding under $1 (the region prefix with `%`), $2 today (China), by region, date and id."""
    return (
        f"SELECT ({finding_object(selection, '$2')})::text\n{FINDINGS_FROM}\n"
        "WHERE f.region_code LIKE $1 AND $2::date IS NOT NULL\n"
        "ORDER BY f.region_code, f.found_on, f.id"
    )


def runs_visible(alias: str, county: str = "$1", published_only: str = "$2") -> str:
    """The runs `alias` in view: its county under the prefix `county` (with `%`), published when
    `published_only`."""
    return f"{alias}.county_code LIKE {county} AND (NOT {published_only}::boolean OR {alias}.status = 'published')"


@functools.lru_cache(maxsize=64)
def runs_sql(fields: tuple[str, ...]) -> str:
    """Every run in view ($1 county prefix with `%`, $2 published only), by creation."""
    return (
        f"SELECT ({run_object(fields)})::text\n"
        f"FROM assessment_run x WHERE {runs_visible('x')}\nORDER BY x.created_at, x.id"
    )


@functools.lru_cache(maxsize=64)
def results_sql(selection: FieldSelection) -> str:
    """Every result in view: $1 county prefix, $2 published only, $3 subject prefix (with `%`), $4 the labels."""
    where = runs_visible("r") + " AND r.status IN ('scored', 'published')"
    return (
        f"SELECT ({result_object(selection)})::text\n"
        f"{results_from(where, '$4')}\n"
        "WHERE s.region_code LIKE $3\n"
        "ORDER BY x.created_at, x.id, res.peer_group, res.rank, res.subject_id"
    )


class ExportRepository:
    """The statements of one export, inside its snapshot."""

    #: Rows per round trip of the server-side cursor (results carry their indicators: a few kB each).
    CHUNK = 200

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def snapshot(cls, pool: asyncpg.Pool) -> AsyncIterator[ExportRepository]:
        """A read-only REPEATABLE READ transaction: one snapshot for the feed cursor and every row."""
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield cls(conn)

    def rows(
        self, dataset: ExportDataset, selection: FieldSelection, scope: Scope
    ) -> AsyncGenerator[list[str], None]:
        """The dataset's rows in `scope` as JSON text (already projected), `CHUNK` at a time."""
        if dataset is ExportDataset.findings:
            return self._chunks(findings_sql(selection), scope.subject_prefix + "%", scope.today)
        if dataset is ExportDataset.runs:
            return self._chunks(runs_sql(selection.top), scope.county_prefix + "%", scope.published_only)
        return self._chunks(
            results_sql(selection),
            scope.county_prefix + "%",
            scope.published_only,
            scope.subject_prefix + "%",
            labels_json(),
        )

    async def _chunks(self, sql: str, *args: Any) -> AsyncGenerator[list[str], None]:
        """The first column of `sql`'s rows through a server-side cursor, one chunk fetched ahead."""
        cursor = await self.conn.cursor(sql, *args)
        ahead: asyncio.Future[list[asyncpg.Record]] = asyncio.ensure_future(cursor.fetch(self.CHUNK))
        try:
            while True:
                rows = await ahead
                last = len(rows) < self.CHUNK
                if not last:
                    ahead = asyncio.ensure_future(cursor.fetch(self.CHUNK))
                if rows:
                    yield [row[0] for row in rows]
                if last:
                    return
        finally:
            if not ahead.done():  # the caller left: stop the fetch before the snapshot ends
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead

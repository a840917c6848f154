"""Every SQL statement of assessment runs: the run rows, the job deferred with them, the snapshot (COPY), the
set-based scorer, results, rankings and diffs.

**Scoring is SQL, set-wise** (issue #12), and one statement (`scorer_sql`): a CTE scores every leaf indicator of
every subject from the snapshot joined to the scheme's flat rows (models.py); one CTE per level of the tree, deepest
first, sums groups and scales embedded schemes from the rows one level deeper; a data-modifying CTE writes all of
those rows, and the statement's INSERT writes every subject's total, bonus (capped), veto hits, score (clamped),
grade, commendations and rank among its peers (window functions) from the level-1 rows. Nothing written is read
back; no Python loop runs per subject. Each formula is the one `scoring/domain.py` states (the reference scorer;
tests/assessment/test_runs_scorer.py holds the two equal on random schemes and figures). `ROUND[x]` in the
statements is the scheme's R(x): written out in SQL for its rounding mode (`_round_sql`, the formulas of the
migration's `assessment_round(x, places, mode)`), because a call of that SQL function per row is not inlined and
cost a third of the leaves' statement (bench/assessment.py). The rows' checks (their run exists and is not
published) run once per statement (migration asse0006).

Scope: a run belongs to its county (`county_code`); `Reader` (runs/domain.py) says which runs and which subjects'
results a caller sees, and `_runs_visible` / `_subjects_visible` apply it in SQL, once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.assessment.metrics.domain import CATALOGUE, Direction
from services.assessment.models import (
    Appeal,
    AssessmentScheme,
    Result,
    ResultIndicator,
    Run,
    SnapshotSubject,
)
from services.assessment.queue import QUEUE_SCHEMA, defer_arguments
from services.assessment.runs.domain import Reader, RunStatus
from services.assessment.schemes.domain import RoundingMode
from shared.context import Context
from shared.db import execute, raw_connection

__all__ = [
    "AppealRepository",
    "DiffIndicator",
    "DiffSubject",
    "ResultListItem",
    "RunRepository",
    "SnapshotRows",
]

#: Metrics where lower is better: a `rank` indicator orders them ascending.
_LOWER_IS_BETTER = sorted(c for c, m in CATALOGUE.items() if m.direction is Direction.lower_is_better)


@dataclass(frozen=True, slots=True)
class SnapshotRows:
    """A whole snapshot, written at once: subjects, figures (value None = absent) and manual scores."""

    subjects: Sequence[tuple[str, str, str, str | None, str | None, str | None]]
    values: Sequence[tuple[str, str, Decimal | None, str]]
    manual: Sequence[tuple[str, str, Decimal, str]]


@dataclass(frozen=True, slots=True)
class ResultListItem:
    subject_id: str
    name: str
    region_code: str
    parent_code: str | None
    parent_name: str | None
    score: Decimal
    grade: str
    rank: int
    peers: int
    peer_group: str
    vetoed: bool


@dataclass(frozen=True, slots=True)
class DiffSubject:
    subject_id: str
    name: str
    score_before: Decimal | None
    score_after: Decimal | None
    grade_before: str | None
    grade_after: str | None
    rank_before: int | None
    rank_after: int | None
    vetoes_before: list[dict[str, Any]]
    vetoes_after: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class DiffIndicator:
    subject_id: str
    indicator_code: str
    metric: str | None
    points_before: Decimal | None
    points_after: Decimal | None
    value_before: Decimal | None
    value_after: Decimal | None


# -- the scorer's statements (ROUND[x] is R(x), `_round_sql`) ------------------------------------------
LEAVES_SQL = """
subj AS (
  SELECT subject_id, region_code FROM assessment_snapshot_subject WHERE run_id = :snap
), ind AS MATERIALIZED (
  -- the scheme's leaves, with the part of the explanation's parameters that is the indicator's own (once each)
  SELECT i.*, jsonb_strip_nulls(jsonb_build_object(
    'comparison', i.comparison, 'zero_value', i.zero_value::text, 'per_occurrence', i.per_occurrence::text,
    'floor', i.floor_points::text, 'target_metric', i.target_metric)) AS fixed_params
  FROM assessment_indicator i
  WHERE i.scheme_id = :scheme AND i.kind = 'leaf' AND i.method <> 'embedded'
), rank_stats AS (
  -- competition ranking among the peers that have a figure (ties share the best rank: 1, 2, 2, 4), for `rank`
  -- indicators only (no other row pays for the sort)
  SELECT k.subject_id, k.code,
         CASE WHEN k.v IS NOT NULL
              THEN rank() OVER (PARTITION BY k.code, k.peer_key, (k.v IS NULL) ORDER BY k.sort_value DESC) END
           AS pos,
         count(k.v) OVER (PARTITION BY k.code, k.peer_key) AS n
  FROM (
    SELECT s.subject_id, i.code, mv.value AS v,
           CASE i.peer_group WHEN 'township' THEN rpad(left(s.region_code, 9), 12, '0')
                             WHEN 'county' THEN rpad(left(s.region_code, 6), 12, '0') END AS peer_key,
           CASE WHEN i.metric = ANY(CAST(:lower AS text[])) THEN -mv.value ELSE mv.value END AS sort_value
    FROM subj s
    JOIN ind i ON i.method = 'rank'
    LEFT JOIN assessment_snapshot mv
           ON mv.run_id = :snap AND mv.subject_id = s.subject_id AND mv.metric_code = i.metric
  ) k
), base AS (
  SELECT s.subject_id, i.code, i.parent_code, i.level, i.position, i.method, i.metric, i.max_points,
         i.comparison, i.target_metric, i.zero_value, i.per_occurrence, i.floor_points, i.fixed_params,
         mv.value AS v,
         -- a target read from another figure: looked up for the indicators that have one only
         CASE WHEN i.target_metric IS NULL THEN i.target ELSE (
           SELECT tv.value FROM assessment_snapshot tv
           WHERE tv.run_id = :snap AND tv.subject_id = s.subject_id AND tv.metric_code = i.target_metric) END AS t,
         rk.pos, rk.n,
         ms.points AS manual_points, ms.reason AS manual_reason
  FROM subj s
  CROSS JOIN ind i
  LEFT JOIN assessment_snapshot mv
         ON mv.run_id = :snap AND mv.subject_id = s.subject_id AND mv.metric_code = i.metric
  LEFT JOIN assessment_snapshot_manual ms
         ON ms.run_id = :snap AND ms.subject_id = s.subject_id AND ms.indicator_code = i.code
  LEFT JOIN rank_stats rk ON rk.subject_id = s.subject_id AND rk.code = i.code
), computed AS (
  -- the bands are looked up (scalar subqueries) only for the rows that need one; OFFSET 0 keeps this level
  -- a subquery of its own, so each expression is computed once per row, not once per use above
  SELECT r.*,
         CASE WHEN r.method = 'linear' AND r.v IS NOT NULL AND r.t IS NOT NULL AND r.t <> r.zero_value
              THEN r.max_points * (r.v - r.zero_value) / (r.t - r.zero_value) END AS lin,
         CASE WHEN r.method = 'deduction' AND r.v IS NOT NULL
              THEN r.max_points - r.per_occurrence * greatest(r.v, 0) END AS ded,
         CASE WHEN r.pos IS NOT NULL THEN 100 * r.pos::numeric / r.n END AS pct,
         CASE WHEN r.method = 'tiered' AND r.v IS NOT NULL THEN (
           SELECT b.points FROM assessment_indicator_band b
           WHERE b.scheme_id = :scheme AND b.indicator_code = r.code
             AND CASE WHEN r.comparison = 'at_least' THEN r.v >= b.bound ELSE r.v <= b.bound END
           ORDER BY b.points DESC, b.position LIMIT 1) END AS tier_points,
         CASE WHEN r.method = 'tiered' AND r.v IS NOT NULL THEN (
           SELECT b.bound FROM assessment_indicator_band b
           WHERE b.scheme_id = :scheme AND b.indicator_code = r.code
             AND CASE WHEN r.comparison = 'at_least' THEN r.v >= b.bound ELSE r.v <= b.bound END
           ORDER BY b.points DESC, b.position LIMIT 1) END AS tier_bound,
         CASE WHEN r.pos IS NOT NULL THEN (
           SELECT b.points FROM assessment_indicator_band b
           WHERE b.scheme_id = :scheme AND b.indicator_code = r.code AND 100 * r.pos::numeric / r.n <= b.bound
           ORDER BY b.position LIMIT 1) END AS rank_points,
         CASE WHEN r.pos IS NOT NULL THEN (
           SELECT b.bound FROM assessment_indicator_band b
           WHERE b.scheme_id = :scheme AND b.indicator_code = r.code AND 100 * r.pos::numeric / r.n <= b.bound
           ORDER BY b.position LIMIT 1) END AS rank_top
  FROM base r
  OFFSET 0
), ruled AS (
  SELECT c.*,
    CASE
      WHEN c.method = 'manual' THEN CASE WHEN c.manual_points IS NULL THEN 'missing_manual' ELSE 'manual' END
      WHEN c.v IS NULL THEN 'missing_value'
      WHEN c.method = 'binary' THEN CASE WHEN c.v > 0 THEN 'binary_met' ELSE 'binary_not_met' END
      WHEN c.method IN ('threshold', 'linear') AND c.t IS NULL THEN 'missing_target'
      WHEN c.method = 'threshold' THEN
        CASE WHEN (c.comparison = 'at_least' AND c.v >= c.t) OR (c.comparison = 'at_most' AND c.v <= c.t)
             THEN 'threshold_met' ELSE 'threshold_not_met' END
      WHEN c.method = 'linear' AND c.t = c.zero_value THEN
        CASE WHEN c.v >= c.t THEN 'linear_target_zero_met' ELSE 'linear_target_zero_not_met' END
      WHEN c.method = 'linear' THEN
        CASE WHEN c.lin > c.max_points THEN 'linear_capped' WHEN c.lin < 0 THEN 'linear_floored' ELSE 'linear' END
      WHEN c.method = 'tiered' THEN CASE WHEN c.tier_points IS NULL THEN 'tiered_no_band' ELSE 'tiered_band' END
      WHEN c.method = 'deduction' THEN CASE WHEN c.ded < c.floor_points THEN 'deduction_floor' ELSE 'deduction' END
      WHEN c.method = 'rank' THEN CASE WHEN c.rank_points IS NULL THEN 'rank_no_band' ELSE 'rank_band' END
    END AS rule
  FROM computed c
  OFFSET 0
), leaf_rows AS (
SELECT subject_id, code AS indicator_code, parent_code, level, position, CAST('leaf' AS text) AS kind, method, metric,
  max_points,
  CAST(CASE WHEN rule IN ('missing_value', 'missing_target', 'missing_manual', 'manual') THEN NULL ELSE v END
    AS numeric(20, 4)) AS value,
  CAST(CASE WHEN rule IN ('threshold_met', 'threshold_not_met', 'linear', 'linear_capped', 'linear_floored',
                          'linear_target_zero_met', 'linear_target_zero_not_met') THEN t
            WHEN rule = 'tiered_band' THEN tier_bound END AS numeric(20, 4)) AS target,
  CASE WHEN rule IN ('linear', 'linear_capped', 'linear_floored') THEN lin
       WHEN rule IN ('deduction', 'deduction_floor') THEN ded
       WHEN rule IN ('rank_band', 'rank_no_band') THEN pct END AS exact,
  CAST(CASE rule
    WHEN 'manual' THEN ROUND[manual_points]
    WHEN 'binary_met' THEN ROUND[max_points]
    WHEN 'threshold_met' THEN ROUND[max_points]
    WHEN 'linear_target_zero_met' THEN ROUND[max_points]
    WHEN 'linear_capped' THEN ROUND[max_points]
    WHEN 'linear' THEN ROUND[lin]
    WHEN 'tiered_band' THEN ROUND[tier_points]
    WHEN 'deduction_floor' THEN ROUND[floor_points]
    WHEN 'deduction' THEN ROUND[ded]
    WHEN 'rank_band' THEN ROUND[rank_points]
    ELSE 0 END AS numeric(10, 4)) AS points,
  CAST(rule AS text) AS rule,
  -- the indicator's own parameters, and the subject's (its rank, a manual reason) when it has any: the keys are
  -- distinct, so this is jsonb_strip_nulls of one object of all of them
  CASE WHEN pos IS NULL AND n IS NULL AND rank_top IS NULL AND manual_reason IS NULL THEN fixed_params
       ELSE fixed_params || jsonb_strip_nulls(jsonb_build_object(
         'rank', pos, 'of', n, 'top_percent', rank_top::text, 'reason', manual_reason)) END AS params
FROM ruled
)"""

#: Groups (the sum of their children) and embedded schemes (scaled to the indicator) of level {level}, from the
#: rows one level deeper ({children}: the leaves' and, below the deepest group level, the groups' CTE of that level).
LEVEL_SQL = """
level_{level} AS (
SELECT c.subject_id, i.code AS indicator_code, i.parent_code, i.level, i.position, CAST(i.kind AS text) AS kind,
  i.method, i.metric, i.max_points,
  CAST(CASE WHEN i.kind = 'leaf' THEN c.total END AS numeric(20, 4)) AS value,
  CAST(CASE WHEN i.kind = 'leaf' THEN i.inner_total END AS numeric(20, 4)) AS target,
  CASE WHEN i.kind = 'leaf' THEN i.max_points * c.total / i.inner_total END AS exact,
  CAST(CASE WHEN i.kind = 'group' THEN c.total
            ELSE least(ROUND[i.max_points * c.total / i.inner_total], i.max_points) END AS numeric(10, 4)) AS points,
  CASE WHEN i.kind = 'group' THEN 'group_sum' ELSE 'embedded' END AS rule,
  '{}'::jsonb AS params
FROM assessment_indicator i
JOIN (
  SELECT subject_id, parent_code, sum(points) AS total FROM ({children}) ch GROUP BY subject_id, parent_code
) c ON c.parent_code = i.code
WHERE i.scheme_id = :scheme AND i.level = {level} AND (i.kind = 'group' OR i.method = 'embedded')
)"""

#: Every subject's total, bonus, vetoes, score, grade, commendations and rank, from the level-1 rows ({top}).
TOTALS_SQL = """
tsubj AS (
  SELECT subject_id, coalesce(parent_code, '') AS peer_group, kind
  FROM assessment_snapshot_subject WHERE run_id = :snap
), bands AS (
  SELECT grade, min_points, position, (row_number() OVER (ORDER BY min_points, position) - 1)::int AS ord
  FROM assessment_grade_band WHERE scheme_id = :scheme
), raw AS (
  SELECT subject_id, sum(points) AS raw FROM ({top}) t GROUP BY subject_id
), rules AS (
  SELECT s.subject_id, r.kind, r.code, r.position, r.metric, r.effect, r.points, r.reason, sv.value AS v,
         CASE WHEN sv.value IS NULL THEN NULL
              WHEN r.op = 'gt' THEN sv.value > r.value
              WHEN r.op = 'ge' THEN sv.value >= r.value
              WHEN r.op = 'lt' THEN sv.value < r.value
              ELSE sv.value <= r.value END AS holds
  FROM tsubj s
  JOIN assessment_scheme_rule r ON r.scheme_id = :scheme AND r.kind IN ('veto', 'bonus')
  LEFT JOIN assessment_snapshot sv ON sv.run_id = :snap AND sv.subject_id = s.subject_id AND sv.metric_code = r.metric
), agg AS (
  SELECT subject_id,
    coalesce(sum(points) FILTER (WHERE kind = 'bonus' AND holds), 0) AS bonus_sum,
    jsonb_agg(jsonb_build_object('code', code, 'points', points::text) ORDER BY position)
      FILTER (WHERE kind = 'bonus' AND holds) AS bonus_hits,
    jsonb_agg(jsonb_build_object('code', code, 'effect', effect, 'reason', reason, 'metric', metric,
                                 'value', v::text) ORDER BY position)
      FILTER (WHERE kind = 'veto' AND holds) AS vetoes,
    jsonb_agg(code ORDER BY kind = 'veto', position) FILTER (WHERE holds IS NULL) AS not_evaluated,
    coalesce(bool_or(holds) FILTER (WHERE kind = 'veto' AND effect = 'score_zero'), false) AS zeroed,
    coalesce(bool_or(holds) FILTER (WHERE kind = 'veto' AND effect = 'grade_lowest'), false) AS lowest,
    coalesce(bool_or(holds) FILTER (WHERE kind = 'veto' AND effect = 'block_promotion'), false) AS blocked,
    coalesce(bool_or(holds) FILTER (
      WHERE kind = 'veto' AND effect IN ('grade_lowest', 'score_zero', 'disqualify_commendation')), false)
      AS withdrawn
  FROM rules GROUP BY subject_id
), scored AS (
  SELECT s.subject_id, s.peer_group, s.kind AS subject_kind, coalesce(w.raw, 0) AS raw,
         least(CAST(:cap AS numeric), coalesce(a.bonus_sum, 0)) AS bonus,
         coalesce(a.zeroed, false) AS zeroed, coalesce(a.lowest, false) AS lowest,
         coalesce(a.blocked, false) AS blocked, coalesce(a.withdrawn, false) AS withdrawn,
         coalesce(a.bonus_hits, '[]') AS bonus_hits, coalesce(a.vetoes, '[]') AS vetoes,
         coalesce(a.not_evaluated, '[]') AS not_evaluated
  FROM tsubj s LEFT JOIN raw w USING (subject_id) LEFT JOIN agg a USING (subject_id)
), totalled AS (
  SELECT sc.*,
         ROUND[least(greatest(sc.raw + sc.bonus, 0), CAST(:total AS numeric))] AS by_points
  FROM scored sc
), final AS (
  SELECT t.*, CASE WHEN t.zeroed THEN 0 ELSE t.by_points END AS score FROM totalled t
), graded AS (
  SELECT f.*, coalesce(gs.grade, lo.grade) AS grade_by_score,
         CASE WHEN f.lowest THEN lo.grade ELSE coalesce(gs.grade, lo.grade) END AS grade
  FROM final f
  CROSS JOIN (SELECT grade FROM bands ORDER BY min_points, position LIMIT 1) lo
  LEFT JOIN LATERAL (
    SELECT grade FROM bands WHERE min_points <= f.score ORDER BY min_points DESC, position LIMIT 1
  ) gs ON true
), ordered AS (
  SELECT g.*, b.ord AS grade_order FROM graded g JOIN bands b ON b.grade = g.grade
), commended AS (
  SELECT o.subject_id,
    jsonb_agg(jsonb_build_object(
      'code', c.code, 'award_fen', c.award_fen, 'kind_ok', x.kind_ok, 'grade_ok', x.grade_ok,
      'money_ok', x.money_ok, 'withdrawn', o.withdrawn, 'value', mv.value::text,
      'eligible', x.kind_ok AND x.grade_ok AND x.money_ok AND NOT o.withdrawn) ORDER BY c.position) AS list
  FROM ordered o
  JOIN assessment_scheme_rule c ON c.scheme_id = :scheme AND c.kind = 'commendation'
  LEFT JOIN assessment_snapshot mv ON mv.run_id = :snap AND mv.subject_id = o.subject_id AND mv.metric_code = c.metric
  LEFT JOIN bands mb ON mb.grade = c.min_grade
  CROSS JOIN LATERAL (
    SELECT (c.subject_kind IS NULL OR o.subject_kind IS NOT DISTINCT FROM c.subject_kind) AS kind_ok,
           (c.min_grade IS NULL OR o.grade_order >= coalesce(mb.ord, -1)) AS grade_ok,
           (c.metric IS NULL OR c.min_fen IS NULL OR (mv.value IS NOT NULL AND mv.value >= c.min_fen)) AS money_ok
  ) x
  GROUP BY o.subject_id
)
INSERT INTO assessment_result
  (run_id, subject_id, raw_total, bonus, score_by_points, score, grade, grade_by_score, grade_order, bonus_hits,
   vetoes, not_evaluated, promotion_blocked, commendations, peer_group, rank, peers)
SELECT :run, o.subject_id, o.raw, o.bonus, o.by_points, o.score, o.grade, o.grade_by_score, o.grade_order,
       o.bonus_hits, o.vetoes, o.not_evaluated, o.blocked, coalesce(cm.list, '[]'), o.peer_group,
       rank() OVER (PARTITION BY o.peer_group ORDER BY o.grade_order DESC, o.score DESC),
       count(*) OVER (PARTITION BY o.peer_group)
FROM ordered o LEFT JOIN commended cm USING (subject_id)"""


def _round_sql(x: str, mode: str) -> str:
    """R(x) to `:places` places by `mode`, as SQL: what `assessment_round(x, :places, mode)` computes (half_up:
    PostgreSQL's round, ties away from zero; down: trunc; half_even: ties to the even digit); NULL stays NULL."""
    places = "CAST(:places AS integer)"
    if mode == RoundingMode.down.value:
        return f"trunc({x}, {places})"
    if mode == RoundingMode.half_even.value:
        scaled = f"(({x}) * power(10::numeric, {places}))"
        return (
            f"CASE WHEN {scaled} - trunc({scaled}) = 0.5 THEN trunc({x}, {places})"
            f" + CASE WHEN mod(trunc({scaled}), 2) = 1 THEN power(10::numeric, -{places}) ELSE 0 END"
            f" ELSE round({x}, {places}) END"
        )
    return f"round({x}, {places})"


_ROUND = re.compile(r"ROUND\[(.+?)\](?=[,\s)])")

_COLUMNS = (
    "subject_id, indicator_code, parent_code, level, position, kind, method, metric, max_points, value, target,"
    " exact, points, rule, params"
)


def _scorer_sql(mode: str, deepest: int) -> str:
    """The whole scorer as one statement for a scheme `deepest` levels deep: the leaves, each level's groups and
    embedded schemes from the rows one level deeper (deepest first), all of them written by one data-modifying CTE,
    and the totals from the level-1 rows, written by the statement's INSERT. No row is read back."""
    ctes = [LEAVES_SQL.strip()]
    levels = list(range(deepest - 1, 0, -1))
    for level in levels:
        # integers only go into the text (levels of the scheme), never a value
        children = f"SELECT subject_id, parent_code, points FROM leaf_rows WHERE level = {level + 1}"  # noqa: S608
        if level + 1 < deepest:
            children += f" UNION ALL SELECT subject_id, parent_code, points FROM level_{level + 1}"  # noqa: S608
        ctes.append(LEVEL_SQL.strip().replace("{level}", str(level)).replace("{children}", children))
    rows = " UNION ALL ".join(
        [f"SELECT {_COLUMNS} FROM leaf_rows"]  # noqa: S608 - constants and levels (integers) only
        + [f"SELECT {_COLUMNS} FROM level_{n}" for n in levels]  # noqa: S608
    )
    ctes.append(
        "written AS (\nINSERT INTO assessment_result_indicator (run_id, "
        + _COLUMNS
        + ")\nSELECT :run, "
        + _COLUMNS
        + f" FROM ({rows}) r\n)"
    )
    top = "SELECT subject_id, points FROM leaf_rows WHERE level = 1"
    if deepest > 1:
        top += " UNION ALL SELECT subject_id, points FROM level_1"
    ctes.append(TOTALS_SQL.strip().replace("{top}", top))
    sql = "WITH " + ",\n".join(ctes) + "\n"
    sql = _ROUND.sub(lambda m: _round_sql(m.group(1), mode), sql)
    assert "ROUND[" not in sql and "{" not in sql.replace("'{}'", "")
    return sql


#: The scorer's statement by (rounding mode, depth), built when first used.
_SCORER: dict[tuple[str, int], str] = {}


def scorer_sql(mode: str, deepest: int) -> str:
    key = (RoundingMode(mode).value, deepest)
    if key not in _SCORER:
        _SCORER[key] = _scorer_sql(*key)
    return _SCORER[key]


class RunRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    # -- scope ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _runs_visible(reader: Reader) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = [
            col(Run.county_code).startswith(reader.county_prefix, autoescape=True)
        ]
        if reader.published_only:
            clauses.append(col(Run.status) == RunStatus.published.value)
        return sa.and_(*clauses)

    @staticmethod
    def _subjects_visible(reader: Reader) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = [
            col(SnapshotSubject.region_code).startswith(reader.subject_prefix, autoescape=True)
        ]
        if reader.subject_id is not None:
            clauses.append(col(SnapshotSubject.subject_id) == reader.subject_id)
        return sa.and_(*clauses)

    # -- runs ----------------------------------------------------------------------------------------------------
    async def get(self, run_id: uuid.UUID, reader: Reader | None = None, *, lock: bool = False) -> Run | None:
        """The run (in the reader's view, when given; locked for the transaction when `lock`)."""
        query = select(Run).where(col(Run.id) == run_id)
        if reader is not None:
            query = query.where(self._runs_visible(reader))
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def page(
        self,
        reader: Reader,
        *,
        scheme_id: uuid.UUID | None,
        year: int | None,
        kind: str | None,
        status: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Run]:
        """Runs in the reader's view, newest first (keyset on created_at, id)."""
        query = select(Run).where(self._runs_visible(reader))
        if scheme_id is not None:
            query = query.where(col(Run.scheme_id) == scheme_id)
        if year is not None:
            query = query.where(col(Run.year) == year)
        if kind is not None:
            query = query.where(col(Run.kind) == kind)
        if status is not None:
            query = query.where(col(Run.status) == status)
        key = (col(Run.created_at), col(Run.id))
        if after is not None:
            query = query.where(sa.tuple_(*key) < sa.tuple_(*after))
        query = query.order_by(*(k.desc() for k in key)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def next_version(self, lineage_id: uuid.UUID, year: int, region: str, kind: str) -> int:
        """The next version of a series, the series locked for the transaction (concurrent runs queue up)."""
        series = f"assessment_run:{lineage_id}:{year}:{region}:{kind}"
        await execute(
            self.session, sa.text("SELECT pg_advisory_xact_lock(hashtext(:series))"), {"series": series}
        )
        found = await self.session.exec(
            select(sa.func.max(col(Run.version))).where(
                col(Run.lineage_id) == lineage_id,
                col(Run.year) == year,
                col(Run.region_code) == region,
                col(Run.kind) == kind,
            )
        )
        return int(found.one() or 0) + 1

    async def previous(self, run: Run) -> Run | None:
        """The latest earlier version of the run's series that has results."""
        query = (
            select(Run)
            .where(
                col(Run.lineage_id) == run.lineage_id,
                col(Run.year) == run.year,
                col(Run.region_code) == run.region_code,
                col(Run.kind) == run.kind,
                col(Run.version) < run.version,
                col(Run.status).in_([RunStatus.scored.value, RunStatus.published.value]),
            )
            .order_by(col(Run.version).desc())
            .limit(1)
        )
        return (await self.session.exec(query)).first()

    async def add(self, run: Run) -> None:
        """A new run and its job, in this transaction: the job exists exactly when the run does."""
        self.session.add(run)
        await self.session.flush()
        job = defer_arguments(run.id)
        saved = (await execute(self.session, sa.text("SELECT current_setting('search_path')"))).scalar_one()
        await execute(
            self.session,
            sa.text("SELECT set_config('search_path', :path, true)"),
            {"path": f"{QUEUE_SCHEMA}, {saved}"},
        )
        await execute(
            self.session,
            sa.text(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, NULL, CAST(:args AS jsonb),"
                " NULL)::procrastinate_job_to_defer_v1])"
            ),
            {
                "queue": job["queue"],
                "task": job["task"],
                "lock": job["lock"],
                "args": json.dumps(job["args"]),
            },
        )
        await execute(self.session, sa.text("SELECT set_config('search_path', :path, true)"), {"path": saved})

    async def update(self, run_id: uuid.UUID, values: dict[str, Any]) -> Run:
        statement = (
            sa.update(Run)
            .where(col(Run.id) == run_id)
            .values(**values, updated_at=self.ctx.now)
            .returning(Run)
        )
        row = (await self.session.exec(statement.execution_options(populate_existing=True))).scalar_one()
        assert isinstance(row, Run)
        return row

    async def scheme(self, scheme_id: uuid.UUID) -> AssessmentScheme | None:
        return (
            await self.session.exec(select(AssessmentScheme).where(col(AssessmentScheme.id) == scheme_id))
        ).first()

    # -- the snapshot ------------------------------------------------------------------------------------------
    async def store_snapshot(self, run_id: uuid.UUID, rows: SnapshotRows) -> None:
        """The whole snapshot by COPY, in the caller's transaction (all of it, or nothing)."""
        raw = await raw_connection(self.session)
        await raw.copy_records_to_table(
            "assessment_snapshot_subject",
            records=[(run_id, *s) for s in rows.subjects],
            columns=["run_id", "subject_id", "name", "region_code", "parent_code", "parent_name", "kind"],
        )
        await raw.copy_records_to_table(
            "assessment_snapshot",
            records=[(run_id, *v) for v in rows.values],
            columns=["run_id", "subject_id", "metric_code", "value", "source"],
        )
        if rows.manual:
            await raw.copy_records_to_table(
                "assessment_snapshot_manual",
                records=[(run_id, *m) for m in rows.manual],
                columns=["run_id", "subject_id", "indicator_code", "points", "reason"],
            )

    async def absent_metrics(self, snapshot_run: uuid.UUID, metrics: Iterable[str]) -> list[str]:
        """The metrics among `metrics` that no subject of the snapshot has a figure of."""
        wanted = sorted(set(metrics))
        found = await execute(
            self.session,
            sa.text(
                "SELECT DISTINCT metric_code FROM assessment_snapshot WHERE run_id = :snap AND value IS NOT NULL"
                " AND metric_code = ANY(CAST(:wanted AS text[]))"
            ),
            {"snap": snapshot_run, "wanted": wanted},
        )
        present = {r[0] for r in found}
        return [m for m in wanted if m not in present]

    async def subject_count(self, snapshot_run: uuid.UUID) -> int:
        found = await execute(
            self.session,
            sa.text("SELECT count(*) FROM assessment_snapshot_subject WHERE run_id = :snap"),
            {"snap": snapshot_run},
        )
        return int(found.scalar_one())

    # -- scoring ------------------------------------------------------------------------------------------------
    async def score(self, run: Run, scheme: AssessmentScheme) -> None:
        """Score every subject of the run's snapshot by the scheme, in SQL: one statement (module docstring)."""
        params: dict[str, Any] = {
            "run": run.id,
            "snap": run.snapshot_run_id,
            "scheme": scheme.id,
            "places": scheme.rounding_places,
        }
        deepest = (
            await execute(
                self.session,
                sa.text("SELECT coalesce(max(level), 1) FROM assessment_indicator WHERE scheme_id = :scheme"),
                {"scheme": scheme.id},
            )
        ).scalar_one()
        await execute(
            self.session,
            sa.text(scorer_sql(scheme.rounding_mode, int(deepest))),
            {**params, "lower": _LOWER_IS_BETTER, "cap": scheme.bonus_cap, "total": scheme.total_points},
        )

    # -- results ------------------------------------------------------------------------------------------------
    async def results_page(
        self,
        run: Run,
        reader: Reader,
        *,
        peer_group: str | None,
        after: tuple[str, int, str] | None,
        limit: int,
    ) -> list[ResultListItem]:
        """The run's results in the reader's view, by peer group, rank and subject (keyset)."""
        query = (
            sa.select(
                col(Result.subject_id),
                col(SnapshotSubject.name),
                col(SnapshotSubject.region_code),
                col(SnapshotSubject.parent_code),
                col(SnapshotSubject.parent_name),
                col(Result.score),
                col(Result.grade),
                col(Result.rank),
                col(Result.peers),
                col(Result.peer_group),
                sa.func.jsonb_array_length(col(Result.vetoes)) > 0,
            )
            .join(
                SnapshotSubject,
                sa.and_(
                    col(SnapshotSubject.run_id) == run.snapshot_run_id,
                    col(SnapshotSubject.subject_id) == col(Result.subject_id),
                ),
            )
            .where(col(Result.run_id) == run.id, self._subjects_visible(reader))
        )
        if peer_group is not None:
            query = query.where(col(Result.peer_group) == peer_group)
        key = (col(Result.peer_group), col(Result.rank), col(Result.subject_id))
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        rows = (await execute(self.session, query.order_by(*key).limit(limit))).all()
        return [ResultListItem(*r) for r in rows]

    async def subject(self, run: Run, subject_id: str, reader: Reader) -> SnapshotSubject | None:
        """The subject of the run's snapshot, in the reader's view."""
        query = select(SnapshotSubject).where(
            col(SnapshotSubject.run_id) == run.snapshot_run_id,
            col(SnapshotSubject.subject_id) == subject_id,
            self._subjects_visible(reader),
        )
        return (await self.session.exec(query)).first()

    async def result(self, run_id: uuid.UUID, subject_id: str) -> Result | None:
        query = select(Result).where(col(Result.run_id) == run_id, col(Result.subject_id) == subject_id)
        return (await self.session.exec(query)).first()

    async def indicators(self, run_id: uuid.UUID, subject_id: str) -> list[ResultIndicator]:
        query = (
            select(ResultIndicator)
            .where(col(ResultIndicator.run_id) == run_id, col(ResultIndicator.subject_id) == subject_id)
            .order_by(col(ResultIndicator.level), col(ResultIndicator.position))
        )
        return list((await self.session.exec(query)).all())

    async def values(self, snapshot_run: uuid.UUID, subject_id: str) -> dict[str, Decimal | None]:
        found = await execute(
            self.session,
            sa.text(
                "SELECT metric_code, value FROM assessment_snapshot WHERE run_id = :snap AND subject_id = :subject"
            ),
            {"snap": snapshot_run, "subject": subject_id},
        )
        return {r[0]: r[1] for r in found}

    # -- diffs --------------------------------------------------------------------------------------------------
    async def diff(
        self, run: Run, other: Run, reader: Reader, *, after: str | None, limit: int
    ) -> list[DiffSubject]:
        """Subjects whose score, grade or rank differ between `other` (before) and `run` (after), or that are in
        one run only; in the reader's view, by subject (keyset)."""
        found = await execute(
            self.session,
            sa.text(
                """
WITH a AS (SELECT * FROM assessment_result WHERE run_id = :run),
     b AS (SELECT * FROM assessment_result WHERE run_id = :other),
     names AS (
       SELECT subject_id, name, region_code FROM assessment_snapshot_subject WHERE run_id = :snap
       UNION ALL
       SELECT subject_id, name, region_code FROM assessment_snapshot_subject o WHERE o.run_id = :other_snap
         AND NOT EXISTS (SELECT 1 FROM assessment_snapshot_subject n
                         WHERE n.run_id = :snap AND n.subject_id = o.subject_id)
     )
SELECT coalesce(a.subject_id, b.subject_id) AS subject_id, n.name,
       b.score, a.score, b.grade, a.grade, b.rank, a.rank, coalesce(b.vetoes, '[]'), coalesce(a.vetoes, '[]')
FROM a FULL JOIN b USING (subject_id)
JOIN names n ON n.subject_id = coalesce(a.subject_id, b.subject_id)
WHERE (a.score IS DISTINCT FROM b.score OR a.grade IS DISTINCT FROM b.grade OR a.rank IS DISTINCT FROM b.rank)
  AND n.region_code LIKE :prefix AND (CAST(:only AS text) IS NULL OR n.subject_id = :only)
  AND (CAST(:after AS text) IS NULL OR coalesce(a.subject_id, b.subject_id) > :after)
ORDER BY 1 LIMIT :limit
"""
            ),
            {
                "run": run.id,
                "other": other.id,
                "snap": run.snapshot_run_id,
                "other_snap": other.snapshot_run_id,
                "prefix": reader.subject_prefix.replace("%", r"\%") + "%",
                "only": reader.subject_id,
                "after": after,
                "limit": limit,
            },
        )
        return [
            DiffSubject(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], list(r[8]), list(r[9])) for r in found
        ]

    async def diff_indicators(self, run: Run, other: Run, subjects: Sequence[str]) -> list[DiffIndicator]:
        """The leaf indicators whose points differ for `subjects`, with the figure each read before and after."""
        if not subjects:
            return []
        found = await execute(
            self.session,
            sa.text(
                """
WITH a AS (SELECT * FROM assessment_result_indicator WHERE run_id = :run AND subject_id = ANY(CAST(:s AS text[]))),
     b AS (SELECT * FROM assessment_result_indicator WHERE run_id = :other AND subject_id = ANY(CAST(:s AS text[])))
SELECT coalesce(a.subject_id, b.subject_id), coalesce(a.indicator_code, b.indicator_code),
       coalesce(a.metric, b.metric), b.points, a.points, vb.value, va.value
FROM a FULL JOIN b USING (subject_id, indicator_code)
LEFT JOIN assessment_snapshot va ON va.run_id = :snap AND va.subject_id = coalesce(a.subject_id, b.subject_id)
      AND va.metric_code = coalesce(a.metric, b.metric)
LEFT JOIN assessment_snapshot vb ON vb.run_id = :other_snap AND vb.subject_id = coalesce(a.subject_id, b.subject_id)
      AND vb.metric_code = coalesce(a.metric, b.metric)
WHERE coalesce(a.kind, b.kind) = 'leaf' AND a.points IS DISTINCT FROM b.points
ORDER BY 1, coalesce(a.level, b.level), 2
"""
            ),
            {
                "run": run.id,
                "other": other.id,
                "snap": run.snapshot_run_id,
                "other_snap": other.snapshot_run_id,
                "s": list(subjects),
            },
        )
        return [DiffIndicator(*r) for r in found]

    async def metric_values(
        self, snapshot_run: uuid.UUID, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Decimal | None]:
        """Figures of (subject, metric) pairs in a snapshot."""
        if not pairs:
            return {}
        found = await execute(
            self.session,
            sa.text(
                "SELECT subject_id, metric_code, value FROM assessment_snapshot WHERE run_id = :snap"
                " AND (subject_id, metric_code) IN (SELECT * FROM unnest(CAST(:s AS text[]), CAST(:m AS text[])))"
            ),
            {"snap": snapshot_run, "s": [p[0] for p in pairs], "m": [p[1] for p in pairs]},
        )
        return {(r[0], r[1]): r[2] for r in found}

    # -- appeals ------------------------------------------------------------------------------------------------
    async def upheld_uncorrected(self, run_id: uuid.UUID) -> list[Appeal]:
        query = select(Appeal).where(
            col(Appeal.run_id) == run_id,
            col(Appeal.status) == "upheld",
            col(Appeal.correction_run_id).is_(None),
        )
        return list((await self.session.exec(query.with_for_update())).all())

    async def link_corrections(self, appeal_ids: Sequence[uuid.UUID], correction: uuid.UUID) -> None:
        if appeal_ids:
            await self.session.exec(
                sa.update(Appeal)
                .where(col(Appeal.id).in_(list(appeal_ids)))
                .values(correction_run_id=correction)
            )


class AppealRepository:
    """Appeals against published results, scoped by the callers' views in the service (their run first)."""

    def __init__(self, ctx: Context) -> None:
        self.session = ctx.session

    async def get(self, appeal_id: uuid.UUID, *, lock: bool = False) -> Appeal | None:
        query = select(Appeal).where(col(Appeal.id) == appeal_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def page(
        self, run_id: uuid.UUID, prefix: str, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Appeal]:
        query = select(Appeal).where(
            col(Appeal.run_id) == run_id, col(Appeal.region_code).startswith(prefix, autoescape=True)
        )
        key = (col(Appeal.filed_at), col(Appeal.id))
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        return list((await self.session.exec(query.order_by(*key).limit(limit))).all())

    async def answer(self, appeal_id: uuid.UUID, status: str, answer: str, by: str, at: datetime) -> Appeal:
        statement = (
            sa.update(Appeal)
            .where(col(Appeal.id) == appeal_id)
            .values(status=status, answer=answer, answered_by=by, answered_at=at)
            .returning(Appeal)
        )
        row = (await self.session.exec(statement.execution_options(populate_existing=True))).scalar_one()
        assert isinstance(row, Appeal)
        return row

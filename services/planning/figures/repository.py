"""Every SQL statement of the figures: one statement per subject type, set-wise, computed by PostgreSQL.

Each subject type has one SQL text (`figures_sql`), a chain of CTEs that starts from the approved projects of the
area, draws the subjects planning holds something of for the year, keeps the page of them (keyset on the code or
key, `LIMIT` NULL for all), gathers their actuals, profiles, funding lines, ledger sums, acceptances and plan
targets in one pass each, and aggregates per subject — no query per subject, no loop in Python. The meaning of
every column is the definition in figures/domain.py; the year's boundaries come from `domain.Period`.

Scope: every statement reads projects, plans, actuals and profiles whose village code is `LIKE :pattern`, the
region asked for intersected here with the caller's own prefix (`_pattern`); the service has already answered
404 for a region outside the caller's scope.

As the reports do (reports/repository.py), each statement runs with `plan_cache_mode = force_custom_plan` in a
read-only transaction on the session's asyncpg connection: asyncpg prepares statements, and a generic plan cannot
know that `LIKE $1` keeps a whole county. Rows come back all at once for a page (`page`) or from a server-side
cursor while NDJSON is sent (`stream`).

Benchmark hook: `fetch_figures(conn, subject, region, year, today)` runs the same statement on a plain asyncpg
connection, with no HTTP, scope or model around it (for bench/assessment.py, beside the HTTP pull).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import asyncpg

from services.planning.figures import domain
from services.planning.figures.domain import Period, SubjectType
from services.planning.figures.schemas import FIGURE_ROWS, FigureQuery
from shared.context import Context
from shared.db import raw_connection
from shared.figures import FigurePage
from shared.pagination import decode_cursor, encode_cursor
from shared.roles import scope_prefix

__all__ = [
    "CURSOR_PREFETCH",
    "FigurePage",
    "FigureRepository",
    "fetch_figures",
    "figure_parameters",
    "figures_sql",
]

#: Rows a server-side cursor fetches per round trip while NDJSON streams.
CURSOR_PREFETCH = 500
#: Plan each statement for its parameters (see the module's docstring), for the rest of the transaction.
_CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off"


def _values(values: Iterable[Any]) -> str:
    """A SQL list of constant codes (from the domain's own enums and sets, never from a request)."""
    return ", ".join(f"'{v}'" for v in sorted(str(v) for v in values))


_APPROVED = _values(domain.APPROVED_PROJECTS)
_PLANS = _values(domain.PLANS_OF_THE_YEAR)
_COOPERATIVE = _values(domain.COOPERATIVE_CATEGORIES)
_RECEIPT, _DISBURSEMENT = f"'{domain.RECEIPT}'", f"'{domain.DISBURSEMENT}'"
_UNIT_SOURCE = f"'{domain.HELPING_UNIT_SOURCE}'"
_INCREASE = f"'{domain.INCREASE}'"
#: The indicators the village figures read (their actuals of the year).
_READ = (
    domain.ROAD_RATE,
    domain.ROAD_ALL_GROUPS,
    domain.WATER_RATE,
    domain.BIOGAS_RATE,
    *domain.POWER_INDICATORS,
    *domain.BROADBAND_INDICATORS,
    *domain.CLINIC_INDICATORS,
    domain.STAFF_ROLES,
    domain.SPECIALTY,
    domain.COLLECTIVE_INCOME_INDICATOR,
)


def _actual(*codes: str) -> str:
    """The value of the first of `codes` a village has an actual of (the `act` rows of one village)."""
    picks = [f"max(value) FILTER (WHERE indicator_code = '{code}')" for code in codes]
    return picks[0] if len(picks) == 1 else f"coalesce({', '.join(picks)})"


# -- fragments shared by the statements ------------------------------------------------------------------------
#: The approved projects of the area: whether each runs in Y, is due in Y, and passed its acceptance by D.
_PROJECTS = f"""
proj AS (
  SELECT p.id, p.village_code, p.category,
    coalesce(p.starts_on <= :last_day AND NOT coalesce(p.finishes_on < :first_day, false)
             AND NOT coalesce(a.accepted_on < :first_day, false), false) AS running,
    coalesce(p.finishes_on >= :first_day AND p.finishes_on <= :day, false) AS due,
    coalesce(a.passed AND a.accepted_on <= :day, false) AS accepted
  FROM planning_project p LEFT JOIN planning_acceptance a ON a.project_id = p.id
  WHERE p.village_code LIKE :pattern AND p.status IN ({_APPROVED})
),"""  # noqa: S608 - constants of the domain

#: The plans of Y of the area: the approved version of each lineage whose horizon covers Y.
_PLANS_OF_YEAR = f"""
pin AS (
  SELECT DISTINCT ON (p.lineage_id) p.id, p.village_code
  FROM planning_plan p
  WHERE p.village_code LIKE :pattern AND p.status IN ({_PLANS}) AND p.start_year <= :year AND p.end_year >= :year
  ORDER BY p.lineage_id, p.version DESC
),"""  # noqa: S608 - constants of the domain

#: The villages planning holds something of for Y (the subjects' universe).
_VILLAGES = """
SELECT village_code FROM planning_village_profile WHERE village_code LIKE :pattern AND year = :year
UNION SELECT village_code FROM planning_indicator_actual WHERE village_code LIKE :pattern AND year = :year
UNION SELECT village_code FROM pin
UNION SELECT village_code FROM proj WHERE running OR due"""

#: The ledger summed per line of `lines` (a CTE with `id`): received and disbursed by D, received within Y.
_MONEY = f"""
mv AS (
  SELECT e.line_id,
    sum(e.amount_fen) FILTER (WHERE e.kind = {_RECEIPT} AND e.entry_date <= :day) AS received,
    sum(e.amount_fen) FILTER (WHERE e.kind = {_DISBURSEMENT} AND e.entry_date <= :day) AS disbursed,
    sum(e.amount_fen) FILTER (WHERE e.kind = {_RECEIPT} AND e.entry_date >= :first_day AND e.entry_date <= :day)
      AS raised
  FROM planning_ledger_entry e
  WHERE e.line_id IN (SELECT id FROM {{lines}})
  GROUP BY e.line_id
),"""  # noqa: S608 - constants of the domain

#: The progress of every target of the plans `pin` (restricted by `where`), as plans/domain.py `progress`
#: computes it, from the newest actual of a year from the baseline year to Y; targets without one are left out.
_TARGETS = f"""
tp AS (
  SELECT pin.village_code,
    round(CASE
      WHEN (t.direction = {_INCREASE} AND x.value >= t.target_value)
        OR (t.direction <> {_INCREASE} AND x.value <= t.target_value) THEN 100
      WHEN t.target_value = t.baseline_value THEN 0
      ELSE least(greatest((x.value - t.baseline_value) * 100 / (t.target_value - t.baseline_value), 0), 100)
    END, 2) AS progress
  FROM pin JOIN planning_plan_indicator t ON t.plan_id = pin.id
  JOIN LATERAL (
    SELECT a.value FROM planning_indicator_actual a
    WHERE a.village_code = pin.village_code AND a.indicator_code = t.indicator_code
      AND a.year >= t.baseline_year AND a.year <= :year
    ORDER BY a.year DESC, a.version DESC
    LIMIT 1
  ) x ON true
  WHERE {{where}}
),"""  # noqa: S608 - constants of the domain

_PERCENT = "CASE WHEN {whole} > 0 THEN round(coalesce({part}, 0) * 100.0 / {whole}, 2) END"


def _percent(part: str, whole: str) -> str:
    return _PERCENT.format(part=part, whole=whole)


# -- villages --------------------------------------------------------------------------------------------------
_VILLAGE = f"""
WITH {_PROJECTS}{_PLANS_OF_YEAR}
subj AS (
  SELECT code FROM ({_VILLAGES}) u(code)
  WHERE CAST(:after AS text) IS NULL OR code > CAST(:after AS text)
  ORDER BY code
  LIMIT CAST(:limit AS bigint)
),
act AS (
  SELECT DISTINCT ON (a.village_code, a.indicator_code) a.village_code, a.indicator_code, a.value
  FROM planning_indicator_actual a
  WHERE a.village_code IN (SELECT code FROM subj) AND a.year = :year AND a.indicator_code IN ({_values(_READ)})
  ORDER BY a.village_code, a.indicator_code, a.version DESC
),
va AS (
  SELECT village_code,
    {_actual(domain.ROAD_RATE)} AS road_rate,
    {_actual(domain.ROAD_ALL_GROUPS)} AS road_all,
    {_actual(domain.WATER_RATE)} AS water_rate,
    {_actual(domain.BIOGAS_RATE)} AS biogas,
    {_actual(*domain.POWER_INDICATORS)} AS power,
    {_actual(*domain.BROADBAND_INDICATORS)} AS broadband,
    {_actual(*domain.CLINIC_INDICATORS)} AS clinic,
    {_actual(domain.STAFF_ROLES)} AS staff,
    {_actual(domain.SPECIALTY)} AS specialty,
    {_actual(domain.COLLECTIVE_INCOME_INDICATOR)} AS collective
  FROM act GROUP BY village_code
),
pf AS (
  SELECT village_code,
    (declared ->> 'safe_water_people')::numeric AS water_people,
    (declared ->> 'population')::numeric AS population,
    (declared -> 'infrastructure' ->> 'clinics')::numeric AS clinics,
    (declared ->> 'collective_income_fen')::numeric AS collective_fen
  FROM planning_village_profile
  WHERE village_code IN (SELECT code FROM subj) AND year = :year
),
ln AS (
  SELECT l.id, proj.village_code
  FROM planning_funding_line l JOIN proj ON proj.id = l.project_id
  WHERE proj.running AND proj.village_code IN (SELECT code FROM subj)
),{_MONEY.format(lines="ln")}
lm AS (
  SELECT ln.village_code, sum(mv.received) AS received, sum(mv.disbursed) AS disbursed
  FROM ln LEFT JOIN mv ON mv.line_id = ln.id
  GROUP BY ln.village_code
),
pa AS (
  SELECT village_code, count(*) FILTER (WHERE due) AS due, count(*) FILTER (WHERE due AND accepted) AS accepted,
    bool_or(accepted AND category IN ({_COOPERATIVE})) AS cooperative
  FROM proj WHERE village_code IN (SELECT code FROM subj)
  GROUP BY village_code
)
SELECT s.code AS id, NULL::text AS name, left(s.code, 9) || '000' AS parent_code, NULL::text AS parent_name,
  round(coalesce(va.road_rate, CASE WHEN va.road_all = 1 THEN 100 END), 2) AS road_to_group_coverage,
  round(coalesce(va.water_rate,
                 CASE WHEN pf.population > 0 AND pf.water_people <= pf.population
                      THEN pf.water_people * 100.0 / pf.population END), 2) AS safe_water_coverage,
  (va.power = 1) AND (va.broadband = 1) AS power_and_broadband,
  round(va.biogas, 2) AS biogas_coverage,
  CASE WHEN NOT cl.clinic THEN false WHEN cl.clinic AND va.staff = 1 THEN true END AS clinic_with_doctor,
  round(coalesce(va.collective * 100, pf.collective_fen))::bigint AS collective_income_fen,
  CASE WHEN pa.cooperative THEN true ELSE va.specialty = 1 END AS has_cooperative,
  {_percent("lm.disbursed", "lm.received")} AS funds_disbursed_share,
  {_percent("pa.accepted", "pa.due")} AS projects_accepted_share
FROM subj s
LEFT JOIN va ON va.village_code = s.code
LEFT JOIN pf ON pf.village_code = s.code
LEFT JOIN lm ON lm.village_code = s.code
LEFT JOIN pa ON pa.village_code = s.code
CROSS JOIN LATERAL (SELECT coalesce(va.clinic >= 1, pf.clinics >= 1) AS clinic) cl
ORDER BY s.code
"""  # noqa: S608 - constants of the domain, never a request's text

# -- townships -------------------------------------------------------------------------------------------------
_TOWNSHIP_OF = "left({code}, 9) || '000'"

_TOWNSHIP = f"""
WITH {_PROJECTS}{_PLANS_OF_YEAR}
subj AS (
  SELECT DISTINCT {_TOWNSHIP_OF.format(code="code")} AS code FROM ({_VILLAGES}) u(code)
  WHERE CAST(:after AS text) IS NULL OR {_TOWNSHIP_OF.format(code="code")} > CAST(:after AS text)
  ORDER BY 1
  LIMIT CAST(:limit AS bigint)
),
ln AS (
  SELECT l.id, {_TOWNSHIP_OF.format(code="proj.village_code")} AS township, proj.running
  FROM planning_funding_line l JOIN proj ON proj.id = l.project_id
  WHERE {_TOWNSHIP_OF.format(code="proj.village_code")} IN (SELECT code FROM subj)
),{_MONEY.format(lines="ln")}
lm AS (
  SELECT ln.township,
    count(*) FILTER (WHERE ln.running) AS lines,
    sum(mv.raised) AS raised,
    sum(mv.received) FILTER (WHERE ln.running) AS received,
    sum(mv.disbursed) FILTER (WHERE ln.running) AS disbursed
  FROM ln LEFT JOIN mv ON mv.line_id = ln.id
  GROUP BY ln.township
),
pa AS (
  SELECT {_TOWNSHIP_OF.format(code="village_code")} AS township,
    count(*) FILTER (WHERE due) AS due, count(*) FILTER (WHERE due AND accepted) AS accepted
  FROM proj WHERE {_TOWNSHIP_OF.format(code="village_code")} IN (SELECT code FROM subj)
  GROUP BY 1
),{_TARGETS.format(where=_TOWNSHIP_OF.format(code="pin.village_code") + " IN (SELECT code FROM subj)")}
tg AS (
  SELECT {_TOWNSHIP_OF.format(code="village_code")} AS township, round(avg(progress), 2) AS progress
  FROM tp GROUP BY 1
)
SELECT s.code AS id, NULL::text AS name, left(s.code, 6) || '000000' AS parent_code, NULL::text AS parent_name,
  CASE WHEN lm.lines > 0 OR lm.raised IS NOT NULL THEN coalesce(lm.raised, 0) END::bigint AS funds_raised_fen,
  {_percent("lm.disbursed", "lm.received")} AS funds_disbursed_share,
  {_percent("pa.accepted", "pa.due")} AS projects_accepted_share,
  tg.progress AS village_indicator_progress
FROM subj s
LEFT JOIN lm ON lm.township = s.code
LEFT JOIN pa ON pa.township = s.code
LEFT JOIN tg ON tg.township = s.code
ORDER BY s.code
"""  # noqa: S608 - as above

# -- helping units (the funders of helping_unit_fund lines) ----------------------------------------------------
_HELPING_UNIT = f"""
WITH {_PROJECTS}
uln AS (
  SELECT l.id, l.project_id, proj.village_code, proj.running, proj.due, proj.accepted, l.committed_fen,
         btrim(l.funder) AS funder, md5(btrim(l.funder)) COLLATE "C" AS unit
  FROM planning_funding_line l JOIN proj ON proj.id = l.project_id
  WHERE l.source = {_UNIT_SOURCE}
),
subj AS (
  SELECT unit FROM (
    SELECT unit FROM uln WHERE running
    UNION
    SELECT uln.unit FROM uln JOIN planning_ledger_entry e ON e.line_id = uln.id
    WHERE e.kind = {_RECEIPT} AND e.entry_date >= :first_day AND e.entry_date <= :day
  ) u
  WHERE CAST(:after AS text) IS NULL OR unit > CAST(:after AS text)
  ORDER BY unit
  LIMIT CAST(:limit AS bigint)
),
sl AS (SELECT * FROM uln WHERE unit IN (SELECT unit FROM subj)),{_MONEY.format(lines="sl")}
lm AS (
  SELECT sl.unit, min(sl.funder) AS name,
    sum(mv.raised) AS raised,
    sum(sl.committed_fen) FILTER (WHERE sl.running) AS committed,
    sum(mv.received) FILTER (WHERE sl.running) AS received,
    sum(mv.disbursed) FILTER (WHERE sl.running) AS disbursed
  FROM sl LEFT JOIN mv ON mv.line_id = sl.id
  GROUP BY sl.unit
),
pa AS (
  SELECT unit, count(*) FILTER (WHERE due) AS due, count(*) FILTER (WHERE due AND accepted) AS accepted
  FROM (SELECT DISTINCT unit, project_id, due, accepted FROM sl) p
  GROUP BY unit
),
uv AS (SELECT DISTINCT unit, village_code FROM sl WHERE running),{_PLANS_OF_YEAR}{
    _TARGETS.format(where="pin.village_code IN (SELECT village_code FROM uv)")
}
tg AS (
  SELECT uv.unit, round(avg(tp.progress), 2) AS progress
  FROM uv JOIN tp ON tp.village_code = uv.village_code
  GROUP BY uv.unit
)
SELECT s.unit AS id, lm.name, NULL::text AS parent_code, NULL::text AS parent_name,
  coalesce(lm.raised, 0)::bigint AS funds_raised_fen,
  {_percent("lm.received", "lm.committed")} AS funds_pledged_completion,
  {_percent("lm.disbursed", "lm.received")} AS funds_disbursed_share,
  {_percent("pa.accepted", "pa.due")} AS projects_accepted_share,
  tg.progress AS village_indicator_progress
FROM subj s
JOIN lm ON lm.unit = s.unit
LEFT JOIN pa ON pa.unit = s.unit
LEFT JOIN tg ON tg.unit = s.unit
ORDER BY s.unit
"""  # noqa: S608 - as above

# -- named parameters → asyncpg's $n ---------------------------------------------------------------------------
_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with each `:name` replaced by `$n` (in order of first appearance), and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


_SOURCES: dict[SubjectType, str] = {
    SubjectType.village: _VILLAGE,
    SubjectType.township: _TOWNSHIP,
    SubjectType.helping_unit: _HELPING_UNIT,
}
_STATEMENTS: dict[SubjectType, tuple[str, tuple[str, ...]]] = {s: _numbered(_SOURCES[s]) for s in SubjectType}


def figures_sql(subject: SubjectType) -> str:
    """The one statement computing the figures of `subject` ($n parameters: see `figure_parameters`)."""
    return _STATEMENTS[subject][0]


def figure_parameters(
    subject: SubjectType, pattern: str, when: Period, *, after: str | None = None, limit: int | None = None
) -> list[Any]:
    """The parameters of `figures_sql(subject)`, in order: the village-code pattern, the period, the keyset."""
    values: Mapping[str, Any] = {
        "pattern": pattern,
        "year": when.year,
        "first_day": when.first_day,
        "last_day": when.last_day,
        "day": when.day,
        "after": after,
        "limit": limit,
    }
    return [values[name] for name in _STATEMENTS[subject][1]]


def _row(subject: SubjectType, year: int, record: Mapping[str, Any]) -> Any:
    """The typed row of a record: the subject's columns, and its figures by code."""
    codes = {f.code.value for f in domain.served(subject)}
    fields = {k: v for k, v in record.items() if k not in codes}
    figures = {k: v for k, v in record.items() if k in codes}
    return FIGURE_ROWS[subject].model_validate({**fields, "year": year, "figures": figures})


async def fetch_figures(
    conn: asyncpg.Connection,
    subject: SubjectType,
    region_code: str,
    year: int,
    today: date,
    *,
    limit: int | None = None,
) -> list[asyncpg.Record]:
    """Benchmark hook: the figures of every `subject` under `region_code` for `year` seen on `today`, by the same
    statement the route runs, on a plain asyncpg connection (no HTTP, scope or models)."""
    args = figure_parameters(
        subject, scope_prefix(region_code) + "%", domain.period(year, today), limit=limit
    )
    async with conn.transaction(readonly=True):
        await conn.execute(_CUSTOM_PLANS)
        return list(await conn.fetch(figures_sql(subject), *args))


def _cursor_kind(subject: SubjectType) -> str:
    return f"planning_figures_{subject.value}"


class FigureRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    def _pattern(self, region_code: str) -> str:
        """The region's villages as a LIKE pattern, within the caller's own prefix (nothing when they do not
        meet: the service answered 404 already)."""
        wanted, own = scope_prefix(region_code), self.principal.prefix
        if wanted.startswith(own):
            return wanted + "%"
        if own.startswith(wanted):
            return own + "%"
        return "-"  # no code starts with '-'

    def _after(self, subject: SubjectType, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        (value,) = decode_cursor(cursor, _cursor_kind(subject), [str])
        assert isinstance(value, str)
        return value

    @contextlib.asynccontextmanager
    async def _custom_plans(self) -> AsyncIterator[Any]:
        """The session's asyncpg connection in a read-only transaction planning each statement for its values
        (see the module's docstring)."""
        conn = await raw_connection(self.session)
        if conn.is_in_transaction():
            await conn.execute(_CUSTOM_PLANS)
            yield conn
            return
        # One round trip opens the transaction and sets the plan mode (a simple query of two statements).
        await conn.execute(f"BEGIN READ ONLY; {_CUSTOM_PLANS}")
        try:
            yield conn
        finally:
            await conn.execute("ROLLBACK")  # it only read

    def _statement(
        self, subject: SubjectType, query: FigureQuery, when: Period, limit: int | None
    ) -> tuple[str, Sequence[Any]]:
        args = figure_parameters(
            subject,
            self._pattern(query.region),
            when,
            after=self._after(subject, query.cursor),
            limit=limit,
        )
        return figures_sql(subject), args

    async def page(self, subject: SubjectType, query: FigureQuery, when: Period) -> FigurePage:
        """A page of `query.limit` rows after `query.cursor`, and the cursor of the next page."""
        limit = query.limit or 1
        sql, args = self._statement(subject, query, when, limit + 1)
        async with self._custom_plans() as conn:
            records = list(await conn.fetch(sql, *args))
        more = len(records) > limit
        items = [_row(subject, when.year, r) for r in records[:limit]]
        next_cursor = encode_cursor(_cursor_kind(subject), items[-1].id) if more and items else None
        return FigurePage(items, next_cursor)

    def stream(self, subject: SubjectType, query: FigureQuery, when: Period) -> AsyncIterator[Any]:
        """Every row after `query.cursor`, from a server-side cursor, as they are sent. The cursor is decoded
        now (a malformed one is a 400 before the answer starts); the rows are read when iterated."""
        sql, args = self._statement(subject, query, when, None)

        async def rows() -> AsyncIterator[Any]:
            async with self._custom_plans() as conn:
                async for record in conn.cursor(sql, *args, prefetch=CURSOR_PREFETCH):
                    yield _row(subject, when.year, record)

        return rows()

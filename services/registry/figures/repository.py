"""Every SQL statement of the figures: one statement per subject type, set-wise, computed by PostgreSQL.

Each subject type has one SQL text (`figures_sql`), a chain of CTEs that starts from the page of subjects (keyset
on the subject's code or id, `LIMIT` NULL for all), gathers their households, workflow events, incomes, members,
plans, pairings, help records and rounds in one pass each, and aggregates per subject — no query per subject,
no loop over households in Python. The meaning of every column is the definition in figures/domain.py; the
"as of 31 December" boundaries come from `domain.Period`.

Scope: every statement reads households (pairings, assignments) whose village code is `LIKE :pattern`, the
region asked for intersected here with the caller's own prefix (`_pattern`); the service has already answered
404 for a region outside the caller's scope. Subjects are the regions under the pattern, the cadres and units
with a pairing (or a resident assignment) of a household (village) under it, and the households under it.

As planning's reports do, each statement runs with `plan_cache_mode = force_custom_plan` in a read-only
transaction on the session's asyncpg connection: asyncpg prepares statements, and a generic plan cannot know that
`LIKE $1` keeps a whole county; and without JIT (`_SETTINGS`). Rows come back all at once for a page (`page`) or
from a server-side cursor while NDJSON is sent (`stream`). A request costs the same three statements however many
subjects it covers: the region check, the settings, the figures (tested).

Measured on a synthetic county (100,000 households, 300 villages, 2,000 cadres, 400,000 help records; 2 cores,
PostgreSQL 16): a whole county's villages, townships, cadres or units in 1.5-1.9 s each, its 20,000 exit tests in
0.45 s; a page of 50 cadres in 0.3 s.

Benchmark hook: `fetch_figures(conn, subject, region, year, today)` runs the same statement on a plain asyncpg
connection, with no HTTP, scope or model around it (bench/assessment.py times it beside the HTTP pull).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
from sqlmodel import col, select

from services.registry.figures import domain
from services.registry.figures.domain import Period, SubjectType
from services.registry.figures.schemas import FIGURE_ROWS, FigureQuery
from services.registry.help_records.repository import counted_visit_sql
from services.registry.models import Region
from services.registry.scope import PAIRING_ACTIVE_SQL
from shared.context import Context
from shared.db import raw_connection, scope_filter
from shared.figures import FigurePage
from shared.pagination import decode_cursor, encode_cursor
from shared.roles import RegionLevel, scope_prefix

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
#: How each statement is planned (one round trip, in the statement's read-only transaction): a custom plan for
#: the values (see above), and no JIT — the CTEs' row estimates multiply, and on 100,000 households the JIT
#: compiled for 1.7 s a statement that then ran in 0.45 s (measured, PostgreSQL 16).
_SETTINGS = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off"


def _values(values: Any) -> str:
    """A SQL list of constant codes (from the domain's own enums and sets, never from a request)."""
    return ", ".join(f"'{v}'" for v in sorted(str(v) for v in values))


_POOR = _values(domain.POOR_STATUSES)
_PENDING = _values(domain.EXIT_PENDING_STATUSES)
_IN_SCHOOL = _values(domain.IN_SCHOOL)
_WORKING = _values(domain.WORKING)
_DANGEROUS = _values(domain.DANGEROUS_HOUSE_GRADES)
_ASSISTED = _values(domain.SOCIAL_ASSISTANCE_ATTRIBUTES)
_TEAM = _values(domain.TEAM_ROLES)
_ACTIVE_ON_DAY = PAIRING_ACTIVE_SQL.format(p="p", day=":day")

# -- fragments shared by the statements ------------------------------------------------------------------------
#: The workflow facts of each household of `hh` (events taken before the end of D only): its status at the end
#: of Y and of Y-1, whether its exit / re-entry was county-reviewed in Y (and re-entry in Y-1), whether its exit
#: was proposed in Y. A county re-review is a re-entry's when an apply_return precedes it (identification starts
#: only from no status, so nothing else can).
_EVENTS = """
ev AS (
  SELECT e.household_id, e.seq, e.command, e.status_after, e.at,
         bool_or(e.command = 'apply_return') OVER (PARTITION BY e.household_id ORDER BY e.seq) AS in_return
  FROM registry_workflow_event e JOIN hh ON hh.id = e.household_id
  WHERE e.at < :cutoff
),
hs AS (
  SELECT household_id,
    (array_agg(status_after ORDER BY seq DESC))[1] AS status_end,
    (array_agg(status_after ORDER BY seq DESC) FILTER (WHERE at < :year_start))[1] AS status_prev,
    bool_or(status_after = 'exit_county_reviewed' AND at >= :year_start) AS exited,
    bool_or(in_return AND status_after = 'county_reviewed' AND at >= :year_start) AS returned,
    bool_or(in_return AND status_after = 'county_reviewed' AND at >= :prior_start AND at < :year_start)
      AS returned_prev,
    bool_or(command = 'propose_exit' AND at >= :year_start) AS proposed
  FROM ev GROUP BY household_id
),"""

#: The help plan of each household of `hh` as written by the end of D, and its items due in Y, each with whether
#: a progress entry completed it by its due date.
_PLANS = """
pl AS (
  SELECT DISTINCT ON (p.household_id) p.household_id, p.version, p.year_from, p.year_to, p.target_exit_year,
         p.items
  FROM registry_help_plan p JOIN hh ON hh.id = p.household_id
  WHERE p.created_at < :cutoff
  ORDER BY p.household_id, p.version DESC
),
it AS (
  SELECT pl.household_id, (x ->> 'item_id')::uuid AS item_id, (x ->> 'due_date')::date AS due_on,
         (x ->> 'responsible_cadre_id')::uuid AS cadre_id,
         coalesce((x ->> 'expected_income_gain_yuan')::numeric, 0) AS gain,
         EXISTS (SELECT 1 FROM registry_help_plan_progress g
                 WHERE g.household_id = pl.household_id AND g.item_id = (x ->> 'item_id')::uuid
                   AND g.completed_on <= (x ->> 'due_date')::date) AS on_time
  FROM pl CROSS JOIN LATERAL jsonb_array_elements(pl.items) AS x
  WHERE (x ->> 'due_date')::date BETWEEN :first_day AND :last_day
),"""

#: The households of `hh` with a pairing in force on D (`scope.PAIRING_ACTIVE_SQL`, the one definition).
_PAIRED = f"""
pa AS (
  SELECT DISTINCT p.household_id FROM registry_pairing p JOIN hh ON hh.id = p.household_id
  WHERE {_ACTIVE_ON_DAY}
),"""  # noqa: S608 - the scope module's constant text

#: The latest income record of Y and of Y-1 of each household of `hh`.
_INCOMES = """
inc AS (
  SELECT DISTINCT ON (i.household_id, i.year) i.household_id, i.year, i.net_income, i.per_capita_net_income,
         i.household_size
  FROM registry_household_income i JOIN hh ON hh.id = i.household_id
  WHERE i.year IN (:year, :prior_year)
  ORDER BY i.household_id, i.year, i.version DESC
),"""


def _line(name: str) -> str:
    return f"""(SELECT pp.value FROM registry_policy_parameter pp
      WHERE pp.year = :year AND pp.name = '{name}' AND pp.region_code = ANY (v.chain)
      ORDER BY array_position(v.chain, pp.region_code::text), pp.version DESC LIMIT 1)"""  # noqa: S608 - a parameter name of the domain


def _lines(villages: str) -> str:
    """The exit line (yuan) of each village of the `villages` query: exit_income_line_yuan, else
    identification_income_line_yuan, from the nearest region up the tree (newest version), else the default."""
    return f"""
vl AS (
  SELECT v.village_code,
    coalesce({_line("exit_income_line_yuan")}, {_line("identification_income_line_yuan")},
             CAST(:line_default AS numeric)) AS line
  FROM (SELECT DISTINCT village_code,
               ARRAY[village_code::text, left(village_code, 9) || '000', left(village_code, 6) || '000000',
                     left(village_code, 4) || '00000000', left(village_code, 2) || '0000000000'] AS chain
        FROM ({villages}) q) v
),"""  # noqa: S608 - as above


# -- villages and townships ------------------------------------------------------------------------------------
_PLACE_KEY = {SubjectType.village: "h.village_code", SubjectType.township: "left(h.village_code, 9) || '000'"}
_PLACE_TOWNSHIP = {SubjectType.village: "left(s.code, 9) || '000'", SubjectType.township: "s.code"}
_PLACE_POPULATION = {
    SubjectType.village: "rp.population",
    SubjectType.township: """coalesce(rp.population, (SELECT sum(c.population) FROM registry_region_population c
       JOIN registry_region cr ON cr.code = c.region_code WHERE cr.parent_code = s.code AND c.year = :year))""",
}


def _place_sql(subject: SubjectType) -> str:
    key = _PLACE_KEY[subject]
    plan_column = (
        """,
  CASE WHEN ah.planned_people > 0
       THEN round(coalesce(ah.exited_people, 0) * 100.0 / ah.planned_people, 2) END AS exit_plan_achievement"""
        if subject is SubjectType.township
        else ""
    )
    return f"""
WITH subj AS (
  SELECT r.code, r.name, r.parent_code, pr.name AS parent_name
  FROM registry_region r LEFT JOIN registry_region pr ON pr.code = r.parent_code
  WHERE r.level = '{RegionLevel(subject.value)}' AND r.code LIKE :pattern
    AND (CAST(:after AS text) IS NULL OR r.code > CAST(:after AS text))
  ORDER BY r.code
  LIMIT CAST(:limit AS bigint)
),
hh AS (
  SELECT h.id, {key} AS subject, h.village_code, h.household_size, h.has_labor_capacity,
         h.poverty_cause_primary, h.planned_exit_year,
         coalesce((h.details -> 'development' ->> 'willing')::boolean, true) AS willing
  FROM registry_household h
  WHERE h.village_code LIKE :pattern AND {key} IN (SELECT code FROM subj)
),{_EVENTS}{_PLANS}{_INCOMES}{_PAIRED}{_lines("SELECT village_code FROM hh")}
up AS (
  SELECT DISTINCT i.household_id FROM registry_household_income i JOIN hh ON hh.id = i.household_id
  WHERE i.year = :prior_year AND i.recorded_at < :update_deadline
),
hf AS (
  SELECT hh.*,
    coalesce(hs.status_end IN ({_POOR}), false) AS poor,
    coalesce(hs.status_prev IN ({_POOR}), false) AS poor_prev,
    hs.status_prev IS NOT NULL AS known_prev,
    coalesce(hs.exited, false) AS exited,
    coalesce(hs.returned, false) AS returned,
    coalesce(hs.returned_prev, false) AS returned_prev,
    coalesce(hs.proposed, false) AS proposed,
    coalesce(hs.proposed AND hs.status_end IN ({_PENDING}), false) AS exit_pending,
    pa.household_id IS NOT NULL AS paired,
    coalesce(pl.year_from <= :year AND pl.year_to >= :year, false) AS planned,
    up.household_id IS NOT NULL AS updated
  FROM hh
  LEFT JOIN hs ON hs.household_id = hh.id
  LEFT JOIN pa ON pa.household_id = hh.id
  LEFT JOIN pl ON pl.household_id = hh.id
  LEFT JOIN up ON up.household_id = hh.id
),
ah AS (
  SELECT subject,
    sum(household_size) FILTER (WHERE exited) AS exited_people,
    count(*) FILTER (WHERE poor) AS poor_households,
    sum(household_size) FILTER (WHERE poor) AS poor_people,
    sum(household_size) FILTER (WHERE returned) AS returnees,
    sum(household_size) FILTER (WHERE returned_prev) AS returnees_prev,
    bool_or(known_prev) AS known_prev,
    count(*) FILTER (WHERE poor AND has_labor_capacity AND willing) AS need_pairing,
    count(*) FILTER (WHERE poor AND has_labor_capacity AND willing AND paired) AS paired,
    count(*) FILTER (WHERE proposed) AS proposed,
    count(*) FILTER (WHERE exit_pending) AS exit_pending,
    count(*) FILTER (WHERE poor_prev) AS poor_prev,
    count(*) FILTER (WHERE poor_prev AND updated) AS updated,
    count(*) FILTER (WHERE poor AND (poverty_cause_primary IS NULL OR NOT planned
                                     OR (has_labor_capacity AND willing AND NOT paired))) AS incomplete,
    sum(household_size) FILTER (WHERE planned_exit_year = :year) AS planned_people
  FROM hf GROUP BY subject
),
ai AS (
  SELECT hf.subject,
    count(cy.household_id) AS with_income,
    count(*) FILTER (WHERE cy.per_capita_net_income >= vl.line) AS above,
    sum(cy.net_income) FILTER (WHERE cp.household_id IS NOT NULL) AS net_y,
    sum(cy.household_size) FILTER (WHERE cp.household_id IS NOT NULL) AS size_y,
    sum(cp.net_income) FILTER (WHERE cy.household_id IS NOT NULL) AS net_p,
    sum(cp.household_size) FILTER (WHERE cy.household_id IS NOT NULL) AS size_p
  FROM hf
  LEFT JOIN inc cy ON cy.household_id = hf.id AND cy.year = :year
  LEFT JOIN inc cp ON cp.household_id = hf.id AND cp.year = :prior_year
  LEFT JOIN vl ON vl.village_code = hf.village_code
  WHERE hf.poor OR hf.exited
  GROUP BY hf.subject
),
am AS (
  SELECT hf.subject,
    count(*) AS members,
    count(*) FILTER (WHERE coalesce((m.details -> 'insurance' ->> 'ncms_enrolled')::boolean, false)) AS ncms,
    count(*) FILTER (WHERE left(m.birth_year_month, 4)::int <= :pension_born_by
                       AND coalesce(m.school_status NOT IN ({_IN_SCHOOL}), true)) AS pension_base,
    count(*) FILTER (WHERE left(m.birth_year_month, 4)::int <= :pension_born_by
                       AND coalesce(m.school_status NOT IN ({_IN_SCHOOL}), true)
                       AND coalesce((m.details -> 'insurance' ->> 'pension_enrolled')::boolean, false)) AS pension,
    count(*) FILTER (WHERE left(m.birth_year_month, 4)::int BETWEEN :junior_from AND :junior_to) AS junior_base,
    count(*) FILTER (WHERE left(m.birth_year_month, 4)::int BETWEEN :junior_from AND :junior_to
                       AND m.school_status IN ({_IN_SCHOOL})
                       AND NOT coalesce((m.details ->> 'dropout')::boolean, false)) AS junior
  FROM hf JOIN registry_member m ON m.household_id = hf.id AND m.active
  WHERE hf.poor OR hf.exited
  GROUP BY hf.subject
),
ap AS (
  SELECT hh.subject, count(*) FILTER (WHERE it.due_on <= :day) AS due,
         count(*) FILTER (WHERE it.due_on <= :day AND it.on_time) AS on_time
  FROM it JOIN hh ON hh.id = it.household_id
  GROUP BY hh.subject
),
mr AS (
  SELECT township_code, count(DISTINCT half) AS closed
  FROM registry_monitoring_round
  WHERE year = :year AND closed_at < :cutoff AND township_code IN (SELECT {_PLACE_TOWNSHIP[subject]} FROM subj s)
  GROUP BY township_code
)
SELECT s.code AS id, s.name, s.parent_code, s.parent_name,
  coalesce(ah.poor_households, 0)::bigint AS poor_households,
  coalesce(ah.poor_people, 0)::bigint AS poor_people,
  pop.population::bigint AS population,
  coalesce(ah.exited_people, 0)::bigint AS exited_people,
  et.people::bigint AS exit_quota_people,
  CASE WHEN pop.population > 0
       THEN round(coalesce(ah.poor_people, 0) * 100.0 / pop.population, 2) END AS poverty_incidence,
  coalesce(ah.returnees, 0)::bigint AS returnees,
  CASE WHEN ah.known_prev
       THEN (coalesce(ah.returnees, 0) - coalesce(ah.returnees_prev, 0))::bigint END AS returnees_increase,
  CASE WHEN ai.size_y > 0 AND ai.size_p > 0 AND ai.net_p > 0
       THEN round(((ai.net_y / ai.size_y) / (ai.net_p / ai.size_p) - 1) * 100, 2) END AS income_growth,
  CASE WHEN ai.with_income > 0 THEN round(ai.above * 100.0 / ai.with_income, 2) END
    AS share_households_above_line,
  CASE WHEN am.members > 0 THEN round(am.ncms * 100.0 / am.members, 2) END AS ncms_coverage,
  CASE WHEN am.pension_base > 0 THEN round(am.pension * 100.0 / am.pension_base, 2) END AS pension_coverage,
  CASE WHEN am.junior_base > 0 THEN round(am.junior * 100.0 / am.junior_base, 2) END AS junior_middle_enrolment,
  CASE WHEN ah.need_pairing > 0 THEN round(ah.paired * 100.0 / ah.need_pairing, 2) END AS pairing_coverage,
  CASE WHEN ap.due > 0 THEN round(ap.on_time * 100.0 / ap.due, 2) END AS measures_on_schedule,
  coalesce(mr.closed, 0)::bigint AS monitoring_rounds_closed,
  CASE WHEN :update_deadline_passed AND ah.poor_prev > 0 THEN ah.updated = ah.poor_prev END
    AS deadline_jan_update_met,
  CASE WHEN :year_over AND ah.proposed > 0 THEN ah.exit_pending = 0 END AS deadline_dec_exits_met,
  coalesce(ah.incomplete, 0)::bigint AS incomplete_cards{plan_column}
FROM subj s
LEFT JOIN ah ON ah.subject = s.code
LEFT JOIN ai ON ai.subject = s.code
LEFT JOIN am ON am.subject = s.code
LEFT JOIN ap ON ap.subject = s.code
LEFT JOIN mr ON mr.township_code = {_PLACE_TOWNSHIP[subject]}
LEFT JOIN registry_region_population rp ON rp.region_code = s.code AND rp.year = :year
LEFT JOIN registry_exit_target et ON et.region_code = s.code AND et.year = :year
CROSS JOIN LATERAL (SELECT {_PLACE_POPULATION[subject]} AS population) pop
ORDER BY s.code
"""  # noqa: S608 - built from the domain's constants, never from a request


# -- cadres and helping units ----------------------------------------------------------------------------------
def _helper_sql(subject: SubjectType) -> str:
    unit = subject is SubjectType.helping_unit
    pairing_subject = "p.unit_id" if unit else "p.cadre_id"
    if unit:
        assignments = f"""
va AS (
  SELECT c.unit_id AS subject, a.role, a.starts_on, a.ends_on
  FROM registry_village_assignment a JOIN registry_cadre c ON c.id = a.cadre_id
  WHERE a.village_code LIKE :pattern AND a.role IN ({_TEAM})
    AND a.starts_on <= :day AND (a.ends_on IS NULL OR a.ends_on > :first_day)
),"""  # noqa: S608 - as above
        subjects = """
subj AS (
  SELECT u.id, u.name, u.region_code AS parent_code, r.name AS parent_name, u.kind, u.liaison_name
  FROM registry_helping_unit u LEFT JOIN registry_region r ON r.code = u.region_code
  WHERE (u.id IN (SELECT subject FROM pr) OR u.id IN (SELECT subject FROM va))
    AND (CAST(:after AS uuid) IS NULL OR u.id > CAST(:after AS uuid))
  ORDER BY u.id
  LIMIT CAST(:limit AS bigint)
),"""
        responsible = "cs AS (SELECT c.unit_id AS subject, c.id AS cadre_id FROM registry_cadre c"
        responsible += " WHERE c.unit_id IN (SELECT id FROM subj)),"
        extra_aggregates = """,
av AS (
  SELECT subject,
    bool_or(starts_on <= :team_since AND (ends_on IS NULL OR ends_on > :day)) AS in_place,
    bool_or(ends_on IS NOT NULL AND ends_on > :first_day AND ends_on <= :day
            AND ends_on < starts_on + CAST(:min_term_days AS int)) AS left_early,
    bool_or(role = 'first_secretary' AND (ends_on IS NULL OR ends_on > :day)) AS first_secretary
  FROM va GROUP BY subject
)"""
        extra_columns = """,
  CASE WHEN a.poor > 0 THEN round(a.poor_paired * 100.0 / a.poor, 2) END AS pairing_coverage,
  coalesce(av.in_place AND NOT av.left_early, false) AS resident_team_stable,
  coalesce(av.first_secretary, false) AS first_secretary_assigned,
  coalesce(btrim(s.liaison_name), '') <> '' AS liaison_designated,
  s.kind"""
        extra_joins = "\nLEFT JOIN av ON av.subject = s.id"
    else:
        assignments = ""
        subjects = """
subj AS (
  SELECT c.id, c.name, c.region_code AS parent_code, r.name AS parent_name, c.unit_id, u.name AS unit_name,
         c.position_level
  FROM registry_cadre c JOIN registry_helping_unit u ON u.id = c.unit_id
  LEFT JOIN registry_region r ON r.code = c.region_code
  WHERE c.id IN (SELECT subject FROM pr) AND (CAST(:after AS uuid) IS NULL OR c.id > CAST(:after AS uuid))
  ORDER BY c.id
  LIMIT CAST(:limit AS bigint)
),"""
        responsible = "cs AS (SELECT id AS subject, id AS cadre_id FROM subj),"
        extra_aggregates = ""
        extra_columns = """,
  CASE WHEN a.with_plan > 0 THEN NOT a.plan_failed END AS exit_per_plan_no_return,
  s.unit_id, s.unit_name, s.position_level"""
        extra_joins = ""
    return f"""
WITH pr AS (
  SELECT DISTINCT {pairing_subject} AS subject, p.cadre_id, p.household_id
  FROM registry_pairing p JOIN registry_household h ON h.id = p.household_id
  WHERE h.village_code LIKE :pattern AND p.superseded_at IS NULL
    AND p.valid_from <= :day AND (p.valid_to IS NULL OR p.valid_to > :first_day)
),{assignments}{subjects}
sk AS (SELECT DISTINCT subject, cadre_id, household_id FROM pr WHERE subject IN (SELECT id FROM subj)),
sp AS (SELECT DISTINCT subject, household_id FROM sk),
{responsible}
hh AS (SELECT h.id, h.household_size, h.planned_exit_year FROM registry_household h
       WHERE h.id IN (SELECT household_id FROM sp)),{_EVENTS}{_PLANS}{_PAIRED}
gained AS (SELECT household_id, sum(gain) AS gain FROM it GROUP BY household_id HAVING sum(gain) > 0),
inc AS (
  SELECT DISTINCT ON (i.household_id, i.year) i.household_id, i.year, i.net_income
  FROM registry_household_income i JOIN gained g ON g.household_id = i.household_id
  WHERE i.year IN (:year, :prior_year)
  ORDER BY i.household_id, i.year, i.version DESC
),
hf AS (
  SELECT hh.id, hh.household_size, hh.planned_exit_year,
    coalesce(hs.status_end IN ({_POOR}), false) AS poor,
    coalesce(hs.exited, false) AS exited,
    coalesce(hs.returned, false) AS returned,
    pa.household_id IS NOT NULL AS paired
  FROM hh LEFT JOIN hs ON hs.household_id = hh.id LEFT JOIN pa ON pa.household_id = hh.id
),
rv AS (
  SELECT sk.subject, r.id, r.household_id
  FROM registry_help_record r JOIN sk ON sk.cadre_id = r.cadre_id AND sk.household_id = r.household_id
  WHERE r.version = 1 AND r.device_time >= :year_start AND r.device_time < :cutoff
    AND {counted_visit_sql("r")}
),
signed AS (
  SELECT hc.record_id FROM registry_help_confirmation hc JOIN (SELECT DISTINCT id FROM rv) k ON k.id = hc.record_id
  GROUP BY hc.record_id HAVING count(*) >= :parties
),
carded AS (SELECT DISTINCT subject, household_id FROM rv),
acked AS (
  SELECT pl.household_id FROM pl JOIN registry_help_plan_ack k ON k.household_id = pl.household_id
    AND k.version = pl.version
  WHERE k.acknowledged_on <= :day AND pl.year_from <= :year AND pl.year_to >= :year
),
a AS (
  SELECT sp.subject,
    count(*) AS paired,
    sum(hf.household_size) FILTER (WHERE hf.exited) AS exited_people,
    sum(hf.household_size) FILTER (WHERE hf.planned_exit_year = :year) AS planned_people,
    count(*) FILTER (WHERE carded.household_id IS NULL) AS without_card,
    count(acked.household_id) AS plan_complete,
    count(*) FILTER (WHERE hf.poor) AS poor,
    count(*) FILTER (WHERE hf.poor AND hf.paired) AS poor_paired,
    count(pl.household_id) AS with_plan,
    bool_or(coalesce(pl.target_exit_year = :year AND NOT hf.exited, false) OR hf.returned) AS plan_failed
  FROM sp JOIN hf ON hf.id = sp.household_id
  LEFT JOIN pl ON pl.household_id = sp.household_id
  LEFT JOIN acked ON acked.household_id = sp.household_id
  LEFT JOIN carded ON carded.subject = sp.subject AND carded.household_id = sp.household_id
  GROUP BY sp.subject
),
ar AS (
  SELECT rv.subject, count(*) AS records, count(signed.record_id) AS confirmed
  FROM rv LEFT JOIN signed ON signed.record_id = rv.id
  GROUP BY rv.subject
),
ai AS (
  SELECT sp.subject, count(*) FILTER (WHERE it.due_on <= :day) AS due,
         count(*) FILTER (WHERE it.due_on <= :day AND it.on_time) AS on_time
  FROM sp JOIN it ON it.household_id = sp.household_id
  JOIN cs ON cs.cadre_id = it.cadre_id AND cs.subject = sp.subject
  GROUP BY sp.subject
),
ag AS (
  SELECT sp.subject, sum(cy.net_income - cp.net_income) AS increase, sum(g.gain) AS gain
  FROM sp
  JOIN gained g ON g.household_id = sp.household_id
  JOIN inc cy ON cy.household_id = sp.household_id AND cy.year = :year
  JOIN inc cp ON cp.household_id = sp.household_id AND cp.year = :prior_year
  GROUP BY sp.subject
),
am AS (
  SELECT sk.subject, count(DISTINCT mr.half) AS closed
  FROM registry_monitoring_finding f JOIN registry_monitoring_round mr ON mr.id = f.round_id
  JOIN sk ON sk.cadre_id = f.cadre_id AND sk.household_id = f.household_id
  WHERE mr.year = :year AND mr.closed_at < :cutoff
  GROUP BY sk.subject
){extra_aggregates}
SELECT s.id, s.name, s.parent_code, s.parent_name,
  CASE WHEN a.planned_people > 0
       THEN round(coalesce(a.exited_people, 0) * 100.0 / a.planned_people, 2) END AS exit_plan_achievement,
  CASE WHEN ai.due > 0 THEN round(ai.on_time * 100.0 / ai.due, 2) END AS measures_on_schedule,
  coalesce(am.closed, 0)::bigint AS monitoring_rounds_closed,
  CASE WHEN a.paired > 0 THEN round(coalesce(ar.records, 0) * 1.0 / a.paired, 2) END AS visits_per_pairing,
  CASE WHEN a.paired > 0 THEN round(coalesce(ar.confirmed, 0) * 1.0 / a.paired, 2) END
    AS confirmed_records_per_pairing,
  (coalesce(ar.records, 0) - coalesce(ar.confirmed, 0))::bigint AS unsigned_cards,
  coalesce(a.without_card, 0)::bigint AS households_without_card,
  CASE WHEN a.paired > 0 THEN round(a.plan_complete * 100.0 / a.paired, 2) END AS help_plan_completeness,
  CASE WHEN ag.gain > 0 THEN round(ag.increase * 100 / ag.gain, 2) END AS income_increase_vs_plan,
  (coalesce(ai.due, 0) - coalesce(ai.on_time, 0))::bigint AS help_targets_missed{extra_columns}
FROM subj s
LEFT JOIN a ON a.subject = s.id
LEFT JOIN ar ON ar.subject = s.id
LEFT JOIN ai ON ai.subject = s.id
LEFT JOIN ag ON ag.subject = s.id
LEFT JOIN am ON am.subject = s.id{extra_joins}
ORDER BY s.id
"""  # noqa: S608 - as above


# -- the household exit test -----------------------------------------------------------------------------------
_HOUSEHOLD_EXIT = f"""
WITH prop AS (
  SELECT DISTINCT ON (e.household_id) e.household_id, e.seq, e.data
  FROM registry_workflow_event e JOIN registry_household h ON h.id = e.household_id
  WHERE h.village_code LIKE :pattern AND e.command = 'propose_exit'
    AND e.at >= :year_start AND e.at < :cutoff
    AND (CAST(:after AS uuid) IS NULL OR e.household_id > CAST(:after AS uuid))
  ORDER BY e.household_id, e.seq DESC
),
subj AS (
  SELECT h.id, h.head_name AS name, h.village_code AS parent_code, r.name AS parent_name, h.status,
         h.village_code, h.dangerous_house_grade, h.poverty_attribute, h.details, prop.seq,
         prop.data -> 'exit_test' AS test
  FROM prop JOIN registry_household h ON h.id = prop.household_id
  LEFT JOIN registry_region r ON r.code = h.village_code
  ORDER BY h.id
  LIMIT CAST(:limit AS bigint)
),{_lines("SELECT village_code FROM subj")}
inc AS (
  SELECT DISTINCT ON (i.household_id) i.household_id, i.per_capita_net_income
  FROM registry_household_income i
  WHERE i.household_id IN (SELECT id FROM subj) AND i.year = :year
  ORDER BY i.household_id, i.version DESC
),
mem AS (
  SELECT m.household_id,
    bool_and(NOT coalesce((m.details ->> 'dropout')::boolean, false)) AS schooling_ok,
    bool_and(coalesce((m.details -> 'insurance' ->> 'ncms_enrolled')::boolean, false)) AS ncms_all,
    bool_or(m.labor_capacity IN ({_WORKING})) AS labour
  FROM registry_member m
  WHERE m.active AND m.household_id IN (SELECT id FROM subj)
  GROUP BY m.household_id
),
pc AS (
  SELECT s.id,
    bool_or(e.status_after = 'exit_county_reviewed' AND e.at < :cutoff) AS reviewed,
    bool_or(e.status_after = 'exited') AS announced
  FROM subj s JOIN registry_workflow_event e ON e.household_id = s.id AND e.seq > s.seq
  GROUP BY s.id
)
SELECT s.id, s.name, s.parent_code, s.parent_name, s.status,
  round(inc.per_capita_net_income * 100)::bigint AS per_capita_net_income_fen,
  round(vl.line * 100)::bigint AS poverty_line_fen,
  (s.test ->> 'food_and_clothing_secure')::boolean AS food_clothing_secure,
  mem.schooling_ok AS compulsory_schooling_ok,
  mem.ncms_all AS medical_insurance_all,
  coalesce(s.dangerous_house_grade NOT IN ({_DANGEROUS}), true) AS housing_safe,
  CASE WHEN NOT coalesce(mem.labour, false) THEN true
       ELSE (s.test ->> 'stable_income_source')::boolean END AS stable_income_source,
  CASE WHEN coalesce(mem.labour, false) THEN true
       ELSE coalesce(s.poverty_attribute IN ({_ASSISTED}), false)
         OR coalesce((s.details -> 'categories' ->> 'is_dibao_household')::boolean, false)
         OR coalesce((s.details -> 'categories' ->> 'is_wubao_household')::boolean, false)
  END AS social_assistance_covered,
  coalesce(pc.reviewed AND pc.announced, false) AS exit_procedure_complete,
  (s.test ->> 'head_acknowledged')::boolean AS head_acknowledged
FROM subj s
LEFT JOIN inc ON inc.household_id = s.id
LEFT JOIN vl ON vl.village_code = s.village_code
LEFT JOIN mem ON mem.household_id = s.id
LEFT JOIN pc ON pc.id = s.id
ORDER BY s.id
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


def _build(subject: SubjectType) -> str:
    if subject in _PLACE_KEY:
        return _place_sql(subject)
    if subject is SubjectType.household_exit:
        return _HOUSEHOLD_EXIT
    return _helper_sql(subject)


_STATEMENTS: dict[SubjectType, tuple[str, tuple[str, ...]]] = {s: _numbered(_build(s)) for s in SubjectType}


def figures_sql(subject: SubjectType) -> str:
    """The one statement computing the figures of `subject` ($n parameters: see `figure_parameters`)."""
    return _STATEMENTS[subject][0]


def figure_parameters(
    subject: SubjectType,
    pattern: str,
    when: Period,
    *,
    after: str | uuid.UUID | None = None,
    limit: int | None = None,
) -> list[Any]:
    """The parameters of `figures_sql(subject)`, in order: the village-code pattern, the period, the keyset."""
    values: Mapping[str, Any] = {
        "pattern": pattern,
        "year": when.year,
        "prior_year": when.year - 1,
        "first_day": when.first_day,
        "last_day": when.last_day,
        "day": when.day,
        "year_start": when.year_start,
        "cutoff": when.cutoff,
        "prior_start": when.prior_start,
        "update_deadline": when.update_deadline,
        "update_deadline_passed": when.update_deadline_passed,
        "year_over": when.year_over,
        "line_default": _decimal(domain.identification_line_default(when.year)),
        "pension_born_by": when.pension_born_by,
        "junior_from": when.junior_middle_born[0],
        "junior_to": when.junior_middle_born[1],
        "team_since": when.team_since,
        "min_term_days": domain.MIN_TERM.days,
        "parties": len(domain.ALL_PARTIES),
        "after": after,
        "limit": limit,
    }
    return [values[name] for name in _STATEMENTS[subject][1]]


def _decimal(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _row(subject: SubjectType, year: int, record: Mapping[str, Any]) -> Any:
    """The typed row of a record: the subject's columns, and its figures by code."""
    codes = {f.code.value for f in domain.served(subject)}
    fields = {k: v for k, v in record.items() if k not in codes}
    figures = {k: v for k, v in record.items() if k in codes}
    return FIGURE_ROWS[subject].model_validate({**fields, "year": year, "figures": figures})


def _pattern_of(region_code: str) -> str:
    return scope_prefix(region_code) + "%"


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
    args = figure_parameters(subject, _pattern_of(region_code), domain.period(year, today), limit=limit)
    async with conn.transaction(readonly=True):
        await conn.execute(_SETTINGS)
        return list(await conn.fetch(figures_sql(subject), *args))


def _cursor_kind(subject: SubjectType) -> str:
    return f"figures_{subject.value}"


def _key_type(subject: SubjectType) -> type[Any]:
    return str if subject in _PLACE_KEY else uuid.UUID


class FigureRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    async def region_exists(self, code: str) -> bool:
        """Whether the region exists inside the caller's scope (out of scope looks like missing)."""
        query = select(col(Region.code)).where(
            col(Region.code) == code, scope_filter(self.principal, col(Region.code))
        )
        return (await self.session.exec(query)).first() is not None

    def _pattern(self, region_code: str) -> str:
        """The region's villages as a LIKE pattern, within the caller's own prefix (nothing when they do not
        meet: the service answered 404 already)."""
        wanted, own = scope_prefix(region_code), self.principal.prefix
        if wanted.startswith(own):
            return wanted + "%"
        if own.startswith(wanted):
            return own + "%"
        return "-"  # no code starts with '-'

    def _after(self, subject: SubjectType, cursor: str | None) -> Any:
        if cursor is None:
            return None
        (value,) = decode_cursor(cursor, _cursor_kind(subject), [_key_type(subject)])
        return value

    @contextlib.asynccontextmanager
    async def _custom_plans(self) -> AsyncIterator[Any]:
        """The session's asyncpg connection in a read-only transaction planning the statement for its values."""
        conn = await raw_connection(self.session)
        if conn.is_in_transaction():
            await conn.execute(_SETTINGS)
            yield conn
            return
        async with conn.transaction(readonly=True):
            await conn.execute(_SETTINGS)
            yield conn

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

    async def stream(self, subject: SubjectType, query: FigureQuery, when: Period) -> AsyncIterator[Any]:
        """Every row after `query.cursor`, from a server-side cursor, as they are sent."""
        sql, args = self._statement(subject, query, when, None)
        async with self._custom_plans() as conn:
            async for record in conn.cursor(sql, *args, prefetch=CURSOR_PREFETCH):
                yield _row(subject, when.year, record)

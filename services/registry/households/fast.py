"""The household card on the hot path: one statement built by PostgreSQL, served as the bytes it returns.

`card_statement(where)` is the one definition of the card (DOMAIN.md §2 the 扶贫手册 view): the documented route,
the unmasked read, the phone download (services/registry/sync) and the benchmark's baseline all build their
statement from it, with their own WHERE clause and parameter style, instead of editing each other's SQL text.
"""

from __future__ import annotations

import uuid

import asyncpg

from shared.problems import NotFound
from shared.roles import Principal, Role

__all__ = ["CARD_OBJECT", "CARD_SQL_POSITIONAL", "card_statement", "read_card"]

#: The card of household `h` (joined with its village `v`) as one JSON object.
CARD_OBJECT = """json_build_object(
  'id', h.id, 'village_code', h.village_code, 'village_name', v.name,
  'natural_village', h.natural_village, 'villager_group', h.villager_group,
  'national_household_code', h.national_household_code,
  'status', CASE WHEN h.objection_open THEN 'objection_pending' ELSE h.status END,
  'workflow_status', h.status, 'chain', h.chain, 'returned', h.returned,
  'identification_year', h.identification_year, 'quota_year', h.quota_year,
  'head_name', h.head_name, 'household_size', h.household_size, 'labor_count', h.labor_count,
  'has_labor_capacity', h.has_labor_capacity,
  'poverty_cause_primary', h.poverty_cause_primary, 'poverty_causes_other', h.poverty_causes_other,
  'poverty_attribute', h.poverty_attribute, 'main_income_source', h.main_income_source,
  'dangerous_house_grade', h.dangerous_house_grade,
  'income_year', h.income_year, 'net_income', h.net_income::text,
  'per_capita_net_income', h.per_capita_net_income::text,
  'contact_phone', h.contact_phone_masked, 'bank_account', h.bank_account_masked, 'bank_name', h.bank_name,
  'details', h.details,
  'origin_household_id', h.origin_household_id, 'origin_kind', h.origin_kind, 'formed_on', h.formed_on,
  'flags', h.flags, 'planned_exit_year', h.planned_exit_year, 'exit_effective_year', h.exit_effective_year,
  'version', h.version, 'created_at', h.created_at, 'created_by', h.created_by,
  'updated_at', h.updated_at, 'updated_by', h.updated_by,
  'members', (
    SELECT coalesce(json_agg(json_build_object(
      'id', m.id, 'person_id', m.person_id, 'name', m.name, 'relation', m.relation, 'sex', m.sex,
      'ethnicity', m.ethnicity, 'birth_year_month', m.birth_year_month,
      'resident_id_number', m.id_number_masked, 'no_id_reason', m.no_id_reason,
      'labor_capacity', m.labor_capacity, 'health_status', m.health_status,
      'education_level', m.education_level, 'school_status', m.school_status, 'resident', m.resident,
      'annual_personal_income', m.annual_personal_income::text,
      'phone', m.details->>'phone_masked', 'details', m.details - 'phone_enc' - 'phone_masked',
      'joined_on', m.joined_on
    ) ORDER BY m.relation <> 'head', m.birth_year_month, m.id), '[]'::json)
    FROM registry_member m WHERE m.household_id = h.id AND m.active),
  'former_members', (
    SELECT coalesce(json_agg(json_build_object(
      'id', m.id, 'person_id', m.person_id, 'name', m.name, 'relation', m.relation,
      'joined_on', m.joined_on, 'left_on', m.left_on, 'left_reason', m.left_reason
    ) ORDER BY m.left_on, m.id), '[]'::json)
    FROM registry_member m WHERE m.household_id = h.id AND NOT m.active),
  'incomes', (
    SELECT coalesce(json_agg(json_build_object(
      'year', i.year, 'version', i.version, 'wage', i.wage::text, 'operating', i.operating::text,
      'property', i.property::text, 'transfer', i.transfer::text,
      'operating_expenses', i.operating_expenses::text, 'household_size', i.household_size,
      'net_income', i.net_income::text, 'per_capita_net_income', i.per_capita_net_income::text,
      'surveyed_on', i.surveyed_on, 'note', i.note, 'recorded_at', i.recorded_at, 'recorded_by', i.recorded_by
    ) ORDER BY i.year DESC), '[]'::json)
    FROM (SELECT DISTINCT ON (year) * FROM registry_household_income
          WHERE household_id = h.id ORDER BY year, version DESC) i),
  'workflow', (
    SELECT coalesce(json_agg(json_build_object(
      'seq', e.seq, 'command', e.command, 'at', e.at, 'actor', e.actor, 'role', e.role,
      'reason', e.reason, 'data', e.data, 'status_after', e.status_after, 'batch_id', e.batch_id
    ) ORDER BY e.seq), '[]'::json)
    FROM registry_workflow_event e WHERE e.household_id = h.id),
  'flags_detail', (
    SELECT coalesce(json_agg(json_build_object(
      'id', f.id, 'code', f.code, 'detail', f.detail, 'raised_at', f.raised_at,
      'cleared_at', f.cleared_at, 'cleared_by', f.cleared_by, 'clear_reason', f.clear_reason
    ) ORDER BY f.id), '[]'::json)
    FROM registry_household_flag f WHERE f.household_id = h.id),
  'membership_changes', (
    SELECT coalesce(json_agg(json_build_object(
      'person_id', c.person_id, 'kind', c.kind, 'from_household_id', c.from_household_id,
      'to_household_id', c.to_household_id, 'at', c.at, 'actor', c.actor, 'reason', c.reason
    ) ORDER BY c.id), '[]'::json)
    FROM registry_membership_change c WHERE c.from_household_id = h.id OR c.to_household_id = h.id),
  'pairings', (
    SELECT coalesce(json_agg(json_build_object(
      'id', p.id, 'cadre_id', p.cadre_id, 'cadre_name', c.name, 'position_level', c.position_level,
      'position', c.position, 'cadre_phone', c.phone_masked, 'unit_id', p.unit_id, 'unit_name', u.name,
      'role', p.role, 'valid_from', p.valid_from, 'valid_to', p.valid_to, 'end_reason', p.end_reason
    ) ORDER BY p.valid_from, p.row_id), '[]'::json)
    FROM registry_pairing p JOIN registry_cadre c ON c.id = p.cadre_id
    JOIN registry_helping_unit u ON u.id = p.unit_id
    WHERE p.household_id = h.id AND p.superseded_at IS NULL)
)"""


def card_statement(where: str, *, columns: str = "::text AS card, h.version") -> str:
    """The card SELECT for the households matching `where` (over `h`, the household, and `v`, its village).

    `columns` follows the card expression: by default the JSON as text and the version (one household); the
    phone download asks for `::json AS card, h.id` (many at once).
    """
    return (
        f"SELECT ({CARD_OBJECT}){columns}\n"
        "FROM registry_household h JOIN registry_region v ON v.code = h.village_code\n"
        f"WHERE {where}"
    )


#: A household in the caller's region subtree: $1 the id, $2 the region prefix pattern.
CARD_SQL_POSITIONAL = card_statement("h.id = $1 AND h.village_code LIKE $2")
#: For a cadre: any household they are or were paired with (read-only for past pairings); $3 the cadre's sub.
_CADRE_POSITIONAL = card_statement(
    "h.id = $1 AND h.village_code LIKE $2"
    " AND EXISTS (SELECT 1 FROM registry_pairing p JOIN registry_cadre c ON c.id = p.cadre_id"
    " WHERE p.household_id = h.id AND p.superseded_at IS NULL AND c.user_sub = $3)"
)


async def read_card(pool: asyncpg.Pool, principal: Principal, household_id: uuid.UUID) -> tuple[str, int]:
    """The card JSON text and version from the read pool; 404 when missing or out of scope."""
    if principal.role is Role.cadre:
        row = await pool.fetchrow(_CADRE_POSITIONAL, household_id, "%", principal.sub)
    else:
        row = await pool.fetchrow(CARD_SQL_POSITIONAL, household_id, principal.prefix + "%")
    if row is None:
        raise NotFound(f"household {household_id} not found")
    return row[0], row[1]

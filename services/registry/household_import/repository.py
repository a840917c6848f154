"""Every SQL statement of a bulk registration: the checks against the registry, and one COPY per table.

The checks send each set of values as one array parameter (`= ANY($1)`), however many there are. The writes go
straight to asyncpg's binary COPY on the session's own connection, inside the request's transaction, so a later
refusal undoes them with everything else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.registry.models import (
    Household,
    HouseholdIncome,
    Member,
    MembershipChange,
    Region,
    WorkflowEvent,
)
from shared.context import Context
from shared.db import raw_connection
from shared.errors import Refused

__all__ = [
    "EVENT_COLUMNS",
    "HOUSEHOLD_COLUMNS",
    "INCOME_COLUMNS",
    "MEMBERSHIP_COLUMNS",
    "MEMBER_COLUMNS",
    "ImportRepository",
    "Rows",
]

# Columns written by COPY, in order (the others take their server defaults).
HOUSEHOLD_COLUMNS = (
    "id",
    "village_code",
    "natural_village",
    "villager_group",
    "national_household_code",
    "status",
    "identification_year",
    "quota_year",
    "head_name",
    "household_size",
    "labor_count",
    "has_labor_capacity",
    "poverty_cause_primary",
    "poverty_causes_other",
    "poverty_attribute",
    "main_income_source",
    "dangerous_house_grade",
    "income_year",
    "net_income",
    "per_capita_net_income",
    "details",
    "contact_phone_enc",
    "contact_phone_masked",
    "bank_account_enc",
    "bank_account_masked",
    "bank_name",
    "formed_on",
    "flags",
    "planned_exit_year",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
)
MEMBER_COLUMNS = (
    "id",
    "person_id",
    "household_id",
    "name",
    "relation",
    "sex",
    "ethnicity",
    "birth_year_month",
    "id_number_enc",
    "id_number_index",
    "id_number_masked",
    "no_id_reason",
    "labor_capacity",
    "health_status",
    "education_level",
    "school_status",
    "resident",
    "annual_personal_income",
    "details",
    "active",
    "joined_on",
    "created_at",
    "updated_at",
)
INCOME_COLUMNS = (
    "household_id",
    "year",
    "version",
    "wage",
    "operating",
    "property",
    "transfer",
    "operating_expenses",
    "household_size",
    "net_income",
    "per_capita_net_income",
    "surveyed_on",
    "note",
    "recorded_at",
    "recorded_by",
)
EVENT_COLUMNS = (
    "household_id",
    "seq",
    "command",
    "at",
    "actor",
    "role",
    "data",
    "status_after",
    "request_id",
)
MEMBERSHIP_COLUMNS = ("person_id", "kind", "to_household_id", "to_member_id", "at", "actor", "reason")

#: Records for one table, each a tuple in that table's COPY column order.
Rows = list[tuple[Any, ...]]


class ImportRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def _present(self, column: Any, values: Iterable[str], *where: Any) -> set[str]:
        """Those of `values` found in `column` (one array parameter, however many values)."""
        wanted = sa.bindparam(None, list(values), type_=ARRAY(sa.String))
        query = select(column).where(column == sa.any_(wanted), *where)
        return {str(v) for v in await self.session.exec(query)}

    async def existing_villages(self, codes: Iterable[str]) -> set[str]:
        return await self._present(col(Region.code), codes)

    async def active_people(self, id_indexes: Iterable[str]) -> set[str]:
        """Those blind indexes that are an active member of a household already (invariant 2)."""
        return await self._present(col(Member.id_number_index), id_indexes, col(Member.active))

    async def taken_national_codes(self, codes: Iterable[str]) -> set[str]:
        return await self._present(col(Household.national_household_code), codes)

    async def copy(
        self, *, households: Rows, members: Rows, incomes: Rows, events: Rows, joins: Rows
    ) -> None:
        """COPY every table, parents first; a person who joined a household meanwhile refuses the whole file."""
        raw = await raw_connection(self.session)
        copies: Sequence[tuple[str, Sequence[str], Rows]] = (
            (str(Household.__tablename__), HOUSEHOLD_COLUMNS, households),
            (str(Member.__tablename__), MEMBER_COLUMNS, members),
            (str(HouseholdIncome.__tablename__), INCOME_COLUMNS, incomes),
            (str(WorkflowEvent.__tablename__), EVENT_COLUMNS, events),
            (str(MembershipChange.__tablename__), MEMBERSHIP_COLUMNS, joins),
        )
        try:
            for table, columns, records in copies:
                if records:
                    await raw.copy_records_to_table(table, records=records, columns=list(columns))
        except asyncpg.UniqueViolationError as exc:  # written concurrently since the checks
            if "ux_registry_member_active_person" in str(exc):
                raise Refused(
                    "person_already_member",
                    "a person in the file became an active member of another household during the import; "
                    "nothing was imported",
                ) from exc
            raise Refused(
                "import_conflict", "the import conflicts with data written meanwhile; nothing was imported"
            ) from exc

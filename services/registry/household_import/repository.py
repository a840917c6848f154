"""Every SQL statement of a bulk registration: the checks against the registry, and one COPY per table.

The checks send each set of values as one array parameter (`= ANY($1)`), however many there are. The writes go
straight to asyncpg's binary COPY on the session's own connection, inside the request's transaction, so a later
refusal undoes them with everything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from services.registry.identification.domain import QUOTA_STATUSES
from services.registry.models import (
    Household,
    HouseholdIncome,
    Member,
    MembershipChange,
    Quota,
    Region,
    WorkflowEvent,
    audit_event,
)
from shared.context import Context
from shared.db import raw_connection
from shared.errors import Refused

__all__ = [
    "CHECK_ACTION",
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

#: The audit action of a file checked without writing (a dry run, a refused import): the rate limit counts them.
CHECK_ACTION = "household.import_check"

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

    async def active_people(self, id_indexes: Iterable[str]) -> dict[str, str]:
        """Those blind indexes that are an active member of a household already (invariant 2), each with the
        village of that household (the service answers a conflict outside the importer's scope generically)."""
        wanted = sa.bindparam(None, list(id_indexes), type_=ARRAY(sa.String))
        query = (
            select(Member.id_number_index, Household.village_code)
            .join(Household, col(Household.id) == col(Member.household_id))
            .where(col(Member.id_number_index) == sa.any_(wanted), col(Member.active))
        )
        return {str(index): str(village) for index, village in (await self.session.exec(query)).all()}

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint around the whole import: a refusal undoes every COPY, and the audit entry of the check
        written after it can still be kept (issue #14 item 8)."""
        async with self.session.begin_nested():
            yield

    async def village_quotas_locked(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The quotas of these (village, year) pairs, locked as the workflow's registrations lock them, so a
        registration and a migration in one village are checked one after the other."""
        query = (
            select(Quota.region_code, Quota.year, Quota.people)
            .where(sa.tuple_(col(Quota.region_code), col(Quota.year)).in_(list(keys)))
            .order_by(col(Quota.region_code), col(Quota.year))
            .with_for_update()
        )
        return {(str(c), int(y)): int(p) for c, y, p in (await self.session.exec(query)).all()}

    async def used_people(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """People counted against these (village, quota year) quotas (the households past a village review)."""
        query = (
            select(Household.village_code, Household.quota_year, sa.func.sum(Household.household_size))
            .where(
                sa.tuple_(col(Household.village_code), col(Household.quota_year)).in_(list(keys)),
                col(Household.status).in_([str(s) for s in QUOTA_STATUSES]),
            )
            .group_by(col(Household.village_code), col(Household.quota_year))
        )
        return {(str(c), int(y)): int(p) for c, y, p in (await self.session.exec(query)).all()}

    async def rows_checked(self, actor: str, since: datetime) -> tuple[int, datetime | None]:
        """Rows `actor` checked without writing since `since`, and when the oldest of those checks was."""
        c = audit_event.c
        query = select(
            sa.func.coalesce(sa.func.sum(c.detail["rows"].as_integer()), 0), sa.func.min(c.at)
        ).where(c.actor == actor, c.action == CHECK_ACTION, c.at > since)
        used, oldest = (await self.session.exec(query)).one()
        return int(used), oldest

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
                # Raced by a write elsewhere: answered like any conflict the importer may not trace (issue #14).
                raise Refused(
                    "person_registration_conflict",
                    "a person in the file cannot be registered here; the county poverty office resolves it "
                    "through the documented transfer procedure; nothing was imported",
                ) from exc
            raise Refused(
                "import_conflict", "the import conflicts with data written meanwhile; nothing was imported"
            ) from exc

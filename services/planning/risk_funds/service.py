"""Risk fund use cases (项目风险金): contributions, force-majeure events, payouts, the account and its entries.

Each use case checks the role (403), the village in the caller's scope (404 outside it), asks
`risk_funds.domain`, moves the balance in one statement (the CHECK decides under concurrency), appends the entry
and files the audit entry in the request's transaction.
"""

from __future__ import annotations

import uuid
from datetime import date

from services.planning.funds.domain import fen, require_role, yuan
from services.planning.models import ForceMajeureEvent, RiskFundEntry, audit_event
from services.planning.registry import RegistryGateway
from services.planning.risk_funds import domain
from services.planning.risk_funds.repository import RiskFundRepository
from services.planning.risk_funds.schemas import (
    ContributionCreate,
    ForceMajeureCreate,
    ForceMajeurePage,
    ForceMajeurePublic,
    PayoutCreate,
    RiskFundAccountPublic,
    RiskFundEntryKind,
    RiskFundEntryPage,
    RiskFundEntryPublic,
)
from shared.audit import AuditLog
from shared.context import Context
from shared.errors import Invalid
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound
from shared.roles import Role

__all__ = ["RiskFundService", "entry_public", "event_public"]

_EVENTS = "force_majeure_events"
_ENTRIES = "risk_fund_entries"


def event_public(row: ForceMajeureEvent) -> ForceMajeurePublic:
    return ForceMajeurePublic(
        id=row.id,
        village_code=row.village_code,
        kind=domain.ForceMajeureKind(row.kind),
        occurred_on=row.occurred_on,
        description=row.description,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


def entry_public(row: RiskFundEntry) -> RiskFundEntryPublic:
    assert row.id is not None  # a stored entry has its identity
    return RiskFundEntryPublic(
        id=row.id,
        village_code=row.village_code,
        kind=RiskFundEntryKind(row.kind),
        amount_yuan=yuan(row.amount_fen),
        project_id=row.project_id,
        household_id=row.household_id,
        event_id=row.event_id,
        note=row.note,
        entry_date=row.entry_date,
        recorded_at=row.recorded_at,
        recorded_by=row.recorded_by,
    )


class RiskFundService:
    def __init__(self, ctx: Context, registry: RegistryGateway | None = None) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = RiskFundRepository(ctx)
        self.audit = AuditLog(audit_event)
        self.registry = registry

    def _village(self, code: str, allowed: frozenset[Role], what: str) -> None:
        """The role may act (403), then the village lies in the caller's scope (404 like a missing one)."""
        require_role(self.principal.role, allowed, what)
        domain.check_village(code)
        if not self.principal.covers(code):
            raise NotFound(f"village {code} not found")

    async def _record(
        self, action: str, record_type: str, record_id: object, village: str, **detail: object
    ) -> None:
        project_id = detail.pop("project_id", None)
        await self.audit.record(
            self.ctx,
            action,
            record_type=record_type,
            record_id=str(record_id),
            region_code=village,
            detail={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in detail.items()},
            project_id=project_id,
        )

    # -- contributions ------------------------------------------------------------------------------------------
    async def contribute(self, village_code: str, payload: ContributionCreate) -> RiskFundEntryPublic:
        """A planting/breeding project of the village (or one of its beneficiary households) pays in."""
        self._village(village_code, domain.KEEPERS, "keep the risk fund")
        project = await self.repo.project(payload.project_id)
        if project is None:
            raise Invalid("unknown_project", f"project {payload.project_id} not found", field="project_id")
        beneficiary = (
            await self.repo.is_beneficiary(project.id, payload.household_id)
            if payload.household_id is not None
            else False
        )
        amount = fen(payload.amount_yuan)
        domain.contribution(
            village_code,
            project,
            amount,
            payload.entry_date,
            self.ctx.today,
            household_id=payload.household_id,
            beneficiary=beneficiary,
        )
        await self.repo.credit(village_code, amount)
        row = await self.repo.add_entry(
            RiskFundEntry(
                village_code=village_code,
                kind=str(RiskFundEntryKind.contribution),
                amount_fen=amount,
                project_id=project.id,
                household_id=payload.household_id,
                note=payload.note,
                entry_date=payload.entry_date,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self._record(
            "risk_fund.contribution",
            "risk_fund_entry",
            row.id,
            village_code,
            project_id=project.id,
            amount_fen=amount,
        )
        return entry_public(row)

    # -- force-majeure events -----------------------------------------------------------------------------------
    async def record_event(self, village_code: str, payload: ForceMajeureCreate) -> ForceMajeurePublic:
        """Record the event a payout will answer (the village is checked with the registry over HTTP)."""
        self._village(village_code, domain.KEEPERS, "record force-majeure events")
        domain.check_event(village_code, payload.occurred_on, self.ctx.today)
        if self.registry is not None and not await self.registry.region_exists(
            village_code, request_id=self.ctx.request_id
        ):
            raise NotFound(f"village {village_code} not found")
        row = ForceMajeureEvent(
            id=uuid.uuid4(),
            village_code=village_code,
            kind=str(payload.kind),
            occurred_on=payload.occurred_on,
            description=payload.description,
            recorded_at=self.ctx.now,
            recorded_by=self.principal.sub,
        )
        await self.repo.add_event(row)
        await self._record("risk_fund.event", "force_majeure_event", row.id, village_code, kind=row.kind)
        return event_public(row)

    async def events(self, village_code: str, cursor: str | None, limit: int) -> ForceMajeurePage:
        self._village(village_code, domain.READERS, "read the risk fund")
        after: tuple[date, uuid.UUID] | None = None
        if cursor is not None:
            day, ident = decode_cursor(cursor, _EVENTS, (date, uuid.UUID))
            if not isinstance(day, date) or not isinstance(ident, uuid.UUID):
                raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
            after = (day, ident)
        rows = await self.repo.events(village_code, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return ForceMajeurePage(
            items=[event_public(r) for r in rows],
            next_cursor=encode_cursor(_EVENTS, rows[-1].occurred_on, rows[-1].id) if more and rows else None,
        )

    async def event(self, village_code: str, event_id: uuid.UUID) -> ForceMajeurePublic:
        self._village(village_code, domain.READERS, "read the risk fund")
        row = await self.repo.event(event_id)
        if row is None or row.village_code != village_code:
            raise NotFound(f"force-majeure event {event_id} not found")
        return event_public(row)

    # -- payouts --------------------------------------------------------------------------------------------
    async def pay_out(self, village_code: str, payload: PayoutCreate) -> RiskFundEntryPublic:
        """Production relief for a recorded event: at most the balance (rule, and the CHECK under concurrency)."""
        self._village(village_code, domain.PAYOUT_APPROVERS, "approve risk-fund payouts")
        event = await self.repo.event(payload.event_id)
        if event is None:
            raise Invalid(
                "unknown_event", f"force-majeure event {payload.event_id} not found", field="event_id"
            )
        if payload.project_id is not None:
            project = await self.repo.project(payload.project_id)
            if project is None or project.village_code != village_code:
                raise Invalid(
                    "project_of_other_village",
                    f"project {payload.project_id} is not a project of village {village_code}",
                    field="project_id",
                )
        if payload.household_id is not None and not await self.repo.benefits_in_village(
            village_code, payload.household_id
        ):
            raise Invalid(
                "not_a_beneficiary",
                f"household {payload.household_id} benefits from no project of village {village_code}",
                field="household_id",
            )
        amount = fen(payload.amount_yuan)
        facts = domain.EventFacts(event.id, event.village_code, event.occurred_on)
        today = self.ctx.today
        domain.payout(
            village_code, facts, await self.repo.balance(village_code), amount, payload.entry_date, today
        )
        if await self.repo.debit(village_code, amount) is None:
            domain.payout(
                village_code, facts, await self.repo.balance(village_code), amount, payload.entry_date, today
            )
            raise domain.InsufficientBalance(village_code, 0, amount)  # pragma: no cover - the rule raised
        row = await self.repo.add_entry(
            RiskFundEntry(
                village_code=village_code,
                kind=str(RiskFundEntryKind.payout),
                amount_fen=amount,
                project_id=payload.project_id,
                household_id=payload.household_id,
                event_id=event.id,
                note=payload.note,
                entry_date=payload.entry_date,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            )
        )
        await self._record(
            "risk_fund.payout",
            "risk_fund_entry",
            row.id,
            village_code,
            project_id=payload.project_id,
            amount_fen=amount,
            event_id=event.id,
        )
        return entry_public(row)

    # -- the account --------------------------------------------------------------------------------------------
    async def account(self, village_code: str) -> RiskFundAccountPublic:
        """The village's balance with what went in and out (zero for a village that has no fund yet)."""
        self._village(village_code, domain.READERS, "read the risk fund")
        totals = await self.repo.totals(village_code)
        return RiskFundAccountPublic(
            village_code=village_code,
            balance_yuan=yuan(totals.balance_fen),
            contributed_yuan=yuan(totals.contributed_fen),
            paid_out_yuan=yuan(totals.paid_out_fen),
            entries=totals.entries,
            updated_at=totals.updated_at,
        )

    async def entries(
        self, village_code: str, kind: RiskFundEntryKind | None, cursor: str | None, limit: int
    ) -> RiskFundEntryPage:
        self._village(village_code, domain.READERS, "read the risk fund")
        after: int | None = None
        if cursor is not None:
            (last,) = decode_cursor(cursor, _ENTRIES, (int,))
            if not isinstance(last, int):
                raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
            after = last
        rows = await self.repo.entries(
            village_code, kind=str(kind) if kind else None, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last_id = rows[-1].id if rows else None
        return RiskFundEntryPage(
            items=[entry_public(r) for r in rows],
            next_cursor=encode_cursor(_ENTRIES, last_id) if more and last_id is not None else None,
        )

    async def entry(self, village_code: str, entry_id: int) -> RiskFundEntryPublic:
        self._village(village_code, domain.READERS, "read the risk fund")
        row = await self.repo.entry(village_code, entry_id)
        if row is None:
            raise NotFound(f"risk-fund entry {entry_id} not found")
        return entry_public(row)

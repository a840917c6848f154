"""Help plan use cases. Every change is a new version; the head's acknowledgement and progress are appended."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from services.registry.help_plans.schemas import PlanAck, PlanSet, ProgressIn
from services.registry.legacy_context import Context, audit
from services.registry.models import cadre, help_plan, help_plan_ack, help_plan_progress, household
from services.registry.scope import HOUSEHOLD_WRITERS, household_scope
from shared.db import execute
from shared.etag import stale
from shared.problems import Conflict, Forbidden, NotFound, PreconditionRequired, UnprocessableEntity
from shared.roles import Role

__all__ = ["PlanService"]


def _fen(value: Decimal) -> int:
    return int(value * 100)


class PlanService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    async def _household(self, household_id: uuid.UUID, *, write: bool) -> dict[str, Any]:
        """The household, readable by the caller; for writes the caller is an officer in scope or its cadre."""
        if write and self.principal.role is Role.cadre:
            scope = household_scope(self.principal)  # an active pairing
        elif write and self.principal.role not in HOUSEHOLD_WRITERS:
            raise Forbidden(f"role '{self.principal.role}' may not change help plans")
        else:
            scope = household_scope(self.principal, include_past=True)
        query = sa.select(household).where(household.c.id == household_id, scope)
        row = (await execute(self.session, query.with_for_update() if write else query)).mappings().first()
        if row is None:
            raise NotFound(f"household {household_id} not found")
        return dict(row)

    async def _latest(self, household_id: uuid.UUID) -> dict[str, Any] | None:
        row = (
            (
                await execute(
                    self.session,
                    sa.select(help_plan)
                    .where(help_plan.c.household_id == household_id)
                    .order_by(help_plan.c.version.desc())
                    .limit(1),
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row else None

    async def set(self, household_id: uuid.UUID, version: int | None, payload: PlanSet) -> dict[str, Any]:
        hh = await self._household(household_id, write=True)
        latest = await self._latest(household_id)
        current = latest["version"] if latest else 0
        if latest is not None and version is None:
            raise PreconditionRequired('changing a plan needs If-Match: "<plan version>"')
        if version is not None and version != current:
            raise stale(current)
        # Invariant 35: target exit year >= identification year and <= plan end.
        if payload.year_to < payload.year_from:
            raise UnprocessableEntity("year_to is before year_from", field="/year_to")
        if not hh["identification_year"] <= payload.target_exit_year <= payload.year_to:
            raise UnprocessableEntity(
                f"target_exit_year must lie between the identification year ({hh['identification_year']}) "
                f"and the plan's end ({payload.year_to})",
                field="/target_exit_year",
            )
        cadre_ids = {i.responsible_cadre_id for i in payload.items}
        known = set(
            (await execute(self.session, sa.select(cadre.c.id).where(cadre.c.id.in_(cadre_ids))))
            .scalars()
            .all()
        )
        previous_ids = {i["item_id"] for i in (latest["items"] if latest else [])}
        items = []
        for n, item in enumerate(payload.items):
            pointer = f"/items/{n}"
            # Invariant 34: catalogue measure, due date within the plan years, responsible person, funding line.
            if not payload.year_from <= item.due_date.year <= payload.year_to:
                raise UnprocessableEntity(
                    "due_date lies outside the plan's years", field=f"{pointer}/due_date"
                )
            if item.responsible_cadre_id not in known:
                raise UnprocessableEntity("no such cadre", field=f"{pointer}/responsible_cadre_id")
            if item.cost_yuan > 0 and (item.funding_source is None or item.funding_amount_yuan is None):
                raise UnprocessableEntity(
                    "an item that costs money names its funding source and amount",
                    field=f"{pointer}/funding_source",
                )
            if item.item_id is not None and str(item.item_id) not in previous_ids:
                raise UnprocessableEntity(
                    "item_id is not an item of the previous version", field=f"{pointer}/item_id"
                )
            data = item.model_dump(mode="json")
            data["item_id"] = str(item.item_id or uuid.uuid4())
            items.append(data)
        if len({i["item_id"] for i in items}) != len(items):
            raise UnprocessableEntity("an item_id appears twice", field="/items")
        values = {
            "household_id": household_id,
            "version": current + 1,
            "year_from": payload.year_from,
            "year_to": payload.year_to,
            "target_exit_year": payload.target_exit_year,
            "items": items,
            "expected_income_gain_fen": sum(_fen(i.expected_income_gain_yuan) for i in payload.items),
            "cost_fen": sum(_fen(i.cost_yuan) for i in payload.items),
            "note": payload.note,
            "created_at": self.ctx.now,
            "created_by": self.principal.sub,
        }
        try:
            async with self.session.begin_nested():
                await execute(self.session, sa.insert(help_plan).values(**values))
        except IntegrityError as exc:
            raise Conflict("the plan changed concurrently; read it again") from exc
        await execute(
            self.session,
            sa.update(household)
            .where(household.c.id == household_id)
            .values(planned_exit_year=payload.target_exit_year, version=household.c.version + 1),
        )
        await audit(
            self.ctx,
            "plan.version",
            record_type="help_plan",
            record_id=f"{household_id}/{current + 1}",
            household_id=household_id,
            detail={"items": len(items), "target_exit_year": payload.target_exit_year},
        )
        return await self.show(household_id, None)

    async def acknowledge(self, household_id: uuid.UUID, payload: PlanAck) -> dict[str, Any]:
        await self._household(household_id, write=True)
        latest = await self._latest(household_id)
        if latest is None or payload.version > latest["version"]:
            raise NotFound(f"no plan version {payload.version}")
        if payload.version != latest["version"]:
            raise Conflict(
                "only the current version is acknowledged",
                code="not_current",
                current_version=latest["version"],
            )
        try:
            async with self.session.begin_nested():
                await execute(
                    self.session,
                    sa.insert(help_plan_ack).values(
                        household_id=household_id,
                        version=payload.version,
                        signatory=payload.signatory,
                        acknowledged_on=payload.acknowledged_on,
                        recorded_at=self.ctx.now,
                        recorded_by=self.principal.sub,
                    ),
                )
        except IntegrityError as exc:
            raise Conflict("this version is acknowledged already", code="already_acknowledged") from exc
        await audit(
            self.ctx,
            "plan.acknowledge",
            record_type="help_plan",
            record_id=f"{household_id}/{payload.version}",
            household_id=household_id,
        )
        return await self.show(household_id, None)

    async def progress(
        self, household_id: uuid.UUID, item_id: uuid.UUID, payload: ProgressIn
    ) -> dict[str, Any]:
        await self._household(household_id, write=True)
        latest = await self._latest(household_id)
        if latest is None or str(item_id) not in {i["item_id"] for i in latest["items"]}:
            raise NotFound(f"no item {item_id} in the current plan")
        if payload.completed_on is not None and payload.percent != 100:
            raise UnprocessableEntity("a completed item is at 100 percent", field="/percent")
        if payload.completed_on is not None and payload.completed_on > self.ctx.today:
            raise UnprocessableEntity("completed_on is in the future", field="/completed_on")
        await execute(
            self.session,
            sa.insert(help_plan_progress).values(
                household_id=household_id,
                item_id=item_id,
                percent=payload.percent,
                completed_on=payload.completed_on,
                note=payload.note,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
            ),
        )
        await audit(
            self.ctx,
            "plan.progress",
            record_type="help_plan_item",
            record_id=str(item_id),
            household_id=household_id,
            detail={"percent": payload.percent},
        )
        return await self.show(household_id, None)

    async def show(self, household_id: uuid.UUID, version: int | None) -> dict[str, Any]:
        await self._household(household_id, write=False)
        query = sa.select(help_plan).where(help_plan.c.household_id == household_id)
        query = (
            query.where(help_plan.c.version == version)
            if version
            else query.order_by(help_plan.c.version.desc())
        )
        plan = (await execute(self.session, query.limit(1))).mappings().first()
        if plan is None:
            raise NotFound(
                f"household {household_id} has no help plan" + (f" version {version}" if version else "")
            )
        acks = (
            (
                await execute(
                    self.session,
                    sa.select(help_plan_ack).where(
                        help_plan_ack.c.household_id == household_id,
                        help_plan_ack.c.version == plan["version"],
                    ),
                )
            )
            .mappings()
            .first()
        )
        progress = (
            (
                await execute(
                    self.session,
                    sa.select(help_plan_progress)
                    .where(help_plan_progress.c.household_id == household_id)
                    .order_by(help_plan_progress.c.id),
                )
            )
            .mappings()
            .all()
        )
        latest_progress: dict[str, dict[str, Any]] = {}
        history: dict[str, list[dict[str, Any]]] = {}
        for p in progress:
            entry = {
                "percent": p["percent"],
                "completed_on": str(p["completed_on"]) if p["completed_on"] else None,
                "note": p["note"],
                "recorded_at": p["recorded_at"].isoformat(),
                "recorded_by": p["recorded_by"],
            }
            latest_progress[str(p["item_id"])] = entry
            history.setdefault(str(p["item_id"]), []).append(entry)
        items = [
            item
            | {
                "progress": latest_progress.get(item["item_id"]),
                "progress_history": history.get(item["item_id"], []),
            }
            for item in plan["items"]
        ]
        return {
            "household_id": str(household_id),
            "version": plan["version"],
            "year_from": plan["year_from"],
            "year_to": plan["year_to"],
            "target_exit_year": plan["target_exit_year"],
            "expected_income_gain_yuan": str(Decimal(plan["expected_income_gain_fen"]) / 100),
            "cost_yuan": str(Decimal(plan["cost_fen"]) / 100),
            "note": plan["note"],
            "created_at": plan["created_at"].isoformat(),
            "created_by": plan["created_by"],
            "acknowledged": (
                {
                    "signatory": acks["signatory"],
                    "acknowledged_on": str(acks["acknowledged_on"]),
                    "recorded_by": acks["recorded_by"],
                }
                if acks
                else None
            ),
            "items": items,
        }

"""Workflow commands over HTTP: persist the events of services/registry/workflow.py and apply their guards.

For one household: lock its row, replay its history from `registry_workflow_event`, let `workflow.decide` check
the command (level, order, 7-day notices, objections, exit test), add the checks that need data (scale-control
quota, recusal of related officials), append the event and update the household's derived status, all in one
transaction. A batch runs each item in its own savepoint so one refused household never sinks the rest.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from services.registry.households.schemas import WORKING, HouseGrade, LaborCapacity
from services.registry.households.service import HouseholdService
from services.registry.identification.domain import (
    Actor,
    Chain,
    Command,
    Event,
    ExitTest,
    Status,
    WorkflowError,
    WorkflowPolicy,
    WorkflowState,
    advance,
    decide,
    effective_year,
    replay,
)
from services.registry.legacy_context import Context, audit
from services.registry.models import (
    Quota,
    household,
    household_income,
    member,
    quota_override,
    workflow_event,
)
from services.registry.regions.service import PolicyService
from services.registry.scope import household_scope, require_writer_role
from shared.clock import CHINA_TIME
from shared.db import execute
from shared.problems import AppError, Conflict, Forbidden, UnprocessableEntity
from shared.roles import Role, scope_prefix

__all__ = ["BATCH_COMMANDS", "CommandResult", "WorkflowService", "quota_used", "quota_used_by_village"]

#: Steps a village's or township's whole list may take together (DOMAIN.md §2.9 batch operations).
BATCH_COMMANDS = frozenset(
    {
        Command.village_review,
        Command.cosign,
        Command.start_notice,
        Command.township_review,
        Command.county_review,
        Command.announce,
    }
)
#: Statuses that count against the scale-control quota of their year: past an approved village review.
QUOTA_STATUSES = (
    "village_reviewed",
    "first_notice",
    "township_reviewed",
    "second_notice",
    "county_reviewed",
    "registered",
    "exit_proposed",
    "exit_first_notice",
    "exit_township_reviewed",
    "exit_second_notice",
    "exit_county_reviewed",
    "exited",
)
#: Commands whose decision a declared relative must not take (recusal, DOMAIN.md §2.11 优亲厚友).
_REVIEWS = frozenset({Command.village_review, Command.township_review, Command.county_review})
_VALIDATION_CODES = frozenset(
    {
        "minutes_required",
        "votes_invalid",
        "party_invalid",
        "places_invalid",
        "reason_required",
        "cause_required",
        "objection_id_invalid",
        "outcome_invalid",
        "exit_test_required",
        "data_invalid",
    }
)


class CommandName(enum.StrEnum):
    """Commands exposed over HTTP (the workflow's own names)."""

    apply = "apply"
    apply_return = "apply_return"
    village_review = "village_review"
    cosign = "cosign"
    start_notice = "start_notice"
    file_objection = "file_objection"
    resolve_objection = "resolve_objection"
    township_review = "township_review"
    county_review = "county_review"
    announce = "announce"
    propose_exit = "propose_exit"
    remove = "remove"


class WorkflowRefused(AppError):
    status = 409
    slug = "workflow-refused"
    title = "Workflow refused"


def to_problem(exc: WorkflowError) -> AppError:
    """Map a refused command to HTTP: wrong level → 403, bad command data → 422, wrong state/time → 409."""
    extensions = {"code": exc.code, **exc.details}
    if exc.code == "wrong_level":
        return Forbidden(str(exc), **extensions)
    if exc.code in _VALIDATION_CODES:
        return UnprocessableEntity(str(exc), **extensions)
    return WorkflowRefused(str(exc), **extensions)


@dataclass(frozen=True)
class CommandResult:
    household_id: uuid.UUID
    status: str
    version: int
    seq: int


async def quota_used(
    session: Any, village_prefix: str, year: int, *, excluding: uuid.UUID | None = None
) -> int:
    """People counted against the quota of `year` in the households whose village code starts with the prefix."""
    query = sa.select(sa.func.coalesce(sa.func.sum(household.c.household_size), 0)).where(
        household.c.village_code.startswith(village_prefix, autoescape=True),
        household.c.quota_year == year,
        household.c.status.in_(QUOTA_STATUSES),
    )
    if excluding is not None:
        query = query.where(household.c.id != excluding)
    return int((await execute(session, query)).scalar_one())


async def quota_used_by_village(session: Any, prefix: str, year: int) -> dict[str, int]:
    """People counted against the quota of `year`, per village under `prefix`, in one grouped query."""
    rows = await execute(
        session,
        sa.select(household.c.village_code, sa.func.sum(household.c.household_size))
        .where(
            household.c.village_code.startswith(prefix, autoescape=True),
            household.c.quota_year == year,
            household.c.status.in_(QUOTA_STATUSES),
        )
        .group_by(household.c.village_code),
    )
    return {code: int(people) for code, people in rows.all()}


def _events(rows: Sequence[Mapping[str, Any]]) -> list[Event]:
    return [
        Event(
            command=Command(r["command"]),
            at=r["at"],
            actor=r["actor"],
            role=Role(r["role"]),
            reason=r["reason"],
            data=r["data"],
        )
        for r in rows
        if r["command"] != "import"
    ]


def _imported_state(rows: Sequence[Mapping[str, Any]]) -> WorkflowState:
    """Households bulk-registered from another system start their history at `registered`."""
    if rows and rows[0]["command"] == "import":
        return WorkflowState(status=Status(rows[0]["status_after"]), last_at=rows[0]["at"])
    return WorkflowState()


class WorkflowService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.households = HouseholdService(ctx)

    async def history(self, household_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = (
            (
                await execute(
                    self.session,
                    sa.select(workflow_event)
                    .where(workflow_event.c.household_id == household_id)
                    .order_by(workflow_event.c.seq),
                )
            )
            .mappings()
            .all()
        )
        return [dict(r) for r in rows]

    async def state(self, household_id: uuid.UUID) -> tuple[WorkflowState, int]:
        rows = await self.history(household_id)
        return replay(_events(rows), start=_imported_state(rows)), len(rows)

    async def _policy(self, village_code: str, year: int) -> dict[str, int | Decimal | None]:
        effective = await PolicyService(self.session, self.ctx.principal).effective(village_code, year)
        return {p.name: p.value for p in effective.parameters}

    async def run(
        self,
        household_id: uuid.UUID,
        command: Command,
        *,
        version: int | None,
        reason: str | None,
        data: Mapping[str, Any],
        batch_id: uuid.UUID | None = None,
    ) -> CommandResult:
        principal = self.ctx.principal
        require_writer_role(principal)
        hh = await self.households.lock(household_id, version)
        if hh["status"] == "dissolved":
            raise WorkflowRefused("the household was dissolved (merged)", code="wrong_state")
        state, count = await self.state(household_id)
        now = self.ctx.now
        year = now.astimezone(CHINA_TIME).year
        policy_values = await self._policy(hh["village_code"], year)
        policy = WorkflowPolicy(notice_days=int(policy_values.get("notice_days") or 7))
        payload = dict(data)
        self._recusal(hh, command)
        if command is Command.file_objection and "objection_id" not in payload:
            payload["objection_id"] = uuid.uuid4().hex[:12]
        if command is Command.propose_exit:
            payload["exit_test"] = await self._exit_test(hh, payload, policy_values, year)
        try:
            event = decide(
                state,
                command,
                Actor(principal.sub, principal.role),
                now,
                reason=reason,
                data=payload,
                policy=policy,
            )
            new_state = advance(state, event)
        except WorkflowError as exc:
            raise to_problem(exc) from exc
        except (TypeError, ValueError) as exc:
            raise UnprocessableEntity(f"command data is invalid: {exc}", code="data_invalid") from exc
        values: dict[str, Any] = {
            "status": str(new_state.status),
            "chain": str(new_state.chain) if new_state.chain else None,
            "returned": new_state.returned,
            "objection_open": bool(new_state.open_objections),
        }
        if command is Command.apply_return:
            values["quota_year"] = year
        approving = (command is Command.village_review and payload.get("approved")) or (
            command is Command.announce and new_state.status is Status.registered
        )
        if approving:
            await self._check_quota(hh, values.get("quota_year", hh["quota_year"]))
        if command is Command.county_review and new_state.status is Status.exit_county_reviewed:
            values["exit_effective_year"] = effective_year(now)
        event_data = dict(event.data)
        if command is Command.county_review and new_state.county_reviewed_at is not None:
            event_data["effective_year"] = effective_year(now)
        await execute(
            self.session,
            sa.insert(workflow_event).values(
                household_id=household_id,
                seq=count + 1,
                command=str(command),
                at=now,
                actor=principal.sub,
                role=str(principal.role),
                reason=reason,
                data=_jsonable(event_data),
                status_after=str(new_state.status),
                batch_id=batch_id,
                request_id=self.ctx.request_id,
            ),
        )
        await execute(
            self.session, sa.update(household).where(household.c.id == household_id).values(**values)
        )
        new_version = await self.households.refresh(household_id)
        await audit(
            self.ctx,
            f"workflow.{command}",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"status": str(new_state.status), "seq": count + 1},
        )
        return CommandResult(household_id, values["status"], new_version, count + 1)

    def _recusal(self, hh: Mapping[str, Any], command: Command) -> None:
        if command not in _REVIEWS:
            return
        related = (hh.get("details") or {}).get("related_officials") or []
        if any(r.get("user_sub") == self.ctx.principal.sub for r in related):
            raise WorkflowRefused(
                "you declared a relation to this household: another reviewer must decide (recusal)",
                code="recusal_required",
            )

    async def _check_quota(self, hh: Mapping[str, Any], year: int) -> None:
        """Invariant 24: identified people in a village <= its quota, unless a county override is recorded."""
        village = hh["village_code"]
        quota = (
            await execute(
                self.session,
                sa.select(Quota.people)  # type: ignore[call-overload]
                .where(Quota.region_code == village, Quota.year == year)
                .with_for_update(),
            )
        ).scalar_one_or_none()
        override = (
            await execute(
                self.session,
                sa.select(quota_override.c.id).where(
                    quota_override.c.household_id == hh["id"], quota_override.c.year == year
                ),
            )
        ).scalar_one_or_none()
        if quota is None:
            if override is not None:
                return
            raise WorkflowRefused(
                f"village {village} has no scale-control quota for {year}; the township sets it first",
                code="quota_missing",
                village_code=village,
                year=year,
            )
        used = await quota_used(self.session, village, year, excluding=hh["id"])
        if used + hh["household_size"] > quota and override is None:
            raise WorkflowRefused(
                f"registering {hh['household_size']} more people would exceed the village quota "
                f"({used} of {quota} used); a county administrator may record an override with a reason",
                code="quota_exceeded",
                quota=quota,
                used=used,
                household_size=hh["household_size"],
            )
        if override is not None and used + hh["household_size"] > quota:
            await self.households.raise_flag(hh["id"], "quota_override", {"quota": quota, "used": used})

    async def _exit_test(
        self, hh: Mapping[str, Any], payload: dict[str, Any], policy: Mapping[str, Any], year: int
    ) -> ExitTest:
        """Evaluate §6.5-A from the record; the survey answers (两不愁, stable income, acknowledgement) come in."""
        income_year = int(payload.pop("income_year", year))
        income = (
            (
                await execute(
                    self.session,
                    sa.select(household_income.c.per_capita_net_income)
                    .where(
                        household_income.c.household_id == hh["id"], household_income.c.year == income_year
                    )
                    .order_by(household_income.c.version.desc())
                    .limit(1),
                )
            )
            .scalars()
            .first()
        )
        if income is None:
            raise WorkflowRefused(
                f"record the household's income for {income_year} before the exit test", code="income_missing"
            )
        line = policy.get("exit_income_line_yuan") or policy.get("identification_income_line_yuan")
        if line is None:
            raise WorkflowRefused("no income line is set for this year", code="policy_missing")
        members = (
            (
                await execute(
                    self.session,
                    sa.select(member.c.labor_capacity, member.c.details).where(
                        member.c.household_id == hh["id"], member.c.active
                    ),
                )
            )
            .mappings()
            .all()
        )
        categories = (hh.get("details") or {}).get("categories") or {}
        answers = {
            k: payload.pop(k, None)
            for k in ("food_and_clothing_secure", "stable_income_source", "head_acknowledged")
        }
        for key, value in answers.items():
            if not isinstance(value, bool):
                raise UnprocessableEntity(
                    f"data.{key} (true/false) is required for the exit test", code="data_invalid"
                )
        return ExitTest(
            per_capita_net_income_yuan=int(income),
            income_line_yuan=int(line),
            food_and_clothing_secure=bool(answers["food_and_clothing_secure"]),
            children_in_school=not any((m["details"] or {}).get("dropout") for m in members),
            medical_insurance=all(
                ((m["details"] or {}).get("insurance") or {}).get("ncms_enrolled") for m in members
            ),
            housing_safe=hh.get("dangerous_house_grade") not in (HouseGrade.C, HouseGrade.D),
            has_labour_capacity=any(LaborCapacity(m["labor_capacity"]) in WORKING for m in members),
            stable_income_source=bool(answers["stable_income_source"]),
            social_security_covered=hh.get("poverty_attribute") in ("dibao_poor", "wubao_poor")
            or bool(categories.get("is_dibao_household") or categories.get("is_wubao_household")),
            head_acknowledged=bool(answers["head_acknowledged"]),
        )

    async def batch(
        self,
        command: Command,
        items: list[tuple[uuid.UUID, int | None]],
        *,
        reason: str | None,
        data: Mapping[str, Any],
    ) -> tuple[uuid.UUID, list[dict[str, Any]]]:
        """Apply `command` to each household in its own savepoint; report each item (applied or refused)."""
        require_writer_role(self.ctx.principal)
        if command not in BATCH_COMMANDS:
            raise UnprocessableEntity(
                f"{command} is not a batch step; batch steps are {sorted(BATCH_COMMANDS)}", field="/command"
            )
        batch_id = uuid.uuid4()
        results = []
        for household_id, version in items:
            try:
                async with self.session.begin_nested():
                    result = await self.run(
                        household_id, command, version=version, reason=reason, data=data, batch_id=batch_id
                    )
                results.append(
                    {
                        "household_id": str(household_id),
                        "outcome": "applied",
                        "status": result.status,
                        "version": result.version,
                    }
                )
            except AppError as exc:
                results.append(
                    {
                        "household_id": str(household_id),
                        "outcome": "refused",
                        "status_code": exc.status,
                        "detail": exc.detail,
                        **{
                            k: v
                            for k, v in exc.extensions.items()
                            if k in ("code", "earliest", "current_version")
                        },
                    }
                )
        return batch_id, results

    async def select_for_batch(
        self, region_code: str, status: str, limit: int
    ) -> list[tuple[uuid.UUID, int | None]]:
        """The households of a village or township currently at `status` (a whole list moving together)."""
        rows = (
            (
                await execute(
                    self.session,
                    sa.select(household.c.id)
                    .where(
                        household_scope(self.ctx.principal),
                        household.c.village_code.startswith(_prefix(region_code), autoescape=True),
                        household.c.status == status,
                    )
                    .order_by(household.c.village_code, household.c.id)
                    .limit(limit + 1),
                )
            )
            .scalars()
            .all()
        )
        if len(rows) > limit:
            raise UnprocessableEntity(
                f"more than {limit} households match; narrow the region", field="/region_code"
            )
        return [(r, None) for r in rows]

    async def override_quota(self, household_id: uuid.UUID, reason: str) -> dict[str, Any]:
        if self.ctx.principal.role is not Role.county_admin:
            raise Forbidden("only a county administrator records a quota override")
        hh = await self.households.lock(household_id, None)
        try:
            async with self.session.begin_nested():
                row_id = (
                    await execute(
                        self.session,
                        sa.insert(quota_override)
                        .values(
                            village_code=hh["village_code"],
                            year=hh["quota_year"],
                            household_id=household_id,
                            reason=reason,
                            created_at=self.ctx.now,
                            created_by=self.ctx.principal.sub,
                        )
                        .returning(quota_override.c.id),
                    )
                ).scalar_one()
        except sa.exc.IntegrityError as exc:
            raise Conflict("an override for this household and year already exists") from exc
        await audit(
            self.ctx,
            "quota.override",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"year": hh["quota_year"], "village_code": hh["village_code"]},
        )
        return {"id": row_id, "household_id": str(household_id), "year": hh["quota_year"], "reason": reason}


def _prefix(code: str) -> str:
    return scope_prefix(code)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


__all__ += ["Chain", "CommandName", "WorkflowRefused", "to_problem"]

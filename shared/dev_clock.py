"""The development clock over HTTP (`DEV_CLOCK=true`; production refuses to start with it, shared/settings.py).

`GET /dev/clock` tells the service's now; `POST /dev/clock/advance` moves it forward, so a dashboard or phone team
can take a demo household from application to registration, exit and return in minutes (each notice lasts 7 full
days in China time). Every rule of the service reads this clock (`app.state.clock` → `Context.now`); tokens are
still checked against real time. Each service has its own: the registry's is the one the workflows read.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Request
from pydantic import Field

from shared.auth import PrincipalDep
from shared.clock import DevClock
from shared.problems import UnprocessableEntity
from shared.routing import APIRouter
from shared.schemas import RequestModel, ResponseModel, UtcDatetime

__all__ = ["ClockAdvance", "DevClockPublic", "router"]

_log = logging.getLogger("jingzhun.dev_clock")

router = APIRouter(prefix="/dev", tags=["development"])


class ClockAdvance(RequestModel):
    """How far to move the clock forward (at least one of the three, in total at most ten years)."""

    days: Annotated[int, Field(ge=0, le=3660)] = 0
    hours: Annotated[int, Field(ge=0, le=87_840)] = 0
    minutes: Annotated[int, Field(ge=0, le=5_270_400)] = 0


class DevClockPublic(ResponseModel):
    now: UtcDatetime = Field(description="The service's now, as its rules see it")
    real_now: UtcDatetime = Field(description="The machine's time")
    offset_seconds: int = Field(description="How far the development clock is ahead of the machine's")


def _clock(request: Request) -> DevClock:
    clock = request.app.state.clock
    assert isinstance(clock, DevClock)  # the router is mounted only with a DevClock
    return clock


def _public(clock: DevClock) -> DevClockPublic:
    return DevClockPublic(
        now=clock(), real_now=clock.source(), offset_seconds=int(clock.offset.total_seconds())
    )


@router.get("/clock", response_model=DevClockPublic, summary="The development clock (DEV_CLOCK only)")
async def get_dev_clock(request: Request, _: PrincipalDep) -> DevClockPublic:
    """The service's now and how far it is ahead of the machine's time."""
    return _public(_clock(request))


@router.post(
    "/clock/advance",
    response_model=DevClockPublic,
    responses={422: {"description": "Not forward, or more than ten years at once (`clock_step_invalid`)"}},
    summary="Move the development clock forward (DEV_CLOCK only)",
)
async def advance_dev_clock(request: Request, step: ClockAdvance, principal: PrincipalDep) -> DevClockPublic:
    """Move the service's clock forward, e.g. `{"days": 8}` to let a notice run out. Any logged-in caller may;
    it is never there in production. Time never goes backwards."""
    clock = _clock(request)
    try:
        now: datetime = clock.advance(timedelta(days=step.days, hours=step.hours, minutes=step.minutes))
    except ValueError as exc:
        raise UnprocessableEntity(str(exc), code="clock_step_invalid") from exc
    _log.warning("development clock advanced", extra={"by": principal.sub, "now": now.isoformat()})
    return _public(clock)

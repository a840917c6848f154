"""Public disclosure routes (村级公示): `/villages/{code}/disclosure` (JSON) and `/villages/{code}/disclosure/print`
(a printable HTML page) — thin: one `DisclosureService` call each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.responses import HTMLResponse

from services.planning.deps import RegistryDep
from services.planning.disclosure.schemas import DisclosurePrintPage, VillageDisclosure
from services.planning.disclosure.service import DisclosureService, print_page
from shared.context import ContextDep
from shared.routing import APIRouter

__all__ = ["TAGS", "router"]

#: The tag of these routes, with its description (planning's main.py declares it).
TAGS = {
    "disclosure": (
        "Public disclosure (村级公示): a village's projects, their funding and disbursements, approval steps "
        "(四议两公开), progress, acceptance and beneficiary households, as the village board shows them"
    )
}

router = APIRouter(tags=list(TAGS))

VillageCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="The village's 12-digit division code")]
Year = Annotated[
    int,
    Query(
        ge=2000, le=2100, description="The projects whose schedule starts in this year, with all their money"
    ),
]

_READ: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such village, or not in your region (a cadre: no household paired with you there)"
    },
    503: {"description": "The registry did not answer (`registry_unavailable`): retry"},
}


@router.get(
    "/villages/{code}/disclosure",
    response_model=VillageDisclosure,
    responses=_READ,
    summary="A village's public disclosure of a year: projects, funds, beneficiaries (村级公示)",
)
async def get_village_disclosure(
    code: VillageCode, year: Year, ctx: ContextDep, registry: RegistryDep
) -> VillageDisclosure:
    """What the village board discloses of the year (村级项目及资金公示): each project from the villagers' public
    resolution on — category, budget, funding lines by source with what arrived and was paid, the approval
    steps of 四议两公开 with their dates, milestones and progress, the acceptance — every disbursement (date,
    stage, amount, payee, voucher; reversals negative), the beneficiary households (head's name, village and
    natural village only: never an ID number, a phone or bank data) and the totals. Every role reads the
    villages of its region; a cadre, those where a household is paired with them."""
    return await DisclosureService(ctx, registry).disclosure(code, year)


@router.get(
    "/villages/{code}/disclosure/print",
    response_model=DisclosurePrintPage,
    response_class=HTMLResponse,
    responses=_READ,
    summary="The village's disclosure as a printable page (HTML, A4)",
)
async def print_village_disclosure(
    code: VillageCode, year: Year, ctx: ContextDep, registry: RegistryDep
) -> HTMLResponse:
    """The same disclosure as one self-contained HTML page to print and post on the village board (A4): the
    tables under Chinese headings (村级项目及资金公示), the date posted and the notice period, and the village
    committee's signature line."""
    disclosure = await DisclosureService(ctx, registry).disclosure(code, year)
    return HTMLResponse(print_page(disclosure), media_type="text/html; charset=utf-8")

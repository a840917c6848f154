"""Use cases of the yearly deadlines: report an upload; report every township's update and upload deadlines.

Regions come from the regions feature (outside the caller's scope: 404 like missing); the upload is audited; the
commit is the route class's.
"""

from __future__ import annotations

from services.registry.audit.repository import RegistryAudit
from services.registry.deadlines import domain
from services.registry.deadlines.repository import DeadlineRepository
from services.registry.deadlines.schemas import (
    DeadlinePublic,
    DeadlinesPublic,
    TownshipDeadlines,
    UploadRecord,
    UploadReport,
)
from services.registry.regions.service import RegionService
from shared.context import Context
from shared.errors import Invalid
from shared.roles import RegionLevel

__all__ = ["DeadlineService"]


class DeadlineService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = DeadlineRepository(ctx)

    async def report_upload(self, code: str, year: int, payload: UploadReport) -> UploadRecord:
        region = await self.regions.get(code)
        domain.require_upload_recorder(self.ctx.principal.role, RegionLevel(region.level))
        domain.check_upload_year(year, self.ctx.today)
        row = await self.repo.add_upload(code, year, domain.check_reference(payload.reference), self.ctx.now)
        await RegistryAudit(self.ctx).record(
            "data.upload", record_type="region", record_id=f"{code}/{year}", region_code=code,
            detail={"reference": row.reference, "uploaded_at": row.uploaded_at.isoformat()},
        )  # fmt: skip
        return UploadRecord.model_validate(row, from_attributes=True)

    async def deadlines(self, code: str, year: int) -> DeadlinesPublic:
        region = await self.regions.get(code)
        level = RegionLevel(region.level)
        if level is RegionLevel.township:
            townships = [region]
        elif level is RegionLevel.county:
            townships = await self.regions.repo.children(code)
        else:
            raise Invalid(
                "not_a_county_or_township", "deadlines are reported for a county or a township", field="code"
            )
        now = self.ctx.now
        uploads = await self.repo.uploads([t.code for t in townships], year)
        updates: dict[str, bool | None] = {}
        if domain.update_state(year, None, now) is not domain.DeadlineState.pending:
            updates = await self.repo.updates_met(code, year)

        def state(s: domain.DeadlineState, due: object, done: object = None) -> DeadlinePublic:
            return DeadlinePublic.model_validate(
                {"due": due, "state": s, "state_label": s.label, "done_at": done}
            )

        rows = []
        for t in townships:
            upload = uploads.get(t.code)
            rows.append(
                TownshipDeadlines(
                    region_code=t.code,
                    name=t.name,
                    update=state(
                        domain.update_state(year, updates.get(t.code), now), domain.update_due(year)
                    ),
                    upload=state(
                        domain.upload_state(year, upload.uploaded_at if upload else None, now),
                        domain.upload_due(year),
                        upload.uploaded_at if upload else None,
                    ),
                )
            )
        return DeadlinesPublic(region_code=code, year=year, townships=rows)

"""Inspection use cases: plan, edit, start (draw the sample from the registry's frame), close; report, confirm and
dismiss findings with their evidence; order, report, accept and reopen rectifications, overdue lists and the
per-region summary; the inspection and manual figures of a year.

Every write: the record locked in scope (404 outside it) → who may (403) → the rule (409, or 422 naming the field)
→ the row and the audit entry; the route class commits. The registry is read over HTTP (the sampling frame, a
finding's household, a cadre or a helping unit): when it does not answer, the request is a 503 and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

from services.assessment.inspections import domain
from services.assessment.inspections.domain import (
    DEFAULT_RATE,
    FRAME_STATUSES,
    Effect,
    EffectKind,
    FindingCategory,
    FindingStatus,
    FindingSubjectType,
    InspectionLevel,
    InspectionStatus,
    OwnerKind,
    RectificationStatus,
    SamplingUnit,
    Severity,
)
from services.assessment.inspections.repository import (
    EvidenceBytes,
    EvidenceRepository,
    FindingRepository,
    InspectionRepository,
    RectificationRepository,
    figures_for,
)
from services.assessment.inspections.schemas import (
    FIGURE_ROWS,
    EffectPublic,
    EffectSpec,
    EvidencePublic,
    FindingBrief,
    FindingCreate,
    FindingPage,
    FindingPublic,
    FindingTally,
    InspectionCreate,
    InspectionPage,
    InspectionPublic,
    InspectionUpdate,
    OwnerPublic,
    OwnerSpec,
    RectificationCreate,
    RectificationPage,
    RectificationPublic,
    RectificationReopening,
    RectificationStep,
    RectificationSummary,
    SampleItem,
    SamplePage,
    StratumPublic,
    SummaryRow,
    figure_fields,
    figure_value,
)
from services.assessment.manual_scores.domain import require_reader as require_figure_reader
from services.assessment.metrics.domain import CATALOGUE, SubjectType
from services.assessment.models import (
    Evidence,
    Finding,
    Inspection,
    InspectionSample,
    Rectification,
    RectificationEvent,
    audit_event,
)
from services.assessment.registry import RegistryGateway
from shared.audit import AuditLog
from shared.clock import china_date
from shared.context import Context
from shared.errors import NotAllowed, Refused
from shared.etag import stale
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound, PayloadTooLarge, UnsupportedMediaType
from shared.roles import RegionLevel, Role, in_scope, is_region_code, scope_prefix

__all__ = [
    "EvidenceService",
    "FigureService",
    "FindingService",
    "InspectionService",
    "RectificationService",
]

_AUDIT = AuditLog(audit_event)
_INSPECTIONS = "inspections"
_SAMPLE = "inspection_sample"
_FINDINGS = "findings"
_RECTIFICATIONS = "rectifications"
_FIGURES = "figures"


def _evidence_public(rows: Sequence[Evidence]) -> list[EvidencePublic]:
    return [
        EvidencePublic(
            id=e.id,
            sha256=e.sha256,
            content_type=e.content_type,
            size=e.size,
            uploaded_at=e.uploaded_at,
            uploaded_by=e.uploaded_by,
        )
        for e in rows
    ]


# -- evidence ---------------------------------------------------------------------------------------------------
class EvidenceService:
    """Evidence files of a record by content hash (type by its bytes, size and count limits). The caller checked
    that the record is in scope and that this caller may attach to it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = EvidenceRepository(ctx)

    async def attach(
        self, owner_type: str, owner_id: uuid.UUID, content_type: str, data: bytes, *, region_code: str
    ) -> tuple[bool, EvidencePublic]:
        """Store a file; the same bytes again answer the stored one (False)."""
        try:
            domain.check_attachment(content_type, data)
        except domain.AttachmentTypeRefused as exc:
            raise UnsupportedMediaType(exc.message, code=exc.code) from exc
        except domain.AttachmentTooLarge as exc:
            raise PayloadTooLarge(exc.message, code=exc.code) from exc
        digest = hashlib.sha256(data).hexdigest()
        stored = await self.repo.by_hash(owner_type, owner_id, digest)
        if stored is not None:
            return False, _evidence_public([stored])[0]
        domain.check_attachment_count(await self.repo.count(owner_type, owner_id))
        row = Evidence(
            id=uuid.uuid4(),
            owner_type=owner_type,
            owner_id=owner_id,
            sha256=digest,
            content_type=content_type,
            size=len(data),
            data=data,
            uploaded_at=self.ctx.now,
            uploaded_by=self.ctx.principal.sub,
        )
        await self.repo.add(row)
        await _AUDIT.record(
            self.ctx,
            f"{owner_type}.evidence",
            record_type=owner_type,
            record_id=owner_id,
            region_code=region_code,
            detail={"evidence_id": str(row.id), "sha256": digest, "size": len(data), "type": content_type},
        )
        return True, _evidence_public([row])[0]

    async def of(
        self, owner_type: str, owner_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[EvidencePublic]]:
        found = await self.repo.of(owner_type, owner_ids)
        return {k: _evidence_public(v) for k, v in found.items()}

    async def content(self, owner_type: str, owner_id: uuid.UUID, evidence_id: uuid.UUID) -> EvidenceBytes:
        found = await self.repo.content(owner_type, owner_id, evidence_id)
        if found is None:
            raise NotFound(f"evidence {evidence_id} not found")
        return found


# -- inspections ------------------------------------------------------------------------------------------------
def _inspection_public(row: Inspection, tally: dict[str, int] | None = None) -> InspectionPublic:
    tally = tally or {}
    return InspectionPublic(
        id=row.id,
        level=InspectionLevel(row.level),
        year=row.year,
        region_code=row.region_code,
        owner_region=row.owner_region,
        name=row.name,
        sampling_unit=SamplingUnit(row.sampling_unit),
        sampling_rate=row.sampling_rate,
        seed=row.seed,
        status=InspectionStatus(row.status),
        inspectors=list(row.inspectors),
        frame_size=row.frame_size,
        frame_digest=row.frame_digest,
        sample_size=row.sample_size,
        strata=None if row.strata is None else [StratumPublic.model_validate(s) for s in row.strata],
        findings=FindingTally(
            reported=tally.get(FindingStatus.reported.value, 0),
            confirmed=tally.get(FindingStatus.confirmed.value, 0),
            dismissed=tally.get(FindingStatus.dismissed.value, 0),
        ),
        closing_note=row.closing_note,
        revision=row.revision,
        created_at=row.created_at,
        created_by=row.created_by,
        started_at=row.started_at,
        started_by=row.started_by,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
    )


def _owner_side(ctx: Context, row: Inspection) -> bool:
    return domain.is_owner_side(ctx.principal, InspectionLevel(row.level), row.owner_region)


def _require_owner_side(ctx: Context, row: Inspection, what: str) -> None:
    """The checking side writing: never a read-only client (invariant 48)."""
    if not domain.acts_for_checking_side(ctx.principal, InspectionLevel(row.level), row.owner_region):
        raise NotAllowed(
            "inspection_officer_required",
            f"only the inspection's checking officers {what}",
            role=ctx.principal.role.value,
        )


def _inspectors(subs: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(s.strip() for s in subs if s.strip()))


class InspectionService:
    def __init__(self, ctx: Context, registry: RegistryGateway | None = None) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = InspectionRepository(ctx)
        self._registry = registry

    @property
    def registry(self) -> RegistryGateway:
        if self._registry is None:
            raise RuntimeError("this use case reads the registry: pass the RegistryGateway")
        return self._registry

    async def _row(self, inspection_id: uuid.UUID, *, lock: bool = False) -> Inspection:
        row = await self.repo.get(inspection_id, lock=lock)
        if row is None:
            raise NotFound(f"inspection {inspection_id} not found")
        return row

    async def _public(self, row: Inspection) -> InspectionPublic:
        return _inspection_public(row, (await self.repo.tallies([row.id])).get(row.id))

    async def _audit(self, action: str, row: Inspection, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="inspection",
            record_id=row.id,
            region_code=row.region_code,
            detail={"level": row.level, "year": row.year, **detail},
        )

    async def create(self, payload: InspectionCreate) -> InspectionPublic:
        """Plan a check: the level's own officers, for a region at or below their own (the seed of its draw is
        generated here and stored)."""
        owner = domain.require_creator(self.principal, payload.level, payload.region_code)
        domain.check_year(payload.year, self.ctx.today)
        now = self.ctx.now
        row = Inspection(
            id=uuid.uuid4(),
            level=payload.level.value,
            year=payload.year,
            region_code=payload.region_code,
            scope_prefix=scope_prefix(payload.region_code),
            owner_region=owner,
            name=payload.name.strip(),
            sampling_unit=payload.sampling_unit.value,
            sampling_rate=payload.sampling_rate or DEFAULT_RATE[payload.level],
            seed=secrets.token_hex(16),
            status=InspectionStatus.planned.value,
            inspectors=_inspectors(payload.inspectors),
            revision=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
        )
        await self.repo.add(row)
        await self._audit("inspection.create", row, rate=str(row.sampling_rate), unit=row.sampling_unit)
        return _inspection_public(row)

    async def get(self, inspection_id: uuid.UUID) -> InspectionPublic:
        return await self._public(await self._row(inspection_id))

    async def page(
        self,
        *,
        year: int | None,
        level: InspectionLevel | None,
        status: InspectionStatus | None,
        region: str | None,
        cursor: str | None,
        limit: int,
    ) -> InspectionPage:
        after = None
        if cursor is not None:
            y, created, last = decode_cursor(cursor, _INSPECTIONS, (int, datetime, uuid.UUID))
            after = (y, created, last)
        rows = await self.repo.page(
            year=year,
            level=level.value if level else None,
            status=status.value if status else None,
            region=scope_prefix(region) if region else None,
            after=after,  # type: ignore[arg-type]  # the codec typed each value
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        tallies = await self.repo.tallies([r.id for r in rows])
        last_row = rows[-1] if rows else None
        return InspectionPage(
            items=[_inspection_public(r, tallies.get(r.id)) for r in rows],
            next_cursor=encode_cursor(_INSPECTIONS, last_row.year, last_row.created_at, last_row.id)
            if more and last_row
            else None,
        )

    async def update(
        self, inspection_id: uuid.UUID, revision: int, payload: InspectionUpdate
    ) -> InspectionPublic:
        """Edit (If-Match: its revision): the sampling while planned, the name and inspectors until closed."""
        row = await self._row(inspection_id, lock=True)
        _require_owner_side(self.ctx, row, "edit it")
        if row.revision != revision:
            raise stale(row.revision, what="inspection")
        sent = payload.model_fields_set
        domain.check_editable(
            InspectionStatus(row.status), sampling=bool(sent & {"sampling_unit", "sampling_rate"})
        )
        values: dict[str, Any] = {}
        for name in sent:
            value = getattr(payload, name)
            if value is None:
                raise domain.invalid_at("value_required", f"/{name}", "send a value, or leave the member out")
            if name == "inspectors":
                value = _inspectors(value)
            elif name == "name":
                value = value.strip()
            elif name == "sampling_unit":
                value = value.value
            values[name] = value
        updated = await self.repo.update(row.id, values)
        await self._audit("inspection.update", updated, fields=sorted(sent))
        return await self._public(updated)

    async def start(self, inspection_id: uuid.UUID) -> InspectionPublic:
        """Start a planned check: the registry's frame of identified households of the region is read and the
        sample drawn from the seed (per township, at the rate); planned → in progress."""
        row = await self._row(inspection_id)
        _require_owner_side(self.ctx, row, "start it")
        domain.check_startable(InspectionStatus(row.status))
        frame = await self.registry.frame(row.region_code, FRAME_STATUSES, request_id=self.ctx.request_id)
        row = await self._row(inspection_id, lock=True)
        domain.check_startable(InspectionStatus(row.status))
        sample = domain.draw(
            row.seed,
            ((h.id, h.village_code) for h in frame if in_scope(row.region_code, h.village_code)),
            row.sampling_rate,
            SamplingUnit(row.sampling_unit),
        )
        await self.repo.add_sample(
            [
                InspectionSample(
                    inspection_id=row.id,
                    household_id=s.household_id,
                    village_code=s.village_code,
                    stratum=s.stratum,
                    rank=s.rank,
                )
                for s in sample.households
            ]
        )
        updated = await self.repo.update(
            row.id,
            {
                "status": InspectionStatus.in_progress.value,
                "started_at": self.ctx.now,
                "started_by": self.principal.sub,
                "frame_size": sample.frame_size,
                "frame_digest": sample.digest,
                "sample_size": len(sample.households),
                "strata": [
                    {
                        "code": s.code,
                        "frame_size": s.frame_size,
                        "units": s.units,
                        "drawn": s.drawn,
                        "digest": s.digest,
                    }
                    for s in sample.strata
                ],
            },
        )
        await self._audit(
            "inspection.start", updated, frame_size=sample.frame_size, sample_size=len(sample.households)
        )
        return await self._public(updated)

    async def close(self, inspection_id: uuid.UUID, note: str | None) -> InspectionPublic:
        """Close a check once every finding is confirmed or dismissed; it takes no new finding after."""
        row = await self._row(inspection_id, lock=True)
        _require_owner_side(self.ctx, row, "close it")
        domain.check_closable(InspectionStatus(row.status), await self.repo.unreviewed(row.id))
        updated = await self.repo.update(
            row.id,
            {
                "status": InspectionStatus.closed.value,
                "closed_at": self.ctx.now,
                "closed_by": self.principal.sub,
                "closing_note": note,
            },
        )
        await self._audit("inspection.close", updated)
        return await self._public(updated)

    async def sample(self, inspection_id: uuid.UUID, *, cursor: str | None, limit: int) -> SamplePage:
        """The sample, by township and rank. Spot checks are unannounced: until the check is closed only its
        checking officers and inspectors see whom it drew."""
        row = await self._row(inspection_id)
        if not (
            _owner_side(self.ctx, row)
            or self.principal.sub in row.inspectors
            or row.status == InspectionStatus.closed.value
        ):
            raise NotAllowed(
                "sample_withheld",
                "the sample of a check under way is shown to its checking officers and inspectors",
            )
        after = None
        if cursor is not None:
            stratum, rank = decode_cursor(cursor, _SAMPLE, (str, int))
            assert isinstance(stratum, str) and isinstance(rank, int)  # the codec typed them
            after = (stratum, rank)
        rows = await self.repo.sample(row.id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return SamplePage(
            items=[
                SampleItem(
                    household_id=r.household_id, village_code=r.village_code, stratum=r.stratum, rank=r.rank
                )
                for r in rows
            ],
            next_cursor=encode_cursor(_SAMPLE, rows[-1].stratum, rows[-1].rank) if more else None,
        )


# -- findings ---------------------------------------------------------------------------------------------------
def _effect(spec: EffectSpec | None) -> Effect | None:
    if spec is None:
        return None
    if spec.kind is EffectKind.deduction:
        if spec.points is None or spec.points <= 0:
            raise domain.invalid_at(
                "deduction_points_required", "/effect/points", "a deduction takes points off (> 0)"
            )
        return Effect(spec.kind, spec.code, spec.points)
    if spec.points is not None:
        raise domain.invalid_at("veto_without_points", "/effect/points", "a veto takes no points")
    return Effect(spec.kind, spec.code)


def _finding_public(row: Finding, level: str, evidence: list[EvidencePublic]) -> FindingPublic:
    effect = (
        None
        if row.effect_kind is None or row.effect_code is None
        else EffectPublic(kind=EffectKind(row.effect_kind), code=row.effect_code, points=row.effect_points)
    )
    return FindingPublic(
        id=row.id,
        inspection_id=row.inspection_id,
        inspection_level=InspectionLevel(level),
        year=row.year,
        subject_type=FindingSubjectType(row.subject_type),
        subject_id=row.subject_id,
        region_code=row.region_code,
        category=FindingCategory(row.category),
        severity=Severity(row.severity),
        description=row.description,
        found_on=row.found_on,
        status=FindingStatus(row.status),
        counts=row.status == FindingStatus.confirmed.value,
        effect=effect,
        reported_at=row.reported_at,
        reported_by=row.reported_by,
        reviewed_at=row.reviewed_at,
        reviewed_by=row.reviewed_by,
        review_note=row.review_note,
        revision=row.revision,
        evidence=evidence,
    )


def _normalised(subject_type: FindingSubjectType, subject_id: str) -> str:
    """A UUID subject in its canonical text (what the figures group by); a region code as sent."""
    if subject_type in (FindingSubjectType.village, FindingSubjectType.township):
        return subject_id
    return str(uuid.UUID(subject_id))


def _started_on(inspection: Inspection) -> date | None:
    return None if inspection.started_at is None else china_date(inspection.started_at)


class FindingService:
    def __init__(self, ctx: Context, registry: RegistryGateway | None = None) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = FindingRepository(ctx)
        self.inspections = InspectionRepository(ctx)
        self.evidence = EvidenceService(ctx)
        self._registry = registry

    @property
    def registry(self) -> RegistryGateway:
        if self._registry is None:
            raise RuntimeError("this use case reads the registry: pass the RegistryGateway")
        return self._registry

    async def _row(self, finding_id: uuid.UUID, *, lock: bool = False) -> Finding:
        row = await self.repo.get(finding_id, lock=lock)
        if row is None:
            raise NotFound(f"finding {finding_id} not found")
        return row

    async def _public(self, row: Finding, inspection: Inspection | None = None) -> FindingPublic:
        inspection = inspection or await self.repo.inspection(row.inspection_id)
        evidence = await self.evidence.of("finding", [row.id])
        return _finding_public(row, inspection.level, evidence.get(row.id, []))

    async def _audit(self, action: str, row: Finding, reason: str | None = None, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="finding",
            record_id=row.id,
            region_code=row.region_code,
            reason=reason,
            detail={"inspection_id": str(row.inspection_id), "status": row.status, **detail},
        )

    async def _where(self, payload: FindingCreate) -> str:
        """Where the finding lies: the place itself, the household's village (the registry), or where a cadre's or
        unit's finding was made (the cadre or unit must exist in the registry)."""
        subject = payload.subject_type
        village: str | None = None
        rid = self.ctx.request_id
        if subject is FindingSubjectType.household:
            found = await self.registry.households([uuid.UUID(payload.subject_id)], request_id=rid)
            household = found.get(uuid.UUID(payload.subject_id))
            village = household.village_code if household else None
        elif subject in (FindingSubjectType.cadre, FindingSubjectType.helping_unit):
            subject_uuid = uuid.UUID(payload.subject_id)
            known = (
                await self.registry.cadre(subject_uuid, request_id=rid)
                if subject is FindingSubjectType.cadre
                else await self.registry.helping_unit(subject_uuid, request_id=rid)
            )
            if known is None:
                raise domain.invalid_at(
                    "subject_unknown", "/subject_id", f"the registry has no such {subject.value}"
                )
        return domain.finding_region(
            subject, payload.subject_id, household_village=village, given=payload.region_code
        )

    async def report(self, inspection_id: uuid.UUID, payload: FindingCreate) -> FindingPublic:
        """An inspector (or the checking side) reports a finding of a check in progress, about a subject in the
        region checked."""
        inspection = await self.inspections.get(inspection_id)
        if inspection is None:
            raise NotFound(f"inspection {inspection_id} not found")
        level = InspectionLevel(inspection.level)
        domain.require_reporter(self.principal, level, inspection.owner_region, inspection.inspectors)
        domain.check_takes_findings(InspectionStatus(inspection.status))
        domain.validate_subject(payload.subject_type, payload.subject_id, payload.category)
        effect = _effect(payload.effect)
        domain.check_found_on(payload.found_on, started_on=_started_on(inspection), today=self.ctx.today)
        region = await self._where(payload)
        pointer = (
            "/region_code"
            if payload.subject_type in (FindingSubjectType.cadre, FindingSubjectType.helping_unit)
            else "/subject_id"
        )
        domain.subject_in_scope(inspection.region_code, region, pointer)
        # Locked after the registry answered: a close in between is seen, and this finding waits for it.
        inspection = await self.inspections.get(inspection_id, lock=True)
        assert inspection is not None
        domain.check_takes_findings(InspectionStatus(inspection.status))
        now = self.ctx.now
        row = Finding(
            id=uuid.uuid4(),
            inspection_id=inspection.id,
            year=inspection.year,
            subject_type=payload.subject_type.value,
            subject_id=_normalised(payload.subject_type, payload.subject_id),
            region_code=region,
            category=payload.category.value,
            severity=payload.severity.value,
            description=payload.description.strip(),
            found_on=payload.found_on,
            status=FindingStatus.reported.value,
            effect_kind=effect.kind.value if effect else None,
            effect_code=effect.code if effect else None,
            effect_points=effect.points if effect else None,
            reported_at=now,
            reported_by=self.principal.sub,
            revision=1,
            updated_at=now,
        )
        await self.repo.add(row)
        await self._audit("finding.report", row, category=row.category, severity=row.severity)
        return _finding_public(row, inspection.level, [])

    async def get(self, finding_id: uuid.UUID) -> FindingPublic:
        return await self._public(await self._row(finding_id))

    async def page(
        self,
        *,
        inspection_id: uuid.UUID | None,
        year: int | None,
        status: FindingStatus | None,
        category: FindingCategory | None,
        subject_type: FindingSubjectType | None,
        subject_id: str | None,
        region: str | None,
        cursor: str | None,
        limit: int,
    ) -> FindingPage:
        after = None
        if cursor is not None:
            at, last = decode_cursor(cursor, _FINDINGS, (datetime, uuid.UUID))
            after = (at, last)
        rows = await self.repo.page(
            inspection_id=inspection_id,
            year=year,
            status=status.value if status else None,
            category=category.value if category else None,
            subject_type=subject_type.value if subject_type else None,
            subject_id=subject_id,
            region=scope_prefix(region) if region else None,
            after=after,  # type: ignore[arg-type]  # the codec typed each value
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        inspections = await self.repo.inspections([r.inspection_id for r in rows])
        evidence = await self.evidence.of("finding", [r.id for r in rows])
        return FindingPage(
            items=[
                _finding_public(r, inspections[r.inspection_id].level, evidence.get(r.id, [])) for r in rows
            ],
            next_cursor=encode_cursor(_FINDINGS, rows[-1].reported_at, rows[-1].id) if more else None,
        )

    async def _review(self, finding_id: uuid.UUID) -> tuple[Finding, Inspection]:
        row = await self._row(finding_id, lock=True)
        inspection = await self.repo.inspection(row.inspection_id)
        domain.require_reviewer(
            self.principal, InspectionLevel(inspection.level), inspection.owner_region, row.reported_by
        )
        return row, inspection

    async def confirm(self, finding_id: uuid.UUID, note: str | None) -> FindingPublic:
        """A second person of the inspection's level or above confirms: the finding counts from now on."""
        row, inspection = await self._review(finding_id)
        status = domain.confirm(FindingStatus(row.status))
        updated = await self.repo.update(
            row.id,
            {
                "status": status.value,
                "reviewed_at": self.ctx.now,
                "reviewed_by": self.principal.sub,
                "review_note": note,
            },
        )
        await self._audit("finding.confirm", updated, reason=note)
        return await self._public(updated, inspection)

    async def dismiss(self, finding_id: uuid.UUID, reason: str) -> FindingPublic:
        """A second person of the inspection's level or above dismisses (with the reason): it stops counting."""
        row, inspection = await self._review(finding_id)
        was = row.status
        status = domain.dismiss(FindingStatus(row.status))
        updated = await self.repo.update(
            row.id,
            {
                "status": status.value,
                "reviewed_at": self.ctx.now,
                "reviewed_by": self.principal.sub,
                "review_note": reason.strip(),
            },
        )
        await self._audit("finding.dismiss", updated, reason=reason.strip(), was=was)
        return await self._public(updated, inspection)

    async def attach(
        self, finding_id: uuid.UUID, content_type: str, data: bytes
    ) -> tuple[bool, EvidencePublic]:
        """Evidence of a finding, by its inspectors or checking side, until it is dismissed."""
        row = await self._row(finding_id, lock=True)
        inspection = await self.repo.inspection(row.inspection_id)
        domain.require_reporter(
            self.principal, InspectionLevel(inspection.level), inspection.owner_region, inspection.inspectors
        )
        if row.status == FindingStatus.dismissed.value:
            raise Refused("finding_dismissed", "the finding is dismissed: it takes no more evidence")
        return await self.evidence.attach("finding", row.id, content_type, data, region_code=row.region_code)

    async def evidence_bytes(self, finding_id: uuid.UUID, evidence_id: uuid.UUID) -> EvidenceBytes:
        row = await self._row(finding_id)
        return await self.evidence.content("finding", row.id, evidence_id)


# -- rectifications ---------------------------------------------------------------------------------------------
class RectificationService:
    def __init__(self, ctx: Context, registry: RegistryGateway | None = None) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = RectificationRepository(ctx)
        self.findings = FindingRepository(ctx)
        self.evidence = EvidenceService(ctx)
        self._registry = registry

    @property
    def registry(self) -> RegistryGateway:
        if self._registry is None:
            raise RuntimeError("this use case reads the registry: pass the RegistryGateway")
        return self._registry

    async def _row(self, rectification_id: uuid.UUID, *, lock: bool = False) -> Rectification:
        row = await self.repo.get(rectification_id, lock=lock)
        if row is None:
            raise NotFound(f"rectification {rectification_id} not found")
        return row

    async def _audit(self, action: str, row: Rectification, reason: str | None = None, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="rectification",
            record_id=row.id,
            region_code=row.region_code,
            reason=reason,
            detail={"finding_id": str(row.finding_id), "status": row.status, **detail},
        )

    async def _publics(self, rows: Sequence[Rectification]) -> list[RectificationPublic]:
        ids = [r.id for r in rows]
        events = await self.repo.events(ids)
        findings = await self.repo.findings([r.finding_id for r in rows])
        evidence = await self.evidence.of("rectification", ids)
        today = self.ctx.today
        out = []
        for r in rows:
            f = findings[r.finding_id]
            status = RectificationStatus(r.status)
            late = domain.is_overdue(status, r.deadline, today)
            out.append(
                RectificationPublic(
                    id=r.id,
                    finding_id=r.finding_id,
                    inspection_id=r.inspection_id,
                    year=r.year,
                    region_code=r.region_code,
                    finding=FindingBrief(
                        id=f.id,
                        category=FindingCategory(f.category),
                        severity=Severity(f.severity),
                        subject_type=FindingSubjectType(f.subject_type),
                        subject_id=f.subject_id,
                        found_on=f.found_on,
                    ),
                    owner=OwnerPublic(
                        kind=OwnerKind(r.owner_kind),
                        id=r.owner_id,
                        name=r.owner_name,
                        responsible_sub=r.responsible_sub,
                    ),
                    requirement=r.requirement,
                    deadline=r.deadline,
                    status=status,
                    overdue=late,
                    days_overdue=domain.days_overdue(r.deadline, today) if late else 0,
                    response=r.response,
                    submitted_at=r.submitted_at,
                    submitted_by=r.submitted_by,
                    reviewed_at=r.reviewed_at,
                    reviewed_by=r.reviewed_by,
                    rounds=r.rounds,
                    revision=r.revision,
                    created_at=r.created_at,
                    created_by=r.created_by,
                    history=[
                        RectificationStep(
                            seq=e.seq, step=e.step, note=e.note, deadline=e.deadline, at=e.at, by=e.by
                        )
                        for e in events.get(r.id, [])
                    ],
                    evidence=evidence.get(r.id, []),
                )
            )
        return out

    async def _public(self, row: Rectification) -> RectificationPublic:
        return (await self._publics([row]))[0]

    async def _owner(self, spec: OwnerSpec, inspection: Inspection) -> tuple[str, str | None]:
        """The owner's id (normalised) and name: a helping unit known to the registry (with the user who answers
        for it), a region office inside the region checked, or a user."""
        if spec.kind is OwnerKind.helping_unit:
            try:
                unit_id = uuid.UUID(spec.id)
            except ValueError:
                raise domain.invalid_at(
                    "owner_id_invalid", "/owner/id", "a helping unit is named by its id (a UUID)"
                ) from None
            if spec.responsible_sub is None:
                raise domain.invalid_at(
                    "responsible_required", "/owner/responsible_sub", "name the user who reports for the unit"
                )
            unit = await self.registry.helping_unit(unit_id, request_id=self.ctx.request_id)
            if unit is None:
                raise domain.invalid_at("owner_unknown", "/owner/id", "the registry has no such helping unit")
            return str(unit_id), spec.name or unit.name
        if spec.kind is OwnerKind.region_office:
            if not is_region_code(spec.id):
                raise domain.invalid_at(
                    "owner_id_invalid", "/owner/id", "a region office is named by its division code"
                )
            if not in_scope(inspection.region_code, spec.id):
                raise domain.invalid_at(
                    "owner_outside_inspection",
                    "/owner/id",
                    f"the office lies outside the region checked ({inspection.region_code})",
                )
            return spec.id, spec.name
        return spec.id, spec.name

    async def order(self, finding_id: uuid.UUID, payload: RectificationCreate) -> RectificationPublic:
        """限期整改: the checking side orders a confirmed finding's rectification by an owner before a deadline."""
        finding = await self.findings.get(finding_id, lock=True)
        if finding is None:
            raise NotFound(f"finding {finding_id} not found")
        inspection = await self.findings.inspection(finding.inspection_id)
        domain.require_rectification_reviewer(
            self.principal, InspectionLevel(inspection.level), inspection.owner_region, None
        )
        domain.check_rectifiable(FindingStatus(finding.status), await self.repo.unfinished(finding.id))
        domain.check_deadline(payload.deadline, found_on=finding.found_on, today=self.ctx.today)
        owner_id, owner_name = await self._owner(payload.owner, inspection)
        now = self.ctx.now
        row = Rectification(
            id=uuid.uuid4(),
            finding_id=finding.id,
            inspection_id=inspection.id,
            year=finding.year,
            region_code=finding.region_code,
            owner_kind=payload.owner.kind.value,
            owner_id=owner_id,
            owner_name=owner_name,
            responsible_sub=payload.owner.responsible_sub,
            requirement=payload.requirement.strip(),
            deadline=payload.deadline,
            status=RectificationStatus.open.value,
            rounds=0,
            revision=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
        )
        event = RectificationEvent(
            rectification_id=row.id,
            seq=1,
            step="ordered",
            note=row.requirement,
            deadline=row.deadline,
            at=now,
            by=self.principal.sub,
        )
        await self.repo.add(row, event)
        await self._audit(
            "rectification.order", row, owner_kind=row.owner_kind, deadline=row.deadline.isoformat()
        )
        return await self._public(row)

    async def get(self, rectification_id: uuid.UUID) -> RectificationPublic:
        return await self._public(await self._row(rectification_id))

    async def page(
        self,
        *,
        region: str | None,
        status: RectificationStatus | None,
        year: int | None,
        overdue: bool | None,
        cursor: str | None,
        limit: int,
    ) -> RectificationPage:
        after = None
        if cursor is not None:
            deadline, last = decode_cursor(cursor, _RECTIFICATIONS, (date, uuid.UUID))
            after = (deadline, last)
        rows = await self.repo.page(
            region=scope_prefix(region) if region else None,
            status=status.value if status else None,
            year=year,
            overdue=overdue,
            today=self.ctx.today,
            after=after,  # type: ignore[arg-type]  # the codec typed each value
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return RectificationPage(
            items=await self._publics(rows),
            next_cursor=encode_cursor(_RECTIFICATIONS, rows[-1].deadline, rows[-1].id) if more else None,
        )

    async def summary(self, region: str, year: int | None) -> RectificationSummary:
        """Tasks under a region per child region: per status and overdue (as of today, China time)."""
        if self.principal.role is Role.cadre or not (
            self.principal.covers(region) or self.principal.role is Role.service
        ):
            raise NotFound(f"region {region} not found")
        counts = await self.repo.summary(scope_prefix(region), year, self.ctx.today)
        by_child: dict[str, dict[str, int]] = {}
        for code, row in counts:
            child = domain.child_region(region, code)
            into = by_child.setdefault(child, dict.fromkeys(row, 0))
            for k, v in row.items():
                into[k] += v

        def summary_row(code: str, c: dict[str, int]) -> SummaryRow:
            statuses = [s.value for s in RectificationStatus]
            return SummaryRow(
                region_code=code,
                total=sum(c.get(s, 0) for s in statuses),
                open=c.get("open", 0),
                submitted=c.get("submitted", 0),
                reopened=c.get("reopened", 0),
                accepted=c.get("accepted", 0),
                overdue=c.get("overdue", 0),
            )

        total: dict[str, int] = {}
        for c in by_child.values():
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
        return RectificationSummary(
            region_code=region,
            year=year,
            as_of=self.ctx.today,
            total=summary_row(region, total),
            regions=[summary_row(code, by_child[code]) for code in sorted(by_child)],
        )

    async def submit(self, rectification_id: uuid.UUID, response: str) -> RectificationPublic:
        """The owner reports what was done (evidence attached before): open or reopened → submitted."""
        row = await self._row(rectification_id, lock=True)
        domain.require_rectification_answerer(
            self.principal, OwnerKind(row.owner_kind), row.owner_id, row.responsible_sub
        )
        status = domain.check_submittable(RectificationStatus(row.status))
        late = self.ctx.today > row.deadline
        updated = await self.repo.update(
            row.id,
            {
                "status": status.value,
                "response": response.strip(),
                "submitted_at": self.ctx.now,
                "submitted_by": self.principal.sub,
                "rounds": row.rounds + 1,
            },
        )
        await self.repo.add_event(row.id, "submitted", response.strip(), None)
        await self._audit("rectification.submit", updated, late=late)
        return await self._public(updated)

    async def _reviewed(self, rectification_id: uuid.UUID) -> Rectification:
        row = await self._row(rectification_id, lock=True)
        finding = await self.findings.inspection(row.inspection_id)
        domain.require_rectification_reviewer(
            self.principal, InspectionLevel(finding.level), finding.owner_region, row.submitted_by
        )
        domain.check_reviewable(RectificationStatus(row.status))
        return row

    async def accept(self, rectification_id: uuid.UUID, note: str | None) -> RectificationPublic:
        """The checking side accepts the rectification (销号): submitted → accepted."""
        row = await self._reviewed(rectification_id)
        updated = await self.repo.update(
            row.id,
            {
                "status": RectificationStatus.accepted.value,
                "reviewed_at": self.ctx.now,
                "reviewed_by": self.principal.sub,
            },
        )
        await self.repo.add_event(row.id, "accepted", note, None)
        await self._audit("rectification.accept", updated, reason=note)
        return await self._public(updated)

    async def reopen(
        self, rectification_id: uuid.UUID, payload: RectificationReopening
    ) -> RectificationPublic:
        """The checking side sends it back with the reason (and a new deadline, if any): submitted → reopened."""
        row = await self._reviewed(rectification_id)
        values: dict[str, Any] = {
            "status": domain.check_reopen(RectificationStatus(row.status)).value,
            "reviewed_at": self.ctx.now,
            "reviewed_by": self.principal.sub,
        }
        if payload.deadline is not None:
            finding = (await self.repo.findings([row.finding_id]))[row.finding_id]
            domain.check_deadline(payload.deadline, found_on=finding.found_on, today=self.ctx.today)
            values["deadline"] = payload.deadline
        updated = await self.repo.update(row.id, values)
        await self.repo.add_event(row.id, "reopened", payload.reason.strip(), payload.deadline)
        await self._audit("rectification.reopen", updated, reason=payload.reason.strip())
        return await self._public(updated)

    async def attach(
        self, rectification_id: uuid.UUID, content_type: str, data: bytes
    ) -> tuple[bool, EvidencePublic]:
        """Evidence of the rectification, by its owner, until it is accepted."""
        row = await self._row(rectification_id, lock=True)
        domain.require_rectification_answerer(
            self.principal, OwnerKind(row.owner_kind), row.owner_id, row.responsible_sub
        )
        if row.status == RectificationStatus.accepted.value:
            raise Refused(
                "rectification_accepted", "the rectification is accepted: it takes no more evidence"
            )
        return await self.evidence.attach(
            "rectification", row.id, content_type, data, region_code=row.region_code
        )

    async def evidence_bytes(self, rectification_id: uuid.UUID, evidence_id: uuid.UUID) -> EvidenceBytes:
        row = await self._row(rectification_id)
        return await self.evidence.content("rectification", row.id, evidence_id)


# -- figures ----------------------------------------------------------------------------------------------------
_PARENT = {SubjectType.village: RegionLevel.township, SubjectType.township: RegionLevel.county}


class FigureService:
    """The inspection and manual figures of a year per subject, as the registry's figure rows are shaped."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal

    async def rows(self, subject_type: SubjectType, year: int, region: str) -> list[dict[str, Any]]:
        require_figure_reader(self.principal)
        if self.principal.role is not Role.service and not self.principal.covers(region):
            raise NotFound(f"region {region} not found")
        domain.check_year(year, self.ctx.today)
        codes = figure_fields(subject_type)
        found = await figures_for(self.ctx.session, year, scope_prefix(region), subject_type, codes)
        by_subject: dict[str, dict[str, Any]] = {}
        for r in found:
            by_subject.setdefault(r.subject_id, {})[r.metric_code] = figure_value(
                CATALOGUE[r.metric_code].unit, r.value
            )
        parent = _PARENT.get(subject_type)
        return [
            {
                "subject_type": subject_type.value,
                "id": subject,
                "year": year,
                "name": None,
                "parent_code": domain.region_at(subject, parent) if parent else None,
                "parent_name": None,
                "figures": figures,
            }
            for subject, figures in sorted(by_subject.items())
        ]

    async def page_json(
        self, subject_type: SubjectType, year: int, region: str, *, cursor: str | None, limit: int
    ) -> bytes:
        rows = await self.rows(subject_type, year, region)
        if cursor is not None:
            (after,) = decode_cursor(cursor, f"{_FIGURES}_{subject_type.value}", (str,))
            rows = [r for r in rows if r["id"] > str(after)]
        model = FIGURE_ROWS[subject_type]
        page = rows[:limit]
        more = len(rows) > limit
        items = [json.loads(model.model_validate(r).model_dump_json()) for r in page]
        body = {
            "items": items,
            "next_cursor": encode_cursor(f"{_FIGURES}_{subject_type.value}", page[-1]["id"])
            if more and page
            else None,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def ndjson(self, subject_type: SubjectType, year: int, region: str) -> AsyncIterator[bytes]:
        rows = await self.rows(subject_type, year, region)
        model = FIGURE_ROWS[subject_type]

        async def lines() -> AsyncIterator[bytes]:
            for r in rows:
                yield model.model_validate(r).model_dump_json().encode() + b"\n"

        return lines()

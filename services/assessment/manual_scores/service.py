"""Manual entry use cases: enter a manual metric's value or a manual indicator's score, correct it (a new version,
If-Match: the latest version), read an entry, its versions and the latest entries of a region, attach evidence.

Every write: who may and where (403 / 404) → the target and the value (422 naming the field) → the row and the
audit entry; the route class commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from services.assessment.inspections.repository import EvidenceBytes
from services.assessment.inspections.schemas import EvidencePublic
from services.assessment.inspections.service import EvidenceService
from services.assessment.manual_scores import domain
from services.assessment.manual_scores.domain import Target
from services.assessment.manual_scores.repository import ManualEntryRepository
from services.assessment.manual_scores.schemas import (
    ManualEntryCorrection,
    ManualEntryCreate,
    ManualEntryPage,
    ManualEntryPublic,
)
from services.assessment.metrics.domain import SubjectType
from services.assessment.models import ManualEntry, audit_event
from services.assessment.schemes.domain import MethodKind
from shared.audit import AuditLog
from shared.context import Context
from shared.errors import Invalid, Refused
from shared.etag import stale
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound
from shared.roles import in_scope, scope_prefix

__all__ = ["ManualEntryService"]

_AUDIT = AuditLog(audit_event)
_LIST = "manual_entries"


def _at(code: str, pointer: str, message: str) -> Invalid:
    return Invalid(
        code, f"{pointer}: {message}", errors=[{"pointer": pointer, "message": message, "code": code}]
    )


class ManualEntryService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = ManualEntryRepository(ctx)
        self.evidence = EvidenceService(ctx)

    async def _row(self, entry_id: uuid.UUID) -> ManualEntry:
        row = await self.repo.get(entry_id)
        if row is None:
            raise NotFound(f"manual entry {entry_id} not found")
        return row

    async def _publics(self, rows: Sequence[ManualEntry]) -> list[ManualEntryPublic]:
        latest = await self.repo.latest_versions([r.lineage_id for r in rows])
        evidence = await self.evidence.of("manual_entry", [r.id for r in rows])
        return [
            ManualEntryPublic(
                id=r.id,
                lineage_id=r.lineage_id,
                version=r.version,
                latest_version=latest.get(r.lineage_id, r.version),
                latest=latest.get(r.lineage_id, r.version) == r.version,
                supersedes=r.supersedes,
                subject_type=SubjectType(r.subject_type),
                subject_id=r.subject_id,
                region_code=r.region_code,
                year=r.year,
                metric_code=r.metric_code,
                scheme_id=r.scheme_id,
                scheme_lineage_id=r.scheme_lineage_id,
                indicator_code=r.indicator_code,
                value=r.value,
                reason=r.reason,
                evidence_required=r.evidence_required,
                evidence=evidence.get(r.id, []),
                created_at=r.created_at,
                created_by=r.created_by,
            )
            for r in rows
        ]

    async def _public(self, row: ManualEntry) -> ManualEntryPublic:
        return (await self._publics([row]))[0]

    async def _audit(self, action: str, row: ManualEntry, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="manual_entry",
            record_id=row.id,
            region_code=row.region_code,
            reason=row.reason,
            detail={
                "lineage_id": str(row.lineage_id),
                "version": row.version,
                "target": row.target,
                "value": str(row.value),
                **detail,
            },
        )

    async def _checked_value(
        self, subject_type: SubjectType, target: Target, scheme_id: uuid.UUID | None, value: Decimal
    ) -> tuple[Decimal, bool]:
        """The value in the target's terms (a metric's unit, or points within the indicator's max) and whether the
        indicator asks for evidence."""
        if target.metric is not None:
            return domain.check_value(domain.manual_metric(target.metric, subject_type), value), False
        assert scheme_id is not None and target.indicator is not None
        indicator = await self.repo.indicator(scheme_id, target.indicator)
        if indicator is None or indicator.kind != "leaf":
            raise _at(
                "indicator_unknown", "/indicator_code", f"the scheme has no indicator {target.indicator}"
            )
        if indicator.method != MethodKind.manual.value:
            raise _at(
                "indicator_not_manual",
                "/indicator_code",
                f"indicator {target.indicator} is scored by {indicator.method}",
            )
        return domain.check_points(value, indicator.max_points, target.indicator), indicator.evidence_required

    async def create(self, payload: ManualEntryCreate) -> ManualEntryPublic:
        """A new entry (version 1): county admins in their county, township officers in their township, never for
        their own region; a second entry for the same subject, year and target is 409 (correct it instead)."""
        region = domain.entry_region(payload.subject_type, payload.subject_id, payload.region_code)
        domain.require_editor(self.principal, region, payload.subject_type, payload.subject_id)
        if payload.year > self.ctx.today.year:
            raise _at("year_out_of_range", "/year", "a figure is not entered for a year to come")
        reason = domain.check_reason(payload.reason)
        subject_id = (
            payload.subject_id
            if payload.subject_type in (SubjectType.village, SubjectType.township)
            else (str(uuid.UUID(payload.subject_id)))
        )
        if (payload.metric_code is None) == (payload.indicator_code is None):
            raise _at(
                "target_required",
                "/metric_code",
                "give either a metric_code or a scheme_id and indicator_code",
            )
        scheme_lineage: uuid.UUID | None = None
        if payload.indicator_code is not None:
            if payload.scheme_id is None:
                raise _at("scheme_required", "/scheme_id", "a manual indicator is named with its scheme")
            scheme = await self.repo.scheme(payload.scheme_id)
            if scheme is None or not in_scope(scheme.region_code, region):
                raise _at("scheme_unknown", "/scheme_id", "no such scheme of the subject's county")
            if scheme.subject_type != payload.subject_type.value:
                raise _at(
                    "scheme_subject_mismatch", "/scheme_id", f"the scheme assesses {scheme.subject_type}"
                )
            if scheme.year != payload.year:
                raise _at("scheme_year_mismatch", "/year", f"the scheme is of {scheme.year}")
            scheme_lineage = scheme.lineage_id
        elif payload.scheme_id is not None:
            raise _at("scheme_without_indicator", "/scheme_id", "a scheme goes with an indicator_code")
        target = Target(
            metric=payload.metric_code, scheme_lineage=scheme_lineage, indicator=payload.indicator_code
        )
        value, evidence_required = await self._checked_value(
            payload.subject_type, target, payload.scheme_id, payload.value
        )
        existing = await self.repo.by_key(payload.subject_type.value, subject_id, payload.year, target.key)
        if existing is not None:
            raise Refused(
                "manual_entry_exists",
                "an entry for this subject, year and target exists: correct it (POST …/corrections)",
                current_id=str(existing.lineage_id),
            )
        entry_id = uuid.uuid4()
        row = ManualEntry(
            id=entry_id,
            lineage_id=entry_id,
            version=1,
            subject_type=payload.subject_type.value,
            subject_id=subject_id,
            region_code=region,
            year=payload.year,
            target=target.key,
            metric_code=payload.metric_code,
            scheme_id=payload.scheme_id,
            scheme_lineage_id=scheme_lineage,
            indicator_code=payload.indicator_code,
            value=value,
            reason=reason,
            evidence_required=evidence_required,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        await self.repo.add(row)
        await self._audit("manual_entry.create", row)
        return await self._public(row)

    async def correct(
        self, entry_id: uuid.UUID, version: int, payload: ManualEntryCorrection
    ) -> ManualEntryPublic:
        """A correction (If-Match: the latest version): the next version with the new value and its reason; the
        corrected one stays readable and stops counting."""
        found = await self._row(entry_id)
        domain.require_editor(
            self.principal, found.region_code, SubjectType(found.subject_type), found.subject_id
        )
        await self.repo.lock_lineage(found.lineage_id)
        latest = await self.repo.latest(found.lineage_id)
        if latest.version != version:
            raise stale(latest.version, what="manual entry")
        reason = domain.check_reason(payload.reason)
        target = Target(
            metric=latest.metric_code,
            scheme_lineage=latest.scheme_lineage_id,
            indicator=latest.indicator_code,
        )
        value, evidence_required = await self._checked_value(
            SubjectType(latest.subject_type), target, latest.scheme_id, payload.value
        )
        row = ManualEntry(
            id=uuid.uuid4(),
            lineage_id=latest.lineage_id,
            version=latest.version + 1,
            supersedes=latest.id,
            subject_type=latest.subject_type,
            subject_id=latest.subject_id,
            region_code=latest.region_code,
            year=latest.year,
            target=latest.target,
            metric_code=latest.metric_code,
            scheme_id=latest.scheme_id,
            scheme_lineage_id=latest.scheme_lineage_id,
            indicator_code=latest.indicator_code,
            value=value,
            reason=reason,
            evidence_required=evidence_required,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        await self.repo.add(row)
        await self._audit("manual_entry.correct", row, supersedes=str(latest.id), was=str(latest.value))
        return await self._public(row)

    async def get(self, entry_id: uuid.UUID) -> ManualEntryPublic:
        domain.require_reader(self.principal)
        return await self._public(await self._row(entry_id))

    async def versions(self, entry_id: uuid.UUID) -> ManualEntryPage:
        domain.require_reader(self.principal)
        row = await self._row(entry_id)
        return ManualEntryPage(
            items=await self._publics(await self.repo.versions(row.lineage_id)), next_cursor=None
        )

    async def page(
        self,
        *,
        year: int | None,
        subject_type: SubjectType | None,
        subject_id: str | None,
        metric_code: str | None,
        region: str | None,
        cursor: str | None,
        limit: int,
    ) -> ManualEntryPage:
        domain.require_reader(self.principal)
        after = None
        if cursor is not None:
            subject, target, lineage = decode_cursor(cursor, _LIST, (str, str, uuid.UUID))
            after = (subject, target, lineage)
        rows = await self.repo.page(
            year=year,
            subject_type=subject_type.value if subject_type else None,
            subject_id=subject_id,
            metric_code=metric_code,
            region=scope_prefix(region) if region else None,
            after=after,  # type: ignore[arg-type]  # the codec typed each value
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return ManualEntryPage(
            items=await self._publics(rows),
            next_cursor=encode_cursor(_LIST, last.subject_id, last.target, last.lineage_id)
            if more and last
            else None,
        )

    async def attach(
        self, entry_id: uuid.UUID, content_type: str, data: bytes
    ) -> tuple[bool, EvidencePublic]:
        """Evidence of the latest version, by an assessor who may enter it."""
        row = await self._row(entry_id)
        domain.require_editor(self.principal, row.region_code, SubjectType(row.subject_type), row.subject_id)
        latest = await self.repo.latest(row.lineage_id)
        if latest.id != row.id:
            raise Refused("entry_superseded", "evidence goes with the latest version of the entry")
        return await self.evidence.attach(
            "manual_entry", row.id, content_type, data, region_code=row.region_code
        )

    async def evidence_bytes(self, entry_id: uuid.UUID, evidence_id: uuid.UUID) -> EvidenceBytes:
        domain.require_reader(self.principal)
        row = await self._row(entry_id)
        return await self.evidence.content("manual_entry", row.id, evidence_id)

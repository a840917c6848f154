"""Scheme use cases: create (from a document or a template), read, list, edit a draft, publish, lock, draft a new
version; the templates and the format's JSON Schema.

Every write: the role (403) → the scheme locked in scope (404 outside it) → the lifecycle rule (409) → the document
validated by `schemes.domain` (422, every problem with its pointer) → the row, its flat rows and the audit entry;
the route class commits. A scheme is validated on every save, so a draft is always a valid scheme.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.assessment.models import (
    AssessmentScheme,
    GradeBandRow,
    IndicatorBandRow,
    IndicatorRow,
    SchemeRule,
    audit_event,
)
from services.assessment.schemes import domain
from services.assessment.schemes.repository import FlatRows, SchemeRepository
from services.assessment.schemes.schemas import (
    SchemeCreate,
    SchemeDocument,
    SchemeJsonSchema,
    SchemePage,
    SchemePublic,
    SchemeUpdate,
    TemplatePage,
    TemplatePublic,
    TemplateSummary,
    document_of,
    merged,
    scheme_json_schema,
    to_domain,
)
from services.assessment.schemes.templates import TEMPLATES, Template
from shared.audit import AuditLog
from shared.context import Context
from shared.errors import Invalid
from shared.etag import stale
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound

__all__ = ["SchemeService", "TemplateService", "flat_rows", "public"]

_AUDIT = AuditLog(audit_event)
_LIST = "schemes"
_VERSIONS = "scheme_versions"


# -- rows and answers ------------------------------------------------------------------------------------------
def _value(code: Any) -> str | None:
    return None if code is None else str(code.value)


def flat_rows(scheme_id: uuid.UUID, scheme: domain.Scheme) -> FlatRows:
    """The scheme as the rows of set-based scoring (models.py): indicators, bands, rules, grades."""
    indicators: list[IndicatorRow] = []
    bands: list[IndicatorBandRow] = []
    for flat in domain.flatten(scheme):
        indicators.append(
            IndicatorRow(
                scheme_id=scheme_id,
                code=flat.code,
                parent_code=flat.parent_code,
                level=flat.level,
                position=flat.position,
                pointer=flat.pointer,
                kind=flat.kind,
                max_points=flat.max_points,
                method=_value(flat.method),
                metric=flat.metric,
                comparison=_value(flat.comparison),
                target=flat.target,
                target_metric=flat.target_metric,
                zero_value=flat.zero_value,
                per_occurrence=flat.per_occurrence,
                floor_points=flat.floor,
                peer_group=_value(flat.peer_group),
                inner_total=flat.inner_total,
                evidence_required=flat.evidence_required,
            )
        )
        bands.extend(
            IndicatorBandRow(
                scheme_id=scheme_id, indicator_code=flat.code, position=k, bound=bound, points=points
            )
            for k, (bound, points) in enumerate(flat.bands)
        )
    rules: list[SchemeRule] = []
    for k, veto in enumerate(scheme.vetoes):
        rules.append(
            SchemeRule(
                scheme_id=scheme_id,
                kind="veto",
                code=veto.code,
                position=k,
                metric=veto.condition.metric,
                op=veto.condition.op.value,
                value=veto.condition.value,
                effect=veto.effect.value,
                reason=veto.reason,
            )
        )
    for k, bonus in enumerate(scheme.bonuses.rules):
        rules.append(
            SchemeRule(
                scheme_id=scheme_id,
                kind="bonus",
                code=bonus.code,
                position=k,
                metric=bonus.condition.metric,
                op=bonus.condition.op.value,
                value=bonus.condition.value,
                points=bonus.points,
            )
        )
    for k, rule in enumerate(scheme.commendations):
        rules.append(
            SchemeRule(
                scheme_id=scheme_id,
                kind="commendation",
                code=rule.code,
                position=k,
                metric=rule.metric,
                subject_kind=_value(rule.subject_kind),
                min_grade=_value(rule.min_grade),
                min_fen=rule.min_fen,
                award_fen=rule.award_fen,
            )
        )
    grades = [
        GradeBandRow(scheme_id=scheme_id, grade=b.grade.value, min_points=b.min, max_points=b.max, position=k)
        for k, b in enumerate(scheme.grades)
    ]
    return indicators, bands, rules, grades


def _columns(doc: SchemeDocument) -> dict[str, Any]:
    """The columns of a scheme row that repeat its document (for lists and for the set-based scorer)."""
    return {
        "subject_type": doc.subject_type.value,
        "year": doc.year,
        "name": doc.name,
        "total_points": doc.total_points,
        "rounding_places": doc.rounding.places,
        "rounding_mode": doc.rounding.mode.value,
        "bonus_cap": doc.bonuses.cap,
        "document": doc.model_dump(mode="json"),
    }


def public(row: AssessmentScheme) -> SchemePublic:
    doc = document_of(row.document)
    scheme = to_domain(doc)
    return SchemePublic(
        id=row.id,
        lineage_id=row.lineage_id,
        version=row.version,
        revision=row.revision,
        region_code=row.region_code,
        status=domain.SchemeStatus(row.status),
        template_code=row.template_code,
        supersedes=row.supersedes,
        superseded_by=row.superseded_by,
        needs_peers=scheme.needs_peers,
        metrics=sorted(scheme.metrics()),
        name=doc.name,
        description=doc.description,
        subject_type=doc.subject_type,
        year=doc.year,
        total_points=doc.total_points,
        rounding=doc.rounding,
        indicators=doc.indicators,
        vetoes=doc.vetoes,
        bonuses=doc.bonuses,
        grades=doc.grades,
        commendations=doc.commendations,
        sources=doc.sources,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        published_at=row.published_at,
        published_by=row.published_by,
        locked_at=row.locked_at,
        locked_by=row.locked_by,
    )


def _checked(doc: SchemeDocument) -> domain.Scheme:
    """The rules' scheme of a valid document; `SchemeInvalid` (422, every problem with its pointer) otherwise."""
    scheme = to_domain(doc)
    domain.check_scheme(scheme)
    return scheme


# -- schemes ---------------------------------------------------------------------------------------------------
class SchemeService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = SchemeRepository(ctx)

    def _read(self) -> None:
        domain.require_reader(self.principal.role)

    def _edit(self) -> None:
        domain.require_editor(self.principal.role, self.principal.region)

    async def _scheme(self, scheme_id: uuid.UUID, *, lock: bool = False) -> AssessmentScheme:
        row = await self.repo.get(scheme_id, lock=lock)
        if row is None:
            raise NotFound(f"scheme {scheme_id} not found")
        return row

    async def _audit(self, action: str, row: AssessmentScheme, **detail: Any) -> None:
        await _AUDIT.record(
            self.ctx,
            action,
            record_type="scheme",
            record_id=row.id,
            region_code=row.region_code,
            detail={"lineage_id": str(row.lineage_id), "version": row.version, **detail},
        )

    async def create(
        self, payload: SchemeCreate | None, *, template_code: str | None, year: int | None
    ) -> SchemePublic:
        """A county admin drafts a scheme of their county: the document sent, or a copy of a template (for `year`,
        this year by default)."""
        self._edit()
        template: Template | None = None
        if template_code is not None:
            if payload is not None:
                raise Invalid(
                    "template_with_body",
                    "a scheme is created from a template or from a document, not both",
                    parameter="template",
                )
            template = TEMPLATES.get(template_code)
            if template is None:
                raise Invalid(
                    "unknown_template",
                    f"there is no template {template_code} (GET /templates lists them)",
                    parameter="template",
                )
            doc = template.document.model_copy(update={"year": year or self.ctx.today.year}, deep=True)
        elif payload is None:
            raise Invalid("scheme_required", "send a scheme document, or ?template=A-F", parameter="template")
        else:
            if year is not None:
                raise Invalid("year_with_body", "the document states its year; ?year= goes with ?template=")
            doc = payload
        scheme = _checked(doc)
        scheme_id = uuid.uuid4()
        now = self.ctx.now
        row = AssessmentScheme(
            id=scheme_id,
            lineage_id=scheme_id,
            version=1,
            region_code=self.principal.region,
            status=domain.SchemeStatus.draft.value,
            template_code=template.code if template else None,
            revision=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
            **_columns(doc),
        )
        await self.repo.add(row, flat_rows(scheme_id, scheme))
        await self._audit("scheme.create", row, template=row.template_code, subject_type=row.subject_type)
        return public(row)

    async def get(self, scheme_id: uuid.UUID) -> SchemePublic:
        self._read()
        return public(await self._scheme(scheme_id))

    async def page(
        self,
        *,
        subject_type: domain.SubjectType | None,
        year: int | None,
        status: domain.SchemeStatus | None,
        cursor: str | None,
        limit: int,
    ) -> SchemePage:
        self._read()
        after = None
        if cursor is not None:
            after_year, created_at, last_id = decode_cursor(cursor, _LIST, (int, datetime, uuid.UUID))
            after = (after_year, created_at, last_id)
        rows = await self.repo.page(
            subject_type=_value(subject_type),
            year=year,
            status=_value(status),
            after=after,  # type: ignore[arg-type]  # the codec typed each value
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return SchemePage(
            items=[public(r) for r in rows],
            next_cursor=encode_cursor(_LIST, last.year, last.created_at, last.id) if more and last else None,
        )

    async def versions(self, scheme_id: uuid.UUID, *, cursor: str | None, limit: int) -> SchemePage:
        """Every version of the scheme the given version belongs to, oldest first."""
        self._read()
        row = await self._scheme(scheme_id)
        after = None
        if cursor is not None:
            (version,) = decode_cursor(cursor, _VERSIONS, (int,))
            after = int(version)  # type: ignore[arg-type]  # the codec typed it
        rows = await self.repo.versions(row.lineage_id, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return SchemePage(
            items=[public(r) for r in rows],
            next_cursor=encode_cursor(_VERSIONS, rows[-1].version) if more else None,
        )

    async def update(self, scheme_id: uuid.UUID, revision: int, payload: SchemeUpdate) -> SchemePublic:
        """Edit a draft (If-Match: its revision): the members sent replace the stored ones; validated again."""
        self._edit()
        row = await self._scheme(scheme_id, lock=True)
        if row.revision != revision:
            raise stale(row.revision, what="scheme")
        domain.check_editable(domain.SchemeStatus(row.status))
        doc = merged(document_of(row.document), payload)
        scheme = _checked(doc)
        await self.repo.replace_flat(row.id, flat_rows(row.id, scheme))
        updated = await self.repo.update(row.id, _columns(doc))
        await self._audit("scheme.update", updated, fields=sorted(payload.model_fields_set))
        return public(updated)

    async def publish(self, scheme_id: uuid.UUID) -> SchemePublic:
        """Publish a draft: runs may use it; it is never edited again. An older published version of the same
        scheme is marked superseded by it (and stays readable)."""
        self._edit()
        row = await self._scheme(scheme_id, lock=True)
        domain.check_publishable(domain.SchemeStatus(row.status))
        _checked(document_of(row.document))
        now = self.ctx.now
        updated = await self.repo.update(
            row.id,
            {
                "status": domain.SchemeStatus.published.value,
                "published_at": now,
                "published_by": self.principal.sub,
            },
        )
        superseded = await self.repo.supersede(row.lineage_id, updated)
        await self._audit("scheme.publish", updated, superseded=[str(s) for s in superseded])
        return public(updated)

    async def lock(self, scheme_id: uuid.UUID) -> SchemePublic:
        """Lock a published scheme: its year's results stand on it; no new version is drafted from it."""
        self._edit()
        row = await self._scheme(scheme_id, lock=True)
        domain.check_lockable(domain.SchemeStatus(row.status))
        updated = await self.repo.update(
            row.id,
            {
                "status": domain.SchemeStatus.locked.value,
                "locked_at": self.ctx.now,
                "locked_by": self.principal.sub,
            },
        )
        await self._audit("scheme.lock", updated)
        return public(updated)

    async def new_version(self, scheme_id: uuid.UUID) -> SchemePublic:
        """A new draft version (version + 1) copied from a published one, to edit and publish; the old one stays
        as it is."""
        self._edit()
        source = await self._scheme(scheme_id, lock=True)
        domain.check_versionable(
            domain.SchemeStatus(source.status), await self.repo.open_draft(source.lineage_id)
        )
        doc = document_of(source.document)
        scheme = _checked(doc)
        new_id = uuid.uuid4()
        now = self.ctx.now
        row = AssessmentScheme(
            id=new_id,
            lineage_id=source.lineage_id,
            version=await self.repo.last_version(source.lineage_id) + 1,
            supersedes=source.id,
            region_code=source.region_code,
            status=domain.SchemeStatus.draft.value,
            template_code=source.template_code,
            revision=1,
            created_at=now,
            created_by=self.principal.sub,
            updated_at=now,
            **_columns(doc),
        )
        await self.repo.add(row, flat_rows(new_id, scheme))
        await self._audit("scheme.new_version", row, supersedes=str(source.id))
        return public(row)

    @staticmethod
    def json_schema() -> SchemeJsonSchema:
        """The format's JSON Schema: any signed-in caller (a form builder, a validator in a client)."""
        return SchemeJsonSchema.model_validate(scheme_json_schema())


# -- templates -------------------------------------------------------------------------------------------------
def _summary(found: Template) -> TemplateSummary:
    return TemplateSummary(
        code=found.code,
        name=found.name,
        subject_type=found.document.subject_type,
        total_points=found.document.total_points,
        description=found.description,
    )


class TemplateService:
    """The default templates A-F (data shipped with the service; the same for every caller)."""

    def page(self) -> TemplatePage:
        return TemplatePage(items=[_summary(t) for t in TEMPLATES.values()], next_cursor=None)

    def get(self, code: str) -> TemplatePublic:
        found = TEMPLATES.get(code)
        if found is None:
            raise NotFound(f"template {code} not found")
        return TemplatePublic(**_summary(found).model_dump(), scheme=found.document)

"""Help record use cases (帮扶记录卡): offline-safe create, batch sync, corrections as versions, signatures, photos.

Each use case is repository → domain → repository → audit; the rules are in `domain.py` (DOMAIN.md §3.2,
invariants 30-32) and every statement in `repository.py`. Nothing here commits: the route's unit of work does
(shared.routing), and the group-commit writer (`fast.py`) writes in autocommit with the one INSERT `store_new`
issues.

- `store_new` is the one implementation behind a single POST (grouped by the writer), the 500-record batch and
  the session path that answers retries: the facts of every record in one query, the rules per record, the
  evidence flags (with the cadre's stored neighbours and the other records of the same call), one INSERT.
- Evidence flags are computed when a version is stored; a stored neighbour of an impossible trip, and every
  record of another household carrying a photo just attached, get the flag raised on them in
  `registry_help_record_flag` (the record rows are immutable). Reads add those to the version's own flags.
- Every answer about a record is `HelpRecordPublic`, assembled here from typed rows.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ValidationError

from services.registry.audit.repository import RegistryAudit
from services.registry.help_records import domain
from services.registry.help_records.domain import EvidenceFlag, Fix, Location
from services.registry.help_records.repository import (
    AttachmentBytes,
    HelpRecordRepository,
    HelpRecordStore,
    RaisedFlag,
    VersionRow,
)
from services.registry.help_records.schemas import (
    AttachmentPublic,
    BatchAccepted,
    BatchAnswer,
    BatchRejected,
    ConfirmationIn,
    ConfirmationPublic,
    FieldError,
    HelpRecordCorrection,
    HelpRecordCreate,
    HelpRecordFields,
    HelpRecordPublic,
    HelpRecordVersion,
    ReviewCreate,
    ReviewPublic,
    payload_hash,
)
from services.registry.models import Cadre, HelpConfirmation, HelpRecord, HelpRecordReview
from shared.clock import china_date
from shared.context import Context
from shared.errors import DomainError
from shared.etag import stale
from shared.pagination import Page, decode_cursor, encode_cursor
from shared.problems import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    from_domain,
    json_pointer,
)
from shared.roles import Principal

__all__ = [
    "HelpRecordService",
    "Outcome",
    "Submission",
    "created_public",
    "store_new",
    "submission",
]

CENT = Decimal("0.01")
#: The ordering a help-record list cursor continues (shared.pagination): newest visit first.
_CURSOR_KIND = "help_records.device_time"


# -- arriving records -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Submission:
    """A validated record on its way in: who sent it, when the server received it (app clock), its hash."""

    payload: HelpRecordCreate
    sub: str
    received_at: datetime
    digest: str
    #: The phone's clock when it sent the request (`X-Device-Time`), None without the header.
    sent_at: datetime | None = None


def submission(
    payload: HelpRecordCreate, principal: Principal, now: datetime, sent_at: datetime | None = None
) -> Submission:
    """The record as `store_new` takes it (403 unless the caller is a cadre)."""
    domain.check_recorder(principal.role)
    return Submission(payload, principal.sub, now, payload_hash(payload), sent_at)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record: `created` (with the stored `row`), `present` (a retry of a stored record:
    `version` is its newest), or `refused` (the rule's `error`)."""

    kind: Literal["created", "present", "refused"]
    row: VersionRow | None = None
    version: int | None = None
    error: DomainError | None = None
    #: Refused because another login's record holds the id (issue #14 item 9): audited by the caller.
    collision: bool = False


def _row(
    fields: HelpRecordFields,
    *,
    record_id: uuid.UUID,
    version: int,
    household_id: uuid.UUID,
    cadre_id: uuid.UUID,
    received_at: datetime,
    created_by: str,
    flags: Sequence[EvidenceFlag],
    digest: str,
    correction_reason: str | None = None,
) -> VersionRow:
    return VersionRow(
        id=record_id,
        version=version,
        household_id=household_id,
        cadre_id=cadre_id,
        record_type=str(fields.record_type),
        device_time=fields.device_time,
        received_at=received_at,
        device_id=fields.device_id,
        place=fields.place,
        gps_lat=fields.gps_lat,
        gps_lon=fields.gps_lon,
        content=fields.content,
        money_fen=int(fields.money_yuan * 100),
        goods=[g.model_dump(mode="json") for g in fields.goods],
        measures=[m.model_dump(mode="json") for m in fields.measures],
        created_by=created_by,
        flags=tuple(str(f) for f in flags),
        payload_hash=digest,
        correction_reason=correction_reason,
    )


def _fix(fields: HelpRecordFields, household_id: uuid.UUID) -> Fix | None:
    if fields.gps_lat is None or fields.gps_lon is None:
        return None
    return Fix(
        household_id=household_id, at=fields.device_time, where=Location(fields.gps_lat, fields.gps_lon)
    )


def _trip_flags(evidence: domain.Evidence, because_of: uuid.UUID) -> list[RaisedFlag]:
    """The impossible-speed flags a new version raises on the stored ends of its trips."""
    return [
        RaisedFlag(n.record_id, n.version, EvidenceFlag.impossible_speed, because_of, n.household_id)
        for n in evidence.trips
        if n.record_id is not None and n.version is not None
    ]


async def store_new(store: HelpRecordStore, items: Sequence[Submission]) -> list[Outcome]:
    """Store new records; one outcome per item, in order (in the caller's transaction, or in autocommit where
    the one INSERT is the only write: the reads before it are checks its ON CONFLICT makes race-safe)."""
    facts = await store.arrivals(
        [(i.payload.id, i.payload.household_id, i.sub, china_date(i.received_at)) for i in items]
    )
    outcomes: list[Outcome | None] = [None] * len(items)
    accepted: list[tuple[int, uuid.UUID, Location | None]] = []  # (index, cadre id, household location)
    first_of: dict[uuid.UUID, int] = {}  # the first item with each id in this call
    for index, (item, fact) in enumerate(zip(items, facts, strict=True)):
        p = item.payload
        admission = domain.admit(
            fact, record_id=p.id, household_id=p.household_id, digest=item.digest, sub=item.sub
        )
        if admission.refusal is not None:
            outcomes[index] = Outcome("refused", error=admission.refusal, collision=admission.collision)
        elif not admission.accept:
            outcomes[index] = Outcome("present", version=admission.present_version)
        elif p.id in first_of:  # the same id twice in one call: the first one is stored
            first = items[first_of[p.id]]
            problem = domain.same_record(
                first.digest, first.sub, digest=item.digest, sub=item.sub, record_id=p.id
            )
            outcomes[index] = (
                Outcome("present", version=1) if problem is None else Outcome("refused", error=problem)
            )
        else:
            assert fact.cadre_id is not None  # admitted: the caller is an active cadre
            first_of[p.id] = index
            accepted.append((index, fact.cadre_id, fact.home))

    # Impossible speed: against the cadre's stored neighbours and the other records of the same call.
    fixes: dict[int, Fix] = {}
    for i, _, _ in accepted:
        fix = _fix(items[i].payload, items[i].payload.household_id)
        if fix is not None:
            fixes[i] = fix
    located = [(i, cadre) for i, cadre, _ in accepted if i in fixes]
    stored_around = await store.neighbours(
        [(cadre, items[i].payload.id, fixes[i].at) for i, cadre in located]
    )
    in_call = domain.call_neighbours([cadre for _, cadre in located], [fixes[i] for i, _ in located])
    around = {
        i: domain.nearest([*stored, *call], fixes[i].at)
        for (i, _), stored, call in zip(located, stored_around, in_call, strict=True)
    }

    rows: list[VersionRow] = []
    raised: list[RaisedFlag] = []
    for i, cadre, home in accepted:
        item = items[i]
        p = item.payload
        evidence = domain.assess(
            device_time=p.device_time,
            received_at=item.received_at,
            sent_at=item.sent_at,
            fix=fixes.get(i),
            home=home,
            around=around.get(i, ()),
        )
        raised += _trip_flags(evidence, p.id)
        row = _row(
            p,
            record_id=p.id,
            version=1,
            household_id=p.household_id,
            cadre_id=cadre,
            received_at=item.received_at,
            created_by=item.sub,
            flags=evidence.flags,
            digest=item.digest,
        )
        outcomes[i] = Outcome("created", row=row)
        rows.append(row)
    inserted = await store.insert(rows, raised)
    raced = [i for i, _, _ in accepted if items[i].payload.id not in inserted]
    if raced:  # a concurrent call stored the same id first: compare with what it stored
        first_versions = await store.first_versions([items[i].payload.id for i in raced])
        for i in raced:
            item = items[i]
            existing = first_versions[item.payload.id]
            problem = domain.same_record(
                existing.payload_hash,
                existing.created_by,
                digest=item.digest,
                sub=item.sub,
                record_id=item.payload.id,
            )
            outcomes[i] = (
                Outcome("present", version=existing.latest_version)
                if problem is None
                else Outcome("refused", error=problem, collision=existing.created_by != item.sub)
            )
    return [o for o in outcomes if o is not None]


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def created_public(row: VersionRow) -> HelpRecordPublic:
    """The public shape of a record just stored (version 1: no signature, photo or raised flag yet)."""
    version = HelpRecordVersion(
        version=row.version,
        received_at=row.received_at,
        created_by=row.created_by,
        correction_reason=row.correction_reason,
        payload_hash=row.payload_hash,
    )
    return _public(row, versions=[version], raised=set(), confirmations=[], attachments=[])


def _public(
    row: HelpRecord | VersionRow,
    *,
    versions: list[HelpRecordVersion],
    raised: set[str],
    confirmations: list[HelpConfirmation],
    attachments: list[AttachmentPublic],
) -> HelpRecordPublic:
    return HelpRecordPublic(
        id=row.id,
        version=row.version,
        household_id=row.household_id,
        cadre_id=row.cadre_id,
        record_type=row.record_type,
        device_time=row.device_time,
        received_at=row.received_at,
        device_id=row.device_id,
        place=row.place,
        gps_lat=row.gps_lat,
        gps_lon=row.gps_lon,
        content=row.content,
        money_yuan=_yuan(row.money_fen),
        goods=row.goods,
        measures=row.measures,
        flags=sorted(set(row.flags) | raised),
        correction_reason=row.correction_reason,
        confirmation_status=domain.status_of([c.party for c in confirmations]),
        confirmations=[
            ConfirmationPublic(
                party=c.party,
                signatory=c.signatory,
                note=c.note,
                confirmed_at=c.confirmed_at,
                confirmed_by=c.confirmed_by,
            )
            for c in confirmations
        ],
        attachments=attachments,
        versions=versions,
    )


class HelpRecordService:
    """The help-record use cases of one request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = HelpRecordRepository(ctx.session, ctx.principal, ctx.today)
        self.audit = RegistryAudit(ctx)
        self._me: Cadre | None = None

    # -- who is calling ------------------------------------------------------------------------------------
    async def me(self) -> Cadre:
        """The caller's cadre row (403 for other roles, or a login without an active cadre)."""
        if self._me is None:
            domain.check_recorder(self.ctx.principal.role)
            cadre = await self.repo.cadre(self.ctx.principal.sub)
            domain.check_cadre(cadre is not None, cadre is not None and cadre.active)
            assert cadre is not None  # check_cadre refused otherwise
            self._me = cadre
        return self._me

    # -- create, batch ---------------------------------------------------------------------------------------
    async def create(
        self, payload: HelpRecordCreate, sent_at: datetime | None = None
    ) -> tuple[bool, HelpRecordPublic]:
        """(created?, the record) in the session's transaction. A retry of the same payload returns the stored
        record; another payload under the same id is 409 `id_reused`. (The POST route normally stores through
        the group-commit writer; this path answers retries, which need the stored record read back.)"""
        item = submission(payload, self.ctx.principal, self.ctx.now, sent_at)
        [outcome] = await store_new(await self.repo.store(), [item])
        if outcome.error is not None:
            raise outcome.error
        if outcome.row is not None:
            return True, created_public(outcome.row)
        return False, await self.read(payload.id)

    async def audit_collision(self, record_id: uuid.UUID, household_id: uuid.UUID) -> None:
        """Audit a record refused because another login's record holds its id (issue #14 item 9): the caller got
        the plain `id_reused`; the entry (filed under the caller's household) lets an officer see who probed."""
        await self.audit.record(
            "help_record.id_collision",
            record_type="help_record",
            record_id=record_id,
            household_id=household_id,
            reason="id_reused",
            detail={"sent_by": self.ctx.principal.sub},
        )

    async def batch(self, records: Sequence[Any], sent_at: datetime | None = None) -> BatchAnswer:
        """Validate each record on its own, store the valid ones set-wise in the session's transaction (one
        durable commit for the batch), and answer per record in the request's order."""
        await self.me()  # the caller, not a record, is wrong: the whole request is 403
        results: list[BatchAccepted | BatchRejected | None] = [None] * len(records)
        valid: list[tuple[int, str | None, Submission]] = []
        for index, raw in enumerate(records):
            given = raw.get("id") if isinstance(raw, dict) else None
            given_id = given if isinstance(given, str) else None
            try:
                payload = HelpRecordCreate.model_validate(raw)
            except ValidationError as exc:
                errors = [
                    FieldError(pointer=json_pointer(list(e["loc"])), message=e["msg"], code=e["type"])
                    for e in exc.errors(include_url=False, include_input=False)
                ]
                results[index] = BatchRejected(
                    index=index,
                    id=given_id,
                    outcome="rejected",
                    status_code=422,
                    detail="; ".join(f"{e.pointer}: {e.message}" for e in errors[:5]),
                    errors=errors,
                )
                continue
            valid.append((index, given_id, submission(payload, self.ctx.principal, self.ctx.now, sent_at)))
        stored = await store_new(await self.repo.store(), [item for _, _, item in valid])
        for (index, given_id, item), done in zip(valid, stored, strict=True):
            if done.collision:
                await self.audit_collision(item.payload.id, item.payload.household_id)
            if done.error is not None:
                results[index] = BatchRejected(
                    index=index,
                    id=given_id,
                    outcome="rejected",
                    status_code=from_domain(done.error).status,
                    detail=done.error.message,
                    code=done.error.code,
                )
            else:
                created = done.kind == "created"
                results[index] = BatchAccepted(
                    index=index,
                    id=item.payload.id,
                    outcome="created" if created else "already_present",
                    status_code=201 if created else 200,
                    version=1 if created or done.version is None else done.version,
                )
        answers = [r for r in results if r is not None]
        return BatchAnswer(
            results=answers,
            created=sum(1 for r in answers if r.outcome == "created"),
            already_present=sum(1 for r in answers if r.outcome == "already_present"),
            rejected=sum(1 for r in answers if r.outcome == "rejected"),
        )

    # -- reading ---------------------------------------------------------------------------------------------
    async def _latest(self, record_id: uuid.UUID) -> HelpRecord:
        row = await self.repo.latest(record_id)
        if row is None:
            raise NotFound(f"help record {record_id} not found")
        return row

    async def _publish(self, rows: Sequence[HelpRecord]) -> list[HelpRecordPublic]:
        """The public shape of newest versions read in scope: their versions, raised flags, signatures and photos
        in four queries however many records."""
        if not rows:
            return []
        ids = [r.id for r in rows]
        versions = await self.repo.versions(ids)
        raised = await self.repo.raised_flags([(r.id, r.version) for r in rows])
        confirmations = await self.repo.confirmations(ids)
        attachments = await self.repo.attachments(ids)
        return [
            _public(
                r,
                versions=versions.get(r.id, []),
                raised=raised.get((r.id, r.version), set()),
                confirmations=confirmations.get(r.id, []),
                attachments=attachments.get(r.id, []),
            )
            for r in rows
        ]

    async def read(self, record_id: uuid.UUID) -> HelpRecordPublic:
        """The record at its newest version (404 when missing or out of scope)."""
        [public] = await self._publish([await self._latest(record_id)])
        return public

    async def page(
        self, household_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[HelpRecordPublic]:
        """The household's records (newest version each), newest first by device time, keyset pages."""
        if not await self.repo.household_visible(household_id):
            raise NotFound(f"household {household_id} not found")
        after: tuple[datetime, uuid.UUID] | None = None
        if cursor is not None:
            when, ident = decode_cursor(cursor, _CURSOR_KIND, (datetime, uuid.UUID))
            assert isinstance(when, datetime) and isinstance(ident, uuid.UUID)
            after = (when, ident)
        rows = await self.repo.page(household_id, after=after, limit=limit + 1)
        items = await self._publish(rows[:limit])
        last = rows[limit - 1] if len(rows) > limit else None
        next_cursor = None if last is None else encode_cursor(_CURSOR_KIND, last.device_time, last.id)
        return Page[HelpRecordPublic](items=items, next_cursor=next_cursor)

    # -- corrections -----------------------------------------------------------------------------------------
    async def correct(
        self,
        record_id: uuid.UUID,
        payload: HelpRecordCorrection,
        *,
        based_on: int,
        sent_at: datetime | None = None,
    ) -> HelpRecordPublic:
        """Version n+1 of the record, based on version `based_on` (412 when stale)."""
        current = await self._latest(record_id)
        me = await self.me()
        domain.check_corrector(current.cadre_id, me.id)
        if current.version != based_on:
            raise stale(current.version)
        signed = (await self.repo.confirmations([record_id])).get(record_id, [])
        domain.check_correctable(domain.status_of([c.party for c in signed]))
        fix = _fix(payload, current.household_id)
        around: list[Fix] = []
        if fix is not None:
            [around] = await (await self.repo.store()).neighbours([(me.id, record_id, fix.at)])
        reused = any(
            domain.photo_reuse(carriers, uploaded_to=record_id)
            for carriers in await self.repo.photo_carriers_of(record_id)
        )
        evidence = domain.assess(
            device_time=payload.device_time,
            received_at=self.ctx.now,
            sent_at=sent_at,
            fix=fix,
            home=await self.repo.home(current.household_id),
            around=around,
            photo_reused=reused,
        )
        row = _row(
            payload,
            record_id=record_id,
            version=based_on + 1,
            household_id=current.household_id,
            cadre_id=me.id,
            received_at=self.ctx.now,
            created_by=self.ctx.principal.sub,
            flags=evidence.flags,
            digest=payload_hash(payload),
            correction_reason=payload.correction_reason,
        )
        if not await self.repo.insert_version(row):  # another correction of the same version landed first
            raise stale(based_on + 1)
        await self.repo.raise_flags(_trip_flags(evidence, record_id))
        await self.audit.record(
            "help_record.correct",
            record_type="help_record",
            record_id=record_id,
            household_id=current.household_id,
            reason=payload.correction_reason,
            detail={"version": based_on + 1},
        )
        return await self.read(record_id)

    # -- confirmations ---------------------------------------------------------------------------------------
    async def confirm(self, record_id: uuid.UUID, payload: ConfirmationIn) -> tuple[bool, HelpRecordPublic]:
        """Record one party's signature; (new?, the record). The same signature again is a no-op; another is 409."""
        principal = self.ctx.principal
        party = payload.party
        # The unit's linked responsible login signs the unit's records whatever its region (issue #13 item 10).
        found = None
        if party is domain.ConfirmationParty.unit_responsible:
            found = await self.repo.latest_as_responsible(record_id, principal.sub)
        responsible = found is not None
        current = found or await self._latest(record_id)
        record_sub = await self.repo.cadre_sub(current.cadre_id)
        village = await self.repo.household_village(current.household_id)
        linked = responsible or (
            party is domain.ConfirmationParty.unit_responsible
            and await self.repo.unit_responsible_sub(current.household_id, current.cadre_id) is not None
        )
        domain.check_confirmer(
            party,
            principal.role,
            own_record=record_sub == principal.sub,
            own_village=village is not None and principal.region == village,
            unit_linked=linked,
            unit_responsible=responsible and record_sub != principal.sub,
        )
        evidence = (
            payload.signature_attachment_id if party is domain.ConfirmationParty.household_head else None
        )
        if evidence is not None or party is domain.ConfirmationParty.household_head:
            photos = (await self.repo.attachments([record_id])).get(record_id, [])
            domain.check_head_evidence(party, evidence, {a.id for a in photos})
        signer = domain.signer_of(party, principal.sub, evidence)
        await self.repo.lock_record(record_id)  # one signature of a record at a time: the signer check holds
        signed = (await self.repo.confirmations([record_id])).get(record_id, [])
        existing = next((c for c in signed if c.party == str(party)), None)
        if existing is not None:
            domain.check_resign(
                party,
                stored=(existing.signatory, existing.note, existing.confirmed_by),
                given=(payload.signatory, payload.note, signer),
            )
            return False, await self._signed(record_id, responsible=responsible)
        domain.check_distinct_signer(
            party,
            signer=signer,
            signatory=payload.signatory,
            signed=[(c.party, c.confirmed_by, c.signatory) for c in signed],
        )
        created = await self.repo.insert_confirmation(
            HelpConfirmation(
                record_id=record_id,
                party=str(party),
                confirmed_at=self.ctx.now,
                confirmed_by=signer,
                signatory=payload.signatory,
                note=payload.note,
            )
        )
        if not created:  # the record's lock makes this unreachable; answer as a retry all the same
            return False, await self._signed(record_id, responsible=responsible)
        await self.audit.record(
            "help_record.confirm",
            record_type="help_record",
            record_id=record_id,
            household_id=current.household_id,
            detail={
                "party": str(payload.party),
                "signatory": payload.signatory,
                "signed_as": signer,
                "captured_by": principal.sub,
            },
        )
        return True, await self._signed(record_id, responsible=responsible)

    async def _signed(self, record_id: uuid.UUID, *, responsible: bool) -> HelpRecordPublic:
        """The record after a signature: read in scope, or, for the unit's responsible login, as that login."""
        if not responsible:
            return await self.read(record_id)
        row = await self.repo.latest_as_responsible(record_id, self.ctx.principal.sub)
        if row is None:  # the same transaction found it a moment ago
            raise NotFound(f"help record {record_id} not found")
        [public] = await self._publish([row])
        return public

    # -- reviews of flags (issue #13 item 14) ------------------------------------------------------------------
    async def review(self, record_id: uuid.UUID, payload: ReviewCreate) -> ReviewPublic:
        """A township or county officer accepts or rejects a flag of a version; an accepted `clock_skew` makes
        the version count as a visit again. Once per version and flag (append-only), audited."""
        current = await self._latest(record_id)  # in scope, or 404 like missing
        version = payload.version or current.version
        flags = await self.repo.version_flags(record_id, version)
        if flags is None:
            raise NotFound(f"version {version} of help record {record_id} not found")
        await self.repo.lock_record(record_id)
        already = await self.repo.review(record_id, version, str(payload.flag)) is not None
        domain.check_review(self.ctx.principal.role, flags, str(payload.flag), already)
        row = HelpRecordReview(
            record_id=record_id,
            version=version,
            flag=str(payload.flag),
            household_id=current.household_id,
            outcome=str(payload.outcome),
            reason=payload.reason,
            reviewed_by=self.ctx.principal.sub,
            reviewed_at=self.ctx.now,
        )
        await self.repo.insert_review(row)
        await self.audit.record(
            "help_record.review",
            record_type="help_record",
            record_id=record_id,
            household_id=current.household_id,
            reason=payload.reason,
            detail={"version": version, "flag": str(payload.flag), "outcome": str(payload.outcome)},
        )
        uncounted = {str(f) for f in domain.UNCOUNTED_FLAGS} & set(flags)
        counted = not uncounted or (
            payload.outcome is domain.ReviewOutcome.accepted and uncounted == {str(payload.flag)}
        )
        return ReviewPublic(
            record_id=record_id,
            version=version,
            flag=payload.flag,
            outcome=payload.outcome,
            reason=payload.reason,
            reviewed_by=row.reviewed_by,
            reviewed_at=row.reviewed_at,
            counted=counted,
        )

    # -- attachments -----------------------------------------------------------------------------------------
    async def add_attachment(
        self, record_id: uuid.UUID, content_type: str, data: bytes
    ) -> tuple[bool, AttachmentPublic]:
        """Store a photo (type, size and count limits); the same bytes again return the stored one. A photo on
        records of two households flags them all `photo_reused`."""
        current = await self._latest(record_id)
        me = await self.me()
        domain.check_photographer(current.cadre_id, me.id)
        try:
            domain.check_photo(content_type, data)
        except domain.PhotoTypeRefused as exc:
            raise UnsupportedMediaType(exc.message) from exc
        except domain.PhotoTooLarge as exc:
            raise PayloadTooLarge(exc.message) from exc
        digest = hashlib.sha256(data).hexdigest()
        await self.repo.lock_photo(digest)
        stored = (await self.repo.attachments([record_id])).get(record_id, [])
        for meta in stored:
            if meta.sha256 == digest:
                return False, meta
        domain.check_photo_count(len(stored))
        meta = AttachmentPublic(
            id=uuid.uuid4(),
            sha256=digest,
            content_type=content_type,
            size=len(data),
            uploaded_at=self.ctx.now,
        )
        if not await self.repo.insert_attachment(meta, record=current, data=data, by=self.ctx.principal.sub):
            raise Conflict("the same photo is being uploaded concurrently; retry", code="upload_in_progress")
        flagged = domain.photo_reuse(await self.repo.photo_carriers(digest), uploaded_to=record_id)
        await self.repo.raise_flags(
            [
                RaisedFlag(c.record_id, c.version, EvidenceFlag.photo_reused, because_of, c.household_id)
                for c, because_of in flagged
            ]
        )
        return True, meta

    async def attachment_bytes(self, record_id: uuid.UUID, attachment_id: uuid.UUID) -> AttachmentBytes:
        await self._latest(record_id)  # 404 unless the record is readable
        found = await self.repo.attachment_bytes(record_id, attachment_id)
        if found is None:
            raise NotFound(f"attachment {attachment_id} not found")
        return found

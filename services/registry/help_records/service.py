"""Help record use cases: offline-safe create, batch sync, corrections as versions, confirmations, photos.

Rules (DOMAIN.md §3.2, invariants 30-31, issue #4):

- The phone generates the record id. The same id with the same canonical payload is the same record (a retry:
  200 with the original); the same id with another payload is 409 `id_reused`. `INSERT ... ON CONFLICT DO
  NOTHING` makes two racing retries safe without an error path.
- Only a cadre with an active pairing to the household records for it (403 `pairing_not_active` when the
  pairing has ended, 404 when the cadre never was paired: out of scope looks like missing).
- Records and confirmations are append-only (database triggers); a correction is version n+1 of the same id,
  based on `If-Match: "<n>"`. A signature confirms the content it saw, so a record with any confirmation takes
  no more corrections (409 `record_confirmed`).
- Device clocks are not trusted: `received_at` is the server's; a skew over 24 h is flagged.
- Evidence flags for review are computed when a version is stored (`clock_skew`, `far_from_household`,
  `impossible_speed` against the cadre's neighbouring records). A stored neighbour of an impossible trip gets
  the flag raised on it in `registry_help_record_flag` (the record row is immutable); `photo_reused` depends
  on photos uploaded later and is computed when reading.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.registry.help_records.schemas import (
    ConfirmationIn,
    ConfirmationParty,
    HelpRecordCorrection,
    HelpRecordCreate,
    payload_hash,
)
from services.registry.help_records.store import (
    RAISE_FLAGS_SQL,
    NewRecord,
    evidence_flags,
    neighbours,
    record_values,
    store_new,
)
from services.registry.legacy_context import Context, audit
from services.registry.models import (
    attachment,
    cadre,
    help_confirmation,
    help_record,
    help_record_flag,
    household,
)
from services.registry.scope import household_scope
from shared.db import execute, raw_connection
from shared.etag import etag
from shared.problems import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    UnprocessableEntity,
    UnsupportedMediaType,
)
from shared.roles import Role

__all__ = [
    "ATTACHMENT_TYPES",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "HelpRecordService",
    "parse_record_if_match",
    "record_summary",
]

# -- upload limits -------------------------------------------------------------------------------------------
ATTACHMENT_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 10

_ALL_PARTIES = frozenset(ConfirmationParty)
_OFFICERS = frozenset({Role.township_officer, Role.county_admin})


def parse_record_if_match(value: str | None) -> int:
    """The version a correction is based on, from `If-Match: "<version>"` (428 when absent)."""
    if value is None or not value.strip():
        raise PreconditionRequired(
            'a correction needs If-Match: "<version>" (the ETag of the record you read)'
        )
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise PreconditionFailed("If-Match must be the record's ETag, a quoted version number")
    return int(tag)


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _latest(table: sa.FromClause) -> sa.ColumnElement[bool]:
    """SQL predicate: the row is the newest version of its record."""
    newer = help_record.alias("newer")
    return ~sa.exists(
        sa.select(sa.literal(1)).where(newer.c.id == table.c.id, newer.c.version > table.c.version)
    )


def _photo_reused(table: sa.FromClause) -> sa.ColumnElement[bool]:
    """SQL predicate: a photo of this record (same hash) is attached to a record of another household."""
    mine, other = attachment.alias("mine"), attachment.alias("other")
    return sa.exists(
        sa.select(sa.literal(1))
        .select_from(mine.join(other, other.c.sha256 == mine.c.sha256))
        .where(mine.c.record_id == table.c.id, other.c.household_id != table.c.household_id)
    )


def _raised_flags(table: sa.FromClause) -> sa.ScalarSelect[Any]:
    """The flags later records raised on this version (help_record_flag)."""
    return (
        sa.select(sa.func.array_agg(sa.distinct(help_record_flag.c.flag)))
        .where(help_record_flag.c.record_id == table.c.id, help_record_flag.c.version == table.c.version)
        .scalar_subquery()
    )


def _confirmation_count(table: sa.FromClause) -> sa.ScalarSelect[Any]:
    return (
        sa.select(sa.func.count())
        .select_from(help_confirmation)
        .where(help_confirmation.c.record_id == table.c.id)
        .scalar_subquery()
    )


def status_of(confirmations: int) -> str:
    """Invariant 30: confirmed only with all three signatures."""
    if confirmations >= len(_ALL_PARTIES):
        return "confirmed"
    return "partially_confirmed" if confirmations else "draft"


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _coord(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def record_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """The public shape of one version (with `confirmation_count`, `photo_reused` and `raised_flags` from the
    query)."""
    flags = set(row["flags"]) | set(row.get("raised_flags") or ())
    if row.get("photo_reused"):
        flags.add("photo_reused")
    return {
        "id": str(row["id"]),
        "version": row["version"],
        "household_id": str(row["household_id"]),
        "cadre_id": str(row["cadre_id"]),
        "record_type": row["record_type"],
        "device_time": row["device_time"].isoformat(),
        "received_at": row["received_at"].isoformat(),
        "device_id": row["device_id"],
        "place": row["place"],
        "gps_lat": _coord(row["gps_lat"]),
        "gps_lon": _coord(row["gps_lon"]),
        "content": row["content"],
        "money_yuan": _yuan(row["money_fen"]),
        "goods": row["goods"],
        "measures": row["measures"],
        "flags": sorted(flags),
        "status": status_of(row.get("confirmation_count", 0)),
    }


def encode_cursor(device_time: datetime, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{device_time.isoformat()}|{ident}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        parsed = datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed, uuid.UUID(ident)
    except ValueError as exc:
        raise BadRequest(f"invalid cursor: {exc}") from exc


class HelpRecordService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal
        self._cadre_row: dict[str, Any] | None = None

    # -- who is calling ------------------------------------------------------------------------------------
    async def cadre(self) -> dict[str, Any]:
        """The caller's cadre row (403 for other roles or a login without an active cadre)."""
        if self._cadre_row is not None:
            return self._cadre_row
        if self.principal.role is not Role.cadre:
            raise Forbidden(f"role '{self.principal.role}' may not record help; records come from cadres")
        row = (
            (
                await execute(
                    self.session,
                    sa.select(cadre.c.id, cadre.c.unit_id, cadre.c.active).where(
                        cadre.c.user_sub == self.principal.sub
                    ),
                )
            )
            .mappings()
            .first()
        )
        if row is None or not row["active"]:
            raise Forbidden("this login is not an active helping cadre", code="not_a_cadre")
        self._cadre_row = dict(row)
        return self._cadre_row

    def new_record(self, payload: HelpRecordCreate) -> NewRecord:
        """The record as `store.store_new` takes it (403 unless the caller is a cadre)."""
        if self.principal.role is not Role.cadre:
            raise Forbidden(f"role '{self.principal.role}' may not record help; records come from cadres")
        return NewRecord(payload, self.principal, self.ctx.now, payload_hash(payload))

    # -- create, batch ---------------------------------------------------------------------------------------
    async def create(self, payload: HelpRecordCreate) -> tuple[bool, dict[str, Any]]:
        """(created?, the record) in the session's transaction. A retry of the same payload returns the stored
        record; another payload under the same id is 409 `id_reused`. (The POST route normally stores through
        `writer.RecordWriter`; this answers retries, which need the stored record read back.)"""
        item = self.new_record(payload)
        [outcome] = await store_new(await raw_connection(self.session), [item])
        if outcome.error is not None:
            raise outcome.error
        if outcome.kind == "created":
            return True, {**outcome.values, "confirmation_count": 0}
        return False, await self.latest(payload.id)

    async def batch(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        """Validate each record on its own, store the valid ones set-wise in the session's transaction (one
        durable commit for the batch), and answer per record in the request's order."""
        await self.cadre()  # the caller, not a record, is wrong: the whole request is 403
        results: list[dict[str, Any] | None] = [None] * len(records)
        valid: list[tuple[dict[str, Any], NewRecord]] = []
        for index, raw in enumerate(records):
            given_id = raw.get("id") if isinstance(raw, dict) else None
            outcome: dict[str, Any] = {"index": index, "id": given_id if isinstance(given_id, str) else None}
            try:
                payload = HelpRecordCreate.model_validate(raw)
            except ValidationError as exc:
                errors = [
                    {"pointer": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "code": e["type"]}
                    for e in exc.errors(include_url=False, include_input=False)
                ]
                detail = "; ".join(f"{e['pointer']}: {e['message']}" for e in errors[:5])
                results[index] = outcome | {
                    "outcome": "rejected",
                    "status_code": 422,
                    "detail": detail,
                    "errors": errors,
                }
                continue
            valid.append((outcome, self.new_record(payload)))
        stored = await store_new(await raw_connection(self.session), [item for _, item in valid])
        for (answer, item), done in zip(valid, stored, strict=True):
            index = answer["index"]
            if done.error is not None:
                code = done.error.extensions.get("code")
                results[index] = (
                    answer
                    | {"outcome": "rejected", "status_code": done.error.status, "detail": done.error.detail}
                    | ({"code": code} if code else {})
                )
            else:
                created = done.kind == "created"
                results[index] = answer | {
                    "id": str(item.payload.id),
                    "outcome": "created" if created else "already_present",
                    "status_code": 201 if created else 200,
                    "detail": None,
                    "version": 1 if created else done.version,
                }
        return [r for r in results if r is not None]

    # -- reading ---------------------------------------------------------------------------------------------
    def _readable(self, hr: sa.FromClause) -> sa.Select[Any]:
        """Versions of records whose household the caller may read (cadres: ever paired)."""
        return (
            sa.select(
                hr,
                _confirmation_count(hr).label("confirmation_count"),
                _photo_reused(hr).label("photo_reused"),
                _raised_flags(hr).label("raised_flags"),
            )
            .select_from(hr.join(household, household.c.id == hr.c.household_id))
            .where(household_scope(self.principal, include_past=True))
        )

    async def _versions(self, record_id: uuid.UUID) -> list[dict[str, Any]]:
        hr = help_record.alias("hr")
        rows = (
            (
                await execute(
                    self.session, self._readable(hr).where(hr.c.id == record_id).order_by(hr.c.version)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            raise NotFound(f"help record {record_id} not found")
        return [dict(r) for r in rows]

    async def latest(self, record_id: uuid.UUID) -> dict[str, Any]:
        return (await self._versions(record_id))[-1]

    async def view(self, record_id: uuid.UUID) -> dict[str, Any]:
        """The newest version with the version history, confirmations and attachment metadata."""
        versions = await self._versions(record_id)
        body = record_summary(versions[-1])
        body["versions"] = [
            {
                "version": v["version"],
                "received_at": v["received_at"].isoformat(),
                "created_by": v["created_by"],
                "correction_reason": v["correction_reason"],
                "payload_hash": v["payload_hash"],
            }
            for v in versions
        ]
        confirmations = (
            (
                await execute(
                    self.session,
                    sa.select(help_confirmation)
                    .where(help_confirmation.c.record_id == record_id)
                    .order_by(help_confirmation.c.confirmed_at),
                )
            )
            .mappings()
            .all()
        )
        body["confirmations"] = [
            {
                "party": c["party"],
                "signatory": c["signatory"],
                "note": c["note"],
                "confirmed_at": c["confirmed_at"].isoformat(),
                "confirmed_by": c["confirmed_by"],
            }
            for c in confirmations
        ]
        files = (
            (
                await execute(
                    self.session,
                    sa.select(
                        attachment.c.id,
                        attachment.c.sha256,
                        attachment.c.content_type,
                        attachment.c.size,
                        attachment.c.uploaded_at,
                    )
                    .where(attachment.c.record_id == record_id)
                    .order_by(attachment.c.uploaded_at, attachment.c.id),
                )
            )
            .mappings()
            .all()
        )
        body["attachments"] = [_attachment_meta(f) for f in files]
        return body

    async def page(
        self, household_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The household's records (newest version each), newest first by device time, keyset pages."""
        visible = (
            await execute(
                self.session,
                sa.select(household.c.id).where(
                    household.c.id == household_id, household_scope(self.principal, include_past=True)
                ),
            )
        ).first()
        if visible is None:
            raise NotFound(f"household {household_id} not found")
        hr = help_record.alias("hr")
        query = self._readable(hr).where(hr.c.household_id == household_id, _latest(hr))
        if cursor is not None:
            when, ident = decode_cursor(cursor)
            query = query.where(sa.tuple_(hr.c.device_time, hr.c.id) < sa.tuple_(when, ident))
        rows = (
            (
                await execute(
                    self.session, query.order_by(hr.c.device_time.desc(), hr.c.id.desc()).limit(limit + 1)
                )
            )
            .mappings()
            .all()
        )
        items = [record_summary(r) for r in rows[:limit]]
        next_cursor = (
            encode_cursor(rows[limit - 1]["device_time"], rows[limit - 1]["id"])
            if len(rows) > limit
            else None
        )
        return items, next_cursor

    # -- corrections -----------------------------------------------------------------------------------------
    async def correct(
        self, record_id: uuid.UUID, payload: HelpRecordCorrection, *, based_on: int
    ) -> dict[str, Any]:
        """Version n+1 of the record, based on version `based_on` (412 when stale)."""
        current = await self.latest(record_id)
        me = await self.cadre()
        if current["cadre_id"] != me["id"]:
            raise Forbidden("only the cadre who made the record corrects it")
        if current["version"] != based_on:
            raise _stale(current["version"])
        if current["confirmation_count"]:
            raise Conflict(
                "the record has been signed; a signature confirms the content it saw, so it takes no corrections",
                code="record_confirmed",
            )
        hh = (
            (
                await execute(
                    self.session,
                    sa.select(household.c.id, household.c.gps_lat, household.c.gps_lon).where(
                        household.c.id == current["household_id"]
                    ),
                )
            )
            .mappings()
            .one()
        )
        values = record_values(
            payload,
            version=based_on + 1,
            household_id=current["household_id"],
            cadre_id=me["id"],
            received_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        [around] = (
            await neighbours(await raw_connection(self.session), [(me["id"], record_id, payload.device_time)])
            if payload.gps_lat is not None
            else [[]]
        )
        flags, trips = evidence_flags(payload, received_at=self.ctx.now, household=hh, around=around)
        values |= {
            "id": record_id,
            "flags": flags,
            "payload_hash": payload_hash(payload),
            "correction_reason": payload.correction_reason,
        }
        inserted = (
            await execute(
                self.session,
                pg_insert(help_record)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["id", "version"])
                .returning(help_record.c.version),
            )
        ).first()
        if inserted is None:  # another correction of the same version landed first
            raise _stale(based_on + 1)
        if trips:  # the neighbours of an impossible trip are flagged too
            await (await raw_connection(self.session)).execute(
                RAISE_FLAGS_SQL,
                [n["id"] for n in trips],
                [n["version"] for n in trips],
                [record_id] * len(trips),
                [n["household_id"] for n in trips],
            )
        await audit(
            self.ctx,
            "help_record.correct",
            record_type="help_record",
            record_id=record_id,
            household_id=current["household_id"],
            reason=payload.correction_reason,
            detail={"version": based_on + 1},
        )
        return values

    # -- confirmations ---------------------------------------------------------------------------------------
    def _may_confirm(self, party: ConfirmationParty, record_cadre_sub: str | None) -> bool:
        """Household head: recorded by the record's cadre on the phone; village director: a village officer of
        the household's village; unit responsible: a township or county officer, or the record's cadre."""
        own = self.principal.role is Role.cadre and record_cadre_sub == self.principal.sub
        if party is ConfirmationParty.household_head:
            return own
        if party is ConfirmationParty.village_director:
            return self.principal.role is Role.village_officer
        return own or self.principal.role in _OFFICERS

    async def confirm(self, record_id: uuid.UUID, payload: ConfirmationIn) -> bool:
        """Record one party's signature; True when new. The same signature again is a no-op; another is 409."""
        current = await self.latest(record_id)
        record_cadre_sub = (
            await execute(self.session, sa.select(cadre.c.user_sub).where(cadre.c.id == current["cadre_id"]))
        ).scalar()
        if not self._may_confirm(payload.party, record_cadre_sub):
            raise Forbidden(f"role '{self.principal.role}' may not record the {payload.party} signature")
        inserted = (
            await execute(
                self.session,
                pg_insert(help_confirmation)
                .values(
                    record_id=record_id,
                    party=str(payload.party),
                    confirmed_at=self.ctx.now,
                    confirmed_by=self.principal.sub,
                    signatory=payload.signatory,
                    note=payload.note,
                )
                .on_conflict_do_nothing(index_elements=["record_id", "party"])
                .returning(help_confirmation.c.party),
            )
        ).first()
        if inserted is None:
            existing = (
                (
                    await execute(
                        self.session,
                        sa.select(help_confirmation).where(
                            help_confirmation.c.record_id == record_id,
                            help_confirmation.c.party == str(payload.party),
                        ),
                    )
                )
                .mappings()
                .one()
            )
            if (existing["signatory"], existing["note"]) != (payload.signatory, payload.note):
                raise Conflict(
                    f"{payload.party} already confirmed this record (signed by {existing['signatory']})",
                    code="already_confirmed",
                )
            return False
        await audit(
            self.ctx,
            "help_record.confirm",
            record_type="help_record",
            record_id=record_id,
            household_id=current["household_id"],
            detail={"party": str(payload.party), "signatory": payload.signatory},
        )
        return True

    # -- attachments -----------------------------------------------------------------------------------------
    async def add_attachment(
        self, record_id: uuid.UUID, content_type: str, data: bytes
    ) -> tuple[bool, dict[str, Any]]:
        """Store a photo (type, size and count limits); the same bytes again return the stored one."""
        current = await self.latest(record_id)
        me = await self.cadre()
        if current["cadre_id"] != me["id"]:
            raise Forbidden("only the cadre who made the record adds its photos")
        if content_type not in ATTACHMENT_TYPES:
            raise UnsupportedMediaType(
                f"photos must be one of {', '.join(sorted(ATTACHMENT_TYPES))}, not '{content_type}'"
            )
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise PayloadTooLarge(f"a photo is limited to {MAX_ATTACHMENT_BYTES} bytes")
        if not data:
            raise UnprocessableEntity("the photo is empty", code="empty_attachment")
        if _sniff(data) != content_type:
            raise UnsupportedMediaType(f"the bytes are not a {content_type} image")
        digest = hashlib.sha256(data).hexdigest()
        stored = (
            (
                await execute(
                    self.session,
                    sa.select(
                        attachment.c.id,
                        attachment.c.sha256,
                        attachment.c.content_type,
                        attachment.c.size,
                        attachment.c.uploaded_at,
                    ).where(attachment.c.record_id == record_id),
                )
            )
            .mappings()
            .all()
        )
        for row in stored:
            if row["sha256"] == digest:
                return False, _attachment_meta(row)
        if len(stored) >= MAX_ATTACHMENTS:
            raise UnprocessableEntity(
                f"a record holds at most {MAX_ATTACHMENTS} photos", code="too_many_attachments"
            )
        row = {
            "id": uuid.uuid4(),
            "record_id": record_id,
            "household_id": current["household_id"],
            "sha256": digest,
            "content_type": content_type,
            "size": len(data),
            "uploaded_at": self.ctx.now,
            "uploaded_by": self.principal.sub,
        }
        inserted = (
            await execute(
                self.session,
                pg_insert(attachment)
                .values(**row, data=data)
                .on_conflict_do_nothing(index_elements=["record_id", "sha256"])
                .returning(attachment.c.id),
            )
        ).first()
        if inserted is None:
            raise Conflict("the same photo is being uploaded concurrently; retry", code="upload_in_progress")
        return True, _attachment_meta(row)

    async def attachment_bytes(self, record_id: uuid.UUID, attachment_id: uuid.UUID) -> dict[str, Any]:
        await self.latest(record_id)  # 404 unless the record is readable
        row = (
            (
                await execute(
                    self.session,
                    sa.select(attachment.c.sha256, attachment.c.content_type, attachment.c.data).where(
                        attachment.c.id == attachment_id, attachment.c.record_id == record_id
                    ),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"attachment {attachment_id} not found")
        return dict(row)


def _sort_key(raw: Any) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value.lower() if isinstance(value, str) else ""


def _attachment_meta(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "sha256": row["sha256"],
        "content_type": row["content_type"],
        "size": row["size"],
        "uploaded_at": row["uploaded_at"].isoformat(),
    }


def _stale(current: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"the record changed since you read it: current version is {current}",
        headers={"ETag": etag(current)},
        current_version=current,
    )

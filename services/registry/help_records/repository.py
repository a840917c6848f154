"""Every SQL statement of help records (帮扶记录), scoped by the caller in one place.

Two kinds of access, both returning typed rows:

- `HelpRecordRepository`: the session's statements (SQLModel) for reads, corrections, signatures and photos.
  Every read goes through `_readable`: the record's household must be in the caller's scope
  (`scope.household_scope`; cadres: any household they are or were paired with, by the request's China date).
- `HelpRecordStore`: the set-wise statements on a raw asyncpg connection for arriving records: any number of
  records in three statements (their facts, the cadres' neighbouring visits, one INSERT). The POST's
  group-commit writer runs them in autocommit on the write pool, the batch and the retry path inside the
  request's transaction.

`record_json` is the record's public JSON as PostgreSQL builds it for the phone download: exactly the keys of
`schemas.HelpRecordPublic`, with the confirmation status rendered from the domain's own constants.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import QueryableAttribute, aliased, defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.registry.help_records.domain import (
    ALL_PARTIES,
    UNCOUNTED_FLAGS,
    ArrivalFacts,
    ConfirmationStatus,
    EvidenceFlag,
    Fix,
    Location,
    PhotoCarrier,
    ReviewOutcome,
)
from services.registry.help_records.schemas import AttachmentPublic, HelpRecordVersion
from services.registry.models import (
    Attachment,
    Cadre,
    HelpConfirmation,
    HelpingUnit,
    HelpRecord,
    HelpRecordFlag,
    HelpRecordReview,
    Household,
    Pairing,
)
from services.registry.scope import PAIRING_ACTIVE_SQL, household_scope
from shared.db import raw_connection
from shared.roles import Principal
from shared.sql_json import rfc3339_sql

__all__ = [
    "AttachmentBytes",
    "HelpRecordRepository",
    "HelpRecordStore",
    "RaisedFlag",
    "VersionRow",
    "counted_visit",
    "counted_visit_sql",
    "record_json",
]


# -- what counts as a visit (issue #13 item 14) ------------------------------------------------------------------
_UNCOUNTED = sorted(str(f) for f in UNCOUNTED_FLAGS)


def counted_visit(flags: Any, record_id: Any, version: Any) -> sa.ColumnElement[bool]:
    """A stored version counts as a visit (visit frequency, figures) unless it carries one of
    `domain.UNCOUNTED_FLAGS` (`clock_skew`: its date is not trusted) that no officer has accepted since
    (`registry_help_record_review`, outcome `accepted`). The arguments are the columns of `HelpRecord` (or an
    alias of it): `flags`, `id`, `version`."""
    overlaps: sa.ColumnElement[bool] = flags.overlap(sa.cast(array(_UNCOUNTED), ARRAY(sa.String(32))))
    accepted = (
        sa.select(sa.literal(1))
        .where(
            col(HelpRecordReview.record_id) == record_id,
            col(HelpRecordReview.version) == version,
            col(HelpRecordReview.flag).in_(_UNCOUNTED),
            col(HelpRecordReview.outcome) == ReviewOutcome.accepted.value,
        )
        .exists()
    )
    return sa.or_(sa.not_(overlaps), accepted)


def counted_visit_sql(alias: str) -> str:
    """`counted_visit` for hand-written SQL over registry_help_record `alias` (a constant: no parameter)."""
    listed = ", ".join(f"'{f}'" for f in _UNCOUNTED)
    # Built from the domain's flag codes and a constant alias, never from a request.
    accepted = f"SELECT 1 FROM registry_help_record_review hrr WHERE hrr.record_id = {alias}.id"  # noqa: S608
    accepted += f" AND hrr.version = {alias}.version AND hrr.flag IN ({listed}) AND hrr.outcome = 'accepted'"
    return f"(NOT ({alias}.flags && ARRAY[{listed}]::varchar(32)[]) OR EXISTS ({accepted}))"


# -- typed rows ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VersionRow:
    """The stored columns of one version of a record (registry_help_record), as it is written."""

    id: uuid.UUID
    version: int
    household_id: uuid.UUID
    cadre_id: uuid.UUID
    record_type: str
    device_time: datetime
    received_at: datetime
    device_id: str | None
    place: str | None
    gps_lat: Decimal | None
    gps_lon: Decimal | None
    content: str
    money_fen: int
    goods: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    created_by: str
    flags: tuple[str, ...]
    payload_hash: str
    correction_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RaisedFlag:
    """A flag raised on a stored version by another record (registry_help_record_flag: the row stays immutable)."""

    record_id: uuid.UUID
    version: int
    flag: EvidenceFlag
    because_of: uuid.UUID
    household_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class AttachmentBytes:
    """A photo's bytes and what to answer with."""

    sha256: str
    content_type: str
    data: bytes


# -- the session's statements -------------------------------------------------------------------------------------
class HelpRecordRepository:
    """Help records in the request's session, seen as `principal` on the China date `today`."""

    def __init__(self, session: AsyncSession, principal: Principal, today: date) -> None:
        self.session = session
        self.principal = principal
        self.today = today

    async def store(self) -> HelpRecordStore:
        """The set-wise statements on the session's own connection (inside its transaction)."""
        return HelpRecordStore(await raw_connection(self.session))

    # -- who ---------------------------------------------------------------------------------------------------
    async def cadre(self, sub: str) -> Cadre | None:
        return (await self.session.exec(select(Cadre).where(col(Cadre.user_sub) == sub))).first()

    async def cadre_sub(self, cadre_id: uuid.UUID) -> str | None:
        query = select(col(Cadre.user_sub)).where(col(Cadre.id) == cadre_id)
        return (await self.session.exec(query)).first()

    # -- reading (always scoped) -------------------------------------------------------------------------------
    def _readable(self) -> SelectOfScalar[HelpRecord]:
        """Versions of records whose household the caller may read (cadres: ever paired)."""
        return (
            select(HelpRecord)
            .join(Household, col(Household.id) == col(HelpRecord.household_id))
            .where(household_scope(self.principal, include_past=True, today=self.today))
        )

    @staticmethod
    def _newest() -> sa.ColumnElement[bool]:
        """The version is its record's newest."""
        newer = aliased(HelpRecord, name="newer")
        return ~sa.exists().where(
            col(newer.id) == col(HelpRecord.id), col(newer.version) > col(HelpRecord.version)
        )

    async def latest(self, record_id: uuid.UUID) -> HelpRecord | None:
        """The newest version of a record the caller may read, or None (missing and out of scope alike)."""
        query = self._readable().where(col(HelpRecord.id) == record_id, self._newest())
        return (await self.session.exec(query)).first()

    # -- the unit's responsible login (帮扶单位责任人, issue #13 item 10) ---------------------------------------------
    async def unit_responsible_sub(self, household_id: uuid.UUID, cadre_id: uuid.UUID) -> str | None:
        """The linked responsible login of the helping unit of the record's pairing (the cadre's current pairing
        row with the household, newest first; the cadre's unit when there is none), or None."""
        paired = (
            select(col(HelpingUnit.responsible_sub))
            .join(Pairing, col(Pairing.unit_id) == col(HelpingUnit.id))
            .where(
                col(Pairing.household_id) == household_id,
                col(Pairing.cadre_id) == cadre_id,
                col(Pairing.superseded_at).is_(None),
            )
            .order_by(col(Pairing.valid_from).desc())
            .limit(1)
        )
        found = (await self.session.exec(paired)).first()
        if found is not None:
            return found
        own = select(col(HelpingUnit.responsible_sub)).join(Cadre, col(Cadre.unit_id) == col(HelpingUnit.id))
        return (await self.session.exec(own.where(col(Cadre.id) == cadre_id))).first()

    async def latest_as_responsible(self, record_id: uuid.UUID, sub: str) -> HelpRecord | None:
        """The newest version of a record of a unit whose linked responsible login is `sub` (their unit helps the
        household: the record's pairing is the unit's), whatever the caller's region; else None."""
        query = select(HelpRecord).where(col(HelpRecord.id) == record_id, self._newest())
        row = (await self.session.exec(query)).first()
        if row is None or await self.unit_responsible_sub(row.household_id, row.cadre_id) != sub:
            return None
        return row

    async def household_visible(self, household_id: uuid.UUID) -> bool:
        query = select(col(Household.id)).where(
            col(Household.id) == household_id,
            household_scope(self.principal, include_past=True, today=self.today),
        )
        return (await self.session.exec(query)).first() is not None

    async def page(
        self, household_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[HelpRecord]:
        """A household's records (newest version each), newest visit first, `limit` after the keyset `after`."""
        query = self._readable().where(col(HelpRecord.household_id) == household_id, self._newest())
        if after is not None:
            query = query.where(
                sa.tuple_(col(HelpRecord.device_time), col(HelpRecord.id)) < sa.tuple_(*after)
            )
        query = query.order_by(col(HelpRecord.device_time).desc(), col(HelpRecord.id).desc()).limit(limit)
        return list((await self.session.exec(query)).all())

    # The details of records already read through `_readable` (so in scope), for many records at once.
    async def versions(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[HelpRecordVersion]]:
        query = (
            select(HelpRecord)
            .where(col(HelpRecord.id).in_(ids))
            .order_by(col(HelpRecord.id), col(HelpRecord.version))
        )
        found: dict[uuid.UUID, list[HelpRecordVersion]] = {}
        for row in await self.session.exec(query):
            found.setdefault(row.id, []).append(
                HelpRecordVersion(
                    version=row.version,
                    received_at=row.received_at,
                    created_by=row.created_by,
                    correction_reason=row.correction_reason,
                    payload_hash=row.payload_hash,
                )
            )
        return found

    async def raised_flags(
        self, keys: Sequence[tuple[uuid.UUID, int]]
    ) -> dict[tuple[uuid.UUID, int], set[str]]:
        """The flags later records raised on these versions."""
        if not keys:
            return {}
        query = select(
            col(HelpRecordFlag.record_id), col(HelpRecordFlag.version), col(HelpRecordFlag.flag)
        ).where(sa.tuple_(col(HelpRecordFlag.record_id), col(HelpRecordFlag.version)).in_(keys))
        found: dict[tuple[uuid.UUID, int], set[str]] = {}
        for rid, version, flag in await self.session.exec(query):
            found.setdefault((rid, version), set()).add(flag)
        return found

    async def confirmations(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[HelpConfirmation]]:
        query = (
            select(HelpConfirmation)
            .where(col(HelpConfirmation.record_id).in_(ids))
            .order_by(col(HelpConfirmation.confirmed_at), col(HelpConfirmation.party))
        )
        found: dict[uuid.UUID, list[HelpConfirmation]] = {}
        for row in await self.session.exec(query):
            found.setdefault(row.record_id, []).append(row)
        return found

    async def attachments(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[AttachmentPublic]]:
        """Photo metadata (never the bytes) of these records, in upload order."""
        query = (
            select(Attachment)
            .options(defer(cast(QueryableAttribute[bytes], Attachment.data)))  # the bytes stay in the table
            .where(col(Attachment.record_id).in_(ids))
            .order_by(col(Attachment.uploaded_at), col(Attachment.id))
        )
        found: dict[uuid.UUID, list[AttachmentPublic]] = {}
        for row in await self.session.exec(query):
            found.setdefault(row.record_id, []).append(
                AttachmentPublic(
                    id=row.id,
                    sha256=row.sha256,
                    content_type=row.content_type,
                    size=row.size,
                    uploaded_at=row.uploaded_at,
                )
            )
        return found

    async def home(self, household_id: uuid.UUID) -> Location | None:
        """The household's recorded location, if any."""
        query = select(col(Household.gps_lat), col(Household.gps_lon)).where(
            col(Household.id) == household_id
        )
        row = (await self.session.exec(query)).first()
        if row is None or row[0] is None or row[1] is None:
            return None
        return Location(row[0], row[1])

    # -- corrections -------------------------------------------------------------------------------------------
    async def insert_version(self, row: VersionRow) -> bool:
        """Store a version; False when that version number is taken (another correction came first)."""
        statement = (
            pg_insert(HelpRecord)
            .values(
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
                money_fen=row.money_fen,
                goods=row.goods,
                measures=row.measures,
                flags=list(row.flags),
                payload_hash=row.payload_hash,
                correction_reason=row.correction_reason,
                created_by=row.created_by,
            )
            .on_conflict_do_nothing(index_elements=["id", "version"])
            .returning(col(HelpRecord.version))
        )
        return (await self.session.exec(statement)).first() is not None

    async def raise_flags(self, flags: Sequence[RaisedFlag]) -> None:
        if not flags:
            return
        statement = (
            pg_insert(HelpRecordFlag)
            .values(
                [
                    {
                        "record_id": f.record_id,
                        "version": f.version,
                        "flag": str(f.flag),
                        "because_of": f.because_of,
                        "household_id": f.household_id,
                    }
                    for f in flags
                ]
            )
            .on_conflict_do_nothing()
        )
        await self.session.exec(statement)

    # -- signatures --------------------------------------------------------------------------------------------
    async def insert_confirmation(self, confirmation: HelpConfirmation) -> bool:
        """Record a signature; False when that party signed already."""
        statement = (
            pg_insert(HelpConfirmation)
            .values(
                record_id=confirmation.record_id,
                party=confirmation.party,
                confirmed_at=confirmation.confirmed_at,
                confirmed_by=confirmation.confirmed_by,
                signatory=confirmation.signatory,
                note=confirmation.note,
            )
            .on_conflict_do_nothing(index_elements=["record_id", "party"])
            .returning(col(HelpConfirmation.party))
        )
        return (await self.session.exec(statement)).first() is not None

    async def household_village(self, household_id: uuid.UUID) -> str | None:
        """The household's village code (who may sign as its village director)."""
        query = select(col(Household.village_code)).where(col(Household.id) == household_id)
        return (await self.session.exec(query)).first()

    async def version_flags(self, record_id: uuid.UUID, version: int) -> list[str] | None:
        """The flags stored on one version (the caller has read the record in scope), or None when absent."""
        query = select(HelpRecord.flags).where(
            col(HelpRecord.id) == record_id, col(HelpRecord.version) == version
        )
        flags = (await self.session.exec(query)).first()
        return None if flags is None else list(flags)

    async def review(self, record_id: uuid.UUID, version: int, flag: str) -> HelpRecordReview | None:
        query = select(HelpRecordReview).where(
            col(HelpRecordReview.record_id) == record_id,
            col(HelpRecordReview.version) == version,
            col(HelpRecordReview.flag) == flag,
        )
        return (await self.session.exec(query)).first()

    async def insert_review(self, review: HelpRecordReview) -> None:
        self.session.add(review)
        await self.session.flush()

    async def lock_record(self, record_id: uuid.UUID) -> None:
        """Serialise signatures of one record until the transaction ends (one principal signs one party)."""
        key = sa.func.hashtextextended("help_record_sign:" + str(record_id), 0)
        await self.session.exec(select(sa.func.pg_advisory_xact_lock(key)))

    async def confirmation(self, record_id: uuid.UUID, party: str) -> HelpConfirmation | None:
        query = select(HelpConfirmation).where(
            col(HelpConfirmation.record_id) == record_id, col(HelpConfirmation.party) == party
        )
        return (await self.session.exec(query)).first()

    # -- photos ------------------------------------------------------------------------------------------------
    async def insert_attachment(
        self, meta: AttachmentPublic, *, record: HelpRecord, data: bytes, by: str
    ) -> bool:
        """Store a photo; False when the same bytes are being attached to the record concurrently."""
        statement = (
            pg_insert(Attachment)
            .values(
                id=meta.id,
                record_id=record.id,
                household_id=record.household_id,
                sha256=meta.sha256,
                content_type=meta.content_type,
                size=meta.size,
                data=data,
                uploaded_at=meta.uploaded_at,
                uploaded_by=by,
            )
            .on_conflict_do_nothing(index_elements=["record_id", "sha256"])
            .returning(col(Attachment.id))
        )
        return (await self.session.exec(statement)).first() is not None

    async def attachment_bytes(
        self, record_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> AttachmentBytes | None:
        query = select(col(Attachment.sha256), col(Attachment.content_type), col(Attachment.data)).where(
            col(Attachment.id) == attachment_id, col(Attachment.record_id) == record_id
        )
        row = (await self.session.exec(query)).first()
        return None if row is None else AttachmentBytes(row[0], row[1], bytes(row[2]))

    async def lock_photo(self, sha256: str) -> None:
        """Serialise uploads of the same photo until the transaction ends, so that two records of different
        households receiving it at the same moment see each other (the reuse check reads committed rows)."""
        await self.session.exec(select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sha256, 0))))

    @staticmethod
    def _latest_version_of(record_id: Any) -> sa.ScalarSelect[int]:
        return (
            select(sa.func.max(col(HelpRecord.version)))
            .where(col(HelpRecord.id) == record_id)
            .scalar_subquery()
        )

    async def photo_carriers(self, sha256: str) -> list[PhotoCarrier]:
        """Every record carrying the photo (any household, whatever the caller's scope: an evidence check)."""
        query = select(
            col(Attachment.record_id),
            self._latest_version_of(col(Attachment.record_id)),
            col(Attachment.household_id),
        ).where(col(Attachment.sha256) == sha256)
        return [PhotoCarrier(rid, version, hid) for rid, version, hid in await self.session.exec(query)]

    async def photo_carriers_of(self, record_id: uuid.UUID) -> list[list[PhotoCarrier]]:
        """For each photo of the record, every record carrying the same photo."""
        mine, other = aliased(Attachment, name="mine"), aliased(Attachment, name="other")
        query = (
            select(
                col(mine.sha256),
                col(other.record_id),
                self._latest_version_of(col(other.record_id)),
                col(other.household_id),
            )
            .join(other, col(other.sha256) == col(mine.sha256))
            .where(col(mine.record_id) == record_id)
        )
        by_photo: dict[str, list[PhotoCarrier]] = {}
        for sha256, rid, version, hid in await self.session.exec(query):
            by_photo.setdefault(sha256, []).append(PhotoCarrier(rid, version, hid))
        return list(by_photo.values())


# -- the set-wise store (asyncpg) --------------------------------------------------------------------------------
#: Per arriving record: the first version under its id (a retry?) and the newest version number, the caller's
#: cadre row, the household's location, and whether the cadre is paired with the household ever, and on the day
#: the record arrived ($4: the China date of its receipt by the app clock).
_ARRIVALS_SQL = f"""
SELECT i.ord, r.payload_hash AS existing_hash, r.created_by AS existing_by,
       CASE WHEN r.id IS NOT NULL
            THEN (SELECT max(v.version) FROM registry_help_record v WHERE v.id = i.id) END AS latest_version,
       c.id AS cadre_id, coalesce(c.active, false) AS cadre_active,
       h.id AS household_id, h.gps_lat, h.gps_lon,
       EXISTS (SELECT 1 FROM registry_pairing p
               WHERE p.household_id = i.household_id AND p.cadre_id = c.id AND p.superseded_at IS NULL) AS ever,
       EXISTS (SELECT 1 FROM registry_pairing p
               WHERE p.household_id = i.household_id AND p.cadre_id = c.id
                 AND {PAIRING_ACTIVE_SQL.format(p="p", day="i.today")}) AS active
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::date[]) WITH ORDINALITY AS i(id, household_id, sub, today, ord)
LEFT JOIN registry_help_record r ON r.id = i.id AND r.version = 1
LEFT JOIN registry_cadre c ON c.user_sub = i.sub
LEFT JOIN registry_household h ON h.id = i.household_id
ORDER BY i.ord
"""  # noqa: S608 - built from constants only
#: Per (cadre, record, time): the cadre's stored GPS-stamped visits (newest versions, other ids) just before and
#: just after the time, for the speed check.
_NEIGHBOURS_SQL = """
SELECT i.ord, n.id, n.version, n.household_id, n.device_time, n.gps_lat, n.gps_lon
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) WITH ORDINALITY AS i(cadre_id, id, t, ord)
CROSS JOIN LATERAL (
  (SELECT hr.id, hr.version, hr.household_id, hr.device_time, hr.gps_lat, hr.gps_lon FROM registry_help_record hr
   WHERE hr.cadre_id = i.cadre_id AND hr.id <> i.id AND hr.gps_lat IS NOT NULL AND hr.device_time <= i.t
     AND NOT EXISTS (SELECT 1 FROM registry_help_record nv WHERE nv.id = hr.id AND nv.version > hr.version)
   ORDER BY hr.device_time DESC LIMIT 1)
  UNION ALL
  (SELECT hr.id, hr.version, hr.household_id, hr.device_time, hr.gps_lat, hr.gps_lon FROM registry_help_record hr
   WHERE hr.cadre_id = i.cadre_id AND hr.id <> i.id AND hr.gps_lat IS NOT NULL AND hr.device_time >= i.t
     AND NOT EXISTS (SELECT 1 FROM registry_help_record nv WHERE nv.id = hr.id AND nv.version > hr.version)
   ORDER BY hr.device_time ASC LIMIT 1)
) n
"""
# (column, array type) in the order of the unnest parameters; version is 1 and flags are split from text.
_COLUMNS = (
    ("id", "uuid"), ("household_id", "uuid"), ("cadre_id", "uuid"), ("record_type", "text"),
    ("device_time", "timestamptz"), ("received_at", "timestamptz"), ("device_id", "text"), ("place", "text"),
    ("gps_lat", "numeric"), ("gps_lon", "numeric"), ("content", "text"), ("money_fen", "bigint"),
    ("goods", "text"), ("measures", "text"), ("created_by", "text"), ("flags", "text"),
    ("payload_hash", "text"),
)  # fmt: skip
_SELECTED = {
    "goods": "u.goods::jsonb",
    "measures": "u.measures::jsonb",
    "flags": "string_to_array(u.flags, ',')",
}
_RECORDS_SQL = (
    "INSERT INTO registry_help_record (version, "  # noqa: S608 - constant column names
    + ", ".join(c for c, _ in _COLUMNS)
    + ") SELECT 1, "
    + ", ".join(_SELECTED.get(c, f"u.{c}") for c, _ in _COLUMNS)
    + " FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(_COLUMNS))
    + ") AS u("
    + ", ".join(c for c, _ in _COLUMNS)
    + ") ORDER BY u.id ON CONFLICT (id, version) DO NOTHING RETURNING id"
)
_N = len(_COLUMNS)
#: The records, and the flags their arrival raises on stored neighbours (only for records really inserted), in
#: one statement: atomic in autocommit too.
_INSERT_SQL = f"""
WITH ins AS ({_RECORDS_SQL}),
raised AS (
  INSERT INTO registry_help_record_flag (record_id, version, flag, because_of, household_id)
  SELECT f.record_id, f.version, f.flag, f.because_of, f.household_id
  FROM unnest(${_N + 1}::uuid[], ${_N + 2}::int[], ${_N + 3}::text[], ${_N + 4}::uuid[], ${_N + 5}::uuid[])
       AS f(record_id, version, flag, because_of, household_id)
  WHERE f.because_of IN (SELECT id FROM ins)
  ON CONFLICT DO NOTHING)
SELECT id FROM ins
"""  # noqa: S608 - built from constants only
_FIRST_VERSIONS_SQL = (
    "SELECT r.id, r.payload_hash, r.created_by,"
    " (SELECT max(v.version) FROM registry_help_record v WHERE v.id = r.id) AS latest_version"
    " FROM registry_help_record r WHERE r.id = ANY($1::uuid[]) AND r.version = 1"
)


@dataclass(frozen=True, slots=True)
class FirstVersion:
    """The first version stored under an id: its content hash and author, and the record's newest version."""

    payload_hash: str
    created_by: str
    latest_version: int


def _column(row: VersionRow, name: str) -> Any:
    value = getattr(row, name)
    if name == "flags":
        return ",".join(value)
    if name in ("goods", "measures"):
        return json.dumps(value, ensure_ascii=False)
    return value


class HelpRecordStore:
    """Set-wise statements for arriving records on one asyncpg connection (autocommit, or the caller's
    transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def arrivals(self, items: Sequence[tuple[uuid.UUID, uuid.UUID, str, date]]) -> list[ArrivalFacts]:
        """The facts of each (record id, household id, caller's sub, China date of receipt), in order."""
        rows = await self.conn.fetch(
            _ARRIVALS_SQL,
            [i[0] for i in items],
            [i[1] for i in items],
            [i[2] for i in items],
            [i[3] for i in items],
        )
        return [
            ArrivalFacts(
                existing_hash=r["existing_hash"],
                existing_by=r["existing_by"],
                latest_version=r["latest_version"],
                cadre_id=r["cadre_id"],
                cadre_active=r["cadre_active"],
                household_found=r["household_id"] is not None,
                home=None
                if r["gps_lat"] is None or r["gps_lon"] is None
                else Location(r["gps_lat"], r["gps_lon"]),
                ever_paired=r["ever"],
                active_pairing=r["active"],
            )
            for r in rows
        ]

    async def neighbours(self, probes: Sequence[tuple[uuid.UUID, uuid.UUID, datetime]]) -> list[list[Fix]]:
        """For each (cadre id, record id, device time): the cadre's stored GPS visits just before and after."""
        found: list[list[Fix]] = [[] for _ in probes]
        if not probes:
            return found
        rows = await self.conn.fetch(
            _NEIGHBOURS_SQL, [p[0] for p in probes], [p[1] for p in probes], [p[2] for p in probes]
        )
        for r in rows:
            found[r["ord"] - 1].append(
                Fix(
                    household_id=r["household_id"],
                    at=r["device_time"],
                    where=Location(r["gps_lat"], r["gps_lon"]),
                    record_id=r["id"],
                    version=r["version"],
                )
            )
        return found

    async def insert(self, rows: Sequence[VersionRow], raised: Sequence[RaisedFlag]) -> set[uuid.UUID]:
        """Insert first versions (in id order, so overlapping calls lock alike and cannot deadlock) and the
        flags they raise on stored versions, in one statement; the ids really inserted."""
        if not rows:
            return set()
        inserted = await self.conn.fetch(
            _INSERT_SQL,
            *([_column(r, c) for r in rows] for c, _ in _COLUMNS),
            [f.record_id for f in raised],
            [f.version for f in raised],
            [str(f.flag) for f in raised],
            [f.because_of for f in raised],
            [f.household_id for f in raised],
        )
        return {r["id"] for r in inserted}

    async def first_versions(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, FirstVersion]:
        rows = await self.conn.fetch(_FIRST_VERSIONS_SQL, list(ids))
        return {r["id"]: FirstVersion(r["payload_hash"], r["created_by"], r["latest_version"]) for r in rows}


# -- the public JSON as PostgreSQL builds it ------------------------------------------------------------------------
_PARTIES = ", ".join(f"'{p}'" for p in sorted(ALL_PARTIES))
#: `domain.status_of` in SQL, from the domain's constants: confirmed with all parties, draft with none.
_STATUS_SQL = (
    f"CASE cf.parties WHEN {len(ALL_PARTIES)} THEN '{ConfirmationStatus.confirmed}'"
    f" WHEN 0 THEN '{ConfirmationStatus.draft}' ELSE '{ConfirmationStatus.partially_confirmed}' END"
)


def _version_json(v: str, received_at: str) -> str:
    return (
        f"json_build_object('version', {v}.version, 'received_at', {received_at},"
        f" 'created_by', {v}.created_by, 'correction_reason', {v}.correction_reason,"
        f" 'payload_hash', {v}.payload_hash)"
    )


def record_json(x: str) -> tuple[str, str]:
    """`HelpRecordPublic` of the version row `x` as a PostgreSQL JSON expression, and the lateral join it needs
    after `FROM ... x` (`CROSS JOIN LATERAL (...) cf`: the signatures, and the receipt time written once). Every
    key of the schema and no other, each written as the schema writes it: the phone download and the REST reads
    serialise a record alike (tests/registry/test_sync_routes.py compares them)."""
    expression = f"""json_build_object(
    'id', {x}.id, 'version', {x}.version, 'household_id', {x}.household_id, 'cadre_id', {x}.cadre_id,
    'record_type', {x}.record_type, 'device_time', {rfc3339_sql(f"{x}.device_time")},
    'received_at', cf.received_at,
    'device_id', {x}.device_id, 'place', {x}.place, 'gps_lat', {x}.gps_lat, 'gps_lon', {x}.gps_lon,
    'content', {x}.content, 'money_yuan', ({x}.money_fen::numeric / 100)::numeric(14, 2)::text,
    'goods', {x}.goods, 'measures', {x}.measures,
    'flags', to_json(ARRAY(SELECT DISTINCT fl COLLATE "C" AS flag FROM unnest({x}.flags || ARRAY(
               SELECT f.flag FROM registry_help_record_flag f WHERE f.record_id = {x}.id AND f.version = {x}.version
             )) fl ORDER BY flag)),
    'correction_reason', {x}.correction_reason,
    'confirmation_status', {_STATUS_SQL},
    'confirmations', cf.confirmations,
    'attachments', (SELECT coalesce(json_agg(json_build_object(
                      'id', a.id, 'sha256', a.sha256, 'content_type', a.content_type, 'size', a.size,
                      'uploaded_at', {rfc3339_sql("a.uploaded_at")}) ORDER BY a.uploaded_at, a.id), '[]'::json)
                    FROM registry_attachment a WHERE a.record_id = {x}.id),
    'versions', CASE WHEN {x}.version = 1 THEN json_build_array({_version_json(x, "cf.received_at")})
                ELSE (SELECT json_agg({_version_json("v", rfc3339_sql("v.received_at"))} ORDER BY v.version)
                      FROM registry_help_record v WHERE v.id = {x}.id) END
  )"""  # noqa: S608 - built from constants and the caller's alias
    join = f"""CROSS JOIN LATERAL (
    SELECT count(DISTINCT hc.party) FILTER (WHERE hc.party IN ({_PARTIES})) AS parties,
           coalesce(json_agg(json_build_object(
             'party', hc.party, 'signatory', hc.signatory, 'note', hc.note,
             'confirmed_at', {rfc3339_sql("hc.confirmed_at")}, 'confirmed_by', hc.confirmed_by)
             ORDER BY hc.confirmed_at, hc.party), '[]'::json) AS confirmations,
           {rfc3339_sql(f"{x}.received_at")} AS received_at
    FROM registry_help_confirmation hc WHERE hc.record_id = {x}.id) cf"""  # noqa: S608 - as above
    return expression, join

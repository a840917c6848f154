"""Phone download for cadres (issue #4): the paired households' cards and last help records, incrementally.

The change feed `registry_change` (one row per household change, written by triggers, migration reg0004) drives
the incremental sync. A download runs in one REPEATABLE READ, read-only transaction on the read pool: the cursor
it hands out (the highest `seq` visible) and the data it sends come from the same snapshot.

Identity values are assigned at INSERT and committed later, so a change with a *lower* seq than the cursor can
commit after the snapshot was taken (two writers racing). To never lose it, the cursor also carries the
snapshot's xmin (the oldest transaction still running) when some were running: the next download also
re-reads the changes written by transactions at or after that horizon (the row's `xmin`, which also covers
savepoints' sub-transactions). So delivery is *at least once*: a household may come twice, and the phone
replaces households by id.

Cursor: base64url of JSON {"v": 1, "seq": n, "x": xid horizon or null, "d": China date, "t": unix time}. It is
opaque to phones and not secret: a forged one can only make the server send more or less of the caller's own
households (scope is always checked here), so it is validated, not signed. A malformed one is 400; one older
than the retained feed or 90 days, or from the future (a restored database), yields a full sync.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request, Response

from services.registry.households.fast import card_statement
from shared.auth import PrincipalDep
from shared.problems import BadRequest, Forbidden
from shared.roles import Principal, Role

__all__ = [
    "CURSOR_MAX_AGE_DAYS",
    "SyncCursor",
    "decode_cursor",
    "download",
    "encode_cursor",
    "prune_changes",
    "router",
]

router = APIRouter(tags=["sync"])

#: A phone that has not synced for longer than this gets a full download (the feed may be pruned after it).
CURSOR_MAX_AGE_DAYS = 90
_CURSOR_VERSION = 1
_XID_WRAP = 1 << 32

# -- SQL -------------------------------------------------------------------------------------------------------
#: The snapshot's facts, read first: the cursor is taken before any data. `horizon` is the oldest running xid
#: (null when none ran); `today` is the China date that decides which pairings are active.
_HEAD_SQL = """
SELECT (SELECT id FROM registry_cadre WHERE user_sub = $1) AS cadre_id,
       (SELECT coalesce(max(seq), 0) FROM registry_change) AS max_seq,
       (SELECT min(seq) FROM registry_change) AS min_seq,
       CASE WHEN pg_snapshot_xmin(s) <> pg_snapshot_xmax(s) THEN pg_snapshot_xmin(s)::text::bigint END AS horizon,
       (now() AT TIME ZONE 'Asia/Shanghai')::date AS today,
       now() AS server_time
FROM (SELECT pg_current_snapshot() AS s) snap
"""

#: The households this cadre is actively paired with on day $2 (bitemporal: the current rows only).
_ACTIVE = """
SELECT DISTINCT p.household_id FROM registry_pairing p
WHERE p.cadre_id = $1 AND p.superseded_at IS NULL
  AND p.valid_from <= $2 AND (p.valid_to IS NULL OR p.valid_to > $2)
"""

#: A change row written at or after the cursor's xid horizon ($4), modulo xid wrap-around (32-bit `xmin`).
_AFTER_HORIZON = (
    f"(((ch.xmin::text::bigint - ($4::bigint % {_XID_WRAP}) + {_XID_WRAP}) % {_XID_WRAP}) < {_XID_WRAP // 2})"
)

_FULL_SQL = f"SELECT household_id, true AS active FROM ({_ACTIVE}) a"  # noqa: S608 - constant SQL

#: Incremental: $1 cadre, $2 today, $3 cursor seq, $4 cursor xid horizon (or null), $5 cursor day.
#: Active households with a change since the cursor (index registry_change(household_id, seq)), or whose pairing
#: started by date since the cursor's day; then households no longer active whose pairing with this cadre
#: changed (index registry_change(cadre_id, seq)) or ended by date since that day.
_INCREMENTAL_SQL = f"""
WITH active AS ({_ACTIVE})
SELECT a.household_id, true AS active FROM active a
WHERE EXISTS (SELECT 1 FROM registry_change ch WHERE ch.household_id = a.household_id AND ch.seq > $3)
   OR ($4::bigint IS NOT NULL AND EXISTS (
        SELECT 1 FROM registry_change ch WHERE ch.household_id = a.household_id AND {_AFTER_HORIZON}))
   OR EXISTS (SELECT 1 FROM registry_pairing p
              WHERE p.cadre_id = $1 AND p.household_id = a.household_id AND p.superseded_at IS NULL
                AND p.valid_from > $5 AND p.valid_from <= $2)
UNION
SELECT ch.household_id, false FROM registry_change ch
WHERE ch.cadre_id = $1 AND ch.kind = 'pairing'
  AND (ch.seq > $3 OR ($4::bigint IS NOT NULL AND {_AFTER_HORIZON}))
  AND ch.household_id NOT IN (SELECT household_id FROM active)
UNION
SELECT p.household_id, false FROM registry_pairing p
WHERE p.cadre_id = $1 AND p.superseded_at IS NULL AND p.valid_to > $5 AND p.valid_to <= $2
  AND p.household_id NOT IN (SELECT household_id FROM active)
"""  # noqa: S608 - constant SQL, parameters are bound


def _cards_for_many() -> str:
    """The card statement (households/fast.py) for every household of `$1` at once, with its id beside the card."""
    return card_statement("h.id = ANY($1::uuid[])", columns="::json AS card, h.id")


#: Cards and the last $2 help records (latest version of each, newest visit first, confirmations) of the
#: households $1, as one JSON array built by PostgreSQL. The records walk the (household_id, device_time) index
#: backwards and stop after $2 latest versions, however long a household's history is.
_CONTENT_SQL = f"""
SELECT coalesce(json_agg(json_build_object(
  'id', c.id, 'card', c.card, 'help_plan', p.plan, 'help_records', coalesce(r.records, '[]'::json))
  ORDER BY c.id), '[]'::json)::text
FROM ({_cards_for_many()}) c
LEFT JOIN LATERAL (
  SELECT json_build_object(
    'version', hp.version, 'year_from', hp.year_from, 'year_to', hp.year_to,
    'target_exit_year', hp.target_exit_year, 'items', hp.items,
    'acknowledged', EXISTS (SELECT 1 FROM registry_help_plan_ack k
                            WHERE k.household_id = hp.household_id AND k.version = hp.version),
    'progress', (SELECT coalesce(json_object_agg(q.item_id, json_build_object(
                   'percent', q.percent, 'completed_on', q.completed_on, 'recorded_at', q.recorded_at)), '{{}}'::json)
                 FROM (SELECT DISTINCT ON (item_id) * FROM registry_help_plan_progress
                       WHERE household_id = c.id ORDER BY item_id, id DESC) q)
  ) AS plan
  FROM registry_help_plan hp WHERE hp.household_id = c.id ORDER BY hp.version DESC LIMIT 1
) p ON true
LEFT JOIN LATERAL (
  SELECT json_agg(json_build_object(
    'id', x.id, 'version', x.version, 'household_id', x.household_id, 'cadre_id', x.cadre_id,
    'record_type', x.record_type, 'device_time', x.device_time, 'received_at', x.received_at,
    'device_id', x.device_id, 'place', x.place,
    'gps', CASE WHEN x.gps_lat IS NOT NULL THEN json_build_object('lat', x.gps_lat, 'lon', x.gps_lon) END,
    'content', x.content, 'money_yuan', (x.money_fen::numeric / 100)::numeric(14, 2)::text,
    'goods', x.goods, 'measures', x.measures,
    'flags', ARRAY(SELECT DISTINCT fl FROM unnest(x.flags || ARRAY(
               SELECT f.flag FROM registry_help_record_flag f WHERE f.record_id = x.id AND f.version = x.version
             )) fl ORDER BY fl),
    'correction_reason', x.correction_reason,
    'confirmation_status', CASE cf.parties WHEN 3 THEN 'confirmed' WHEN 0 THEN 'unconfirmed'
                           ELSE 'partially_confirmed' END,
    'confirmations', cf.confirmations,
    'attachments', (SELECT coalesce(json_agg(json_build_object(
                      'id', a.id, 'sha256', a.sha256, 'content_type', a.content_type, 'size', a.size)
                      ORDER BY a.uploaded_at, a.id), '[]'::json)
                    FROM registry_attachment a WHERE a.record_id = x.id)
  ) ORDER BY x.device_time DESC, x.received_at DESC, x.id) AS records
  FROM (SELECT hr.* FROM registry_help_record hr
        WHERE hr.household_id = c.id
          AND NOT EXISTS (SELECT 1 FROM registry_help_record n WHERE n.id = hr.id AND n.version > hr.version)
        ORDER BY hr.device_time DESC, hr.received_at DESC, hr.id LIMIT $2) x
  CROSS JOIN LATERAL (
    SELECT count(DISTINCT hc.party) FILTER (
             WHERE hc.party IN ('household_head', 'village_director', 'unit_responsible')) AS parties,
           coalesce(json_agg(json_build_object(
             'party', hc.party, 'confirmed_at', hc.confirmed_at, 'signatory', hc.signatory)
             ORDER BY hc.party), '[]'::json) AS confirmations
    FROM registry_help_confirmation hc WHERE hc.record_id = x.id) cf
) r ON true
"""  # noqa: S608 - constant SQL, parameters are bound


# -- cursor ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SyncCursor:
    """Where a phone's last download stopped (see the module docstring)."""

    seq: int
    horizon: int | None
    day: date
    issued_at: int


def encode_cursor(cursor: SyncCursor) -> str:
    raw = json.dumps(
        {
            "v": _CURSOR_VERSION,
            "seq": cursor.seq,
            "x": cursor.horizon,
            "d": cursor.day.isoformat(),
            "t": cursor.issued_at,
        },
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _non_negative_int(value: Any) -> int:
    if type(value) is not int or value < 0 or value >= 1 << 63:
        raise ValueError("not a non-negative 64-bit integer")
    return value


def decode_cursor(text: str) -> SyncCursor:
    """The cursor a download handed out; 400 when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION:
            raise ValueError("unknown cursor version")
        if set(data) != {"v", "seq", "x", "d", "t"}:
            raise ValueError("unexpected cursor fields")
        horizon = data["x"]
        if not isinstance(data["d"], str):
            raise ValueError("bad cursor day")
        return SyncCursor(
            seq=_non_negative_int(data["seq"]),
            horizon=None if horizon is None else _non_negative_int(horizon),
            day=date.fromisoformat(data["d"]),
            issued_at=_non_negative_int(data["t"]),
        )
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid sync cursor: {exc}; start over without a cursor") from exc


def _usable(cursor: SyncCursor, *, max_seq: int, min_seq: int | None, today: date, now: float) -> bool:
    """False when the cursor cannot be continued from and the phone needs a full download."""
    if cursor.seq > max_seq or cursor.day > today or cursor.issued_at > now + 300:
        return False  # from the future: another or a restored database
    if now - cursor.issued_at > CURSOR_MAX_AGE_DAYS * 86400:
        return False
    # Changes after the cursor were pruned from the feed.
    return not (min_seq is not None and cursor.seq < min_seq - 1)


# -- retention ---------------------------------------------------------------------------------------------------
_PRUNE_SQL = """
DELETE FROM registry_change WHERE seq IN (
  SELECT seq FROM registry_change WHERE at < $1 ORDER BY seq LIMIT $2)
"""
PRUNE_CHUNK = 10_000


async def prune_changes(pool: asyncpg.Pool, *, before: datetime) -> int:
    """Delete feed rows written before `before`, oldest first, in chunks (short transactions); how many.

    Safe at any time: a cursor from before the oldest row left gets a full download (`_usable`), and the
    service prunes only rows older than `CURSOR_MAX_AGE_DAYS` (such cursors get a full download anyway)."""
    removed = 0
    async with pool.acquire() as conn:
        while True:
            status = await conn.execute(_PRUNE_SQL, before, PRUNE_CHUNK)
            count = int(status.split()[-1])
            removed += count
            if count < PRUNE_CHUNK:
                return removed


# -- the download ------------------------------------------------------------------------------------------------
async def download(
    pool: asyncpg.Pool, principal: Principal, *, cursor_text: str | None, records: int
) -> bytes:
    """The download body as JSON bytes (built as text: the cards arrive from PostgreSQL already encoded)."""
    previous = decode_cursor(cursor_text) if cursor_text is not None else None
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        head = await conn.fetchrow(_HEAD_SQL, principal.sub)  # always one row
        if head is None:  # pragma: no cover
            raise RuntimeError("sync head query returned no row")
        server_time: datetime = head["server_time"]
        today: date = head["today"]
        full = previous is None or not _usable(
            previous,
            max_seq=head["max_seq"],
            min_seq=head["min_seq"],
            today=today,
            now=server_time.timestamp(),
        )
        changed: list[uuid.UUID] = []
        removed: list[uuid.UUID] = []
        cadre_id = head["cadre_id"]
        if cadre_id is not None:
            if full or previous is None:
                rows = await conn.fetch(_FULL_SQL, cadre_id, today)
            else:
                rows = await conn.fetch(
                    _INCREMENTAL_SQL, cadre_id, today, previous.seq, previous.horizon, previous.day
                )
            for row in rows:
                (changed if row["active"] else removed).append(row["household_id"])
        households = "[]"
        if changed:
            households = await conn.fetchval(_CONTENT_SQL, changed, records)
    cursor = SyncCursor(
        seq=head["max_seq"], horizon=head["horizon"], day=today, issued_at=int(server_time.timestamp())
    )
    body = (
        '{"cursor":'
        + json.dumps(encode_cursor(cursor))
        + ',"full":'
        + ("true" if full else "false")
        + ',"households":'
        + households
        + ',"removed":'
        + json.dumps(sorted(str(h) for h in set(removed)))
        + ',"server_time":'
        + json.dumps(server_time.isoformat())
        + "}"
    )
    return body.encode()


@router.get(
    "/sync/download",
    summary="Phone download: the caller's paired households (cards, last help records), incrementally",
    responses={
        200: {"description": "Households changed since the cursor (all of them when `full`), and removals"},
        400: {"description": "The cursor is not one this server issued"},
        403: {"description": "Only cadres download"},
    },
)
async def sync_download(
    request: Request,
    principal: PrincipalDep,
    cursor: Annotated[
        str | None, Query(max_length=512, description="The `cursor` of your last download; absent: full")
    ] = None,
    records: Annotated[int, Query(ge=1, le=100, description="Help records per household, newest first")] = 20,
) -> Response:
    """Households with an active pairing for the calling cadre; with a cursor, only what changed since."""
    if principal.role is not Role.cadre:
        raise Forbidden(f"role '{principal.role}' has no phone download; it is for cadres")
    started = time.perf_counter()
    body = await download(request.app.state.read_pool, principal, cursor_text=cursor, records=records)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Response(
        body,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "Server-Timing": f"db;dur={elapsed_ms:.1f}"},
    )

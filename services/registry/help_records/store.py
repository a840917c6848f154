"""Storing new help records set-wise: any number of records in three statements on one connection.

`store_new` is the one implementation behind a single POST (through `writer.RecordWriter`, which groups the
POSTs that arrive together into one transaction), the 500-record batch, and the session path that answers
retries. Per record it decides, from one context query: a retry of a stored id, the caller not an active
cadre (403 `not_a_cadre`), the household not paired with the cadre (404) or no longer (403
`pairing_not_active`); it computes the evidence flags (clock skew, far from household, impossible speed
against the cadre's stored records and the other records of the same call) and inserts every accepted record
in one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING`, in id order (two overlapping calls take
their row locks in the same order, so they cannot deadlock).

The caller decides the transaction: the batch and the session path call it inside theirs; the group-commit
writer calls it in autocommit, where the INSERT, the only write, is its own transaction.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.registry.help_records.schemas import HelpRecordCreate, HelpRecordFields
from shared.problems import AppError, Conflict, Forbidden, NotFound
from shared.roles import Principal

__all__ = [
    "CLOCK_SKEW_LIMIT",
    "FAR_FROM_HOUSEHOLD_KM",
    "MAX_SPEED_KMH",
    "RAISE_FLAGS_SQL",
    "SPEED_MIN_DISTANCE_KM",
    "NewRecord",
    "Outcome",
    "evidence_flags",
    "haversine_km",
    "neighbours",
    "record_values",
    "store_new",
    "too_fast",
]

# -- evidence thresholds: every one in one place --------------------------------------------------------------
#: Device time further than this from the server's receipt time is flagged `clock_skew` (invariant 31).
CLOCK_SKEW_LIMIT = timedelta(hours=24)
#: A visit whose GPS is further than this from the household's recorded location is `far_from_household`.
FAR_FROM_HOUSEHOLD_KM = 5.0
#: Faster than this between two households (by device time and GPS) is `impossible_speed`.
MAX_SPEED_KMH = 120.0
#: Below this distance two points count as the same place (GPS noise, neighbouring houses).
SPEED_MIN_DISTANCE_KM = 1.0
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def too_fast(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two GPS-stamped records at different households too far apart for the time between them."""
    distance = haversine_km(
        float(a["gps_lat"]), float(a["gps_lon"]), float(b["gps_lat"]), float(b["gps_lon"])
    )
    if distance <= SPEED_MIN_DISTANCE_KM:
        return False
    hours = abs((a["device_time"] - b["device_time"]).total_seconds()) / 3600
    return bool(hours == 0 or distance / hours > MAX_SPEED_KMH)


def evidence_flags(
    fields: HelpRecordFields,
    *,
    received_at: datetime,
    household: Mapping[str, Any],
    around: Iterable[Mapping[str, Any]],
) -> tuple[list[str], list[Mapping[str, Any]]]:
    """The review flags of one version, and the neighbours it makes an impossible trip with (they are flagged
    too). `around` are the cadre's GPS-stamped records nearest before and after it (household_id,
    device_time, gps_lat, gps_lon; id and version when stored)."""
    flags: list[str] = []
    if abs(received_at - fields.device_time) > CLOCK_SKEW_LIMIT:
        flags.append("clock_skew")
    if fields.gps_lat is None or fields.gps_lon is None:
        return flags, []
    if household["gps_lat"] is not None and household["gps_lon"] is not None:
        distance = haversine_km(
            float(fields.gps_lat),
            float(fields.gps_lon),
            float(household["gps_lat"]),
            float(household["gps_lon"]),
        )
        if distance > FAR_FROM_HOUSEHOLD_KM:
            flags.append("far_from_household")
    here = {"gps_lat": fields.gps_lat, "gps_lon": fields.gps_lon, "device_time": fields.device_time}
    trips = [n for n in around if n["household_id"] != household["id"] and too_fast(here, n)]
    if trips:
        flags.append("impossible_speed")
    return flags, trips


# -- SQL ----------------------------------------------------------------------------------------------------
#: Per record: the first version with its id (a retry?) and the newest version number, the caller's cadre row,
#: the household's location, and whether the cadre is (or ever was) paired with the household.
_CONTEXT_SQL = """
SELECT i.ord, r.payload_hash AS existing_hash, r.created_by AS existing_by,
       CASE WHEN r.id IS NOT NULL
            THEN (SELECT max(v.version) FROM registry_help_record v WHERE v.id = i.id) END AS latest_version,
       c.id AS cadre_id, c.active AS cadre_active,
       h.id AS household_id, h.gps_lat, h.gps_lon,
       EXISTS (SELECT 1 FROM registry_pairing p
               WHERE p.household_id = i.household_id AND p.cadre_id = c.id AND p.superseded_at IS NULL) AS ever,
       EXISTS (SELECT 1 FROM registry_pairing p
               WHERE p.household_id = i.household_id AND p.cadre_id = c.id AND p.superseded_at IS NULL
                 AND p.valid_from <= (now() AT TIME ZONE 'Asia/Shanghai')::date
                 AND (p.valid_to IS NULL OR p.valid_to > (now() AT TIME ZONE 'Asia/Shanghai')::date)) AS active
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS i(id, household_id, sub, ord)
LEFT JOIN registry_help_record r ON r.id = i.id AND r.version = 1
LEFT JOIN registry_cadre c ON c.user_sub = i.sub
LEFT JOIN registry_household h ON h.id = i.household_id
ORDER BY i.ord
"""
#: Per (cadre, record, time): the cadre's stored GPS-stamped records (newest versions, other ids) just before
#: and just after the time, for the speed check.
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
  SELECT f.record_id, f.version, 'impossible_speed', f.because_of, f.household_id
  FROM unnest(${_N + 1}::uuid[], ${_N + 2}::int[], ${_N + 3}::uuid[], ${_N + 4}::uuid[])
       AS f(record_id, version, because_of, household_id)
  WHERE f.because_of IN (SELECT id FROM ins)
  ON CONFLICT DO NOTHING)
SELECT id FROM ins
"""  # noqa: S608 - built from constants only
#: Flags raised by a correction (the SQLAlchemy path inserts the version itself).
RAISE_FLAGS_SQL = """
INSERT INTO registry_help_record_flag (record_id, version, flag, because_of, household_id)
SELECT f.record_id, f.version, 'impossible_speed', f.because_of, f.household_id
FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[]) AS f(record_id, version, because_of, household_id)
ON CONFLICT DO NOTHING
"""
_FIRST_VERSIONS_SQL = (
    "SELECT r.id, r.payload_hash, r.created_by,"
    " (SELECT max(v.version) FROM registry_help_record v WHERE v.id = r.id) AS latest_version"
    " FROM registry_help_record r WHERE r.id = ANY($1::uuid[]) AND r.version = 1"
)


# -- the records and their outcomes ------------------------------------------------------------------------------
@dataclass(slots=True)
class NewRecord:
    """A validated record to store, with who sent it and when the server received it."""

    payload: HelpRecordCreate
    principal: Principal
    received_at: datetime
    digest: str


@dataclass(slots=True)
class Outcome:
    """What became of one record: `created` (with the stored `values`), `present` (a retry of the same
    record: `version` is its newest), or `error` (the problem to answer with)."""

    kind: str
    values: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    error: AppError | None = None


def record_values(
    fields: HelpRecordFields,
    *,
    version: int,
    household_id: uuid.UUID,
    cadre_id: uuid.UUID,
    received_at: datetime,
    created_by: str,
) -> dict[str, Any]:
    """The stored columns of a version (without id, flags and payload hash)."""
    return {
        "version": version,
        "household_id": household_id,
        "cadre_id": cadre_id,
        "record_type": str(fields.record_type),
        "device_time": fields.device_time,
        "received_at": received_at,
        "device_id": fields.device_id,
        "place": fields.place,
        "gps_lat": fields.gps_lat,
        "gps_lon": fields.gps_lon,
        "content": fields.content,
        "money_fen": int(fields.money_yuan * 100),
        "goods": [g.model_dump(mode="json") for g in fields.goods],
        "measures": [m.model_dump(mode="json") for m in fields.measures],
        "created_by": created_by,
    }


def _same_record(
    existing_hash: str, existing_by: str, item: NewRecord, record_id: uuid.UUID
) -> AppError | None:
    if existing_hash == item.digest and existing_by == item.principal.sub:
        return None
    return Conflict(
        f"record id {record_id} is already used by a record with different content;"
        " generate a new UUID for a new record, or POST /help-records/{id}/versions to correct it",
        code="id_reused",
    )


async def neighbours(
    conn: Any, probes: Sequence[tuple[uuid.UUID, uuid.UUID, datetime]]
) -> list[list[dict[str, Any]]]:
    """For each (cadre id, record id, device time): the cadre's stored GPS records just before and after."""
    found: list[list[dict[str, Any]]] = [[] for _ in probes]
    if not probes:
        return found
    rows = await conn.fetch(
        _NEIGHBOURS_SQL, [p[0] for p in probes], [p[1] for p in probes], [p[2] for p in probes]
    )
    for row in rows:
        found[row["ord"] - 1].append(dict(row))
    return found


def _as_neighbour(p: HelpRecordCreate) -> dict[str, Any]:
    return {
        "household_id": p.household_id,
        "device_time": p.device_time,
        "gps_lat": p.gps_lat,
        "gps_lon": p.gps_lon,
    }


def _nearest(candidates: Iterable[Mapping[str, Any]], when: datetime) -> list[Mapping[str, Any]]:
    """The candidates nearest before and nearest after `when` (by device time)."""
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    for c in candidates:
        t = c["device_time"]
        if t <= when and (before is None or t > before["device_time"]):
            before = c
        if t >= when and (after is None or t < after["device_time"]):
            after = c
    return [c for c in (before, after) if c is not None]


async def store_new(conn: Any, items: Sequence[NewRecord]) -> list[Outcome]:
    """Store new records; one outcome per item, in order (in the caller's transaction, or in autocommit)."""
    context = await conn.fetch(
        _CONTEXT_SQL,
        [i.payload.id for i in items],
        [i.payload.household_id for i in items],
        [i.principal.sub for i in items],
    )
    outcomes: list[Outcome | None] = [None] * len(items)
    accepted: list[tuple[int, dict[str, Any]]] = []  # (index, context row)
    first_of: dict[uuid.UUID, int] = {}  # the first item with each id in this call
    for index, (item, row) in enumerate(zip(items, context, strict=True)):
        p = item.payload
        if row["existing_hash"] is not None:
            problem = _same_record(row["existing_hash"], row["existing_by"], item, p.id)
            outcomes[index] = (
                Outcome("present", version=row["latest_version"])
                if problem is None
                else Outcome("error", error=problem)
            )
        elif row["cadre_id"] is None or not row["cadre_active"]:
            outcomes[index] = Outcome(
                "error", error=Forbidden("this login is not an active helping cadre", code="not_a_cadre")
            )
        elif row["household_id"] is None or not row["ever"]:
            outcomes[index] = Outcome("error", error=NotFound(f"household {p.household_id} not found"))
        elif not row["active"]:
            outcomes[index] = Outcome(
                "error",
                error=Forbidden(
                    f"your pairing with household {p.household_id} is not active; past records stay readable",
                    code="pairing_not_active",
                ),
            )
        elif p.id in first_of:  # the same id twice in one call: the first one is stored
            first = items[first_of[p.id]]
            problem = _same_record(first.digest, first.principal.sub, item, p.id)
            outcomes[index] = (
                Outcome("present", version=1) if problem is None else Outcome("error", error=problem)
            )
        else:
            first_of[p.id] = index
            accepted.append((index, dict(row)))

    # Impossible speed: the stored neighbours and the other accepted GPS records of the same cadre in this call.
    located = [(i, row) for i, row in accepted if items[i].payload.gps_lat is not None]
    stored_around = await neighbours(
        conn, [(row["cadre_id"], items[i].payload.id, items[i].payload.device_time) for i, row in located]
    )
    # In this call, a record's nearest records in time of the same cadre are its neighbours in time order.
    by_cadre: dict[uuid.UUID, list[int]] = {}
    for i, row in sorted(located, key=lambda entry: items[entry[0]].payload.device_time):
        by_cadre.setdefault(row["cadre_id"], []).append(i)
    in_call: dict[int, list[Mapping[str, Any]]] = {}
    for ordered in by_cadre.values():
        for k, i in enumerate(ordered):
            in_call[i] = [
                _as_neighbour(items[j].payload) for j in (ordered[k - 1 : k] + ordered[k + 1 : k + 2])
            ]
    around = {
        i: _nearest([*stored, *in_call[i]], items[i].payload.device_time)
        for (i, _), stored in zip(located, stored_around, strict=True)
    }

    rows: list[dict[str, Any]] = []
    raised: list[tuple[uuid.UUID, int, uuid.UUID, uuid.UUID]] = []  # stored neighbour, version, by, household
    for i, row in accepted:
        item = items[i]
        values = record_values(
            item.payload,
            version=1,
            household_id=item.payload.household_id,
            cadre_id=row["cadre_id"],
            received_at=item.received_at,
            created_by=item.principal.sub,
        )
        household = {"id": row["household_id"], "gps_lat": row["gps_lat"], "gps_lon": row["gps_lon"]}
        flags, trips = evidence_flags(
            item.payload, received_at=item.received_at, household=household, around=around.get(i, ())
        )
        raised += [(n["id"], n["version"], item.payload.id, n["household_id"]) for n in trips if "id" in n]
        values |= {"id": item.payload.id, "flags": flags, "payload_hash": item.digest}
        outcomes[i] = Outcome("created", values=values)
        rows.append(values)
    if rows:
        inserted = {
            r["id"]
            for r in await conn.fetch(
                _INSERT_SQL,
                *(
                    [
                        ",".join(r[c])
                        if c == "flags"
                        else json.dumps(r[c], ensure_ascii=False)
                        if c in ("goods", "measures")
                        else r[c]
                        for r in rows
                    ]
                    for c, _ in _COLUMNS
                ),
                *([r[k] for r in raised] for k in range(4)),
            )
        }
        raced = [i for i, _ in accepted if items[i].payload.id not in inserted]
        if raced:  # a concurrent call stored the same id first: compare with what it stored
            first_versions = {
                r["id"]: r
                for r in await conn.fetch(_FIRST_VERSIONS_SQL, [items[i].payload.id for i in raced])
            }
            for i in raced:
                item = items[i]
                existing = first_versions[item.payload.id]
                problem = _same_record(
                    existing["payload_hash"], existing["created_by"], item, item.payload.id
                )
                outcomes[i] = (
                    Outcome("present", version=existing["latest_version"])
                    if problem is None
                    else Outcome("error", error=problem)
                )
    return [o for o in outcomes if o is not None]

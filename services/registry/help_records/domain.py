"""The help record card (帮扶记录卡): its rules, pure (DOMAIN.md §3.2; invariants 12, 30-32; issue #4).

Checkable line by line against the domain:

- A record comes from a helping cadre (帮扶干部, DOMAIN.md §1.2 A17) with an active pairing to the household
  (invariant 32): a past pairing leaves the records readable, never writable.
- The phone generates the record id, so a retry can be told from a new record: the same id with the same
  canonical content from the same login is the same record; another content under that id is refused
  (invariant 31: client UUIDs make mobile posting idempotent).
- Records are append-only; a correction is version n+1 by the record's own cadre (invariant 31). A signature
  confirms the content it saw, so a record with any signature takes no more corrections (409 `record_confirmed`).
- A card entry is `confirmed` only with all three signatures: household head (贫困户主), village director (村主任)
  and the helping unit's responsible person (帮扶单位责任人) (DOMAIN.md §3.2 [S 000], invariant 30).
- Evidence flags for review (W): the device clock more than 24 h from the server's receipt (invariant 31), a
  visit's GPS far from the household, an impossible speed between a cadre's neighbouring visits in time order,
  the same photo on records of different households.
- Photos: JPEG, PNG or WebP, checked by their bytes, at most 5 MiB each and 10 per record.

Time is passed in (`received_at`, the server's receipt from the app clock); nothing here reads a clock, a
database or the network.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from services.registry.help_plans.domain import Measure
from shared.errors import DomainError, Invalid, Missing, NotAllowed, Refused
from shared.labels import LabelledEnum, code_list
from shared.roles import Role

__all__ = [
    "ALL_PARTIES",
    "ATTACHMENT_TYPES",
    "CLOCK_SKEW_LIMIT",
    "CORRECTABLE",
    "EARTH_RADIUS_KM",
    "FAR_FROM_HOUSEHOLD_KM",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MAX_SPEED_KMH",
    "SIGNED",
    "SPEED_MIN_DISTANCE_KM",
    "Admission",
    "ArrivalFacts",
    "ConfirmationParty",
    "ConfirmationStatus",
    "Evidence",
    "EvidenceFlag",
    "Fix",
    "Location",
    "MeasureCode",
    "PhotoCarrier",
    "PhotoTooLarge",
    "PhotoTypeRefused",
    "RecordType",
    "admit",
    "assess",
    "call_neighbours",
    "check_cadre",
    "check_confirmer",
    "check_correctable",
    "check_corrector",
    "check_photo",
    "check_photo_count",
    "check_photographer",
    "check_recorder",
    "check_resign",
    "haversine_km",
    "may_confirm",
    "nearest",
    "photo_reuse",
    "same_record",
    "sniff",
    "status_of",
    "too_fast",
]


# -- vocabulary ---------------------------------------------------------------------------------------------
@code_list("help_record_type", "帮扶记录类型", "Help record type")
class RecordType(LabelledEnum):
    """帮扶记录类型: what kind of contact the entry records (DOMAIN.md §3.2)."""

    visit = "visit", "走访"
    condolence_visit = "condolence_visit", "走访慰问"  # holidays, hardship
    survey = "survey", "摸底调查"
    measure_delivery = "measure_delivery", "措施落实"
    policy_publicity = "policy_publicity", "政策宣传"
    training_referral = "training_referral", "培训推荐"
    emergency_visit = "emergency_visit", "突发事件走访"


#: The measure catalogue (帮扶措施) of DOMAIN.md §4.1: one code list with the help plans' items.
MeasureCode = Measure


@code_list("confirmation_party", "签字确认方", "Confirmation party")
class ConfirmationParty(LabelledEnum):
    """The three signatures of a record card (签字确认, DOMAIN.md §3.2 [S 000], invariant 30)."""

    household_head = "household_head", "贫困户户主", "Household head"
    village_director = "village_director", "村主任", "Village director"
    unit_responsible = "unit_responsible", "帮扶单位责任人", "Helping unit's responsible person"


#: All three must sign before an entry is `confirmed` (invariant 30).
ALL_PARTIES: frozenset[ConfirmationParty] = frozenset(ConfirmationParty)


@code_list("confirmation_status", "确认状态", "Confirmation status")
class ConfirmationStatus(LabelledEnum):
    """确认状态 of an entry, derived from its signatures (DOMAIN.md §3.2 `confirmation_status`)."""

    draft = "draft", "未签字", "Draft"  # no signature yet
    partially_confirmed = "partially_confirmed", "部分签字", "Partially confirmed"  # one or two of the three
    confirmed = "confirmed", "三方签字确认", "Confirmed"  # all three (invariant 30)


#: A record in these states may still be corrected: no signature confirms its content yet.
CORRECTABLE: frozenset[ConfirmationStatus] = frozenset({ConfirmationStatus.draft})
#: States with at least one signature.
SIGNED: frozenset[ConfirmationStatus] = frozenset(ConfirmationStatus) - CORRECTABLE


@code_list("evidence_flag", "佐证核查标记", "Evidence flag")
class EvidenceFlag(LabelledEnum):
    """Evidence checks that flag a record for review (W: the record is kept, an officer looks)."""

    # device time far from the server's receipt (invariant 31)
    clock_skew = "clock_skew", "设备时间异常", "Device clock skew"
    # the visit's GPS is far from the household's location
    far_from_household = "far_from_household", "定位远离农户", "Far from the household"
    # too fast between two neighbouring visits of the cadre
    impossible_speed = "impossible_speed", "行程速度异常", "Impossible speed"
    # the same photo on a record of another household
    photo_reused = "photo_reused", "照片重复使用", "Photo reused"


# -- who records --------------------------------------------------------------------------------------------
def check_recorder(role: Role) -> None:
    """Records come from helping cadres (A17 fills the record card); other roles read them."""
    if role is not Role.cadre:
        raise NotAllowed(
            "role_may_not_record",
            f"role '{role}' may not record help; records come from cadres",
            role=str(role),
        )


def check_cadre(found: bool, active: bool) -> None:
    """The login must belong to an active helping cadre of the registry."""
    if not (found and active):
        raise NotAllowed("not_a_cadre", "this login is not an active helping cadre")


# -- a record arrives ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Location:
    """A point by GPS (WGS-84 degrees)."""

    lat: Decimal
    lon: Decimal


@dataclass(frozen=True, slots=True)
class ArrivalFacts:
    """What the registry knows about an arriving record, gathered in one query per batch.

    `existing_*`: the stored first version under the record's id (a retry, or a reused id); `cadre_*`: the
    caller's cadre row; `household_found` and `home`: the household and its recorded location; `ever_paired` /
    `active_pairing`: the cadre's pairing with it, ever and on the day the record arrived (China date).
    """

    existing_hash: str | None
    existing_by: str | None
    latest_version: int | None
    cadre_id: uuid.UUID | None
    cadre_active: bool
    household_found: bool
    home: Location | None
    ever_paired: bool
    active_pairing: bool


@dataclass(frozen=True, slots=True)
class Admission:
    """What becomes of an arriving record: stored (`accept`), answered as the retry of a stored one
    (`present_version`, its newest version), or refused by a rule (`refusal`)."""

    accept: bool = False
    present_version: int | None = None
    refusal: DomainError | None = None


def same_record(
    existing_hash: str, existing_by: str, *, digest: str, sub: str, record_id: uuid.UUID
) -> DomainError | None:
    """None when the record under `record_id` is the one arriving again (same content, same login); else the
    refusal `id_reused` (invariant 31: the client UUID names one record)."""
    if existing_hash == digest and existing_by == sub:
        return None
    return Refused(
        "id_reused",
        f"record id {record_id} is already used by a record with different content;"
        " generate a new UUID for a new record, or POST /help-records/{id}/versions to correct it",
    )


def admit(
    facts: ArrivalFacts, *, record_id: uuid.UUID, household_id: uuid.UUID, digest: str, sub: str
) -> Admission:
    """Decide an arriving record from its facts, in the order a client can act on: a retry first, then who is
    sending, then for which household (out of scope answers like missing: 404), then the pairing's dates."""
    if facts.existing_hash is not None and facts.existing_by is not None:
        problem = same_record(
            facts.existing_hash, facts.existing_by, digest=digest, sub=sub, record_id=record_id
        )
        if problem is None:
            return Admission(present_version=facts.latest_version)
        return Admission(refusal=problem)
    if facts.cadre_id is None or not facts.cadre_active:
        return Admission(refusal=NotAllowed("not_a_cadre", "this login is not an active helping cadre"))
    if not facts.household_found or not facts.ever_paired:
        return Admission(refusal=Missing("not_found", f"household {household_id} not found"))
    if not facts.active_pairing:
        return Admission(
            refusal=NotAllowed(
                "pairing_not_active",
                f"your pairing with household {household_id} is not active; past records stay readable",
            )
        )
    return Admission(accept=True)


# -- evidence -----------------------------------------------------------------------------------------------
#: Device time further than this from the server's receipt time is flagged `clock_skew` (invariant 31).
CLOCK_SKEW_LIMIT = timedelta(hours=24)
#: A visit whose GPS is further than this from the household's recorded location is `far_from_household`.
FAR_FROM_HOUSEHOLD_KM = 5.0
#: Faster than this between two households (by device time and GPS) is `impossible_speed`.
MAX_SPEED_KMH = 120.0
#: Below this distance two points count as the same place (GPS noise, neighbouring houses).
SPEED_MIN_DISTANCE_KM = 1.0
#: The mean Earth radius (IUGG), for great-circle distances.
EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _km(a: Location, b: Location) -> float:
    return haversine_km(float(a.lat), float(a.lon), float(b.lat), float(b.lon))


@dataclass(frozen=True, slots=True)
class Fix:
    """A GPS-stamped visit of a cadre: at which household, when (device time) and where. A stored visit also
    names its record and version (a flag can be raised on it); one arriving in the same call does not."""

    household_id: uuid.UUID
    at: datetime
    where: Location
    record_id: uuid.UUID | None = None
    version: int | None = None


def too_fast(a: Fix, b: Fix) -> bool:
    """Two visits too far apart for the time between them (more than `MAX_SPEED_KMH`); points closer than
    `SPEED_MIN_DISTANCE_KM` are the same place whatever the time."""
    distance = _km(a.where, b.where)
    if distance <= SPEED_MIN_DISTANCE_KM:
        return False
    hours = abs((a.at - b.at).total_seconds()) / 3600
    return hours == 0 or distance / hours > MAX_SPEED_KMH


def nearest(candidates: Iterable[Fix], when: datetime) -> list[Fix]:
    """The candidates nearest before and nearest after `when` (by device time; on a tie the first listed)."""
    before: Fix | None = None
    after: Fix | None = None
    for c in candidates:
        if c.at <= when and (before is None or c.at > before.at):
            before = c
        if c.at >= when and (after is None or c.at < after.at):
            after = c
    return [c for c in (before, after) if c is not None]


def call_neighbours(cadres: Sequence[uuid.UUID], fixes: Sequence[Fix]) -> list[list[Fix]]:
    """For each visit of one call (its cadre in `cadres`), the same cadre's visits of the call just before and
    just after it in time order: a trip is between neighbours, so a 500-visit batch costs 2 checks a visit,
    not 500."""
    by_cadre: dict[uuid.UUID, list[int]] = {}
    for i in sorted(range(len(fixes)), key=lambda k: fixes[k].at):
        by_cadre.setdefault(cadres[i], []).append(i)
    around: list[list[Fix]] = [[] for _ in fixes]
    for ordered in by_cadre.values():
        for k, i in enumerate(ordered):
            around[i] = [fixes[j] for j in (ordered[k - 1 : k] + ordered[k + 1 : k + 2])]
    return around


@dataclass(frozen=True, slots=True)
class Evidence:
    """The review flags of one version, and the stored or arriving visits it makes an impossible trip with
    (both ends of a trip are flagged, whichever arrived first)."""

    flags: tuple[EvidenceFlag, ...]
    trips: tuple[Fix, ...] = ()


def assess(
    *,
    device_time: datetime,
    received_at: datetime,
    fix: Fix | None,
    home: Location | None,
    around: Iterable[Fix] = (),
    photo_reused: bool = False,
) -> Evidence:
    """The evidence flags of a version: `fix` is its GPS visit (None without GPS), `home` the household's
    recorded location, `around` the cadre's visits nearest before and after it."""
    flags: list[EvidenceFlag] = []
    if abs(received_at - device_time) > CLOCK_SKEW_LIMIT:
        flags.append(EvidenceFlag.clock_skew)
    trips: tuple[Fix, ...] = ()
    if fix is not None:
        if home is not None and _km(fix.where, home) > FAR_FROM_HOUSEHOLD_KM:
            flags.append(EvidenceFlag.far_from_household)
        trips = tuple(n for n in around if n.household_id != fix.household_id and too_fast(fix, n))
        if trips:
            flags.append(EvidenceFlag.impossible_speed)
    if photo_reused:
        flags.append(EvidenceFlag.photo_reused)
    return Evidence(tuple(flags), trips)


@dataclass(frozen=True, slots=True)
class PhotoCarrier:
    """A record (its newest version) carrying a given photo, and the household it is about."""

    record_id: uuid.UUID
    version: int
    household_id: uuid.UUID


def photo_reuse(
    carriers: Collection[PhotoCarrier], *, uploaded_to: uuid.UUID
) -> list[tuple[PhotoCarrier, uuid.UUID]]:
    """The records a photo flags `photo_reused`, each with the record that flags it: once the same photo (by its
    sha256) is on records of two or more households, every record carrying it is flagged. The same household's
    records may share a photo (two visits, one document). `uploaded_to` is the record the photo was just
    attached to: it flags the others, and the first record of another household flags it."""
    if len({c.household_id for c in carriers}) < 2:
        return []
    mine = next((c.household_id for c in carriers if c.record_id == uploaded_to), None)
    other = next((c.record_id for c in carriers if c.household_id != mine), uploaded_to)
    flagged = sorted(carriers, key=lambda c: (str(c.record_id), c.version))
    return [(c, other if c.record_id == uploaded_to else uploaded_to) for c in flagged]


# -- photos -------------------------------------------------------------------------------------------------
#: The photo formats a phone may attach (checked by the bytes, not only the declared type).
ATTACHMENT_TYPES: frozenset[str] = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 10


class PhotoTypeRefused(Invalid):
    """The photo is not one of `ATTACHMENT_TYPES`, or its bytes are not what its type says (HTTP 415)."""


class PhotoTooLarge(Invalid):
    """The photo is larger than `MAX_ATTACHMENT_BYTES` (HTTP 413)."""


def sniff(data: bytes) -> str | None:
    """The image type the bytes start with (magic numbers), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(content_type: str, data: bytes) -> None:
    """A photo is accepted when its declared type is allowed, its size within the limit, and its bytes are
    what the type says."""
    if content_type not in ATTACHMENT_TYPES:
        raise PhotoTypeRefused(
            "photo_type", f"photos must be one of {', '.join(sorted(ATTACHMENT_TYPES))}, not '{content_type}'"
        )
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise PhotoTooLarge("photo_too_large", f"a photo is limited to {MAX_ATTACHMENT_BYTES} bytes")
    if not data:
        raise Invalid("empty_attachment", "the photo is empty")
    if sniff(data) != content_type:
        raise PhotoTypeRefused("photo_type", f"the bytes are not a {content_type} image")


def check_photo_count(stored: int) -> None:
    """A record holds at most `MAX_ATTACHMENTS` photos."""
    if stored >= MAX_ATTACHMENTS:
        raise Invalid("too_many_attachments", f"a record holds at most {MAX_ATTACHMENTS} photos")


def check_photographer(record_cadre: uuid.UUID, me: uuid.UUID) -> None:
    """Only the cadre who made the record adds its photos."""
    if record_cadre != me:
        raise NotAllowed("not_the_recorder", "only the cadre who made the record adds its photos")


# -- confirmations (签字确认) ---------------------------------------------------------------------------------
_PARTY_VALUES = frozenset(p.value for p in ConfirmationParty)


def status_of(parties: Collection[ConfirmationParty | str]) -> ConfirmationStatus:
    """Invariant 30: confirmed only with all three signatures; draft with none."""
    signed = {ConfirmationParty(p) for p in parties if p in _PARTY_VALUES}
    if signed >= ALL_PARTIES:
        return ConfirmationStatus.confirmed
    return ConfirmationStatus.partially_confirmed if signed else ConfirmationStatus.draft


#: Who records the helping unit's signature besides the record's own cadre.
_UNIT_OFFICERS = frozenset({Role.township_officer, Role.county_admin})


def may_confirm(party: ConfirmationParty, role: Role, *, own_record: bool) -> bool:
    """Who records which signature: the household head's on the phone of the record's cadre; the village
    director's by a village officer of the household's village (scope is the caller's region); the helping
    unit's by a township or county officer, or by the record's cadre."""
    own = role is Role.cadre and own_record
    if party is ConfirmationParty.household_head:
        return own
    if party is ConfirmationParty.village_director:
        return role is Role.village_officer
    return own or role in _UNIT_OFFICERS


def check_confirmer(party: ConfirmationParty, role: Role, *, own_record: bool) -> None:
    if not may_confirm(party, role, own_record=own_record):
        raise NotAllowed(
            "may_not_confirm", f"role '{role}' may not record the {party} signature", party=str(party)
        )


def check_resign(
    party: ConfirmationParty, *, stored: tuple[str, str | None], given: tuple[str, str | None]
) -> None:
    """A party signs once: the same signature again is a no-op; another one is refused (`already_confirmed`)."""
    if stored != given:
        raise Refused("already_confirmed", f"{party} already confirmed this record (signed by {stored[0]})")


# -- corrections --------------------------------------------------------------------------------------------
def check_corrector(record_cadre: uuid.UUID, me: uuid.UUID) -> None:
    """Only the cadre who made the record corrects it (invariant 31: edits create versions, by their author)."""
    if record_cadre != me:
        raise NotAllowed("not_the_recorder", "only the cadre who made the record corrects it")


def check_correctable(status: ConfirmationStatus) -> None:
    """A signed record cannot be corrected: a signature confirms the content it saw (invariant 30)."""
    if status not in CORRECTABLE:
        raise Refused(
            "record_confirmed",
            "the record has been signed; a signature confirms the content it saw, so it takes no corrections",
        )

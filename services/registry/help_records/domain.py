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
- Evidence flags for review (W): `clock_skew` (issue #13 item 14) when the phone's clock is off (the offset
  server_now - `X-Device-Time` at sending beyond `CLOCK_OFFSET_LIMIT`) or the record's device time, corrected by
  that offset, lies in the future; without the header, only a device time more than `FALLBACK_FUTURE` ahead or
  `FALLBACK_PAST` behind the receipt. A `clock_skew` record does not count as a visit (`UNCOUNTED_FLAGS`). A
  visit's GPS far from the household, an impossible speed between a cadre's neighbouring visits in time order,
  the same photo on records of different households.
- Signatures (issue #13 item 10): each party's signature comes from a principal that can be that party: the
  household head's as the head's own act, a captured signature image attached to the record (never the
  cadre's login); the village director's by a village officer of the household's village; the helping unit's
  by the unit's responsible login when the unit has one (`registry_helping_unit.responsible_sub`, reg0014: then
  only that principal, whatever its role), else by a township or county officer (the fallback). One principal,
  and one signatory name, signs at most one party of a record (409 `signer_already_signed`).
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
    "CLOCK_OFFSET_LIMIT",
    "CLOCK_SKEW_LIMIT",
    "CORRECTABLE",
    "EARTH_RADIUS_KM",
    "FALLBACK_FUTURE",
    "FALLBACK_PAST",
    "FAR_FROM_HOUSEHOLD_KM",
    "FLAG_REVIEWERS",
    "FUTURE_TOLERANCE",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "MAX_SPEED_KMH",
    "SIGNED",
    "SPEED_MIN_DISTANCE_KM",
    "UNCOUNTED_FLAGS",
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
    "ReviewOutcome",
    "admit",
    "assess",
    "call_neighbours",
    "check_cadre",
    "check_confirmer",
    "check_correctable",
    "check_corrector",
    "check_distinct_signer",
    "check_head_evidence",
    "check_photo",
    "check_photo_count",
    "check_photographer",
    "check_recorder",
    "check_resign",
    "check_review",
    "clock_skewed",
    "haversine_km",
    "head_principal",
    "id_reused",
    "may_confirm",
    "nearest",
    "photo_reuse",
    "same_record",
    "signer_of",
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

    # the phone's clock is off, or the corrected device time is in the future (invariant 31, issue #13)
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
    #: The refusal is for an id another login's record holds (the service audits it).
    collision: bool = False


def same_record(
    existing_hash: str, existing_by: str, *, digest: str, sub: str, record_id: uuid.UUID
) -> DomainError | None:
    """None when the record under `record_id` is the one arriving again (same content, same login); else the
    refusal `id_reused` (invariant 31: the client UUID names one record). The refusal is the same whoever holds
    the id — the caller's own record with other content, or another cadre's (issue #14 item 9) — and names
    nothing of the stored record."""
    if existing_hash == digest and existing_by == sub:
        return None
    return id_reused(record_id)


def id_reused(record_id: uuid.UUID) -> DomainError:
    """The one answer to an id already taken, whoever took it (409 `id_reused`)."""
    return Refused(
        "id_reused",
        f"record id {record_id} cannot be used for this record; generate a new UUID for a new record,"
        " or POST /help-records/{id}/versions to correct a record of your own",
    )


def admit(
    facts: ArrivalFacts, *, record_id: uuid.UUID, household_id: uuid.UUID, digest: str, sub: str
) -> Admission:
    """Decide an arriving record from its facts, in the order a client can act on: a retry first, then who is
    sending, then for which household (out of scope answers like missing: 404), then the pairing's dates.

    An id held by another login's record (issue #14 item 9) is judged last, like a fresh id: the caller gets the
    answers a fresh id would get (403 not a cadre, 404 household out of scope, 403 pairing not active) and only a
    record that would otherwise be stored is refused, with the same `id_reused` the caller's own reused id gets.
    Such an answer is a `collision` (the service audits it): it tells a caller only that an id it already holds
    is taken, never whose, for which household, or what the record says."""
    collision = False
    if facts.existing_hash is not None and facts.existing_by is not None:
        if facts.existing_by == sub:
            problem = same_record(
                facts.existing_hash, facts.existing_by, digest=digest, sub=sub, record_id=record_id
            )
            if problem is None:
                return Admission(present_version=facts.latest_version)
            return Admission(refusal=problem)
        collision = True
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
    if collision:
        return Admission(refusal=id_reused(record_id), collision=True)
    return Admission(accept=True)


# -- evidence -----------------------------------------------------------------------------------------------
#: The phone's clock further than this from the server's (offset = server now - `X-Device-Time` when it sent)
#: flags every record of that request `clock_skew`: a clock that wrong is not trusted to date a visit.
CLOCK_OFFSET_LIMIT = timedelta(minutes=15)
#: A corrected device time later than the server's receipt by more than this is in the future: `clock_skew`.
FUTURE_TOLERANCE = timedelta(minutes=5)
#: Without `X-Device-Time` (older apps) the offset is unknown: a device time more than `FALLBACK_FUTURE` after
#: the receipt, or more than `FALLBACK_PAST` before it (longer than a phone is plausibly offline), is flagged.
FALLBACK_FUTURE = timedelta(hours=1)
FALLBACK_PAST = timedelta(days=30)
#: Kept for callers of the old name: the offset limit.
CLOCK_SKEW_LIMIT = CLOCK_OFFSET_LIMIT
#: A visit whose GPS is further than this from the household's recorded location is `far_from_household`.
FAR_FROM_HOUSEHOLD_KM = 5.0
#: Faster than this between two households (by device time and GPS) is `impossible_speed`.
MAX_SPEED_KMH = 120.0
#: Below this distance two points count as the same place (GPS noise, neighbouring houses).
SPEED_MIN_DISTANCE_KM = 1.0
#: The mean Earth radius (IUGG), for great-circle distances.
EARTH_RADIUS_KM = 6371.0088


#: A record carrying one of these flags is not counted as a visit (visit frequency, figures) until reviewed.
UNCOUNTED_FLAGS: frozenset[EvidenceFlag] = frozenset({EvidenceFlag.clock_skew})


class ReviewOutcome(LabelledEnum):
    """An officer's decision on a flag (issue #13 item 14): `accepted` — what the flag doubts is right (the date
    of a `clock_skew` record is true: it counts as a visit again); `rejected` — it is not (it stays uncounted)."""

    accepted = "accepted", "核实无误", "Accepted"
    rejected = "rejected", "核实有误", "Rejected"


#: Who reviews flags: the officers who supervise cadres' visits (township and county), never the cadre.
FLAG_REVIEWERS: frozenset[Role] = frozenset({Role.township_officer, Role.county_admin})


def check_review(role: Role, flags: Sequence[str], flag: str, already: bool) -> None:
    """A review of `flag` on a version carrying `flags`: by a township officer or county administrator (403
    `flag_reviewer_required`), of a flag the version carries (409 `flag_not_raised`), once (409
    `already_reviewed`)."""
    if role not in FLAG_REVIEWERS:
        raise NotAllowed("flag_reviewer_required", "township officers and county administrators review flags")
    if flag not in flags:
        raise Refused("flag_not_raised", f"this version of the record carries no {flag} flag")
    if already:
        raise Refused("already_reviewed", f"the {flag} flag of this version was reviewed already")


def clock_skewed(device_time: datetime, received_at: datetime, sent_at: datetime | None) -> bool:
    """Whether a record's device time is not to be trusted (issue #13 item 14).

    With `sent_at` (the phone's clock when it sent the request, header `X-Device-Time`): offset = received_at -
    sent_at; flagged when |offset| > `CLOCK_OFFSET_LIMIT`, or when device_time + offset (the visit's time by the
    server's clock) is more than `FUTURE_TOLERANCE` after the receipt. A phone honestly offline for days, with a
    correct clock, is not flagged. Without it: flagged when device_time is more than `FALLBACK_FUTURE` ahead of
    the receipt or `FALLBACK_PAST` behind it."""
    if sent_at is None:
        return device_time - received_at > FALLBACK_FUTURE or received_at - device_time > FALLBACK_PAST
    offset = received_at - sent_at
    if abs(offset) > CLOCK_OFFSET_LIMIT:
        return True
    return device_time + offset - received_at > FUTURE_TOLERANCE


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
    sent_at: datetime | None = None,
    fix: Fix | None,
    home: Location | None,
    around: Iterable[Fix] = (),
    photo_reused: bool = False,
) -> Evidence:
    """The evidence flags of a version: `fix` is its GPS visit (None without GPS), `home` the household's
    recorded location, `around` the cadre's visits nearest before and after it, `sent_at` the phone's clock when
    it sent the request (`X-Device-Time`; None without the header)."""
    flags: list[EvidenceFlag] = []
    if clock_skewed(device_time, received_at, sent_at):
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


#: Who records the helping unit's responsible person's signature (帮扶单位责任人) when the unit has no linked
#: responsible login (`registry_helping_unit.responsible_sub`): a township or county officer whose scope holds
#: the household, and never the record's own cadre (issue #13 item 10). With a linked login, only that login.
_UNIT_OFFICERS = frozenset({Role.township_officer, Role.county_admin})
#: The principal of a household head's signature: the captured signature image (never the cadre's login).
_HEAD_PRINCIPAL = "signature:"


def may_confirm(
    party: ConfirmationParty,
    role: Role,
    *,
    own_record: bool,
    own_village: bool = False,
    unit_linked: bool = False,
    unit_responsible: bool = False,
) -> bool:
    """Who records which signature: the household head's on the phone of the record's cadre, as the head's act
    (with a captured signature image: `check_head_evidence`); the village director's by a village officer of
    the household's own village (`own_village`: the caller's region is the household's village); the helping
    unit's by the unit's linked responsible login (`unit_linked`: the unit has one; `unit_responsible`: the
    caller is it), or, when the unit has none, by a township or county officer."""
    if party is ConfirmationParty.household_head:
        return role is Role.cadre and own_record
    if party is ConfirmationParty.village_director:
        return role is Role.village_officer and own_village
    if unit_linked or unit_responsible:
        return unit_responsible
    return role in _UNIT_OFFICERS


def check_confirmer(
    party: ConfirmationParty,
    role: Role,
    *,
    own_record: bool,
    own_village: bool = False,
    unit_linked: bool = False,
    unit_responsible: bool = False,
) -> None:
    if not may_confirm(
        party,
        role,
        own_record=own_record,
        own_village=own_village,
        unit_linked=unit_linked,
        unit_responsible=unit_responsible,
    ):
        raise NotAllowed(
            "may_not_confirm", f"role '{role}' may not record the {party} signature", party=str(party)
        )


def head_principal(attachment_id: uuid.UUID) -> str:
    """`confirmed_by` of a household head's signature: the signature image it was given with."""
    return f"{_HEAD_PRINCIPAL}{attachment_id}"


def check_head_evidence(
    party: ConfirmationParty, evidence: uuid.UUID | None, attachments: Collection[uuid.UUID]
) -> None:
    """The household head signs with a signature image the phone captured and attached to the record (a photo of
    the head's handwritten signature); `evidence` is that attachment's id."""
    if party is not ConfirmationParty.household_head:
        return
    if evidence is None:
        raise Invalid(
            "signature_evidence_required",
            "the household head signs with a captured signature image: attach it to the record, then send its"
            " id as signature_attachment_id",
        )
    if evidence not in attachments:
        raise Invalid(
            "signature_evidence_unknown",
            f"attachment {evidence} is not a photo of this record",
            attachment_id=str(evidence),
        )


def signer_of(party: ConfirmationParty, sub: str, evidence: uuid.UUID | None) -> str:
    """The principal a signature is recorded as: the caller's login, or for the household head the signature
    image (the head's act, not the cadre's)."""
    if party is ConfirmationParty.household_head and evidence is not None:
        return head_principal(evidence)
    return sub


def check_distinct_signer(
    party: ConfirmationParty, *, signer: str, signatory: str, signed: Iterable[tuple[str, str, str]]
) -> None:
    """The three parties are three people: a principal (login or signature image), or a signatory name, that
    signed one party of the record signs no other (409 `signer_already_signed`). `signed`: (party,
    confirmed_by, signatory) of the record's signatures."""
    name = signatory.strip()
    for other, by, who in signed:
        if other == party.value:
            continue
        if by == signer or who.strip() == name:
            raise Refused(
                "signer_already_signed",
                f"{signatory} already signed this record as {other}; the three parties are different people",
                party=other,
            )


def check_resign(
    party: ConfirmationParty, *, stored: tuple[str | None, ...], given: tuple[str | None, ...]
) -> None:
    """A party signs once: the same signature again (same signatory, note and principal) is a no-op; another
    one is refused (`already_confirmed`)."""
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

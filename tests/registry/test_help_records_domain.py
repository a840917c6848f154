"""The help record card's rules (services/registry/help_records/domain.py), with no database.

DOMAIN.md §3.2 and invariants 30-32: who records, retries and reused ids, the three signatures, corrections,
evidence flags (clock skew, far from household, impossible speed, reused photos) and photo limits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.registry.help_records import domain
from services.registry.help_records.domain import (
    ALL_PARTIES,
    CORRECTABLE,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    SIGNED,
    ArrivalFacts,
    ConfirmationParty,
    ConfirmationStatus,
    EvidenceFlag,
    Fix,
    Location,
    PhotoCarrier,
)
from shared.errors import DomainError, Invalid, Missing, NotAllowed, Refused
from shared.roles import Role

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
#: 旧州村, roughly.
HOME = Location(Decimal("23.134000"), Decimal("106.417000"))
#: About 100 km north of HOME.
NORTH = Location(Decimal("24.034000"), Decimal("106.417000"))
A, B = uuid.uuid4(), uuid.uuid4()  # two households


def fix(household: uuid.UUID, where: Location, minutes: float, **stored: uuid.UUID | int) -> Fix:
    return Fix(household_id=household, at=T0 + timedelta(minutes=minutes), where=where, **stored)  # type: ignore[arg-type]


def facts(**overrides: object) -> ArrivalFacts:
    values: dict[str, object] = {
        "existing_hash": None,
        "existing_by": None,
        "latest_version": None,
        "cadre_id": uuid.uuid4(),
        "cadre_active": True,
        "household_found": True,
        "home": HOME,
        "ever_paired": True,
        "active_pairing": True,
    }
    values.update(overrides)
    return ArrivalFacts(**values)  # type: ignore[arg-type]


def admit(f: ArrivalFacts, *, digest: str = "h1", sub: str = "me") -> domain.Admission:
    return domain.admit(f, record_id=uuid.uuid4(), household_id=A, digest=digest, sub=sub)


def code_of(error: DomainError | None) -> str | None:
    return None if error is None else error.code


# -- who records -------------------------------------------------------------------------------------------------
class TestRecorder:
    def test_only_cadres_record(self) -> None:
        domain.check_recorder(Role.cadre)
        for role in Role:
            if role is not Role.cadre:
                with pytest.raises(NotAllowed):
                    domain.check_recorder(role)

    def test_the_cadre_must_be_active(self) -> None:
        domain.check_cadre(True, True)
        for found, active in ((False, False), (True, False)):
            with pytest.raises(NotAllowed) as caught:
                domain.check_cadre(found, active)
            assert caught.value.code == "not_a_cadre"


# -- arriving records -----------------------------------------------------------------------------------------
class TestAdmit:
    def test_a_new_record_is_accepted(self) -> None:
        assert admit(facts()) == domain.Admission(accept=True)

    def test_a_retry_is_the_stored_record(self) -> None:
        stored = facts(existing_hash="h1", existing_by="me", latest_version=3)
        assert admit(stored) == domain.Admission(present_version=3)

    @pytest.mark.parametrize(("digest", "sub"), [("other", "me"), ("h1", "someone else")])
    def test_the_same_id_with_other_content_is_refused(self, digest: str, sub: str) -> None:
        answer = admit(facts(existing_hash="h1", existing_by="me", latest_version=1), digest=digest, sub=sub)
        assert isinstance(answer.refusal, Refused) and answer.refusal.code == "id_reused"

    def test_another_logins_id_is_judged_like_a_fresh_one_first(self) -> None:
        """Issue #14 item 9: for an id another login's record holds, the caller gets what a fresh id would get
        (not a cadre, household out of scope, pairing ended); only a record that would be stored is refused,
        with the same `id_reused`, marked as a collision (audited)."""
        theirs = {"existing_hash": "h1", "existing_by": "someone else", "latest_version": 1}
        assert isinstance(admit(facts(**theirs, ever_paired=False)).refusal, Missing)
        assert code_of(admit(facts(**theirs, active_pairing=False)).refusal) == "pairing_not_active"
        answer = admit(facts(**theirs))
        assert answer.collision and code_of(answer.refusal) == "id_reused"
        own = admit(facts(existing_hash="h1", existing_by="me", latest_version=1), digest="other", sub="me")
        assert not own.collision and code_of(own.refusal) == "id_reused"

    def test_a_retry_wins_over_later_changes(self) -> None:
        """A stored record is answered as stored even if the pairing ended since (the phone just retries)."""
        stored = facts(existing_hash="h1", existing_by="me", latest_version=1, active_pairing=False)
        assert admit(stored).present_version == 1

    def test_not_a_cadre(self) -> None:
        for f in (facts(cadre_id=None, cadre_active=False), facts(cadre_active=False)):
            refusal = admit(f).refusal
            assert isinstance(refusal, NotAllowed) and refusal.code == "not_a_cadre"

    def test_out_of_scope_is_missing(self) -> None:
        for f in (facts(household_found=False, ever_paired=False), facts(ever_paired=False)):
            assert isinstance(admit(f).refusal, Missing)

    def test_an_ended_pairing_refuses_new_records(self) -> None:
        refusal = admit(facts(active_pairing=False)).refusal
        assert isinstance(refusal, NotAllowed) and refusal.code == "pairing_not_active"

    def test_same_record(self) -> None:
        rid = uuid.uuid4()
        assert domain.same_record("h", "me", digest="h", sub="me", record_id=rid) is None
        assert code_of(domain.same_record("h", "me", digest="x", sub="me", record_id=rid)) == "id_reused"


# -- evidence ------------------------------------------------------------------------------------------------------
class TestDistances:
    def test_haversine(self) -> None:
        assert domain.haversine_km(0, 0, 0, 0) == 0
        assert 95 < domain.haversine_km(23.134, 106.417, 24.034, 106.417) < 105
        assert 110 < domain.haversine_km(0, 0, 0, 1) < 112  # one degree of longitude at the equator

    def test_too_fast(self) -> None:
        assert domain.too_fast(fix(A, HOME, 0), fix(B, NORTH, 30))  # 200 km/h
        assert not domain.too_fast(fix(A, HOME, 0), fix(B, NORTH, 180))  # 33 km/h
        assert domain.too_fast(fix(A, HOME, 0), fix(B, NORTH, 0))  # two places at once
        near = Location(HOME.lat + Decimal("0.005"), HOME.lon)  # ~0.55 km: the same place
        assert not domain.too_fast(fix(A, HOME, 0), fix(B, near, 0))

    def test_the_speed_limit(self) -> None:
        # 100 km at exactly the limit is not too fast; a little faster is.
        km = domain.haversine_km(float(HOME.lat), float(HOME.lon), float(NORTH.lat), float(NORTH.lon))
        minutes = km / domain.MAX_SPEED_KMH * 60
        assert not domain.too_fast(fix(A, HOME, 0), fix(B, NORTH, minutes + 0.01))
        assert domain.too_fast(fix(A, HOME, 0), fix(B, NORTH, minutes - 0.5))


class TestNeighbours:
    def test_nearest_before_and_after(self) -> None:
        candidates = [fix(A, HOME, m) for m in (-90, -30, 40, 100)]
        assert domain.nearest(candidates, T0) == [candidates[1], candidates[2]]
        assert domain.nearest(candidates[:2], T0) == [candidates[1]]
        assert domain.nearest([], T0) == []

    def test_a_tie_keeps_the_first_listed(self) -> None:
        stored, arriving = fix(A, HOME, -10, record_id=uuid.uuid4(), version=1), fix(B, HOME, -10)
        assert domain.nearest([stored, arriving], T0) == [stored]

    def test_call_neighbours_in_time_order_per_cadre(self) -> None:
        me, other = uuid.uuid4(), uuid.uuid4()
        fixes = [fix(A, HOME, 60), fix(A, HOME, 0), fix(B, NORTH, 30), fix(B, NORTH, 45)]
        cadres = [me, me, me, other]
        around = domain.call_neighbours(cadres, fixes)
        assert around[1] == [fixes[2]]  # first in time: only the next one
        assert around[2] == [fixes[1], fixes[0]]
        assert around[0] == [fixes[2]]  # last in time: only the previous one
        assert around[3] == []  # the other cadre's only visit


class TestAssess:
    def test_clock_skew(self) -> None:
        """Without X-Device-Time (the fallback): only more than 1 h ahead or 30 days behind the receipt."""
        for hours, flagged in (
            (25, False),
            (23, False),
            (-49, True),
            (-2, True),
            (-0.5, False),
            (24 * 31, True),
        ):
            evidence = domain.assess(
                device_time=T0 - timedelta(hours=hours), received_at=T0, fix=None, home=HOME
            )
            assert (EvidenceFlag.clock_skew in evidence.flags) is flagged

    def test_far_from_household(self) -> None:
        near = Location(HOME.lat + Decimal("0.02"), HOME.lon)  # ~2.2 km
        far = Location(HOME.lat + Decimal("0.06"), HOME.lon)  # ~6.7 km
        assert domain.assess(device_time=T0, received_at=T0, fix=fix(A, near, 0), home=HOME).flags == ()
        assert domain.assess(device_time=T0, received_at=T0, fix=fix(A, far, 0), home=HOME).flags == (
            EvidenceFlag.far_from_household,
        )
        # A household without a recorded location is never "far".
        assert domain.assess(device_time=T0, received_at=T0, fix=fix(A, far, 0), home=None).flags == ()

    def test_impossible_speed_names_the_stored_ends(self) -> None:
        stored = fix(B, NORTH, -30, record_id=uuid.uuid4(), version=2)
        same_household = fix(A, NORTH, -30)  # the same household elsewhere: not a trip between households
        evidence = domain.assess(
            device_time=T0, received_at=T0, fix=fix(A, HOME, 0), home=HOME, around=[stored, same_household]
        )
        assert evidence.flags == (EvidenceFlag.impossible_speed,) and evidence.trips == (stored,)

    def test_without_gps_only_the_clock(self) -> None:
        evidence = domain.assess(
            device_time=T0 + timedelta(days=3), received_at=T0, fix=None, home=HOME, around=[fix(B, NORTH, 1)]
        )
        assert evidence.flags == (EvidenceFlag.clock_skew,) and evidence.trips == ()

    def test_photo_reused_is_carried_into_a_version(self) -> None:
        evidence = domain.assess(device_time=T0, received_at=T0, fix=None, home=None, photo_reused=True)
        assert evidence.flags == (EvidenceFlag.photo_reused,)


class TestPhotoReuse:
    def test_one_household_may_share_a_photo(self) -> None:
        r1, r2 = PhotoCarrier(uuid.uuid4(), 1, A), PhotoCarrier(uuid.uuid4(), 2, A)
        assert domain.photo_reuse([r1, r2], uploaded_to=r2.record_id) == []

    def test_two_households_flag_every_carrier(self) -> None:
        on_a, also_a, on_b = (
            PhotoCarrier(uuid.uuid4(), 1, A),
            PhotoCarrier(uuid.uuid4(), 3, A),
            PhotoCarrier(uuid.uuid4(), 1, B),
        )
        flagged = dict(
            (c.record_id, because)
            for c, because in domain.photo_reuse([on_a, also_a, on_b], uploaded_to=on_b.record_id)
        )
        assert set(flagged) == {on_a.record_id, also_a.record_id, on_b.record_id}
        # The upload flags the others; a record of the other household flags the upload's record.
        assert flagged[on_a.record_id] == flagged[also_a.record_id] == on_b.record_id
        assert flagged[on_b.record_id] in (on_a.record_id, also_a.record_id)


class TestPhotos:
    def test_accepted(self) -> None:
        domain.check_photo("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
        domain.check_photo("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x01" * 8)
        domain.check_photo("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")

    def test_sniff(self) -> None:
        assert domain.sniff(b"GIF89a....") is None and domain.sniff(b"RIFF") is None

    @pytest.mark.parametrize(
        ("content_type", "data", "error", "code"),
        [
            ("image/gif", b"GIF89a....", domain.PhotoTypeRefused, "photo_type"),
            ("image/jpeg", b"\x89PNG\r\n\x1a\n", domain.PhotoTypeRefused, "photo_type"),
            (
                "image/jpeg",
                b"\xff\xd8\xff" + b"\x00" * MAX_ATTACHMENT_BYTES,
                domain.PhotoTooLarge,
                "photo_too_large",
            ),
            ("image/png", b"", Invalid, "empty_attachment"),
        ],
    )
    def test_refused(self, content_type: str, data: bytes, error: type[DomainError], code: str) -> None:
        with pytest.raises(error) as caught:
            domain.check_photo(content_type, data)
        assert caught.value.code == code

    def test_count(self) -> None:
        domain.check_photo_count(MAX_ATTACHMENTS - 1)
        with pytest.raises(Invalid) as caught:
            domain.check_photo_count(MAX_ATTACHMENTS)
        assert caught.value.code == "too_many_attachments"

    def test_only_the_recorder_adds_photos(self) -> None:
        me = uuid.uuid4()
        domain.check_photographer(me, me)
        with pytest.raises(NotAllowed):
            domain.check_photographer(uuid.uuid4(), me)


# -- the three signatures (签字确认) --------------------------------------------------------------------------
class TestConfirmations:
    def test_status_of(self) -> None:
        assert domain.status_of([]) is ConfirmationStatus.draft
        assert domain.status_of(["household_head"]) is ConfirmationStatus.partially_confirmed
        assert (
            domain.status_of(["household_head", "village_director"]) is ConfirmationStatus.partially_confirmed
        )
        assert domain.status_of(list(ALL_PARTIES)) is ConfirmationStatus.confirmed
        assert domain.status_of(["household_head", "someone"]) is ConfirmationStatus.partially_confirmed

    def test_status_subsets(self) -> None:
        assert CORRECTABLE == {ConfirmationStatus.draft}
        assert CORRECTABLE | SIGNED == set(ConfirmationStatus) and not CORRECTABLE & SIGNED

    @pytest.mark.parametrize(
        ("party", "role", "own", "allowed"),
        [
            (ConfirmationParty.household_head, Role.cadre, True, True),
            (ConfirmationParty.household_head, Role.cadre, False, False),
            (ConfirmationParty.household_head, Role.village_officer, False, False),
            (ConfirmationParty.village_director, Role.village_officer, False, True),
            (ConfirmationParty.village_director, Role.cadre, True, False),
            (ConfirmationParty.village_director, Role.township_officer, False, False),
            (ConfirmationParty.unit_responsible, Role.township_officer, False, True),
            (ConfirmationParty.unit_responsible, Role.county_admin, False, True),
            (ConfirmationParty.unit_responsible, Role.cadre, True, False),  # issue #13 item 10
            (ConfirmationParty.unit_responsible, Role.cadre, False, False),
            (ConfirmationParty.unit_responsible, Role.province_system, False, False),
        ],
    )
    def test_who_signs_what(self, party: ConfirmationParty, role: Role, own: bool, allowed: bool) -> None:
        assert domain.may_confirm(party, role, own_record=own, own_village=True) is allowed
        if allowed:
            domain.check_confirmer(party, role, own_record=own, own_village=True)
        else:
            with pytest.raises(NotAllowed) as caught:
                domain.check_confirmer(party, role, own_record=own, own_village=True)
            assert caught.value.code == "may_not_confirm"

    def test_a_party_signs_once(self) -> None:
        domain.check_resign(ConfirmationParty.household_head, stored=("黄志强", None), given=("黄志强", None))
        with pytest.raises(Refused) as caught:
            domain.check_resign(
                ConfirmationParty.household_head, stored=("黄志强", None), given=("别人", None)
            )
        assert caught.value.code == "already_confirmed"


# -- corrections -----------------------------------------------------------------------------------------------
class TestCorrections:
    def test_only_the_recorder_corrects(self) -> None:
        me = uuid.uuid4()
        domain.check_corrector(me, me)
        with pytest.raises(NotAllowed):
            domain.check_corrector(uuid.uuid4(), me)

    def test_a_signed_record_cannot_be_corrected(self) -> None:
        domain.check_correctable(ConfirmationStatus.draft)
        for status in SIGNED:
            with pytest.raises(Refused) as caught:
                domain.check_correctable(status)
            assert caught.value.code == "record_confirmed"

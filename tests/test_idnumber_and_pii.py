"""Resident ID numbers (DOMAIN.md §7 invariant 1) and the personal-data primitives (invariants 2, 49)."""

from __future__ import annotations

import os
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag

from services.registry.idnumber import IdNumberError, Sex, check_character, parse_resident_id
from services.registry.pii import PersonalDataCipher, mask_bank_account, mask_id_number, mask_phone

# The GB 11643-1999 standard's own example: 11010519491231002X (female, born 1949-12-31).
STANDARD_EXAMPLE = "11010519491231002X"


def make_id(region: str, born: str, seq: str) -> str:
    first17 = region + born + seq
    return first17 + check_character(first17)


class TestResidentId:
    def test_standard_example(self):
        parsed = parse_resident_id(STANDARD_EXAMPLE)
        assert parsed.birth_date == date(1949, 12, 31)
        assert parsed.sex is Sex.female
        assert parsed.region_of_issue == "110105"

    def test_lower_case_x_and_spaces_are_normalised(self):
        assert parse_resident_id(" 11010519491231002x ").number == STANDARD_EXAMPLE

    def test_fixture_household_head(self):
        # DOMAIN.md §9 synthetic fixture: head, male, born 1968-05 in Jingxi (451025).
        number = make_id("451025", "19680512", "031")
        parsed = parse_resident_id(number)
        assert parsed.sex is Sex.male and parsed.birth_date == date(1968, 5, 12)

    @pytest.mark.parametrize(
        ("number", "reason"),
        [
            ("11010519491231002", "17 digits"),
            ("1101051949123100211", "17 digits"),
            ("11010519491231002A", "17 digits"),
            ("110105194912310021", "check character"),
            (make_id("451025", "19680230", "031"), "real birth date"),
            (make_id("451025", "20991231", "031"), "future"),
            (make_id("451025", "18501231", "031"), "implausibly old"),
        ],
    )
    def test_rejected(self, number, reason):
        with pytest.raises(IdNumberError, match=reason):
            parse_resident_id(number, today=date(2026, 11, 23))

    def test_every_single_digit_error_is_caught(self):
        # MOD 11-2 detects all single-character substitutions.
        for position in range(17):
            for digit in "0123456789":
                if STANDARD_EXAMPLE[position] == digit:
                    continue
                mutated = STANDARD_EXAMPLE[:position] + digit + STANDARD_EXAMPLE[position + 1 :]
                assert check_character(mutated[:17]) != mutated[17]


@pytest.fixture
def cipher():
    return PersonalDataCipher(
        encryption_keys={"k1": os.urandom(32), "k2": os.urandom(32)},
        current_key_id="k2",
        index_key=os.urandom(32),
    )


class TestPersonalDataCipher:
    def test_round_trip_and_no_plaintext(self, cipher):
        token = cipher.encrypt(STANDARD_EXAMPLE, context="member:1:id_number")
        assert STANDARD_EXAMPLE not in token and token.startswith("v1:k2:")
        assert cipher.decrypt(token, context="member:1:id_number") == STANDARD_EXAMPLE

    def test_ciphertext_is_bound_to_its_field_and_row(self, cipher):
        token = cipher.encrypt(STANDARD_EXAMPLE, context="member:1:id_number")
        with pytest.raises(InvalidTag):
            cipher.decrypt(token, context="member:2:id_number")
        with pytest.raises(InvalidTag):
            cipher.decrypt(token, context="member:1:phone")

    def test_encryption_is_randomised_but_index_is_deterministic(self, cipher):
        a = cipher.encrypt("13800138000", context="c")
        b = cipher.encrypt("13800138000", context="c")
        assert a != b
        assert cipher.blind_index("11010519491231002x", kind="id") == cipher.blind_index(
            STANDARD_EXAMPLE, kind="id"
        )
        assert cipher.blind_index(STANDARD_EXAMPLE, kind="id") != cipher.blind_index(
            STANDARD_EXAMPLE, kind="phone"
        )

    def test_old_keys_still_decrypt_after_rotation(self, cipher):
        old = PersonalDataCipher(cipher.encryption_keys, "k1", cipher.index_key)
        token = old.encrypt("6222020200112233445", context="c")
        assert cipher.needs_reencryption(token)
        assert cipher.decrypt(token, context="c") == "6222020200112233445"

    def test_weak_keys_are_refused(self):
        with pytest.raises(ValueError, match="32 bytes"):
            PersonalDataCipher({"k": b"short"}, "k", os.urandom(32))


class TestMasking:
    def test_id_number_first6_last4(self):
        assert mask_id_number(STANDARD_EXAMPLE) == "110105********002X"

    def test_phone_and_bank_account(self):
        assert mask_phone("138-0013-8000") == "*******8000"
        assert mask_bank_account("6222 0202 0011 2233 445") == "***************3445"

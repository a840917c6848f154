"""The personal-data primitives (services/registry/pii.py): encryption at rest, blind indexes, masks, keys.

DOMAIN.md §7 invariants 2 (one person, one household: the blind index finds a person without the number in
clear) and 49 (ID numbers show the first 6 and last 4 characters).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from services.registry.pii import PersonalDataCipher, mask_bank_account, mask_id_number, mask_phone

# The GB 11643-1999 standard's own example: 11010519491231002X (female, born 1949-12-31).
STANDARD_EXAMPLE = "11010519491231002X"


@pytest.fixture
def cipher() -> PersonalDataCipher:
    return PersonalDataCipher(
        encryption_keys={"k1": os.urandom(32), "k2": os.urandom(32)},
        current_key_id="k2",
        index_key=os.urandom(32),
    )


class TestPersonalDataCipher:
    def test_round_trip_and_no_plaintext(self, cipher: PersonalDataCipher) -> None:
        token = cipher.encrypt(STANDARD_EXAMPLE, context="member:1:id_number")
        assert STANDARD_EXAMPLE not in token and token.startswith("v1:k2:")
        assert cipher.decrypt(token, context="member:1:id_number") == STANDARD_EXAMPLE

    def test_ciphertext_is_bound_to_its_field_and_row(self, cipher: PersonalDataCipher) -> None:
        token = cipher.encrypt(STANDARD_EXAMPLE, context="member:1:id_number")
        with pytest.raises(InvalidTag):
            cipher.decrypt(token, context="member:2:id_number")
        with pytest.raises(InvalidTag):
            cipher.decrypt(token, context="member:1:phone")

    def test_encryption_is_randomised_but_index_is_deterministic(self, cipher: PersonalDataCipher) -> None:
        a = cipher.encrypt("13800138000", context="c")
        b = cipher.encrypt("13800138000", context="c")
        assert a != b
        assert cipher.blind_index("11010519491231002x", kind="id") == cipher.blind_index(
            STANDARD_EXAMPLE, kind="id"
        )
        assert cipher.blind_index(STANDARD_EXAMPLE, kind="id") != cipher.blind_index(
            STANDARD_EXAMPLE, kind="phone"
        )

    def test_old_keys_still_decrypt_after_rotation(self, cipher: PersonalDataCipher) -> None:
        old = PersonalDataCipher(cipher.encryption_keys, "k1", cipher.index_key)
        token = old.encrypt("6222020200112233445", context="c")
        assert cipher.needs_reencryption(token)
        assert cipher.decrypt(token, context="c") == "6222020200112233445"

    def test_weak_keys_are_refused(self) -> None:
        with pytest.raises(ValueError, match="32 bytes"):
            PersonalDataCipher({"k": b"short"}, "k", os.urandom(32))


class TestMasking:
    def test_id_number_first6_last4(self) -> None:
        assert mask_id_number(STANDARD_EXAMPLE) == "110105********002X"

    def test_phone_and_bank_account(self) -> None:
        assert mask_phone("138-0013-8000") == "*******8000"
        assert mask_bank_account("6222 0202 0011 2233 445") == "***************3445"


class TestPersonalDataKeys:
    def test_production_requires_real_pii_keys(self, tmp_path: Path) -> None:
        from pydantic import ValidationError

        from services.registry.pii import write_dev_keys
        from services.registry.settings import RegistrySettings

        base: dict[str, Any] = {
            "environment": "production",
            "database_url": "postgresql://db/x",
            "jwt_jwks_url": "http://gw/jwks",
        }
        with pytest.raises(ValidationError, match="PII_KEYS_FILE"):
            RegistrySettings(**base)
        with pytest.raises(ValidationError, match="development personal-data keys"):
            RegistrySettings(**base, pii_keys_file=write_dev_keys(tmp_path / "dev"))
        real = tmp_path / "real"
        real.mkdir()
        (real / "pii-keys.json").write_text((tmp_path / "dev" / "pii-keys.json").read_text())
        settings = RegistrySettings(**base, pii_keys_file=real / "pii-keys.json")
        cipher = settings.cipher()
        token = cipher.encrypt("452625196804151234", context="member:x:id_number")
        # The same key file decrypts what it encrypted, in another process (a restart).
        assert (
            RegistrySettings(**base, pii_keys_file=real / "pii-keys.json")
            .cipher()
            .decrypt(token, context="member:x:id_number")
            == "452625196804151234"
        )

    def test_dev_keys_are_kept_across_runs(self, tmp_path: Path) -> None:
        from services.registry.pii import write_dev_keys

        first = write_dev_keys(tmp_path).read_text()
        assert write_dev_keys(tmp_path).read_text() == first

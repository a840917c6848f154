"""Registry settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from services.registry.pii import PersonalDataCipher, cipher_from_json, generate_keys
from shared.settings import ServiceSettings, database_url_field, is_dev_key


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    database_url: str | None = Field(None, validation_alias=database_url_field("registry"))
    pii_keys_file: Path | None = Field(
        None,
        description="JSON key file for personal data (encryption keys by id, current id, blind-index key); "
        "`make run` writes a development one to var/keys/pii-keys.json",
    )

    @model_validator(mode="after")
    def _pii_keys(self) -> RegistrySettings:
        if self.production:
            if self.pii_keys_file is None:
                raise ValueError("production requires PII_KEYS_FILE (personal-data encryption keys)")
            if is_dev_key(self.pii_keys_file):
                raise ValueError("refusing development personal-data keys in production")
        return self

    def cipher(self) -> PersonalDataCipher:
        """The configured cipher; without a key file (tests, a bare development start) fresh in-memory keys."""
        if self.pii_keys_file is not None:
            return cipher_from_json(self.pii_keys_file.read_text())
        import json

        return cipher_from_json(json.dumps(generate_keys()))

"""Registry settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from services.registry.pii import PersonalDataCipher, cipher_from_json, generate_keys
from shared.settings import ServiceSettings, database_url_field, is_dev_key, read_database_url_field


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    database_url: str | None = Field(None, validation_alias=database_url_field("registry"))
    read_database_url: str | None = Field(None, validation_alias=read_database_url_field("registry"))
    change_feed_retention_days: int = Field(
        90,
        ge=90,
        description="Change-feed rows are kept this many days (`/changes`, `/sync/download`); a feed cursor older "
        "than what is kept answers 410 `cursor_expired` (re-export). At least the phones' 90-day sync cursor",
    )
    run_worker: bool = Field(
        False,
        description="Run the import/export job worker inside the registry process (`REGISTRY_RUN_WORKER`). "
        "Off by default: the worker is its own process, `python -m services.registry.worker` (`make run` starts "
        "it; the Deployment `registry-worker` in Kubernetes)",
        validation_alias="REGISTRY_RUN_WORKER",
    )
    job_concurrency: int = Field(
        2,
        ge=1,
        le=16,
        description="Jobs one worker runs at the same time",
        validation_alias="REGISTRY_JOB_CONCURRENCY",
    )
    webhook_key: SecretStr | None = Field(
        None,
        description="Key every webhook subscription's signing secret is derived from (HMAC of the subscription "
        "id: no secret is stored); without it in production, webhooks are off (`REGISTRY_WEBHOOK_KEY`)",
        validation_alias="REGISTRY_WEBHOOK_KEY",
    )
    #: Whether webhook receivers may be on loopback/private/reserved addresses (SSRF guard); default: only
    #: outside production (`REGISTRY_WEBHOOK_ALLOW_PRIVATE_NETWORKS`).
    webhook_allow_private_networks: bool | None = Field(
        None, validation_alias="REGISTRY_WEBHOOK_ALLOW_PRIVATE_NETWORKS"
    )
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

    def webhook_signing_key(self) -> bytes | None:
        """The key webhook secrets are derived from; outside production a fixed development key without one;
        None in production without one (webhooks answer 503 `webhooks_not_configured`, nothing is delivered)."""
        if self.webhook_key is not None:
            return self.webhook_key.get_secret_value().encode()
        return None if self.production else b"jingzhun-development-webhook-key"

    def webhook_private_networks_allowed(self) -> bool:
        """Receivers on this network are allowed when configured so, else outside production only."""
        if self.webhook_allow_private_networks is not None:
            return self.webhook_allow_private_networks
        return not self.production

    def cipher(self) -> PersonalDataCipher:
        """The configured cipher; without a key file (tests, a bare development start) fresh in-memory keys."""
        if self.pii_keys_file is not None:
            return cipher_from_json(self.pii_keys_file.read_text())
        import json

        return cipher_from_json(json.dumps(generate_keys()))

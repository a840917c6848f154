"""Registry settings."""

from pydantic import Field

from shared.settings import ServiceSettings, database_url_field


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    database_url: str | None = Field(None, validation_alias=database_url_field("registry"))

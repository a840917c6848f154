"""Planning settings."""

from pydantic import Field

from shared.settings import ServiceSettings, database_url_field


class PlanningSettings(ServiceSettings):
    service_name: str = "planning"
    database_url: str | None = Field(None, validation_alias=database_url_field("planning"))

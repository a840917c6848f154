"""Assessment settings."""

from pydantic import Field

from shared.settings import ServiceSettings, database_url_field


class AssessmentSettings(ServiceSettings):
    service_name: str = "assessment"
    database_url: str | None = Field(None, validation_alias=database_url_field("assessment"))

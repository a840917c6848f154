"""Planning settings."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings, database_url_field, read_database_url_field

__all__ = ["PlanningSettings"]


class PlanningSettings(ServiceSettings):
    service_name: str = "planning"
    database_url: str | None = Field(None, validation_alias=database_url_field("planning"))
    read_database_url: str | None = Field(None, validation_alias=read_database_url_field("planning"))
    change_feed_retention_days: int = Field(
        90,
        ge=1,
        description="Change-feed rows are kept this many days (`/changes`); a feed cursor older than what is kept "
        "answers 410 `cursor_expired` (re-export)",
    )
    registry_url: str = Field(
        "http://127.0.0.1:8001", description="The registry service (villages, households, policy), over HTTP"
    )

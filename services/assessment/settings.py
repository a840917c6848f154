"""Assessment settings: its database, the services it reads figures from, and its run worker."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings, database_url_field, read_database_url_field

__all__ = ["AssessmentSettings"]


class AssessmentSettings(ServiceSettings):
    service_name: str = "assessment"
    database_url: str | None = Field(None, validation_alias=database_url_field("assessment"))
    read_database_url: str | None = Field(None, validation_alias=read_database_url_field("assessment"))
    registry_url: str = Field(
        "http://127.0.0.1:8001", description="The registry service (figures, cadres), over HTTP"
    )
    planning_url: str = Field(
        "http://127.0.0.1:8002",
        description="The planning service (figures of plans, projects, funds), over HTTP",
    )
    run_worker: bool = Field(
        True,
        description="Run the assessment-run worker inside this process (procrastinate, in the lifespan): "
        "`make run` needs no extra process. Off: runs wait in the queue for a worker elsewhere.",
    )
    run_concurrency: int = Field(2, ge=1, le=16, description="Runs one worker scores at the same time")
    figure_attempts: int = Field(4, ge=1, le=10, description="Tries per page of figures before a run fails")
    figure_backoff_seconds: float = Field(
        0.5, ge=0, le=30, description="The wait before the second try; doubled before each further one"
    )
    figure_timeout_seconds: float = Field(30, gt=0, le=300, description="The wait for one page of figures")
    change_feed_retention_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="Change-feed rows are kept this many days; an older cursor answers 410 (re-export)",
    )
    figure_page_size: int = Field(1000, ge=1, le=1000, description="Rows per page of figures")

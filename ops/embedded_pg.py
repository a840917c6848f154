"""The embedded PostgreSQL (pgserver) used when no DATABASE_URL is configured."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

__all__ = ["start_embedded"]

_log = logging.getLogger("jingzhun.pg")


def start_embedded(pgdata: Path, *, stop_on_exit: bool = True) -> Any:
    """Start (or reuse) an embedded PostgreSQL with its data in `pgdata`; returns the pgserver handle."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        return pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop" if stop_on_exit else None
        )


def server_url(server: Any, database: str = "postgres") -> str:
    url: str = server.get_uri(database)
    return url

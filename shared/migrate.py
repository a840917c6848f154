"""Alembic, driven from code: each process has its own migration folder and version table.

Version tables are per process (`alembic_version_registry`, ...) so that all four can share one database when
only `DATABASE_URL` is given.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import asyncpg_url

__all__ = [
    "MIGRATION_DIRS",
    "alembic_config",
    "append_only_sql",
    "drop_append_only_sql",
    "drop_trigger_function_sql",
    "row_trigger_sql",
    "run_env",
    "upgrade",
]

_ROOT = Path(__file__).resolve().parent.parent
MIGRATION_DIRS: dict[str, Path] = {
    "gateway": _ROOT / "gateway" / "migrations",
    "registry": _ROOT / "services" / "registry" / "migrations",
    "planning": _ROOT / "services" / "planning" / "migrations",
    "assessment": _ROOT / "services" / "assessment" / "migrations",
}


# -- DDL helpers shared by migrations (plain SQL strings: a migration stays readable and frozen in behaviour) --
def append_only_sql(table: str) -> list[str]:
    """Statements making `table` append-only: a row trigger refuses UPDATE and DELETE (history tables)."""
    return [
        f"CREATE FUNCTION {table}_immutable() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
        f"CREATE TRIGGER {table}_no_rewrite BEFORE UPDATE OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {table}_immutable()",
    ]


def drop_append_only_sql(table: str) -> list[str]:
    return drop_trigger_function_sql(table, "no_rewrite", "immutable")


def row_trigger_sql(table: str, name: str, timing: str, body: str) -> list[str]:
    """An AFTER/BEFORE row trigger `<table>_<name>` running the PL/pgSQL statements `body` (returns NULL)."""
    return [
        f"CREATE FUNCTION {table}_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$",
        f"CREATE TRIGGER {table}_{name} {timing} ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_{name}()",
    ]


def drop_trigger_function_sql(table: str, trigger: str, function: str | None = None) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_{trigger} ON {table}",
        f"DROP FUNCTION IF EXISTS {table}_{function or trigger}()",
    ]


def alembic_config(service: str, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATION_DIRS[service]))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATION_DIRS[service] / "versions"))
    cfg.set_main_option("sqlalchemy.url", asyncpg_url(database_url).replace("%", "%%"))
    cfg.attributes["version_table"] = f"alembic_version_{service}"
    return cfg


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    """Apply `service`'s migrations up to `revision` (blocking; call from a thread in async code)."""
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service, database_url), revision)


def run_env() -> None:
    """Body of every `migrations/env.py`: online migrations over asyncpg."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    version_table = cfg.attributes.get("version_table", "alembic_version")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=None,
            version_table=version_table,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        assert url is not None, "sqlalchemy.url is set by alembic_config()"
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())

"""The demo county loaded by `make run` into empty databases: 靖西县 (Jingxi county, Baise, Guangxi).

Jingxi's township is the setting of seed 002 (DOMAIN.md §9 F1). Development only: production refuses it.
"""

from __future__ import annotations

import os

import asyncpg
from argon2 import PasswordHasher

__all__ = ["DEMO_PASSWORD", "DEMO_REGIONS", "DEMO_USERS", "seed_demo"]

DEMO_PASSWORD = "jingzhun-demo-2026"  # noqa: S105 - printed to the developer; refused in production

DEMO_REGIONS: list[tuple[str, str, str, str | None]] = [
    ("450000000000", "广西壮族自治区", "province", None),
    ("451000000000", "百色市", "prefecture", "450000000000"),
    ("451025000000", "靖西县", "county", "451000000000"),
    ("451025100000", "新靖镇", "township", "451025000000"),
    ("451025100201", "旧州村", "village", "451025100000"),
    ("451025100202", "渠洋村", "village", "451025100000"),
    ("451025101000", "化峒镇", "township", "451025000000"),
    ("451025101201", "化峒村", "village", "451025101000"),
]

# (username, role, region, display name)
DEMO_USERS: list[tuple[str, str, str, str]] = [
    ("admin.jingxi", "county_admin", "451025000000", "靖西县扶贫办 (county poverty office)"),
    ("officer.xinjing", "township_officer", "451025100000", "新靖镇扶贫专干 (township specialist)"),
    ("officer.huadong", "township_officer", "451025101000", "化峒镇扶贫专干 (township specialist)"),
    ("clerk.jiuzhou", "village_officer", "451025100201", "旧州村两委 (village clerk)"),
    ("cadre.wang", "cadre", "451025000000", "王干部 (helping cadre)"),
]


async def seed_demo(urls: dict[str, str], service_secrets: dict[str, str], province_secret: str) -> bool:
    """Load the demo county if the gateway has no users yet; returns True when it loaded."""
    if os.environ.get("ENVIRONMENT") == "production":
        raise SystemExit("refusing to load demo users in production")
    hasher = PasswordHasher()
    gateway = await asyncpg.connect(urls["gateway"])
    try:
        if await gateway.fetchval("SELECT count(*) FROM gateway_user"):
            return False
        password_hash = hasher.hash(DEMO_PASSWORD)
        async with gateway.transaction():
            for username, role, region, name in DEMO_USERS:
                await gateway.execute(
                    "INSERT INTO gateway_user (id, username, display_name, password_hash, role, region_code)"
                    " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)",
                    username,
                    name,
                    password_hash,
                    role,
                    region,
                )
            clients = [
                (f"{s}-service", hasher.hash(secret), "service", "000000000000", f"{s} service")
                for s, secret in service_secrets.items()
            ]
            clients.append(
                (
                    "guangxi-province",
                    hasher.hash(province_secret),
                    "province_system",
                    "450000000000",
                    "Guangxi provincial system (read-only pull)",
                )
            )
            await gateway.executemany(
                "INSERT INTO gateway_client (client_id, secret_hash, role, region_code, description)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash",
                clients,
            )
    finally:
        await gateway.close()
    registry = await asyncpg.connect(urls["registry"])
    try:
        await registry.executemany(
            "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (code) DO NOTHING",
            DEMO_REGIONS,
        )
    finally:
        await registry.close()
    return True

"""The household card on the hot path: one statement built by PostgreSQL, served as the bytes it returns.

`GET /households/{id}` is the registry's busiest read. Here it is a plain Starlette route, put first in the app
by services/registry/main.py, that skips FastAPI's dependency solving: the same authentication function, one
prepared statement on the read pool, PostgreSQL's JSON sent as it comes. The JSON is `schemas.HouseholdCard`
(the documented FastAPI route in routes.py declares it; a test checks the fast path against the model). The
unmasked card is not hot: it goes through `HouseholdService.card`, which decrypts and audits (invariant 49), in
a unit of work of its own.

`card_statement(where)` (households/repository.py) is the one definition of the card (DOMAIN.md §2.12, the
扶贫手册 view): this module, the service, the phone download (services/registry/sync) and the benchmark's baseline
build their statement from it with their own WHERE clause and parameter style.

The card shows more than the household's version counts (its pairings, its cadres' and units' names and phones,
its village's name change without it), so its ETag is `"<version>-<digest of the JSON>"`
(shared/etag.py `representation_etag`): `If-Match` reads the version from it, and a conditional read
(`If-None-Match`) answers 304 with the ETag and no body only while the card is byte for byte the one the client
holds. The unmasked card is `Cache-Control: no-store` (nothing may keep it, so nothing revalidates it): it always
answers in full, audited, tagged with the plain version.
The only query parameter is `unmask`; any other is refused (400 `unknown_parameter`, shared/routing.py).
"""

from __future__ import annotations

import uuid

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from services.registry.deps import cipher_of
from services.registry.households.repository import CARD_OBJECT, card_statement
from services.registry.households.service import HouseholdService
from shared.auth import current_principal
from shared.context import context_for
from shared.etag import etag, not_modified, not_modified_response, representation_etag
from shared.observability import LabelledRoute
from shared.problems import NotFound, UnprocessableEntity
from shared.roles import Principal, Role
from shared.routing import refuse_unknown_parameters, unit_of_work

__all__ = [
    "CARD_OBJECT",
    "CARD_SQL_POSITIONAL",
    "card_route",
    "card_statement",
    "read_card",
]

#: A household in the caller's region subtree: $1 the id, $2 the region prefix pattern.
CARD_SQL_POSITIONAL = card_statement("h.id = $1 AND h.village_code LIKE $2")
#: For a cadre: any household they are or were paired with (read-only for past pairings); $2 the cadre's sub.
_CADRE_WHERE = (
    "h.id = $1"
    " AND EXISTS (SELECT 1 FROM registry_pairing p JOIN registry_cadre c ON c.id = p.cadre_id"
    " WHERE p.household_id = h.id AND p.superseded_at IS NULL AND c.user_sub = $2)"
)
_CADRE_POSITIONAL = card_statement(_CADRE_WHERE)


async def read_card(pool: asyncpg.Pool, principal: Principal, household_id: uuid.UUID) -> tuple[str, int]:
    """The card JSON text and version from the read pool; 404 when missing or out of scope."""
    if principal.role is Role.cadre:
        row = await pool.fetchrow(_CADRE_POSITIONAL, household_id, principal.sub)
    else:
        row = await pool.fetchrow(CARD_SQL_POSITIONAL, household_id, principal.prefix + "%")
    if row is None:
        raise NotFound(f"household {household_id} not found")
    return row[0], row[1]


#: The query parameters of the card.
_PARAMETERS = frozenset({"unmask"})
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


async def _card_endpoint(request: Request) -> Response:
    """`GET /households/{id}[?unmask=true]`: same authentication, errors (the app's problem+json handlers) and
    answer as the documented route of routes.py."""
    refuse_unknown_parameters(request, _PARAMETERS)
    household_id: uuid.UUID = request.path_params["household_id"]
    principal = await current_principal(request)
    flag = request.query_params.get("unmask", "false").lower()
    if flag not in _TRUE | _FALSE:
        raise UnprocessableEntity("unmask must be true or false", field="unmask")
    if flag in _FALSE:
        card, version = await read_card(request.app.state.primary_read_pool, principal, household_id)
        body = card.encode()
        tag = representation_etag(version, body)
        if not_modified(request.headers.get("if-none-match"), tag):
            return not_modified_response(tag)
        return Response(body, media_type="application/json", headers={"ETag": tag})
    async with unit_of_work(request) as session:
        ctx = context_for(request, session, principal)
        unmasked = await HouseholdService(ctx, cipher_of(request)).card(household_id, unmask=True)
    return Response(
        unmasked.model_dump_json(exclude_unset=True),
        media_type="application/json",
        headers={"ETag": etag(unmasked.version), "Cache-Control": "no-store"},
    )


#: Put first in the app's routes by services.registry.main; the FastAPI route documents it.
#: Only UUIDs match, so /households/stats and malformed ids reach the FastAPI routes (and their 422).
card_route = LabelledRoute("/households/{household_id:uuid}", _card_endpoint, methods=["GET"])

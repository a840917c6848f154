"""Optimistic concurrency over HTTP: a record's version is its ETag, and a write names the version it read.

A versioned record answers with `ETag: "<version>"`; a write to it must send `If-Match: "<version>"` (428 when
missing, 412 with `current_version` when another write came first). Routes declare `IfMatchDep` for the
version and set the new ETag on the response with `etag()`.

A read may be conditional (RFC 9110 §13.1.2): `If-None-Match` with the ETag(s) the client holds (or `*`) answers
304 Not Modified, with the same ETag and no body, while the representation is unchanged (`not_modified`,
`not_modified_response`; routes document the header with `IfNoneMatchHeader` and the answer with
`NOT_MODIFIED`). A representation that shows more than its record's own columns (the household card shows its
pairings, its cadres' and units' names and its village's name, none of which changes the household's version)
is tagged `"<version>-<digest of the body>"` (`representation_etag`): `If-Match` reads the version from it,
`If-None-Match` compares it whole, so a 304 never hides a change.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import Depends, Header
from starlette.responses import Response

from shared.problems import PreconditionFailed, PreconditionRequired

__all__ = [
    "NOT_MODIFIED",
    "IfMatchDep",
    "IfMatchHeader",
    "IfNoneMatchHeader",
    "etag",
    "not_modified",
    "not_modified_response",
    "parse_if_match",
    "representation_etag",
    "stale",
]

#: A version in an entity tag: ASCII digits only (str.isdigit() would accept '³' and '٣'), alone or followed by
#: the digest of a representation (`representation_etag`).
_VERSION = re.compile(r"^([0-9]{1,9})(?:-[0-9a-f]{16})?$")


def etag(version: int) -> str:
    """The strong ETag of a record at `version`."""
    return f'"{version}"'


def parse_if_match(value: str | None, *, what: str = "record") -> int:
    """The version a write is based on, from `If-Match: "<version>"` (428 when absent, 412 when malformed)."""
    if value is None or not value.strip():
        raise PreconditionRequired(
            f'this write needs If-Match: "<version>" (the ETag of the {what} you read)'
        )
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    match = _VERSION.match(tag)
    if match is None:
        raise PreconditionFailed(f"If-Match must be the {what}'s ETag, a quoted version number")
    return int(match.group(1))


def stale(current: int, *, what: str = "record", **extra: Any) -> PreconditionFailed:
    """The 412 for a write based on an older version than `current`."""
    return PreconditionFailed(
        f"the {what} changed since you read it: current version is {current}",
        headers={"ETag": etag(current)},
        current_version=current,
        **extra,
    )


#: The raw header, documented in the OpenAPI (for routes that parse it with their own `what`).
IfMatchHeader = Annotated[str | None, Header(alias="If-Match", description='The ETag you read: "<version>"')]


async def _if_match(if_match: IfMatchHeader = None) -> int:
    return parse_if_match(if_match)


#: The version named by a required `If-Match` header.
IfMatchDep = Annotated[int, Depends(_if_match)]


# -- conditional reads ---------------------------------------------------------------------------------------
#: The raw header of a conditional read, documented in the OpenAPI.
IfNoneMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="The ETag(s) you hold (comma-separated, or *): 304 with no body while still current",
    ),
]

#: The OpenAPI entry of a 304 answer (routes add it to `responses=`).
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not modified: what you hold (If-None-Match) is still current; no body",
        "headers": {
            "ETag": {"description": "The current ETag (the one you hold)", "schema": {"type": "string"}}
        },
    }
}


def representation_etag(version: int, body: bytes) -> str:
    """The strong ETag of a representation of a record at `version` that also shows what the version does not
    count: `"<version>-<16 hex digits of the body's BLAKE2b digest>"`."""
    return f'"{version}-{hashlib.blake2b(body, digest_size=8).hexdigest()}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """Whether a read with `If-None-Match: if_none_match` of a representation tagged `tag` answers 304: `*`, or
    one of the listed tags equal to it (weak comparison: `W/` is ignored)."""
    if if_none_match is None:
        return False
    current = _opaque(tag)
    return any(item.strip() == "*" or _opaque(item) == current for item in if_none_match.split(","))


def not_modified_response(tag: str, headers: dict[str, str] | None = None) -> Response:
    """304 Not Modified: no body, the ETag (and the other headers the 200 would carry)."""
    return Response(status_code=304, headers={**(headers or {}), "ETag": tag})

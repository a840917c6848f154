"""Assessment figures (考核数据) as every service serves them: the route parameters, the page-or-NDJSON responder
and the catalogue envelope — what the registry's and planning's `/figures/…` share, whatever they compute.

A service's `figures/` package keeps what is its own: the subject types, the figure codes, their definitions
(domain.py), the rows (schemas.py) and the SQL (repository.py). This module gives the rest:

- `FigureQuery` (region, year, cursor, limit) and the query parameters of every `/figures/{subject_type}` route
  (`RegionQuery`, `YearQuery`, `CursorQuery`, `LimitQuery`), with the routes' documented `figure_responses`;
- `FigureContextDep`: a read context (autocommit session) that lives until the answer has been sent — a streamed
  answer is read from a server-side cursor after the handler returned;
- `answer`: keyset pages as JSON (`items`, `next_cursor`, serialised once: `page_json`), or with
  `Accept: application/x-ndjson` (`wants_ndjson`) every row streamed, one JSON row per line, in chunks of about
  `NDJSON_CHUNK_BYTES` (`ndjson_chunks`); every check runs before the first byte;
- the catalogue envelope, generic in the service's enums: `FigurePublicBase`, `UnsupportedPublicBase`,
  `FigureSubjectCatalogueBase`, `FigureCatalogueBase`, filled by `build_catalogue`. Each service subclasses them
  with its own enums and names (`FigurePublic`, …): the OpenAPI schemas stay the service's, and the gateway's
  merge renames the names both use.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from shared.auth import PrincipalDep
from shared.context import Context, context_for
from shared.pagination import MAX_CURSOR_LENGTH
from shared.schemas import ResponseModel

__all__ = [
    "DEFAULT_LIMIT",
    "FIRST_YEAR",
    "NDJSON",
    "NDJSON_CHUNK_BYTES",
    "CursorQuery",
    "FigureCatalogueBase",
    "FigureContextDep",
    "FigurePage",
    "FigurePublicBase",
    "FigureQuery",
    "FigureSource",
    "FigureSubjectCatalogueBase",
    "LimitQuery",
    "RegionQuery",
    "UnsupportedPublicBase",
    "YearQuery",
    "answer",
    "build_catalogue",
    "figure_responses",
    "ndjson_chunks",
    "page_json",
    "wants_ndjson",
]

#: The media type of a streamed answer: one JSON row per line.
NDJSON = "application/x-ndjson"
#: Streamed NDJSON leaves in chunks of about this size (one line per row).
NDJSON_CHUNK_BYTES = 64 * 1024
#: The first year a route accepts: precision poverty alleviation (精准扶贫) and its national line start in 2013
#: (each service's figure domain checks the year again, against today: `period`).
FIRST_YEAR = 2013
#: Rows per JSON page when the caller names no limit.
DEFAULT_LIMIT = 200


# -- content negotiation ----------------------------------------------------------------------------------------
def _quality(params: list[str]) -> float:
    for param in params:
        if param.startswith("q="):
            try:
                return float(param[2:])
            except ValueError:
                return 0.0
    return 1.0


def wants_ndjson(accept: str | None) -> bool:
    """The caller asks for NDJSON: `Accept` names application/x-ndjson (or application/ndjson) with a quality
    above 0 and at least that of application/json; anything else is answered as JSON pages."""
    ndjson = json_quality = 0.0
    for item in (accept or "").split(","):
        media, *params = (p.strip().lower() for p in item.split(";"))
        if media in (NDJSON, "application/ndjson"):
            ndjson = max(ndjson, _quality(params))
        elif media == "application/json":
            json_quality = max(json_quality, _quality(params))
    return ndjson > 0 and ndjson >= json_quality


# -- the request --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FigureQuery:
    """What a figures request asks: the region, the year, where to continue and how many rows (None: all)."""

    region: str
    year: int
    cursor: str | None = None
    limit: int | None = None


RegionQuery = Annotated[
    str,
    Query(
        pattern=r"^[0-9]{12}$",
        description="The region (12-digit division code): its subjects are the rows",
        examples=["451025000000"],
    ),
]
YearQuery = Annotated[
    int, Query(ge=FIRST_YEAR, le=2100, description=f"The assessment year, {FIRST_YEAR} to this year")
]
CursorQuery = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="The `next_cursor` of the page before")
]
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="Rows per page (JSON; NDJSON sends every row)")]


async def _figure_context(request: Request, principal: PrincipalDep) -> AsyncIterator[Context]:
    """A read context (autocommit session) that lives until the answer has been sent: NDJSON streams from it.

    Figures tolerate a little lag, so the session is on the read replica when one is configured (`replica_sessions`,
    shared/app.py), else on the primary."""
    async with request.app.state.replica_sessions() as session:
        yield context_for(request, session, principal)


#: The request's read context, open while a streamed answer is sent (default dependency scope: the request).
FigureContextDep = Annotated[Context, Depends(_figure_context)]


def figure_responses(
    row: type[BaseModel], extra: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a `/figures/{subject_type}` route whose rows are `row` (and the service's own)."""
    return {
        200: {
            "description": "A page of rows (JSON), or with `Accept: application/x-ndjson` every row after the "
            "cursor, one JSON row per line (streamed)",
            "content": {NDJSON: {"schema": {"$ref": f"#/components/schemas/{row.__name__}"}}},
        },
        400: {"description": "A malformed cursor (`cursor_invalid`) or an unknown query parameter"},
        403: {"description": "Only services, the province and county or township officers read figures"},
        404: {"description": "The region does not exist or lies outside your region (answered alike)"},
        422: {
            "description": "Invalid parameter: the year before 2013 or in the future (`value_out_of_range`), a "
            "malformed region code or limit"
        },
        **(extra or {}),
    }


# -- the answer ---------------------------------------------------------------------------------------------------
class FigurePage:
    """One page of rows and the cursor continuing it (None on the last page)."""

    __slots__ = ("items", "next_cursor")

    def __init__(self, items: Sequence[BaseModel], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor


def page_json(page: FigurePage) -> bytes:
    """The page as the JSON of `Page[<row>]` (`items`, `next_cursor`), serialised once."""
    items = b",".join(row.model_dump_json().encode() for row in page.items)
    return b'{"items":[' + items + b'],"next_cursor":' + json.dumps(page.next_cursor).encode() + b"}"


async def ndjson_chunks(rows: AsyncIterator[BaseModel]) -> AsyncIterator[bytes]:
    """The rows as NDJSON, one line per row, in chunks of about `NDJSON_CHUNK_BYTES`."""
    buffer = bytearray()
    async for row in rows:
        buffer += row.model_dump_json().encode()
        buffer += b"\n"
        if len(buffer) >= NDJSON_CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


S_contra = TypeVar("S_contra", contravariant=True)


class FigureSource(Protocol[S_contra]):
    """A service's figure use cases: a page of rows, or every row as NDJSON chunks — each after its checks."""

    async def page_json(self, subject: S_contra, query: FigureQuery) -> bytes: ...

    async def ndjson(self, subject: S_contra, query: FigureQuery) -> AsyncIterator[bytes]: ...


async def answer(
    request: Request, source: FigureSource[S_contra], subject: S_contra, query: FigureQuery
) -> Response:
    """JSON pages, or NDJSON streamed when the caller asks for it (`wants_ndjson`)."""
    if wants_ndjson(request.headers.get("accept")):
        return StreamingResponse(
            await source.ndjson(subject, query), media_type=NDJSON, headers={"Cache-Control": "no-store"}
        )
    return Response(await source.page_json(subject, query), media_type="application/json")


# -- the catalogue ------------------------------------------------------------------------------------------------
CodeT = TypeVar("CodeT")
UnitT = TypeVar("UnitT")
WireT = TypeVar("WireT")
SubjectT = TypeVar("SubjectT")
FigureT = TypeVar("FigureT", bound=BaseModel)
UnsupportedT = TypeVar("UnsupportedT", bound=BaseModel)
SubjectCatalogueT = TypeVar("SubjectCatalogueT", bound=BaseModel)
CatalogueT = TypeVar("CatalogueT", bound=BaseModel)


class FigurePublicBase(ResponseModel, Generic[CodeT, UnitT, WireT]):
    """A figure a service serves for a subject type (subclassed per service with its enums)."""

    code: CodeT
    zh_cn: str = Field(description="The zh-CN label")
    en: str
    unit: UnitT
    wire: WireT = Field(description="How the value is written: integer, decimal string or boolean")
    signed: bool = Field(
        description="A percent that may exceed 100 (or, where its definition says, be negative)"
    )
    definition: str


class UnsupportedPublicBase(ResponseModel, Generic[CodeT]):
    """A metric sourced from a service that it does not serve for a subject type, and why."""

    code: CodeT
    zh_cn: str
    en: str
    reason: str


class FigureSubjectCatalogueBase(ResponseModel, Generic[SubjectT, FigureT, UnsupportedT]):
    """The figures of one subject type: served, and unsupported with the reason."""

    subject_type: SubjectT
    zh_cn: str
    path: str = Field(description="The route serving the rows", examples=["/figures/village"])
    figures: list[FigureT]
    unsupported: list[UnsupportedT]


class FigureCatalogueBase(ResponseModel, Generic[SubjectCatalogueT]):
    """Which figures each subject type serves (GET /figures/{subject_type}), with their definitions; a service's
    subclass gives `as_of` its default (the rule that bounds every figure to its year)."""

    as_of: str = Field(description="The rule that bounds every figure to its year")
    subjects: list[SubjectCatalogueT]


class _Code(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def english(self) -> str: ...


class _Subject(_Code, Protocol):
    @property
    def value(self) -> str: ...


class _Figure(Protocol):
    @property
    def code(self) -> _Code: ...

    @property
    def unit(self) -> object: ...

    @property
    def wire(self) -> object: ...

    @property
    def signed(self) -> bool: ...

    @property
    def definition(self) -> str: ...


class _Unsupported(Protocol):
    @property
    def code(self) -> _Code: ...

    @property
    def reason(self) -> str: ...


_S = TypeVar("_S", bound=_Subject)


def build_catalogue(
    model: type[CatalogueT],
    subjects: Iterable[_S],
    served: Callable[[_S], Iterable[_Figure]],
    unsupported: Callable[[_S], Iterable[_Unsupported]],
) -> CatalogueT:
    """The catalogue `model` (a `FigureCatalogueBase` subclass) of the subject types: per type, the figures
    `served` returns with their definitions, and those `unsupported` returns with why."""
    return model.model_validate(
        {
            "subjects": [
                {
                    "subject_type": subject,
                    "zh_cn": subject.label,
                    "path": f"/figures/{subject.value}",
                    "figures": [
                        {
                            "code": f.code,
                            "zh_cn": f.code.label,
                            "en": f.code.english,
                            "unit": f.unit,
                            "wire": f.wire,
                            "signed": f.signed,
                            "definition": f.definition,
                        }
                        for f in served(subject)
                    ],
                    "unsupported": [
                        {"code": u.code, "zh_cn": u.code.label, "en": u.code.english, "reason": u.reason}
                        for u in unsupported(subject)
                    ],
                }
                for subject in subjects
            ]
        }
    )

"""The rules of a snapshot export (issue #15), pure and the same for every dataset of every service: the field
catalogue, the `fields=` selection, the projection of a record, and how a row is written (NDJSON, CSV).

- **Dataset**: a field catalogue (`Dataset`: top-level fields, nested lists and objects) named by the service's
  own dataset enum, with the audit action of its exports. An unknown dataset is 404 `unknown_export_dataset`.
- **Fields**: each dataset's top-level fields and `<nested>.<field>` (`members.name`, `cadre.name` ...). A nested
  name alone selects all its fields. An unknown name is 422 `unknown_export_field`. Output keeps catalogue order.
- **Rows** are projected from the record's API JSON (`project`), so the values (and their masks) are the API's.
- **NDJSON**: one compact JSON object per line; the last line is the trailer `{"_trailer": {"rows", "feed_cursor",
  "as_of"}}` (a file without it was cut short).
- **CSV** (Excel/WPS): UTF-8 with a BOM, a header row, CRLF line ends; a nested list as one JSON column (a fixed
  set of repeated columns would truncate or sprawl), a nested object flattened as `<nested>.<field>` columns.
  A cell beginning with `=`, `+`, `-`, `@` (or a tab or carriage return) gets a leading apostrophe, so a
  spreadsheet never evaluates it as a formula (CSV injection).

Standard library and the pure shared modules only (it is in `PURE_SHARED` of scripts/check_imports.py).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar, overload

from shared.errors import Invalid, Missing

__all__ = [
    "BOM",
    "FLUSH_CHARS",
    "Dataset",
    "ExportProgress",
    "FieldSelection",
    "Nested",
    "csv_cell",
    "csv_header",
    "csv_lines",
    "csv_row",
    "dataset_of",
    "file_chunks",
    "ndjson_line",
    "parse_fields",
    "parse_type_fields",
    "project",
    "record_pieces",
    "row_text_pieces",
    "trailer_line",
]

BOM = "\ufeff"
#: First characters a spreadsheet may read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Nested:
    """Nested data of a row: a list (`many`; one JSON column in CSV) or one object (`name.field` columns)."""

    name: str
    fields: tuple[str, ...]
    many: bool
    #: The record's key it is read from (default: `name`); `first`: the first item of that list (or null).
    source: str | None = None
    first: bool = False

    def take(self, record: Mapping[str, Any], fields: Sequence[str]) -> Any:
        value = record.get(self.source or self.name)
        if self.first:
            value = value[0] if value else None
        if self.many:
            return [{f: item.get(f) for f in fields} for item in value or ()]
        return None if value is None else {f: value.get(f) for f in fields}


D = TypeVar("D", bound=Enum)


@dataclass(frozen=True, slots=True)
class Dataset(Generic[D]):
    """One exportable dataset: its name (a member of the service's dataset enum), its field catalogue and the
    audit action of its exports."""

    name: D
    fields: tuple[str, ...]
    nested: tuple[Nested, ...]
    audit_action: str

    def nested_named(self, name: str) -> Nested | None:
        return next((n for n in self.nested if n.name == name), None)


S = TypeVar("S", bound="FieldSelection")


@dataclass(frozen=True, slots=True)
class FieldSelection:
    """What each row carries: top-level fields, and the selected fields of each nested part (in catalogue order;
    a nested part not selected is absent)."""

    dataset: Dataset[Any]
    top: tuple[str, ...]
    nested: tuple[tuple[Nested, tuple[str, ...]], ...]

    @classmethod
    def everything(cls: type[S], dataset: Dataset[Any]) -> S:
        """Every field of `dataset`."""
        return cls(dataset, dataset.fields, tuple((n, n.fields) for n in dataset.nested))

    def names(self) -> list[str]:
        """The selection as a `fields=` value would spell it (for the audit entry)."""
        return list(self.top) + [f"{n.name}.{f}" for n, fields in self.nested for f in fields]

    def is_everything(self) -> bool:
        return self.top == self.dataset.fields and self.nested == tuple(
            (n, n.fields) for n in self.dataset.nested
        )


def dataset_of(name: str, datasets: Iterable[Dataset[D]]) -> Dataset[D]:
    """The dataset called `name`; 404 `unknown_export_dataset` for any other."""
    known = list(datasets)
    found = next((d for d in known if d.name.value == name), None)
    if found is None:
        names = ", ".join(str(d.name.value) for d in known)
        raise Missing(
            "unknown_export_dataset", f"no export dataset '{name}' (datasets: {names})", dataset=name
        )
    return found


@overload
def parse_fields(text: str | None, dataset: Dataset[Any], *, code: str = ...) -> FieldSelection: ...
@overload
def parse_fields(text: str | None, dataset: Dataset[Any], *, kind: type[S], code: str = ...) -> S: ...
def parse_fields(
    text: str | None,
    dataset: Dataset[Any],
    *,
    kind: type[FieldSelection] = FieldSelection,
    code: str = "unknown_export_field",
) -> FieldSelection:
    """`fields=id,head_name,members.name,latest_income.per_capita_net_income` (absent: every field), as `kind`.

    Output keeps catalogue order whatever the order asked; a name given twice counts once; an unknown name is
    422 `code`."""
    if text is None:
        return kind.everything(dataset)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if not wanted:
        raise Invalid(code, "fields names no field", field="")
    top: set[str] = set()
    nested: dict[str, set[str]] = {n.name: set() for n in dataset.nested}
    for name in wanted:
        head, dot, rest = name.partition(".")
        part = dataset.nested_named(head)
        if part is not None and not dot:
            nested[head].update(part.fields)
        elif part is not None and rest in part.fields:
            nested[head].add(rest)
        elif not dot and head in dataset.fields:
            top.add(head)
        else:
            raise Invalid(code, f"unknown export field '{name}'", field=name)
    return kind(
        dataset,
        top=tuple(f for f in dataset.fields if f in top),
        nested=tuple(
            (n, tuple(f for f in n.fields if f in nested[n.name])) for n in dataset.nested if nested[n.name]
        ),
    )


@overload
def parse_type_fields(
    text: str | None, catalogues: Mapping[D, Dataset[Any]], *, type_code: str = ..., code: str = ...
) -> dict[D, FieldSelection]: ...
@overload
def parse_type_fields(
    text: str | None,
    catalogues: Mapping[D, Dataset[Any]],
    *,
    kind: type[S],
    type_code: str = ...,
    code: str = ...,
) -> dict[D, S]: ...
def parse_type_fields(
    text: str | None,
    catalogues: Mapping[D, Dataset[Any]],
    *,
    kind: type[FieldSelection] = FieldSelection,
    type_code: str = "unknown_feed_type",
    code: str = "unknown_export_field",
) -> dict[D, Any]:
    """A change feed's `fields=`: per record type, the export's own syntax, `type:field,...` groups separated by
    `;` (`household:id,status,members.name;pairing:id,role`). A type not named keeps its whole record (absent:
    `{}`). An unknown type is 422 `type_code`, an unknown field 422 `code`; a type named twice is refused."""
    if text is None:
        return {}
    out: dict[D, Any] = {}
    groups = [g.strip() for g in text.split(";") if g.strip()]
    if not groups:
        raise Invalid(code, "fields names no field", field="")
    for group in groups:
        name, colon, fields = group.partition(":")
        name = name.strip()
        found = next((t for t in catalogues if str(t.value) == name), None)
        if found is None or not colon:
            known = ", ".join(str(t.value) for t in catalogues)
            detail = f"unknown feed type '{name}' in fields (types: {known}); write `type:field,...`"
            raise Invalid(type_code, detail, type=name)
        if found in out:
            raise Invalid(code, f"fields names the type '{name}' twice", field=name)
        out[found] = parse_fields(fields, catalogues[found], kind=kind, code=code)
    return out


def project(record: Mapping[str, Any], selection: FieldSelection) -> dict[str, Any]:
    """One export row from the record's (masked) API JSON: its selected fields, then its nested parts."""
    row: dict[str, Any] = {name: record.get(name) for name in selection.top}
    for part, fields in selection.nested:
        row[part.name] = part.take(record, fields)
    return row


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ndjson_line(row: Mapping[str, Any]) -> str:
    return _json(row) + "\n"


def trailer_line(*, rows: int, feed_cursor: str, as_of: str) -> str:
    """The last NDJSON line: how many rows, and the change feed's position as of the snapshot."""
    return _json({"_trailer": {"rows": rows, "feed_cursor": feed_cursor, "as_of": as_of}}) + "\n"


def csv_header(selection: FieldSelection) -> list[str]:
    header = list(selection.top)
    for part, fields in selection.nested:
        header += [part.name] if part.many else [f"{part.name}.{f}" for f in fields]
    return header


def csv_cell(value: Any) -> str:
    """A value as CSV text: null empty, booleans true/false, lists and objects as JSON; formula-guarded."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = _json(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(row: Mapping[str, Any], selection: FieldSelection) -> list[str]:
    cells = [csv_cell(row.get(name)) for name in selection.top]
    for part, fields in selection.nested:
        if part.many:
            cells.append(csv_cell(row.get(part.name)))
        else:
            value = row.get(part.name) or {}
            cells += [csv_cell(value.get(f)) for f in fields]
    return cells


def csv_lines(rows: Sequence[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


# -- the file, streamed -----------------------------------------------------------------------------------------
#: Text is handed to the response in pieces of about this size (many rows per write, flat memory).
FLUSH_CHARS = 64 * 1024


@dataclass(slots=True)
class ExportProgress:
    """How far a streamed file got: rows written, and whether it was written to its end (for the audit entry)."""

    rows: int = 0
    complete: bool = False


async def record_pieces(
    chunks: AsyncGenerator[Sequence[Mapping[str, Any]], None], selection: FieldSelection, *, csv_format: bool
) -> AsyncGenerator[tuple[str, int], None]:
    """Chunks of records (API JSON) as text, each with its row count: projected, then CSV rows or NDJSON lines."""
    async with contextlib.aclosing(chunks):
        async for records in chunks:
            projected = [project(record, selection) for record in records]
            if csv_format:
                yield csv_lines([csv_row(r, selection) for r in projected]), len(projected)
            else:
                yield "".join(ndjson_line(r) for r in projected), len(projected)


async def row_text_pieces(
    chunks: AsyncGenerator[Sequence[str], None], selection: FieldSelection, *, csv_format: bool
) -> AsyncGenerator[tuple[str, int], None]:
    """Chunks of rows already projected (by the database) as compact JSON text: NDJSON writes them as they are,
    CSV parses them for its cells."""
    async with contextlib.aclosing(chunks):
        async for texts in chunks:
            if csv_format:
                yield csv_lines([csv_row(json.loads(t), selection) for t in texts]), len(texts)
            else:
                yield "\n".join(texts) + "\n", len(texts)


async def file_chunks(
    pieces: AsyncGenerator[tuple[str, int], None],
    selection: FieldSelection,
    progress: ExportProgress,
    *,
    csv_format: bool,
    feed_cursor: str,
    as_of: str,
    flush_chars: int = FLUSH_CHARS,
) -> AsyncGenerator[str, None]:
    """The file as text pieces of about `flush_chars`: CSV (BOM, header, rows) or NDJSON (rows, then the trailer
    line). `progress` counts the rows, and is `complete` once the last piece was produced."""
    out: list[str] = []
    size = 0
    if csv_format:
        out.append(BOM + csv_lines([csv_header(selection)]))
    async with contextlib.aclosing(pieces):
        async for piece, count in pieces:
            progress.rows += count
            out.append(piece)
            size += len(piece)
            if size >= flush_chars:
                yield "".join(out)
                out, size = [], 0
    if not csv_format:
        out.append(trailer_line(rows=progress.rows, feed_cursor=feed_cursor, as_of=as_of))
    progress.complete = True
    if out:
        yield "".join(out)

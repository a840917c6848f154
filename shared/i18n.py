"""Problems in the caller's language: `Accept-Language` negotiation and the zh-CN message catalogues.

English is the source language: every problem is built in English, then `ProblemLocaliser.localise` gives its
`title` and `detail` (and the `message` of each validation error) in the negotiated language, falling back to the
English text wherever a catalogue has no entry. The shared problem handlers (`shared.problems`) call the
localiser installed on `app.state.problem_localiser`, and answer with `Content-Language` and
`Vary: Accept-Language`.

Catalogues are gettext `.po` files, `shared/locale/<locale>/LC_MESSAGES/*.po`, read with Babel's
`babel.messages.pofile` when the process starts (nothing compiled is committed). Entries are keyed by context:

| msgctxt | msgid | msgstr |
|---|---|---|
| `title` | a problem type's slug (`not-found`) | the title |
| `code` | a stable `code` (domain errors, coded problems: `quota_exceeded`) | the detail; every code a registry domain module raises has one (tested) |
| `detail` | an English detail of a problem without a code, with `{name}` holes (`{record} {id} not found`) | the detail |
| `validation` | a pydantic error type (`missing`, `string_too_short`) | the message; holes are the error's context (`{min_length}`) |
| `word` | an English word that appears in details (`household`) | its translation |
| `in`, `format` | where a parameter was sent (`query`); the shapes of a validation detail | their translation |

The detail is the first that applies of: the validation errors' messages (a validation problem); a `detail`
entry whose English matches the detail exactly (its holes captured from it: the specific sentence); the `code`
entry of the problem's code (the generic sentence of a rule); the title (when the detail only repeated it); the
English detail. In a template, `{name}` is a value captured from the English text or a member of the problem (a
domain error's details); `{name:word}` translates the value through the `word` entries and `{name:<code list>}`
through a code list of `shared.labels` (`{role:role}` → 帮扶干部), so a code's label is never written twice. A
template that names a value the problem does not carry is skipped for the next rule.

Negotiation follows RFC 9110 §12.5.4: language ranges by quality value (q=0 refuses), each parsed with
`babel.Locale.parse` and matched with `babel.negotiate_locale` (`zh` aliased to `zh_CN`). Any Chinese range
(`zh`, `zh-CN`, `zh-Hans`, `zh-Hans-CN`, `zh-SG`, and `zh-TW` / `zh-Hant` for want of a traditional catalogue)
gets zh-CN; `*`, no header or nothing we speak gets English.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.core import LOCALE_ALIASES
from babel.messages.pofile import read_po

from shared.labels import label_of, lookup

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALE_DIR",
    "Catalogue",
    "ProblemLocaliser",
    "content_language",
    "default_localiser",
    "load_catalogue",
    "parse_accept_language",
    "template_holes",
]

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LOCALE = "en"
_CONTEXTS = frozenset({"title", "code", "detail", "validation", "word", "in", "format"})
_TYPE_BASE = "https://jingzhun.example/problems/"
#: At most this many distinct Accept-Language values are remembered (negotiation is cached per header).
_NEGOTIATION_CACHE = 512
#: A language range (RFC 4647 §2.1) or the wildcard.
_RANGE = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QUALITY = re.compile(r"^[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")
#: Holes that capture one token (an id, a number); the others capture as little text as they can.
_TOKEN_HOLES = re.compile(r"^(?:id|.*_id|n|limit|code|version)$")
#: A bare language matches our locale of it (Babel's own aliases do not name `zh`).
_ALIASES = {**LOCALE_ALIASES, "zh": "zh_CN"}


def content_language(locale: str) -> str:
    """The BCP 47 tag of a Babel locale id, for `Content-Language` (`zh_CN` → `zh-CN`)."""
    return locale.replace("_", "-")


def parse_accept_language(header: str | None) -> list[str]:
    """The language ranges of an `Accept-Language` value, best first (equal qualities keep their order); q=0
    ranges and malformed entries are dropped."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if not _RANGE.match(tag):
            continue
        quality = 1.0
        for param in params:
            found = _QUALITY.match(param)
            if found is None:
                quality = -1.0
                break
            quality = float(found.group(1))
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _candidates(tag: str) -> Iterator[str]:
    """Babel locale ids to try for one language range: the parsed locale, then its language alone."""
    if tag == "*":
        yield DEFAULT_LOCALE
        return
    try:
        locale = Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        yield tag.split("-")[0].lower()
        return
    yield str(locale)
    yield locale.language


class _Formatter(string.Formatter):
    """`str.format` whose format spec may name `word` or a code list (see the module docstring)."""

    def __init__(self, words: Mapping[str, str]) -> None:
        super().__init__()
        self.words = words

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, list | tuple | set | frozenset):
            return "、".join(self.format_field(item, format_spec) for item in value)
        if format_spec == "word":
            return self.words.get(str(value), str(value))
        if format_spec and lookup(format_spec) is not None:
            return label_of(format_spec, str(value)) or str(value)
        return str(super().format_field(value, format_spec))

    def check_unused_args(self, used_args: Any, args: Any, kwargs: Any) -> None:
        return None


def _pattern(english: str) -> re.Pattern[str]:
    """A regular expression matching `english` with each `{name}` hole captured as a named group."""
    out = ["^"]
    seen: set[str] = set()
    for literal, name, _spec, _conversion in string.Formatter().parse(english):
        out.append(re.escape(literal))
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"hole {{{name}}} in {english!r} is not a name")
        if name in seen:
            out.append(f"(?P={name})")
            continue
        seen.add(name)
        out.append(f"(?P<{name}>\\S+)" if _TOKEN_HOLES.match(name) else f"(?P<{name}>.+?)")
    out.append("$")
    return re.compile("".join(out), re.S)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The translations of one locale, by context (see the module docstring)."""

    locale: str
    titles: Mapping[str, str] = field(default_factory=dict)
    codes: Mapping[str, str] = field(default_factory=dict)
    details: tuple[tuple[re.Pattern[str], str], ...] = ()
    validation: Mapping[str, str] = field(default_factory=dict)
    words: Mapping[str, str] = field(default_factory=dict)
    places: Mapping[str, str] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)


def load_catalogue(directory: Path, locale: str) -> Catalogue:
    """Read every `.po` file of `directory/<locale>/LC_MESSAGES/` (fuzzy and empty entries are skipped)."""
    tables: dict[str, dict[str, str]] = {context: {} for context in _CONTEXTS}
    details: list[tuple[re.Pattern[str], str]] = []
    for path in sorted((directory / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fileobj:
            catalog = read_po(fileobj, locale=locale, charset="utf-8")
        for message in catalog:
            if not message.id or not message.string or message.fuzzy:
                continue
            if not isinstance(message.id, str) or not isinstance(message.string, str):
                raise ValueError(f"{path.name}: plural entries are not used ({message.id!r})")
            context = message.context
            if context not in _CONTEXTS:
                raise ValueError(f"{path.name}: {message.id!r} has no known msgctxt ({context!r})")
            tables[context][message.id] = message.string
            if context == "detail":
                details.append((_pattern(message.id), message.string))
    return Catalogue(
        locale=locale,
        titles=tables["title"],
        codes=tables["code"],
        details=tuple(details),
        validation=tables["validation"],
        words=tables["word"],
        places=tables["in"],
        formats=tables["format"],
    )


class ProblemLocaliser:
    """Negotiates the language of a problem and translates its title, detail and validation messages."""

    def __init__(self, catalogues: Mapping[str, Catalogue], *, default: str = DEFAULT_LOCALE) -> None:
        self.catalogues = dict(catalogues)
        self.default = default
        self.available = [default, *sorted(c for c in self.catalogues if c != default)]
        self._negotiated: dict[str, str] = {}

    @classmethod
    def from_directory(cls, directory: Path = LOCALE_DIR) -> ProblemLocaliser:
        """Every locale with a catalogue under `directory` (English, the source language, needs none)."""
        locales = sorted(p.name for p in directory.iterdir() if (p / "LC_MESSAGES").is_dir())
        return cls({locale: load_catalogue(directory, locale) for locale in locales})

    # -- negotiation -------------------------------------------------------------------------------------------
    def negotiate(self, accept_language: str | None) -> str:
        """The locale to answer in (a Babel id: `en`, `zh_CN`)."""
        if not accept_language:
            return self.default
        known = self._negotiated.get(accept_language)
        if known is not None:
            return known
        preferred = [c for tag in parse_accept_language(accept_language) for c in _candidates(tag)]
        chosen = negotiate_locale(preferred, self.available, sep="_", aliases=_ALIASES) if preferred else None
        by_lower = {a.lower(): a for a in self.available}
        locale = by_lower.get((chosen or "").lower(), self.default)
        if len(self._negotiated) >= _NEGOTIATION_CACHE:
            self._negotiated.clear()
        self._negotiated[accept_language] = locale
        return locale

    # -- translation -----------------------------------------------------------------------------------------
    def localise(
        self,
        body: Mapping[str, Any],
        accept_language: str | None,
        *,
        contexts: Sequence[Mapping[str, Any] | None] = (),
    ) -> tuple[dict[str, Any], str]:
        """The problem `body` in the caller's language, and the `Content-Language` to send with it.

        `contexts` are the pydantic `ctx` of each entry of `errors` (a validation problem), in order.
        """
        locale = self.negotiate(accept_language)
        catalogue = self.catalogues.get(locale)
        out = dict(body)
        if catalogue is None:
            return out, content_language(self.default)
        translate = _Translation(catalogue, out, contexts)
        out["title"] = translate.title()
        if isinstance(out.get("errors"), list):
            out["errors"] = translate.errors()
        out["detail"] = translate.detail()
        return out, content_language(locale)


class _Translation:
    """One problem's translation into one catalogue."""

    def __init__(
        self, catalogue: Catalogue, body: dict[str, Any], contexts: Sequence[Mapping[str, Any] | None]
    ) -> None:
        self.catalogue = catalogue
        self.body = body
        self.contexts = contexts
        self.formatter = _Formatter(catalogue.words)
        kind = str(body.get("type", ""))
        self.slug = kind.removeprefix(_TYPE_BASE) if kind.startswith(_TYPE_BASE) else ""
        self.english_title = str(body.get("title", ""))
        self.english_detail = str(body.get("detail", ""))

    def _format(self, template: str, values: Mapping[str, Any]) -> str | None:
        try:
            return self.formatter.vformat(template, (), values)
        except (KeyError, IndexError, ValueError, AttributeError):
            return None

    def title(self) -> str:
        return self.catalogue.titles.get(self.slug, self.english_title)

    def errors(self) -> list[Any]:
        out: list[Any] = []
        for i, entry in enumerate(self.body["errors"]):
            if not isinstance(entry, dict):
                out.append(entry)
                continue
            template = self.catalogue.validation.get(str(entry.get("code", "")))
            context = self.contexts[i] if i < len(self.contexts) else None
            message = self._format(template, dict(context or {})) if template else None
            out.append({**entry, "message": message} if message else entry)
        return out

    def detail(self) -> str:
        for rule in (self._validation, self._described, self._coded):
            found = rule()
            if found:
                return found
        if self.english_detail == self.english_title:
            return self.title()
        return self.english_detail

    def _coded(self) -> str | None:
        code = self.body.get("code")
        template = self.catalogue.codes.get(code) if isinstance(code, str) else None
        if template is None:
            return None
        return self._format(template, self.body)

    def _validation(self) -> str | None:
        errors = self.body.get("errors")
        if self.slug != "validation-error" or not isinstance(errors, list) or not errors:
            return None
        formats = self.catalogue.formats
        parts = []
        for entry in errors[:5]:
            if not isinstance(entry, dict):
                return None
            if "pointer" in entry:
                where = str(entry["pointer"] or self.catalogue.places.get("body", "body"))
            else:
                place = self.catalogue.places.get(str(entry.get("in")), str(entry.get("in")))
                where = self._format(
                    formats.get("{in} parameter {parameter}", "{in} parameter {parameter}"),
                    {"in": place, "parameter": entry.get("parameter")},
                ) or str(entry.get("parameter"))
            part = self._format(
                formats.get("{where}: {message}", "{where}: {message}"),
                {"where": where, "message": entry.get("message", "")},
            )
            parts.append(part or "")
        return formats.get("; ", "; ").join(parts)

    def _described(self) -> str | None:
        for pattern, template in self.catalogue.details:
            match = pattern.match(self.english_detail)
            if match:
                return self._format(template, {**self.body, **match.groupdict()})
        return None


@functools.cache
def default_localiser() -> ProblemLocaliser:
    """The catalogues of `shared/locale/`, read once per process."""
    return ProblemLocaliser.from_directory(LOCALE_DIR)


def template_holes(template: str) -> list[str]:
    """The names a template fills (tests check catalogues with it)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]

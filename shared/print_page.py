"""Printable pages (HTML with print styles, A4) that village officers post on the village board: the planning
service's disclosure (村级公示) and the registry's notices (公示). Pure: the standard library only.

Every value is escaped (`e`); a table cell is `(escaped HTML, numeric?)` (`text`, `num`); `page` wraps sections
in one self-contained document with the board's Chinese conventions (dates as 2014年5月5日, a signature line).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

__all__ = ["CSS", "chinese_date", "e", "money", "num", "page", "table", "text"]

CSS = """
@page { size: A4; margin: 15mm 12mm 18mm; }
* { box-sizing: border-box; }
body { font-family: "SimSun", "Songti SC", "Noto Serif CJK SC", serif; font-size: 10.5pt; color: #000;
       margin: 0 auto; max-width: 190mm; }
h1 { font-size: 18pt; text-align: center; margin: 0 0 4mm; letter-spacing: 0.1em; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; border-left: 3pt solid #000; padding-left: 2mm; }
p.meta { text-align: center; margin: 0 0 4mm; }
table { width: 100%; border-collapse: collapse; margin-bottom: 3mm; }
th, td { border: 0.6pt solid #000; padding: 1.2mm 1.5mm; vertical-align: top; }
th { background: #eee; font-weight: bold; text-align: center; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
.empty { text-align: center; color: #444; }
.notice { margin-top: 5mm; }
.signature { margin-top: 12mm; display: flex; justify-content: space-between; }
.signature span { display: inline-block; min-width: 70mm; border-bottom: 0.6pt solid #000; }
@media print { body { max-width: none; } h2 { break-after: avoid; } }
"""


def e(value: object) -> str:
    """Every value on the page, escaped (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def chinese_date(value: object) -> str:
    """An ISO date (or the date part of anything printing as one) as 2014年5月5日; anything else as given."""
    text_value = str(value) if value is not None else ""
    if len(text_value) == 10:
        y, m, d = text_value.split("-")
        return f"{int(y)}年{int(m)}月{int(d)}日"
    return text_value


def table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, bool]]], *, empty: str) -> str:
    """A table; each cell is (escaped HTML, numeric?)."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    if not rows:
        body = f'<tr><td class="empty" colspan="{len(headers)}">{e(empty)}</td></tr>'
    else:
        body = "".join(
            "<tr>"
            + "".join(f'<td class="num">{c}</td>' if is_num else f"<td>{c}</td>" for c, is_num in row)
            + "</tr>"
            for row in rows
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def text(value: object) -> tuple[str, bool]:
    return e(value), False


def num(value: object) -> tuple[str, bool]:
    return e(value), True


def page(
    *, title: str, heading: str, meta: str, sections: Sequence[tuple[str, str]], notice: str, signer: str
) -> str:
    """One self-contained page: `heading`, the `meta` line (already escaped HTML), each (heading, table HTML)
    section, the objection `notice` and the `signer`'s signature and date lines."""
    body = "".join(f"<h2>{e(h)}</h2>{t}" if h else t for h, t in sections)
    return (
        "<!DOCTYPE html>"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{e(heading)}</h1>"
        f'<p class="meta">{meta}</p>'
        f"{body}"
        f'<p class="notice">{e(notice)}</p>'
        '<div class="signature">'
        f"<p>{e(signer)}（盖章）：<span></span></p>"  # noqa: RUF001
        "<p>日期：<span></span></p>"  # noqa: RUF001
        "</div>"
        "</body></html>"
    )

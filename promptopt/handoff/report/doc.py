"""A tiny document model, so the markdown and the HTML page say exactly the same thing.

Text may carry two inline marks: ``**bold**`` and ```code```. Everything else is literal:
HTML output escapes it, markdown output escapes table pipes.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """``right`` lists the indexes of right-aligned (numeric) columns."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: tuple[int, ...] = ()


@dataclass(frozen=True)
class Image:
    """A PNG written next to the report as ``name`` (embedded in the HTML as a data URI)."""

    name: str
    alt: str


Block = Heading | Para | Bullets | Table | Image


# -- markdown ---------------------------------------------------------------------------------


def to_markdown(blocks: Sequence[Block]) -> str:
    return "\n\n".join(_md(block) for block in blocks) + "\n"


def _md(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Para):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return _md_table(block)
    return f"![{block.alt}]({block.name})"


def _md_table(table: Table) -> str:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    rule = ["---:" if i in table.right else "---" for i in range(len(table.headers))]
    return "\n".join([row(table.headers), "| " + " | ".join(rule) + " |", *(row(r) for r in table.rows)])


# -- HTML -------------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}th,td{border:1px solid #ccc;padding:4px 8px}
th{background:#f2f2f2}td.r{text-align:right;font-variant-numeric:tabular-nums}
code{font-family:ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:0.9em;
background:#f4f4f4;padding:0 3px;border-radius:3px}img{max-width:100%;height:auto;margin:0.5em 0}
h1{border-bottom:2px solid #333}h2{border-bottom:1px solid #ccc;margin-top:1.6em}"""


def inline_html(text: str) -> str:
    """Escape ``text`` and turn its ``**bold**`` and ```code``` marks into tags."""
    escaped = html.escape(text, quote=False)
    escaped = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    return _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", escaped)


def to_html(blocks: Sequence[Block], images: Mapping[str, bytes], *, title: str) -> str:
    """One self-contained page: every :class:`Image` is embedded as a base64 data URI, so the
    page needs no other file. Raises KeyError for an image missing from ``images``."""
    body = "\n".join(_html(block, images) for block in blocks)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _html(block: Block, images: Mapping[str, bytes]) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{inline_html(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        return f"<p>{inline_html(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{inline_html(i)}</li>" for i in block.items) + "\n</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    data = base64.b64encode(images[block.name]).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{inline_html(block.alt)}</figcaption></figure>"
    )


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{inline_html(h)}</th>" for h in table.headers)
    rows = [
        "<tr>"
        + "".join(
            f'<td class="r">{inline_html(c)}</td>' if i in table.right else f"<td>{inline_html(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in table.rows
    ]
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"

"""Escaping for every place a log value can land in a report.

Log fields (URLs, user agents, host names, finding fields built from them) are
attacker-controlled. Each output context gets its own function so the call site
says which context it writes into: HTML text/attributes, JSON inside ``<script>``,
plotly labels (plotly.js renders a subset of HTML in text, hover and tick labels),
markdown for chat and tickets, and CSV cells opened by spreadsheets.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

_MD_ACTIVE = re.compile(r"([\\`*_{}\[\]()#!|<>~&])")
_AUTOLINK = re.compile(r"(://|www\.)", re.IGNORECASE)
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def h(value: Any) -> str:
    """HTML-escape any value for text or a quoted attribute (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def plot_text(value: Any) -> Any:
    """Neutralise a string before it goes into a plotly figure; numbers pass through.

    plotly.js parses ``<br>``, ``<a href>``, ``<b>`` etc. in labels; escaping ``&``,
    ``<`` and ``>`` makes it show them as literal text instead.
    """
    if value is None or isinstance(value, (int, float)):
        return value
    s = str(value)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def script_json(value: Any) -> str:
    """JSON that is safe inside an inline ``<script>``: no ``</script>``, ``<!--`` or line separators."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def md(value: Any) -> str:
    """Markdown-safe inline text: active characters backslash-escaped, newlines flattened, URLs defanged.

    Addresses and times stay readable (``.``, ``-``, ``:`` are only active at a line start,
    and a value never starts a line).
    """
    s = "" if value is None else str(value)
    s = s.replace("\r", " ").replace("\n", " ")
    s = _MD_ACTIVE.sub(r"\\\1", s)
    # defang autolinks: a URL from a log must not become a clickable link in chat
    return _AUTOLINK.sub(lambda m: ":\\/\\/" if m.group(1) == "://" else m.group(1)[:3] + "\\.", s)


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not evaluate as a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(_CSV_TRIGGERS) else s

"""The HTML of the report's own pages (the provenance page, the sweep's metrics table):
plain and self-contained, with no timestamps. Standard library only, so the checksum job
that writes the provenance page starts fast.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Any

_DIGEST = re.compile(r"[0-9a-f]{64}")

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; max-width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; }}
th {{ background: #f3f3f3; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td, th {{ overflow-wrap: break-word; }}
details {{ margin: 0.3em 0; }}
code {{ font-size: 0.9em; word-break: break-all; }}
h2 {{ font-size: 1.1em; margin-top: 1.2em; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def page(title: str, body: str) -> bytes:
    return _PAGE.format(title=html.escape(title), body=body).encode("utf-8")


@dataclass(frozen=True)
class Spread:
    """A mean and its standard deviation (NaN: one value, no spread), as one cell."""

    mean: float
    std: float

    def __str__(self) -> str:
        if math.isnan(self.mean):
            return ""
        return f"{self.mean:.4f}" if math.isnan(self.std) else f"{self.mean:.4f} ± {self.std:.4f}"


def table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, Spread):
            return f'<td class="num">{html.escape(str(value))}</td>'
        if isinstance(value, float):
            return f'<td class="num">{value:.4f}</td>'
        if isinstance(value, int) and not isinstance(value, bool):
            return f'<td class="num">{value}</td>'
        if isinstance(value, str) and _DIGEST.fullmatch(value):
            return f"<td>{monospace(value)}</td>"
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def monospace(value: Any) -> str:
    return f"<code>{html.escape(str(value))}</code>"

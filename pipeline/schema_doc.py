"""Render the lake schema as Markdown, so the README's table comes from the one definition.

``python -m pipeline.schema_doc`` prints it; ``--write README.md`` replaces the block
between the ``schema:begin``/``schema:end`` markers. A test keeps the README current.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .schema import (
    ALB_DERIVED,
    ALB_FIELDS,
    CONNECTION_DERIVED,
    CONNECTION_FIELDS,
    FLOW_DERIVED,
    FLOW_FIELDS,
    PROVENANCE,
)

BEGIN, END = "<!-- schema:begin -->", "<!-- schema:end -->"
_TYPE = {"int": "BIGINT", "str": "VARCHAR", "float": "DOUBLE"}


def render() -> str:
    out: list[str] = []

    def derived(fields: tuple) -> str:
        return ", ".join(f"`{f.name}`" for f in fields)

    out.append("**`vpc_flow`** — one row per flow record (VPC and Transit Gateway flow logs, versions 2–11).\n")
    out.append("| column | type | AWS field | since v |\n|---|---|---|---|")
    for f in FLOW_FIELDS:
        out.append(f"| `{f.column}` | {_TYPE[f.kind]} | `{f.aws}` | {f.version} |")
    out.append(f"\nDerived: {derived(FLOW_DERIVED)} (UTC timestamps from `start`/`end`).\n")
    out.append("**`alb_access`** — one row per ALB access log line (Athena's column names).\n")
    out.append("| column | type | log field |\n|---|---|---|")
    for f in ALB_FIELDS:
        out.append(f"| `{f.column}` | {_TYPE[f.kind]} | `{f.aws}` |")
    out.append(
        f"\nDerived: {derived(ALB_DERIVED)} (`node_ip` and `load_balancer` come from the log object's name).\n"
    )
    out.append("**`alb_connection`** — one row per ALB connection log line.\n")
    out.append("| column | type |\n|---|---|")
    for f in CONNECTION_FIELDS:
        out.append(f"| `{f.column}` | {_TYPE[f.kind]} |")
    out.append(f"\nDerived: {derived(CONNECTION_DERIVED)}.\n")
    out.append(
        f"Every row also carries {derived(PROVENANCE)} (the object's `s3://` URI or path and the 1-based line "
        "number in the decompressed object). Partition columns `date` and `hour` live only in directory names."
    )
    return "\n".join(out) + "\n"


def splice(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + render() + text[end:]


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        p = Path(argv[1])
        p.write_text(splice(p.read_text()))
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

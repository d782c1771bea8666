"""The first line of a flow-log object: which fields, in which order.

AWS writes the format's field names, space-separated, as the first line of every
text object delivered to S3. Fields are mapped by name, never by position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import FormatError, UnknownHeaderError
from ..schema import FLOW_BY_AWS

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")


def header_tokens(spec: str | Sequence[str]) -> list[str]:
    """Field names from a header line or a list (runs of spaces are one separator)."""
    if isinstance(spec, str):
        return spec.split()
    return [tok for item in spec for tok in str(item).split()]


def looks_like_header(line: str) -> bool:
    """True when every token is name-shaped and at least one is a documented field.

    Data lines fail this: they hold ``-``, digits, dots or capitals (``ACCEPT``, ``IPv4``),
    and none of their values is a field name.
    """
    tokens = line.split()
    return bool(tokens) and all(_NAME_RE.match(t) for t in tokens) and any(t in FLOW_BY_AWS for t in tokens)


def unknown_fields(names: Sequence[str]) -> tuple[str, ...]:
    """The names among ``names`` that AWS does not document (schema drift)."""
    return tuple(n for n in names if n not in FLOW_BY_AWS)


def parse_header(
    spec: str | Sequence[str], *, source_uri: str | None = None, line: int | None = None, allow_unknown: bool = False
) -> tuple[str, ...]:
    """Validated field names in order.

    Raises ``FormatError`` for an empty or repetitive list, and ``UnknownHeaderError``
    for names AWS does not document, unless ``allow_unknown`` (the object's own header
    line: AWS adds fields, and an object must not fail because its header names one we
    do not know yet; such fields still have to be name-shaped).
    """
    names = header_tokens(spec)
    where = f" in {source_uri}" if source_uri else ""
    if not names:
        raise FormatError(f"empty flow-log header{where}; expected field names such as 'version account-id ...'", source_uri=source_uri, line=line)
    unknown = [n for n in names if n not in FLOW_BY_AWS and not (allow_unknown and _NAME_RE.match(n))]
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        raise UnknownHeaderError(
            f"flow-log header{where} names field(s) AWS does not document: {shown}; "
            "fields must be among versions 2-11 and Transit Gateway flow-log fields (see docs/formats.md)",
            source_uri=source_uri,
            line=line,
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FormatError(f"flow-log header{where} repeats field(s) {', '.join(dupes)}", source_uri=source_uri, line=line)
    return tuple(names)

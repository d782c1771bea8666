"""The one parser for times and the one for durations, used by every verb and the config file.

Times are ISO 8601: ``2024-05-01``, ``2024-05-01T10:00``, ``…Z``, ``…+02:00``; a time
without a zone is UTC; the result is an aware UTC datetime.

Durations are one or more ``<number><unit>`` parts, units ``s m h d w``: ``90s``,
``30m``, ``2h``, ``1h30m``, ``1.5d``, ``1w``. A bare number is an error (the old
parsers disagreed on whether it meant seconds or minutes), so is zero or less.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import overload

from .errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhdw])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@overload
def parse_time(value: None, *, name: str = ...) -> None: ...
@overload
def parse_time(value: str | datetime, *, name: str = ...) -> datetime: ...
def parse_time(value: str | datetime | None, *, name: str = "time") -> datetime | None:
    """ISO 8601 text (or a datetime) → aware UTC datetime; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(f"{name} {value!r} is not an ISO 8601 time; use e.g. 2024-05-01 or 2024-05-01T10:00:00Z") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def parse_duration(value: str | timedelta, *, name: str = "duration") -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1h30m``, ``1.5d``, ``1w`` → timedelta; a unit is required."""
    if isinstance(value, timedelta):
        return value
    text = str(value).strip().lower().replace(" ", "")
    if isinstance(value, (int, float)) or text.replace(".", "", 1).isdigit():
        raise UsageError(f"{name} {value!r} needs a unit: write e.g. {value}m or {value}s (s, m, h, d, w)")
    if not _WHOLE.match(text):
        raise UsageError(f"{name} {value!r} is not a duration like 90s, 30m, 2h, 1h30m or 1d")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise UsageError(f"{name} {value!r} must be longer than zero")
    return timedelta(seconds=seconds)


def time_arg(text: str) -> datetime:
    """``parse_time`` as an argparse ``type=`` (the message survives argparse)."""
    try:
        return parse_time(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("time ")) from None


def duration_arg(text: str) -> timedelta:
    """``parse_duration`` as an argparse ``type=``."""
    try:
        return parse_duration(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("duration ")) from None

"""Where logs come from: S3 prefixes or local folders in AWS's delivery layout.

``open_sources`` turns the user's ``--source`` values into sources; ``discover`` walks
one down to the objects a time window needs; ``classify_key`` says what an object is
from its key alone; ``decode_object`` validates and decompresses a whole body.
"""

from __future__ import annotations

from .decode import DEFAULT_MAX_DECOMPRESSED, decode_object, gunzip
from .discovery import discover
from .layout import KeyInfo, Skip, classify_key
from .local import LocalSource
from .objects import Fetched, ObjectAccessError, ObjectGoneError, ObjectRef, Source
from .s3 import DEFAULT_MAX_ATTEMPTS, RetryMode, S3Source, make_client
from .window import DEFAULT_LATE_MARGIN, TimeWindow, parse_time

__all__ = [
    "DEFAULT_LATE_MARGIN", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_MAX_DECOMPRESSED", "Fetched", "KeyInfo",
    "LocalSource", "ObjectAccessError", "ObjectGoneError", "ObjectRef", "RetryMode", "S3Source", "Skip",
    "Source", "TimeWindow", "classify_key", "decode_object", "discover", "gunzip", "open_sources", "parse_time",
]  # fmt: skip


def open_sources(
    specs: list[str],
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    retry_mode: RetryMode = "standard",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = 10,
) -> list[Source]:
    """One source per spec (``s3://bucket/prefix/`` or a folder); S3 sources share one client."""
    from ..errors import UsageError

    if not specs:
        raise UsageError("no --source given; pass s3://bucket/prefix/ or a local folder")
    client = None
    out: list[Source] = []
    for spec in specs:
        if spec.startswith("s3://"):
            if client is None:
                client = make_client(
                    profile=profile, region=region, endpoint_url=endpoint_url, retry_mode=retry_mode,
                    max_attempts=max_attempts, max_pool_connections=max_pool_connections,
                )  # fmt: skip
            out.append(S3Source(spec, client, max_attempts=max_attempts))
        elif "://" in spec:
            raise UsageError(f"source {spec!r}: only s3:// URIs and local folders are supported")
        else:
            out.append(LocalSource(spec))
    return out

"""What a source lists and returns: object references and fetched bodies."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..errors import SourceError


@dataclass(frozen=True)
class ObjectRef:
    """One listed object. ``etag`` is the source's change marker (S3 ETag, or size+mtime locally)."""

    uri: str  # s3://bucket/key or file:///abs/path; stored as ``source_uri`` on every row
    bucket: str  # S3 bucket, or the local source root
    key: str  # key relative to the bucket / root, '/'-separated
    etag: str
    size: int
    last_modified: datetime

    @property
    def identity(self) -> str:
        """Stable hash of (bucket, key, ETag): names lake files, never raw key text."""
        return object_hash(self.bucket, self.key, self.etag)


def object_hash(bucket: str, key: str, etag: str) -> str:
    h = hashlib.sha256()
    for part in (bucket, key, etag):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


@dataclass
class Fetched:
    """A whole object body and the metadata of the version actually read."""

    data: bytes
    etag: str
    last_modified: datetime
    retries: int = 0


@dataclass
class Counters:
    """Source-side counts for the run summary (requests, retries by cause)."""

    list_requests: int = 0
    get_requests: int = 0
    retries: int = 0
    retry_causes: dict[str, int] = field(default_factory=dict)

    def retried(self, cause: str, n: int = 1) -> None:
        if n:
            self.retries += n
            self.retry_causes[cause] = self.retry_causes.get(cause, 0) + n


class Lister(Protocol):
    """The two listing primitives every source provides; pruning is built on them."""

    def list_dir(self, prefix: str) -> tuple[list[ObjectRef], list[str]]:
        """Objects directly under ``prefix`` and its sub-folder prefixes (ending in '/')."""
        ...

    def list_all(self, prefix: str) -> Iterator[ObjectRef]:
        """Every object under ``prefix``, recursively."""
        ...


class Source(Lister, Protocol):
    """A bucket prefix or local folder holding AWS's delivery layout."""

    uri: str
    prefix: str
    counters: Counters

    def get(self, ref: ObjectRef) -> Fetched:
        """Whole body; raises ``SourceError`` (``transient`` set when a later run may succeed)."""
        ...


class ObjectGoneError(SourceError):
    """The object was listed but no longer exists (deleted or expired between list and get)."""


class ObjectAccessError(SourceError):
    """Reading the object was refused (AccessDenied, KMS key not usable)."""

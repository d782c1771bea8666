"""Where a lake lives: a local folder or ``s3://bucket/prefix/``, as one fsspec filesystem plus a root.

A local lake keeps its own fast paths (``os.replace``, fsync, fcntl, SQLite in place);
this module only answers "is it remote, which filesystem, which path" so the writer,
the ledger, DuckDB (``con.register_filesystem``) and the findings share one S3
filesystem object with the same credentials and endpoint as the S3 sources
(``--profile``, ``--region``, ``--endpoint-url``, ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

log = logging.getLogger(__name__)


def is_remote(lake: object) -> bool:
    """True for an ``s3://`` lake (or a LakeLocation of one)."""
    if isinstance(lake, LakeLocation):
        return lake.remote
    return isinstance(lake, str) and lake.startswith(("s3://", "s3a://"))


@dataclass(frozen=True)
class LakeLocation:
    """A lake root: ``fs`` is an fsspec filesystem, ``root`` its path there (no trailing slash)."""

    url: str  # as given: /abs/path or s3://bucket/prefix
    root: str
    fs: Any = field(repr=False, compare=False)
    remote: bool = False
    bucket: str = ""
    prefix: str = ""  # key prefix of the lake root, '' or ending in '/'
    client_options: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def path(self, rel: str) -> str:
        """Filesystem path of ``rel`` (``'/'``-separated, relative to the lake)."""
        return f"{self.root}/{rel}" if rel else self.root

    def uri(self, rel: str) -> str:
        """What DuckDB, polars and pyarrow are given: ``s3://bucket/key`` or a local path."""
        return f"s3://{self.path(rel)}" if self.remote else self.path(rel)

    def key(self, rel: str) -> str:
        """The S3 object key of ``rel``."""
        return f"{self.prefix}{rel}"

    @property
    def local(self) -> Path:
        """The lake folder (local lakes only)."""
        if self.remote:
            raise TypeError("an S3 lake has no local folder")
        return Path(self.root)

    def client(self) -> Any:
        """A boto3 client with the lake's options (conditional PUTs for the lock and the ledger)."""
        from ..sources.s3 import make_client

        return make_client(**self.client_options)

    def __str__(self) -> str:
        return self.url


def lake_location(
    lake: str | Path | LakeLocation,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> LakeLocation:
    """Resolve ``lake`` (a folder or ``s3://bucket/prefix/``) to a LakeLocation; one per run."""
    if isinstance(lake, LakeLocation):
        return lake
    text = str(lake)
    if not is_remote(text):
        import fsspec

        root = str(Path(text).absolute())
        return LakeLocation(url=root, root=root, fs=fsspec.filesystem("file"))
    rest = text.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"lake {text!r} names no bucket; use s3://bucket/prefix/")
    prefix = prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    fs = _s3fs(profile=profile, region=region, endpoint=endpoint)
    root = f"{bucket}/{prefix}".rstrip("/")
    options = {"profile": profile, "region": region, "endpoint_url": endpoint}
    return LakeLocation(
        url=f"s3://{bucket}/{prefix}", root=root, fs=fs, remote=True, bucket=bucket, prefix=prefix,
        client_options=options,
    )  # fmt: skip


def _s3fs(*, profile: str | None, region: str | None, endpoint: str | None) -> Any:
    import s3fs

    client_kwargs: dict[str, Any] = {}
    if region:
        client_kwargs["region_name"] = region
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    return s3fs.S3FileSystem(
        profile=profile,
        client_kwargs=client_kwargs,
        config_kwargs={"s3": {"addressing_style": "path"}} if endpoint else {},
        use_listings_cache=False,  # another writer may change the lake between calls
        skip_instance_cache=True,
    )

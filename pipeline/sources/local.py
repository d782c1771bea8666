"""Local folders with AWS's delivery layout (``aws s3 sync`` copies, the simulator's output).

The change marker ("ETag") is size + modification time in nanoseconds: cheap, and it
changes whenever a file is rewritten. Symbolic links are not followed, so a source
folder cannot lead the walk outside itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ..errors import SourceError, UsageError
from .objects import Counters, Fetched, ObjectAccessError, ObjectGoneError, ObjectRef

log = logging.getLogger(__name__)


def _etag(st: os.stat_result) -> str:
    return f"{st.st_size:x}-{st.st_mtime_ns:x}"


class LocalSource:
    """A local folder; keys are '/'-joined paths relative to it."""

    def __init__(self, path: str | Path) -> None:
        raw = str(path)
        if raw.startswith("file://"):
            raw = raw[len("file://") :]
        root = Path(raw).expanduser().resolve()
        if not root.is_dir():
            raise UsageError(f"source {str(path)!r} is not a folder or s3:// URI")
        # A folder inside an AWSLogs/ tree (the way people point at S3: s3://bucket/AWSLogs/123.../)
        # is read as a prefix below the folder holding AWSLogs/, so keys keep AWS's layout.
        prefix = ""
        if "AWSLogs" in root.parts:
            at = len(root.parts) - 1 - root.parts[::-1].index("AWSLogs")
            prefix = "/".join(root.parts[at:]) + "/"
            root = Path(*root.parts[:at])
        self.root = root
        self.uri = root.as_uri()
        self.prefix = prefix
        self.counters = Counters()

    def __repr__(self) -> str:
        return f"LocalSource({str(self.root)!r})"

    def _ref(self, key: str, st: os.stat_result) -> ObjectRef:
        return ObjectRef(
            uri=(self.root / key).as_uri(),
            bucket=str(self.root),
            key=key,
            etag=_etag(st),
            size=st.st_size,
            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
        )

    def list_dir(self, prefix: str) -> tuple[list[ObjectRef], list[str]]:
        self.counters.list_requests += 1
        files: list[ObjectRef] = []
        folders: list[str] = []
        try:
            entries = sorted(os.scandir(self.root / prefix), key=lambda e: e.name)
        except FileNotFoundError:
            return files, folders
        except PermissionError as e:
            raise SourceError(f"cannot list {self.root / prefix}: {e.strerror}", uri=self.uri) from None
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                files.append(self._ref(prefix + entry.name, entry.stat(follow_symlinks=False)))
        return files, folders

    def list_all(self, prefix: str) -> Iterator[ObjectRef]:
        stack = [prefix]
        while stack:
            files, folders = self.list_dir(stack.pop())
            yield from files
            stack.extend(sorted(folders, reverse=True))

    def get(self, ref: ObjectRef) -> Fetched:
        self.counters.get_requests += 1
        path = self.root / ref.key
        try:
            with open(path, "rb") as f:
                data = f.read()
                st = os.fstat(f.fileno())
        except FileNotFoundError:
            raise ObjectGoneError(f"{ref.uri} is gone (deleted between list and read)", uri=ref.uri) from None
        except PermissionError:
            raise ObjectAccessError(f"permission denied reading {ref.uri}", uri=ref.uri) from None
        except OSError as e:
            raise SourceError(f"{ref.uri}: {e.strerror}", uri=ref.uri, transient=True) from None
        return Fetched(data=data, etag=_etag(st), last_modified=datetime.fromtimestamp(st.st_mtime, UTC))

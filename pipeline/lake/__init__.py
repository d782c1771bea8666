"""The lake: hive-partitioned Parquet per table, the per-object ledger, rejects and the writer lock.

Layout::

    <lake>/vpc_flow/date=YYYY-MM-DD/hour=HH/part-<hash>.parquet
    <lake>/alb_access/...   <lake>/alb_connection/...
    <lake>/_rejects/part-<hash>.parquet      (schema.REJECTS_SCHEMA)
    <lake>/_ledger/ledger.sqlite             (objects, files, object_files, runs)
    <lake>/_ledger/lock                      (fcntl writer lock)
    <lake>/_tmp/                             (staging; removed at every start)

The lake may be ``s3://bucket/prefix/`` (same layout; ``storage`` resolves it, ``s3``
makes its commits atomic without rename).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ledger import (
    DONE_STATUSES,
    FailedObject,
    Ledger,
    ObjectEntry,
    Prior,
    committed_files,
    ledger_path,
    open_ledger,
    read_ledger,
)  # fmt: skip
from .lock import DEFAULT_LOCK_WAIT, lake_lock
from .storage import LakeLocation, is_remote, lake_location

if TYPE_CHECKING:
    from .writer import (
        REJECTS_DIR,
        BatchMember,
        BatchResult,
        Holding,
        LakeWriter,
        OpenBatch,
        RecoveryReport,
        StagedBatch,
        open_writer,
    )

#: The writer's names, imported on first use: what only reads the lake (detect, report,
#: ``lake status``) does not load the Parquet writer's imports (numpy, pyarrow.compute and
#: pyarrow.parquet: ~0.1 s of every start-up).
_WRITER_NAMES = frozenset({
    "REJECTS_DIR", "BatchMember", "BatchResult", "Holding", "LakeWriter", "OpenBatch", "RecoveryReport", "StagedBatch",
    "open_writer",
})  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _WRITER_NAMES:
        from . import writer

        return getattr(writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_LOCK_WAIT", "DONE_STATUSES", "REJECTS_DIR", "BatchMember", "BatchResult", "FailedObject", "Holding",
    "LakeLocation", "LakeWriter", "Ledger", "ObjectEntry", "OpenBatch", "Prior", "RecoveryReport", "StagedBatch", "committed_files",
    "is_remote", "lake_lock", "lake_location", "ledger_path", "open_ledger", "open_writer", "read_ledger",
]  # fmt: skip
